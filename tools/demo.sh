#!/usr/bin/env bash
# The main job from a fresh clone: set-up, build, index the grocery catalogue with the shared models,
# query a few validation photos and write the visual report.
#   tools/demo.sh                 # grocery data and models from ../shared beside this checkout
#   DS_SHARED_DIR=/path/to/shared tools/demo.sh
#   DS_DEMO_CONFIG=examples/configs/grocery_fast.json tools/demo.sh   # 2 augmented views instead of 3
# Writes into ${DS_DEMO_DIR:-out/demo}: catalogue.csv, <config name>.dscat (e.g. grocery.dscat), report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${DS_SHARED_DIR:-../shared}
OUT=${DS_DEMO_DIR:-out/demo}
tools/setup.sh
tools/build.sh
mkdir -p "$OUT"
/usr/bin/python3 tools/grocery_manifest.py "$SHARED/data/grocery/catalogue.csv" "$OUT/catalogue.csv"
/usr/bin/python3 tools/grocery_manifest.py "$SHARED/data/grocery/queries_val.csv" "$OUT/queries_val.csv"
CLI=build/bin/domainsearch
CONFIG=${DS_DEMO_CONFIG:-examples/configs/grocery.json}
CATALOGUE="$OUT/$(basename "$CONFIG" .json).dscat"  # one catalogue per configuration: re-runs add only new photos
echo "== indexing $(($(wc -l < "$OUT/catalogue.csv") - 1)) catalogue photos (re-runs add only new ones)"
time "$CLI" index --config "$CONFIG" --catalogue "$CATALOGUE" --csv "$OUT/catalogue.csv"
"$CLI" inspect --catalogue "$CATALOGUE" | head -4
mapfile -t QUERIES < <(awk -F, 'NR > 1 && NR % 60 == 2 {print $1}' "$OUT/queries_val.csv")
echo "== querying ${#QUERIES[@]} validation photos"
"$CLI" query --config "$CONFIG" --catalogue "$CATALOGUE" --k 5 --html "$OUT/report.html" "${QUERIES[@]}"
echo "== the visual report is at $(realpath "$OUT/report.html")"
