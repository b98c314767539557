"""The benchmark's cache: one JSON file per cell, keyed by a hash of the cell's configuration.

A cell is one unit of work (a training run, an evaluation, a cost measurement) together with its
full configuration, which is stored inside the file. Files are written atomically (temp file +
rename), so an interrupted run leaves either a whole cell or none, and a rerun skips every cell
that exists: the benchmark resumes where it stopped and can be spread over several sittings.
Two tables that need the same configuration share its cell. Two processes on one cache (a sitting
on 2 cores) claim each cell while computing it, so they never compute one cell twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari_focus.errors import FocusError


def cell_key(config: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over the configuration's canonical JSON."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(obj, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


class CellBusy(Exception):
    """A cell another live process is computing; raised from a nested cell so its top-level cell is skipped."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


class CellCache:
    """Cells under `root/cells/`, simulated data under `root/data/`, trained models under `root/models/`.

    `compute=False` only reads (a render of what exists); `deadline` (a `time.monotonic()` value):
    once passed, no new top-level cell is started (a started cell finishes, with the cells it needs),
    and the rest of the run only reads, so the tables show what exists and `stopped` says where.
    """

    def __init__(self, root: str | Path, compute: bool = True, deadline: float | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.compute = compute
        self.deadline = deadline
        self.log = log or (lambda msg: None)
        self.computed: set[str] = set()  # keys computed in this run
        self.reused: set[str] = set()  # keys found in the cache
        self.stopped: str | None = None  # the first cell not started because of the deadline
        self.touched: dict[str, dict[str, Any]] = {}  # key -> stored record, of every cell read or written
        self._depth = 0

    def path(self, config: dict[str, Any]) -> Path:
        return self.root / "cells" / f"{config['kind']}-{cell_key(config)}.json"

    def model_dir(self, config: dict[str, Any]) -> Path:
        return self.root / "models" / cell_key(config)

    def data_dir(self, name: str) -> Path:
        return self.root / "data" / name

    def get(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """The cell's stored record (config, result, seconds, …), or None when it was not computed yet."""
        p = self.path(config)
        if not p.is_file():
            return None
        try:
            rec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # a damaged file is recomputed (writes are atomic, so this is a foreign edit)
        if rec.get("config") != json.loads(json.dumps(config, default=str)):
            return None
        self.touched[rec["key"]] = rec
        return rec

    def run(self, config: dict[str, Any], compute: Callable[[], dict[str, Any]], label: str,
            alone: bool = False) -> dict[str, Any] | None:
        """The cell's result: from the cache, or computed now and stored. None when not computable now.

        `alone`: a measurement of time and memory (the cost table), started only once no other process computes
        a cell (`wait_alone`), so it is not taken beside a training on a 2-core machine."""
        rec = self.get(config)
        if rec is not None:
            self.reused.add(cell_key(config))
            return rec["result"]
        if not self.compute:
            return None
        if self._depth == 0 and self.deadline is not None and time.monotonic() > self.deadline:
            self.compute, self.stopped = False, label
            self.log(f"time budget spent: stopping before {label} (rerun to resume)")
            return None
        if alone:
            self.wait_alone(label)
        claim = self._claim(config)
        if claim is None:
            if self._depth:
                raise CellBusy(label)
            self.log(f"skipping {label}: another process is computing it")
            return None
        self.log(f"computing {label} …")
        t0 = time.perf_counter()
        self._depth += 1
        try:
            result = compute()
        except CellBusy as busy:
            if self._depth > 1:
                raise
            self.log(f"skipping {label}: another process is computing {busy.label}, which it needs")
            return None
        finally:
            self._depth -= 1
            claim.unlink(missing_ok=True)
        seconds = time.perf_counter() - t0
        rec = {"key": cell_key(config), "label": label, "config": config, "result": result,
               "seconds": round(seconds, 2), "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        write_json_atomic(self.path(config), rec)
        self.touched[rec["key"]] = rec
        self.computed.add(cell_key(config))
        self.log(f"  {label}: {seconds:.1f} s")
        return result

    def others_computing(self) -> int:
        """How many cells other live processes are computing on this cache now (their claims)."""
        return sum(_alive(c) for c in (self.root / "cells").glob(".claim-*"))

    def wait_alone(self, label: str, poll_seconds: float = 30.0) -> None:
        """Block until no other process computes a cell."""
        if self.others_computing():
            self.log(f"waiting to measure {label} until the other bench process finishes its cell …")
            while self.others_computing():
                time.sleep(poll_seconds)

    def _claim(self, config: dict[str, Any]) -> Path | None:
        """A claim file beside the cell naming this process; None when a live process holds it. The cells a cell
        needs (a training under an evaluation) are claimed too: the other process may reach the same training
        through another evaluation, and then skips that evaluation (`CellBusy`) instead of training twice."""
        p = self.path(config)
        claim = p.with_name(f".claim-{p.stem}")
        claim.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if _alive(claim):
                    return None
                claim.unlink(missing_ok=True)  # left by a process that died: take it over
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return claim
        return None


def _alive(claim: Path) -> bool:
    """Whether the process named in a claim file still runs (an unreadable claim counts as held)."""
    try:
        pid = int(claim.read_text().strip())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):  # empty: being written this instant, or left empty by a crash
        try:
            return time.time() - claim.stat().st_mtime < 60
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_cache_dir(root: str | Path) -> Path:
    """The cache folder, created when missing; a file in its place is refused."""
    p = Path(root)
    if p.exists() and not p.is_dir():
        raise FocusError(f"{p}: the benchmark cache must be a folder")
    p.mkdir(parents=True, exist_ok=True)
    return p
