"""Means of per-leaf (or per-seed) metric dicts: how `focus.evaluate` and the benchmark's baselines summarise what
`metrics.py` computes for one leaf. NaN means "not defined on this leaf" and is skipped, never averaged in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for one value), ignoring NaN values."""
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), (float(v.std(ddof=1)) if v.size > 1 else 0.0)


def summarize(results: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    """Per-key `mean_std` over metric dicts (e.g. one per seed); non-numeric values are skipped."""
    collected: dict[str, list[float]] = {}
    for r in results:
        for key, val in r.items():
            if isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, float, np.number)):
                continue
            collected.setdefault(key, []).append(float(val))
    return {key: mean_std(vals) for key, vals in collected.items()}


#: band-curve metrics that `diseased_curve_means` also reports over diseased leaves alone
CURVE_METRICS = ("bio5_strict", "bio5_tolerant", "rho_gt", "mass_lift", "top5_in_region", "group_faithfulness",
                 "window_faithfulness", "faithful_coverage")


def leaf_means(rows: Sequence[Mapping[str, float]], counts: bool = False) -> dict[str, float]:
    """Mean of each metric over the leaves where it is finite (NaN where it is nowhere); `<key>_n` with counts."""
    out: dict[str, float] = {}
    for key in sorted({k for r in rows for k in r}):
        vals = [float(r[key]) for r in rows if key in r and np.isfinite(r[key])]
        out[key] = float(np.mean(vals)) if vals else float("nan")
        if counts:
            out[f"{key}_n"] = len(vals)
    return out


def diseased_curve_means(rows: Sequence[Mapping[str, float]], diseased: Sequence[bool]) -> dict[str, float]:
    """`<metric>_diseased`: the band-curve metrics over the leaves with a lesion only (none without any).

    The truth's top bands are the class's (docs/method.md §5), the same on every leaf; on a leaf without a lesion a
    explanation has no lesion to point at, while a leaf-independent curve (a chemometric one, or Φ's contrast
    alone) scores the same on both. The all-leaf mean mixes the two questions; this one asks the first alone.
    """
    sub = [r for r, d in zip(rows, diseased, strict=True) if d]
    if not sub:
        return {}
    means = leaf_means(sub)
    return {f"{k}_diseased": means.get(k, float("nan")) for k in CURVE_METRICS if k in means or k.startswith("bio5")}
