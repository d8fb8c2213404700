#!/usr/bin/env bash
# Load on a logged-in server: wrk against the notice list and a generated
# supplement form, on loopback only, bounded in time. Prints req/s and p99.
#   tools/bench/load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-15}"
connections="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -p certflow >&2
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
./target/release/certflow serve --demo --listen "127.0.0.1:${port}" --database "sqlite:${work}/db.sqlite" \
  --no-customs-simulator > "${work}/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:${port}/healthz" >/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:${port}"
jar="${work}/jar"
token=$(curl -s -c "$jar" -b "$jar" "$base/login" | grep -o 'name="_csrf" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//')
curl -s -c "$jar" -b "$jar" -o /dev/null -d "_csrf=${token}&card_no=8930000000000001&pin=88888888" "$base/login"
session=$(awk '$6 == "certflow_session" { print $7 }' "$jar")
doc=$(curl -s -b "$jar" "$base/lists/import-notices" | grep -o 'data-id="[^"]*" data-actions="supplement"' | head -1 | sed 's/data-id="//;s/".*//')
[ -n "$session" ] && [ -n "$doc" ] || { echo "could not log in or find a form" >&2; exit 1; }
run() {
  local name=$1 path=$2
  local out
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Cookie: certflow_session=${session}" "$base$path")
  local rps p99
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  local errors
  errors=$(echo "$out" | awk '/Non-2xx/ { print $4 }')
  printf '%-28s %10s req/s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p99" "${errors:-0}"
}
echo "wrk, ${connections} connections, ${seconds} s each, $(nproc) cores"
run "notice list (10 rows)" "/lists/import-notices"
run "supplement form" "/documents/${doc}/edit"
run "healthz (baseline)" "/healthz"
