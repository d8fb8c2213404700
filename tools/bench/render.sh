#!/usr/bin/env bash
# Certificate render speed: certflow (warm, one process, release) beside the
# same template and data compiled by Typst's Python binding, warm in one
# process and as a fresh process per document, for a one-page certificate
# with 20 goods lines and a long one with 200 lines; with the ratios.
#   RENDERS=10000 RENDERS_LONG=10000 FRESH=50 tools/bench/render.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
renders_short=${RENDERS:-10000}
renders_long=${RENDERS_LONG:-$renders_short}
fresh=${FRESH:-50}
python3 -c 'import typst' 2>/dev/null || pip install --quiet 'typst==0.15.*'
cargo bench -p certflow-render --bench render --no-run 2>/dev/null
for lines in 20 200; do
  renders=$renders_short
  [ "$lines" = 200 ] && renders=$renders_long
  out=$(mktemp -d)
  rust=$(cargo bench -q -p certflow-render --bench render -- --lines "$lines" --renders "$renders" --export "$out")
  warm=$(python3 tools/bench/render_typst_py.py "$out" warm "$renders")
  cold=$(python3 tools/bench/render_typst_py.py "$out" fresh "$fresh")
  echo "$rust"
  echo "$warm"
  echo "$cold"
  median() { sed -n 's/.*median \([0-9.]*\) ms.*/\1/p' <<<"$1"; }
  awk -v r="$(median "$rust")" -v w="$(median "$warm")" -v c="$(median "$cold")" -v l="$lines" 'BEGIN {
    printf "  %s lines: python warm / certflow = %.2f×, python fresh process / certflow = %.0f×\n\n", l, w/r, c/r }'
  rm -rf "$out"
done
