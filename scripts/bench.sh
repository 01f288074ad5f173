#!/usr/bin/env bash
# The benchmark: builds the release, starts a virtual operator (`SANDBOX=only`,
# its own process) and the app against it (memory store, one instance, as deployed:
# SANDBOX=off, operator variables set), both on 127.0.0.1 on free ports, and prints one
# Markdown table:
#   - first-load bytes on the wire (raw; gzip; and as a browser asks, "gzip, deflate, br",
#     which is brotli for static files and gzip for pages) for `/` and every asset the page names
#     (href= / src=, modulepreload and preload links; hashed names are fine), the favicon,
#     and the first-load total;
#   - wrk req/s and p50/p99 latency, brotli negotiated, for `GET /`, the wasm, the CSS
#     and `/healthz`;
#   - whole verifications through `/login` (examples/bench_flows/), flows/s and p50/p99,
#     Mobile Connect and CAMARA;
#   - the app's resident memory at start and after all that load.
# Then the wasm size profile (twiggy top), when twiggy is installed.
# Loopback only; every measurement is bounded (DURATION seconds each, default 10), so the
# whole run takes about 2 minutes after the build.
#
# Usage: scripts/bench.sh
#   DURATION=10 CONNECTIONS=50 THREADS=2 CONCURRENCY=16   (defaults; CONCURRENCY = flows at a time)
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
THREADS=${THREADS:-2}
CONCURRENCY=${CONCURRENCY:-16}
ACCEPT='gzip, deflate, br'
COMMAND="DURATION=$DURATION CONNECTIONS=$CONNECTIONS THREADS=$THREADS CONCURRENCY=$CONCURRENCY scripts/bench.sh"
for v in DURATION CONNECTIONS THREADS CONCURRENCY; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "benchmark" "$v=${!v} is not a positive whole number" "set $v to a whole number, or unset it"
done

step "wrk (Debian package), python3, curl"
have wrk || { [ "$(id -u)" = 0 ] && have apt-get && DEBIAN_FRONTEND=noninteractive \
  bounded 600 "wrk" "check that Debian's package archive is reachable" apt-get install -y -qq wrk >/dev/null; } || true
have wrk || fail "benchmark" "wrk is not installed" "install wrk (Debian: apt-get install wrk)"
have python3 || fail "benchmark" "python3 is not installed (it picks free ports)" "install python3"
have curl || fail "benchmark" "curl is not installed" "install curl"
ensure_rust
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_wasm_opt
ensure_chromium
ensure_end2end_packages

export LEPTOS_OUTPUT_NAME=number-verify
WORK=$(mktemp -d)
PIDS=()
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
# On failure the logs stay, for the message that names them.
trap 'rc=$?; stop_all; if [ "$rc" = 0 ]; then rm -rf "$WORK"; else echo "logs: $WORK" >&2; fi' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Builds at a lower priority: they must not starve whatever else runs on the machine.
# What each build makes is copied at once: other builds in the same tree (a debug
# `cargo leptos build`, say) rewrite target/site and target/release while this runs.
step "cargo leptos build --release"
nice -n 10 cargo leptos build --release >&2 \
  || fail "build" "cargo leptos build --release failed (see above)" "fix the build, then run this again"
