"""New FOCUS models: pick the backbone (a timm name + local file, a backbone.json, or the embedded
default) and size the model to a dataset's bands and classes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from napari_focus.errors import FocusError
from napari_focus.focus.backbone import BackboneSpec, build_backbone, sha256_file
from napari_focus.focus.groups import make_groups
from napari_focus.focus.model import FocusModel


def default_backbone_json() -> Path | None:
    """The embedded backbone's description (model/backbone/backbone.json), when shipped."""
    try:
        from napari_focus.resources import model_dir

        p = model_dir() / "backbone" / "backbone.json"
    except (ImportError, FileNotFoundError):
        return None
    return p if p.is_file() else None


def backbone_spec(name: str | None = None, weights_file: str | Path | None = None,
                  img_size: int | None = None) -> BackboneSpec:
    """A spec from a timm name and/or a local file (.safetensors/.pth, or a backbone.json).

    Without either, the embedded default. Never downloads: a name without a file is refused.
    """
    if weights_file is None and name is None:
        weights_file = default_backbone_json()
        if weights_file is None:
            raise FocusError("no backbone given and no embedded backbone installed; pass --backbone-file")
    if weights_file is None:
        raise FocusError(f"backbone {name!r}: give its local weights file (--backbone-file); napari-focus "
                         "does not download")
    path = Path(weights_file)
    if not path.is_file():
        raise FocusError(f"backbone file not found: {path}")
    if path.suffix == ".json":
        try:
            info = json.loads(path.read_text())
            w = path.parent / info["weights_file"]
            kwargs = dict(info.get("kwargs") or {})
        except (json.JSONDecodeError, KeyError, TypeError, RecursionError, UnicodeDecodeError) as e:
            raise FocusError(f"{path}: not a backbone description ({e})") from None
        kwargs.pop("img_size", None) if img_size else None
        return BackboneSpec(name=info.get("name") or name, kwargs=kwargs, weights_file=str(w.resolve()),
                            sha256=sha256_file(w), img_size=img_size or info.get("kwargs", {}).get("img_size"))
    if name is not None and "dinov2" in name and img_size is None:
        img_size = 224  # docs/method.md §3.9: DINOv2 at 224 px, not timm's 518 default
    return BackboneSpec(name=name, weights_file=str(path.resolve()), sha256=sha256_file(path), img_size=img_size)


def new_model(
    spec: BackboneSpec,
    n_bands: int,
    wavelengths_nm: Sequence[float] | np.ndarray | None,
    classes: Sequence[str],
    task: str = "classification",
    n_groups: int = 10,
    good_bands: Sequence[bool] | np.ndarray | None = None,
    use_sink: bool = True,
    seed: int = 0,
    prompt_std: float = 0.02,
    joint: bool = False,
) -> FocusModel:
    """A fresh (untrained, uncalibrated) FOCUS model on the spec's frozen backbone.

    `joint`: one backbone sequence of all N·G tokens (the benchmark's ablation, joint.py) instead of
    the default one sequence per group (docs/method.md §3.4)."""
    import torch

    torch.manual_seed(seed)
    vit = build_backbone(spec)
    groups = make_groups(n_bands, wavelengths_nm, n_groups, good_bands=good_bands)
    cls: type[FocusModel] = FocusModel
    if joint:
        from napari_focus.focus.joint import JointFocusModel

        cls = JointFocusModel
    return cls(vit, spec, groups, list(classes), task=task, wavelengths_nm=wavelengths_nm,
                      use_sink=use_sink, seed=seed, prompt_std=prompt_std)
