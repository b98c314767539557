"""TIFF cubes: one page per band (HyperLeaf2024 style) or a 3-D stack, memory-mapped when possible."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..cube import Cube
from ..errors import CubeReadError
from .arrays import MAX_INFLATION
from .axes import band_axis_of, to_band_first


def read_tiff(path: Path, band_axis: int | None = None, n_wavelengths: int | None = None) -> Cube:
    import tifffile

    notes: list[str] = []
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            shape = tuple(series.shape)
            try:
                data: Any = tifffile.memmap(path, mode="r")
            except (ValueError, OSError):
                check_decoded_size(path, series)
                data = series.asarray()
    except CubeReadError:
        raise
    except Exception as exc:  # damaged files raise many types (TiffFileError, struct.error, ZeroDivisionError, ...)
        raise CubeReadError(path, f"not a readable TIFF ({type(exc).__name__}: {exc})") from None
    data = np.squeeze(data) if data.ndim > 3 else data
    if data.ndim == 3 and axes.endswith("S") and shape[-1] <= 4 and band_axis is None:
        raise CubeReadError(path, f"an RGB(A) picture {shape}, not a hyperspectral cube")
    if band_axis is None:
        # pages (I/Q/Z/C first) are bands; samples-per-pixel last means band-last
        default = 2 if axes.endswith("S") else 0
        band_axis = band_axis_of(data.shape, n_wavelengths, default, path, notes)
    elif data.ndim != 3:
        band_axis_of(data.shape, None, 0, path, notes)  # raises the clear 2-D / N-D error
    return Cube(data=to_band_first(data, band_axis), source=str(path), format="tiff",
                metadata={"tiff_axes": axes}, notes=notes)


def check_decoded_size(path: Path, series: Any) -> None:
    """Refuse, before allocating, pixels a lying header cannot hold or memory cannot (asarray reads it all)."""
    nbytes, size = int(series.nbytes), Path(path).stat().st_size
    room = size if int(series.keyframe.compression) == 1 else size * MAX_INFLATION
    if nbytes > room:
        raise CubeReadError(path, f"the TIFF header claims {nbytes} bytes of pixels but the file holds {size}")
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return
    if nbytes > memory // 2:
        raise CubeReadError(path, f"{nbytes / 2**30:.1f} GiB of compressed pixels, more than half of this "
                            "machine's memory")
