#!/usr/bin/env bash
# Validation speed: certflow (criterion, release) beside Python's jsonschema on
# the same generated schema and 100-line document, with the ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
python3 -c 'import jsonschema' 2>/dev/null || pip install --quiet 'jsonschema>=4.23'
CERTFLOW_BENCH_EXPORT="$out" cargo bench -p certflow-core --bench validate -- --noplot 2>&1 | tee "$out/criterion.txt"
python_us=$(python3 tools/bench/jsonschema_baseline.py "$out")
# criterion prints "time:   [low median high]" after each benchmark name.
median_us() {
  grep -A2 "$1" "$out/criterion.txt" | grep -o 'time: *\[[^]]*\]' | head -1 |
    awk '{ v=$4; u=$5; if (u=="ns") v/=1000; if (u=="ms") v*=1000; if (u=="s") v*=1000000; print v }'
}
full_us=$(median_us 'full (schema + rules)')
schema_us=$(median_us 'schema only')
echo
echo "validate import-food, 100 goods lines (median)"
printf '  certflow full (schema + rules): %10.1f µs\n' "$full_us"
printf '  certflow schema only:           %10.1f µs\n' "$schema_us"
printf '  Python jsonschema (schema):     %10.1f µs\n' "$python_us"
awk -v p="$python_us" -v s="$schema_us" -v f="$full_us" 'BEGIN {
  printf "  ratio Python / certflow schema: %.1f×\n  ratio Python / certflow full:   %.1f×\n", p/s, p/f }'
