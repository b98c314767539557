"""ENVI cubes through `spectral`: memory-mapped reads and atomic writes.

Reading never copies a large cube: the file is memory-mapped band-first; scaling, byte order and the
ignore value are applied eagerly only for cubes below `EAGER_BYTES`, lazily (dask) above it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cube import Cube, strided_sample
from ..errors import CubeReadError
from .envi_header import read_header
from .wavelengths import check_band_count, spectral_axis_nm

DATA_EXTENSIONS = ("", ".img", ".raw", ".dat", ".bsq", ".bil", ".bip", ".bin")
EAGER_BYTES = 1 << 30  # cubes below 1 GiB that need conversion are converted in memory
BYTE_ORDER_SAMPLE = 200_000  # values read to judge a guessed byte order


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


def _missing_data_reason(hdr: Path) -> str:
    base = hdr.with_suffix("")
    for ext in DATA_EXTENSIONS:  # a data file that is there but cannot be opened: say why
        cand = base.with_name(base.name + ext)
        if cand != hdr and cand.is_symlink():
            return f"the data file {cand.name} is {path_problem(cand)}"
    names = ", ".join(hdr.with_suffix(e or "").name for e in DATA_EXTENSIONS[1:4] + DATA_EXTENSIONS[-1:])
    return f"the data file named by this header is missing (looked for {names}, ...)"


def path_problem(path: Path) -> str:
    """Why a path that was named cannot be opened: a link loop and a broken link are not 'not found'."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (the link leads back to itself)"
        if os.path.islink(path):
            return f"a broken symbolic link (to {os.readlink(path)})"
        if exc.errno == errno.ENOENT:
            return "file not found"
        return exc.strerror or str(exc)
    return "readable"


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
    from spectral.io.envi import envi_to_dtype

    hdr = header_for(Path(path))
    if hdr is None or not hdr.is_file():
        raise CubeReadError(path, "no ENVI header (.hdr) found beside the data file")
    meta, notes = read_header(hdr)
    if str(meta.get("file type", "")).strip().lower() == "envi spectral library":
        raise CubeReadError(hdr, "an ENVI spectral library (a table of spectra), not an image cube")
    samples, lines, bands = (_int_field(meta, k, hdr) for k in ("samples", "lines", "bands"))
    offset = _int_field(meta, "header offset", hdr) if "header offset" in meta else 0
    if "data type" not in meta:
        kind = f" (its file type is {meta['file type']!r})" if "file type" in meta else ""
        raise CubeReadError(hdr, f"ENVI header has no 'data type'{kind}")
    try:
        dtype = np.dtype(envi_to_dtype[str(meta["data type"]).strip()])
    except KeyError:
        raise CubeReadError(hdr, f"unsupported ENVI data type {meta.get('data type')!r}") from None
    if "interleave" not in meta and bands > 1:
        raise CubeReadError(hdr, "ENVI header has no 'interleave' (bsq, bil or bip)")
    interleave = str(meta.setdefault("interleave", "bsq")).strip().lower()
    if interleave not in ("bsq", "bil", "bip"):
        raise CubeReadError(hdr, f"unknown interleave {interleave!r}")
    guessed_order = "byte order" not in meta and dtype.itemsize > 1
    if "byte order" not in meta:  # PlantCV and Resonon write none; ENVI's own default is little-endian
        meta["byte order"] = "0"
        if guessed_order:
            notes.append("the header has no 'byte order': read as little-endian (byte order = 0)")
    if str(meta["byte order"]).strip() not in ("0", "1"):
        raise CubeReadError(hdr, f"ENVI header field 'byte order' = {meta['byte order']!r} is not 0 or 1")
    data_file = data_file_for(hdr)
    if data_file is None:
        raise CubeReadError(hdr, _missing_data_reason(hdr))
    need = offset + samples * lines * bands * dtype.itemsize
    have = data_file.stat().st_size
    if have < need:
        raise CubeReadError(data_file, f"data file is shorter than the header says ({have} bytes, need {need})")
    raw = _open_memmap(meta, interleave, hdr, data_file)
    if guessed_order and (note := swapped_bytes_note(raw)):
        notes.append(note)

    wl, fwhm, good = _spectral_axis(meta, bands, hdr, notes)

    data = _convert(raw, meta, hdr, notes)
    extra = {k: meta[k] for k in ("description", "sensor type", "acquisition time") if k in meta}
    extra["interleave"] = interleave
    return Cube(data=data, wavelengths_nm=wl, fwhm_nm=fwhm, good_bands=good, metadata=extra,
                source=str(hdr), format="envi", notes=notes)


