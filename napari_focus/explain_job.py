"""Explain a cube as a sequence of progress steps: the one code path behind the dock and the CLI.

A generator yields ``(done, total, message)`` and returns the `Explanation`, so the GUI runs it in a
napari `thread_worker` (a yield is where a cancel takes effect) and a notebook simply exhausts it.
torch is imported here only when the job runs, never when the module is imported.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np

from .cube import Cube
from .errors import Cancelled, CheckpointError, FocusError
from .resources import model_dir

Step = tuple[int, int, str]
# shipped FOCUS checkpoints, by sensor; the one whose wavelengths best cover the cube is the default
EMBEDDED_CHECKPOINTS = ("focus_bls_vnir204", "focus_bls_vswir200")
DEMO_NOTE = ("Demonstration model: a small ViT pretrained by this project on simulated leaves (a stand-in for "
             "DINOv2). It explains simulated bacterial leaf spot; do not use it for decisions on real plants.")


DEMO_BACKBONE_NOTE = ("Fine-tuned on the demonstration backbone (a small ViT pretrained by this project on simulated "
                      "leaves, a stand-in for DINOv2): do not use it for decisions on real plants.")


def embedded_checkpoints() -> list[Path]:
    """The shipped FOCUS checkpoints that exist in this installation."""
    try:
        root = model_dir()
    except FileNotFoundError:
        return []
    return [root / n for n in EMBEDDED_CHECKPOINTS if (root / n / "config.json").is_file()]


def is_embedded(path: str | os.PathLike) -> bool:
    return Path(path).resolve() in {p.resolve() for p in embedded_checkpoints()}


def on_demo_backbone(model: Any) -> bool:
    """Whether a model (e.g. fine-tuned in this session) still sits on the embedded demonstration backbone: the
    shipped checkpoints' backbone weights, by their SHA-256."""
    import json

    sha = getattr(getattr(model, "backbone_spec", None), "sha256", None)
    if not sha:
        return False
    for folder in embedded_checkpoints():
        try:
            if json.loads((folder / "config.json").read_text()).get("backbone", {}).get("sha256") == sha:
                return True
        except (OSError, ValueError):
            continue
    return False


def default_checkpoint(cube: Cube | None = None) -> Path:
    """The embedded checkpoint for this cube, chosen by wavelengths (each checkpoint's config.json), not by name:
    the one that reads the most of the cube's range, the narrowest of those within 5 % of it (a 397–1004 nm cube
    gets the 400–1000 nm model, a 378–2504 nm one the 400–2500 nm model). Without wavelengths: the first."""
    found = embedded_checkpoints()
    if not found:
        raise CheckpointError("no embedded model is installed (model/ holds no FOCUS checkpoint)")
    wl = None if cube is None else cube.wavelengths_nm
    if wl is None or not np.isfinite(wl).any():
        return found[0]
    lo, hi = float(np.nanmin(wl)), float(np.nanmax(wl))

    def reach(folder: Path) -> tuple[float, float]:  # (nm of the cube's range it reads, its own span)
        bands = checkpoint_bands(folder)
        if bands is None or bands[1] is None:
            return 0.0, np.inf
        mlo, mhi = float(np.min(bands[1])), float(np.max(bands[1]))
        return max(0.0, min(hi, mhi) - max(lo, mlo)), mhi - mlo

    reaches = {f: reach(f) for f in found}
    best = max(r for r, _ in reaches.values())
    near = [f for f in found if reaches[f][0] >= 0.95 * best]
    return min(near, key=lambda f: reaches[f][1])


def checkpoint_for_cubes(paths: list[Path]) -> Path:
    """The one embedded checkpoint `default_checkpoint` picks for every cube of a batch (read lazily, no torch);
    cubes that need different ones are refused, naming one of each, since a batch runs one model."""
    from .cube_io import read_cube

    picks: dict[Path, Path] = {}
    for p in paths:
        try:
            cube = read_cube(p)
        except FocusError:
            continue  # the batch reports it in its row, as it does for any unreadable cube
        picks.setdefault(default_checkpoint(cube), p)
    if len(picks) > 1:
        which = "; ".join(f"{cube.name} needs {folder.name}" for folder, cube in picks.items())
        raise FocusError(f"these cubes need different embedded models ({which}): explain them apart, or give --model")
    return next(iter(picks), None) or default_checkpoint()


# models that live only in this session (fine-tuned in napari), selectable like a folder by their key
MEMORY_PREFIX = "memory:"
_REMEMBERED: dict[str, tuple[str, Any]] = {}


def remember_model(model: Any, label: str) -> str:
    """Keep an in-memory model (e.g. just fine-tuned) under a key that `load_model` and the Explain dock accept."""
    key = f"{MEMORY_PREFIX}{len(_REMEMBERED) + 1}"
    _REMEMBERED[key] = (label, model)
    return key


def remembered(ref: Any) -> Any | None:
    """The in-memory model a key names, or None (folders and anything else)."""
    hit = _REMEMBERED.get(ref) if isinstance(ref, str) else None
    return None if hit is None else hit[1]


