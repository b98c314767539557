"""The docs/method.md §4 metrics, in one place for the benchmark, the CLI and the UI (spectral deletion, which
runs the model, lives in spectral_deletion.py).

Pure numpy / scipy / scikit-learn: callers pass arrays (convert tensors first), so this module can
be imported anywhere without torch. Every ranking breaks ties towards the lower index, and NaN
scores rank last (as -inf), so the same inputs always give the same number.

"Within d nm" is inclusive everywhere (a band exactly one spacing away is within one spacing),
with a slack of 1e-6 nm so that float wavelengths such as 742.3 compare as intended.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats
from scipy.optimize import linear_sum_assignment

# the means over leaves and seeds live beside these metrics, re-exported so that callers keep one import for
# everything docs/method.md §4 reports
from napari_focus.metric_means import CURVE_METRICS as CURVE_METRICS
from napari_focus.metric_means import diseased_curve_means as diseased_curve_means
from napari_focus.metric_means import leaf_means as leaf_means
from napari_focus.metric_means import mean_std as mean_std
from napari_focus.metric_means import summarize as summarize

SLACK_NM = 1e-6
#: "One band spacing" (the tolerant BIO's floor) is widened by this fraction: headers round band centres (an ENVI
#: header's 6 significant digits give 410.553 and 1010.55), so a neighbour of a 10.5528 nm grid lies 10.550-10.560 nm
#: away around a median spacing of 10.55 nm, and a tolerance of exactly the median would miss half the neighbours.
_SPACING_ROUNDING = 0.01


def band_positions_nm(wavelengths_nm: Any, n: int) -> np.ndarray:
    """Band positions in nm, or band indices (spacing 1) when wavelengths are unknown."""
    if wavelengths_nm is None:
        return np.arange(n, dtype=np.float64)
    wl = np.asarray(wavelengths_nm, dtype=np.float64).ravel()
    if wl.size != n:
        raise ValueError(f"{wl.size} wavelengths for {n} bands")
    return wl


def _scores(values: Any) -> np.ndarray:
    """Float64 copy with NaN turned into -inf, so NaN ranks last."""
    v = np.array(values, dtype=np.float64).ravel()
    v[np.isnan(v)] = -np.inf
    return v


def _rank_desc(values: np.ndarray) -> np.ndarray:
    """Indices by decreasing value; ties keep the lower index first."""
    return np.argsort(-values, kind="stable")


def band_spacing_nm(wavelengths_nm: Any) -> float:
    """Median spacing of sorted band centres (1.0 for a single band or unknown wavelengths)."""
    if wavelengths_nm is None:
        return 1.0
    wl = np.sort(np.asarray(wavelengths_nm, dtype=np.float64).ravel())
    return float(np.median(np.diff(wl))) if wl.size > 1 else 1.0


# --------------------------------------------------------------------------------------- bands
def top_k_bands(
    curve: Any, wavelengths_nm: Any = None, k: int = 5, min_separation_nm: float = 20.0
) -> np.ndarray:
    """Peak-separated top-k band indices of a band-importance curve, best first.

    Bands are visited by decreasing value (ties: lower index first; NaN as -inf) and a band within
    ``min_separation_nm`` (inclusive) of an already chosen band is skipped, so that five
    neighbours of one spectral feature cannot hide a second feature. Without wavelengths the
    band index is the position (spacing 1), so ``min_separation_nm`` then counts bands. Fewer
    than k indices are returned when the separation leaves fewer bands. Ranking is by value:
    pass the magnitude of a signed curve (e.g. a reflectance difference).
    """
    v = _scores(curve)
    pos = band_positions_nm(wavelengths_nm, v.size)
    chosen: list[int] = []
    for b in _rank_desc(v):
        if len(chosen) >= k:
            break
        if all(abs(pos[b] - pos[c]) > min_separation_nm + SLACK_NM for c in chosen):
            chosen.append(int(b))
    return np.asarray(chosen, dtype=np.int64)


def max_matching(pred_nm: Any, true_nm: Any, tolerance_nm: float) -> int:
    """Size of the largest one-to-one matching of predicted to true positions within tolerance.

    An optimal assignment (not a greedy nearest-first pass, which can miss matches when one
    prediction is near two true bands).
    """
    p = np.asarray(pred_nm, dtype=np.float64).ravel()
    t = np.asarray(true_nm, dtype=np.float64).ravel()
    if p.size == 0 or t.size == 0:
        return 0
    adj = (np.abs(p[:, None] - t[None, :]) <= tolerance_nm + SLACK_NM).astype(np.float64)
    rows, cols = linear_sum_assignment(adj, maximize=True)
    return int(adj[rows, cols].sum())


def bio_from_bands(
    pred_bands: Any,
    true_bands: Any,
    wavelengths_nm: Any = None,
    tolerant: bool = False,
    tolerance_nm: float | None = None,
) -> float:
    """BIO between two band-index sets (e.g. a curve's top-k and ``gt_top5_band``).

    Strict: |P ∩ T| / |P ∪ T|. Tolerant: M / (|P| + |T| − M) with M the maximum one-to-one
    matching within ``tolerance_nm`` (default max(10 nm, one median band spacing + 1 % for the
    header's rounding of band centres), so that neighbouring bands always match; band-index
    units when wavelengths are unknown), which is M / (2k − M) when both sets hold k bands.
    """
    p = np.unique(np.asarray(pred_bands, dtype=np.int64).ravel())
    t = np.unique(np.asarray(true_bands, dtype=np.int64).ravel())
    if p.size + t.size == 0:
        return float("nan")
    if not tolerant:
        inter = np.intersect1d(p, t).size
        return float(inter / (p.size + t.size - inter))
    if wavelengths_nm is None:
        pos = np.arange(int(max(p.max(initial=-1), t.max(initial=-1))) + 1, dtype=np.float64)
    else:
        pos = np.asarray(wavelengths_nm, dtype=np.float64).ravel()
        if max(p.max(initial=-1), t.max(initial=-1)) >= pos.size:
            raise ValueError(f"band index out of range for {pos.size} wavelengths")
    if tolerance_nm is None:
        tolerance_nm = max(10.0, band_spacing_nm(wavelengths_nm) * (1 + _SPACING_ROUNDING))
    m = max_matching(pos[p], pos[t], tolerance_nm)
    return float(m / (p.size + t.size - m))


def bio_at_k(
    pred_curve: Any,
    true_curve: Any,
    wavelengths_nm: Any = None,
    k: int = 5,
    tolerant: bool = False,
    tolerance_nm: float | None = None,
    min_separation_nm: float = 20.0,
) -> float:
    """BIO@k (docs/method.md §4): overlap of the peak-separated top-k bands of two curves.

    See `top_k_bands` for the ranking and `bio_from_bands` for strict vs tolerant scoring.
    """
    pred = np.asarray(pred_curve).ravel()
    true = np.asarray(true_curve).ravel()
    if pred.size != true.size:
        raise ValueError(f"curves differ in length: {pred.size} vs {true.size}")
    p = top_k_bands(pred, wavelengths_nm, k, min_separation_nm)
    t = top_k_bands(true, wavelengths_nm, k, min_separation_nm)
    return bio_from_bands(p, t, wavelengths_nm, tolerant, tolerance_nm)


# ------------------------------------------------------------------------------------- spatial
def _leaf_pixels(saliency_map: Any, lesion_mask: Any, leaf_mask: Any) -> tuple[np.ndarray, np.ndarray]:
    """Saliency scores (NaN as -inf) and lesion labels of the leaf pixels, in row-major order."""
    m = np.asarray(saliency_map, dtype=np.float64)
    les = np.asarray(lesion_mask, dtype=bool)
    if m.shape != les.shape:
        raise ValueError(f"saliency map {m.shape} and lesion mask {les.shape} differ in shape")
    leaf = np.ones_like(les) if leaf_mask is None else np.asarray(leaf_mask, dtype=bool)
    if leaf.shape != les.shape:
        raise ValueError(f"leaf mask {leaf.shape} and lesion mask {les.shape} differ in shape")
    return _scores(m[leaf]), les[leaf]


def spatial_iou(saliency_map: Any, lesion_mask: Any, leaf_mask: Any = None) -> float:
    """IoU of the area-matched binarised map with the lesion mask, inside the leaf.

    The map keeps exactly as many leaf pixels as the lesion has inside the leaf (the highest
    scores; ties go to the earlier pixel in row-major order), so no threshold is tuned. NaN when
    the leaf holds no lesion pixel.
    """
    scores, truth = _leaf_pixels(saliency_map, lesion_mask, leaf_mask)
    n = int(truth.sum())
    if n == 0:
        return float("nan")
    pred = np.zeros_like(truth)
    pred[_rank_desc(scores)[:n]] = True
    return float((pred & truth).sum() / (pred | truth).sum())


def auprc(saliency_map: Any, lesion_mask: Any, leaf_mask: Any = None) -> float:
    """Average precision (scikit-learn) of the map over leaf pixels against the lesion mask.

    NaN when the leaf holds no lesion pixel. NaN map values count as the lowest score.
    """
    from sklearn.metrics import average_precision_score

    scores, truth = _leaf_pixels(saliency_map, lesion_mask, leaf_mask)
    if not truth.any():
        return float("nan")
    finite = np.isfinite(scores)
    if not finite.all():  # sklearn refuses inf; keep the order with finite stand-ins
        lo = scores[finite].min() if finite.any() else 0.0
        hi = scores[finite].max() if finite.any() else 0.0
        scores = np.where(scores == -np.inf, lo - 1.0, np.where(scores == np.inf, hi + 1.0, scores))
    return float(average_precision_score(truth, scores))


def auprc_floors(lesion_mask: Any, leaf_mask: Any = None) -> dict[str, float]:
    """The two floors AUPRC is reported beside (docs/method.md §4).

    ``random``: the lesion prevalence within the leaf (the expected AP of a random map).
    ``whole_leaf``: the AP of a map that is 1 on the leaf, computed by `auprc` itself; with every
    score tied there is one threshold, so it equals the prevalence too (shown, not assumed).
    """
    les = np.asarray(lesion_mask, dtype=bool)
    leaf = np.ones_like(les) if leaf_mask is None else np.asarray(leaf_mask, dtype=bool)
    n_leaf = int(leaf.sum())
    prevalence = float((les & leaf).sum() / n_leaf) if n_leaf else float("nan")
    return {"random": prevalence, "whole_leaf": auprc(leaf.astype(np.float64), les, leaf)}


# ---------------------------------------------------------------------------- curve vs truth
def truth_region(truth: Any) -> np.ndarray:
    """The bands where a truth curve is at least half its maximum (none when it is nowhere positive)."""
    t = np.nan_to_num(np.asarray(truth, dtype=np.float64).ravel())
    return t >= 0.5 * t.max() if t.size and t.max() > 0 else np.zeros(t.size, bool)


def _mass_and_region(curve: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    """A curve's non-negative mass per band and the truth's region, checked to be the same length."""
    c = np.clip(np.nan_to_num(np.asarray(curve, dtype=np.float64).ravel()), 0, None)
    region = truth_region(truth)
    if c.size != region.size:
        raise ValueError(f"sizes differ: {c.size} vs {region.size}")
    return c, region


def mass_lift(curve: Any, truth: Any) -> float:
    """The curve's share of its mass on the bands where the truth is at least half its maximum, divided by those
    bands' share of all bands: 1 for a flat or random curve, 0 for one that avoids the region. NaN when the curve
    has no mass or the region is every band."""
    c, region = _mass_and_region(curve, truth)
    if c.sum() <= 0 or not region.any() or region.all():
        return float("nan")
    return float((c[region].sum() / c.sum()) / region.mean())


def top_k_in_region(curve: Any, truth: Any, k: int = 5) -> float:
    """The share of the curve's k highest bands (no peak separation) that lie where the truth is at least half its
    maximum: a top-k reading of `mass_lift`'s region. NaN when the curve has no mass or there is no region."""
    c, region = _mass_and_region(curve, truth)
    if c.sum() <= 0 or not region.any():
        return float("nan")
    return float(region[_rank_desc(c)[:k]].mean())


# ------------------------------------------------------------------------------- correlations
def spearman(a: Any, b: Any) -> float:
    """Spearman rank correlation (scipy) of two flattened arrays over pairs where both are finite.

    NaN when fewer than two pairs remain or either side is constant.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ValueError(f"sizes differ: {x.size} vs {y.size}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(x, y).statistic)


def layer_consistency(maps: Any, mask: Any = None) -> float:
    """Mean Spearman correlation between consecutive layers' maps (docs/method.md §4 consistency).

    ``maps``: (L, ...) one spatial map per layer; ``mask`` (optional) restricts every map to the
    same pixels (e.g. the leaf). Pairs with an undefined correlation (a constant map) are left out;
    NaN when none is defined.
    """
    stack = [np.asarray(m, dtype=np.float64) for m in maps]
    if mask is not None:
        sel = np.asarray(mask, dtype=bool)
        stack = [m[sel] for m in stack]
    rhos = [spearman(stack[i], stack[i + 1]) for i in range(len(stack) - 1)]
    rhos = [r for r in rhos if np.isfinite(r)]
    return float(np.mean(rhos)) if rhos else float("nan")


def attention_mass(attn: Any, keys: Any) -> float:
    """Mean over all leading axes of the attention mass on ``keys`` (last axis: keys).

    The docs/method.md §4 attention diagnostics are this one reduction on different slices of a layer's
    attention probabilities (heads, queries, keys): collapse rate = final layer, H_⋆ heads, patch
    queries, keys = CLS + registers; over-filtering = H_⋆ heads, prompt queries, keys = [SINK];
    sink mass = H_aux heads, patch queries, keys = [SINK]. Pass numpy (``tensor.cpu().numpy()``).
    """
    a = np.asarray(attn, dtype=np.float64)
    idx = np.atleast_1d(np.asarray(keys))
    if a.ndim < 1 or idx.size == 0:
        return 0.0
    return float(a[..., idx].sum(axis=-1).mean())


# --------------------------------------------------------------------------------- task scores
def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of exact label matches."""
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if t.size != p.size:
        raise ValueError(f"sizes differ: {t.size} vs {p.size}")
    return float(np.mean(t == p)) if t.size else float("nan")


def regression_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    """MSE and R² (scikit-learn) of a trait regression, in the targets' own units."""
    from sklearn.metrics import mean_squared_error, r2_score

    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    r2 = float(r2_score(t, p)) if t.size >= 2 else float("nan")
    return {"mse": float(mean_squared_error(t, p)), "r2": r2}
