"""The `Cube`: the one object every reader returns and every consumer takes.

Band axis first, `(C, H, W)`, so that napari's first dims slider scrubs bands. `data` may be a
memory map or a lazy array; nothing here forces it into memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE_VALUES = 2_000_000


def strided_sample(data: Any, max_values: int = SAMPLE_VALUES, every_band: bool = False,
                   band: int | None = None) -> np.ndarray:
    """About `max_values` values of a (C, H, W) array: every s-th band (all with `every_band`; only `band`
    when given) and row, rows whole. A band's row is contiguous in BSQ and BIL files (in BIP, the row of every
    band is), so the sample touches few pages of a memory-mapped scan; every s-th pixel as well would touch
    every page of its rows. One index expression, so that dask hands it to the memory map as it is."""
    c, h, w = (int(n) for n in data.shape)
    if band is not None:
        c, every_band = 1, True
    n = c * h * w / max_values
    sb, sr = (1, int(np.ceil(n))) if every_band else (int(np.ceil(n ** 0.5)),) * 2
    sb, sr = max(1, sb), max(1, sr)
    sw = max(1, len(range(0, c, sb)) * len(range(0, h, sr)) * w // max_values)  # rows wider than the sample
    bands = slice(None, None, sb) if band is None else slice(band, band + 1)
    return np.asarray(data[bands, ::sr, ::sw])


def band_label(band: int, wavelengths_nm: Any = None) -> str:
    """`band 97 · 742.3 nm`, or `band 97` when wavelengths are unknown."""
    if wavelengths_nm is None or not 0 <= band < len(wavelengths_nm):
        return f"band {band}"
    return f"band {band} · {float(wavelengths_nm[band]):.1f} nm"


@dataclass
class Cube:
    """A hyperspectral cube with its spectral axis described.

    Attributes:
        data: array shaped (C, H, W); may be a numpy memmap or a dask array.
        wavelengths_nm: band centres in nanometres, one per band, or None when unknown.
        fwhm_nm: band widths in nanometres, or None.
        good_bands: boolean mask, True for bands models and curves may use (ENVI ``bbl``);
            None means every band is good.
        metadata: format-specific extras (header fields, calibration notes, ...).
        source: the path it came from, if any.
        format: short name of the reader ("envi", "tiff", "npy", ...).
        notes: human-readable notes the UI should show (assumptions made while reading).
    """

    data: Any
    wavelengths_nm: np.ndarray | None = None
    fwhm_nm: np.ndarray | None = None
    good_bands: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    format: str = "array"
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if getattr(self.data, "ndim", None) != 3:
            raise ValueError(f"a cube must be 3-D (C, H, W); got shape {getattr(self.data, 'shape', None)}")
        c = self.data.shape[0]
        for name in ("wavelengths_nm", "fwhm_nm"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v, dtype=np.float64).ravel()
                if v.size != c:
                    raise ValueError(f"{name} has {v.size} values for {c} bands")
                setattr(self, name, v)
        if self.good_bands is not None:
            g = np.asarray(self.good_bands, dtype=bool).ravel()
            if g.size != c:
                raise ValueError(f"good_bands has {g.size} values for {c} bands")
            self.good_bands = g

    @property
    def n_bands(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    def band_label(self, band: int) -> str:
        return band_label(band, self.wavelengths_nm)

    def layer_metadata(self) -> dict[str, Any]:
        """Metadata for a napari image layer (docs/method.md §2)."""
        md: dict[str, Any] = dict(self.metadata)
        if self.wavelengths_nm is not None:
            md["wavelengths_nm"] = [float(x) for x in self.wavelengths_nm]
        if self.fwhm_nm is not None:
            md["fwhm_nm"] = [float(x) for x in self.fwhm_nm]
        if self.good_bands is not None:
            md["bbl"] = [int(x) for x in self.good_bands]
        md["source"] = self.source
        md["format"] = self.format
        if self.notes:
            md["notes"] = list(self.notes)
        return md

    @classmethod
    def from_layer(cls, data: Any, metadata: dict[str, Any] | None) -> Cube:
        """Rebuild a Cube from a napari layer's data and metadata."""
        md = dict(metadata or {})
        wl = md.pop("wavelengths_nm", None)
        fwhm = md.pop("fwhm_nm", None)
        bbl = md.pop("bbl", None)
        source = md.pop("source", None)
        fmt = md.pop("format", "array")
        notes = list(md.pop("notes", []) or [])
        return cls(
            data=data,
            wavelengths_nm=None if wl is None else np.asarray(wl, float),
            fwhm_nm=None if fwhm is None else np.asarray(fwhm, float),
            good_bands=None if bbl is None else np.asarray(bbl, bool),
            metadata=md,
            source=source,
            format=fmt,
            notes=notes,
        )
