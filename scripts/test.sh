#!/usr/bin/env bash
# Runs every test: formatting, clippy, Rust unit and integration tests, then the Playwright
# suite (hydrated and JavaScript-off) against a freshly built app in Debian's Chromium.
# Installs what is missing first.
source "$(dirname "$0")/lib.sh"

ensure_rust
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_chromium
ensure_redis
ensure_promtool
ensure_end2end_packages

# cargo-leptos compiles the server with LEPTOS_OUTPUT_NAME set; setting the same here
# keeps `cargo test` from rebuilding the Leptos crates every time.
export LEPTOS_OUTPUT_NAME=number-verify

step "cargo fmt --check"
cargo fmt --check || fail "formatting" "code is not rustfmt-formatted" "run 'cargo fmt'"

step "cargo clippy (every target, warnings are errors)"
cargo clippy --all-targets --features ssr -- -D warnings || fail "clippy" "clippy found warnings" "fix them (see above)"

step "Rust unit and integration tests"
cargo test --features ssr --no-fail-fast

step "the server without the virtual operator (the compiler keeps the two systems apart)"
cargo build --no-default-features --features ssr
cargo test --no-default-features --features ssr --test startup

step "building the app (server + wasm) with cargo-leptos"
cargo leptos build

step "Playwright end-to-end tests (hydrated and JavaScript off)"
cd end2end
rm -f playwright-report/results.json
rc=0
npx playwright test || rc=$?
# One closing line that any CI log reader understands.
if [ -f playwright-report/results.json ]; then
  node -e 'const s = require("./playwright-report/results.json").stats;
    console.log(`e2e: ${s.expected + s.flaky} passed, ${s.unexpected} failed, ${s.skipped} skipped`)'
fi
exit "$rc"