def _spectral_axis(meta: dict[str, Any], bands: int, hdr: Path, notes: list[str]) -> tuple[Any, Any, Any]:
    """Wavelengths and fwhm in nm (one unit for both) and the good-band flags, each one per band or None."""
    centres = _as_list(meta["wavelength"]) if "wavelength" in meta else None
    widths = _as_list(meta["fwhm"]) if "fwhm" in meta else None
    wl, fwhm, note = spectral_axis_nm(centres, widths, meta.get("wavelength units"), hdr)
    if note:
        notes.append(note)
    if wl is not None:
        check_band_count(wl, bands, hdr)
    if fwhm is not None:
        check_band_count(fwhm, bands, hdr, "fwhm values")
    good = None
    if "bbl" in meta:
        try:
            good = np.array([float(v) for v in _as_list(meta["bbl"])]) != 0
        except ValueError:
            raise CubeReadError(hdr, "bad band list 'bbl' is not numeric") from None
        check_band_count(good, bands, hdr, "bad-band flags")
    return wl, fwhm, good


def _open_memmap(meta: dict[str, Any], interleave: str, hdr: Path, data_file: Path) -> np.ndarray:
    """spectral's band-first memory map of the data file, from the header fields already read (spectral's
    own `envi.open` would read the header again, strictly)."""
    import spectral.io.envi as envi
    from spectral.io.bilfile import BilFile
    from spectral.io.bipfile import BipFile
    from spectral.io.bsqfile import BsqFile

    try:
        envi.check_compatibility(meta)
        params = envi.gen_params(meta)
        params.filename = str(data_file)
        img = {"bil": BilFile, "bip": BipFile, "bsq": BsqFile}[interleave](params, meta)
        return img.open_memmap(interleave="bsq", writable=False)
    except envi.EnviFeatureNotSupported as exc:
        raise CubeReadError(hdr, f"unsupported ENVI feature: {exc}") from None
    except Exception as exc:  # spectral raises many types for odd headers
        raise CubeReadError(hdr, f"could not open the ENVI data ({type(exc).__name__}: {exc})") from None


def swapped_bytes_note(raw: np.ndarray) -> str | None:
    """A note when data read little-endian (a guess) look like byte-swapped numbers: measured spectra change
    little from one band (or pixel) to the next, while a swapped low byte makes every step random."""
    sample = strided_sample(raw, BYTE_ORDER_SAMPLE, every_band=True)
    axis = 0 if sample.shape[0] > 1 else 2
    if sample.shape[axis] < 2:
        return None
    little, big = (_roughness(sample.view(sample.dtype.newbyteorder(o)), axis) for o in ("<", ">"))
    if little > 0.5 and big < 0.5 * little:
        return "the values look byte-swapped: the data may be big-endian (then add 'byte order = 1' to the header)"
    return None


def _roughness(a: np.ndarray, axis: int) -> float:
    """Median step between neighbours over the median spread of the values (inf for non-finite data)."""
    with np.errstate(all="ignore"):
        x = np.asarray(a, dtype=np.float64)
        steps = np.abs(np.diff(x, axis=axis))
        finite = x[np.isfinite(x)]
        if finite.size < x.size * 0.9 or finite.size == 0:
            return float("inf")
        spread = float(np.median(np.abs(finite - np.median(finite))))
        step = float(np.median(steps[np.isfinite(steps)])) if np.isfinite(steps).any() else float("inf")
    return step / spread if spread > 0 else (0.0 if step == 0 else float("inf"))


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
