"""NumPy (.npy/.npz), HDF5 (.h5) and MATLAB (.mat v5 and v7.3) cubes.

The cube and its wavelengths are found by common names, or by the names a user gives. Nothing is
unpickled (`allow_pickle=False`); HDF5 datasets are read lazily when large.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..cube import Cube
from ..errors import CubeReadError
from .axes import band_axis_of, to_band_first

CUBE_NAMES = ("cube", "data", "image", "img", "hsi", "hypercube", "reflectance", "radiance", "x", "array")
WAVELENGTH_NAMES = ("wavelengths_nm", "wavelengths", "wavelength", "wl", "wavelength_nm", "lambda", "lambdas", "bands")
EAGER_BYTES = 1 << 30


def _pick(named: dict[str, Any], names: tuple[str, ...], want_ndim: int, user: str | None,
          path: Path, what: str) -> tuple[str, Any] | None:
    if user is not None:
        if user not in named:
            raise CubeReadError(path, f"no {what} named {user!r} (has: {', '.join(sorted(named)) or 'nothing'})")
        return user, named[user]
    lower = {k.lower().split("/")[-1]: k for k in named}
    for n in names:
        if n in lower and len(getattr(named[lower[n]], "shape", ())) == want_ndim:
            return lower[n], named[lower[n]]
    cands = [(k, v) for k, v in named.items() if len(getattr(v, "shape", ())) == want_ndim]
    if want_ndim == 3 and cands:
        return max(cands, key=lambda kv: int(np.prod(kv[1].shape)))
    return None


def _finish(path: Path, fmt: str, arr: Any, wl: Any, default_axis: int, band_axis: int | None,
            key: str) -> Cube:
    notes: list[str] = []
    wl_arr = None if wl is None else np.asarray(wl, dtype=np.float64).ravel()
    if band_axis is None:
        band_axis = band_axis_of(tuple(arr.shape), None if wl_arr is None else wl_arr.size, default_axis, path, notes)
    else:
        band_axis_of(tuple(arr.shape), None, band_axis, path, [])
    data = to_band_first(arr, band_axis)
    meta: dict[str, Any] = {"array_name": key}
    return Cube(data=data, wavelengths_nm=wl_arr, source=str(path), format=fmt, metadata=meta, notes=notes)


def read_npy(path: Path, band_axis: int | None = None) -> Cube:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CubeReadError(path, f"not a readable NumPy .npy file ({exc})") from None
    return _finish(path, "npy", arr, None, 0, band_axis, "")


def read_npz(path: Path, band_axis: int | None = None, array_name: str | None = None,
             wavelengths_name: str | None = None) -> Cube:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            named = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CubeReadError(path, f"not a readable NumPy .npz file ({exc})") from None
    return _from_named(path, "npz", named, 0, band_axis, array_name, wavelengths_name)


def _select(path: Path, named: dict[str, Any], array_name: str | None,
            wavelengths_name: str | None) -> tuple[str, Any, np.ndarray | None]:
    """The cube array (key, array-like) and the wavelength values among named arrays."""
    cube = _pick(named, CUBE_NAMES, 3, array_name, path, "array")
    if cube is None:
        shapes = ", ".join(f"{k} {tuple(getattr(v, 'shape', ()))}" for k, v in named.items()) or "nothing"
        raise CubeReadError(path, f"no 3-D array found (has: {shapes})")
    key, arr = cube
    if hasattr(arr, "dtype") and arr.dtype.kind not in "biuf":
        raise CubeReadError(path, f"array {key!r} has dtype {arr.dtype}, not numbers")
    wl = _pick(named, WAVELENGTH_NAMES, 1, wavelengths_name, path, "wavelength array")
    wl_values = None if wl is None else np.asarray(wl[1][()]).ravel()
    if wl_values is not None and wl_values.dtype.kind not in "biuf":
        raise CubeReadError(path, f"wavelength array {wl[0]!r} is not numeric")
    return key, arr, wl_values


def _from_named(path: Path, fmt: str, named: dict[str, Any], default_axis: int, band_axis: int | None,
                array_name: str | None, wavelengths_name: str | None) -> Cube:
    key, arr, wl = _select(path, named, array_name, wavelengths_name)
    return _finish(path, fmt, arr, wl, default_axis, band_axis, key)


def _h5_datasets(h5file: Any) -> dict[str, Any]:
    import h5py

    found: dict[str, Any] = {}
    h5file.visititems(lambda name, obj: found.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return found


def read_h5(path: Path, band_axis: int | None = None, array_name: str | None = None,
            wavelengths_name: str | None = None, matlab: bool = False) -> Cube:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CubeReadError(path, f"not a readable {'MATLAB v7.3' if matlab else 'HDF5'} file ({exc})") from None
    named = {k: v for k, v in _h5_datasets(f).items() if not k.startswith("#")}
    key, ds, wl = _select(path, named, array_name, wavelengths_name)
    if ds.nbytes <= EAGER_BYTES:
        arr: Any = ds[()]
        f.close()
    else:  # stays open for the lazy array's lifetime
        import dask.array as da

        arr = da.from_array(ds, chunks="auto")
    if matlab:  # MATLAB stores column-major: h5py sees the axes reversed
        arr = arr.T
    return _finish(path, "mat" if matlab else "h5", arr, wl, 2 if matlab else 0, band_axis, key)


def read_mat(path: Path, band_axis: int | None = None, array_name: str | None = None,
             wavelengths_name: str | None = None) -> Cube:
    import scipy.io

    with open(path, "rb") as fh:
        head = fh.read(128)
    if b"MATLAB 7.3" in head or head[:8] == b"\x89HDF\r\n\x1a\n":
        return read_h5(path, band_axis, array_name, wavelengths_name, matlab=True)
    try:
        named = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    except (ValueError, OSError, NotImplementedError, TypeError) as exc:
        raise CubeReadError(path, f"not a readable MATLAB .mat file ({exc})") from None
    named = {k: (np.ravel(v) if isinstance(v, np.ndarray) and v.ndim == 2 and 1 in v.shape else v)
             for k, v in named.items()}
    return _from_named(path, "mat", named, 2, band_axis, array_name, wavelengths_name)
