#!/usr/bin/env bash
# Installs the Python package with the README's command (`cmake --install BUILD --component python`),
# staged under a scratch DESTDIR, and imports it from another directory with Debian's python3: the
# installed module (not the build tree's) and its own libdomainsearch load, the version agrees with the
# package metadata, and domainsearch.dask imports. Usage: check_package_install.sh BUILD_DIR SITE_DIR
set -euo pipefail
build=$1
site=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR=$stage cmake --install "$build" --component python >/dev/null
cd /
PYTHONPATH=$stage$site PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 - "$stage" <<'PY'
import importlib.metadata as metadata
import os
import sys

import domainsearch
import domainsearch.dask  # noqa: F401

stage = sys.argv[1]
package = os.path.dirname(domainsearch.__file__)
assert package.startswith(stage), f"imported {package}, not the installed package under {stage}"
loaded = [line.split()[-1] for line in open("/proc/self/maps") if "libdomainsearch.so" in line]
assert loaded and all(path.startswith(package) for path in loaded), f"libdomainsearch loaded from {set(loaded)}"
assert metadata.version("domainsearch") == domainsearch.__version__, (metadata.version("domainsearch"), domainsearch.__version__)
files = {str(f) for f in metadata.files("domainsearch")}
assert {"domainsearch/__init__.py", "domainsearch/dask.py", "domainsearch/_domainsearch.pyi", "domainsearch/py.typed"} <= files, files
print(f"domainsearch {domainsearch.__version__} installed in {package}")
PY
