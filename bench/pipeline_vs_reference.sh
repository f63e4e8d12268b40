#!/usr/bin/env bash
# One command for the pipeline's speed against the plain PyTorch peer (bench/reference_pytorch.py), same
# models, same photos, same machine, one process at a time (parallel CPU-heavy processes starve each other):
#   bench/pipeline_vs_reference.sh [INDEX_COUNT=240] [QUERY_COUNT=30]
# Three configurations: the full pipeline with localisation and IoU rerank (examples/configs/grocery_paper.json,
# the paper's), the same with the segmenter quantised to int8 (grocery_paper_int8.json; tools/int8_segmenter.sh
# makes the model first; compared with the float reference, the peer a user would write, and with the reference
# given the same int8 file), and the measured default (examples/configs/grocery.json).
# Needs a build (tools/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${DS_SHARED_DIR:-../shared}
INDEX_COUNT=${1:-240}
QUERY_COUNT=${2:-30}
OUT=${DS_BENCH_DIR:-out/bench}
THREADS=$(nproc)
mkdir -p "$OUT"
/usr/bin/python3 tools/grocery_manifest.py "$SHARED/data/grocery/catalogue.csv" "$OUT/catalogue.csv"
/usr/bin/python3 tools/grocery_manifest.py "$SHARED/data/grocery/queries_val.csv" "$OUT/queries_val.csv"
common=(--catalogue-csv "$OUT/catalogue.csv" --queries-csv "$OUT/queries_val.csv" --index-count "$INDEX_COUNT" --query-count "$QUERY_COUNT")
run() {  # name, command...
  local name=$1; shift
  echo "== $name" >&2
  "$@" | tee /dev/stderr | tail -1 > "$OUT/$name.json"
}
DS_SHARED_DIR=$SHARED tools/int8_segmenter.sh >&2
run ours_full build/bench/bench_pipeline --config examples/configs/grocery_paper.json "${common[@]}"
run ref_full /usr/bin/python3 bench/reference_pytorch.py --models "$SHARED/models" --localize --rerank --threads "$THREADS" "${common[@]}"
run ours_full_int8 build/bench/bench_pipeline --config examples/configs/grocery_paper_int8.json "${common[@]}"
run ref_full_int8 /usr/bin/python3 bench/reference_pytorch.py --models "$SHARED/models" --localize --rerank --threads "$THREADS" \
  --segmenter-file out/models/isnet_320_int8.pt "${common[@]}"
run ours_default build/bench/bench_pipeline --config examples/configs/grocery.json "${common[@]}"
run ref_default /usr/bin/python3 bench/reference_pytorch.py --models "$SHARED/models" --threads "$THREADS" "${common[@]}"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
r = {n: json.load(open(f"{out}/{n}.json")) for n in ("ours_full", "ref_full", "ours_full_int8", "ref_full_int8", "ours_default", "ref_default")}
keys = ["decode_ms", "localize_ms", "embed_ms", "categorize_ms", "search_ms", "rerank_ms", "total_ms", "index_img_s", "peak_rss_mib"]
print(f"\n{'':16}" + "".join(f"{k:>14}" for k in keys))
for cfg, ref in (("full", "full"), ("full_int8", "full"), ("full_int8", "full_int8"), ("default", "default")):
    o, p = r[f"ours_{cfg}"], r[f"ref_{ref}"]
    print(f"{'ours ' + cfg:16}" + "".join(f"{o[k]:14.2f}" for k in keys))
    print(f"{'reference ' + ref:16}" + "".join(f"{p[k]:14.2f}" for k in keys))
    print(f"{'ratio ours/ref':16}" + "".join(f"{(o[k] / p[k] if p[k] else float('nan')):14.2f}" for k in keys))
print("\nquery latency: lower is better (ratio < 1 = ours faster); indexing img/s: higher is better (ratio > 1 = ours faster)")
PY