mkdir -p "$WORK/bin" "$WORK/front"
cp -a target/site "$WORK/site"
cp target/release/number-verify "$WORK/bin/"
cp target/front/wasm32-unknown-unknown/wasm-release/*.wasm "$WORK/front/" 2>/dev/null || true
step "the flow driver (examples/bench_flows/)"
nice -n 10 cargo build --release --features ssr --example bench_flows >&2 \
  || fail "build" "the flow driver did not build (see above)" "fix examples/bench_flows/, then run this again"
cp target/release/examples/bench_flows "$WORK/bin/"
BUILD_SECONDS=$SECONDS
export LEPTOS_SITE_ROOT="$WORK/site"
DRIVER="$WORK/bin/bench_flows"
SERVER="$WORK/bin/number-verify"

read -r APP_PORT OPERATOR_PORT < <(python3 -c 'import socket
held = [socket.socket() for _ in range(2)]
for s in held: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))')
APP="http://127.0.0.1:$APP_PORT"
OPERATOR="http://127.0.0.1:$OPERATOR_PORT"

wait_for() { # wait_for URL WHAT
  for _ in $(seq 1 200); do curl -fs --max-time 2 -o /dev/null "$1" && return; sleep 0.05; done
  fail "benchmark" "$2 did not answer on $1" "see the logs in $WORK"
}

step "the virtual operator (SANDBOX=only) on $OPERATOR, the app on $APP"
SANDBOX=only LEPTOS_SITE_ADDR="127.0.0.1:$OPERATOR_PORT" RUST_LOG=warn SANDBOX_REDIRECT_URIS="$APP/callback" \
  "$SERVER" >"$WORK/operator.log" 2>&1 &
PIDS+=("$!")
wait_for "$OPERATOR/healthz" "the virtual operator"
# Measure the app, not the per-client limits: every request comes from 127.0.0.1.
SANDBOX=off LEPTOS_SITE_ADDR="127.0.0.1:$APP_PORT" APP_PUBLIC_URL="$APP" RUST_LOG=warn \
  RATE_LIMIT_PER_MINUTE=1000000 MAX_PENDING_PER_CLIENT=1000000 \
  MC_API_BASE="$OPERATOR/sandbox" MC_CLIENT_ID=nv-sandbox-mc-client MC_CLIENT_SECRET=nv-sandbox-mc-secret \
  VONAGE_API_BASE="$OPERATOR/sandbox" VONAGE_APPLICATION_ID=5b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d \
  VONAGE_PRIVATE_KEY=sandbox-keys/vonage-sandbox-private.pem \
  "$SERVER" >"$WORK/app.log" 2>&1 &
APP_PID=$!
PIDS+=("$APP_PID")
wait_for "$APP/healthz" "the app"

# --- helpers -------------------------------------------------------------------------
group() { sed -E ':a;s/^([0-9]+)([0-9]{3})($|[.,])/\1,\2\3/;ta'; }   # 1234567.8 → 1,234,567.8
ms() { awk -v v="$1" 'BEGIN { if (v == "") { print "?"; exit } if (v + 0 >= 10) printf "%.1f\n", v; else printf "%.2f\n", v }'; }
kb_mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB\n", k / 1024 }'; }
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
size() { # size PATH ENCODING → bytes on the wire
  curl -fs --max-time 30 -o /dev/null -H "Accept-Encoding: $2" -w '%{size_download}' "$APP$1" \
    || fail "first-load bytes" "GET $1 failed" "see $WORK/app.log"
}
encoding() { # encoding PATH → the content-encoding the app answers wrk's Accept-Encoding with
  local e
  e=$(curl -fs --max-time 30 -o /dev/null -D - -H "Accept-Encoding: $ACCEPT" "$APP$1" \
    | awk -F': *' 'tolower($1) == "content-encoding" { gsub(/\r/, "", $2); print $2 }')
  echo "${e:-identity}"
}
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }

RSS_START=$(status_kb "$APP_PID" VmRSS)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# --- first-load bytes ----------------------------------------------------------------
step "first-load bytes"
page=$(curl -fs --max-time 30 "$APP/") || fail "first-load bytes" "GET / failed" "see $WORK/app.log"
# Every same-origin path the page names in href= or src= (stylesheet, modulepreload and
# preload links, scripts, icons), in page order, whatever its (hashed) name.
mapfile -t linked < <(printf '%s' "$page" \
  | grep -oiE "(href|src)=[\"']?/[^\"' >]+" | sed -E "s/^[a-zA-Z]+=[\"']?//" \
  | grep -iE '\.(css|m?js|wasm|ico|png|svg|webp|webmanifest|json|woff2?)([?#].*)?$' | awk '!seen[$0]++')
[[ " ${linked[*]} " == *" /favicon.ico "* ]] || linked+=(/favicon.ico)
pick() { printf '%s\n' "${linked[@]}" | grep -iE "\\.$1([?#].*)?\$" | head -1 || true; }
WASM=$(pick wasm); CSS=$(pick css)
[ -n "$WASM" ] || fail "first-load bytes" "the page names no .wasm" "check the page's <link rel=\"preload\"> (HydrationScripts)"
[ -n "$CSS" ] || fail "first-load bytes" "the page names no .css" "check the page's stylesheet link"
tot_raw=0; tot_gz=0; tot_br=0
for a in / "${linked[@]}"; do
  raw=$(size "$a" identity); gz=$(size "$a" gzip); br=$(size "$a" "$ACCEPT")
  tot_raw=$((tot_raw + raw)); tot_gz=$((tot_gz + gz)); tot_br=$((tot_br + br))
  row "first-load bytes, raw / gzip / browser" "\`$a\`" "$(group <<<"$raw") / $(group <<<"$gz") / $(group <<<"$br")" "" "" ""
done
row "first-load bytes, raw / gzip / browser" "**first load** (all of the above)" \
  "**$(group <<<"$tot_raw") / $(group <<<"$tot_gz") / $(group <<<"$tot_br")**" "" "" ""

# --- wrk ------------------------------------------------------------------------------
# wrk_row PATH: wrk's req/s and latency percentiles (in ms), with what went wrong.
wrk_row() {
  local path=$1 out enc
  enc=$(encoding "$path")
  step "wrk GET $path (${DURATION}s, $CONNECTIONS connections, served as $enc)"
  out="$WORK/wrk-$(tr -c 'a-zA-Z0-9.\n' _ <<<"$path").txt"
  timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency \
    -H "Accept-Encoding: $ACCEPT" "$APP$path" >"$out" 2>&1 \
    || fail "wrk GET $path" "wrk failed or overran (see $out)" "check that the app still answers on $APP"
  cat "$out" >&2
  # wrk prints latencies as 512.00us, 1.23ms, 2.00s or 1.00m.
  read -r rps p50 p99 reqs non2xx sockerr < <(awk '
    function to_ms(s) { if (s ~ /us$/) return s / 1000; if (s ~ /ms$/) return s + 0
                        if (s ~ /m$/) return s * 60000; if (s ~ /s$/) return s * 1000; return s }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = to_ms($2) }
    $1 == "99%" { p99 = to_ms($2) }
    / requests in / { reqs = $1 }
    /Non-2xx or 3xx responses:/ { non = $NF }
    /Socket errors:/ { sub(/^ *Socket errors: */, ""); gsub(/,? /, "_"); sock = $0 }
    END { printf "%.0f %s %s %s %s %s\n", rps, p50, p99, reqs, non + 0, (sock == "" ? "none" : sock) }' "$out")
  local notes
  notes="$(group <<<"$reqs") requests, content-encoding $enc, $non2xx non-2xx"
  [ "$sockerr" = none ] || notes+=", **socket errors: ${sockerr//_/ }**"
  [ "$non2xx" = 0 ] || notes="${notes/$non2xx non-2xx/**$non2xx non-2xx**}"
  row "wrk GET, req/s" "\`$path\`" "$(group <<<"$rps")" "$(ms "$p50")" "$(ms "$p99")" "$notes"
}
wrk_row /
wrk_row "$WASM"
wrk_row "$CSS"
wrk_row /healthz

