#!/usr/bin/env bash
# Smoke test of the domainsearch command with the real shared models on a few grocery photos:
# every subcommand, --json and --html output, exit codes, Ctrl-C. Skips (exit 0, says so) without ../shared.
#   tests/cli/test_cli.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
BUILD=$1; SRC=$2
SHARED=${DS_SHARED_DIR:-$SRC/../shared}
CLI=$BUILD/bin/domainsearch
CONFIG=$SRC/examples/configs/grocery.json
if [ ! -f "$SHARED/models/mobilenet_v2_1.0_224.pt" ]; then echo "SKIPPED: no shared models at $SHARED"; exit 0; fi
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
passed=0; failed=0
check() {  # check NAME EXPECTED_EXIT COMMAND...
  local name=$1 want=$2; shift 2
  "$@" > "$WORK/out" 2> "$WORK/err"; local got=$?
  if [ "$got" -eq "$want" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name: exit $got, expected $want"; cat "$WORK/err"; fi
}
contains() {  # contains NAME FILE PATTERN
  if grep -q -- "$3" "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: '$3' not in $2"; fi
}

/usr/bin/python3 "$SRC/tools/grocery_manifest.py" "$SHARED/data/grocery/catalogue.csv" "$WORK/all.csv"
{ head -1 "$WORK/all.csv"; awk -F, 'NR > 1 && NR % 200 == 2' "$WORK/all.csv"; } > "$WORK/items.csv"   # 14 photos, 11 categories
QUERY=$(awk -F, 'NR == 3 {print $1}' "$WORK/items.csv")
CAT=$WORK/cat.dscat

check "help" 0 "$CLI" --help
for c in index add remove train query inspect eval; do check "$c --help" 0 "$CLI" "$c" --help; done
check "unknown command" 2 "$CLI" frobnicate
check "missing option" 2 "$CLI" index --config "$CONFIG"
check "index" 0 "$CLI" index --config "$CONFIG" --catalogue "$CAT" --csv "$WORK/items.csv"
contains "index report" "$WORK/out" "indexed 14 new images"
check "re-index adds nothing" 0 "$CLI" index --config "$CONFIG" --catalogue "$CAT" --csv "$WORK/items.csv"
contains "re-index report" "$WORK/out" "14 already present"
check "inspect" 0 "$CLI" inspect --catalogue "$CAT" --json
contains "inspect items" "$WORK/out" '"items":14'
check "query json" 0 "$CLI" query --config "$CONFIG" --catalogue "$CAT" --k 3 --json --html "$WORK/report.html" "$QUERY"
contains "query finds itself" "$WORK/out" "\"source\":\"$QUERY\""
contains "report written" "$WORK/report.html" "data:image/jpeg;base64"
check "query table" 0 "$CLI" query --config "$CONFIG" --catalogue "$CAT" "$QUERY"
contains "table timings" "$WORK/out" "decode"
printf 'not an image' > "$WORK/bad.jpg"
check "bad query image" 1 "$CLI" query --config "$CONFIG" --catalogue "$CAT" "$WORK/bad.jpg"
contains "bad image named" "$WORK/err" "bad.jpg"
check "add" 0 "$CLI" add --config "$CONFIG" --catalogue "$CAT" --image "$QUERY" --category Extra --key 42 --label manual
check "add twice" 1 "$CLI" add --config "$CONFIG" --catalogue "$CAT" --image "$QUERY" --category Extra --key 42
check "remove" 0 "$CLI" remove --config "$CONFIG" --catalogue "$CAT" --key 42
check "remove missing" 1 "$CLI" remove --config "$CONFIG" --catalogue "$CAT" --key 42
check "train" 0 "$CLI" train --config "$CONFIG" --catalogue "$CAT"
contains "train fine-tunes the backbone (grocery config)" "$WORK/out" "fine-tuned the backbone from stage 11 on 14 photos"
check "train on other photos" 0 "$CLI" train --config "$CONFIG" --catalogue "$CAT" --csv "$WORK/items.csv"
contains "train on photos report (the photos and the catalogue's own images)" "$WORK/out" "fine-tuned the backbone from stage 11 on 28 photos"
# eval: the catalogue's own photos as queries; table, JSON and both plots are written.
check "eval" 0 "$CLI" eval --config "$CONFIG" --catalogue-csv "$WORK/items.csv" --queries-csv "$WORK/items.csv" --json-file "$WORK/m.json" --plot "$WORK/m"
contains "eval table" "$WORK/out" "configured"
contains "eval mAP in JSON" "$WORK/m.json" '"map": '
contains "eval confusion in JSON" "$WORK/m.json" '"confusion": '
contains "eval precision plot" "$WORK/m_precision.svg" "<polyline"
contains "eval confusion plot" "$WORK/m_confusion.svg" "category confusion"
check "eval missing column" 1 "$CLI" eval --config "$CONFIG" --catalogue-csv "$WORK/items.csv" --queries-csv "$WORK/items.csv" --label-column sku
contains "eval names the column" "$WORK/err" "sku"
# Concurrent writers (separate processes) into one catalogue: every reported add is stored.
cp "$CAT" "$WORK/conc.dscat"
for i in 1 2 3 4 5 6; do
  "$CLI" add --config "$CONFIG" --catalogue "$WORK/conc.dscat" --image "$QUERY" --category Extra --key $((1000 + i)) --label "c$i" > "$WORK/add$i.out" 2>&1 &
done
wait
added=$(cat "$WORK"/add?.out | grep -c "added key")
check "concurrent adds" 0 "$CLI" inspect --catalogue "$WORK/conc.dscat" --json
contains "six concurrent adds reported" <(echo "added=$added") "added=6"
contains "six concurrent adds stored" "$WORK/out" '"items":20'
printf 'garbage' > "$WORK/corrupt.dscat"
check "corrupt catalogue" 1 "$CLI" inspect --catalogue "$WORK/corrupt.dscat"

# Shards: index --shards 3 builds a shard set (head trained once across the shards); a query of the set
# folder, or of the shard files, answers exactly as one catalogue holding every item (category mode off,
# so the comparison does not depend on how a head was trained).
printf '{"backbone": "%s", "threads": 2, "category_mode": "off", "k": 6, "training": {"max_epochs": 20}}' \
  "$SRC/examples/models/mobilenet_v2.json" > "$WORK/shards.json"
check "index --shards" 0 "$CLI" index --config "$WORK/shards.json" --catalogue "$WORK/set" --csv "$WORK/items.csv" --shards 3
contains "shards report" "$WORK/out" "indexed 14 of 14 images into 3 shards"
contains "head trained once across the shards" "$WORK/out" "trained the category head on 14 embeddings"
check "index --shards over a shard set refused" 1 "$CLI" index --config "$WORK/shards.json" --catalogue "$WORK/set" --csv "$WORK/items.csv" --shards 2
contains "existing shard set named" "$WORK/err" "already holds a shard set"
check "index --shards needs --csv" 2 "$CLI" index --config "$WORK/shards.json" --catalogue "$WORK/set2" --folder "$WORK" --shards 2
check "one catalogue" 0 "$CLI" index --config "$WORK/shards.json" --catalogue "$WORK/one.dscat" --csv "$WORK/items.csv" --no-train
check "query one" 0 "$CLI" query --config "$WORK/shards.json" --catalogue "$WORK/one.dscat" --json "$QUERY"
cp "$WORK/out" "$WORK/one.out"
check "query the shard set" 0 "$CLI" query --config "$WORK/shards.json" --catalogue "$WORK/set" --json "$QUERY"
cp "$WORK/out" "$WORK/set.out"
check "query the shard files" 0 "$CLI" query --config "$WORK/shards.json" --catalogue "$WORK/set/shard-00000-of-00003.dscat" \
  --catalogue "$WORK/set/shard-00001-of-00003.dscat" --catalogue "$WORK/set/shard-00002-of-00003.dscat" --json "$QUERY"
cp "$WORK/out" "$WORK/files.out"
ranked() { /usr/bin/python3 -c 'import json,sys; print([(r["key"], r["distance"]) for r in json.load(open(sys.argv[1]))[0]["results"]])' "$1"; }
check "sharded = one catalogue" 0 test "$(ranked "$WORK/one.out")" = "$(ranked "$WORK/set.out")"
check "shard files = one catalogue" 0 test "$(ranked "$WORK/one.out")" = "$(ranked "$WORK/files.out")"
contains "six results" <(ranked "$WORK/set.out" | grep -o '(' | wc -l) "^6$"
check "a folder and files mixed" 2 "$CLI" query --config "$WORK/shards.json" --catalogue "$WORK/set" --catalogue "$WORK/one.dscat" "$QUERY"

# Ctrl-C in the middle of indexing: exit 130, and the catalogue on disk is complete and opens.
# The whole catalogue takes about a minute; interrupt as soon as progress shows 10 images done.
"$CLI" index --config "$CONFIG" --catalogue "$WORK/int.dscat" --csv "$WORK/all.csv" > "$WORK/int.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  tr '\r' '\n' < "$WORK/int.out" | grep -qE ' (1[0-9]|[2-9][0-9]|[0-9]{3,})/[0-9]+ ' && break
  sleep 0.1
done
kill -INT $pid; wait $pid; code=$?
if [ "$code" -eq 130 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL interrupt: exit $code"; cat "$WORK/int.out"; fi
check "interrupted catalogue opens" 0 "$CLI" inspect --catalogue "$WORK/int.dscat"

# Hostile arguments and configurations: usage errors (exit 2) name the option and what is allowed.
check "misspelt option" 2 "$CLI" add --config "$CONFIG" --catalogue "$CAT" --image "$QUERY" --category Extra --lable x
contains "misspelt option named" "$WORK/err" "unknown option --lable for add"
contains "allowed options listed" "$WORK/err" "--label L"
check "unknown query option" 2 "$CLI" query --config "$CONFIG" --catalogue "$CAT" --kk 3 "$QUERY"
contains "unknown query option named" "$WORK/err" "unknown option --kk"
check "negative --k" 2 "$CLI" query --config "$CONFIG" --catalogue "$CAT" --k -1 "$QUERY"
contains "negative --k named" "$WORK/err" '--k: must be an integer in 1..100000, got "-1"'
check "--k with a suffix" 2 "$CLI" query --config "$CONFIG" --catalogue "$CAT" --k 12abc "$QUERY"
check "negative --key" 2 "$CLI" remove --config "$CONFIG" --catalogue "$CAT" --key -1
contains "negative --key named" "$WORK/err" "--key: must be an integer"
check "index without a source" 2 "$CLI" index --config "$CONFIG" --catalogue "$WORK/none.dscat"
contains "index names its sources" "$WORK/err" "index needs --csv FILE or --folder DIR"
check "index with two sources" 2 "$CLI" index --config "$CONFIG" --catalogue "$WORK/none.dscat" --csv "$WORK/items.csv" --folder "$WORK"
check "stray argument" 2 "$CLI" index --config "$CONFIG" --catalogue "$WORK/none.dscat" --csv "$WORK/items.csv" extra.csv
check "option given twice" 2 "$CLI" query --config "$CONFIG" --catalogue "$CAT" --k 3 --k 4 "$QUERY"
printf '{"backbone": "%s", "threads": 100000}' "$SRC/examples/models/mobilenet_v2.json" > "$WORK/threads.json"
check "threads out of range" 1 "$CLI" query --config "$WORK/threads.json" --catalogue "$CAT" "$QUERY"
contains "threads range named" "$WORK/err" '"threads" must be in 0..1024, got 100000'
[ ! -e "$WORK/none.dscat" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: a refused index wrote a catalogue"; }

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
