#!/usr/bin/env bash
# Trains the object finder that `domainsearch query --objects` uses (a configuration's "object_finder"):
# synthetic shelf and tray scenes made of a catalogue's studio images (tools/make_scenes.py), then a
# class-agnostic box head on the shared MobileNetV2's feature maps (tools/train_object_finder.py).
#   tools/object_finder.sh [STUDIO.csv] [OUT_DIR]
#     STUDIO.csv  one studio image (product on white) per row: path,label,category (a catalogue CSV) or a
#                 grocery manifest; default: the grocery iconic images in ../shared
#     OUT_DIR     default out/models/object_finder: receives object_finder.pt, object_finder.json (point
#                 "object_finder" at it; examples/configs/grocery.json does) and scenes/
#   DS_FINDER_SCENES (default 400), DS_FINDER_EPOCHS (default 60), DS_FINDER_LABELS (only these labels,
#   comma-separated: to measure the finder on items it never saw), DS_SHARED_DIR (default ../shared).
# About 17 minutes on 2 cores with the defaults (feature maps ~0.45 s per scene, then ~3.5 s per epoch per 100 scenes).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${DS_SHARED_DIR:-../shared}
STUDIO=${1:-$SHARED/data/grocery/catalogue_iconic.csv}
OUT=${2:-out/models/object_finder}
LABELS=()
[ -n "${DS_FINDER_LABELS:-}" ] && LABELS=(--labels "$DS_FINDER_LABELS")
/usr/bin/python3 tools/make_scenes.py --manifest "$STUDIO" --out "$OUT/scenes" --count "${DS_FINDER_SCENES:-400}" --seed 1 "${LABELS[@]}"
/usr/bin/python3 tools/train_object_finder.py --scenes "$OUT/scenes/scenes.json" --out "$OUT" --epochs "${DS_FINDER_EPOCHS:-60}" \
  --backbone "$SHARED/models/mobilenet_v2_1.0_224_trainable.pt" --threads "$(nproc)"
