#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds C programs the way a Makefile would, with only
# `cc FILE $(pkg-config --cflags --libs domainsearch)`, and runs them: tests/c/pkg_config_consumer.c and
# examples/c/query.c (run without arguments: it loads and prints its usage). Also checks the .pc's
# configured prefix and version. Exits 77 (skipped) without pkg-config.
# Usage: test_pkg_config.sh CMAKE BUILD_DIR WORK_DIR C_COMPILER SOURCE_DIR CONFIGURED_PREFIX LIBDIR VERSION [SANITIZE]
set -u
cmake=$1 build=$2 work=$3 cc=$4 src=$5 configured_prefix=$6 libdir=$7 version=$8 sanitize=${9:-}
command -v pkg-config > /dev/null || { echo "pkg-config not found: skipped"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

rm -rf "$work" && mkdir -p "$work" || fail "cannot create $work"
prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install"; }
[ -f "$prefix/$libdir/pkgconfig/domainsearch.pc" ] || fail "no $libdir/pkgconfig/domainsearch.pc installed"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig

pkg-config --print-errors --exists domainsearch || fail "pkg-config cannot read domainsearch.pc"
[ "$(pkg-config --modversion domainsearch)" = "$version" ] || fail "version $(pkg-config --modversion domainsearch), expected $version"
[ "$(pkg-config --variable=prefix domainsearch)" = "$configured_prefix" ] ||
  fail "prefix $(pkg-config --variable=prefix domainsearch), expected the configured $configured_prefix"
# Installed elsewhere than configured: every path follows prefix.
flags=$(pkg-config --define-variable=prefix="$prefix" --cflags --libs domainsearch) || fail "pkg-config --cflags --libs"
echo "pkg-config --cflags --libs domainsearch: $flags"
case "$flags" in *"$configured_prefix/"*) [ "$configured_prefix" != "$prefix" ] && fail "a path ignores prefix: $flags" ;; esac

extra=()
case "$sanitize" in "" | OFF | off | 0 | FALSE | false | NO | no | N | n | IGNORE | NOTFOUND) ;; *) extra=(-fsanitize="$sanitize") ;; esac
# shellcheck disable=SC2086 # $flags is the word list pkg-config prints
"$cc" -std=c99 -Wall -Wextra -pedantic -Werror "${extra[@]}" -o "$work/pkg_config_consumer" "$src/tests/c/pkg_config_consumer.c" $flags ||
  fail "building pkg_config_consumer.c with pkg-config's flags"
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Wextra "${extra[@]}" -o "$work/query_c" "$src/examples/c/query.c" $flags || fail "building examples/c/query.c with pkg-config's flags"

export LD_LIBRARY_PATH=$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
"$work/pkg_config_consumer" || fail "pkg_config_consumer exited $?"
"$work/query_c" > "$work/query_c.out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "usage" "$work/query_c.out" || { cat "$work/query_c.out"; fail "query_c without arguments exited $rc, expected its usage (2)"; }
echo "pkg-config build OK"
