#!/usr/bin/env bash
# The surface of the domainsearch command (issue #22), with the tiny test models (ctest fixture test_models)
# and a dozen generated 64x64 images (about 10 s):
#  1. query --json and inspect --json are valid JSON; a 64-bit key above 2^53 comes back exactly, as a string;
#  2. index --csv reads a spreadsheet's CSV: a UTF-8 byte-order mark and CRLF line endings;
#  3. progress on stderr that is not a terminal is plain lines, without carriage returns;
#  4. --version prints the version (exit 0);
#  5. a usage error is a short message and where to read the usage (exit 2); no arguments or --help give
#     the whole usage;
#  6. index with an unreadable image: exit 3, the others saved;
#  7. a failing file is named once per message, not "X: X: ...";
#  8. NO MATCH says which rule fired and by how much (table, and "no_match_reason" in --json);
#  9. the HTML report shows the verdict, and IoU/score only when localisation/reranking make them mean something;
# 10. the HTML reports render in headless Chromium: every image decodes, nothing on the console, not blank.
# Prints "ok - ..." or "not ok - ..." per check; exits 1 when any check failed.
#   tests/cli/test_cli_surface.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=${2:-}
CLI=$BUILD/bin/domainsearch
PY=/usr/bin/python3  # Debian's, with python3-opencv
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

source "$(dirname "$0")/checks.sh"
# Runs the command with stdout in $WORK/out, stderr in $WORK/err (never a terminal) and sets RC.
run() { RC=0; "$@" > "$WORK/out" 2> "$WORK/err" < /dev/null || RC=$?; }
lines_of() { wc -l < "$1" | tr -d ' '; }
occurrences() { grep -o -- "$2" "$1" | wc -l | tr -d ' '; }  # occurrences FILE TEXT
no_cr() { ! grep -q $'\r' "$1"; }
items_of() { "$CLI" inspect --catalogue "$1" --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["items"])'; }

tiny_models "$BUILD" "$WORK"

# 12 small images in 3 category folders, a query image in none of them, and the same folders with an
# unreadable "image" added.
"$PY" - "$WORK" <<'EOF'
import os, shutil, sys
import cv2
import numpy as np
work = sys.argv[1]
cats = ("round", "square", "tri")
y, x = np.mgrid[0:64, 0:64].astype(np.float32) / 64
base = np.dstack([x * 255, y * 255, (1 - x) * 255]).astype(np.uint8)
def shape(c, i):
    im = base.copy()
    colour = (40 * (i % 6), 200 - 30 * (i % 5), 90 + 20 * (i % 4))
    if c == "round":
        cv2.circle(im, (32, 32), 10 + i, colour, -1)
    elif c == "square":
        cv2.rectangle(im, (16 - i, 16), (48, 48 + i), colour, -1)
    else:
        cv2.fillPoly(im, [np.array([[32, 8 + i], [8, 56], [56, 56]], np.int32)], colour)
    return im
for c in cats:
    os.makedirs(os.path.join(work, "images", c))
    for i in range(4):
        cv2.imwrite(os.path.join(work, "images", c, "%s%d.png" % (c, i)), shape(c, i))
os.makedirs(os.path.join(work, "queries"))
q = base.copy()
cv2.ellipse(q, (32, 32), (25, 9), 30, 0, 360, (10, 240, 10), -1)
cv2.imwrite(os.path.join(work, "queries", "q.png"), q)
shutil.copytree(os.path.join(work, "images"), os.path.join(work, "with_bad"))
with open(os.path.join(work, "with_bad", "round", "zz_bad.jpg"), "w") as f:
    f.write("not an image")
EOF
IMAGE=$WORK/images/round/round0.png
QUERY=$WORK/queries/q.png
BAD=$WORK/with_bad/round/zz_bad.jpg

config() {  # config FILE EXTRA_JSON_MEMBERS: no localisation, no category prediction, a short head training
  printf '{"backbone": "%s/backbone.json", "threads": 1, "category_mode": "off", "embedding": {"localize": false}, "training": {"max_epochs": 20}%s}\n' \
    "$MODELS" "$2" > "$1"
}
CONFIG=$WORK/config.json; config "$CONFIG" ""
NOMATCH=$WORK/nomatch.json; config "$NOMATCH" ', "match_distance": 1e-9'  # every query is NO MATCH
LOCAL=$WORK/local.json  # localisation and IoU reranking
printf '{"backbone": "%s/backbone.json", "segmenter": "%s/segmenter.json", "threads": 1, "category_mode": "off", "embedding": {"localize": true}, "rerank": "iou"}\n' \
  "$MODELS" "$MODELS" > "$LOCAL"