# --- whole verifications ------------------------------------------------------------
flow_row() { # flow_row PROTOCOL LABEL
  step "$2 flows through /login (${DURATION}s, $CONCURRENCY at a time)"
  local out err="$WORK/flows-$1.err" flows errors rate p50 p99 why=""
  out=$(timeout $((DURATION + 60)) "$DRIVER" --instances "$APP" --protocol "$1" \
    --seconds "$DURATION" --concurrency "$CONCURRENCY" 2>"$err") || true
  echo "$out" >&2
  flows=$(sed -n 's/.*\bflows=\([0-9]*\).*/\1/p' <<<"$out")
  errors=$(sed -n 's/.*\berrors=\([0-9]*\).*/\1/p' <<<"$out")
  rate=$(sed -n 's/.*\bflows_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
  p50=$(sed -n 's/.*\bp50_ms=\([0-9.]*\).*/\1/p' <<<"$out")
  p99=$(sed -n 's/.*\bp99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
  [ -n "$rate" ] || fail "$2 flows" "the flow driver printed no result (see $err)" "run $DRIVER --instances $APP --protocol $1 by hand"
  [ "${errors:-0}" = 0 ] || why=" (**$(sed 's/^bench_flows: error //' "$err" | paste -sd';' | sed 's/;/; /g')**)"
  row "flows through \`/login\`, flows/s" "$2" "$(group <<<"$(printf '%.0f' "$rate")")" "$(ms "$p50")" "$(ms "$p99")" \
    "$(group <<<"$flows") flows verified, ${errors:-?} failed$why"
}
flow_row mobile-connect "Mobile Connect"
flow_row camara "CAMARA"

# --- memory ---------------------------------------------------------------------------
kill -0 "$APP_PID" 2>/dev/null || fail "benchmark" "the app exited during the load" "see $WORK/app.log"
row "app resident memory (VmRSS)" "at start" "$(kb_mb "$RSS_START")" "" "" ""
row "app resident memory (VmRSS)" "after all the load above" "$(kb_mb "$(status_kb "$APP_PID" VmRSS)")" "" "" \
  "peak (VmHWM) $(kb_mb "$(status_kb "$APP_PID" VmHWM)")"

# --- the page on a slow mobile connection ---------------------------------------------
# Chromium, throttled through the DevTools protocol (end2end/tests/throttled.spec.ts),
# against this release build started by Playwright on a free port (with the virtual
# operator in-process, as the end-to-end tests run it: the page has its sandbox card).
step "the page at 400 kbit/s with a 400 ms round trip (Playwright, Chromium)"
E2E_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
throttled=$(cd end2end && E2E_PORT=$E2E_PORT E2E_SERVER_BIN="$SERVER" E2E_SITE_ROOT="$WORK/site" \
  timeout 300 npx playwright test throttled --project hydrated --reporter list 2>&1) || true
line=$(grep -o 'THROTTLED .*' <<<"$throttled" | head -1)
if [ -n "$line" ]; then
  usable=$(sed -n 's/.*usable_ms=\([0-9]*\).*/\1/p' <<<"$line")
  hydrated=$(sed -n 's/.*hydrated_ms=\([0-9]*\).*/\1/p' <<<"$line")
  bytes=$(sed -n 's/.*first_load_bytes=\([0-9]*\).*/\1/p' <<<"$line")
  row "400 kbit/s, 400 ms RTT (Chromium)" "form usable after" "$(group <<<"$usable") ms" "" "" "server-rendered form"
  row "400 kbit/s, 400 ms RTT (Chromium)" "hydrated after" "$(group <<<"$hydrated") ms" "" "" \
    "$(group <<<"$bytes") bytes on the wire (page with its sandbox card)"
else
  echo "$throttled" >&2
  row "400 kbit/s, 400 ms RTT (Chromium)" "—" "failed" "" "" "see the Playwright output above"
fi

# --- the table ------------------------------------------------------------------------
commit=$(git describe --always --dirty 2>/dev/null || echo unknown)
echo "command: \`$COMMAND\`"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit; $(nproc) cores; load average before measuring: $LOAD;" \
  "tools and build $BUILD_SECONDS s, measuring $((SECONDS - BUILD_SECONDS)) s"
echo "setup: release build; the app (memory store, one instance, SANDBOX=off) and its operator" \
  "(a separate SANDBOX=only process) on 127.0.0.1; $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')" \
  "-t$THREADS -c$CONNECTIONS -d${DURATION}s --latency --timeout 10s -H 'Accept-Encoding: $ACCEPT';" \
  "flows: examples/bench_flows/, $CONCURRENCY at a time for ${DURATION}s; everything shares the same cores"
echo
echo "| measure | subject | result | p50 ms | p99 ms | notes |"
echo "|---|---|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"

# --- wasm size profile ----------------------------------------------------------------
# has_names FILE: whether the wasm keeps its "name" custom section (function names).
has_names() {
  python3 - "$1" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
def leb(i):
    r = s = 0
    while True:
        b = d[i]; i += 1; r |= (b & 0x7f) << s; s += 7
        if b < 0x80: return r, i
i = 8
while i < len(d):
    sid = d[i]; n, i = leb(i + 1); end = i + n
    if sid == 0:
        l, j = leb(i)
        if d[j:j + l] == b"name": sys.exit(0)
    i = end
sys.exit(1)
PY
}
largest() { stat -c '%s %n' "$@" 2>/dev/null | sort -rn | head -1 | cut -d' ' -f2- || true; }
# Monomorphised Leptos views have names thousands of characters long: crate hashes
# (`tachys[fa2a732c283c7779]`) dropped, then cut at 160 characters.
top15() {
  echo '```'
  twiggy top -n 15 "$1" | LC_ALL=C.UTF-8 sed -E 's/\[[0-9a-f]{12,16}\]//g; s/^(.{160}).+$/\1…/'
  echo '```'
}
echo
served=$(largest "$WORK"/site/pkg/*.wasm)
served_name="target/site/pkg/${served##*/}"
if ! have twiggy; then
  echo "wasm size profile: twiggy is not installed (cargo install twiggy), so no profile of $served_name."
elif has_names "$served"; then
  echo "wasm size profile of the served $served_name ($(group <<<"$(stat -c %s "$served")") bytes):"
  top15 "$served"
else
  # wasm-opt drops the name section; rustc's output, before wasm-bindgen and wasm-opt, keeps it.
  raw=$(largest "$WORK"/front/*.wasm)
  if [ -n "$raw" ] && has_names "$raw"; then
    echo "wasm size profile of target/front/wasm32-unknown-unknown/wasm-release/${raw##*/}" \
      "($(group <<<"$(stat -c %s "$raw")") bytes), rustc's output before wasm-bindgen and wasm-opt: the served" \
      "$served_name ($(group <<<"$(stat -c %s "$served")") bytes) has no function names (wasm-opt strips them)." \
      "Its \"function names\" subsection and wasm-bindgen's custom section are not served; the functions" \
      "shrink further under wasm-opt -Oz:"
    top15 "$raw"
  else
    echo "wasm size profile of the served $served_name (no function names: wasm-opt strips them):"
    top15 "$served"
  fi
fi
