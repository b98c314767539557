"""Valid seed cubes and their hostile mutations for the reader fuzzer (`fuzz_readers.py`).

Seeds (ENVI in three interleaves, a Specim capture, TIFF pages and stacks, .npy with a wavelength sidecar, .npz,
.h5, .mat v5 and v7.3) are written with spectral/tifffile/numpy/h5py/scipy; a *case* is a plain dict (seed +
mutations), so every input can be replayed: `apply_case` writes it, `random_case` draws one.
Kept apart from the runner so that each file holds one responsibility (and stays readable).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

N_BANDS, HEIGHT, WIDTH = 12, 9, 7
WAVELENGTHS = np.linspace(400.0, 1000.0, N_BANDS)
GOOD = ("ok", "CubeReadError")

HEADER_FIELDS = ("samples", "lines", "bands", "header offset", "data type", "byte order", "interleave",
                 "wavelength", "fwhm", "wavelength units", "reflectance scale factor", "data ignore value", "bbl")
VALUE_KINDS = ("delete", "negative", "zero", "huge", "enormous", "float", "exp", "hex", "nonnumeric", "empty",
               "unicode", "fullwidth", "nan", "inf", "list", "list_nested", "unbalanced_open", "unbalanced_close",
               "braces_only", "count_minus", "count_plus", "list_garbage", "list_nan", "long_list", "nul",
               "units_micro", "units_wavenumber", "units_bogus", "alt_valid")
LINE_ACTIONS = ("delete", "duplicate", "upper", "no_envi", "truncate", "binary", "crlf", "bom", "no_equals")
CONTENTS = ("random", "zeros", "text", "png", "hdf5_magic", "zip_magic", "npy_magic", "tiff_magic")


# ----------------------------------------------------------------------------- seeds
def _envi(hdr: Path, chw: np.ndarray, interleave: str = "bsq", byteorder: int = 0, **md: Any) -> None:
    import spectral.io.envi as envi

    envi.save_image(str(hdr), np.transpose(chw, (1, 2, 0)), dtype=chw.dtype, interleave=interleave,
                    byteorder=byteorder, metadata=md, force=True, ext=".img")


def write_seeds(folder: Path) -> dict[str, dict[str, Any]]:
    """Write one valid file of each kind; returns {seed: {"entry": relative path, "files": [...]}}."""
    import h5py
    import scipy.io
    import tifffile

    folder = Path(folder)
    rng = np.random.default_rng(0)
    cube = rng.uniform(0.05, 0.6, (N_BANDS, HEIGHT, WIDTH)).astype(np.float32)
    u16 = (cube * 10000).astype(np.uint16)
    wl_md = {"wavelength": [f"{w:.3f}" for w in WAVELENGTHS], "wavelength units": "nm"}
    seeds: dict[str, dict[str, Any]] = {}

    def add(name: str, entry: str, *files: str) -> Path:
        (folder / name).mkdir(parents=True, exist_ok=True)
        seeds[name] = {"entry": entry, "files": list(files) or [entry]}
        return folder / name

    d = add("envi_bsq", "cube.hdr", "cube.hdr", "cube.img")
    _envi(d / "cube.hdr", u16, "bsq", 0, **wl_md, fwhm=["5.0"] * N_BANDS, bbl=["1"] * N_BANDS,
          **{"reflectance scale factor": "10000", "data ignore value": "65535"})
    d = add("envi_bil", "cube.hdr", "cube.hdr", "cube.img")
    _envi(d / "cube.hdr", cube, "bil", 1, **wl_md)
    d = add("envi_bip_via_data", "cube.img", "cube.hdr", "cube.img")
    _envi(d / "cube.hdr", (u16 // 2).astype(np.int16), "bip", 0,
          wavelength=[f"{w / 1000:.5f}" for w in WAVELENGTHS], **{"wavelength units": "Micrometers"})
    parts = ("cap", "WHITEREF_cap", "DARKREF_cap")
    d = add("specim", ".", *(f"capture/{p}{e}" for p in parts for e in (".hdr", ".img")))
    (d / "capture").mkdir(exist_ok=True)
    _envi(d / "capture" / "cap.hdr", u16, **wl_md)
    _envi(d / "capture" / "WHITEREF_cap.hdr", np.full((N_BANDS, 3, WIDTH), 11000, np.uint16), **wl_md)
    _envi(d / "capture" / "DARKREF_cap.hdr", np.full((N_BANDS, 3, WIDTH), 100, np.uint16), **wl_md)
    d = add("tiff_pages", "cube.tif")
    with tifffile.TiffWriter(d / "cube.tif") as tw:
        for band in u16:
            tw.write(band, contiguous=True)
    d = add("tiff_stack", "cube.tiff")
    tifffile.imwrite(d / "cube.tiff", np.transpose(cube, (1, 2, 0)), planarconfig="contig", photometric="minisblack")
    d = add("npy_sidecar", "cube.npy", "cube.npy", "cube.wavelengths.txt")
    np.save(d / "cube.npy", cube)
    (d / "cube.wavelengths.txt").write_text("\n".join(f"{w:.3f}" for w in WAVELENGTHS))
    d = add("npz", "cube.npz")
    np.savez(d / "cube.npz", reflectance=np.transpose(cube, (1, 2, 0)), wavelengths=WAVELENGTHS)
    d = add("h5", "cube.h5")
    with h5py.File(d / "cube.h5", "w") as f:
        f.create_dataset("scan/cube", data=cube, chunks=(1, HEIGHT, WIDTH), compression="gzip")
        f.create_dataset("scan/wavelengths", data=WAVELENGTHS)
    d = add("mat_v5", "cube.mat")
    scipy.io.savemat(d / "cube.mat", {"hsi": np.transpose(cube, (1, 2, 0)), "wavelengths": WAVELENGTHS})
    d = add("mat_v5_zip", "cube.mat")
    scipy.io.savemat(d / "cube.mat", {"cube": cube, "wl": WAVELENGTHS}, do_compression=True, oned_as="column")
    d = add("mat_v73", "cube.mat")
    with h5py.File(d / "cube.mat", "w", userblock_size=512) as f:
        f.create_dataset("hsi", data=np.transpose(cube, (1, 2, 0)).T)
        f.create_dataset("wavelengths", data=WAVELENGTHS[None, :].T)
    with open(d / "cube.mat", "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: fuzz HDF5 schema 1.00 .")
    return seeds


# ----------------------------------------------------------------------------- mutations
def field_value(field: str, kind: str, n_bands: int = N_BANDS) -> str | None:
    """A hostile (or odd but valid) value for an ENVI header field; None deletes the field."""
    nums = [f"{w:.2f}" for w in np.linspace(400, 1000, max(n_bands, 1))]
    alt = {"data type": "5", "byte order": "1", "interleave": "bip", "wavelength units": "um",
           "header offset": "0", "bbl": "{" + ", ".join(["0"] + ["1"] * (n_bands - 1)) + "}"}
    table: dict[str, str | None] = {
        "delete": None, "negative": "-5", "zero": "0", "huge": "1000000000000", "enormous": "9" * 40,
        "float": "2.5", "exp": "1e3", "hex": "0x10", "nonnumeric": "twelve", "empty": "", "unicode": "ñ€漢字",
        "fullwidth": "１２", "nan": "nan", "inf": "inf", "list": "{1, 2, 3}", "list_nested": "{{1, 2}, 3}",
        "unbalanced_open": "{1, 2", "unbalanced_close": "1, 2}", "braces_only": "{}",
        "count_minus": "{" + ", ".join(nums[:-1]) + "}", "count_plus": "{" + ", ".join(nums + ["1001"]) + "}",
        "list_garbage": "{" + ", ".join(["400", "abc", "", "½"] + nums[4:]) + "}",
        "list_nan": "{" + ", ".join(["nan"] + nums[1:]) + "}", "long_list": "{" + ", ".join(["1"] * 100_000) + "}",
        "nul": "1\x002", "units_micro": "micrometers", "units_wavenumber": "cm-1", "units_bogus": "furlongs",
        "alt_valid": alt.get(field, str(n_bands)),
    }
    return table[kind]


def mutate_header_field(text: str, field: str, kind: str) -> str:
    """Replace (or add, or delete) one field of an ENVI header, values spanning lines included."""
    lines, out, skipping, found = text.splitlines(), [], False, False
    for line in lines:
        if skipping:
            skipping = "}" not in line
            continue
        key, sep, val = line.partition("=")
        if sep and key.strip().lower() == field:
            found = True
            skipping = val.strip().startswith("{") and "}" not in val
            new = field_value(field, kind)
            if new is not None:
                out.append(f"{field} = {new}")
            continue
        out.append(line)
    if not found and (new := field_value(field, kind)) is not None:
        out.append(f"{field} = {new}")
    return "\n".join(out) + "\n"


def mutate_header_lines(data: bytes, action: str, frac: float) -> bytes:
    """Structural damage to a header: a line deleted/duplicated/garbled, truncation, encodings."""
    lines = data.split(b"\n")
    i = min(int(frac * len(lines)), len(lines) - 1)
    if action == "delete":
        del lines[i]
    elif action == "duplicate":
        lines.insert(i, lines[i])
    elif action == "upper":
        lines[i] = lines[i].upper()
    elif action == "no_envi":
        lines = lines[1:]
    elif action == "truncate":
        return data[: int(frac * len(data))]
    elif action == "binary":
        lines[i] = bytes(range(128, 256))
    elif action == "crlf":
        return data.replace(b"\n", b"\r\n")
    elif action == "bom":
        return b"\xef\xbb\xbf" + data
    elif action == "no_equals":
        lines[i] = lines[i].replace(b"=", b" ")
    return b"\n".join(lines)


def replacement(content: str, size: int, rng_seed: int) -> bytes:
    rnd = random.Random(rng_seed)
    heads = {"png": b"\x89PNG\r\n\x1a\n", "hdf5_magic": b"\x89HDF\r\n\x1a\n", "zip_magic": b"PK\x03\x04",
             "npy_magic": b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (12, 9, 7), }",
             "tiff_magic": b"II*\x00\x08\x00\x00\x00"}
    if content == "zeros":
        return b"\0" * size
    if content == "text":
        return (b"hello, I am not a cube\n" * (size // 23 + 1))[:size]
    body = bytes(rnd.getrandbits(8) for _ in range(size))
    return heads.get(content, b"") + body


def apply_case(case: dict[str, Any], seed_dir: Path, out_dir: Path) -> Path:
    """Copy the case's seed into `out_dir`, apply its mutations, return the path to read."""
    src = Path(seed_dir) / case["seed"]
    shutil.copytree(src, out_dir, dirs_exist_ok=True)
    for op in case["ops"]:
        target = out_dir / op["file"]
        kind = op["op"]
        if not target.is_file() and kind not in ("replace", "sidecar"):
            continue  # an earlier mutation deleted it
        if kind == "field":
            text = target.read_bytes().decode("latin-1")
            target.write_bytes(mutate_header_field(text, op["field"], op["kind"]).encode("utf-8"))
        elif kind == "lines":
            target.write_bytes(mutate_header_lines(target.read_bytes(), op["action"], op["frac"]))
        elif kind == "truncate":
            data = target.read_bytes()
            target.write_bytes(data[: int(op["frac"] * len(data))])
        elif kind == "flip":
            data = bytearray(target.read_bytes())
            for frac, value in op["edits"]:
                if data:
                    data[min(int(frac * len(data)), len(data) - 1)] = value
            target.write_bytes(bytes(data))
        elif kind == "replace":
            target.write_bytes(replacement(op["content"], op["size"], op.get("rng", 0)))
        elif kind == "delete":
            target.unlink(missing_ok=True)
        elif kind == "sidecar":
            target.write_bytes(op["text"].encode("utf-8", "surrogateescape"))
        else:
            raise ValueError(f"unknown mutation {kind!r}")
    return out_dir / case["entry"]


