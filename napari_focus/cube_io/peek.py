"""Is a TIFF or NumPy file a cube or an ordinary image? Told from its header, before anything is read.

napari's own reader opens TIFF and `.npy` images too; the plugin leaves it those that are clearly pictures: 2-D
arrays, RGB(A), N-D data, ImageJ/OME z-stacks and time series, and a few planes with no wavelengths (no sidecar,
no sensor that the band count identifies). A cube without wavelengths opens with a `<name>.wavelengths.txt` sidecar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .axes import band_axis_of
from .wavelengths import preset_for, sidecar_path

PEEKED = (".npy", ".tif", ".tiff")
#: fewer planes than this, and nothing that says they are wavelengths: a z-stack or a multichannel picture
MIN_CUBE_BANDS = 32


def _header(path: Path) -> tuple[tuple[int, ...], str]:
    """The stored shape and tifffile's axes letters ('' for .npy), from the header alone."""
    if path.suffix.lower() == ".npy":
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape), ""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        return tuple(series.shape), series.axes


def why_not_a_cube(path: str | Path) -> str | None:
    """Why `path` is an ordinary image rather than a cube, or None (a cube, or a file to let the reader judge)."""
    path = Path(path)
    if path.suffix.lower() not in PEEKED or sidecar_path(path) is not None:
        return None
    try:
        shape, axes = _header(path)
    except Exception:  # damaged or not what its extension says: the reader names the problem
        return None
    kept = [(n, a) for n, a in zip(shape, axes or "?" * len(shape), strict=True) if n != 1]
    dims = tuple(n for n, _ in kept)
    if len(dims) == 2:
        return f"a 2-D image {dims}"
    if len(dims) != 3:
        return f"{len(dims)}-D data {dims}"
    letters = "".join(a for _, a in kept)
    if (letters.endswith("S") and dims[-1] <= 4) or (not axes and dims[-1] in (3, 4) and min(dims[:2]) > 4):
        return f"an RGB(A) picture {dims}"
    if set(letters) & {"Z", "T"}:
        return f"a z-stack or time series (axes {letters}) {dims}"
    bands = dims[band_axis_of(dims, None, 2 if letters.endswith("S") else 0, path, [])]
    if bands < MIN_CUBE_BANDS and preset_for(bands) is None:
        return f"{bands} planes and no wavelengths"
    return None
