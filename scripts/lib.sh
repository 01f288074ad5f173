# Shared helpers for scripts/run.sh and scripts/test.sh: install what is missing,
# idempotently, and stop with a message naming the step, the cause and the fix.
# Sourced, not executed.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Pinned tool versions. wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock.
CARGO_LEPTOS_VERSION="0.3.11"
BINARYEN_VERSION="132.0.0"
TOOLS_DIR="$ROOT/.tools"          # project-local npm tools (wasm-opt), no root needed
export PATH="$HOME/.cargo/bin:$TOOLS_DIR/node_modules/.bin:$PATH"

step() { printf '\n==> %s\n' "$*" >&2; }
fail() { # fail "step" "cause" "fix"
  printf '\nERROR in step "%s": %s\nFix: %s\n' "$1" "$2" "$3" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command with a time limit, so an unreachable registry is an error, not a hang.
bounded() { # bounded SECONDS step fix cmd...
  local limit=$1 name=$2 fix=$3
  shift 3
  local rc=0
  timeout --foreground "$limit" "$@" || rc=$?
  if [ "$rc" = 124 ]; then fail "$name" "timed out after ${limit}s (is the registry reachable?)" "$fix"; fi
  if [ "$rc" != 0 ]; then fail "$name" "'$*' exited with $rc (see the output above)" "$fix"; fi
}

ensure_rust() {
  step "Rust toolchain (rust-toolchain.toml)"
  have rustup || fail "Rust toolchain" "rustup is not installed" "install rustup (the official Rust installer), then run this again"
  local channel
  channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
  # RUSTUP_AUTO_INSTALL=0 on some machines: install the pinned toolchain explicitly.
  if ! rustup run "$channel" rustc --version >/dev/null 2>&1 \
     || ! rustup target list --installed --toolchain "$channel" 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    bounded 600 "Rust toolchain" "check the network, or run 'rustup toolchain install' by hand" \
      rustup toolchain install "$channel" --profile minimal -c rustfmt,clippy -t wasm32-unknown-unknown
  fi
  rustc --version >&2
}

ensure_cargo_leptos() {
  step "cargo-leptos $CARGO_LEPTOS_VERSION"
  local found=""
  if have cargo-leptos; then found=$(cargo-leptos --version 2>/dev/null | awk '{print $2}'); fi
  if [ "$found" = "$CARGO_LEPTOS_VERSION" ]; then echo "cargo-leptos $found present" >&2; return; fi
  if [ -n "$found" ] && [ "$(command -v cargo-leptos)" != "$HOME/.cargo/bin/cargo-leptos" ]; then
    fail "cargo-leptos" "version $found at $(command -v cargo-leptos) shadows the one this project pins" \
      "remove it or put ~/.cargo/bin first on PATH"
  fi
  echo "installing (takes ~20 min the first time on 2 cores)…" >&2
  # no_downloads: a missing wasm-bindgen/wasm-opt is an error, never a download.
  bounded 3600 "cargo-leptos" "check the crate registry is reachable; then run this again" \
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads --force
}

ensure_wasm_bindgen() {
  local want found=""
  want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
  [ -n "$want" ] || fail "wasm-bindgen-cli" "no wasm-bindgen in Cargo.lock" "run 'cargo generate-lockfile'"
  step "wasm-bindgen-cli $want (must equal the crate in Cargo.lock)"
  if have wasm-bindgen; then found=$(wasm-bindgen --version | awk '{print $2}'); fi
  if [ "$found" = "$want" ]; then echo "wasm-bindgen $found present" >&2; return; fi
  if [ -n "$found" ] && [ "$(command -v wasm-bindgen)" != "$HOME/.cargo/bin/wasm-bindgen" ]; then
    fail "wasm-bindgen-cli" "version $found at $(command -v wasm-bindgen) shadows the $want this project needs" \
      "remove it or put ~/.cargo/bin first on PATH"
  fi
  # Without --locked: the CLI's own lockfile pins a crate version the registry lacks.
  bounded 1800 "wasm-bindgen-cli" "check the crate registry is reachable; then run this again" \
    cargo install wasm-bindgen-cli --version "$want" --force
}

ensure_node() {
  have node && have npm || fail "Node.js" "node/npm not found" "install Node.js 18 or newer (Debian: apt-get install nodejs npm)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 18 ] || fail "Node.js" "node $(node --version) is too old" "install Node.js 18 or newer"
}

ensure_wasm_opt() {
  step "wasm-opt (npm binaryen@$BINARYEN_VERSION, project-local)"
  ensure_node
  # Debian's binaryen 108 produces wasm that Chromium rejects: use the npm build.
  if [ -x "$TOOLS_DIR/node_modules/.bin/wasm-opt" ] \
     && [ "$(node -p "require('$TOOLS_DIR/node_modules/binaryen/package.json').version" 2>/dev/null)" = "$BINARYEN_VERSION" ]; then
    echo "wasm-opt present" >&2; return
  fi
  mkdir -p "$TOOLS_DIR"
  bounded 600 "wasm-opt" "check the npm registry is reachable; then run this again" \
    npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
}

ensure_chromium() {
  step "Chromium (for the browser tests)"
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    [ -x "$CHROMIUM_PATH" ] || fail "Chromium" "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" "point CHROMIUM_PATH at a Chromium or Chrome binary"
  elif [ -x /usr/bin/chromium ]; then
    export CHROMIUM_PATH=/usr/bin/chromium
  elif [ "$(id -u)" = 0 ] && have apt-get; then
    bounded 300 "Chromium" "check that Debian's package archive is reachable" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive bounded 600 "Chromium" "check that Debian's package archive is reachable" \
      apt-get install -y -qq --no-install-recommends chromium
    export CHROMIUM_PATH=/usr/bin/chromium
  else
    fail "Chromium" "no Chromium found and no root to install it" \
      "install Chromium (Debian: sudo apt-get install chromium) or set CHROMIUM_PATH"
  fi
  echo "using $CHROMIUM_PATH" >&2
}

ensure_redis() {
  step "redis-server (the tests start their own, on an ephemeral port)"
  if have redis-server; then echo "$(redis-server --version | awk '{print $1, $2, $3}') present" >&2; return; fi
  if [ "$(id -u)" = 0 ] && have apt-get; then
    bounded 300 "redis-server" "check that Debian's package archive is reachable" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive bounded 600 "redis-server" "check that Debian's package archive is reachable" \
      apt-get install -y -qq --no-install-recommends redis-server
    # Debian starts a system service on install; the tests never use it.
    return
  fi
  fail "redis-server" "redis-server is not installed and there is no root to install it" \
    "install it (Debian: sudo apt-get install redis-server), then run this again"
}

ensure_promtool() {
  step "promtool (the metrics test checks the exposition with it)"
  if have promtool; then echo "$(promtool --version 2>&1 | head -1) present" >&2; return; fi
  if [ "$(id -u)" = 0 ] && have apt-get; then
    bounded 300 "promtool" "check that Debian's package archive is reachable" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive bounded 600 "promtool" "check that Debian's package archive is reachable" \
      apt-get install -y -qq --no-install-recommends prometheus
    # Debian starts a Prometheus service on install; the tests only use promtool.
    return
  fi
  fail "promtool" "promtool is not installed and there is no root to install it" \
    "install it (Debian: sudo apt-get install prometheus), then run this again"
}

ensure_end2end_packages() {
  step "end2end npm packages (@playwright/test; no browser download)"
  ensure_node
  local stamp=end2end/node_modules/.installed-lock
  if [ -f "$stamp" ] && cmp -s end2end/package-lock.json "$stamp"; then echo "present" >&2; return; fi
  # Playwright must never fetch its own browsers: Chromium comes from the OS.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 bounded 600 "end2end npm packages" \
    "check the npm registry is reachable; then run this again" \
    npm ci --prefix end2end --no-audit --no-fund --silent
  cp end2end/package-lock.json "$stamp"
}

# Serves the release build on 127.0.0.1:$1 in the background (stopped on exit) and
# waits for /healthz. Sets BASE and SERVER_PID.
start_release_server() {
  local port=$1
  BASE="http://127.0.0.1:$port"
  LEPTOS_SITE_ADDR="127.0.0.1:$port" APP_PUBLIC_URL="$BASE" LEPTOS_SITE_ROOT=target/site \
    LEPTOS_OUTPUT_NAME=number-verify RUST_LOG=warn ./target/release/number-verify &
  SERVER_PID=$!
  trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null && return; sleep 0.1; done
  fail "benchmark" "the release server did not start on port $port" "run ./target/release/number-verify by hand to see why"
}
