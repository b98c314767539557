"""A simple leaf (vegetation) mask, so that saliency and every score stay on the leaf (docs/method.md §2).

NDVI from a red band (~670 nm) and a NIR band (~800 nm) separates living tissue from almost any
background; without those wavelengths the mask falls back to band-mean brightness. Only the few
bands needed are read, so a memory-mapped cube is never loaded whole. The result is meant as a
starting point the user can correct (a Labels layer), not a segmentation model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

RED_NM = 670.0
NIR_NM = 800.0
_BAND_AVG_NM = 10.0  # average bands within ±10 nm of each target to lower sensor noise
_MAX_OFFSET_NM = {"red": 30.0, "nir": 60.0}  # how far the nearest band may be from the target
_N_BRIGHTNESS_BANDS = 16
_DARK_FRACTION = 0.1
_MIN_NDVI_CONTRAST = 0.2
_FALLBACK_NDVI = 0.3
_FLAT_NDVI = 0.1  # |NDVI| below this: red and NIR alike (white panel, grey card), never leaf


def _band_stack(data_chw: Any, bands: np.ndarray) -> np.ndarray:
    """Read only ``bands`` (one at a time, so a memmap or lazy array loads just those)."""
    return np.stack([np.asarray(data_chw[int(b)], dtype=np.float64) for b in bands])


def _bands_near(wavelengths_nm: np.ndarray, target_nm: float, max_offset_nm: float) -> np.ndarray | None:
    """Bands within ±10 nm of the target (at least the nearest), or None if it is too far."""
    offset = np.abs(wavelengths_nm - target_nm)
    nearest = int(np.argmin(offset))
    if offset[nearest] > max_offset_nm:
        return None
    near = np.flatnonzero(offset <= _BAND_AVG_NM)
    return near if near.size else np.array([nearest])


def covers_ndvi(wavelengths_nm: Any) -> bool:
    """True when the sensor has bands near enough to 670 nm and 800 nm for NDVI."""
    if wavelengths_nm is None:
        return False
    wl = np.asarray(wavelengths_nm, dtype=np.float64).ravel()
    return (
        _bands_near(wl, RED_NM, _MAX_OFFSET_NM["red"]) is not None
        and _bands_near(wl, NIR_NM, _MAX_OFFSET_NM["nir"]) is not None
    )


def red_nir(data_chw: Any, wavelengths_nm: Any) -> tuple[np.ndarray, np.ndarray]:
    """Red (~670 nm) and NIR (~800 nm) images, each the mean of the bands within ±10 nm."""
    if wavelengths_nm is None:
        raise ValueError("NDVI needs wavelengths; this cube has none")
    wl = np.asarray(wavelengths_nm, dtype=np.float64).ravel()
    red_b = _bands_near(wl, RED_NM, _MAX_OFFSET_NM["red"])
    nir_b = _bands_near(wl, NIR_NM, _MAX_OFFSET_NM["nir"])
    if red_b is None or nir_b is None:
        raise ValueError(
            f"NDVI needs bands near {RED_NM:g} and {NIR_NM:g} nm; cube spans {wl.min():g}–{wl.max():g} nm"
        )
    red = np.nan_to_num(_band_stack(data_chw, red_b).mean(axis=0))
    nir = np.nan_to_num(_band_stack(data_chw, nir_b).mean(axis=0))
    return red, nir


def ndvi(data_chw: Any, wavelengths_nm: Any) -> np.ndarray:
    """NDVI = (NIR − red) / (NIR + red), (H, W), from the bands nearest 800 and 670 nm.

    Raises ValueError when the wavelengths do not reach both regions. 0 where NIR + red is 0.
    """
    red, nir = red_nir(data_chw, wavelengths_nm)
    denom = nir + red
    out = np.zeros_like(denom)
    np.divide(nir - red, denom, out=out, where=np.abs(denom) > 1e-12)
    return out


def otsu_threshold(values: Any, bins: int = 256) -> float:
    """Otsu's threshold (maximal between-class variance) of finite values."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0 or v.min() == v.max():
        return float(v.min()) if v.size else 0.0
    hist, edges = np.histogram(v, bins=bins)
    centers = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    between = between[:-1]
    best = np.flatnonzero(np.isclose(between, between.max(), rtol=1e-12, atol=0))
    # empty bins between two modes tie exactly: take the middle of that gap, not its lower end
    return float(0.5 * (edges[1 + best[0]] + edges[1 + best[-1]]))


def brightness(data_chw: Any, n_bands: int = _N_BRIGHTNESS_BANDS) -> np.ndarray:
    """Mean of up to ``n_bands`` evenly spaced bands, (H, W): a cheap band-mean brightness."""
    c = data_chw.shape[0]
    bands = np.unique(np.linspace(0, c - 1, min(n_bands, c)).round().astype(int))
    return np.nan_to_num(_band_stack(data_chw, bands).mean(axis=0))


