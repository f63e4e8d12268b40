#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and runs each for a bounded
# time on a scratch copy of its seed corpus (tests/fuzz/corpus/<kind>).
#   tools/fuzz.sh [SECONDS_PER_TARGET]      # default 60
# A crash leaves its input in build-fuzz/crashes/; copy it to tests/fuzz/corpus/<kind>/ so the test
# suite replays it from then on (regression test), then fix the bug.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
command -v clang++-14 >/dev/null || { echo "fuzz: clang-14 missing (apt-get install clang-14 libclang-rt-14-dev)"; exit 1; }
CC=clang-14 CXX=clang++-14 DS_BUILD_DIR=build-fuzz DS_BUILD_TARGETS="fuzz_image_decode fuzz_index_load fuzz_manifest fuzz_catalogue_json fuzz_fine_tuned" tools/build.sh -DDS_BUILD_FUZZERS=ON -DDS_SANITIZE="address,undefined,fuzzer-no-link" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="-fno-sanitize=vptr" -DDS_BUILD_PYTHON=OFF -DDS_BUILD_BENCH=OFF
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p build-fuzz/crashes
status=0
for pair in image_decode:image index_load:index manifest:manifest catalogue_json:catalogue_json fine_tuned:fine_tuned; do
  target=fuzz_${pair%%:*}; kind=${pair#*:}
  work=$(mktemp -d); cp -r "tests/fuzz/corpus/$kind/." "$work/"
  echo "== $target for ${SECONDS_PER_TARGET}s"
  rc=0
  "build-fuzz/tests/fuzz/$target" "$work" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 > "build-fuzz/$target.log" 2>&1 || rc=$?
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|ERROR|SUMMARY|Test unit written" "build-fuzz/$target.log" || true
  if [ "$rc" -ne 0 ]; then status=1; echo "$target FAILED (exit $rc), see build-fuzz/$target.log"; fi
  rm -rf "$work"
done
exit $status
