#!/usr/bin/env bash
# Installs every Debian 12 package libdomainsearch needs to build, test and benchmark.
# Idempotent: packages already present are not touched, and apt is only consulted when one is missing.
# Runs as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopencv-dev libeigen3-dev nlohmann-json3-dev libcli11-dev
  libopenblas0-pthread libopenblas-dev
  catch2 pybind11-dev python3-dev python3-torch python3-numpy python3-pytest python3-opencv python3-nbconvert python3-ipykernel python3-matplotlib python3-distributed python3-dask
  python3-venv python3-pip python3-setuptools python3-wheel  # pip install . offline (tests/python/check_package_install.sh)
  libfaiss-dev libssl-dev
  clang-14 libclang-rt-14-dev
  chromium  # the HTML reports are checked in a real browser (tests/cli/render_in_browser.py)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