def remembered_models() -> list[tuple[str, str]]:
    """(key, label) of every in-memory model, oldest first."""
    return [(k, label) for k, (label, _) in _REMEMBERED.items()]


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str, mtime_ns: int, device: str | None) -> Any:
    from .focus.checkpoint import load_checkpoint

    return load_checkpoint(folder, device=device)


def load_model(folder: str | os.PathLike, device: str | None = None) -> Any:
    """Load (once) a FOCUS checkpoint folder (or return a `remember_model` one); a changed folder is reloaded."""
    if (kept := remembered(folder)) is not None:
        return kept
    folder = Path(folder)
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise CheckpointError(f"{folder}: not a FOCUS checkpoint folder (no config.json)")
    if device is None:
        from .focus.device import select_device

        device = str(select_device())
    return _load_cached(str(folder.resolve()), cfg.stat().st_mtime_ns, device)


def explain_steps(
    cube: Cube,
    model: Any = None,
    class_name: str | int | None = None,
    method: str = "focus",
    rule: str | None = None,
    leaf_mask: np.ndarray | None = None,
    on_tile: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    refine: bool = False,
) -> Generator[Step, None, Any]:
    """Check the cube (`input_check`), load the model if given as a folder (None: the embedded default), explain.

    `refine`: FOCUS's curve from the model's rule refined with more forward passes (`readout.refined_rule`).

    The one tiling policy of the CLI and the batch runner (`focus.tiled.explain_scene`, tile "auto"): the cube
    resized whole to the model's input, unless its longer side exceeds 4 inputs; then in tiles (one per leaf of
    `leaf_mask`, as `napari-focus explain --labels` does with a boolean mask). `on_tile(done, total)` counts
    tiles; `should_stop()` returning True stops at the next tile with `Cancelled`.
    """
    from .input_check import add_input_notes, check_input

    total = 3
    cube = check_input(cube)  # before any model work (a no-op for a cube the dock checked already)
    if model is None or isinstance(model, (str, os.PathLike)):
        yield 0, total, "loading model"
        model = load_model(model if model is not None else default_checkpoint(cube))
    yield 1, total, "checking cube"
    check_cube_for_model(cube, model)
    from .focus.tiled import explain_scene  # FOCUS enters inference_mode itself; the baselines need gradients

    def progress(done: int, of: int, _: dict) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled("cancelled")
        if on_tile is not None:
            on_tile(done, of)

    if refine:
        from .focus.readout import refined_rule

        rule = refined_rule(rule or model.saliency_rule)
    yield 2, total, f"explaining ({method}{', refined curve' if refine else ''})"
    exp = explain_scene(model, cube, class_index=class_name, method=method, rule=rule, tile="auto",
                        leaf_mask=leaf_mask, progress=progress)
    yield 3, total, "done"
    return add_input_notes(exp, cube)


def check_cube_for_model(cube: Cube, model: Any) -> None:
    """Refuse, with a clear reason, a cube the model cannot read (band counts that cannot be mapped)."""
    check_cube(cube, int(model.groups.n_bands), getattr(model, "wavelengths_nm", None))


def check_cube(cube: Cube, n_model: int | None = None, model_wl: Any = None) -> None:
    """Refuse a cube that cannot be explained: not 3-D, fewer than 2 bands, or (with the model's band count
    and wavelengths) bands that cannot be mapped to the model's. Cheap: run it before a model is loaded."""
    if cube.data.ndim != 3:
        raise FocusError(f"the layer is {cube.data.ndim}-D; explain needs a (bands, y, x) cube")
    if cube.n_bands < 2:
        raise FocusError(f"the cube has {cube.n_bands} band; explaining which wavelengths matter needs at least 2")
    if n_model is None:
        return
    if cube.wavelengths_nm is None and cube.n_bands != n_model:
        raise FocusError(f"the cube has {cube.n_bands} bands and no wavelengths; the model needs {n_model} bands "
                         "(add wavelengths to resample)")
    if cube.wavelengths_nm is not None and model_wl is not None:
        lo, hi = float(np.nanmin(cube.wavelengths_nm)), float(np.nanmax(cube.wavelengths_nm))
        mlo, mhi = float(np.min(model_wl)), float(np.max(model_wl))
        overlap = max(0.0, min(hi, mhi) - max(lo, mlo)) / max(mhi - mlo, 1e-9)
        if overlap < 0.5:
            raise FocusError(f"the cube covers {lo:.0f}–{hi:.0f} nm; the model was trained on {mlo:.0f}–{mhi:.0f} nm")


def checkpoint_bands(folder: str | os.PathLike) -> tuple[int, np.ndarray | None] | None:
    """A checkpoint's band count and wavelengths read from its config.json alone (no torch), so a cube can be
    checked before the model is loaded; None when the file does not say (loading it then explains why)."""
    import json

    try:
        cfg = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        n = len(cfg["normalisation"]["band_mean"])
        wl = cfg.get("wavelengths_nm")
        wl = None if wl is None else np.asarray(wl, dtype=float)
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        return None
    if wl is not None and (wl.shape != (n,) or not np.isfinite(wl).all()):
        return None
    return n, wl


def run(steps: Generator[Step, None, Any]) -> Any:
    """Exhaust a step generator and return its result (notebooks, CLI, tests)."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