SIDECAR_TEXTS = ("", "abc\n" * 12, "1\n2\n", "nan\n" * 12, "inf\n" * 12, "wavelength (furlongs)\n" + "5\n" * 12,
                 "band,wavelength\n" + "\n".join(f"{i}" for i in range(12)), "0,400\n1,500,7\n2\n",
                 "\x00\xff\xfe" * 40, "1e400\n" * 12, ",".join(["500"] * 12), "wl_nm;x\n" + "600;1\n" * 12,
                 "-1\n" * 12, "0\n" * 12, "9" * 5000 + "\n", "{" * 100)


def random_case(rng: random.Random, seeds: dict[str, dict[str, Any]], sizes: dict[str, int]) -> dict[str, Any]:
    """One random case: a seed and one to three mutations of its files."""
    name = rng.choice(sorted(seeds))
    seed = seeds[name]
    headers = [f for f in seed["files"] if f.endswith(".hdr")]
    binaries = [f for f in seed["files"] if not f.endswith((".hdr", ".txt"))]
    ops: list[dict[str, Any]] = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        choices = ["truncate", "flip", "replace"] + ["field"] * 4 * bool(headers) + ["lines"] * bool(headers)
        choices += ["sidecar"] * 2 * any(f.endswith(".txt") for f in seed["files"]) + ["delete"]
        kind = rng.choice(choices)
        if kind == "field":
            ops.append({"op": "field", "file": rng.choice(headers), "field": rng.choice(HEADER_FIELDS),
                        "kind": rng.choice(VALUE_KINDS)})
        elif kind == "lines":
            ops.append({"op": "lines", "file": rng.choice(headers), "action": rng.choice(LINE_ACTIONS),
                        "frac": rng.random()})
        elif kind == "sidecar":
            ops.append({"op": "sidecar", "file": "cube.wavelengths.txt", "text": rng.choice(SIDECAR_TEXTS)})
        elif kind == "delete":
            ops.append({"op": "delete", "file": rng.choice(seed["files"])})
        else:
            target = rng.choice(binaries or seed["files"])
            if kind == "truncate":
                ops.append({"op": "truncate", "file": target, "frac": rng.random()})
            elif kind == "flip":
                n = rng.choice((1, 2, 4, 16, 64))
                ops.append({"op": "flip", "file": target,
                            "edits": [[rng.random(), rng.choice((0, 0xFF, 0x7F, 0x80, rng.getrandbits(8)))]
                                      for _ in range(n)]})
            else:
                ops.append({"op": "replace", "file": target, "content": rng.choice(CONTENTS),
                            "size": rng.choice((1, 8, 200, sizes.get(f"{name}/{target}", 1000))),
                            "rng": rng.getrandbits(16)})
    return {"seed": name, "entry": seed["entry"], "ops": ops}
