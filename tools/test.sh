#!/usr/bin/env bash
# The one command that runs every test from a fresh clone: set-up, the AddressSanitizer+UndefinedBehavior-
# Sanitizer suite, the ThreadSanitizer concurrency test, 60 s of libFuzzer per fuzz target, then the build
# and the whole suite.
#   tools/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/sanitize.sh
tools/sanitize.sh thread
tools/fuzz.sh 60
tools/build.sh
cd "${DS_BUILD_DIR:-build}"
ctest --output-on-failure -j 2
