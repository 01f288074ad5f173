#!/usr/bin/env bash
# Handoff benchmark: two app instances on one Redis, a `SANDBOX=only` operator, all on
# 127.0.0.1 on ports picked at random (examples/bench_handoff.rs drives them):
#   - verdicts: desktops start on instance A and follow their live stream there; their
#     phones continue on instance B; the time from the phone's callback to the desktop's
#     verdict event, p50/p99 (and the callback's own time, for comparison);
#   - streams: desktops holding their live stream open at once on A, and A's resident
#     memory per open stream.
# Every run is bounded; nothing here is asserted.
#
# Usage: scripts/bench-handoff.sh          (prints a Markdown table)
#   VERDICTS=500 CONCURRENCY=8 STREAMS=2000  (defaults)
source "$(dirname "$0")/lib.sh"

VERDICTS=${VERDICTS:-500}
CONCURRENCY=${CONCURRENCY:-8}
STREAMS=${STREAMS:-2000}
for v in VERDICTS CONCURRENCY STREAMS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "benchmark" "$v=${!v} is not a positive whole number" "set $v to a whole number, or unset it"
done
ensure_redis
ensure_rust
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_wasm_opt

export LEPTOS_OUTPUT_NAME=number-verify LEPTOS_SITE_ROOT=target/site
step "cargo leptos build --release; the handoff driver (examples/bench_handoff.rs)"
cargo leptos build --release >&2
cargo build --release --features ssr --example bench_handoff >&2
DRIVER=target/release/examples/bench_handoff

# Each stream is a connection on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d)
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}
trap 'status=$?; stop_all; [ "$status" = 0 ] && rm -rf "$WORK"' EXIT

read -r A_PORT B_PORT OPERATOR_PORT REDIS_PORT < <(python3 -c 'import socket
held = [socket.socket() for _ in range(4)]
for s in held: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))')
A="http://127.0.0.1:$A_PORT"
B="http://127.0.0.1:$B_PORT"
OPERATOR="http://127.0.0.1:$OPERATOR_PORT"
wait_for() { # wait_for URL WHAT
  for _ in $(seq 1 200); do curl -fs -o /dev/null "$1" && return; sleep 0.05; done
  fail "benchmark" "$2 did not answer on $1" "see the logs in $WORK"
}

step "starting Redis, the virtual operator and instances A and B"
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly no \
  >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

# The phone's callback is A's public address; the driver sends it to B instead.
SANDBOX=only LEPTOS_SITE_ADDR="127.0.0.1:$OPERATOR_PORT" RUST_LOG=warn SANDBOX_REDIRECT_URIS="$A/callback" \
  target/release/number-verify >"$WORK/operator.log" 2>&1 &
PIDS+=($!)
wait_for "$OPERATOR/healthz" "the virtual operator"

start_app() { # start_app PORT → APP_PID
  env LEPTOS_SITE_ADDR="127.0.0.1:$1" APP_PUBLIC_URL="$A" RUST_LOG=warn REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    SESSION_KEYS=bench-session-key-0123456789abcdef0123 \
    PAGE_RATE_LIMIT_PER_MINUTE=1000000 RATE_LIMIT_PER_MINUTE=1000000 MAX_PENDING_PER_CLIENT=1000000 \
    MAX_CONNECTIONS=100000 MAX_CONNECTIONS_PER_CLIENT=100000 \
    MC_API_BASE="$OPERATOR/sandbox" MC_CLIENT_ID=nv-sandbox-mc-client MC_CLIENT_SECRET=nv-sandbox-mc-secret \
    target/release/number-verify >"$WORK/app-$1.log" 2>&1 &
  APP_PID=$!
  PIDS+=($APP_PID)
  wait_for "http://127.0.0.1:$1/healthz" "the app on port $1"
}
start_app "$A_PORT"
A_PID=$APP_PID
start_app "$B_PORT"

step "driving $VERDICTS handoffs ($CONCURRENCY at a time), then holding $STREAMS streams"
LOAD=$(cut -d' ' -f1 /proc/loadavg)
out=$(timeout 900 "$DRIVER" --desktop "$A" --phone "$B" --verdicts "$VERDICTS" --concurrency "$CONCURRENCY" \
  --streams "$STREAMS" --pid "$A_PID") || fail "benchmark" "the handoff driver failed: $out" "see the logs in $WORK"
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }
streams=$(field streams)
before=$(field rss_before_kb)
after=$(field rss_after_kb)
per_stream=$(awk -v b="$before" -v a="$after" -v n="$streams" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / n; else print "-" }')

echo
echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F), load average $LOAD before the run."
echo
echo "| measure | result | p50 ms | p99 ms | notes |"
echo "|---|---:|---:|---:|---|"
echo "| phone's callback answered (instance B) | $(field verdicts) handoffs | $(field callback_p50_ms) | $(field callback_p99_ms) | $(field errors) failed; the operator's token and check included |"
echo "| phone's callback sent → desktop's verdict event (instance A) | $(field verdicts) handoffs | $(field event_p50_ms) | $(field event_p99_ms) | through Redis Pub/Sub; $CONCURRENCY at a time |"
echo "| live streams held open on one instance | $streams | | | resident memory $((before / 1024)) MB → $((after / 1024)) MB: **$per_stream KB per stream** |"
