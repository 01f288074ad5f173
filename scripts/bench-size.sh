#!/usr/bin/env bash
# Page-weight benchmark: builds the release bundle, serves it, and measures what a
# browser with an empty cache downloads for the first load (HTML + CSS + JS + wasm),
# compressed as the server sends it (brotli, then gzip), plus the raw wasm size.
# Usage: scripts/bench-size.sh   (prints a Markdown table)
source "$(dirname "$0")/lib.sh"

ensure_rust
ensure_cargo_leptos
ensure_wasm_bindgen
ensure_wasm_opt

step "cargo leptos build --release"
cargo leptos build --release >&2

start_release_server "${BENCH_PORT:-3200}"

size() { # size URL ENCODING → bytes on the wire
  curl -fs -o /dev/null -H "Accept-Encoding: $2" -w '%{size_download}' "$BASE$1"
}
# The assets the page itself names (stylesheet, JS, wasm preloads), plus the favicon.
page=$(curl -fs "$BASE/")
mapfile -t linked < <(printf '%s' "$page" | grep -oE 'href="/[^"]+\.(css|js|wasm)"' | sed 's/^href="//; s/"$//' | sort -u)
assets=(/ "${linked[@]}" /favicon.ico)
wasm_file=$(printf '%s\n' "${linked[@]}" | grep '\.wasm$' | head -1)
echo "| asset | raw bytes | gzip | brotli |"
echo "|---|---:|---:|---:|"
tot_raw=0; tot_gz=0; tot_br=0
for a in "${assets[@]}"; do
  raw=$(size "$a" identity); gz=$(size "$a" gzip); br=$(size "$a" br)
  tot_raw=$((tot_raw + raw)); tot_gz=$((tot_gz + gz)); tot_br=$((tot_br + br))
  echo "| \`$a\` | $raw | $gz | $br |"
done
echo "| **first load** | **$tot_raw** | **$tot_gz** | **$tot_br** |"
echo
echo "wasm file on disk: $(stat -c %s "target/site$wasm_file") bytes ($wasm_file)"
