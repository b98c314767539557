#!/usr/bin/env bash
# Make a small venv layered on top of another: it sees every package of BASE, and what is installed into it
# shadows BASE's copy. Used to run part of the suite against another Qt binding or another napari without a
# second multi-GB install of torch & co.
#
#   scripts/overlay_venv.sh BASE_VENV OVERLAY_VENV [pip install arguments...]
#
# `venv --system-site-packages` would not do: from a venv's python it exposes the base interpreter's packages,
# not the venv's. A .pth in the overlay appends BASE's site-packages with site.addsitedir, which also runs
# BASE's own .pth files (the editable install of napari-focus). Idempotent: pip only checks a second time.
set -euo pipefail
base=$(cd "$1" && pwd)
overlay=$2
shift 2

if [ ! -x "$overlay/bin/python" ]; then
  "$base/bin/python" -m venv --without-pip "$overlay"
fi
base_site=$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
overlay_site=$("$overlay/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
echo "import site; site.addsitedir('$base_site')" > "$overlay_site/_overlay_base.pth"

if [ $# -gt 0 ]; then
  "$overlay/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "$@"
fi
