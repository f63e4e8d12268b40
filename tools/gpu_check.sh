#!/usr/bin/env bash
# The GPU check: builds libdomainsearch against an official CUDA LibTorch (found with find_package(Torch)),
# runs the tests that need CUDA, then a timed index + fine-tune + query run of the grocery photos on the GPU.
#   TORCH_DIR=/path/to/libtorch tools/gpu_check.sh [PHOTOS]     # PHOTOS: catalogue photos to use (default 800)
# TORCH_DIR is the unpacked CUDA LibTorch (it holds share/cmake/Torch). Writes out/gpu_check/report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TORCH_DIR:?set TORCH_DIR to an unpacked CUDA LibTorch (the folder that holds share/cmake/Torch)}"
PHOTOS=${1:-800}
SHARED=${DS_SHARED_DIR:-../shared}
OUT=out/gpu_check
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/report.txt"

DS_BUILD_DIR=build-cuda DS_JOBS=${DS_JOBS:-$(nproc)} DS_BUILD_TARGETS="domainsearch unit_tests domainsearch_cli" \
  tools/build.sh -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_DIR"
# Every [cuda] test must run, not skip: a skip means this LibTorch or machine has no usable CUDA.
build-cuda/tests/unit_tests "[cuda]" --success 2>&1 | tee "$OUT/cuda_tests.txt" | tail -3
if grep -q "skipped" "$OUT/cuda_tests.txt"; then echo "gpu_check: CUDA tests skipped: no usable CUDA device"; exit 1; fi

/usr/bin/python3 tools/grocery_manifest.py "$SHARED/data/grocery/catalogue.csv" "$OUT/catalogue_all.csv"
head -n $((PHOTOS + 1)) "$OUT/catalogue_all.csv" > "$OUT/catalogue.csv"
/usr/bin/python3 tools/grocery_manifest.py "$SHARED/data/grocery/queries_val.csv" "$OUT/queries.csv"
sed -e 's/"device": "cpu"/"device": "cuda"/' -e 's#"\.\./models/#"'"$PWD"'/examples/models/#g' \
  examples/configs/grocery.json > "$OUT/config.json"
rm -f "$OUT/gpu.dscat"
CLI=build-cuda/bin/domainsearch
{ /usr/bin/time -v "$CLI" index --config "$OUT/config.json" --catalogue "$OUT/gpu.dscat" --csv "$OUT/catalogue.csv"; } 2>&1 \
  | grep -E "indexed|fine-tuned|trained|saved|Elapsed|Maximum resident" | tee -a "$OUT/report.txt"
queries=$(tail -n +2 "$OUT/queries.csv" | head -20 | cut -d, -f1)
# shellcheck disable=SC2086
"$CLI" query --config "$OUT/config.json" --catalogue "$OUT/gpu.dscat" $queries --json > "$OUT/queries.json"
/usr/bin/python3 - "$OUT/queries.json" <<'PY' | tee -a "$OUT/report.txt"
import json, statistics, sys
rows = json.load(open(sys.argv[1]))
print("query total ms (median of %d): %.1f" % (len(rows), statistics.median(r["timings_ms"]["total"] for r in rows)))
PY
