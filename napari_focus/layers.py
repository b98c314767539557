"""Cube ↔ napari layer data, with no napari import: what the reader and sample data return.

Kept Qt-free so it can be tested without a viewer; it decides names, metadata, contrast limits
(computed on a strided sample, so napari never scans a large cube) and the RGB composite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .cube import SAMPLE_VALUES, Cube, strided_sample

TRUE_COLOUR_NM = (640.0, 550.0, 460.0)


def robust_limits(data: Any, lo: float = 0.5, hi: float = 99.5) -> tuple[float, float]:
    """Contrast limits from percentiles of finite values of a strided sample."""
    s = strided_sample(data).astype(np.float64, copy=False)
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


def rgb_composite(cube: Cube) -> Any:
    """A (H, W, 3) float32 true-colour image in [0, 1] from three bands, stretched by percentiles of a
    strided sample of each. Lazy (dask) when the cube is lazy or memory-mapped, so a hidden composite of a
    whole scan costs no read: the stretch's sample takes every few rows of one band at a time (indexing the
    three bands together would read them whole, 27 GiB for a 70000² scan)."""
    idx = rgb_bands(cube.wavelengths_nm, cube.good_bands)
    if idx is None:
        return None
    data = cube.data
    sample = np.concatenate([strided_sample(data, SAMPLE_VALUES // 3, band=i).ravel() for i in idx])
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return None
    lo, hi = (np.float32(v) for v in np.percentile(finite, [1, 99.5]))
    if hasattr(data, "dask") or isinstance(data, np.memmap):
        import dask.array as da

        from .cube_io.envi import lazy_bands

        src = data if hasattr(data, "dask") else lazy_bands(data)  # a memory map wrapped, not copied
        return da.stack([src[i] for i in idx], axis=-1).map_blocks(_stretch, lo, hi, dtype=np.float32)
    return _stretch(np.stack([np.asarray(data[i]) for i in idx], axis=-1), lo, hi)


def _stretch(rgb: np.ndarray, lo: np.float32, hi: np.float32) -> np.ndarray:
    out = np.clip((rgb.astype(np.float32) - lo) / max(hi - lo, np.float32(1e-12)), 0, 1)
    return np.nan_to_num(out, nan=0.0)


def cube_layer_data(cube: Cube, name: str | None = None, with_rgb: bool = True) -> list[tuple]:
    """Layer data tuples for a cube: the (C, H, W) image and, when possible, its RGB composite."""
    name = name or (Path(cube.source).stem if cube.source else "cube")
    lo, hi = robust_limits(cube.data)
    layers: list[tuple] = [(
        cube.data,
        {
            "name": name,
            "metadata": cube.layer_metadata(),
            "contrast_limits": (lo, hi),  # given, so napari never computes them over a large cube
            "multiscale": False,
            "colormap": "gray",
            "axis_labels": ("band", "y", "x"),
        },
        "image",
    )]
    if with_rgb:
        rgb = rgb_composite(cube)
        if rgb is not None:
            layers.append((rgb, {"name": f"{name} · RGB", "rgb": True, "visible": False,
                                  "contrast_limits": (0.0, 1.0)}, "image"))
    return layers