# --- 4. --version ---
run "$CLI" --version
want=""
[ -n "$SRC" ] && want=$(sed -n 's/^project(domainsearch VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
expect "--version: exit 0 (got $RC)" [ "$RC" -eq 0 ] -- "$WORK/err"
expect "--version: prints 'domainsearch ${want:-X.Y.Z}'" grep -qx "domainsearch ${want:-[0-9]*\.[0-9]*\.[0-9]*}" "$WORK/out" -- "$WORK/out"

# --- 5. usage errors: short; no arguments or --help: the whole usage ---
run "$CLI" index --config "$CONFIG" --catalogue "$WORK/none.dscat"
expect "usage error: exit 2 (got $RC)" [ "$RC" -eq 2 ] -- "$WORK/err"
expect "usage error: at most 3 lines on stderr (got $(lines_of "$WORK/err"))" [ "$(lines_of "$WORK/err")" -le 3 ] -- "$WORK/err"
expect "usage error: says what is wrong" grep -q "index needs --csv FILE or --folder DIR" "$WORK/err" -- "$WORK/err"
expect "usage error: points at 'domainsearch index --help'" grep -q "domainsearch index --help" "$WORK/err" -- "$WORK/err"
run "$CLI" query --config "$CONFIG" --catalogue "$WORK/none.dscat" --kk 3 "$IMAGE"
expect "unknown option: exit 2, at most 3 lines (exit $RC, $(lines_of "$WORK/err") lines)" [ "$RC" -eq 2 -a "$(lines_of "$WORK/err")" -le 3 ] -- "$WORK/err"
expect "unknown option: named, and the accepted ones listed" grep -q "unknown option --kk for query; it accepts .*--k N" "$WORK/err" -- "$WORK/err"
run "$CLI" frobnicate
expect "unknown command: exit 2, at most 3 lines, points at 'domainsearch --help' (exit $RC)" \
  [ "$RC" -eq 2 -a "$(lines_of "$WORK/err")" -le 3 ] -- "$WORK/err"
expect "unknown command: points at 'domainsearch --help'" grep -q "domainsearch --help" "$WORK/err" -- "$WORK/err"
run "$CLI"
expect "no arguments: exit 2 with the whole usage on stderr (exit $RC, $(lines_of "$WORK/err") lines)" \
  [ "$RC" -eq 2 -a "$(lines_of "$WORK/err")" -ge 9 ] -- "$WORK/err"
expect "no arguments: the usage lists every command" grep -q "domainsearch eval" "$WORK/err" -- "$WORK/err"
run "$CLI" --help
expect "--help: exit 0 with the whole usage on stdout (exit $RC)" [ "$RC" -eq 0 -a "$(lines_of "$WORK/out")" -ge 9 ] -- "$WORK/out"

# --- 3. progress on a file: plain lines; index trains the category head afterwards (3 categories) ---
CAT=$WORK/cat.dscat
run "$CLI" index --config "$CONFIG" --catalogue "$CAT" --folder "$WORK/images"
cp "$WORK/err" "$WORK/index.err"
expect "index --folder: exit 0 (got $RC)" [ "$RC" -eq 0 ] -- "$WORK/index.err"
expect "progress to a file: no carriage returns" no_cr "$WORK/index.err" -- "$WORK/index.err"
expect "progress to a file: the last progress line of indexing (12/12)" grep -q "^indexing \[#*\] 12/12 " "$WORK/index.err" -- "$WORK/index.err"
expect "progress to a file: the category head's training shows" grep -q "^training the category head epoch [0-9]" "$WORK/index.err" -- "$WORK/index.err"
expect "progress to a file: no trailing spaces" bash -c "! grep -q ' \$' '$WORK/index.err'" -- "$WORK/index.err"

# --- 2. a spreadsheet's CSV: byte-order mark, CRLF ---
{
  printf '\xEF\xBB\xBFpath,label,category\r\n'
  for f in "$WORK"/images/*/*.png; do printf '%s,%s,%s\r\n' "$f" "$(basename "$f" .png)" "$(basename "$(dirname "$f")")"; done
} > "$WORK/bom.csv"
run "$CLI" index --config "$CONFIG" --catalogue "$WORK/bom.dscat" --csv "$WORK/bom.csv" --no-train
expect "index --csv with a byte-order mark and CRLF: exit 0 (got $RC)" [ "$RC" -eq 0 ] -- "$WORK/err"
items=$(items_of "$WORK/bom.dscat" 2> /dev/null || true)
expect "index --csv with a byte-order mark and CRLF: 12 items (got ${items:-none})" [ "${items:-0}" = 12 ]

# --- Any catalogue learns: one category is fine-tuned (items are what it learns); a head is skipped, saying why ---
mkdir -p "$WORK/one_category"
cp -r "$WORK/images/round" "$WORK/one_category/"
printf '{"backbone": "%s/trainable.json", "threads": 1, "category_mode": "off", "embedding": {"localize": false}, "fine_tuning": {"enabled": true, "first_stage": 2, "epochs": 1, "batch_size": 4}}\n' \
  "$MODELS" > "$WORK/fine_tune.json"
run "$CLI" index --config "$WORK/fine_tune.json" --catalogue "$WORK/one.dscat" --folder "$WORK/one_category"
expect "one category, fine-tuning configured: exit 0 (got $RC)" [ "$RC" -eq 0 ] -- "$WORK/err"
expect "one category, fine-tuning configured: the backbone is fine-tuned" grep -q "fine-tuned the backbone" "$WORK/out" -- "$WORK/out" "$WORK/err"
run "$CLI" index --config "$CONFIG" --catalogue "$WORK/one_head.dscat" --folder "$WORK/one_category"
expect "one category, a head configured: exit 0 (got $RC)" [ "$RC" -eq 0 ] -- "$WORK/err"
expect "one category, a head configured: says why it does not train" grep -q "not training: the category head needs 2 categories and the catalogue has 1" "$WORK/err" -- "$WORK/err"

# --- A file-system error is a failure (exit 1), not a usage error (2): a shard set folder under a file ---
: > "$WORK/a-file"
run "$CLI" index --config "$CONFIG" --catalogue "$WORK/a-file/set" --csv "$WORK/bom.csv" --shards 2
expect "a file-system error: exit 1, not the usage code 2 (got $RC)" [ "$RC" -eq 1 ] -- "$WORK/err"

# --- 1. JSON: a key above 2^53 comes back exactly, as a string ---
BIG=9007199254740993  # 2^53 + 1: a double (JavaScript, jq) reads 9007199254740992
cp "$CAT" "$WORK/big.dscat"
run "$CLI" add --config "$CONFIG" --catalogue "$WORK/big.dscat" --image "$QUERY" --category round --label big --key "$BIG"
expect "add --key 2^53+1: exit 0 (got $RC)" [ "$RC" -eq 0 ] -- "$WORK/err"
run "$CLI" query --config "$CONFIG" --catalogue "$WORK/big.dscat" --k 20 --json "$QUERY" "$BAD"
cp "$WORK/out" "$WORK/big.json"
expect "query --json with one unreadable image: exit 1 (got $RC)" [ "$RC" -eq 1 ] -- "$WORK/err"
expect "query --json: a key above 2^53 round-trips exactly, as a JSON string" "$PY" -c '
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 1, rows
keys = [r["key"] for r in rows[0]["results"] if r["label"] == "big"]
assert keys == [sys.argv[2]], keys
assert all(isinstance(r["key"], str) for r in rows[0]["results"])
' "$WORK/big.json" "$BIG" -- "$WORK/big.json"
expect "query --json: no_match_reason is null when no rule is on" "$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert r["no_match"] is False and r["no_match_reason"] is None, r
' "$WORK/big.json" -- "$WORK/big.json"
run "$CLI" inspect --catalogue "$WORK/big.dscat" --json
expect "inspect --json: valid JSON, 13 items, the categories and the embedding settings as objects" "$PY" -c '
import json, sys
i = json.load(open(sys.argv[1]))
assert i["items"] == 13 and i["categories"] == {"round": 5, "square": 4, "tri": 4}, i
assert isinstance(i["embedding"], dict), i
' "$WORK/out" -- "$WORK/out"

# --- 6 and 7. index with an unreadable image: exit 3, the others saved; each file named once ---
run "$CLI" index --config "$CONFIG" --catalogue "$WORK/bad.dscat" --folder "$WORK/with_bad"
expect "index with an unreadable image: exit 3 (got $RC)" [ "$RC" -eq 3 ] -- "$WORK/err"
items=$(items_of "$WORK/bad.dscat" 2> /dev/null || true)
expect "index with an unreadable image: the 12 others are saved (got ${items:-none})" [ "${items:-0}" = 12 ]
expect "index with an unreadable image: stderr names it once, not 'X: X: ...' ($(occurrences "$WORK/err" zz_bad.jpg) times)" \
  [ "$(occurrences "$WORK/err" zz_bad.jpg)" -eq 1 ] -- "$WORK/err"
run "$CLI" query --config "$CONFIG" --catalogue "$CAT" "$BAD"
expect "query of an unreadable image: exit 1, named once ($RC, $(occurrences "$WORK/err" zz_bad.jpg) times)" \
  [ "$RC" -eq 1 -a "$(occurrences "$WORK/err" zz_bad.jpg)" -eq 1 ] -- "$WORK/err"

# --- 8. NO MATCH says which rule fired and by how much ---
run "$CLI" query --config "$NOMATCH" --catalogue "$CAT" "$QUERY"
expect "NO MATCH (table): exit 0 (got $RC)" [ "$RC" -eq 0 ] -- "$WORK/err"
expect "NO MATCH (table): the nearest distance and match_distance" \
  grep -q "NO MATCH: the nearest result is at distance [0-9.e+-]*, farther than match_distance 1e-09" "$WORK/out" -- "$WORK/out"
run "$CLI" query --config "$NOMATCH" --catalogue "$CAT" --json "$QUERY"
expect "NO MATCH (--json): no_match_reason names match_distance" "$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert r["no_match"] is True, r
assert "farther than match_distance" in r["no_match_reason"], r
' "$WORK/out" -- "$WORK/out"

# --- 9. the HTML report ---
run "$CLI" query --config "$NOMATCH" --catalogue "$CAT" --html "$WORK/report.html" "$QUERY"
expect "--html: exit 0 (got $RC)" [ "$RC" -eq 0 ] -- "$WORK/err"
expect "--html: shows the NO MATCH verdict and its reason" grep -q "NO MATCH.*farther than match_distance" "$WORK/report.html"
expect "--html without localisation: no IoU (it would read 1.000 for every result)" bash -c "! grep -q IoU '$WORK/report.html'"
expect "--html without reranking: no score (it would equal the distance)" bash -c "! grep -q '<br>score ' '$WORK/report.html'"
run "$CLI" index --config "$LOCAL" --catalogue "$WORK/local.dscat" --folder "$WORK/images" --no-train
if [ "$RC" -eq 0 ]; then
  run "$CLI" query --config "$LOCAL" --catalogue "$WORK/local.dscat" --html "$WORK/local.html" "$IMAGE"
  expect "--html with localisation and IoU reranking: exit 0 (got $RC)" [ "$RC" -eq 0 ] -- "$WORK/err"
  expect "--html with localisation and IoU reranking: IoU and score shown" grep -q "IoU .*<br>score " "$WORK/local.html"
else
  not_ok "index with localisation: exit 0 (got $RC)" "$WORK/err"
fi

# --- 10. the reports in a real browser (headless Chromium): images decode, no console message, not blank ---
for page in report.html local.html; do
  [ -f "$WORK/$page" ] || continue
  RC=0
  "$PY" "$(dirname "$0")/render_in_browser.py" "$WORK/$page" "$WORK/$page.png" 2 > "$WORK/browser" 2>&1 || RC=$?
  if [ "$RC" -eq 77 ]; then not_ok "$page in headless Chromium: chromium is not installed (tools/setup.sh installs it)"
  else expect "$page renders in headless Chromium (every image decodes, no console message, not blank)" [ "$RC" -eq 0 ] -- "$WORK/browser"; fi
done

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
