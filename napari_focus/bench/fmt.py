"""Formatting the cells' values over run seeds: mean ± std, `pending` and `–`, and the per-seed comparisons the "what
holds" lines count. Shared by the tables (tables.py) and the curve tables (curve_tables.py)."""

from __future__ import annotations

from typing import Any

import numpy as np


def values(vals: list[dict[str, Any] | None], key: str) -> list[float]:
    out = []
    for r in vals:
        v = None if r is None else r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
            out.append(float(v))
    return out


def mean(vals: list[dict[str, Any] | None], key: str) -> float:
    v = values(vals, key)
    return float(np.mean(v)) if v else float("nan")


def fmt(vals: list[dict[str, Any] | None], key: str, digits: int = 3) -> str:
    """`m`, `m ± s` (sample std over seeds), `pending` or `–`."""
    present = [r for r in vals if r is not None]
    if not present:
        return "pending"
    v = values(present, key)
    if not v:
        return "–"
    s = f"{np.mean(v):.{digits}f}" + (f" ± {np.std(v, ddof=1):.{digits}f}" if len(v) > 1 else "")
    return s + (f" ({len(present)}/{len(vals)} seeds)" if len(present) < len(vals) else "")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def seeds_ahead(focus: list[dict[str, Any] | None], other: list[dict[str, Any] | None], key: str) -> tuple[int, int]:
    """(run seeds where FOCUS's value is higher, run seeds where both have one): a comparison of means over three
    seeds can be carried by one seed, so the "what holds" lines say how many seeds agree with it."""
    pairs = [(values([f], key), values([o], key)) for f, o in zip(focus, other, strict=True)]
    pairs = [(f[0], o[0]) for f, o in pairs if f and o]
    return sum(f > o for f, o in pairs), len(pairs)
