#!/usr/bin/env bash
# The one command that runs every test from a fresh clone: set-up, build, the whole suite, then the
# AddressSanitizer+UndefinedBehaviorSanitizer suite and the ThreadSanitizer concurrency test.
#   tools/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
(cd "${DS_BUILD_DIR:-build}" && ctest --output-on-failure -j 2)
tools/sanitize.sh
tools/sanitize.sh thread
