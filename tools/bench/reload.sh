#!/usr/bin/env bash
# Hot reload under load: a release `certflow serve --demo` on a copy of the
# bundle, wrk on loopback against a logged-in notice list and
# /api/v1/doctypes, and meanwhile a new format's files are copied into the
# bundle; prints how long after the copy the format is served, then a broken
# rule: how long until it is refused, and the failed requests of the whole run.
#   tools/bench/reload.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-10}"
connections="${2:-16}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -p certflow >&2
bin="$PWD/target/release/certflow"
work=$(mktemp -d)
mkdir -p "$work/served" "$work/scratch"
cp -r forms rules certificate-templates "$work/served/"
cp -r forms rules certificate-templates "$work/scratch/"
"$bin" new-format export-c2-7 --base export-sanitary-base --format-code C2-7 --bundle "$work/scratch" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work/served" && exec "$bin" serve --demo --listen "127.0.0.1:${port}" --no-customs-simulator > "$work/serve.log" 2>&1) &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
base="http://127.0.0.1:${port}"
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done
# The start-up check of every layout runs once; wait until the server answers fast.
sleep 2
jar="$work/jar"
token=$(curl -s -c "$jar" -b "$jar" "$base/login" | grep -o 'name="_csrf" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//')
curl -s -c "$jar" -b "$jar" -o /dev/null -d "_csrf=${token}&card_no=8930000000000001&pin=88888888" "$base/login"
session=$(awk '$6 == "certflow_session" { print $7 }' "$jar")
pids=()
load() {
  wrk -t1 -c"$connections" -d"${seconds}s" --latency -H "Cookie: certflow_session=${session}" "$base$1" > "$work/wrk-$2.txt" &
  pids+=($!)
}
now_ms() { date +%s%3N; }
load /lists/import-notices list
load /api/v1/doctypes doctypes
sleep 2
start=$(now_ms)
cp "$work/scratch/forms/doctypes/export/export-c2-7.yaml" "$work/served/forms/doctypes/export/"
cp "$work/scratch/forms/samples/export-c2-7.json" "$work/served/forms/samples/"
cp "$work/scratch/certificate-templates/export/c2-7.typ" "$work/served/certificate-templates/export/"
cp "$work/scratch/forms/scenarios/export-c2-7.yaml" "$work/served/forms/scenarios/"
until curl -s "$base/api/v1/doctypes" | grep -q '"export-c2-7"'; do sleep 0.02; done
echo "new format served $(( $(now_ms) - start )) ms after its files were copied"
sleep 1
start=$(now_ms)
printf '\nlet broken = ;\n' >> "$work/served/rules/import/supplement.rhai"
until curl -s "$base/api/v1/bundle" | grep -q 'rules/import/supplement.rhai'; do sleep 0.02; done
echo "broken rule refused $(( $(now_ms) - start )) ms after the save; the last good bundle serves"
wait "${pids[@]}"
for name in list doctypes; do
  out="$work/wrk-$name.txt"
  printf '%-9s %10s req/s  p99 %8s  requests %s  non-2xx %s  socket errors %s\n' "$name" \
    "$(awk '/Requests\/sec/ { print $2 }' "$out")" "$(awk '$1 == "99%" { print $2 }' "$out")" \
    "$(awk '/requests in/ { print $1 }' "$out")" "$(awk '/Non-2xx/ { print $4 }' "$out" | grep . || echo 0)" \
    "$(awk '/Socket errors/ { print $0 }' "$out" | grep . || echo none)"
done
curl -s "$base/api/v1/bundle" | python3 -c 'import json, sys
for e in json.load(sys.stdin)["reloads"]: print(e["outcome"], e["ms"], "ms", e.get("phases"))'
