"""One check of a cube's values before any model work: is this reflectance a model can be trusted on?

The models were trained on reflectance (0–1). A ViT will still call raw camera counts, a frame of zeros, a
byte-swapped file or a 2×2 crop "healthy" with p = 1.00, so the CLI (`explain`, batch), the Explain dock and the
Fine-tune dock run this first, on a strided sample (`cube.strided_sample`: a memory-mapped scan is never read
whole), before a model is loaded or torch imported. It refuses (`InputRefused`, one line naming the file):

- frames too small to explain, and line-scan frames (one line of a push-broom camera);
- cubes without a finite value, and constant ones (all zero, a blank frame);
- raw counts: integer values far above 1 with no reflectance scale factor (the reader applies one when the
  header has it, and calibrates with white and dark references it finds; when references with other names sit
  beside the cube, the message names them);
- values that are not reflectance: more than 5 % of them outside −0.5…1.5 (a wrong byte order, reflectance in
  percent, counts stored as floats).

A cube in which no sampled pixel looks like vegetation (NDVI) is explained with a note that its class means
nothing: a rock or a calibration frame is otherwise called "healthy" with p ≈ 1.

It reads integer data as reflectance × 10 000 (a common product with no scale-factor line) when the 99th
percentile is at most 10 000 and the leaf pixels, divided by 10 000, look like vegetation, and says so in a
note. Counts are refused rather than explained with a warning: a confident class for data the model never saw
would be read as an answer. No torch, Qt or napari here.
"""

from __future__ import annotations

import functools
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .cube import Cube, strided_sample
from .errors import InputRefused

CHECKED = "input_check"  # Cube.metadata key: the notes of a cube already checked (checking twice costs nothing)
CHECK_VALUES = 250_000  # values sampled: enough for percentiles, a few ms
MIN_SIDE = 4  # pixels: the leaf mask's 3 × 3 cleaning leaves nothing of a narrower frame
LINE_SCAN_SIDE = 32  # a frame this long one way and under MIN_SIDE the other is a line of a push-broom scan
PLAUSIBLE = (-0.5, 1.5)  # reflectance, with room for noise below 0 and specular highlights above 1
MAX_OUTSIDE = 0.05  # share of values outside PLAUSIBLE beyond which a cube is not reflectance
X10K = 10_000.0
# leaf pixels of reflectance: NIR plateau and red (medians over the vegetation mask), NDVI
LEAF_NIR = (0.25, 0.9)
LEAF_RED_MAX = 0.2
LEAF_NDVI_MIN = 0.4
LEAF_MIN_PIXELS = 16
MASK_SIDE = 256  # the vegetation test reads every s-th row and column, at most this many of each
VEGETATION_NDVI = 0.3  # above bare soil, rock, panels and trays (≤ 0.25); a leaf, even a diseased one, has such pixels


