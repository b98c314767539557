"""Which axis of a 3-D array holds the bands.

Files other than ENVI do not say. Wavelengths, when known, settle it (the axis whose length matches);
otherwise a square image with a third, different axis settles it; otherwise the format's convention
(band-first for NumPy/HDF5/TIFF stacks, band-last for MATLAB) is used and the guess is noted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CubeReadError


def band_axis_of(shape: tuple[int, ...], n_wavelengths: int | None, default: int, source: object,
                 notes: list[str]) -> int:
    if len(shape) != 3:
        if len(shape) == 2:
            raise CubeReadError(source, f"a 2-D image {shape[0]}×{shape[1]}, not a hyperspectral cube")
        raise CubeReadError(source, f"expected a 3-D cube, got {len(shape)}-D data of shape {tuple(shape)}")
    if n_wavelengths is not None:
        hits = [i for i, s in enumerate(shape) if s == n_wavelengths]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise CubeReadError(source, f"{n_wavelengths} wavelengths but no axis of shape {tuple(shape)} matches")
        if len(hits) < 3:  # two axes match: choose between them, never the third
            axis = default if default in hits else hits[0]
            notes.append(f"band axis assumed to be axis {axis} of shape {tuple(shape)}")
            return axis
    a, b, c = shape
    if b == c and a != b:
        return 0
    if a == b and c != a:
        return 2
    notes.append(f"band axis assumed to be axis {default} of shape {tuple(shape)}")
    return default


def to_band_first(arr: Any, axis: int) -> Any:
    """A band-first view (no copy for numpy arrays and memmaps)."""
    if axis == 0:
        return arr
    return np.moveaxis(arr, axis, 0) if isinstance(arr, np.ndarray) else arr.transpose(
        (axis,) + tuple(i for i in range(3) if i != axis))
