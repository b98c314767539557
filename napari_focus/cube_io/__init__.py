"""Read hyperspectral cubes from files: one entry point, `read_cube`, for every format.

`claims` answers "is this ours?" from the path alone (no reads), so the napari reader can return
None for what it does not claim. Every failure is a `CubeReadError` naming the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..cube import Cube, strided_sample
from ..errors import CubeReadError
from .envi import DATA_EXTENSIONS, header_for, lazy_bands, path_problem, read_envi, write_envi
from .peek import why_not_a_cube
from .wavelengths import check_distinct, preset_for, read_sidecar

__all__ = ["read_cube", "claims", "write_envi", "CubeReadError", "EXTENSIONS"]

TIFF_EXT = (".tif", ".tiff")
ARRAY_EXT = (".npy", ".npz", ".h5", ".hdf5", ".he5", ".mat")
EXTENSIONS = (".hdr",) + tuple(e for e in DATA_EXTENSIONS if e) + TIFF_EXT + ARRAY_EXT
FINITE_CHECK_VALUES = 1_000_000


def claims(path: str | os.PathLike) -> bool:
    """Whether this plugin should try to read `path`: from its name and neighbours, and for TIFF and `.npy` from
    its header (ordinary images are left to napari's own reader)."""
    p = Path(path)
    if p.is_dir():
        return (p / "capture").is_dir()
    ext = p.suffix.lower()
    if ext in (".hdr",) + TIFF_EXT + ARRAY_EXT:
        return why_not_a_cube(p) is None
    if ext in DATA_EXTENSIONS:  # ENVI data file: ours only with a header beside it
        return header_for(p) is not None
    return False


def read_cube(
    path: str | os.PathLike,
    *,
    band_axis: int | None = None,
    array_name: str | None = None,
    wavelengths_name: str | None = None,
    wavelengths_nm: Any = None,
    white: str | os.PathLike | None = None,
    dark: str | os.PathLike | None = None,
) -> Cube:
    """Read any supported cube as a band-first `Cube` with wavelengths in nm where they can be known.

    Wavelengths come from the file, else a sidecar ``<name>.wavelengths.txt/.csv``, else a sensor
    preset that the band count identifies (noted), else none. ``wavelengths_nm`` overrides all.
    """
    from . import arrays, specim, tiff

    p = Path(path)
    if not p.exists():
        raise CubeReadError(p, path_problem(p))
    if p.is_file() and p.stat().st_size == 0:
        raise CubeReadError(p, "the file is empty")
    ext = p.suffix.lower()
    if p.is_dir() or white is not None or dark is not None or (
            ext in (".hdr",) + DATA_EXTENSIONS and specim.references_for(p) is not None):
        cube = specim.read_specim(p, None if white is None else Path(white), None if dark is None else Path(dark))
    elif ext == ".hdr" or (ext in DATA_EXTENSIONS and header_for(p) is not None):
        cube = read_envi(p)
    elif ext in TIFF_EXT:
        cube = tiff.read_tiff(p, band_axis)
    elif ext == ".npy":
        cube = arrays.read_npy(p, band_axis)
    elif ext == ".npz":
        cube = arrays.read_npz(p, band_axis, array_name, wavelengths_name)
    elif ext in (".h5", ".hdf5", ".he5"):
        cube = arrays.read_h5(p, band_axis, array_name, wavelengths_name)
    elif ext == ".mat":
        cube = arrays.read_mat(p, band_axis, array_name, wavelengths_name)
    elif ext and ext in DATA_EXTENSIONS:
        raise CubeReadError(p, f"a raw data file without its ENVI header (looked for {p.with_suffix('.hdr').name} "
                            f"and {p.name}.hdr)")
    else:
        raise CubeReadError(p, f"unsupported file type {ext or '(no extension)'!r}")
    _fill_wavelengths(cube, p, wavelengths_nm)
    if cube.wavelengths_nm is not None and (note := check_distinct(cube.wavelengths_nm, cube.source or p)):
        cube.notes.append(note)
    _check_values(cube)
    return cube


def _fill_wavelengths(cube: Cube, path: Path, given: Any) -> None:
    from .wavelengths import check_band_count, sidecar_path

    if given is not None:
        wl = np.asarray(given, dtype=float).ravel()
        check_band_count(wl, cube.n_bands, path)
        cube.wavelengths_nm = wl
        return
    if cube.wavelengths_nm is not None:
        return
    side = sidecar_path(path)
    if side is not None:
        wl = read_sidecar(side)
        check_band_count(wl, cube.n_bands, side)
        cube.wavelengths_nm = wl
        cube.notes.append(f"wavelengths from {side.name}")
        return
    preset = preset_for(cube.n_bands)
    if preset is not None:
        name, wl = preset
        cube.wavelengths_nm = wl.copy()
        cube.notes.append(f"no wavelengths in the file: assumed {name} from the band count")


def _check_values(cube: Cube) -> None:
    """Refuse cubes with no finite values; turn ±Inf into NaN (on a strided sample for large cubes)."""
    data = cube.data
    if min(data.shape) == 0:
        raise CubeReadError(cube.source, f"the cube has an empty axis {tuple(data.shape)}")
    if np.dtype(data.dtype).kind not in "biufc":
        raise CubeReadError(cube.source, f"the cube holds {data.dtype} values, not numbers")
    if getattr(data.dtype, "kind", "f") not in "fc":
        return
    sample = strided_sample(data, FINITE_CHECK_VALUES)
    if not np.isfinite(sample).any():
        raise CubeReadError(cube.source, "the cube holds no finite values (all NaN or infinite)")
    if np.isinf(sample).any():
        cube.data = _inf_to_nan(data)
        cube.notes.append("infinite values replaced by NaN")


def _inf_to_nan(data: Any) -> Any:
    if isinstance(data, np.ndarray) and not isinstance(data, np.memmap) and data.flags.writeable:
        data[np.isinf(data)] = np.nan
        return data
    if isinstance(data, np.ndarray) and data.nbytes <= (1 << 30):
        arr = np.array(data)
        arr[np.isinf(arr)] = np.nan
        return arr
    import dask.array as da

    lazy = data if isinstance(data, da.Array) else lazy_bands(data)
    return da.where(da.isinf(lazy), np.nan, lazy)
