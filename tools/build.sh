#!/usr/bin/env bash
# Configures and builds libdomainsearch into ${DS_BUILD_DIR:-build} (Release, Ninja, -j2).
# Extra arguments go to CMake's configure step, e.g. tools/build.sh -DDS_SANITIZE=address,undefined
# DS_BUILD_TARGETS="a b" builds only those targets (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${DS_BUILD_DIR:-build}
# Debian's python3, not a pyenv one on PATH: the bindings and tests need its numpy/torch/pytest.
cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DPython_EXECUTABLE=/usr/bin/python3 -DPYTHON_EXECUTABLE=/usr/bin/python3 "$@"
targets=()
for t in ${DS_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "${DS_JOBS:-2}" "${targets[@]}"
