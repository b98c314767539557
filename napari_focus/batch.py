"""Batch explain: a folder or glob of cubes, one model load, resumable, optionally on Dask distributed.

Every cube gets its own output folder `OUT/<name>/` (the files of `export.export_explanation` plus
`job.json`, written last). The folder is built under a hidden temporary name and renamed into place
in one step, so a folder that exists is complete; a killed run leaves only hidden `.<name>.partial-*`
folders, removed by the next run. A folder whose `job.json` matches the current job (same checkpoint
hash, method, rule, class and tiling) is skipped, so re-running the same command resumes. `summary.csv`
(one row per cube, in input order) is rewritten atomically after each cube. OUT and every output folder
carry the result marker (`outputs.RESULT_MARKER`), OUT's written first: a rerun recognises its own folder,
and an OUT or a folder of a cube's name holding anything else is refused, never replaced.

`workers=N` runs the cubes on a Dask `LocalCluster` of N single-threaded worker processes,
`scheduler=ADDRESS` on an existing cluster (its workers need napari-focus installed and the same paths);
each worker loads the model once. Both run the same `explain_one`, so their outputs are the same.
torch is imported only where a model is loaded.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .atomic import OLD_MARK, replace_dir
from .errors import FocusError
from .export import _atomic_text, csv_text
from .outputs import OutputRefused, check_out, is_result_folder, mark_result_folder

SUMMARY, JOB = "summary.csv", "job.json"
PARTIAL, OLD = ".partial-", OLD_MARK
Progress = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class BatchJob:
    """What is explained and how: sent to every worker, recorded in every output folder."""

    model: str  # checkpoint folder
    model_sha256: str
    classes: tuple[str, ...]
    method: str = "focus"
    rule: str | None = None
    class_name: str | None = None
    tile: str = "auto"  # "auto", "off" or a tile size in pixels
    overlap: float = 0.25
    device: str | None = None
    saliency: str = "float32"  # how T is written (export.SALIENCY_DTYPES)

    def record(self) -> dict[str, Any]:
        """The fields that decide the result (not where the model lives or which device runs it; the default
        saliency format is left out, so results written before it could be chosen still count as done)."""
        rec = asdict(self)
        for k in ("model", "device", "classes"):
            rec.pop(k)
        if rec["saliency"] == "float32":
            rec.pop("saliency")
        return rec


def make_job(model_dir: str | os.PathLike, **options: Any) -> BatchJob:
    """A job for a checkpoint folder, from its config and hash alone (no model is loaded here)."""
    from .focus.checkpoint import checkpoint_sha256, read_config

    cfg = read_config(model_dir)
    return BatchJob(model=str(Path(model_dir).resolve()), model_sha256=checkpoint_sha256(model_dir),
                    classes=tuple(str(c) for c in cfg.get("classes", [])), **options)


def is_batch_input(spec: str | os.PathLike) -> bool:
    """A folder of cubes or a glob pattern (a Specim capture folder is one cube, not a batch)."""
    from .cube_io import claims

    if any(ch in str(spec) for ch in "*?["):
        return not Path(spec).exists()
    return Path(spec).is_dir() and not claims(spec)


def find_cubes(spec: str | os.PathLike, exclude: str | os.PathLike | None = None) -> list[Path]:
    """The cubes a folder or glob names, sorted: a folder's manifest.csv if it has one (a dataset),
    else every file the readers claim (an ENVI cube once, by its header); nothing under `exclude`."""
    from .cube_io import claims
    from .cube_io.envi import DATA_EXTENSIONS, header_for

    root = Path(spec)
    if root.is_dir() and (root / "manifest.csv").is_file():
        from .dataset import load_dataset

        found = [it.path for it in load_dataset(root)]
    else:
        cands = sorted(root.iterdir()) if root.is_dir() else sorted(Path(p) for p in glob.glob(str(spec),
                                                                                                recursive=True))
        found = [p for p in cands if claims(p) and not (p.suffix.lower() in DATA_EXTENSIONS and header_for(p))]
    ex = None if exclude is None else Path(exclude).resolve()
    found = [p for p in found if ex is None or not p.resolve().is_relative_to(ex)]
    if not found:
        raise FocusError(f"{spec}: no cubes found")
    return found


def output_names(paths: list[Path]) -> list[str]:
    """One output folder name per cube: its stem, or its file name where two stems collide."""
    stems = [p.stem for p in paths]
    names = [s if stems.count(s) == 1 else p.name for s, p in zip(stems, paths, strict=True)]
    if len(set(names)) < len(names):  # same file names in different folders (a recursive glob)
        names = [f"{p.parent.name}__{n}" for p, n in zip(paths, names, strict=True)]
    return names


def is_complete(folder: Path, job: BatchJob) -> bool:
    """A finished output of this job (job.json is written last, the folder renamed into place after it)."""
    try:
        return json.loads((folder / JOB).read_text()) == job.record()
    except (OSError, ValueError, RecursionError):
        return False


def explain_one(path: str, out_dir: str, name: str, job: BatchJob, model: Any = None) -> list[str]:
    """Explain one cube into OUT/name (atomically) and return its summary row; a cube that cannot be
    read or explained gives an error row instead of stopping the batch."""
    out = Path(out_dir)
    tmp = out / f".{name}{PARTIAL}{uuid.uuid4().hex[:8]}"
    try:
        if (out / name).exists() and not is_result_folder(out / name):  # a user's own folder of that name
            raise OutputRefused(f"{out / name}: is not a napari-focus result folder; refusing to replace it")
        from .cube_io import read_cube
        from .explain_job import check_cube, check_cube_for_model, checkpoint_bands, load_model
        from .input_check import add_input_notes, check_input

        cube = read_cube(path)  # the cube's own checks first: a refused cube costs no model
        check_cube(cube, *(checkpoint_bands(job.model) or ()))
        cube = check_input(cube, path)
        from .export import export_explanation
        from .focus.tiled import explain_scene

        if model is None:
            model = load_model(job.model, job.device)  # cached: once per worker process
        if model.checkpoint_sha256 != job.model_sha256:
            raise FocusError(f"{job.model}: the checkpoint changed while the batch ran")
        check_cube_for_model(cube, model)
        tile: int | str = int(job.tile) if job.tile.isdigit() else job.tile
        exp = explain_scene(model, cube, class_index=job.class_name, method=job.method, rule=job.rule, tile=tile,
                            overlap=job.overlap)
        export_explanation(add_input_notes(exp, cube), tmp, list(model.classes), model=model, saliency=job.saliency)
        (tmp / JOB).write_text(json.dumps(job.record()))
        replace_dir(tmp, out / name)
    except (FocusError, OSError, ValueError, MemoryError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return error_row(path, name, job, f"{type(e).__name__}: {e}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary_row(path, name, out / name, job)


def summary_header(job: BatchJob) -> list[str]:
    top = [f"{k}_{i}" for i in range(1, 6) for k in ("band", "nm")]
    return ["file", "output", "status", "predicted", "explained_class"] + [f"p_{c}" for c in job.classes] + top


def summary_row(path: str | Path, name: str, folder: Path, job: BatchJob) -> list[str]:
    """A summary row read back from an output folder's prediction.json (the same for new and skipped)."""
    rec = json.loads((folder / "prediction.json").read_text())
    probs = rec.get("probabilities", {})
    probs = probs if isinstance(probs, dict) else dict(zip(job.classes, probs, strict=False))
    bands, nms = rec.get("top5_bands", []), rec.get("top5_nm", [])
    top: list[str] = []
    for i in range(5):
        top += [str(bands[i]) if i < len(bands) else "", str(nms[i]) if i < len(nms) else ""]
    return ([str(path), name, "ok", str(rec.get("predicted", "")), str(rec.get("explained_class", ""))]
            + [str(probs.get(c, "")) for c in job.classes] + top)


