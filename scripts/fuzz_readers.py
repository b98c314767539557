"""Fuzz every cube reader with mutated headers and corrupted files (issue 9, "hostile input").

The contract: ``napari_focus.cube_io.read_cube(path)`` on any file returns a valid `Cube` (3-D data
with no empty axis, wavelengths/fwhm/bbl one per band) or raises `CubeReadError` with a one-line
message naming the file; never another exception type, a hang, a crash or a huge allocation.

Valid seeds (ENVI in three interleaves, a Specim capture, TIFF pages and stacks, .npy with a
wavelength sidecar, .npz, .h5, .mat v5 and v7.3) are written with spectral/tifffile/numpy/h5py/scipy,
then mutated: ENVI header fields replaced by hostile values, header lines deleted/duplicated/garbled,
data files truncated, bytes flipped or replaced, sidecars filled with garbage. A *case* is a plain
dict (seed + mutations) so every input can be replayed. Each case is read in a worker subprocess
under a wall-clock timeout and an address-space limit, so a hang, a segfault or a huge allocation
is recorded instead of taking the run down.

    python scripts/fuzz_readers.py --n 3000 --seconds 600 --json fuzz.json --keep fuzz_failures/
    python scripts/fuzz_readers.py --sweep mat_v5,h5 --bytes 0:1500 --n 100000 --seconds 600

Exit status 1 when any input broke the contract (the first 20 are printed; --keep saves them).

The pytest suite (tests/io/test_fuzz_readers.py) imports the seeds and mutations from here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
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


# ----------------------------------------------------------------------------- checking one read
def check_read(path: Path) -> tuple[str, str]:
    """Read `path` in this process; (outcome, detail). Outcomes other than `GOOD` break the contract."""
    from napari_focus.cube import Cube
    from napari_focus.cube_io import read_cube
    from napari_focus.errors import CubeReadError

    try:
        cube = read_cube(path)
    except CubeReadError as exc:
        msg = str(exc)
        stem = Path(path).resolve().name.split(".")[0] or Path(path).resolve().name
        if "\n" in msg:
            return "bad-message", f"multi-line message: {msg!r}"
        if stem not in msg:
            return "bad-message", f"message does not name the file: {msg!r}"
        return "CubeReadError", msg
    except Exception as exc:  # noqa: BLE001 - any other type is the finding
        return f"other:{type(exc).__name__}", f"{type(exc).__name__}: {exc}"[:500]
    problem = cube_problem(cube, Cube)
    if problem:
        return "invalid-cube", problem
    try:  # a returned cube must also be displayable: its first and last bands are read
        np.asarray(cube.data[0]), np.asarray(cube.data[-1])
    except Exception as exc:  # noqa: BLE001
        return "unreadable-data", f"{type(exc).__name__}: {exc}"[:500]
    return "ok", f"{cube.format} {cube.shape} {cube.data.dtype}"


def cube_problem(cube: Any, cube_type: type) -> str | None:
    """Why a returned object is not a valid Cube, or None."""
    if not isinstance(cube, cube_type):
        return f"returned {type(cube).__name__}, not a Cube"
    shape = tuple(getattr(cube.data, "shape", ()))
    if len(shape) != 3 or min(shape) <= 0:
        return f"data shape {shape} is not a non-empty 3-D cube"
    if np.dtype(cube.data.dtype).kind not in "biufc":
        return f"data dtype {cube.data.dtype} is not numeric"
    for name in ("wavelengths_nm", "fwhm_nm", "good_bands"):
        v = getattr(cube, name)
        if v is not None and np.asarray(v).size != shape[0]:
            return f"{name} has {np.asarray(v).size} values for {shape[0]} bands"
    if cube.wavelengths_nm is not None and not np.all(np.isfinite(cube.wavelengths_nm)):
        return "wavelengths are not finite"
    return None


# ----------------------------------------------------------------------------- worker subprocess
def worker(mem_mb: int) -> None:
    """Read paths from stdin (one JSON line each), answer one JSON line each."""
    import resource
    import warnings

    warnings.simplefilter("ignore")
    limit = mem_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import napari_focus.cube_io  # noqa: F401 - warm imports before the first timed read

    answers = os.fdopen(os.dup(1), "w")  # verdicts only: whatever a library prints goes to stderr
    os.dup2(2, 1)
    print("ready", file=answers, flush=True)
    for line in sys.stdin:
        outcome, detail = check_read(Path(json.loads(line)["path"]))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        answers.write(json.dumps({"outcome": outcome, "detail": detail, "maxrss_mb": rss}) + "\n")
        answers.flush()


class Runner:
    """A worker subprocess restarted after a hang or crash; `read(path)` returns its verdict."""

    def __init__(self, timeout: float, mem_mb: int) -> None:
        self.timeout, self.mem_mb, self.proc = timeout, mem_mb, None
        self.max_rss_mb = 0

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", "--mem-mb", str(self.mem_mb)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)  # imports, not timed as a read
        if not ready or self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the fuzz worker did not start")
        return self.proc

    def read(self, path: Path) -> dict[str, Any]:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        proc.stdin.write(json.dumps({"path": str(path)}) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            self.stop()
            return {"outcome": "hang", "detail": f"no answer within {self.timeout:g} s"}
        line = proc.stdout.readline()
        if not line:
            code = proc.wait()
            self.proc = None
            return {"outcome": "crash", "detail": f"worker died with exit code {code}"}
        result = json.loads(line)
        self.max_rss_mb = max(self.max_rss_mb, result.get("maxrss_mb", 0), 1)
        return result

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def sweep_cases(seed_dir: Path, seeds: dict[str, dict[str, Any]], names: list[str], lo: int,
                hi: int) -> Iterator[dict[str, Any]]:
    """Every byte in [lo, hi) of each named seed's first file set, one at a time, to six values."""
    for name in names:
        file = seeds[name]["files"][0]
        raw = (Path(seed_dir) / name / file).read_bytes()
        for pos in range(lo, min(hi, len(raw))):
            for value in (0, 1, 0x7F, 0x80, 0xFF, raw[pos] ^ 1):
                yield {"seed": name, "entry": seeds[name]["entry"],
                       "ops": [{"op": "flip", "file": file, "edits": [[(pos + 0.5) / len(raw), value]]}]}


