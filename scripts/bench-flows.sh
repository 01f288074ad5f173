#!/usr/bin/env bash
# Whole-flow benchmark: verifications per second, p50/p99 latency and the app's peak
# memory, for the memory store vs Redis, one instance vs two behind an nginx round robin,
# each protocol, and a relying party's whole flow through the OpenID Provider (`oidc`:
# hosted page, Mobile Connect, code, token, id_token checked), and the page's
# phone-number credential (`credential`: request, the virtual wallet, answer — SD-JWT,
# key-binding JWT, JWE, JWT-bearer grant, verify — and the result page), and the one-time
# code after a failure on Wi-Fi (`codes`: the refusal's ticket, /code/send, the virtual
# SMS inbox, /code/check). The operator is
# a separate `SANDBOX=only` process, so its work is not counted in the app's figures (it
# shares the machine's 2 cores, though: see README).
# Everything listens on 127.0.0.1, on ports picked at random; every run is bounded.
#
# Usage: scripts/bench-flows.sh            (prints a Markdown table)
#   SECONDS_PER_RUN=10 CONCURRENCY=16      (defaults)
#   PROTOCOLS="mobile-connect oidc"        (a subset of the rows; default: all six)
source "$(dirname "$0")/lib.sh"

SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONCURRENCY=${CONCURRENCY:-16}
PROTOCOLS=${PROTOCOLS:-camara camara-standard mobile-connect oidc credential codes}

install_apt() { # install_apt COMMAND PACKAGE
  have "$1" && return
  [ "$(id -u)" = 0 ] && have apt-get && DEBIAN_FRONTEND=noninteractive \
    bounded 600 "$2" "check that Debian's package archive is reachable" apt-get install -y -qq "$2" >/dev/null
  have "$1" || fail "benchmark" "$1 is not installed" "install it (Debian: apt-get install $2)"
}
install_apt nginx nginx-light
ensure_redis
ensure_rust
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_wasm_opt

export LEPTOS_OUTPUT_NAME=number-verify LEPTOS_SITE_ROOT=target/site
step "cargo leptos build --release; the flow driver (examples/bench_flows/)"
cargo leptos build --release >&2
cargo build --release --features ssr --example bench_flows >&2
DRIVER=target/release/examples/bench_flows

WORK=$(mktemp -d)
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}
# On failure the logs stay for the message that names them.
trap 'status=$?; stop_all; [ "$status" = 0 ] && rm -rf "$WORK"' EXIT

# Five different free ports: all held open until all are known.
free_ports() {
  python3 -c 'import socket
held = [socket.socket() for _ in range(5)]
for s in held: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))'
}
wait_for() { # wait_for URL WHAT
  for _ in $(seq 1 200); do curl -fs -o /dev/null "$1" && return; sleep 0.05; done
  fail "benchmark" "$2 did not answer on $1" "see the logs in $WORK"
}

read -r PROXY_PORT APP1_PORT APP2_PORT OPERATOR_PORT REDIS_PORT < <(free_ports)
PROXY="http://127.0.0.1:$PROXY_PORT"
OPERATOR="http://127.0.0.1:$OPERATOR_PORT"

# start_operator PUBLIC_URL: the virtual operator alone, its registered redirect URI (the
# Vonage application's is the first) the app's public callback. Sets OPERATOR_PID.
start_operator() {
  SANDBOX=only LEPTOS_SITE_ADDR="127.0.0.1:$OPERATOR_PORT" RUST_LOG=warn \
    SANDBOX_REDIRECT_URIS="$1/callback" \
    target/release/number-verify >"$WORK/operator.log" 2>&1 &
  OPERATOR_PID=$!
  PIDS+=($OPERATOR_PID)
  wait_for "$OPERATOR/healthz" "the virtual operator"
}

start_redis() {
  mkdir -p "$WORK/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly no \
    --daemonize no >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.05; done
  fail "benchmark" "redis-server did not start" "see $WORK/redis.log"
}

# start_app PORT PUBLIC_URL [REDIS_URL] → the process id in APP_PID
start_app() {
  local port=$1 public=$2 redis=${3:-}
  env LEPTOS_SITE_ADDR="127.0.0.1:$port" APP_PUBLIC_URL="$public" RUST_LOG=warn \
    ${redis:+REDIS_URL=$redis} TRUST_PROXY=true RATE_LIMIT_PER_MINUTE=1000000 PAGE_RATE_LIMIT_PER_MINUTE=1000000 \
    MAX_PENDING_PER_CLIENT=1000000 \
    MC_API_BASE="$OPERATOR/sandbox" MC_CLIENT_ID=nv-sandbox-mc-client MC_CLIENT_SECRET=nv-sandbox-mc-secret \
    VONAGE_API_BASE="$OPERATOR/sandbox" VONAGE_APPLICATION_ID=5b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d \
    VONAGE_PRIVATE_KEY=sandbox-keys/vonage-sandbox-private.pem \
    CAMARA_ISSUER="$OPERATOR/sandbox/camara/v2" CAMARA_API_ROOT="$OPERATOR/sandbox/camara/v2" \
    CAMARA_CLIENT_ID=nv-sandbox-camara-client CAMARA_CLIENT_KEY=sandbox-keys/camara-client-private.pem \
    CAMARA_CLIENT_KEY_ID=nv-sandbox-camara-key-1 \
    TS43_CREDENTIALS_URL="$OPERATOR/sandbox/openid4vp/credentials" TS43_TRUST_ANCHORS=sandbox-keys/ts43-sandbox-ca.pem \
    VONAGE_API_KEY=nv-sandbox-sms-key VONAGE_API_SECRET=nv-sandbox-sms-secret SMS_FROM=NVSandbox \
    VONAGE_SMS_API_BASE="$OPERATOR/sandbox" SMS_PER_NUMBER_PER_DAY=100 SMS_PER_COUNTRY_PER_DAY=10000000 \
    SESSION_KEYS=bench-session-key-0123456789abcdef0123 \
    OIDC_SIGNING_KEYS=bench=sandbox-keys/oidc-provider-sandbox-1.pem \
    OIDC_SUBJECT_KEY=bench-subject-key-0123456789abcdef0123 \
    RELYING_PARTIES="$RELYING_PARTIES_JSON" \
    target/release/number-verify >"$WORK/app-$port.log" 2>&1 &
  APP_PID=$!
  PIDS+=($APP_PID)
  wait_for "http://127.0.0.1:$port/healthz" "the app on port $port"
}

