#!/usr/bin/env bash
# Lockout benchmark: serves the release build on 127.0.0.1
# behind a pretend trusted proxy (TRUST_PROXY=true) and floods it with wrk: FLOOD
# (default 20,000) Mobile Connect starts — the cheapest start, no operator call — each
# from its own X-Forwarded-For address, within DURATION seconds (default 30). Then one
# fresh client starts a verification (its status is printed: 200 with a url is the
# point) and the server's resident memory after the flood is read.
# Bounded: wrk stops after FLOOD responses or DURATION seconds, against loopback only.
# Usage: scripts/bench-flood.sh   (REDIS_URL=redis://… floods the Redis store instead)
source "$(dirname "$0")/lib.sh"

FLOOD=${FLOOD:-20000}
DURATION=${DURATION:-30}
THREADS=2
have wrk || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || true
have wrk || fail "benchmark" "wrk is not installed" "install wrk (Debian: apt-get install wrk)"
have curl || fail "benchmark" "curl is not installed" "install curl (Debian: apt-get install curl)"
# The release build of this tree (incremental: quick when up to date).
ensure_rust; ensure_cargo_leptos; ensure_wasm_bindgen; ensure_wasm_opt
step "cargo leptos build --release"
cargo leptos build --release >&2

# The limits under test are the defaults (RATE_LIMIT_PER_MINUTE 30, MAX_PENDING_PER_CLIENT 5,
# MAX_PENDING 100,000); only the client's address comes from X-Forwarded-For.
export TRUST_PROXY=true
unset RATE_LIMIT_PER_MINUTE MAX_PENDING_PER_CLIENT MAX_PENDING
start_release_server "${BENCH_PORT:-3202}"
echo "### store: $([ -n "${REDIS_URL:-}" ] && echo redis || echo memory)"
echo "### server memory before the flood"
grep -E 'VmHWM|VmRSS' /proc/$SERVER_PID/status

# Each thread numbers its own range of 10.0.0.0/8 addresses and stops after its share.
LUA=$(mktemp /tmp/nv-flood.XXXXXX.lua)
trap 'kill $SERVER_PID 2>/dev/null || true; rm -f "$LUA"' EXIT
cat >"$LUA" <<LUA
local threads, next_id = {}, 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function init(args)
  quota = math.ceil($FLOOD / $THREADS)
  sent, answered, ok, refused = 0, 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"phone":"+99012345678","protocol":"mobile-connect"}'
end
function request()
  local n = id * 4194304 + sent
  sent = sent + 1
  wrk.headers["X-Forwarded-For"] = string.format("10.%d.%d.%d",
    math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format()
end
function response(status, headers, body)
  answered = answered + 1
  if status == 200 then ok = ok + 1 else refused = refused + 1 end
  if answered >= quota then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local total_ok, total_refused = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_refused = total_refused + t:get("refused")
  end
  io.write(string.format("starts: %d answered 200, %d refused, from %d distinct addresses\n",
    total_ok, total_refused, total_ok + total_refused))
end
LUA

echo "### flood: $FLOOD POST /login Mobile Connect starts, one X-Forwarded-For address each"
began=$(date +%s%N)
wrk -t"$THREADS" -c64 -d"${DURATION}s" --timeout 10s -s "$LUA" "$BASE/login" \
  | grep -E 'starts:|Latency|requests in|Socket errors'
echo "(wrk waits out its ${DURATION}s; the flood itself is the starts above)"
echo "elapsed: $(( ($(date +%s%N) - began) / 1000000 )) ms"

echo "### a fresh client after the flood"
status=$(curl -s -o /tmp/nv-flood-fresh.json -w '%{http_code}' -X POST "$BASE/login" \
  -H 'Content-Type: application/json' -H 'X-Forwarded-For: 192.0.2.1' \
  -d '{"phone":"+99012345678","protocol":"mobile-connect"}')
echo "status: $status$(grep -q '"url"' /tmp/nv-flood-fresh.json && echo ' (with a url)')"
rm -f /tmp/nv-flood-fresh.json
echo "### server memory after the flood"
grep -E 'VmHWM|VmRSS' /proc/$SERVER_PID/status
[ "$status" = 200 ] || fail "benchmark" "a fresh client got $status after the flood: locked out" "see docs/operations.md (security promises)"
