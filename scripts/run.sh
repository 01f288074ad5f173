#!/usr/bin/env bash
# Runs the app in development mode (cargo leptos watch) on http://127.0.0.1:3000,
# after installing what is missing. With no configuration it talks to the built-in
# virtual operator. Pass --release to serve an optimised build instead.
source "$(dirname "$0")/lib.sh"

ensure_rust
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_wasm_opt

step "starting the app"
if [ -z "${REDIS_URL:-}" ]; then
  echo "state is kept in memory (a restart loses flows in progress); set REDIS_URL=redis://127.0.0.1:6379/0 to share it through Redis" >&2
fi
if [ "${1:-}" = "--release" ]; then
  exec cargo leptos serve --release
fi
exec cargo leptos watch
