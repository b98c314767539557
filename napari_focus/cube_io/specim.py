"""Specim captures: raw DN cubes calibrated to reflectance with their white and dark references.

A Specim IQ capture folder looks like ``NAME/capture/{NAME,WHITEREF_NAME,DARKREF_NAME}.hdr`` (+ data)
with an already-calibrated ``NAME/results/REFLECTANCE_NAME.hdr``. A raw cube with ``WHITEREF_``/
``DARKREF_`` siblings is calibrated as ``(raw − dark) / (white − dark)``, the references averaged over
their lines (a white panel is scanned for a few lines), column by column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..cube import Cube
from ..errors import CubeReadError
from .envi import header_for, read_envi


def capture_parts(folder: Path) -> dict[str, Path] | None:
    """The headers of a Specim capture folder, or None when it is not one."""
    folder = Path(folder)
    cap = folder / "capture"
    if not cap.is_dir():
        return None
    parts: dict[str, Path] = {}
    refl = sorted((folder / "results").glob("REFLECTANCE_*.hdr")) if (folder / "results").is_dir() else []
    if refl:
        parts["reflectance"] = refl[0]
    raws = [h for h in sorted(cap.glob("*.hdr")) if not h.name.upper().startswith(("WHITEREF_", "DARKREF_"))]
    if raws:
        parts["raw"] = raws[0]
        parts.update(references_for(raws[0]) or {})
    return parts or None


def references_for(raw_hdr: Path) -> dict[str, Path] | None:
    """``WHITEREF_<name>.hdr`` and ``DARKREF_<name>.hdr`` beside a raw cube, if both exist."""
    raw_hdr = header_for(Path(raw_hdr)) or Path(raw_hdr)
    white = raw_hdr.with_name("WHITEREF_" + raw_hdr.name)
    dark = raw_hdr.with_name("DARKREF_" + raw_hdr.name)
    if white.is_file() and dark.is_file():
        return {"white": white, "dark": dark}
    return None


def _reference_profile(ref: Cube, raw: Cube, what: str) -> np.ndarray:
    """Mean over lines → (C, 1, W), checked against the raw cube's bands and samples."""
    c, _, w = raw.shape
    if ref.shape[0] != c or ref.shape[2] != w:
        raise CubeReadError(ref.source, f"{what} reference is {ref.shape} (C, lines, samples); "
                            f"the raw cube needs {c} bands and {w} samples")
    return np.asarray(ref.data, dtype=np.float32).mean(axis=1, keepdims=True)


def calibrate(raw: Cube, white: Cube, dark: Cube) -> Cube:
    """Reflectance = (raw − dark) / (white − dark); pixels where white ≤ dark become NaN."""
    w = _reference_profile(white, raw, "white")
    d = _reference_profile(dark, raw, "dark")
    denom = w - d
    denom[denom <= 0] = np.nan
    data = (np.asarray(raw.data, dtype=np.float32) - d) / denom
    notes = raw.notes + [f"calibrated to reflectance with {Path(str(white.source)).name} and "
                         f"{Path(str(dark.source)).name}: (raw − dark) / (white − dark)"]
    meta: dict[str, Any] = dict(raw.metadata, calibration={"white": white.source, "dark": dark.source})
    return Cube(data=data, wavelengths_nm=raw.wavelengths_nm, fwhm_nm=raw.fwhm_nm, good_bands=raw.good_bands,
                metadata=meta, source=raw.source, format="specim", notes=notes)


def read_specim(path: Path, white: Path | None = None, dark: Path | None = None) -> Cube:
    """A capture folder, or a raw cube with references (found beside it or given by the user)."""
    path = Path(path)
    if path.is_dir():
        parts = capture_parts(path)
        if parts is None:
            raise CubeReadError(path, "a folder that is not a Specim capture (no capture/ subfolder)")
        if "reflectance" in parts and white is None and dark is None:
            cube = read_envi(parts["reflectance"])
            cube.format = "specim"
            cube.notes.append("Specim capture: the camera's own reflectance cube (results/)")
            return cube
        if "raw" not in parts:
            raise CubeReadError(path, "Specim capture has no raw cube in capture/")
        path = parts["raw"]
        white = white or parts.get("white")
        dark = dark or parts.get("dark")
    if white is None or dark is None:
        refs = references_for(path)
        if refs is None:
            raise CubeReadError(path, "no WHITEREF_/DARKREF_ references beside the raw cube; pick them by hand")
        white, dark = white or refs["white"], dark or refs["dark"]
    return calibrate(read_envi(path), read_envi(white), read_envi(dark))
