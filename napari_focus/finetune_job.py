"""Fine-tune FOCUS on a `TrainingSet`: pick the starting model, hold images out, train, hand the model back.

The one code path behind the Fine-tune dock (which runs `run_finetune` in a worker) and notebooks.
The starting model is never trained in place: a copy (sharing the frozen backbone) is, so a cancel,
an error or running out of memory leaves the model the user had bit-identical. torch is imported when
the job runs, not when this module is imported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CheckpointError, FocusError
from .training_set import TrainingSet, check_bands, reference_bands

START_KINDS = ("default", "checkpoint", "model", "backbone")


@dataclass
class StartPoint:
    """Where training starts.

    kind "default": the embedded FOCUS checkpoint for the data's sensor (fresh prompts on the embedded
    backbone when none is installed); "checkpoint": the folder `ref`; "model": a model the Explain dock
    knows (`ref`: a folder or an `explain_job.remember_model` key); "backbone": fresh prompts on the
    backbone `backbone_name` / `backbone_file` (both None: the embedded backbone; `download`: fetch a
    timm name's weights from the Hugging Face hub, the only path here that uses the network).
    """

    kind: str = "default"
    ref: Any = None
    backbone_name: str | None = None
    backbone_file: str | None = None
    download: bool = False

    def __post_init__(self) -> None:
        if self.kind not in START_KINDS:
            raise ValueError(f"kind must be one of {START_KINDS}")


@dataclass
class Settings:
    """What the dock's settings hold, with the defaults it shows."""

    epochs: int = 30
    lr: float = 3e-3
    sink_weight: float = 1e-3
    held_out: float = 0.25
    fast: bool = True  # prompts + head against cached backbone keys/values; False: + adapter, group embeddings, SINK
    batch_size: int = 8
    seed: int = 0
    n_groups: int = 10
    trait: str = "trait"  # the output's name for regression
    # fit Φ's in-group spectral contrast first (focus/spectral_contrast.py); None: only for a fresh (uncalibrated)
    # model, whose Φ is still each group's mean band; a trained checkpoint's Φ is kept
    spectral_contrast: float | None = None


@dataclass
class FinetuneResult:
    model: Any
    history: Any
    n_train: int
    n_held: int
    notes: list[str] = field(default_factory=list)
    score_before: float | None = None  # the starting model's held-out score (None: fresh, or nothing held out)

    @property
    def score_fell(self) -> bool:
        """The held-out score ended below the starting model's: the new model should not replace it silently."""
        after = getattr(self.history, "val_score", None)
        return self.score_before is not None and bool(after) and after[-1] < self.score_before - 1e-9

    @property
    def cancelled(self) -> bool:
        return bool(getattr(self.history, "cancelled", False))


NEW_CLASSES_NOTE = "new classes get new prompts: "


def copy_model(model: Any) -> Any:
    """An independent copy of a FOCUS model that shares its frozen backbone (never trained, so never copied)."""
    return copy.deepcopy(model, memo={id(model.backbone): model.backbone})


def download_backbone(name: str) -> Path:
    """The local file of a timm model's pretrained weights, downloaded once from the Hugging Face hub."""
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except Exception:  # noqa: BLE001 - timm raises several types for an unknown name
        cfg = None
    hub_id = getattr(cfg, "hf_hub_id", None)
    if not hub_id:
        raise FocusError(f"timm has no downloadable weights named {name!r}; give a local weights file")
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(hub_id, "model.safetensors"))
    except Exception as exc:  # noqa: BLE001 - offline, proxy, missing file: one message
        raise FocusError(f"could not download {name!r} ({type(exc).__name__}); is this machine online? "
                         "Otherwise give a local weights file") from None


def _fresh(backbone: Any, spec: Any, spec_dir: str | None, ts: TrainingSet, settings: Settings) -> Any:
    """A new, uncalibrated FOCUS model on an existing frozen backbone, sized to the training set's bands."""
    from .focus.groups import make_groups
    from .focus.model import FocusModel

    ref = reference_bands(ts.samples)
    n_groups = min(settings.n_groups, ref.n_bands)
    groups = make_groups(ref.n_bands, ref.wavelengths_nm, n_groups, good_bands=ref.good_bands)
    classes = [settings.trait] if ts.task == "regression" else ts.classes
    model = FocusModel(backbone, spec, groups, classes, task=ts.task, wavelengths_nm=ref.wavelengths_nm,
                       seed=settings.seed)
    model.backbone_spec_dir = spec_dir
    return model


