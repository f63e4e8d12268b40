#!/usr/bin/env bash
# The one command that runs every test from a fresh clone: set-up, build, then the whole suite.
#   tools/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
cd "${DS_BUILD_DIR:-build}"
ctest --output-on-failure -j 2
