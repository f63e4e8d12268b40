#!/usr/bin/env bash
# The domainsearch command under signals, a held writer lock and files that are not regular files, with
# the tiny test models (ctest fixture test_models):
#  1. SIGTERM / SIGHUP during `index --folder`: exit 130, what was indexed so far is saved;
#  2. another writer holds the catalogue's lock: `add` says it waits, Ctrl-C ends the wait (130, catalogue
#     unchanged); with DOMAINSEARCH_LOCK_WAIT_S=1 it gives up (exit 1, naming the other writer and the lock);
#  3. a FIFO as --config, --catalogue or --csv, and /dev/zero as --csv: refused at once (exit 1), never hangs;
#  4. Ctrl-C while training: `train` leaves the catalogue file as it was (130), training the category head or
#     fine-tuning the backbone; the training step at the end of `index` keeps the newly indexed items, without
#     a category head (130).
# Prints "ok - ..." or "not ok - ..." per check; exits 1 when any check failed.
#   tests/cli/test_cli_interrupts.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
CLI=$BUILD/bin/domainsearch
PY=/usr/bin/python3  # Debian's, with python3-opencv
WORK=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

source "$(dirname "$0")/checks.sh"
now_ms() { date +%s%3N; }
T0=$(now_ms)
section() { echo "# [$((($(now_ms) - T0) / 1000)) s] $1"; }

# The number of images the progress bar on stderr (FILE) last reported done.
progress_done() { [ -f "$1" ] || return 0; tr '\r' '\n' < "$1" | sed -n 's/^indexing \[[#.]*\] \([0-9]*\)\/.*/\1/p' | tail -n 1; }
# Waits (polling, at most SECONDS) until CONDITION... holds while process PID runs; fails when it exits first.
wait_until() {  # wait_until PID SECONDS CONDITION...
  local pid=$1 deadline=$(($(now_ms) + $2 * 1000)); shift 2
  while ! "$@"; do
    kill -0 "$pid" 2>/dev/null || { "$@"; return; }
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.02
  done
}
indexed_at_least() { local n; n=$(progress_done "$1"); [ -n "$n" ] && [ "$n" -ge "$2" ]; }
# Waits at most SECONDS for background process PID to end and sets RC to its exit status (124: it did not
# end, and was killed). Not in a $(...): the process is this shell's child.
finish() {  # finish PID SECONDS
  local pid=$1 deadline=$(($(now_ms) + $2 * 1000))
  RC=0
  while kill -0 "$pid" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.02; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    RC=124
    return
  fi
  wait "$pid" || RC=$?
}
items_of() { "$CLI" inspect --catalogue "$1" --json | sed -n 's/.*"items":\([0-9]*\).*/\1/p'; }
head_of() { "$CLI" inspect --catalogue "$1" --json | sed -n 's/.*"has_category_head":\([a-z]*\).*/\1/p'; }

tiny_models "$BUILD" "$WORK"

# 240 images in 3 category folders: a smooth 1600x1600 background (a small JPEG, but a full-size decode,
# so that indexing takes a few seconds) and a coloured shape per category.
TOTAL=240
section "images"
"$PY" - "$WORK/images" "$TOTAL" 1600 <<'EOF'
import os, sys
import cv2
import numpy as np
out, n, side = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cats = ("round", "square", "tri")
for c in cats:
    os.makedirs(os.path.join(out, c), exist_ok=True)
