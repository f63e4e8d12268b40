#!/usr/bin/env bash
# Measures the pipeline on the grocery validation photos with `domainsearch eval --ablate`, in the two
# protocols of the evaluation issue, and writes tables, JSON and plots into ${DS_EVAL_DIR:-out/eval}:
#   photos:  catalogue.csv (2,640 shop photos) as catalogue, queries_val.csv as queries;
#   iconic:  catalogue_iconic.csv (one studio image per item) as catalogue, the same queries, the
#            category head trained on catalogue.csv's photos.
#   tools/eval_grocery.sh [photos|iconic]...    # default: both; expects a build (tools/build.sh)
# Extra settings: DS_EVAL_CONFIG (default examples/configs/grocery.json), DS_SHARED_DIR (default ../shared).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${DS_SHARED_DIR:-../shared}
OUT=${DS_EVAL_DIR:-out/eval}
CONFIG=${DS_EVAL_CONFIG:-examples/configs/grocery.json}
CLI=build/bin/domainsearch
mkdir -p "$OUT"
for split in catalogue catalogue_iconic queries_val; do
  /usr/bin/python3 tools/grocery_manifest.py "$SHARED/data/grocery/$split.csv" "$OUT/$split.csv"
done
for protocol in "${@:-photos iconic}"; do
  for p in $protocol; do
    case "$p" in
      photos) args=(--catalogue-csv "$OUT/catalogue.csv") ;;
      iconic) args=(--catalogue-csv "$OUT/catalogue_iconic.csv" --head-csv "$OUT/catalogue.csv") ;;
      *) echo "unknown protocol $p (photos|iconic)"; exit 2 ;;
    esac
    echo "== $p protocol"
    "$CLI" eval --config "$CONFIG" "${args[@]}" --queries-csv "$OUT/queries_val.csv" --ablate \
      --json-file "$OUT/$p.json" --plot "$OUT/$p" | tee "$OUT/$p.txt"
  done
done
