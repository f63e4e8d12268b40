#!/usr/bin/env bash
# capi/domainsearch.h compiles with only its own folder on the include path, as C99 and as C++17, and
# includes nothing but itself and the compiler's standard headers (no build-tree or installed
# domainsearch/export.hpp found elsewhere on the default path).
# Usage: check_header_alone.sh C_COMPILER CXX_COMPILER SOURCE_DIR
set -u
cc=$1 cxx=$2 src=$3
probe=$src/tests/c/test_header_alone.c
status=0
"$cc" -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only -I "$src/capi" "$probe" || { echo "FAIL: C99"; status=1; }
"$cxx" -std=c++17 -Wall -Wextra -pedantic -Werror -fsyntax-only -I "$src/capi" -x c++ "$probe" || { echo "FAIL: C++17"; status=1; }
# Every file the preprocessor opens: the probe, the header, and standard headers only.
deps=$("$cc" -std=c99 -M -I "$src/capi" "$probe" | sed -e 's/\\$//' -e 's/^[^:]*://' | tr ' ' '\n' | sed '/^$/d') || { echo "FAIL: -M"; exit 1; }
while read -r dep; do
  case "$dep" in
    "$probe" | "$src/capi/domainsearch.h") ;;
    *domainsearch* | *.hpp) echo "FAIL: domainsearch.h pulls in $dep"; status=1 ;;
  esac
done <<< "$deps"
[ $status -eq 0 ] && echo "domainsearch.h is self-contained"
exit $status