def error_row(path: str | Path, name: str, job: BatchJob, message: str) -> list[str]:
    n = len(summary_header(job))
    return ([str(path), name, "error: " + " ".join(message.split())] + [""] * n)[:n]


def clean_partials(out: Path) -> None:
    """Remove hidden folders a killed run left behind (never a complete output)."""
    for p in out.iterdir():
        if p.name.startswith(".") and p.is_dir() and (PARTIAL in p.name or OLD in p.name):
            shutil.rmtree(p, ignore_errors=True)


def run_batch(
    spec: str | os.PathLike,
    out: str | os.PathLike,
    job: BatchJob,
    model: Any = None,
    workers: int = 0,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Explain every cube of `spec` into `out`; returns counts and the summary path.

    In process (`workers=0`, no `scheduler`): `model` (or the job's checkpoint, loaded once, when the first cube
    passes its checks) explains every cube. Otherwise on Dask distributed. `progress(done, total, info)` counts
    explained cubes.
    """
    out = check_out(out, "result")
    paths = find_cubes(spec, exclude=out)  # no cubes: refused before anything is written
    out.mkdir(parents=True, exist_ok=True)
    mark_result_folder(out, "batch")  # first: an interrupted run's folder is recognised when it resumes
    clean_partials(out)
    names = output_names(paths)
    rows: dict[str, list[str]] = {}
    todo = []
    for p, n in zip(paths, names, strict=True):
        if is_complete(out / n, job):
            rows[n] = summary_row(p, n, out / n, job)
        else:
            todo.append((str(p), n))

    def write_summary() -> None:
        body = [rows[n] for n in names if n in rows]
        _atomic_text(out / SUMMARY, csv_text([summary_header(job)] + body))

    write_summary()
    done = 0

    def finished(name: str, row: list[str]) -> None:
        nonlocal done
        rows[name] = row
        done += 1
        write_summary()
        if progress is not None:
            progress(done, len(todo), {"file": name})

    if todo and (workers or scheduler):
        _run_distributed(todo, out, job, workers, scheduler, finished)
    elif todo:
        for path, name in todo:  # `explain_one` loads the job's model (once, cached) for the first cube it passes
            finished(name, explain_one(path, str(out), name, job, model))
    failed = sum(1 for r in rows.values() if r[2] != "ok")
    return {"out": str(out), "cubes": len(paths), "explained": len(todo) - failed, "skipped": len(paths) - len(todo),
            "failed": failed, "summary": str(out / SUMMARY)}


def _run_distributed(todo: list[tuple[str, str]], out: Path, job: BatchJob, workers: int, scheduler: str | None,
                     finished: Callable[[str, list[str]], None]) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise FocusError("--workers/--scheduler need Dask distributed: pip install 'napari-focus[batch]'") from None
    import logging

    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            cluster = LocalCluster(n_workers=max(1, int(workers)), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
    except OSError as e:
        raise FocusError(f"cannot reach the Dask scheduler {scheduler or 'LocalCluster'} ({e})") from None
    try:
        futures = {client.submit(explain_one, path, str(out), name, job, pure=False): name for path, name in todo}
        for fut in as_completed(futures):
            finished(futures[fut], fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
