#!/usr/bin/env bash
# Speed and memory benchmark: serves the release build on 127.0.0.1 and measures, with
# wrk (Debian package), requests per second and latency for the page and the start of a
# verification through the JSON API, then the server's peak resident memory.
# Bounded: each run lasts DURATION seconds (default 10) against loopback only.
# Usage: scripts/bench-load.sh   (run scripts/bench-size.sh first, or it builds)
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10}
have wrk || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || true
have wrk || fail "benchmark" "wrk is not installed" "install wrk (Debian: apt-get install wrk)"
[ -x target/release/number-verify ] || { ensure_rust; ensure_cargo_leptos; ensure_wasm_bindgen; ensure_wasm_opt; cargo leptos build --release >&2; }

# Measure the flow, not the per-client limit: every wrk connection comes from 127.0.0.1.
export RATE_LIMIT_PER_MINUTE=1000000
export MAX_PENDING_PER_CLIENT=1000000
start_release_server "${BENCH_PORT:-3201}"

echo "### GET / (server-rendered page, brotli)"
wrk -t2 -c16 -d"${DURATION}s" -H 'Accept-Encoding: br' "$BASE/" | grep -E 'Latency|Requests/sec'
echo "### POST /login (CAMARA start: JWT + network enablement over HTTP to the sandbox)"
cat > /tmp/nv-login.lua <<'LUA'
wrk.method = "POST"
wrk.body   = '{"phone": "+99012345678"}'
wrk.headers["Content-Type"] = "application/json"
LUA
# 1 s: every start stays pending (10 min); MAX_PENDING bounds the memory store (100,000).
wrk -t2 -c16 -d1s -s /tmp/nv-login.lua "$BASE/login" | grep -E 'Latency|Requests/sec|Non-2xx'
echo "### server memory"
grep -E 'VmHWM|VmRSS' /proc/$SERVER_PID/status