def start_model(start: StartPoint, ts: TrainingSet, settings: Settings) -> tuple[Any, list[str]]:
    """The model to train (always a private copy), with classes added, and notes for the user."""
    from .explain_job import default_checkpoint, load_model
    from .focus.checkpoint import load_checkpoint
    from .focus.factory import backbone_spec, new_model

    notes: list[str] = []
    model = None
    if start.kind == "default":
        try:
            model = load_checkpoint(default_checkpoint(reference_bands(ts.samples)))
        except CheckpointError:
            notes.append("no embedded FOCUS model is installed: fresh prompts on the embedded backbone")
            start = StartPoint("backbone")
    elif start.kind == "checkpoint":
        model = load_checkpoint(start.ref)
    elif start.kind == "model":
        model = copy_model(load_model(start.ref))  # may be the Explain dock's cached instance: never train it
    if start.kind == "backbone":
        file = start.backbone_file
        if start.download and start.backbone_name and not file:
            file = download_backbone(start.backbone_name)
        spec = backbone_spec(start.backbone_name, file)
        ref = reference_bands(ts.samples)
        classes = [settings.trait] if ts.task == "regression" else ts.classes
        model = new_model(spec, ref.n_bands, ref.wavelengths_nm, classes, task=ts.task,
                          n_groups=min(settings.n_groups, ref.n_bands), good_bands=ref.good_bands, seed=settings.seed)
    assert model is not None
    # the copy is trained: it is no longer the checkpoint it started from (Save… gives it a folder and hash)
    model.checkpoint_sha256 = model.checkpoint_path = None
    if model.task != ts.task:
        notes.append(f"the starting model is a {model.task} model: fresh prompts on its backbone for {ts.task}")
        model = _fresh(model.backbone, model.backbone_spec, model.backbone_spec_dir, ts, settings)
    elif ts.task == "classification":
        new = [c for c in ts.classes if c not in model.classes]
        if new:
            model.add_classes(new)
            notes.append(f"{NEW_CLASSES_NOTE}{', '.join(new)}")
    return model, notes


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(exc).lower()


def run_finetune(
    ts: TrainingSet,
    start: StartPoint | None = None,
    settings: Settings | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_epoch: Callable[[int, float, float | None], None] | None = None,
) -> FinetuneResult:
    """Check the set, split it by image, train a copy of the starting model; returns it with its history."""
    from .focus.device import select_device
    from .focus.train import train

    start = start or StartPoint()
    settings = settings or Settings()
    ts.check()
    train_set, held = ts.split(settings.held_out, settings.seed)
    if progress is not None:
        progress(0, 1, {"stage": "loading model"})
    model, notes = start_model(start, ts, settings)
    notes += train_set.notes
    notes += check_bands(ts.samples, model.wavelengths_nm, model.groups.n_bands, model.used_bands.cpu().numpy())
    contrast = settings.spectral_contrast
    if contrast is None:
        contrast = 0.0 if bool(model.calibrated) else 1.0
    if contrast:
        notes.append("new model: Φ first gets the spectral contrast that separates the classes in the training set")
    model.to(select_device())
    comparable = not contrast and not any(n.startswith(NEW_CLASSES_NOTE) for n in notes)  # the same model, trained
    score_before = _held_out_score(model, held) if comparable else None
    try:
        hist = train(model, train_set.pairs(), epochs=settings.epochs, lr=settings.lr,
                     sink_weight=settings.sink_weight, batch_size=settings.batch_size, seed=settings.seed,
                     fast=settings.fast, val=held.pairs() or None, progress=progress, should_stop=should_stop,
                     on_epoch=on_epoch, spectral_contrast=contrast)
    except Exception as exc:
        if _is_oom(exc):
            raise FocusError("ran out of memory while training; the previous model is unchanged. Use fewer or "
                             "smaller samples, or 'prompts + head (fast)'") from None
        raise
    return FinetuneResult(model, hist, n_train=len(train_set), n_held=len(held), notes=notes,
                          score_before=score_before)


def _held_out_score(model: Any, held: TrainingSet) -> float | None:
    """The starting model's score on the held-out images, to compare the fine-tuned one with (None without any)."""
    from .focus.inputs import tensors_from
    from .focus.train import score

    pairs = held.pairs()
    if not pairs:
        return None
    model.eval()
    return float(score(model, *tensors_from(model, pairs)))