def check_input(cube: Cube, name: str | os.PathLike | None = None) -> Cube:
    """The cube to explain or train on, or `InputRefused` saying why not (named `name`, else its source).

    Returns a cube whose `input_notes` say what was assumed (a copy: the data are divided by 10 000 when
    read as reflectance × 10 000); the caller's cube is never changed.
    """
    if CHECKED in cube.metadata:
        return cube
    label = str(name or cube.source or "the cube")
    _check_shape(cube, label)
    sample = strided_sample(cube.data, CHECK_VALUES)
    partial = sample.size < int(np.prod(cube.shape))
    with np.errstate(invalid="ignore"):  # a byte-swapped float file holds signalling NaNs
        values = np.asarray(sample, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InputRefused(label, "the cube holds no finite values (all NaN or infinite)" +
                           (" in a sample of it" if partial else ""))
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        what = "every value" + (f" of a {values.size}-value sample" if partial else "")
        kind = "an empty (all-zero) frame" if lo == 0 else "a constant frame"
        raise InputRefused(label, f"{what} is {lo:g}: {kind} holds nothing to explain")
    p1, p99 = (float(v) for v in np.percentile(values, [1, 99]))
    notes: list[str] = []
    data = cube.data
    integral = np.dtype(cube.data.dtype).kind in "iub" or bool(np.all(values == np.round(values)))
    if integral and p99 > PLAUSIBLE[1]:
        why = _why_not_x10k(cube, p99)
        if why:
            raise InputRefused(label, _counts_message(cube, hi, why))
        data = _scaled(cube.data, 1.0 / X10K)
        notes.append(f"read as reflectance × 10 000 ({cube.data.dtype} values, 99th percentile {p99:g}, no "
                     "reflectance scale factor; its leaf pixels divided by 10 000 look like vegetation): divided "
                     "by 10 000. If these are raw counts, calibrate them to reflectance first")
        values, lo, hi, p1, p99 = values / X10K, lo / X10K, hi / X10K, p1 / X10K, p99 / X10K
    outside = float(np.mean((values < PLAUSIBLE[0]) | (values > PLAUSIBLE[1])))
    if outside > MAX_OUTSIDE:
        raise InputRefused(label, f"not reflectance: {outside:.0%} of the values lie outside "
                           f"{PLAUSIBLE[0]:g}…{PLAUSIBLE[1]:g} (1st–99th percentile {p1:.3g} to {p99:.3g}, "
                           f"reflectance is 0–1); {_hint(cube, values)}")
    if outside > 0:
        notes.append(f"{outside:.2%} of the values lie outside {PLAUSIBLE[0]:g}…{PLAUSIBLE[1]:g} (from {lo:.3g} "
                     f"to {hi:.3g}); they are explained as they are")
    if data is cube.data and _vegetation_pixels(data, cube.wavelengths_nm, cube.shape) == 0:  # × 10 000 saw leaves
        notes.append(f"no pixel looks like a leaf (none of the sampled pixels has NDVI ≥ {VEGETATION_NDVI:g}): the "
                     "model was trained on leaves, so its class for this cube (a rock, a panel, a calibration "
                     "frame?) means nothing")
    meta = {**cube.metadata, CHECKED: notes}
    return replace(cube, data=data, metadata=meta, notes=list(cube.notes) + notes)


def _vegetation_pixels(data: Any, wavelengths_nm: Any, shape: tuple[int, int, int]) -> int:
    """Sampled pixels (on a grid of at most MASK_SIDE² points) whose NDVI says vegetation; -1 without NDVI bands."""
    from .vegetation import covers_ndvi, ndvi

    if not covers_ndvi(wavelengths_nm):
        return -1
    return int((ndvi(_grid_view(data, shape), wavelengths_nm) >= VEGETATION_NDVI).sum())


def _grid_view(data: Any, shape: tuple[int, int, int]) -> Any:
    """Every s-th row and column, at most MASK_SIDE of each: a view of a memory map or a lazy array, nothing read."""
    s = max(1, int(np.ceil(max(shape[1:]) / MASK_SIDE)))
    return data[:, ::s, ::s]


def input_notes(cube: Cube) -> list[str]:
    """What `check_input` assumed about this cube ([] when nothing, or when it was not checked)."""
    return list(cube.metadata.get(CHECKED, []))


def _check_shape(cube: Cube, label: str) -> None:
    _, h, w = cube.shape
    if min(h, w) >= MIN_SIDE:
        return
    if max(h, w) >= LINE_SCAN_SIDE:
        raise InputRefused(label, f"a {h} × {w}-pixel frame is one line of a line-scan (push-broom) camera, not an "
                           f"image: explain the scanned cube, its lines stacked (at least {MIN_SIDE} × {MIN_SIDE})")
    raise InputRefused(label, f"{h} × {w} pixels is too small to explain (at least {MIN_SIDE} × {MIN_SIDE})")


def _why_not_x10k(cube: Cube, p99: float) -> str:
    """Why integer values cannot be reflectance × 10 000 ("" when they can)."""
    from .vegetation import covers_ndvi, leaf_mask, red_nir

    if p99 > X10K:
        return f"99th percentile {p99:g}, above reflectance × 10 000; or a wrong byte order in the header"
    if not covers_ndvi(cube.wavelengths_nm):
        return "without red and NIR bands, reflectance × 10 000 cannot be told from counts"
    view = _grid_view(cube.data, cube.shape)
    mask = leaf_mask(view, cube.wavelengths_nm)
    if mask.sum() < LEAF_MIN_PIXELS:
        return "no vegetation found to tell reflectance × 10 000 from counts"
    red, nir = red_nir(view, cube.wavelengths_nm)
    r, n = float(np.median(red[mask])) / X10K, float(np.median(nir[mask])) / X10K
    ndvi = (n - r) / max(n + r, 1e-12)
    if LEAF_NIR[0] <= n <= LEAF_NIR[1] and r <= LEAF_RED_MAX and ndvi >= LEAF_NDVI_MIN:
        return ""
    return f"divided by 10 000 its leaf pixels do not look like vegetation (red {r:.3f}, NIR {n:.3f})"


def _counts_message(cube: Cube, hi: float, why: str) -> str:
    refs = references_beside(cube.source)
    if refs is not None:
        white, dark = refs
        fix = (f"white and dark references sit beside it ({white.name}, {dark.name}): calibrate with "
               f"`napari-focus explain {cube.source} --white {white} --dark {dark}`, or name them "
               f"WHITEREF_<name>.hdr and DARKREF_<name>.hdr so the reader calibrates it on opening")
    else:
        fix = ("calibrate it to reflectance first (with white and dark references), or add 'reflectance scale "
               "factor = N' to its header if it is reflectance × N")
    return (f"raw counts, not reflectance ({cube.data.dtype} values up to {hi:g}, no reflectance scale factor; "
            f"{why}): {fix}")


def references_beside(source: str | os.PathLike | None) -> tuple[Path, Path] | None:
    """A white and a dark reference header beside a cube file (names holding 'white' and 'dark'), if both are
    there: what a raw capture needs to become reflectance (`cube_io.read_cube(path, white=, dark=)`)."""
    if not source:
        return None
    path = Path(source)
    try:
        headers = [p for p in sorted(path.parent.glob("*.hdr")) if p.name != path.with_suffix(".hdr").name]
    except OSError:
        return None
    white = [p for p in headers if "white" in p.stem.lower()]
    dark = [p for p in headers if "dark" in p.stem.lower()]
    return (white[0], dark[0]) if white and dark else None


def _hint(cube: Cube, values: np.ndarray) -> str:
    """The likeliest cause of values that are not reflectance, as a question."""
    mags = np.abs(values[values != 0])
    p1, p99 = np.percentile(values, [1, 99])
    if np.dtype(cube.data.dtype).kind == "f" and mags.size and (mags.max() > 1e6 or mags.min() < 1e-30):
        return "a wrong byte order in the header?"
    if 10.0 < p99 <= 100.0 and p1 >= -1.0:
        return "reflectance in percent (divide by 100), or a missing reflectance scale factor?"
    if p1 < PLAUSIBLE[0]:
        return "negative values: a wrong dark reference or offset?"
    return "a wrong byte order or a missing reflectance scale factor?"


def _times(block: np.ndarray, factor: float) -> np.ndarray:
    return block.astype(np.float32) * np.float32(factor)


def _scaled(data: Any, factor: float) -> Any:
    """`data` × factor as float32: at once for an array in memory, lazily (band by band) for a memory map."""
    if hasattr(data, "dask"):
        return _times(data, factor)
    if isinstance(data, np.ndarray) and not isinstance(data, np.memmap):
        return _times(data, factor)
    from .cube_io.envi import lazy_bands

    return lazy_bands(data, functools.partial(_times, factor=factor))


def add_input_notes(result: Any, cube: Cube) -> Any:
    """Put what the check assumed first among an explanation's notes (prediction.json, the dock's status)."""
    result.notes = input_notes(cube) + [n for n in result.notes if n not in input_notes(cube)]
    return result
