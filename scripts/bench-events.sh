#!/usr/bin/env bash
# Signed-event delivery benchmark: two app instances (SANDBOX=on, each its own virtual
# operator) on one Redis, whose shared outbox delivers every verification's CloudEvents
# to a receiver (examples/bench_events/) that checks each signature and payload_hash,
# dedupes by id, and notes how long after its `time` each event arrived. The same
# process drives FLOWS verifications through `/login`, alternating between the two
# instances, then waits for two events (started, completed) per flow.
# Everything listens on 127.0.0.1, on ports picked at random; every wait is bounded.
# Nothing here is asserted beyond the driver's own check: no event lost or duplicated,
# no signature refused (it exits non-zero otherwise).
#
# Usage: scripts/bench-events.sh           (prints the driver's line and a Markdown table)
#   FLOWS=2000 CONCURRENCY=16              (defaults)
source "$(dirname "$0")/lib.sh"

FLOWS=${FLOWS:-2000}
CONCURRENCY=${CONCURRENCY:-16}
for v in FLOWS CONCURRENCY; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "benchmark" "$v=${!v} is not a positive whole number" "set $v to a whole number, or unset it"
done
ensure_redis
ensure_rust
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_wasm_opt

export LEPTOS_OUTPUT_NAME=number-verify LEPTOS_SITE_ROOT=target/site
step "cargo leptos build --release; the receiver and driver (examples/bench_events/)"
cargo leptos build --release >&2
cargo build --release --features ssr --example bench_events >&2
DRIVER=target/release/examples/bench_events

WORK=$(mktemp -d)
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}
# On failure the logs stay for the message that names them.
trap 'status=$?; stop_all; [ "$status" = 0 ] && rm -rf "$WORK"' EXIT

# Six different free ports: all held open until all are known.
read -r RECEIVER_PORT A_PORT B_PORT A_METRICS B_METRICS REDIS_PORT < <(python3 -c 'import socket
held = [socket.socket() for _ in range(6)]
for s in held: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))')
A="http://127.0.0.1:$A_PORT"
B="http://127.0.0.1:$B_PORT"
wait_for() { # wait_for URL WHAT
  for _ in $(seq 1 200); do curl -fs -o /dev/null --max-time 2 "$1" && return; sleep 0.05; done
  fail "benchmark" "$2 did not answer on $1" "see the logs in $WORK"
}

step "starting Redis and instances A and B"
mkdir -p "$WORK/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly no \
  --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
redis_up=""
for _ in $(seq 1 200); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && { redis_up=1; break; }; sleep 0.05; done
[ -n "$redis_up" ] || fail "benchmark" "redis-server did not start" "see $WORK/redis.log"

# The receiver's key, fresh for each run; the driver reads it from its environment too.
EVENTS_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export EVENTS_SECRET

start_app() { # start_app PORT METRICS_PORT
  env LEPTOS_SITE_ADDR="127.0.0.1:$1" APP_PUBLIC_URL="http://127.0.0.1:$1" METRICS_ADDR="127.0.0.1:$2" \
    RUST_LOG=warn SANDBOX=on REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
    SESSION_KEYS=bench-session-key-0123456789abcdef0123 \
    EVENTS_URL="http://127.0.0.1:$RECEIVER_PORT/events" EVENTS_SECRET="$EVENTS_SECRET" \
    RATE_LIMIT_PER_MINUTE=1000000 PAGE_RATE_LIMIT_PER_MINUTE=1000000 MAX_PENDING_PER_CLIENT=1000000 \
    target/release/number-verify >"$WORK/app-$1.log" 2>&1 &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$1/healthz" "the app on port $1"
}
start_app "$A_PORT" "$A_METRICS"
start_app "$B_PORT" "$B_METRICS"

step "driving $FLOWS verifications ($CONCURRENCY at a time) across A and B; the receiver on port $RECEIVER_PORT"
LOAD=$(cut -d' ' -f1 /proc/loadavg)
rc=0
out=$(timeout 900 "$DRIVER" --listen "$RECEIVER_PORT" --instances "$A,$B" --flows "$FLOWS" \
  --concurrency "$CONCURRENCY" 2>"$WORK/driver.err") || rc=$?
cat "$WORK/driver.err" >&2
[ -n "$out" ] || fail "benchmark" "the driver printed nothing (exit $rc)" "see $WORK/driver.err and the logs in $WORK"

# Each instance's own count: which one sent what (one stream, one consumer group).
metric() { # metric PORT NAME → the sample's value, or ?
  { curl -fs --max-time 5 "http://127.0.0.1:$1/metrics" || true; } | awk -v n="$2" '$1 == n {print $2; found=1} END {if (!found) print "?"}'
}
delivered_a=$(metric "$A_METRICS" nv_events_delivered_total)
delivered_b=$(metric "$B_METRICS" nv_events_delivered_total)
failures=$(( $(metric "$A_METRICS" nv_event_delivery_failures_total | sed 's/?/0/') \
  + $(metric "$B_METRICS" nv_event_delivery_failures_total | sed 's/?/0/') ))

field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }
echo "$out"
echo
echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F), load average $LOAD before the run, $(nproc) cores."
echo
echo "| flows | events received / expected | duplicates | lost | signatures refused | p50 ms | p90 ms | p99 ms | max ms | delivered by A / B | failed attempts |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| $(field flows) | $(field events) / $(field expected) | $(field duplicates) | $(field lost) | $(field bad_signatures) | $(field p50_ms) | $(field p90_ms) | $(field p99_ms) | $(field max_ms) | $delivered_a / $delivered_b | $failures |"
[ "$rc" = 0 ] || fail "benchmark" "the driver exited with $rc (an event lost or duplicated, a signature refused, or a flow failed)" \
  "see the lines above, $WORK/driver.err and the logs in $WORK"
