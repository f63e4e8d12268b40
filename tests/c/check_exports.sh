#!/usr/bin/env bash
# libdomainsearch_c exports exactly the ds_* functions capi/domainsearch.h declares (built with hidden
# visibility: DS_C_API in the header is what exports them). Usage: check_exports.sh LIBRARY HEADER
set -u
lib=$1 header=$2
declared=$(grep -oE '^DS_C_API[^(;]*[^a-z0-9_](ds_[a-z0-9_]+)\(' "$header" | grep -oE 'ds_[a-z0-9_]+\($' | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" && $3 ~ /^ds_/ { print $3 }' | sort -u)
if [ -z "$declared" ] || [ -z "$exported" ]; then
  echo "FAIL: nothing declared or exported (nm missing?)"
  exit 1
fi
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
[ -n "$missing" ] && echo "FAIL: declared, not exported:" $missing
[ -n "$extra" ] && echo "FAIL: exported, not declared:" $extra
[ -z "$missing$extra" ] || exit 1
echo "$(echo "$declared" | wc -l) functions declared and exported"
