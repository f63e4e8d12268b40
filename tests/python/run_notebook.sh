#!/usr/bin/env bash
# Executes examples/python/grocery.ipynb headless on a small slice of the grocery data, so the notebook
# cannot rot. Skips (exit 0, says so) without ../shared.   run_notebook.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SRC=$1; BUILD=$2
SHARED=${DS_SHARED_DIR:-$SRC/../shared}
if [ ! -f "$SHARED/models/isnet_general_use.pt" ]; then echo "SKIPPED: no shared models at $SHARED"; exit 0; fi
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
cd "$SRC/examples/python"
DS_REPO="$SRC" DS_BUILD_DIR="$BUILD" DS_SHARED_DIR="$SHARED" DS_NOTEBOOK_ITEMS=40 DS_NOTEBOOK_QUERIES=6 DS_NOTEBOOK_OUT="$OUT" \
PYTHONPATH="$BUILD/bindings/python" PYDEVD_DISABLE_FILE_VALIDATION=1 \
  /usr/bin/python3 -Xfrozen_modules=off -m nbconvert --to notebook --execute --ExecutePreprocessor.timeout=900 \
  --output-dir "$OUT" --output executed.ipynb grocery.ipynb
grep -q '"output_type": "error"' "$OUT/executed.ipynb" && { echo "notebook raised an error"; exit 1; }
grep -q "precision@1" "$OUT/executed.ipynb" || { echo "notebook did not report precision@K"; exit 1; }
grep -q '"image/png"' "$OUT/executed.ipynb" || { echo "notebook drew no figure"; exit 1; }
grep -q "fine-tuned: True" "$OUT/executed.ipynb" || { echo "notebook did not fine-tune (examples/configs/grocery.json does)"; exit 1; }
echo "notebook executed: $(grep -o 'precision@1 [0-9.]*  precision@5 [0-9.]*' "$OUT/executed.ipynb" | head -1)"
