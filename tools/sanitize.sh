#!/usr/bin/env bash
# Builds with sanitizers into build-<kind>/ and runs the tests that make sense under them.
#   tools/sanitize.sh                     # AddressSanitizer + UndefinedBehaviorSanitizer: the whole suite,
#                                         # except the real-model and Python tests (too slow / foreign runtime)
#   tools/sanitize.sh thread              # ThreadSanitizer: the concurrency tests of the Index
# LibTorch, OpenCV and OpenBLAS are not instrumented: leaks they hold at exit are not reported
# (detect_leaks=0) and UBSan's vptr check, which needs instrumented type info, is off.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:-address,undefined}
DIR=build-${KIND//,/-}
DS_BUILD_DIR=$DIR tools/build.sh -DDS_SANITIZE="$KIND" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fno-sanitize=vptr" -DDS_BUILD_PYTHON=OFF -DDS_BUILD_BENCH=OFF
cd "$DIR"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
if [ "$KIND" = thread ]; then
  ctest --output-on-failure -R "concurrent searches"
else
  # install_consumer builds outside projects without the sanitizer runtime; python/notebook load it into python3.
  ctest --output-on-failure -j 2 -LE integration -E "install_consumer|python_tests"
fi
