"""Cube ↔ napari layer data, with no napari import: what the reader and sample data return.

Kept Qt-free so it can be tested without a viewer; it decides names, metadata, contrast limits
(computed on a strided sample, so napari never scans a large cube) and the RGB composite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .cube import Cube

TRUE_COLOUR_NM = (640.0, 550.0, 460.0)
SAMPLE_VALUES = 2_000_000


def strided_sample(data: Any, max_values: int = SAMPLE_VALUES) -> np.ndarray:
    """A strided subsample of a (C, H, W) array, read without loading the whole cube."""
    step = max(1, int(np.ceil((np.prod(data.shape) / max_values) ** (1 / 3))))
    return np.asarray(data[::step, ::step, ::step], dtype=np.float64)


def robust_limits(data: Any, lo: float = 0.5, hi: float = 99.5) -> tuple[float, float]:
    """Contrast limits from percentiles of finite values of a strided sample."""
    s = strided_sample(data)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return 0.0, 1.0
    a, b = np.percentile(s, [lo, hi])
    if not b > a:
        b = a + (abs(a) * 1e-3 or 1.0)
    return float(a), float(b)


def rgb_bands(wavelengths_nm: np.ndarray | None, good: np.ndarray | None = None) -> tuple[int, int, int] | None:
    """Bands nearest 640/550/460 nm, or None when wavelengths do not reach the visible."""
    if wavelengths_nm is None:
        return None
    wl = np.asarray(wavelengths_nm, dtype=float)
    usable = np.ones(wl.size, bool) if good is None else np.asarray(good, bool)
    if not usable.any():
        return None
    out = []
    for target in TRUE_COLOUR_NM:
        dist = np.where(usable, np.abs(wl - target), np.inf)
        i = int(np.argmin(dist))
        if dist[i] > 40.0:
            return None
        out.append(i)
    return out[0], out[1], out[2]


def rgb_composite(cube: Cube) -> np.ndarray | None:
    """A (H, W, 3) float32 true-colour image in [0, 1]; reads only three bands."""
    idx = rgb_bands(cube.wavelengths_nm, cube.good_bands)
    if idx is None:
        return None
    rgb = np.stack([np.asarray(cube.data[i], dtype=np.float32) for i in idx], axis=-1)
    finite = rgb[np.isfinite(rgb)]
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, [1, 99.5])
    rgb = np.clip((rgb - lo) / max(hi - lo, 1e-12), 0, 1)
    return np.nan_to_num(rgb, nan=0.0)


def cube_layer_data(cube: Cube, name: str | None = None, with_rgb: bool = True) -> list[tuple]:
    """Layer data tuples for a cube: the (C, H, W) image and, when possible, its RGB composite."""
    name = name or (Path(cube.source).stem if cube.source else "cube")
    lo, hi = robust_limits(cube.data)
    layers: list[tuple] = [(
        cube.data,
        {
            "name": name,
            "metadata": cube.layer_metadata(),
            "contrast_limits": (lo, hi),
            "colormap": "gray",
            "axis_labels": ("band", "y", "x"),
        },
        "image",
    )]
    if with_rgb:
        rgb = rgb_composite(cube)
        if rgb is not None:
            layers.append((rgb, {"name": f"{name} · RGB", "rgb": True, "visible": False}, "image"))
    return layers


def find_band_axis_layer(layers: Any) -> Any:
    """The first (C, H, W) image layer carrying `wavelengths_nm`, active layer preferred."""
    cands = [layer for layer in layers if getattr(layer, "ndim", 0) == 3 and not getattr(layer, "rgb", False)]
    return cands[0] if cands else None