def _foreground_is_high(binary_high: np.ndarray) -> bool:
    """Which side of a brightness split is the leaf: the side that touches the border less."""
    border = np.concatenate([binary_high[0], binary_high[-1], binary_high[:, 0], binary_high[:, -1]])
    return bool(border.mean() <= 0.5)


def clean_mask(
    mask: np.ndarray, min_component_fraction: float = 0.1, max_hole_fraction: float = 0.25
) -> np.ndarray:
    """Drop speckle and small components, fill enclosed holes (lesions) up to a size.

    Components smaller than ``min_component_fraction`` of the largest are removed (several
    leaves of similar size survive); holes fully enclosed by leaf and smaller than
    ``max_hole_fraction`` of the mask are filled, since a dark lesion inside a leaf is leaf.
    """
    m = ndimage.binary_opening(mask, structure=np.ones((3, 3), bool))
    labels, n = ndimage.label(m)
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= min_component_fraction * sizes.max()) + 1
    m = np.isin(labels, keep)
    holes, n_holes = ndimage.label(ndimage.binary_fill_holes(m) & ~m)
    if n_holes:
        hole_sizes = np.bincount(holes.ravel())[1:]
        small = np.flatnonzero(hole_sizes <= max_hole_fraction * m.sum()) + 1
        m |= np.isin(holes, small)
    return m


def _ndvi_lit(data_chw: Any, wavelengths_nm: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(NDVI, lit, flat), each (H, W): the index, the pixels bright enough to judge, and the spectrally flat ones.

    On a near-black background NDVI is noise over noise and can be anything; "too dark" is red + NIR below
    10 % of its 99th percentile over the pixels that are not flat. Flat means |NDVI| < 0.1: red and NIR alike,
    as on a white reference panel, a grey card or a bare tray. Leaving them out of that percentile keeps a
    bright panel (reflectance near 1 in both bands) from setting "lit" so high that a shaded leaf goes dark.
    """
    red, nir = red_nir(data_chw, wavelengths_nm)
    total = nir + red
    index = np.zeros_like(total)
    np.divide(nir - red, total, out=index, where=np.abs(total) > 1e-12)
    flat = np.abs(index) < _FLAT_NDVI
    pool = total[~flat] if (~flat).any() else total
    lit = total > max(_DARK_FRACTION * float(np.percentile(pool, 99)), 1e-12)
    return index, lit, flat


def _ndvi_threshold(index: np.ndarray) -> float:
    """Otsu on NDVI, unless the image is all leaf (or all background): then the usual 0.3 cut.

    Otsu always splits in two; when the two sides' means differ by less than 0.2 NDVI there is
    no leaf/background contrast to split, and a fixed vegetation threshold is the safer guess.
    """
    if index.size == 0:
        return _FALLBACK_NDVI
    t = otsu_threshold(index)
    lo, hi = index[index <= t], index[index > t]
    if lo.size == 0 or hi.size == 0 or hi.mean() - lo.mean() < _MIN_NDVI_CONTRAST:
        return _FALLBACK_NDVI
    return t


def leaf_mask(data_chw: Any, wavelengths_nm: Any = None, threshold: float | None = None) -> np.ndarray:
    """Boolean (H, W) leaf mask of a (C, H, W) cube (array or memmap; only a few bands are read).

    With bands near 670 and 800 nm: NDVI > ``threshold`` (Otsu's threshold on the NDVI of the lit
    pixels when None, or 0.3 when NDVI shows no two populations); pixels too dark to judge and
    spectrally flat ones (a white reference panel: NDVI near 0) count as background. Otsu over the
    lit pixels only, because dark pixels would otherwise make the split dark against lit, not leaf
    against background. Otherwise: band-mean brightness split at ``threshold`` (Otsu when None), the leaf being
    the side that touches the image border less. Then `clean_mask`.
    """
    if getattr(data_chw, "ndim", None) != 3:
        raise ValueError(f"expected a (C, H, W) cube; got shape {getattr(data_chw, 'shape', None)}")
    if covers_ndvi(wavelengths_nm):
        index, lit, flat = _ndvi_lit(data_chw, wavelengths_nm)
        cut = _ndvi_threshold(index[lit]) if threshold is None else threshold
        raw = lit & ~flat & (index > cut)
    else:
        index = brightness(data_chw)
        high = index > (otsu_threshold(index) if threshold is None else threshold)
        raw = high if _foreground_is_high(high) else ~high
    return clean_mask(raw)
