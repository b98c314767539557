"""Where napari-focus may write: an output path must be absent, an empty folder, or a folder napari-focus made.

Saving replaces or deletes what is at the output path (a checkpoint is swapped in whole, an explanation
overwrites its files, a batch removes its own leftovers), so anything else there would be lost. Each
kind of folder carries a marker napari-focus writes and a user's folder does not: a checkpoint's
config.json format, a result folder's `napari-focus-result.json`, a training state's own file names.
The check needs neither torch nor the data, so the CLI runs it first, and the writers run it again
(the dock's Save and Export, a batch, a save after a long training).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal

from .errors import FocusError

CHECKPOINT_FORMAT = "napari-focus-checkpoint"
RESULT_FORMAT = "napari-focus-result"
RESULT_MARKER = "napari-focus-result.json"
TRAIN_STATE_FORMAT = "napari-focus-train-state"
STATE_SUFFIX = ".partial"  # a training run's state lives in the sibling `<out>.partial/`

Kind = Literal["checkpoint", "result", "train-state"]
_WHAT = {"checkpoint": "a napari-focus checkpoint", "result": "a napari-focus result folder",
         "train-state": "a napari-focus training state"}
# what the per-epoch state writer creates (`resume.write_state`): state.json, its tensors and their temp files
_STATE_NAMES = re.compile(r"^(state\.json|state-[\w.-]+\.safetensors|\.(state[\w.-]*)\.new-[0-9a-f]+)$")


class OutputRefused(FocusError):
    """An output path holds something napari-focus did not write; nothing was changed."""


def _format_of(path: Path) -> object:
    """The `format` field of a small JSON file, or None (missing, unreadable, not an object, or huge)."""
    try:
        if path.stat().st_size > 1 << 20:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data.get("format") if isinstance(data, dict) else None


def is_checkpoint_folder(folder: str | os.PathLike) -> bool:
    """A folder whose config.json says it is a napari-focus checkpoint."""
    return _format_of(Path(folder) / "config.json") == CHECKPOINT_FORMAT


def is_result_folder(folder: str | os.PathLike) -> bool:
    """A folder napari-focus wrote an explanation or a batch into (it holds the result marker)."""
    return _format_of(Path(folder) / RESULT_MARKER) == RESULT_FORMAT


def is_train_state_folder(folder: str | os.PathLike) -> bool:
    """A folder holding only what the per-epoch state writer creates (a killed first save included)."""
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return False
    return all(_STATE_NAMES.match(n) for n in names)


_RECOGNISED = {"checkpoint": is_checkpoint_folder, "result": is_result_folder, "train-state": is_train_state_folder}


def _is_empty(folder: Path) -> bool:
    with os.scandir(folder) as it:
        return next(it, None) is None


def _creatable(path: Path) -> None:
    """Refuse a path whose nearest existing ancestor is not a writable folder (mkdir would fail later)."""
    parent = path.parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputRefused(f"{path}: cannot be created ({parent} is not a folder)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputRefused(f"{path}: cannot be created ({parent} is not writable)")


def check_out(path: str | os.PathLike, kind: Kind) -> Path:
    """Refuse (OutputRefused, one line) an output path that holds a user's file or folder; returns the path.

    Allowed: nothing there yet (and it can be created), an empty folder, or a folder of `kind` that
    napari-focus wrote earlier (which it may replace or add to)."""
    p = Path(path)
    what = _WHAT[kind]
    if p.is_symlink() and not p.exists():
        raise OutputRefused(f"{p}: is a broken symbolic link; refusing to write through it")
    if not p.exists():
        _creatable(p)
        return p
    if not p.is_dir():
        raise OutputRefused(f"{p}: is a file, not {what}; refusing to replace it (choose a new or empty folder)")
    try:
        if _is_empty(p) or _RECOGNISED[kind](p):
            return p
    except OSError as e:
        raise OutputRefused(f"{p}: cannot be read ({e.strerror or e})") from None
    raise OutputRefused(f"{p}: is not empty and not {what}; refusing to overwrite its files "
                        "(choose a new or empty folder)")


def train_state_dir(out: str | os.PathLike) -> Path:
    """Where a training run for checkpoint folder `out` keeps its per-epoch state: the sibling `<out>.partial/`."""
    out = Path(out).resolve()
    return out.with_name(out.name + STATE_SUFFIX)


def check_train_out(out: str | os.PathLike) -> Path:
    """A training run writes the checkpoint `out` and its state beside it: refuse either holding a user's files."""
    check_out(out, "checkpoint")
    check_out(train_state_dir(out), "train-state")
    return Path(out)


def mark_result_folder(folder: str | os.PathLike, kind: str) -> Path:
    """Write the marker that makes `folder` recognisable as a result folder (before any result file)."""
    path = Path(folder) / RESULT_MARKER
    if not is_result_folder(folder):
        path.write_text(json.dumps({"format": RESULT_FORMAT, "version": 1, "kind": kind}) + "\n")
    return path
