#!/usr/bin/env bash
# Speed of object queries (`query --objects`): median and 90th percentile time per photo, where it goes
# (find: the object finder's pass; embed: the products' crops through the catalogue's network; search),
# and products per photo, over the scenes of a tools/make_scenes.py file (default: the validation scenes of
# tools/eval_objects.sh, 1152 x 864 = 1.0 MP, 20-40 products). The aim: <= 1.5 s per 1-MP photo of 20-40
# products on 2 cores. Run it alone: timings on a busy machine lie.
#   bench/bench_objects.sh [CONFIG CATALOGUE SCENES.json]
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-out/objects/grocery_objects.json}
CATALOGUE=${2:-out/objects/grocery.dscat}
SCENES=${3:-out/objects/scenes_val/scenes.json}
DIR=$(dirname "$SCENES")
mapfile -t PHOTOS < <(/usr/bin/python3 -c "import json, os, sys; d = json.load(open(sys.argv[1])); print('\n'.join(os.path.join(sys.argv[2], s['path']) for s in d['scenes']))" "$SCENES" "$DIR")
build/bin/domainsearch query --config "$CONFIG" --catalogue "$CATALOGUE" --objects --json "${PHOTOS[@]}" | /usr/bin/python3 -c '
import json, statistics, sys
answers = json.load(sys.stdin)[1:]  # the first photo also loads the models
def q(values, f):
    values = sorted(values)
    return values[min(len(values) - 1, int(f * len(values)))]
total = [a["timings_ms"]["total"] for a in answers]
found = [len(a["objects"]) for a in answers]
print(f"{len(answers)} photos (the first, which loads the models, left out), {statistics.mean(found):.1f} products found per photo")
print(f"time per photo: median {statistics.median(total):.0f} ms, 90th percentile {q(total, 0.9):.0f} ms, max {max(total):.0f} ms")
for stage in ("decode", "find", "crop", "embed", "search"):
    ms = [a["timings_ms"][stage] for a in answers]
    print(f"  {stage:7s} median {statistics.median(ms):6.0f} ms")
'
