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
MAX_INFLATION = 1100  # deflate expands at most ~1032:1: a file cannot hold more pixels than this many times its size


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
    except Exception as exc:  # damaged files raise many types (BadZipFile, TokenError, SyntaxError, ...)
        raise CubeReadError(path, f"not a readable NumPy .npy file ({exc})") from None
    return _finish(path, "npy", arr, None, 0, band_axis, "")


def read_npz(path: Path, band_axis: int | None = None, array_name: str | None = None,
             wavelengths_name: str | None = None) -> Cube:
    check_npz_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            named = {k: z[k] for k in z.files}
    except Exception as exc:  # damaged files raise many types (BadZipFile, zlib.error, TokenError, ...)
        raise CubeReadError(path, f"not a readable NumPy .npz file ({exc})") from None
    return _from_named(path, "npz", named, 0, band_axis, array_name, wavelengths_name)


def check_npz_sizes(path: Path) -> None:
    """Refuse a member whose .npy header claims more bytes than the zip holds for it.

    numpy allocates the declared shape before reading a zip member, so a lying header of a few bytes
    could ask for terabytes; deflate expands at most ~1032:1, stored members not at all.
    """
    import zipfile

    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0, (3, 0): fmt.read_array_header_2_0}
    try:
        zf = zipfile.ZipFile(path)
    except Exception:  # not a zip: numpy says so below
        return
    with zf:
        for info in zf.infolist():
            try:
                with zf.open(info) as fh:
                    shape, _, dtype = readers[fmt.read_magic(fh)](fh)
            except Exception:  # not an .npy member, or a damaged one: numpy reports it when loading
                continue
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            room = info.file_size if info.compress_type != zipfile.ZIP_DEFLATED else min(
                info.file_size, info.compress_size * MAX_INFLATION)
            if need > room:
                raise CubeReadError(path, f"array {info.filename!r} claims {need} bytes but the file holds {room}")


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
    if wl is not None and int(np.prod(getattr(wl[1], "shape", ()), dtype=object)) > max(arr.shape, default=0):
        raise CubeReadError(path, f"wavelength array {wl[0]!r} {tuple(wl[1].shape)} is longer than every axis "
                            f"of the cube {tuple(arr.shape)}")
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

    what = "MATLAB v7.3" if matlab else "HDF5"
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # damaged files raise OSError, RuntimeError, ...
        raise CubeReadError(path, f"not a readable {what} file ({exc})") from None
    try:
        named = {k: v for k, v in _h5_datasets(f).items() if not k.startswith("#")}
        key, ds, wl = _select(path, named, array_name, wavelengths_name)
        size = Path(path).stat().st_size
        if ds.nbytes > size * MAX_INFLATION and not (ds.is_virtual or ds.external):
            raise CubeReadError(path, f"dataset {key!r} declares {ds.nbytes} bytes, more than this {size}-byte file "
                                "can hold (unwritten or lying)")
        if ds.nbytes <= EAGER_BYTES:
            arr: Any = ds[()]
            f.close()
        else:  # stays open for the lazy array's lifetime
            import dask.array as da

            arr = da.from_array(ds, chunks="auto")
    except CubeReadError:
        f.close()
        raise
    except Exception as exc:  # a damaged object header, heap or chunk: OSError, RuntimeError, KeyError, ...
        f.close()
        raise CubeReadError(path, f"damaged {what} file ({type(exc).__name__}: {exc})") from None
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
    check_mat5_layout(path, head)
    try:
        named = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    except Exception as exc:  # damaged files raise many types (MatReadError, IndexError, zlib.error, ...)
        raise CubeReadError(path, f"not a readable MATLAB .mat file ({exc})") from None
    named = {k: (np.ravel(v) if isinstance(v, np.ndarray) and v.ndim == 2 and 1 in v.shape else v)
             for k, v in named.items()}
    return _from_named(path, "mat", named, 2, band_axis, array_name, wavelengths_name)


MAT5_MATRIX, MAT5_COMPRESSED, MAT5_MAX_DEPTH = 14, 15, 32
MAT5_TYPES = frozenset(range(1, 19)) - {8, 10, 11}  # miINT8 = 1 ... miUTF32 = 18; 8, 10, 11 are reserved


def check_mat5_layout(path: Path, head: bytes) -> None:
    """Refuse a v5 MAT file with an unknown element type or an element larger than its container.

    scipy's compiled reader trusts both and can crash the process (a segfault, found by fuzzing: one
    flipped byte in an element's type code); a file without such damage is left to scipy.
    """
    import mmap
    import struct
    import zlib

    if len(head) < 128 or head[126:128] not in (b"IM", b"MI"):
        return  # not v5 (v4 or garbage): scipy refuses it cleanly
    order = "<" if head[126:128] == b"IM" else ">"
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            _walk_mat5(buf, 128, len(buf), order, 0, zlib)
    except zlib.error as exc:
        raise CubeReadError(path, f"damaged compressed MATLAB variable ({exc})") from None
    except (ValueError, OSError, struct.error) as exc:
        raise CubeReadError(path, f"damaged MATLAB .mat file: {exc}") from None


def _walk_mat5(buf: Any, start: int, end: int, order: str, depth: int, zlib: Any) -> int:
    """Check the elements in ``buf[start:end]``; returns how many there are."""
    import struct

    if depth > MAT5_MAX_DEPTH:
        raise ValueError(f"variables nested deeper than {MAT5_MAX_DEPTH} levels")
    pos, count = start, 0
    while pos + 8 <= end:
        mtype, nbytes = struct.unpack_from(order + "II", buf, pos)
        count += 1
        if mtype & 0xFFFF not in MAT5_TYPES:
            raise ValueError(f"element at byte {pos} has unknown data type {mtype & 0xFFFF}")
        if mtype >> 16:  # small data element: type and size share the tag, data in the next 4 bytes
            if mtype >> 16 > 4:
                raise ValueError(f"small data element at byte {pos} claims {mtype >> 16} bytes")
            pos += 8
            continue
        body, stop = pos + 8, pos + 8 + nbytes
        if stop > end:
            raise ValueError(f"element at byte {pos} claims {nbytes} bytes, past the end of its container")
        if mtype == MAT5_MATRIX:
            parts = _walk_mat5(buf, body, stop, order, depth + 1, zlib)
            flags = struct.unpack_from(order + "I", buf, body + 8)[0] if nbytes >= 16 else 0
            # numeric classes: flags, dims, name, real part and, when complex, an imaginary part
            if 6 <= flags & 0xFF <= 15 and parts < 4 + bool(flags & 0x800):
                part = "imaginary" if parts == 4 else "data"
                raise ValueError(f"numeric variable at byte {pos} lacks its {part} part")
        elif mtype == MAT5_COMPRESSED:
            inner = zlib.decompress(buf[body:stop])
            _walk_mat5(inner, 0, len(inner), order, depth + 1, zlib)
        pos = stop if mtype == MAT5_COMPRESSED else stop + (-nbytes) % 8
    return count