def fuzz(n: int, seconds: float, seed: int = 0, timeout: float = 10.0, mem_mb: int = 2048,
         keep: Path | None = None, log: Any = None, sweep: tuple[list[str], int, int] | None = None) -> dict[str, Any]:
    """Run up to `n` cases (random, or a byte sweep) for at most `seconds`; a summary with per-outcome counts."""
    rng = random.Random(seed)
    runner = Runner(timeout, mem_mb)
    by_outcome: Counter = Counter()
    by_seed: dict[str, Counter] = {}
    by_op: dict[str, Counter] = {}
    failures: list[dict[str, Any]] = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz_readers_") as tmp:
        seed_dir = Path(tmp) / "seeds"
        seeds = write_seeds(seed_dir)
        sizes = {str(p.relative_to(seed_dir)): p.stat().st_size for p in seed_dir.rglob("*") if p.is_file()}
        i = 0
        cases = sweep_cases(seed_dir, seeds, *sweep) if sweep else iter(lambda: random_case(rng, seeds, sizes), None)
        try:
            for case in cases:
                if i >= n or time.monotonic() - start >= seconds:
                    break
                work = Path(tmp) / f"case{i}"
                entry = apply_case(case, seed_dir, work)
                t0 = time.monotonic()
                result = runner.read(entry)
                result["seconds"] = round(time.monotonic() - t0, 3)
                outcome = result["outcome"]
                by_outcome[outcome] += 1
                by_seed.setdefault(case["seed"], Counter())[outcome] += 1
                for op in case["ops"]:
                    by_op.setdefault(op["op"], Counter())[outcome] += 1
                if outcome not in GOOD:
                    failures.append({"case": case, **result})
                    if keep is not None:
                        shutil.copytree(work, Path(keep) / f"case{i}", dirs_exist_ok=True)
                        (Path(keep) / f"case{i}" / "case.json").write_text(json.dumps(failures[-1], indent=1))
                if log is not None and (i + 1) % 100 == 0:
                    print(f"{i + 1} inputs, {dict(by_outcome)}", file=log, flush=True)
                shutil.rmtree(work, ignore_errors=True)
                i += 1
        finally:
            runner.stop()
    return {"inputs": i, "seconds": round(time.monotonic() - start, 1), "seed": seed, "sweep": sweep,
            "timeout_s": timeout,
            "mem_limit_mb": mem_mb, "worker_max_rss_mb": runner.max_rss_mb, "outcomes": dict(by_outcome),
            "by_seed": {k: dict(v) for k, v in sorted(by_seed.items())},
            "by_mutation": {k: dict(v) for k, v in sorted(by_op.items())}, "failures": failures}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="number of inputs (default 1000)")
    ap.add_argument("--seconds", type=float, default=300, help="stop after this many seconds (default 300)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (a run is reproducible)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds one read may take before it is a hang")
    ap.add_argument("--mem-mb", type=int, default=2048, help="address-space limit of the reading process")
    ap.add_argument("--keep", type=Path, help="copy every failing input (and its case.json) here")
    ap.add_argument("--json", type=Path, help="write the summary here")
    ap.add_argument("--sweep", help="instead of random cases: byte sweep of these seeds (comma-separated)")
    ap.add_argument("--bytes", default="0:400", help="byte range of the sweep, START:STOP (default 0:400)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.mem_mb)
        return 0
    sweep = None
    if args.sweep:
        lo, hi = (int(x) for x in args.bytes.split(":"))
        sweep = (args.sweep.split(","), lo, hi)
    summary = fuzz(args.n, args.seconds, args.seed, args.timeout, args.mem_mb, args.keep, sys.stderr, sweep)
    text = json.dumps(summary, indent=1)
    if args.json:
        args.json.write_text(text)
    brief = {k: v for k, v in summary.items() if k not in ("failures", "by_seed", "by_mutation")}
    print(json.dumps(brief, indent=1))
    for f in summary["failures"][:20]:
        print(f"FAIL {f['outcome']}: {f['detail'][:200]}\n     {json.dumps(f['case'])[:400]}")
    return 0 if not summary["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
