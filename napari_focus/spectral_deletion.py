"""Spectral deletion (docs/method.md §4): does the class logit drop when a curve's top windows are interpolated away,
more than when random windows are? A forward-pass check of a curve against the model, on any cube: no lesion mask
needed (the healing faithfulness of focus/faithfulness.py needs one). Pure numpy: the caller passes the score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from napari_focus.metrics import SLACK_NM, band_positions_nm, top_k_bands


def interpolate_windows(
    spectra: Any, wavelengths_nm: Any, centers_nm: Iterable[float], half_width_nm: float = 10.0
) -> np.ndarray:
    """Copy of ``spectra`` (band axis 0) with each ±window replaced by linear interpolation.

    Bands within ``half_width_nm`` (inclusive) of a centre are replaced, per pixel, by the straight
    line (in wavelength) between the nearest kept bands on either side; overlapping windows merge.
    A window at an edge of the band axis takes the nearest kept band's value. Without wavelengths,
    positions are band indices. Only the bands in windows are interpolated; the rest is copied.
    """
    arr = np.asarray(spectra)
    out = np.array(arr, dtype=np.result_type(arr.dtype, np.float32), copy=True)
    pos = band_positions_nm(wavelengths_nm, out.shape[0])
    order = np.argsort(pos, kind="stable")
    spos = pos[order]
    hit = np.zeros(spos.size, dtype=bool)
    for c in np.asarray(list(centers_nm), dtype=np.float64).ravel():
        hit |= np.abs(spos - c) <= half_width_nm + SLACK_NM
    if hit.all():
        raise ValueError("the windows cover every band: nothing to interpolate from")
    i = 0
    while i < spos.size:
        if not hit[i]:
            i += 1
            continue
        j = i
        while j + 1 < spos.size and hit[j + 1]:
            j += 1
        left, right = i - 1, j + 1
        for s in range(i, j + 1):
            band = order[s]
            if left < 0:
                out[band] = out[order[right]]
            elif right >= spos.size:
                out[band] = out[order[left]]
            else:
                w = (spos[s] - spos[left]) / (spos[right] - spos[left])
                out[band] = (1.0 - w) * out[order[left]] + w * out[order[right]]
        i = j + 1
    return out


def spectral_deletion(
    score_fn: Callable[[np.ndarray], float],
    cube: Any,
    curve: Any,
    wavelengths_nm: Any = None,
    k: int = 5,
    half_width_nm: float = 10.0,
    n_random: int = 20,
    rng: np.random.Generator | int | None = None,
    min_separation_nm: float = 20.0,
) -> dict[str, Any]:
    """Drop of the class logit when the curve's top-k windows are interpolated away (docs/method.md §4).

    ``score_fn(cube) -> float`` is the class logit of a (C, H, W) cube. ``drop_top`` = base −
    score after replacing ±``half_width_nm`` around the curve's peak-separated top-k bands;
    ``drop_random`` = the mean drop over ``n_random`` draws of k random, equally separated windows
    (the top-k of a random curve); ``ratio`` = drop_top / drop_random (NaN when the random drop is
    0). Single-leaf ratios are noisy: across leaves prefer `aggregate_deletion` (ratio of means).
    ``rng`` defaults to a fixed seed so a run is reproducible.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
    data = np.asarray(cube)
    n_bands = data.shape[0]
    pos = band_positions_nm(wavelengths_nm, n_bands)
    base = float(score_fn(data))
    top = top_k_bands(curve, wavelengths_nm, k, min_separation_nm)
    drop_top = base - float(score_fn(interpolate_windows(data, wavelengths_nm, pos[top], half_width_nm)))
    drops = []
    for _ in range(n_random):
        bands = top_k_bands(gen.random(n_bands), wavelengths_nm, k, min_separation_nm)
        drops.append(
            base - float(score_fn(interpolate_windows(data, wavelengths_nm, pos[bands], half_width_nm)))
        )
    drop_random = float(np.mean(drops)) if drops else float("nan")
    return {
        "base": base,
        "drop_top": drop_top,
        "drop_random": drop_random,
        "drop_random_std": float(np.std(drops)) if drops else float("nan"),
        "ratio": drop_top / drop_random if drop_random != 0 else float("nan"),
        "top_bands": [int(b) for b in top],
    }


def aggregate_deletion(results: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Spectral deletion over many leaves: mean drops and their ratio (stabler than mean ratio)."""
    top = float(np.mean([r["drop_top"] for r in results])) if results else float("nan")
    rnd = float(np.mean([r["drop_random"] for r in results])) if results else float("nan")
    return {"drop_top": top, "drop_random": rnd, "ratio": top / rnd if rnd != 0 else float("nan")}
