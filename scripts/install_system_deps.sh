#!/usr/bin/env bash
# Debian packages that napari needs to draw on a (virtual) screen, installed only where missing.
# The list comes from `ldd` on PyQt5's xcb platform plugin and its GL integration, plus Xvfb for the
# headless test suite. Idempotent: a machine that has them all is left untouched (no apt-get call).
set -euo pipefail

PKGS=(
  xvfb xauth                         # virtual X server for pytest-xvfb and screenshots
  libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-image0 libxcb-render-util0
  libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxcb-cursor0 libxkbcommon-x11-0
  libgl1 libgl1-mesa-dri libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system_deps: not a Debian-like system; please install the equivalents of: ${missing[*]}" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
  else
    echo "install_system_deps: missing Debian packages (run as root to install): ${missing[*]}" >&2
    exit 0
  fi
fi
echo "install_system_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
