#!/usr/bin/env bash
# Installs the Python package as the README tells users (`pip install .` in a virtual environment, offline:
# Debian's setuptools and wheel, no index), reusing the test build's CMake folder, and checks from another
# directory that the installed module (not the build tree's) and its own libdomainsearch load, that the
# metadata gives the version and the dependencies (numpy, torch; dask and distributed as the extra "dask"),
# that the typing files are installed, that a built wheel carries the binaries under a CPython platform
# tag, and that `pip uninstall` removes every file. Usage: check_package_install.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export DOMAINSEARCH_CMAKE_BUILD_DIR=$build PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 -m venv --system-site-packages "$scratch/venv"
venv=$scratch/venv
cd "$source_dir"
"$venv/bin/pip" install --quiet --no-build-isolation . >"$scratch/pip.log" 2>&1 || { cat "$scratch/pip.log"; exit 1; }
"$venv/bin/pip" wheel --quiet --no-build-isolation --no-deps -w "$scratch/dist" . >"$scratch/wheel.log" 2>&1 \
  || { cat "$scratch/wheel.log"; exit 1; }
cd /
"$venv/bin/python" - "$venv" "$scratch/dist" <<'PY'
import glob
import importlib.metadata as metadata
import os
import sys
import zipfile

import domainsearch
import domainsearch.dask  # noqa: F401

venv, dist = sys.argv[1], sys.argv[2]
package = os.path.dirname(domainsearch.__file__)
assert package.startswith(venv), f"imported {package}, not the package pip installed in {venv}"
loaded = {line.split()[-1] for line in open("/proc/self/maps") if "libdomainsearch.so" in line}
assert loaded and all(path.startswith(package) for path in loaded), f"libdomainsearch loaded from {loaded}"
assert metadata.version("domainsearch") == domainsearch.__version__, (metadata.version("domainsearch"), domainsearch.__version__)
requires = {r.translate(str.maketrans("'", '"', " ()")) for r in metadata.requires("domainsearch")}
import torch
expected = {"numpy>=1.19", f"torch=={torch.__version__}", 'dask>=2022.1;extra=="dask"', 'distributed>=2022.1;extra=="dask"'}
assert requires == expected, requires
files = {str(f) for f in metadata.files("domainsearch")}
assert {"domainsearch/__init__.py", "domainsearch/dask.py", "domainsearch/_domainsearch.pyi", "domainsearch/py.typed",
        "domainsearch/libdomainsearch.so.0"} <= files, files
wheels = glob.glob(os.path.join(dist, "domainsearch-*.whl"))
tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
assert len(wheels) == 1 and f"-{tag}-{tag}-linux_" in wheels[0], wheels
names = zipfile.ZipFile(wheels[0]).namelist()
assert "domainsearch/libdomainsearch.so.0" in names and "domainsearch/py.typed" in names, names
assert any(n.startswith("domainsearch/_domainsearch.") and n.endswith(".so") for n in names), names
print(f"domainsearch {domainsearch.__version__} installed in {package}; wheel {os.path.basename(wheels[0])}")
PY
installed=$("$venv/bin/python" -c "import domainsearch, os; print(os.path.dirname(domainsearch.__file__))")
"$venv/bin/pip" uninstall --yes --quiet domainsearch
if "$venv/bin/python" -c "import domainsearch" 2>/dev/null; then echo "domainsearch still imports after pip uninstall"; exit 1; fi
if [ -e "$installed" ]; then echo "pip uninstall left $installed:"; ls -la "$installed"; exit 1; fi
echo "pip uninstall removed $installed"
