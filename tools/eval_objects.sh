#!/usr/bin/env bash
# Measures object queries (`query --objects`) on synthetic shelf and tray scenes of the grocery items, as the
# README's figures were made: a studio catalogue (the 81 iconic images; the configuration's network fine-tuned
# on the 2,640 shop photos when it fine-tunes), scenes of the items with odd fine labels to measure on
# (scenes_dev: 30, for choosing settings; scenes_val: 40, the figures), and two object finders:
#   finder/            trained only on scenes of the other half of the items (even fine labels): every
#                      figure is on products it never saw;
#   finder_catalogue/  trained as tools/object_finder.sh trains by default, on scenes of every studio image of
#                      the catalogue, as a deployment trains it (the measuring scenes are other compositions,
#                      seeds 101 and 102 against 1, of the same images).
# With the second finder it also measures a catalogue without 20 of the measured items (holdout20: their
# products should be answered "not in the catalogue").
#   tools/eval_objects.sh [CONFIG]     default examples/configs/grocery.json; extra arguments after it go to eval
# Writes into ${DS_OBJECTS_DIR:-out/objects}: studio.csv, photos.csv, finder/, finder_catalogue/, scenes_dev/,
# scenes_val/, <config name>.dscat, <config name>_holdout20.dscat, <config name>_objects.json and
# <config name>_objects_catalogue.json (the configuration with "object_finder" set to each finder), and per scene
# set eval_<set>.txt, eval_<set>.json, <set>_worst_objects.html (finder/), eval_<set>_catalogue.txt and
# eval_<set>_catalogue_holdout20.txt (finder_catalogue/). Steps already done are kept (delete the folder to
# start again). About 50 minutes on 2 cores from nothing (finders ~17 each, fine-tuning ~7).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${DS_SHARED_DIR:-../shared}
OUT=${DS_OBJECTS_DIR:-out/objects}
CONFIG=${1:-examples/configs/grocery.json}
shift || true
CLI=build/bin/domainsearch
PY=/usr/bin/python3
NAME=$(basename "$CONFIG" .json)
[ -x "$CLI" ] || tools/build.sh  # (tools/setup.sh first on a fresh machine)
mkdir -p "$OUT"
"$PY" tools/grocery_manifest.py "$SHARED/data/grocery/catalogue_iconic.csv" "$OUT/studio.csv"
"$PY" tools/grocery_manifest.py "$SHARED/data/grocery/catalogue.csv" "$OUT/photos.csv"
# The items' names by the parity of their fine label: the finder learns on one half, is measured on the other.
half() {
  "$PY" -c "import csv, sys; rows = csv.DictReader(open(sys.argv[1])); print(','.join(r['fine_name'] for r in rows if int(r['fine_label']) % 2 == int(sys.argv[2])))" \
    "$SHARED/data/grocery/classes.csv" "$1"
}
if [ ! -f "$OUT/finder/object_finder.json" ]; then
  DS_FINDER_LABELS=$(half 0) tools/object_finder.sh "$OUT/studio.csv" "$OUT/finder"
fi
"$PY" tools/make_scenes.py --manifest "$OUT/studio.csv" --out "$OUT/scenes_dev" --count 30 --seed 101 --labels "$(half 1)"
"$PY" tools/make_scenes.py --manifest "$OUT/studio.csv" --out "$OUT/scenes_val" --count 40 --seed 102 --labels "$(half 1)"
[ -f "$OUT/finder_catalogue/object_finder.json" ] || tools/object_finder.sh "" "$OUT/finder_catalogue"
# The configuration with a finder (its relative paths made absolute, so the copy may live here).
with_finder() {
"$PY" - "$CONFIG" "$1" "$2" <<'PYEOF'
import json, os, sys
source, finder, target = sys.argv[1:]
config = json.load(open(source))
base = os.path.dirname(os.path.abspath(source))
for key in ("backbone", "segmenter"):
    if config.get(key):
        config[key] = os.path.normpath(os.path.join(base, config[key]))
config["object_finder"] = os.path.abspath(finder)
json.dump(config, open(target, "w"), indent=1)
PYEOF
}
with_finder "$OUT/finder/object_finder.json" "$OUT/${NAME}_objects.json"
with_finder "$OUT/finder_catalogue/object_finder.json" "$OUT/${NAME}_objects_catalogue.json"
CONFIG_OBJECTS=$OUT/${NAME}_objects.json
CAT=$OUT/$NAME.dscat
if [ ! -f "$CAT" ]; then
  "$CLI" index --config "$CONFIG_OBJECTS" --catalogue "$CAT.part" --csv "$OUT/studio.csv" --no-train
  "$CLI" train --config "$CONFIG_OBJECTS" --catalogue "$CAT.part" --csv "$OUT/photos.csv"
  mv "$CAT.part" "$CAT"
fi
# The catalogue without 20 of the measured items (drawn with a fixed seed from the odd half).
if [ ! -f "$OUT/${NAME}_holdout20.dscat" ]; then
  PYTHONPATH=build/bindings/python "$PY" - "$CONFIG_OBJECTS" "$CAT" "$OUT/${NAME}_holdout20.dscat" "$(half 1)" <<'PYEOF'
import random, sys
import domainsearch as ds
config, source, target, odd = sys.argv[1:]
held = set(random.Random(7).sample(sorted(odd.split(",")), 20))
p = ds.Pipeline.open(source, ds.PipelineConfig.load(config))
for key in list(p.keys):
    if p.item(key)["label"] in held:
        p.remove(key)
p.save(target)
print(f"{target}: {len(p)} studio images, without {', '.join(sorted(held))}")
PYEOF
fi
for set in dev val; do
  "$CLI" eval --config "$CONFIG_OBJECTS" --catalogue "$CAT" --objects "$OUT/scenes_$set/scenes.json" \
    --json-file "$OUT/eval_$set.json" --plot "$OUT/$set" "$@" | tee "$OUT/eval_$set.txt"
  "$CLI" eval --config "$OUT/${NAME}_objects_catalogue.json" --catalogue "$CAT" --objects "$OUT/scenes_$set/scenes.json" "$@" \
    | tee "$OUT/eval_${set}_catalogue.txt"
  "$CLI" eval --config "$OUT/${NAME}_objects_catalogue.json" --catalogue "$OUT/${NAME}_holdout20.dscat" --objects "$OUT/scenes_$set/scenes.json" "$@" \
    | tee "$OUT/eval_${set}_catalogue_holdout20.txt"
done
