"""Fuzz every cube reader with mutated headers and corrupted files ("hostile input", docs/robustness.md).

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

Seeds and mutations live in `fuzz_mutations.py` beside this file (re-exported here, so the pytest suite,
tests/io/test_fuzz_readers.py, imports them from this script as before).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling module, when run as a script
from fuzz_mutations import (  # noqa: E402 (after the path)
    CONTENTS,
    GOOD,
    HEADER_FIELDS,
    LINE_ACTIONS,
    SIDECAR_TEXTS,
    VALUE_KINDS,
    apply_case,
    random_case,
    write_seeds,
)

# re-exported: the pytest suite reads the seeds and mutations from this script
__all__ = ["CONTENTS", "GOOD", "HEADER_FIELDS", "LINE_ACTIONS", "SIDECAR_TEXTS", "VALUE_KINDS", "apply_case",
           "check_read", "fuzz", "random_case", "write_seeds"]


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
