"""Resuming an interrupted FOCUS training run (every artefact run resumes after an interruption).

After each epoch `train(..., resume_dir=...)` writes the run's state to that folder (`<out>.partial/`
on the CLI): the model's own tensors (trainables and calibration), the optimiser's moments, the shuffling
generator and torch's RNG as safetensors, and the epoch, history and a fingerprint of the run (settings,
initial model, data) as JSON. The tensors go to a new file first and `state.json`, which names that file,
is renamed into place last, so a run killed at any moment leaves the previous epoch's state intact.
Rerunning the same training continues after the last finished epoch and ends with the same weights as an
uninterrupted run; another configuration or other data is refused (the folder must go, `--restart`).
The fast path's key/value cache is a deterministic function of the restored model, so it is rebuilt.
The resume point itself (`write_state`/`read_state`) and the optimiser/RNG flattening are shared with the
backbone pretraining (`zoo.pretrain_backbone`), so there is one such format in the project.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from napari_focus.atomic import replace_file
from napari_focus.errors import FocusError
from napari_focus.outputs import TRAIN_STATE_FORMAT as FORMAT
from napari_focus.outputs import train_state_dir

VERSION = 1
STATE = "state.json"
state_dir_for = train_state_dir  # the CLI's `<out>.partial/`, defined beside the check that guards it


def clear_state(folder: str | Path | None) -> None:
    """Remove a training state (after its checkpoint has been saved, or to start over)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _hash_tensor(h: Any, name: str, t: torch.Tensor | None) -> None:
    if t is None:
        h.update(f"{name}:none;".encode())
        return
    t = t.detach().cpu().contiguous()
    h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().data)


def fingerprint(model, settings: dict[str, Any], data: dict[str, torch.Tensor | None]) -> str:
    """SHA-256 of the training settings, the model as it enters training (backbone included) and the data."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    h.update(json.dumps({"task": model.task, "classes": list(model.classes), "groups": model.groups.to_dict()},
                        sort_keys=True, default=str).encode())
    for name, t in sorted(model.state_dict().items()):
        _hash_tensor(h, "model." + name, t)
    for name, t in data.items():
        _hash_tensor(h, "data." + name, t)
    return h.hexdigest()


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """The optimiser's per-parameter state (Adam's step and moments) as flat `opt.<index>.<key>` tensors, so
    that it can go to safetensors; the hyperparameters are not saved (the resuming code sets them again)."""
    out = {}
    for idx, st in opt.state_dict()["state"].items():
        for key, v in st.items():
            out[f"opt.{idx}.{key}"] = (v if torch.is_tensor(v) else torch.tensor(v)).cpu().contiguous()
    return out


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    """Put the state of `optimizer_tensors` back into `opt` (built over the same parameters, in the same order)."""
    sd = opt.state_dict()
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = v
    sd["state"] = state
    opt.load_state_dict(sd)


def rng_tensors(gen: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """torch's global RNG state and, if given, that of the run's own generator."""
    out = {"rng.torch": torch.get_rng_state()}
    if gen is not None:
        out["rng.gen"] = gen.get_state()
    return out


def restore_rng(tensors: dict[str, torch.Tensor], gen: torch.Generator | None = None) -> None:
    """Put back the states saved by `rng_tensors`."""
    torch.set_rng_state(tensors["rng.torch"])
    if gen is not None:
        gen.set_state(tensors["rng.gen"])


def write_state(folder: Path, stem: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """Save a resume point: the tensors to `<stem>.safetensors`, then `state.json` (`meta` plus the tensors'
    file name) renamed into place last, then older tensor files removed; a kill at any moment leaves the
    previous point or the new one. Returns the meta as written."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = stem + ".safetensors"
    tensors = {k: t.detach().cpu().contiguous() for k, t in tensors.items()}
    replace_file(folder / name, lambda p: save_file(tensors, str(p), metadata={"format": meta["format"]}))
    meta = {**meta, "tensors": name}
    replace_file(folder / STATE, lambda p: p.write_text(json.dumps(meta)))
    for old in folder.glob("state-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return meta


def read_state(folder: Path, fmt: str, version: int,
               hint: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """The resume point `write_state` left in `folder` (meta, tensors), or None if there is none; a state of
    another format or version, or an unreadable one, raises FocusError ending with `hint` (how to start over)."""
    path = Path(folder) / STATE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
        ok = isinstance(meta, dict) and meta.get("format") == fmt and meta.get("version") == version
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        ok = False
    if not ok:
        raise FocusError(f"{folder}: not a readable training state; delete it or {hint}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(Path(folder) / meta["tensors"]))
    except (OSError, KeyError, TypeError, ValueError, SafetensorError) as e:  # e.g. truncated by a full disk
        raise FocusError(f"{folder}: the training state's tensors cannot be read ({e}); {hint} to start over") from None
    return meta, tensors


class Resumer:
    """Saves the state after each epoch and restores it at the start; inert when `folder` is None."""

    def __init__(self, folder: str | Path | None, fp: str = "", restart: bool = False) -> None:
        self.folder = None if folder is None else Path(folder)
        self.fp = fp
        self.meta: dict[str, Any] | None = None
        self.tensors: dict[str, torch.Tensor] = {}
        if self.folder is None:
            return
        if restart:
            clear_state(self.folder)
        self._load()

    @property
    def epoch(self) -> int:
        """Epochs finished by earlier runs (0 for a fresh run)."""
        return int(self.meta["epoch"]) if self.meta else 0

    @property
    def seconds(self) -> float:
        """Training time spent by earlier runs."""
        return float(self.meta.get("seconds", 0.0)) if self.meta else 0.0

    def _load(self) -> None:
        found = read_state(self.folder, FORMAT, VERSION, "pass --restart")
        if found is None:
            return
        meta, tensors = found
        if meta.get("fingerprint") != self.fp:
            raise FocusError(f"{self.folder}: an interrupted run with other settings, model or data is saved here; "
                             f"rerun that command to resume it, or pass --restart (or delete the folder) to start over")
        self.meta, self.tensors = meta, tensors

    def model_state(self) -> dict[str, torch.Tensor]:
        """The saved model tensors (trainables, normalisation, calibration); empty for a fresh run."""
        return {k[6:]: v for k, v in self.tensors.items() if k.startswith("model.")} if self.meta else {}

    def restore_run(self, opt: torch.optim.Optimizer, gen: torch.Generator, hist) -> int:
        """The optimiser's moments, the generators and the history; returns the first epoch still to run."""
        if not self.meta:
            return 0
        restore_optimizer(opt, self.tensors)
        restore_rng(self.tensors, gen)
        for key in ("loss", "sink_mass", "val_score"):
            setattr(hist, key, [float(v) for v in self.meta["history"][key]])
        return self.epoch

    def save(self, epoch: int, model_state: dict[str, torch.Tensor], opt: torch.optim.Optimizer,
             gen: torch.Generator, hist, seconds: float) -> None:
        """The state after `epoch` finished epochs (tensors first, then the JSON that names them)."""
        if self.folder is None:
            return
        tensors = {"model." + n: t for n, t in model_state.items()}
        tensors.update(optimizer_tensors(opt))
        tensors.update(rng_tensors(gen))
        meta = {"format": FORMAT, "version": VERSION, "fingerprint": self.fp, "epoch": epoch,
                "seconds": seconds, "history": {"loss": hist.loss, "sink_mass": hist.sink_mass,
                                                "val_score": hist.val_score}}
        self.meta = write_state(self.folder, f"state-epoch{epoch:04d}", tensors, meta)
        self.tensors = {}
