"""ENVI cubes through `spectral`: memory-mapped reads and atomic writes.

Reading never copies a large cube: the file is memory-mapped band-first; scaling, byte order and the
ignore value are applied eagerly only for cubes below `EAGER_BYTES`, lazily (dask) above it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cube import Cube
from ..errors import CubeReadError
from .wavelengths import check_band_count, to_nanometres

DATA_EXTENSIONS = ("", ".img", ".raw", ".dat", ".bsq", ".bil", ".bip")
EAGER_BYTES = 1 << 30  # cubes below 1 GiB that need conversion are converted in memory
MAX_HEADER_BYTES = 64 << 20  # spectral reads a header whole; real ones are kilobytes


def header_for(path: Path) -> Path | None:
    """The header of an ENVI cube given the header itself or its data file."""
    path = Path(path)
    if path.suffix.lower() == ".hdr":
        return path
    for cand in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")):
        if cand.is_file():
            return cand
    return None


def data_file_for(hdr: Path) -> Path | None:
    base = hdr.with_suffix("")
    for ext in DATA_EXTENSIONS:
        for e in {ext, ext.upper()}:
            cand = base.with_name(base.name + e)
            if cand.is_file() and cand != hdr:
                return cand
    return None


def _int_field(meta: dict[str, Any], key: str, hdr: Path) -> int:
    if key not in meta:
        raise CubeReadError(hdr, f"ENVI header has no '{key}'")
    try:
        value = int(str(meta[key]).strip())
    except ValueError:
        raise CubeReadError(hdr, f"ENVI header field '{key}' = {meta[key]!r} is not an integer") from None
    if value < 0 or (value == 0 and key != "header offset"):
        raise CubeReadError(hdr, f"ENVI header field '{key}' = {value} is not positive")
    return value


def read_envi(path: str | os.PathLike) -> Cube:
    """Read an ENVI cube (header or data path) as a band-first Cube."""
    import spectral.io.envi as envi

    hdr = header_for(Path(path))
    if hdr is None or not hdr.is_file():
        raise CubeReadError(path, "no ENVI header (.hdr) found beside the data file")
    if hdr.stat().st_size == 0:
        raise CubeReadError(hdr, "the header file is empty")
    if hdr.stat().st_size > MAX_HEADER_BYTES:
        raise CubeReadError(hdr, f"a {hdr.stat().st_size}-byte file is too large to be an ENVI header")
    try:
        meta = envi.read_envi_header(str(hdr))
    except envi.FileNotAnEnviHeader:
        raise CubeReadError(hdr, "not an ENVI header (first line is not 'ENVI')") from None
    except (envi.EnviHeaderParsingError, UnicodeDecodeError, ValueError) as exc:
        raise CubeReadError(hdr, f"ENVI header could not be parsed ({exc})") from None
    samples, lines, bands = (_int_field(meta, k, hdr) for k in ("samples", "lines", "bands"))
    offset = _int_field(meta, "header offset", hdr) if "header offset" in meta else 0
    try:
        dtype = np.dtype(envi.envi_to_dtype[str(meta.get("data type", "")).strip()])
    except KeyError:
        raise CubeReadError(hdr, f"unsupported ENVI data type {meta.get('data type')!r}") from None
    interleave = str(meta.get("interleave", "bsq")).strip().lower()
    if interleave not in ("bsq", "bil", "bip"):
        raise CubeReadError(hdr, f"unknown interleave {interleave!r}")
    data_file = data_file_for(hdr)
    if data_file is None:
        raise CubeReadError(hdr, "the data file named by this header is missing (looked for "
                            + ", ".join(hdr.with_suffix(e or "").name for e in DATA_EXTENSIONS[1:4]) + ", ...)")
    need = offset + samples * lines * bands * dtype.itemsize
    have = data_file.stat().st_size
    if have < need:
        raise CubeReadError(data_file, f"data file is shorter than the header says ({have} bytes, need {need})")
    try:
        img = envi.open(str(hdr), str(data_file))
        raw = img.open_memmap(interleave="bsq", writable=False)
    except Exception as exc:  # spectral raises many types for odd headers
        raise CubeReadError(hdr, f"could not open the ENVI data ({type(exc).__name__}: {exc})") from None

    notes: list[str] = []
    wl = fwhm = good = None
    units = meta.get("wavelength units")
    if "wavelength" in meta:
        wl, note = to_nanometres(_as_list(meta["wavelength"]), units, hdr)
        check_band_count(wl, bands, hdr)
        if note:
            notes.append(note)
    if "fwhm" in meta:
        fwhm, _ = to_nanometres(_as_list(meta["fwhm"]), units if wl is not None else "nm", hdr)
        check_band_count(fwhm, bands, hdr, "fwhm values")
    if "bbl" in meta:
        try:
            good = np.array([float(v) for v in _as_list(meta["bbl"])]) != 0
        except ValueError:
            raise CubeReadError(hdr, "bad band list 'bbl' is not numeric") from None
        check_band_count(good, bands, hdr, "bad-band flags")

    data = _convert(raw, meta, hdr, notes)
    extra = {k: meta[k] for k in ("description", "sensor type", "acquisition time") if k in meta}
    extra["interleave"] = interleave
    return Cube(data=data, wavelengths_nm=wl, fwhm_nm=fwhm, good_bands=good, metadata=extra,
                source=str(hdr), format="envi", notes=notes)


def _as_list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _convert(raw: np.ndarray, meta: dict[str, Any], hdr: Path, notes: list[str]) -> Any:
    """Apply complex magnitude, byte order, reflectance scale and ignore value (eager or lazy)."""
    scale = ignore = None
    if "reflectance scale factor" in meta:
        try:
            scale = float(meta["reflectance scale factor"])
        except (TypeError, ValueError):
            raise CubeReadError(hdr, "'reflectance scale factor' is not a number") from None
        f32 = np.finfo(np.float32)  # the scaled values are float32: scale and 1/scale must fit in it
        if not np.isfinite(scale) or not float(f32.tiny) <= abs(scale) <= float(f32.max):
            raise CubeReadError(hdr, f"'reflectance scale factor' = {scale} is unusable")
    if "data ignore value" in meta:
        try:
            ignore = float(meta["data ignore value"])
        except (TypeError, ValueError):
            raise CubeReadError(hdr, "'data ignore value' is not a number") from None
    is_complex = np.iscomplexobj(raw)
    if is_complex:
        notes.append("complex data: magnitude shown")
    native = raw.dtype.isnative
    if scale is None and ignore is None and native and not is_complex:
        return raw  # zero-copy memory map
    if raw.nbytes <= EAGER_BYTES:
        return _transform(np.asarray(raw), scale, ignore, is_complex)

    return lazy_bands(raw, functools.partial(_transform, scale=scale, ignore=ignore, is_complex=is_complex))


class _Uncopied:
    """An array as dask should see it: `dask.array.from_array` copies any input that has a `.copy()`
    (dask 2026.8), which read a whole memory-mapped scan into memory on open (1.6 GB for a 2000² cube).

    `convert` (scale, byte order, ...) runs inside the read rather than as a dask step after it, so
    dask hands any slice straight to the memory map: a strided sample or a tile reads only its rows,
    not every whole band it crosses (which made opening a scaled 2000² scan take seconds)."""

    def __init__(self, a: Any, convert: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self._a, self._convert, self.shape, self.ndim = a, convert, a.shape, a.ndim
        self.dtype = a.dtype if convert is None else convert(np.asarray(a[(slice(0, 1),) * a.ndim])).dtype

    def __getitem__(self, key: Any) -> np.ndarray:
        out = np.array(self._a[key])
        release_pages(self._a)
        return out if self._convert is None else self._convert(out)


def release_pages(a: Any) -> None:
    """Drop a read-only memory map's pages from this process's resident set. They stay in the page cache
    and fault back in when read again, so a scan read band by band or strip by strip never counts whole
    in RSS (BIL rows interleave every band: reading one band maps nearly the whole file)."""
    import mmap

    mm = getattr(a, "_mmap", None)
    if mm is None or getattr(a, "mode", None) != "r" or mm.closed or not hasattr(mmap, "MADV_DONTNEED"):
        return
    with contextlib.suppress(OSError, ValueError):  # a platform without madvise: RSS just stays higher
        mm.madvise(mmap.MADV_DONTNEED)


def lazy_bands(a: Any, convert: Callable[[np.ndarray], np.ndarray] | None = None) -> Any:
    """A dask array over a (C, H, W) memory map, one band per chunk, reading only what is asked for
    (``convert`` applied to each read)."""
    import dask.array as da

    src = _Uncopied(a, convert)
    return da.from_array(src, chunks=(1,) + tuple(a.shape[1:]), name=False, meta=np.empty((0, 0, 0), src.dtype))


def _transform(block: np.ndarray, scale: float | None, ignore: float | None, is_complex: bool) -> np.ndarray:
    out = np.abs(block) if is_complex else block
    if scale is None and ignore is None:
        return out.astype(out.dtype.newbyteorder("="), copy=False)
    with np.errstate(over="ignore"):  # float64 values beyond float32 become ±inf, as they display anyway
        res = out.astype(np.float32)
    if ignore is not None:
        res[out == ignore] = np.nan
    if scale is not None:
        res /= np.float32(scale)
    return res


def write_envi(
    hdr_path: str | os.PathLike,
    data_chw: Any,
    wavelengths_nm: Any = None,
    fwhm_nm: Any = None,
    metadata: dict[str, Any] | None = None,
    interleave: str = "bsq",
    byteorder: int = 0,
    good_bands: Any = None,
) -> Path:
    """Write a band-first cube as ENVI ``.hdr`` + ``.img`` atomically (temp files, then rename).

    The header records wavelengths in nanometres, so `spectral.open_image` and this plugin's reader
    read it back exactly. A dask array is streamed band block by band block (BSQ only), so a saliency cube
    larger than memory is never held whole.
    """
    import spectral.io.envi as envi

    hdr = Path(hdr_path)
    if hdr.suffix.lower() != ".hdr":
        hdr = hdr.with_suffix(".hdr")
    lazy = hasattr(data_chw, "dask") and hasattr(data_chw, "chunks")
    data = data_chw if lazy else np.asarray(data_chw)
    if data.ndim != 3:
        raise ValueError(f"write_envi needs a (C, H, W) array, got shape {data.shape}")
    md: dict[str, Any] = dict(metadata or {})
    if wavelengths_nm is not None:
        md["wavelength"] = [f"{float(w):.6g}" for w in np.asarray(wavelengths_nm).ravel()]
        md["wavelength units"] = "nanometers"
    if fwhm_nm is not None:
        md["fwhm"] = [f"{float(w):.6g}" for w in np.asarray(fwhm_nm).ravel()]
    if good_bands is not None:
        md["bbl"] = [int(bool(g)) for g in np.asarray(good_bands).ravel()]
    hdr.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=hdr.parent, prefix=f".{hdr.stem}.") as tmp:
        tmp_hdr = Path(tmp) / (hdr.stem + ".hdr")
        if lazy:
            _stream_bsq(tmp_hdr, data, md, interleave, byteorder)
        else:
            envi.save_image(str(tmp_hdr), np.transpose(data, (1, 2, 0)), dtype=data.dtype, interleave=interleave,
                            byteorder=byteorder, metadata=md, force=True, ext=".img")
        os.replace(tmp_hdr.with_suffix(".img"), hdr.with_suffix(".img"))
        os.replace(tmp_hdr, hdr)
    return hdr


def _stream_bsq(hdr: Path, data: Any, md: dict[str, Any], interleave: str, byteorder: int) -> None:
    """Write a lazy (C, H, W) array as BSQ one chunk row of bands at a time (plain writes, no memmap)."""
    import spectral
    import spectral.io.envi as envi

    if interleave != "bsq" or byteorder != spectral.byte_order:
        raise ValueError("a lazy array is written band-sequential in native byte order only")
    c, h, w = (int(s) for s in data.shape)
    dtype = np.dtype(data.dtype).newbyteorder("=")
    img = envi.create_image(str(hdr), md, shape=(h, w, c), dtype=dtype, interleave="bsq", force=True, ext=".img")
    del img  # header written; the data file is rewritten below
    with open(hdr.with_suffix(".img"), "wb") as fh:
        b0 = 0
        for nb in data.chunks[0]:
            fh.write(np.ascontiguousarray(np.asarray(data[b0:b0 + nb]), dtype=dtype).tobytes())
            b0 += nb