y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
base = np.dstack([x * 255, y * 255, (1 - x) * 255]).astype(np.uint8)
for i in range(n):
    c, s, im = cats[i % 3], side, base.copy()
    colour = (40 * (i % 6), 200 - 30 * (i % 5), 90 + 20 * (i % 4))
    if c == "round":
        cv2.circle(im, (s // 2, s // 2), s // 4 + i % 7, colour, -1)
    elif c == "square":
        cv2.rectangle(im, (s // 4, s // 4), (3 * s // 4 - i % 5, 3 * s // 4), colour, -1)
    else:
        cv2.fillPoly(im, [np.array([[s // 2, s // 8], [s // 8, 7 * s // 8], [7 * s // 8, 7 * s // 8]], np.int32)], colour)
    cv2.imwrite(os.path.join(out, c, "%s%04d.jpg" % (c, i)), im)
# 60 small photos for the training checks.
for i in range(60):
    c = cats[i % 3]
    os.makedirs(os.path.join(out + "_small", c), exist_ok=True)
    im = cv2.resize(base, (64, 64))
    cv2.circle(im, (16 + i % 32, 32), 6 + i % 9, (40 * (i % 6), 200 - 30 * (i % 5), 90 + 20 * (i % 4)), -1)
    cv2.imwrite(os.path.join(out + "_small", c, "%s%02d.png" % (c, i)), im)
EOF
IMAGE=$WORK/images/round/round0000.jpg

CONFIG=$WORK/config.json  # no localisation, no category training settings
printf '{"backbone": "%s/backbone.json", "threads": 1, "category_mode": "off", "embedding": {"localize": false}}\n' "$MODELS" > "$CONFIG"
# The same embedding; a category head that trains for a while: one sample per step, wide hidden layers (about
# 0.3 s an epoch on the 60 small photos) and a tiny learning rate (early stopping, after at least 10 epochs
# without improvement, comes after some 20 epochs: the tests interrupt the first).
TRAIN_CONFIG=$WORK/train.json
printf '{"backbone": "%s/backbone.json", "threads": 1, "category_mode": "off", "embedding": {"localize": false}, %s}\n' "$MODELS" \
  '"training": {"max_epochs": 100000, "batch_size": 1, "learning_rate": 1e-6, "hidden1": 1024, "hidden2": 1024}' > "$TRAIN_CONFIG"

section "signals during index"
# --- 1. SIGTERM and SIGHUP during index --folder: exit 130, the images indexed so far are saved. ---
for sig in TERM HUP; do
  CAT=$WORK/$sig.dscat
  "$CLI" index --config "$CONFIG" --catalogue "$CAT" --folder "$WORK/images" > "$WORK/$sig.out" 2> "$WORK/$sig.err" &
  pid=$!; pids+=("$pid")
  if ! wait_until "$pid" 60 indexed_at_least "$WORK/$sig.err" 5; then
    not_ok "SIG$sig index: progress shows images indexed before it ends" "$WORK/$sig.err"
    finish "$pid" 1
    continue
  fi
  kill -"$sig" "$pid"
  finish "$pid" 30; rc=$RC
  expect "SIG$sig during index: exit 130 (got $rc)" [ "$rc" -eq 130 ] -- "$WORK/$sig.err"
  expect "SIG$sig during index: stderr says it saves what was indexed" grep -q "interrupted: saving the [0-9]* items indexed so far" "$WORK/$sig.err" -- "$WORK/$sig.err"
  items=$(items_of "$CAT" || true)
  expect "SIG$sig during index: the catalogue holds some but not all images (${items:-none} of $TOTAL)" \
    [ "${items:-0}" -gt 0 -a "${items:-0}" -lt "$TOTAL" ]
done
CAT=$WORK/TERM.dscat  # holds some of the images (the later checks need it to exist)
[ -f "$CAT" ] || "$CLI" index --config "$CONFIG" --catalogue "$CAT" --folder "$MODELS/tree" --no-train > /dev/null 2>&1

section "lock"
# --- 2. Another writer holds the lock. ---
cp "$CAT" "$WORK/before.dscat"
exec 9>> "$CAT.lock"
flock -n 9  # this shell is the other writer
"$CLI" add --config "$CONFIG" --catalogue "$CAT" --image "$IMAGE" --category round --key 1 > "$WORK/wait.out" 2> "$WORK/wait.err" 9>&- &
pid=$!; pids+=("$pid")
if wait_until "$pid" 30 grep -qs "is being changed by another writer; waiting up to [0-9]* s for its lock (Ctrl-C gives up)" "$WORK/wait.err"; then
  ok "add while another writer holds the lock: says it waits"
  start=$(now_ms)
  kill -INT "$pid"
  finish "$pid" 10; rc=$RC
  elapsed=$(($(now_ms) - start))
  expect "Ctrl-C while waiting for the lock: exit 130 (got $rc)" [ "$rc" -eq 130 ] -- "$WORK/wait.err"
  expect "Ctrl-C while waiting for the lock: ends within 20 s, not after the 600 s wait (${elapsed} ms)" [ "$elapsed" -le 20000 ]
  expect "Ctrl-C while waiting for the lock: the catalogue is unchanged" cmp -s "$CAT" "$WORK/before.dscat"
else
  not_ok "add while another writer holds the lock: says it waits" "$WORK/wait.err"
  finish "$pid" 1
fi
start=$(now_ms); rc=0
DOMAINSEARCH_LOCK_WAIT_S=1 timeout 20 "$CLI" add --config "$CONFIG" --catalogue "$CAT" --image "$IMAGE" --category round --key 1 \
  > "$WORK/giveup.out" 2> "$WORK/giveup.err" 9>&- || rc=$?
elapsed=$(($(now_ms) - start))
expect "DOMAINSEARCH_LOCK_WAIT_S=1: exit 1 (got $rc)" [ "$rc" -eq 1 ] -- "$WORK/giveup.err"
expect "DOMAINSEARCH_LOCK_WAIT_S=1: says it waits up to 1 s" grep -q "waiting up to 1 s for its lock" "$WORK/giveup.err" -- "$WORK/giveup.err"
expect "DOMAINSEARCH_LOCK_WAIT_S=1: names the other writer and the lock" grep -q "another writer.*$(basename "$CAT").lock" "$WORK/giveup.err" -- "$WORK/giveup.err"
expect "DOMAINSEARCH_LOCK_WAIT_S=1: gives up within 30 s, start-up included, not after 600 s (${elapsed} ms)" [ "$elapsed" -le 30000 ]
expect "DOMAINSEARCH_LOCK_WAIT_S=1: the catalogue is unchanged" cmp -s "$CAT" "$WORK/before.dscat"
flock -u 9
exec 9>&-

section "not regular files"
# --- 3. Not regular files: refused at once, never read (a FIFO would block an open or a read). ---
mkfifo "$WORK/fifo"
refused() {  # refused NAME PATTERN COMMAND...: exit 1 (not 124: a hang) with PATTERN on stderr
  local name=$1 pattern=$2 rc=0; shift 2
  timeout 10 "$@" > "$WORK/refused.out" 2> "$WORK/refused.err" < /dev/null || rc=$?
  local hung=""; [ "$rc" -ne 124 ] || hung=": it hung"
  expect "$name: exit 1 (got $rc$hung)" [ "$rc" -eq 1 ] -- "$WORK/refused.err"
  expect "$name: the message says $pattern" grep -q "$pattern" "$WORK/refused.err" -- "$WORK/refused.err"
}
refused "FIFO as query --config" "FIFO" "$CLI" query --config "$WORK/fifo" --catalogue "$CAT" "$IMAGE"
refused "FIFO as query --catalogue" "FIFO" "$CLI" query --config "$CONFIG" --catalogue "$WORK/fifo" "$IMAGE"
refused "FIFO as inspect --catalogue" "FIFO" "$CLI" inspect --catalogue "$WORK/fifo" --json
refused "FIFO as index --catalogue" "FIFO" "$CLI" index --config "$CONFIG" --catalogue "$WORK/fifo" --folder "$MODELS/tree"
refused "FIFO as index --csv" "FIFO" "$CLI" index --config "$CONFIG" --catalogue "$WORK/fifo_csv.dscat" --csv "$WORK/fifo"
refused "/dev/zero as index --csv" "not a regular file" "$CLI" index --config "$CONFIG" --catalogue "$WORK/zero_csv.dscat" --csv /dev/zero
expect "a refused --csv creates no catalogue" [ ! -e "$WORK/fifo_csv.dscat" -a ! -e "$WORK/zero_csv.dscat" ]

section "training"
# --- 4. Ctrl-C while training the category head. ---
is_training() { [ -f "$1" ] && tr '\r' '\n' < "$1" | grep -q "^training the category head epoch [1-9]"; }
# The training step at the end of index: the new items are saved, without a category head.
CAT=$WORK/head.dscat
"$CLI" index --config "$TRAIN_CONFIG" --catalogue "$CAT" --folder "$WORK/images_small" > "$WORK/itrain.out" 2> "$WORK/itrain.err" &
pid=$!; pids+=("$pid")
if wait_until "$pid" 60 is_training "$WORK/itrain.err"; then
  kill -INT "$pid"
  finish "$pid" 30; rc=$RC
  expect "Ctrl-C while index trains: exit 130 (got $rc)" [ "$rc" -eq 130 ] -- "$WORK/itrain.err"
  expect "Ctrl-C while index trains: stderr says it saves the new items" grep -q "interrupted while training: saving the 60 new items" "$WORK/itrain.err" -- "$WORK/itrain.err"
  items=$(items_of "$CAT" || true); has_head=$(head_of "$CAT" || true)
  expect "Ctrl-C while index trains: every image is saved (${items:-none} of 60), no category head (${has_head:-?})" [ "$items" = 60 -a "$has_head" = false ]
else
  not_ok "index with training: reaches the category head's training" "$WORK/itrain.err"
  finish "$pid" 1
fi
# train: interrupted, it leaves the catalogue file as it was.
[ -f "$CAT" ] || "$CLI" index --config "$CONFIG" --catalogue "$CAT" --folder "$WORK/images_small" --no-train > /dev/null 2>&1 || true
cp "$CAT" "$WORK/before_train.dscat"
"$CLI" train --config "$TRAIN_CONFIG" --catalogue "$CAT" > "$WORK/train.out" 2> "$WORK/train.err" &
pid=$!; pids+=("$pid")
if wait_until "$pid" 60 is_training "$WORK/train.err"; then
  kill -INT "$pid"
  finish "$pid" 30; rc=$RC
  expect "Ctrl-C during train: exit 130 (got $rc)" [ "$rc" -eq 130 ] -- "$WORK/train.err"
  expect "Ctrl-C during train: says training was cancelled" grep -q "cancelled" "$WORK/train.err" -- "$WORK/train.err"
  expect "Ctrl-C during train: the catalogue file is unchanged" cmp -s "$CAT" "$WORK/before_train.dscat"
else
  not_ok "train: reaches the category head's training" "$WORK/train.err"
  finish "$pid" 1
fi
# train with "fine_tuning": Ctrl-C while the backbone trains leaves the catalogue file as it was.
FT_CONFIG=$WORK/fine_tuning.json
printf '{"backbone": "%s/trainable.json", "threads": 1, "category_mode": "off", "embedding": {"localize": false}, %s}\n' "$MODELS" \
  '"fine_tuning": {"enabled": true, "first_stage": 2, "epochs": 1000, "batch_size": 4}' > "$FT_CONFIG"
CAT=$WORK/fine_tuning.dscat
if "$CLI" index --config "$FT_CONFIG" --catalogue "$CAT" --folder "$WORK/images_small" --no-train > "$WORK/ft_index.out" 2> "$WORK/ft_index.err"; then
  cp "$CAT" "$WORK/before_ft.dscat"
  is_fine_tuning() { [ -f "$1" ] && tr '\r' '\n' < "$1" | grep -q "^training epoch [1-9]"; }
  "$CLI" train --config "$FT_CONFIG" --catalogue "$CAT" > "$WORK/ft.out" 2> "$WORK/ft.err" &
  pid=$!; pids+=("$pid")
  if wait_until "$pid" 60 is_fine_tuning "$WORK/ft.err"; then
    kill -INT "$pid"
    finish "$pid" 30; rc=$RC
    expect "Ctrl-C while fine-tuning: exit 130 (got $rc)" [ "$rc" -eq 130 ] -- "$WORK/ft.err"
    expect "Ctrl-C while fine-tuning: the catalogue file is unchanged" cmp -s "$CAT" "$WORK/before_ft.dscat"
  else
    not_ok "train with fine_tuning: reaches the backbone's training" "$WORK/ft.err"
    finish "$pid" 1
  fi
else
  not_ok "index with the trainable backbone" "$WORK/ft_index.err"
fi

section "done"
echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