# The README's nginx configuration: round robin, no stickiness, Host and X-Forwarded-For.
start_proxy() {
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<NGINX
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
worker_processes 1;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  upstream nv { server 127.0.0.1:$APP1_PORT; server 127.0.0.1:$APP2_PORT; keepalive 32; }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    location / {
      proxy_pass http://nv;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGINX
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" &
  PROXY_PID=$!
  PIDS+=($PROXY_PID)
  wait_for "$PROXY/healthz" "nginx"
}

# The relying party the driver's `oidc` flow plays (secret: bench-rp-secret).
RELYING_PARTIES_JSON=$(printf '{"clients": [{"id": "bench-rp", "name": "Benchmark", "redirect_uris": ["http://127.0.0.1:9/cb"], "auth_method": "client_secret_basic", "secret_sha256": "%s"}]}' \
  "$(printf %s bench-rp-secret | sha256sum | cut -d' ' -f1)")

peak_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# CPU time (user + system) a process has used, in milliseconds.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"; }

# run STORE TOPOLOGY PROTOCOL → one table row
run() {
  local store=$1 topology=$2 protocol=$3 redis_url="" target rss
  if [ "$store" = redis ]; then
    redis-cli -p "$REDIS_PORT" flushall >/dev/null
    redis_url="redis://127.0.0.1:$REDIS_PORT/0"
  fi
  local app_pids=() public=$PROXY
  [ "$topology" = "1 instance" ] && public="http://127.0.0.1:$APP1_PORT"
  start_operator "$public"
  if [ "$topology" = "1 instance" ]; then
    start_app "$APP1_PORT" "http://127.0.0.1:$APP1_PORT" "$redis_url"; app_pids+=("$APP_PID")
    target="http://127.0.0.1:$APP1_PORT"
  else
    start_app "$APP1_PORT" "$PROXY" "$redis_url"; app_pids+=("$APP_PID")
    start_app "$APP2_PORT" "$PROXY" "$redis_url"; app_pids+=("$APP_PID")
    # After its upstreams: a refused probe would mark them down for 10 s.
    start_proxy
    target=$PROXY
  fi
  local out
  out=$("$DRIVER" --instances "$target" --protocol "$protocol" --wallet "$OPERATOR/sandbox" \
    --seconds "$SECONDS_PER_RUN" --concurrency "$CONCURRENCY" 2>"$WORK/driver.err") || true
  rss=$(for p in "${app_pids[@]}"; do echo "$(( $(peak_kb "$p") / 1024 )) MB"; done | paste -sd+ | sed 's/+/ + /g')
  local cpu=0
  for p in "${app_pids[@]}"; do cpu=$(( cpu + $(cpu_ms "$p") )); done
  local redis_mem="—"
  [ "$store" = redis ] && redis_mem=$(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory_peak_human/ {print $2}' | tr -d '\r')
  [ "$target" = "$PROXY" ] && app_pids+=("$PROXY_PID")
  for p in "${app_pids[@]}" "$OPERATOR_PID"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  # shellcheck disable=SC2086
  set -- $out
  local flows=${1#flows=} errors=${2#errors=} rate=${3#flows_per_s=} p50=${4#p50_ms=} p99=${5#p99_ms=}
  local why=""
  [ "${errors:-0}" != 0 ] && why=" ($(sed 's/^bench_flows: error //' "$WORK/driver.err" | paste -sd';' | sed 's/;/; /g'))"
  local per_flow="—"
  [ "${flows:-0}" -gt 0 ] 2>/dev/null && per_flow=$(awk -v c="$cpu" -v f="$flows" 'BEGIN {printf "%.2f", c / f}')
  echo "| $store | $topology | $protocol | $rate | $p50 | $p99 | $flows | ${errors}${why} | $per_flow | $rss | $redis_mem |"
}

step "Redis; per row a fresh operator, app(s) and nginx, $SECONDS_PER_RUN s, $CONCURRENCY flows at a time"
start_redis
echo "| store | app | protocol | flows/s | p50 ms | p99 ms | flows ok | failed | app CPU ms/flow | app peak RSS | Redis peak memory |"
echo "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|"
for store in memory redis; do
  for topology in "1 instance" "2 instances via nginx"; do
    for protocol in $PROTOCOLS; do
      run "$store" "$topology" "$protocol"
    done
  done
done
