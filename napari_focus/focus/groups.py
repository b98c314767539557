"""Spectral groups: a partition of a cube's good bands into G contiguous, named groups (docs/method.md §3.1).

Groups follow domain knowledge (pigment, red-edge, water bands) so that each backbone sequence
sees one physically meaningful part of the spectrum; the names are what the UI shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_BOUNDARIES_NM: tuple[tuple[str, float, float], ...] = (
    ("blue", 400.0, 500.0),
    ("green", 500.0, 600.0),
    ("red", 600.0, 680.0),
    ("red-edge", 680.0, 750.0),
    ("NIR-1", 750.0, 900.0),
    ("NIR-2", 900.0, 1100.0),
    ("SWIR-1a", 1100.0, 1400.0),
    ("SWIR-1b", 1400.0, 1800.0),
    ("SWIR-2a", 1800.0, 2100.0),
    ("SWIR-2b", 2100.0, 2500.0),
)


@dataclass(frozen=True)
class SpectralGroups:
    """Named groups of band indices (into the cube's band axis); bad bands belong to no group."""

    names: tuple[str, ...]
    bands: tuple[tuple[int, ...], ...]
    n_bands: int

    def __post_init__(self) -> None:
        if len(self.names) != len(self.bands) or not self.bands:
            raise ValueError("groups need one name per non-empty band list")
        seen = [b for grp in self.bands for b in grp]
        if any(len(g) == 0 for g in self.bands) or len(set(seen)) != len(seen):
            raise ValueError("groups must be non-empty and must not overlap")
        if min(seen) < 0 or max(seen) >= self.n_bands:
            raise ValueError("group band index out of range")

    @property
    def n_groups(self) -> int:
        return len(self.bands)

    @property
    def sizes(self) -> np.ndarray:
        return np.array([len(b) for b in self.bands], dtype=np.int64)

    def band_to_group(self) -> np.ndarray:
        """(C,) group index per band, -1 for bands in no group (bad bands)."""
        out = np.full(self.n_bands, -1, dtype=np.int64)
        for g, bands in enumerate(self.bands):
            out[list(bands)] = g
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "bands": [list(b) for b in self.bands], "n_bands": self.n_bands}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpectralGroups:
        return cls(
            names=tuple(str(n) for n in d["names"]),
            bands=tuple(tuple(int(b) for b in grp) for grp in d["bands"]),
            n_bands=int(d["n_bands"]),
        )


def _split_largest(names: list[str], bands: list[list[int]], n_groups: int) -> None:
    """Split the group with the most bands in two (by count) until there are n_groups."""
    while len(bands) < n_groups:
        i = int(np.argmax([len(b) for b in bands]))
        if len(bands[i]) < 2:
            break
        half = len(bands[i]) // 2
        a, b = bands[i][:half], bands[i][half:]
        base = names[i]
        bands[i : i + 1] = [a, b]
        names[i : i + 1] = [f"{base}·1", f"{base}·2"]


def _merge_smallest(names: list[str], bands: list[list[int]], n_groups: int) -> None:
    """Merge the adjacent pair with the fewest bands together until there are n_groups."""
    while len(bands) > n_groups:
        i = int(np.argmin([len(bands[j]) + len(bands[j + 1]) for j in range(len(bands) - 1)]))
        bands[i : i + 2] = [bands[i] + bands[i + 1]]
        names[i : i + 2] = [f"{names[i]}+{names[i + 1]}"]


def make_groups(
    n_bands: int,
    wavelengths_nm: Sequence[float] | np.ndarray | None = None,
    n_groups: int | None = 10,
    boundaries: Sequence[tuple[str, float, float]] | Sequence[float] | None = None,
    good_bands: Sequence[bool] | np.ndarray | None = None,
) -> SpectralGroups:
    """Partition the good bands into contiguous named groups.

    With wavelengths: the given (or default) nm boundaries; bands outside every range go to the
    nearest range; empty groups are dropped; then the largest groups are split (or the smallest
    adjacent pairs merged) until `n_groups` exist (`n_groups=None` keeps the boundaries as they
    are). Without wavelengths: equal band-count groups. `boundaries` may be (name, lo, hi) triples
    or a sorted list of edges in nm.
    """
    good = np.ones(n_bands, bool) if good_bands is None else np.asarray(good_bands, bool).ravel()
    if good.size != n_bands:
        raise ValueError(f"good_bands has {good.size} values for {n_bands} bands")
    idx = np.flatnonzero(good)
    if idx.size == 0:
        raise ValueError("no good bands to group")
    if n_groups is not None:
        n_groups = int(max(1, min(n_groups, idx.size)))
    if wavelengths_nm is None:
        g = n_groups or 1
        parts = [p for p in np.array_split(idx, g) if p.size]
        names = [f"bands {int(p[0])}–{int(p[-1])}" for p in parts]
        return SpectralGroups(tuple(names), tuple(tuple(int(b) for b in p) for p in parts), n_bands)

    wl = np.asarray(wavelengths_nm, dtype=np.float64).ravel()
    if wl.size != n_bands:
        raise ValueError(f"{wl.size} wavelengths for {n_bands} bands")
    ranges = _ranges(boundaries)
    centres = np.array([(lo + hi) / 2 for _, lo, hi in ranges])
    members: list[list[int]] = [[] for _ in ranges]
    for b in idx:
        inside = [i for i, (_, lo, hi) in enumerate(ranges) if lo <= wl[b] < hi]
        i = inside[0] if inside else int(np.argmin(np.abs(centres - wl[b])))
        members[i].append(int(b))
    names = [ranges[i][0] for i in range(len(ranges)) if members[i]]
    bands = [sorted(m) for m in members if m]
    # keep groups contiguous in wavelength order
    order = np.argsort([np.mean(wl[b]) for b in bands], kind="stable")
    names, bands = [names[i] for i in order], [bands[i] for i in order]
    if n_groups is not None:
        _split_largest(names, bands, n_groups)
        _merge_smallest(names, bands, n_groups)
    return SpectralGroups(tuple(names), tuple(tuple(b) for b in bands), n_bands)


def _ranges(boundaries: Sequence[Any] | None) -> list[tuple[str, float, float]]:
    if boundaries is None:
        return [tuple(r) for r in DEFAULT_BOUNDARIES_NM]  # type: ignore[misc]
    items = list(boundaries)
    if items and all(isinstance(x, (int, float, np.floating, np.integer)) for x in items):
        edges = sorted(float(x) for x in items)
        if len(edges) < 2:
            raise ValueError("give at least two boundary edges")
        return [(f"{edges[i]:g}–{edges[i + 1]:g} nm", edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    out = []
    for item in items:
        name, lo, hi = item
        if not float(lo) < float(hi):
            raise ValueError(f"group {name!r}: lower bound {lo} is not below upper bound {hi}")
        out.append((str(name), float(lo), float(hi)))
    return out


def group_rows(gidx: Any, n_groups: int) -> list[slice | np.ndarray | None]:
    """Each group's rows among the model's used bands (`gidx`: their group indices, an array or a CPU tensor): a
    slice when they are consecutive, as groups are, so that per-group work reads views, not copies; else their
    indices; None for an empty group."""
    g = np.asarray(gidx)
    rows: list[slice | np.ndarray | None] = []
    for k in range(n_groups):
        idx = np.flatnonzero(g == k)
        if not idx.size:
            rows.append(None)
        elif int(idx[-1] - idx[0]) + 1 == idx.size:
            rows.append(slice(int(idx[0]), int(idx[-1]) + 1))
        else:
            rows.append(idx)
    return rows
