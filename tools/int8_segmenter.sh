#!/usr/bin/env bash
# Makes out/models/isnet_320_int8.{pt,json}: the shared ISNet (examples/models/isnet_320.json) quantised to
# int8 by tools/quantize_model.py, calibrated on 64 grocery catalogue photos. examples/configs/
# grocery_paper_int8.json uses it. Does nothing when the files exist and the manifest's SHA-256 matches.
#   tools/int8_segmenter.sh        # DS_SHARED_DIR (default ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${DS_SHARED_DIR:-../shared}
OUT=out/models/isnet_320_int8
if [ -f "$OUT.json" ] && [ -f "$OUT.pt" ] &&
   grep -q "\"sha256\": \"$(sha256sum "$OUT.pt" | cut -d' ' -f1)\"" "$OUT.json"; then
  echo "int8 segmenter: $OUT.json is up to date"
  exit 0
fi
/usr/bin/python3 tools/quantize_model.py --manifest examples/models/isnet_320.json --model-file "$SHARED/models/isnet_general_use.pt" \
  --images "$SHARED/data/grocery/catalogue.csv" --out "$OUT" --count 64 --check 16 --threads "$(nproc)" 2>&1 |
  grep -v -e "UserWarning" -e "if param.grad is not None"
