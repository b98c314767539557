"""TIFF cubes: one page per band (HyperLeaf2024 style) or a 3-D stack, memory-mapped when possible."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..cube import Cube
from ..errors import CubeReadError
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
                data = series.asarray()
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError, struct_error()) as exc:
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


def struct_error() -> type[Exception]:
    import struct

    return struct.error
