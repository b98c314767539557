"""Wavelengths: units, sidecar files and sensor presets.

A cube's spectral axis is always reported in nanometres. Where a file has no wavelengths we look for
a sidecar (``<name>.wavelengths.txt`` / ``.csv``), then for a sensor preset that the band count
identifies unambiguously, and say which assumption was made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CubeReadError

# factor that converts the unit to nanometres
_UNIT_FACTORS = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "um": 1000.0, "µm": 1000.0, "μm": 1000.0, "micron": 1000.0, "microns": 1000.0,
    "micrometer": 1000.0, "micrometers": 1000.0, "micrometre": 1000.0, "micrometres": 1000.0,
    "mm": 1e6, "millimeter": 1e6, "millimeters": 1e6,
}
_WAVENUMBER_UNITS = {"cm-1", "cm^-1", "1/cm", "wavenumber", "wavenumbers"}
_UNKNOWN_UNITS = {"", "unknown", "index", "none"}
MAX_SIDECAR_BYTES = 16 << 20  # it is read whole; a million bands fit in far less

# Sensors that a band count identifies without ambiguity (centres in nm).
SENSOR_PRESETS: dict[int, tuple[str, np.ndarray]] = {
    204: ("Specim IQ (204 bands, 397–1004 nm)", np.linspace(397.32, 1003.58, 204)),
}


def to_nanometres(values: Sequence[Any], units: str | None, source: object) -> tuple[np.ndarray, str | None]:
    """Convert wavelength values to nm; return them and a note when the unit had to be guessed."""
    wl, _, note = spectral_axis_nm(values, None, units, source)
    assert wl is not None
    return wl, note


def spectral_axis_nm(
    centres: Sequence[Any] | None, widths: Sequence[Any] | None, units: str | None, source: object,
) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """Band centres and widths (fwhm) in nm, and a note when the unit had to be guessed.

    One unit for both, decided from the centres: widths alone cannot tell µm from nm (a 1.68 nm width and a
    1.68 µm centre look alike), so with no unit given, widths follow the centres, and are nm without them.
    """
    wl = None if centres is None else _numbers(centres, source, "wavelength")
    fw = None if widths is None else _numbers(widths, source, "fwhm")
    unit = str(units or "").strip().lower()  # a header may hold a list here: refused below as unknown
    if unit in _WAVENUMBER_UNITS:
        if wl is None:  # a width in cm⁻¹ is a width in nm only at a known centre
            raise CubeReadError(source, "fwhm in wavenumbers without the band centres cannot be converted to nm")
        if np.any(wl <= 0):
            raise CubeReadError(source, "wavenumbers must be positive")
        return 1e7 / wl, None if fw is None else 1e7 * fw / wl**2, None
    note = None
    if unit in _UNIT_FACTORS:
        factor = _UNIT_FACTORS[unit]
    elif unit in _UNKNOWN_UNITS:
        factor = 1.0
        if wl is not None and wl.size and np.nanmax(wl) < 30.0:
            factor = 1000.0
            note = "wavelength units not given; values < 30 read as micrometres"
    else:
        raise CubeReadError(source, f"unknown wavelength units {units!r}")
    return None if wl is None else wl * factor, None if fw is None else fw * factor, note


def _numbers(values: Sequence[Any], source: object, what: str) -> np.ndarray:
    try:
        arr = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        bad = next((v for v in values if not _is_number(v)), values)
        raise CubeReadError(source, f"{what} value {bad!r} is not a number") from None
    if not np.all(np.isfinite(arr)):
        raise CubeReadError(source, f"{what} values contain NaN or infinite values")
    return arr


def check_distinct(wavelengths_nm: np.ndarray, source: object) -> str | None:
    """Refuse repeated wavelengths (two bands cannot sit at one wavelength: a broken header, and resampling
    would divide by a zero spacing); return a note when distinct ones are not increasing, which is allowed."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    values, counts = np.unique(np.round(wl, 6), return_counts=True)
    if values.size < wl.size:
        top, shared = int(np.argmax(counts)), int(counts[counts > 1].sum())
        raise CubeReadError(source, f"wavelengths must be distinct, but {shared} of {wl.size} bands share a value "
                            f"({values[top]:g} nm ×{counts[top]})")
    step = np.diff(wl)
    if step.size and np.any(step < 0):
        i = int(np.argmax(step < 0)) + 1
        return f"wavelengths are not increasing (band {i} at {wl[i]:g} nm follows {wl[i - 1]:g} nm)"
    return None


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def check_band_count(wavelengths: np.ndarray, n_bands: int, source: object, what: str = "wavelengths") -> None:
    if wavelengths.size != n_bands:
        raise CubeReadError(source, f"{wavelengths.size} {what} for {n_bands} bands")


def sidecar_path(path: Path) -> Path | None:
    """``<name>.wavelengths.txt`` or ``.csv`` beside a cube (name without its extension)."""
    path = Path(path)
    stems = {path.with_suffix("").name, path.name}
    for stem in stems:
        for ext in (".wavelengths.txt", ".wavelengths.csv"):
            cand = path.with_name(stem + ext)
            if cand.is_file():
                return cand
    return None


def read_sidecar(path: Path) -> np.ndarray:
    """Read a wavelength sidecar: numbers one per line or separated by commas/spaces.

    A CSV with a header uses the column whose name starts with ``wavelength`` (or ``wl``/``lambda``);
    a two-column table without one uses the second column when the first counts bands.
    """
    if Path(path).stat().st_size > MAX_SIDECAR_BYTES:
        raise CubeReadError(path, "wavelength sidecar is too large to hold one wavelength per band")
    text = Path(path).read_text(errors="replace")
    rows = [r for r in (re.split(r"[,;\t ]+", line.strip()) for line in text.splitlines()) if r and r != [""]]
    if not rows:
        raise CubeReadError(path, "wavelength sidecar is empty")
    header = None
    if not all(_is_number(v) for v in rows[0]):
        header, rows = [h.lower() for h in rows[0]], rows[1:]
    col = 0
    if header is not None:
        named = [i for i, h in enumerate(header) if h.startswith(("wavelength", "wl", "lambda"))]
        col = named[0] if named else len(header) - 1
    elif rows and len(rows[0]) == 2:
        first = [float(r[0]) for r in rows if _is_number(r[0])]
        if first == list(range(len(rows))) or first == list(range(1, len(rows) + 1)):
            col = 1
    if all(len(r) == 1 for r in rows) or (header is None and len(rows) == 1):
        values: list[str] = [v for r in rows for v in r]
    else:
        try:
            values = [r[col] for r in rows]
        except IndexError:
            raise CubeReadError(path, "wavelength sidecar has rows of different lengths") from None
    unit = None
    if header is not None:
        m = re.search(r"\((\w+)\)|_(nm|um)$", header[col])
        unit = next((g for g in (m.groups() if m else ()) if g), None)
    arr, _ = to_nanometres(values, unit, path)
    return arr


def preset_for(n_bands: int) -> tuple[str, np.ndarray] | None:
    return SENSOR_PRESETS.get(int(n_bands))
