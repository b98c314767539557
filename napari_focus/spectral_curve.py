"""What the "Spectral importance" plot shows, as plain data: no Qt, no napari, no torch.

The GUI converts an explain result into a `SpectralCurve` and the plot draws only this, so the
plot never needs to know which model or method produced the curve, and every rule about bad
bands, axes and top-k bands lives here where it can be tested without a display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

NO_WAVELENGTHS_LABEL = "band index (no wavelengths)"
WAVELENGTH_LABEL = "wavelength (nm)"


@dataclass(frozen=True)
class SpectralGroup:
    """A contiguous, named range of bands (inclusive at both ends), e.g. ("red-edge", 31, 40)."""

    name: str
    first_band: int
    last_band: int

    def __post_init__(self) -> None:
        if not 0 <= self.first_band <= self.last_band:
            raise ValueError(f"group {self.name!r}: bad band range {self.first_band}–{self.last_band}")


@dataclass
class SpectralCurve:
    """A band-importance curve B (C,) with its spectral axis described.

    Attributes:
        importance: (C,) importance per band; NaN where unknown.
        wavelengths_nm: (C,) band centres, or None (the x-axis is then the band index).
        groups: contiguous named band ranges to shade (may be empty).
        good_bands: (C,) boolean mask; bad bands are drawn as gaps and cannot be chosen. None: all good.
        title: what the curve is, e.g. "saliency · diseased".
        top_k: how many peak-separated bands to mark.
        min_separation_nm: peak separation for the marks (in bands when wavelengths are unknown).
    """

    importance: Any
    wavelengths_nm: Any = None
    groups: list[SpectralGroup] = field(default_factory=list)
    good_bands: Any = None
    title: str = ""
    top_k: int = 5
    min_separation_nm: float = 20.0

    def __post_init__(self) -> None:
        self.importance = np.array(self.importance, dtype=np.float64).ravel()
        c = self.importance.size
        if c == 0:
            raise ValueError("a spectral curve needs at least one band")
        if self.wavelengths_nm is not None:
            self.wavelengths_nm = np.asarray(self.wavelengths_nm, dtype=np.float64).ravel()
            if self.wavelengths_nm.size != c:
                raise ValueError(f"{self.wavelengths_nm.size} wavelengths for {c} bands")
        if self.good_bands is not None:
            self.good_bands = np.asarray(self.good_bands, dtype=bool).ravel()
            if self.good_bands.size != c:
                raise ValueError(f"good_bands has {self.good_bands.size} values for {c} bands")
        self.groups = list(self.groups)
        for g in self.groups:
            if g.last_band >= c:
                raise ValueError(f"group {g.name!r} ends at band {g.last_band} of {c}")

    @classmethod
    def from_groups(cls, importance: Any, groups: Any = None, **kwargs: Any) -> SpectralCurve:
        """Build from anything with `names` and `bands` (e.g. `focus.groups.SpectralGroups`).

        Duck-typed so that this module needs no import of the model package.
        """
        spans = []
        if groups is not None:
            for name, bands in zip(groups.names, groups.bands, strict=True):
                spans.append(SpectralGroup(str(name), int(min(bands)), int(max(bands))))
        return cls(importance, groups=spans, **kwargs)

    # ------------------------------------------------------------------ axis
    @property
    def n_bands(self) -> int:
        return int(self.importance.size)

    @property
    def has_wavelengths(self) -> bool:
        return self.wavelengths_nm is not None

    @property
    def x(self) -> np.ndarray:
        """Band positions on the x-axis: nm, or the band index when wavelengths are unknown."""
        if self.wavelengths_nm is None:
            return np.arange(self.n_bands, dtype=np.float64)
        return self.wavelengths_nm

    @property
    def x_label(self) -> str:
        return WAVELENGTH_LABEL if self.has_wavelengths else NO_WAVELENGTHS_LABEL

    @property
    def good(self) -> np.ndarray:
        """(C,) mask of bands the user may choose (all True when no mask was given)."""
        return np.ones(self.n_bands, bool) if self.good_bands is None else self.good_bands

    def plotted(self) -> np.ndarray:
        """Importance with bad bands as NaN, so that a plot draws them as gaps (never as zeros)."""
        return np.where(self.good, self.importance, np.nan)

    def band_edges(self) -> np.ndarray:
        """(C + 1,) x positions halfway between neighbouring bands (half a spacing beyond the ends)."""
        x = self.x
        if x.size == 1:
            return np.array([x[0] - 0.5, x[0] + 0.5])
        mid = (x[1:] + x[:-1]) / 2
        return np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])

    def group_span(self, group: SpectralGroup) -> tuple[float, float]:
        """The x interval a group covers, edge to edge, so that adjacent groups touch."""
        edges = self.band_edges()
        lo, hi = edges[group.first_band], edges[group.last_band + 1]
        return (float(min(lo, hi)), float(max(lo, hi)))

    # ------------------------------------------------------------------ bands
    def nearest_band(self, x: float, good_only: bool = True) -> int | None:
        """The band whose position is nearest `x` (only good bands when `good_only`); None if none."""
        pos = self.x
        ok = self.good if good_only else np.ones(self.n_bands, bool)
        if not ok.any() or not np.isfinite(x):
            return None
        dist = np.where(ok, np.abs(pos - float(x)), np.inf)
        return int(np.argmin(dist))

    def top_bands(self) -> np.ndarray:
        """The `top_k` peak-separated most important good bands, best first (`metrics.top_k_bands`)."""
        from .metrics import top_k_bands  # metrics imports scipy.stats (~1 s): not when the Explain dock opens

        v = self.plotted()
        chosen = top_k_bands(v, self.wavelengths_nm, k=self.top_k, min_separation_nm=self.min_separation_nm)
        return chosen[np.isfinite(v[chosen])] if chosen.size else chosen

    def band_text(self, band: int, decimals: int = 0) -> str:
        """A short label for a band: "742 nm", or "band 12" without wavelengths."""
        if self.wavelengths_nm is None:
            return f"band {band}"
        return f"{self.wavelengths_nm[band]:.{decimals}f} nm"

    def describe(self, band: int) -> str:
        """The hover text: "742.3 nm · importance 0.41" (bad or unknown bands say so)."""
        where = self.band_text(band, decimals=1)
        if not self.good[band]:
            return f"{where} · bad band"
        value = self.importance[band]
        return f"{where} · importance {value:.3g}" if np.isfinite(value) else f"{where} · importance n/a"
