"""npe2 writer: an image layer with a band axis → ENVI ``.hdr`` + ``.img`` with its wavelengths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .cube_io import write_envi
from .errors import FocusError


def write_envi_layer(path: str, data: Any, meta: dict) -> list[str]:
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise FocusError(f"ENVI export needs a (bands, y, x) image layer; this one is {arr.ndim}-D {arr.shape}")
    md = dict(meta.get("metadata") or {})
    hdr = write_envi(
        path,
        arr,
        wavelengths_nm=md.get("wavelengths_nm"),
        fwhm_nm=md.get("fwhm_nm"),
        good_bands=md.get("bbl"),
        metadata={"description": f"napari-focus export of layer {meta.get('name', '')!s}"},
    )
    return [str(hdr), str(Path(hdr).with_suffix(".img"))]
