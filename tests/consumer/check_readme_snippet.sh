#!/usr/bin/env bash
# The README's C++ Index snippet compiles and runs as written, against the build tree.
#   check_readme_snippet.sh CXX README SOURCE_INCLUDE BUILD_INCLUDE LIBRARY_DIR [SANITIZERS]
# SANITIZERS: the build's DS_SANITIZE (e.g. address,undefined; OFF or empty: none), so the snippet links its runtime too.
set -euo pipefail
CXX=$1 README=$2 SRC_INCLUDE=$3 BUILD_INCLUDE=$4 LIBDIR=$5 SANITIZERS=${6:-}
flags=()
case "$SANITIZERS" in "" | OFF | off | 0) ;; *) flags+=("-fsanitize=$SANITIZERS") ;; esac  # CMake's unset option reads OFF
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
# The ```cpp block that starts with #include <domainsearch/index.hpp>.
awk '/^```cpp$/ {inside = 1; block = ""; next} inside && /^```$/ {inside = 0; if (block ~ /^#include <domainsearch\/index.hpp>/) {printf "%s", block; exit}} inside {block = block $0 "\n"}' \
  "$README" > "$WORK/snippet.cpp"
[ -s "$WORK/snippet.cpp" ] || { echo "no C++ Index snippet found in $README"; exit 1; }
"$CXX" -std=c++17 "${flags[@]}" -I"$SRC_INCLUDE" -I"$BUILD_INCLUDE" "$WORK/snippet.cpp" -L"$LIBDIR" -ldomainsearch -Wl,-rpath,"$LIBDIR" -o "$WORK/snippet"
(cd "$WORK" && ./snippet)
echo "the README's Index snippet compiles and runs"
