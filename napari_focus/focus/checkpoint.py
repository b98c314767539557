"""Checkpoints (docs/method.md §3.11): a folder with `config.json` + `weights.safetensors` (trainable tensors
only), written atomically; the backbone is referenced by file and SHA-256 and refused when it differs.
Nothing here unpickles anything: JSON and safetensors only."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_focus.atomic import OLD_MARK, TMP_MARK, remove_leftovers, replace_dir, replace_file
from napari_focus.errors import CheckpointError
from napari_focus.focus.backbone import BackboneSpec, build_backbone, sha256_file
from napari_focus.focus.backbone_rules import check_backbone
from napari_focus.focus.groups import SpectralGroups
from napari_focus.focus.model import FocusModel
from napari_focus.focus.readout import DEFAULT_RULE
from napari_focus.outputs import CHECKPOINT_FORMAT as FORMAT
from napari_focus.outputs import check_out

VERSION = 1
CONFIG, WEIGHTS, BACKBONE = "config.json", "weights.safetensors", "backbone.safetensors"


def checkpoint_sha256(folder: str | Path) -> str:
    """The hash every export records: SHA-256 over config.json then weights.safetensors."""
    h = hashlib.sha256()
    for name in (CONFIG, WEIGHTS):
        h.update((Path(folder) / name).read_bytes())
    return h.hexdigest()


def _config(model: FocusModel, spec: dict[str, Any], weights_sha: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "backbone": spec,
        "input_size": model.img_size,
        "task": model.task,
        "classes": list(model.classes),
        "wavelengths_nm": None if model.wavelengths_nm is None else [float(w) for w in model.wavelengths_nm],
        "groups": model.groups.to_dict(),
        "use_sink": model.use_sink,
        "rollout_depth": model.rollout_depth,
        "normalisation": {"band_mean": model.band_mean.tolist(), "band_std": model.band_std.tolist()},
        "target": {"mean": float(model.target_mean), "std": float(model.target_std)},
        "head_aux": model.head_aux.cpu().int().tolist(),
        "calibrated": bool(model.calibrated),
        "saliency_rule": model.saliency_rule or DEFAULT_RULE,  # fixed at save: a later default changes nothing
        "weights_sha256": weights_sha,
    } | _reference_field(model) | _background_field(model) | (
        {"sequence": "joint"} if model.joint else {})  # joint: the benchmark's ablation


def _reference_field(model: FocusModel) -> dict[str, Any]:
    """The calibrated readout's stored reference (reference.py), when the model has one."""
    if model.margin_ref is None:
        return {}
    return {"readout_reference": {"group_margin": model.margin_ref.detach().cpu().float().tolist()}}


def _background_field(model: FocusModel) -> dict[str, Any]:
    """The training background (background.py), when the model has one, and whether it replaces everything outside
    the leaf or only pixels without data."""
    if model.background_fill is None:
        return {}
    return {"background_fill": model.background_fill.detach().cpu().float().tolist(),
            "canonical_background": bool(model.canonical_background)}


def _rewrite_field(folder: str | Path, keys: tuple[str, ...], field: dict[str, Any]) -> str:
    """Replace optional fields of a saved checkpoint's config.json (atomically); returns the new hash."""
    path = Path(folder) / CONFIG
    cfg = json.loads(path.read_text())
    for key in keys:
        cfg.pop(key, None)
    cfg |= field
    replace_file(path, lambda p: p.write_text(json.dumps(cfg, indent=1)))
    return checkpoint_sha256(folder)


def set_readout_reference(folder: str | Path, model: FocusModel) -> str:
    """Store `model.margin_ref` in a saved checkpoint by rewriting only its config.json, so that a checkpoint saved
    before the reference existed gets one without retraining. Returns the new hash."""
    return _rewrite_field(folder, ("readout_reference",), _reference_field(model))


def set_background_fill(folder: str | Path, model: FocusModel) -> str:
    """Store `model.background_fill` and `canonical_background` in a saved checkpoint the same way. Returns the new
    hash."""
    return _rewrite_field(folder, ("background_fill", "canonical_background"), _background_field(model))


def save_checkpoint(model: FocusModel, folder: str | Path, copy_backbone: bool = False) -> Path:
    """Write the model to `folder` atomically (a temp folder renamed into place); returns the folder.

    The backbone is referenced by its weights file (absolute path); a backbone without one (built
    in code), one embedded in its source checkpoint, or `copy_backbone=True` stores the file inside
    the checkpoint as backbone.safetensors.
    """
    from safetensors.torch import save_file

    folder = Path(folder).resolve()
    check_out(folder, "checkpoint")  # only an absent or empty folder, or a checkpoint, is replaced
    folder.parent.mkdir(parents=True, exist_ok=True)
    restore_interrupted(folder)
    remove_leftovers(folder)  # copies that earlier killed saves left beside it
    tmp = folder.parent / f".{folder.name}{TMP_MARK}{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        spec = BackboneSpec.from_dict(model.backbone_spec.to_dict())
        src = Path(spec.weights_file) if spec.weights_file else None
        embedded = src is not None and not src.is_absolute()  # lives inside its checkpoint: keep it inside
        if embedded and model.backbone_spec_dir is not None:
            src = Path(model.backbone_spec_dir) / src
        if src is None or copy_backbone or embedded:
            if src is None:
                state = {k: v.detach().cpu().contiguous() for k, v in model.backbone.state_dict().items()}
                save_file(state, str(tmp / BACKBONE))
            else:
                shutil.copyfile(src, tmp / BACKBONE)
            spec.weights_file = BACKBONE
            spec.sha256 = sha256_file(tmp / BACKBONE)
        else:
            spec.weights_file = str(src.resolve())
        tensors = {n: p.detach().cpu().float().contiguous() for n, p in model.trainable_named().items()}
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        cfg = _config(model, spec.to_dict(), sha256_file(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(cfg, indent=1))
        replace_dir(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    model.checkpoint_sha256 = checkpoint_sha256(folder)
    model.checkpoint_path = str(Path(folder).resolve())
    model.backbone_spec_dir = str(folder)
    if spec.weights_file == BACKBONE:
        model.backbone_spec = spec
    return folder


def set_saliency_rule(folder: str | Path, rule: str) -> str:
    """Record `rule` as a saved checkpoint's default readout by rewriting only its config.json (atomically):
    the weights and any backbone file stay untouched. Returns the checkpoint's new hash."""
    from napari_focus.focus.readout import parse_rule

    parse_rule(rule)  # an unknown rule is refused before anything is written
    path = Path(folder) / CONFIG
    cfg = json.loads(path.read_text())
    cfg["saliency_rule"] = rule
    replace_file(path, lambda p: p.write_text(json.dumps(cfg, indent=1)))
    return checkpoint_sha256(folder)


def restore_interrupted(folder: Path) -> None:
    """A save killed between its two renames left `folder` missing and the previous checkpoint at
    `.NAME.old-*`: put that one back (the newer one, never confirmed, stays in its hidden `.tmp-*` until the
    next save removes it with any other leftover: `atomic.remove_leftovers`)."""
    if folder.exists() or not folder.parent.is_dir():
        return
    olds = [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}{OLD_MARK}")]
    olds.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in olds:
        if (old / CONFIG).is_file() and (old / WEIGHTS).is_file():
            os.replace(old, folder)
            return


def read_config(folder: str | Path) -> dict[str, Any]:
    """The parsed config.json of a checkpoint folder, or CheckpointError saying what is wrong."""
    folder = Path(folder)
    restore_interrupted(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a checkpoint folder")
    for name in (CONFIG, WEIGHTS):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: missing {name}")
    try:
        cfg = json.loads((folder / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{folder / CONFIG}: not valid JSON ({e})") from None
    except RecursionError:
        raise CheckpointError(f"{folder / CONFIG}: nested too deeply to be a napari-focus config") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: not a napari-focus checkpoint (config.json has no format {FORMAT!r})")
    _check_types(cfg, folder / CONFIG)
    if cfg["version"] > VERSION:
        raise CheckpointError(f"{folder}: checkpoint version {cfg.get('version')} is newer than this napari-focus")
    return cfg


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def _nums(v: Any) -> bool:
    return isinstance(v, list) and all(_num(x) for x in v)


def _opt(check: Any) -> Any:
    return lambda v: v is None or check(v)


def _is(*types: type) -> Any:
    return lambda v: isinstance(v, types) and not (isinstance(v, bool) and bool not in types)


# config.json fields: (required, type check). A hostile or damaged file is refused before anything is built.
_FIELDS: dict[str, tuple[bool, Any]] = {
    "version": (True, _is(int)),
    "backbone": (True, lambda v: isinstance(v, dict) and isinstance(v.get("kwargs") or {}, dict)
                 and all(_opt(_is(str))(v.get(k)) for k in ("name", "weights_file", "sha256", "timm_version"))
                 and _opt(_is(int))(v.get("img_size"))),
    "input_size": (False, _is(int)),
    "task": (True, lambda v: v in ("classification", "regression")),
    "classes": (True, lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(c, str) for c in v)),
    "wavelengths_nm": (False, _opt(_nums)),
    "groups": (True, _is(dict)),
    "use_sink": (True, _is(bool)),
    "rollout_depth": (False, _is(int)),
    "normalisation": (True, lambda v: isinstance(v, dict) and _nums(v.get("band_mean")) and _nums(v.get("band_std"))),
    "target": (False, lambda v: isinstance(v, dict) and all(_num(x) for x in v.values())),
    "head_aux": (True, lambda v: isinstance(v, list) and all(isinstance(r, list) and all(x in (0, 1) for x in r)
                                                               for r in v)),
    "calibrated": (False, _is(bool)),
    "saliency_rule": (False, _opt(_is(str))),
    "weights_sha256": (False, _opt(_is(str))),
    "sequence": (False, lambda v: v in ("per_group", "joint")),
    "readout_reference": (False, lambda v: isinstance(v, dict) and isinstance(v.get("group_margin"), list)
                          and all(_nums(r) for r in v["group_margin"])),
    "background_fill": (False, lambda v: _nums(v) and all(math.isfinite(x) for x in v)),
    "canonical_background": (False, _is(bool)),
}


def _check_types(cfg: dict[str, Any], path: Path) -> None:
    for key, (required, check) in _FIELDS.items():
        if key not in cfg:
            if required:
                raise CheckpointError(f"{path}: missing field {key!r}")
            continue
        if not check(cfg[key]):
            raise CheckpointError(f"{path}: field {key!r} has an invalid value or type ({str(cfg[key])[:60]!r})")
    check_backbone(cfg["backbone"], path)  # name, arguments and size: before timm or torch see them
    wf = cfg["backbone"].get("weights_file")
    if wf and not str(wf).lower().endswith(".safetensors"):
        raise CheckpointError(f"{path}: backbone weights {wf!r} are not a .safetensors file (pickles are never loaded)")


def _model_class(cfg: dict[str, Any]) -> type[FocusModel]:
    if cfg.get("sequence") == "joint":
        from napari_focus.focus.joint import JointFocusModel

        return JointFocusModel
    return FocusModel


def load_checkpoint(folder: str | Path, device: str | torch.device | None = None,
                    backbone_file: str | Path | None = None) -> FocusModel:
    """Rebuild a model from a checkpoint folder; refuses corrupted, foreign or hash-mismatched ones.

    `backbone_file` points at the backbone weights when they moved (the hash must still match).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder).resolve()
    cfg = read_config(folder)
    if cfg.get("weights_sha256") and sha256_file(folder / WEIGHTS) != cfg["weights_sha256"]:
        raise CheckpointError(f"{folder / WEIGHTS}: contents do not match the hash in config.json (corrupted?)")
    try:
        spec = BackboneSpec.from_dict(cfg["backbone"])
        if backbone_file is not None:
            spec.weights_file = str(Path(backbone_file).resolve())
        vit = build_backbone(spec, base_dir=folder)
        groups = SpectralGroups.from_dict(cfg["groups"])
        model = _model_class(cfg)(vit, spec, groups, cfg["classes"], task=cfg["task"],
                           wavelengths_nm=cfg.get("wavelengths_nm"), use_sink=bool(cfg["use_sink"]),
                           rollout_depth=int(cfg.get("rollout_depth", 3)))
        norm = cfg["normalisation"]
        aux = torch.as_tensor(np.asarray(cfg["head_aux"], dtype=bool))
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / CONFIG}: incomplete or inconsistent ({type(e).__name__}: {e})") from None
    if aux.shape != model.head_aux.shape or not aux.any(1).all():
        raise CheckpointError(f"{folder / CONFIG}: head_aux has shape {tuple(aux.shape)} or a layer without heads")
    try:
        tensors = load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{folder / WEIGHTS}: unreadable ({e})") from None
    params = model.trainable_named()
    if set(tensors) != set(params):
        raise CheckpointError(f"{folder / WEIGHTS}: holds {sorted(tensors)}, expected {sorted(params)}")
    with torch.no_grad():
        for n, p in params.items():
            if tuple(tensors[n].shape) != tuple(p.shape):
                raise CheckpointError(f"{folder / WEIGHTS}: {n} has shape {tuple(tensors[n].shape)}, expected "
                                      f"{tuple(p.shape)}")
            p.copy_(tensors[n])
        model.band_mean.copy_(torch.as_tensor(norm["band_mean"]))
        model.band_std.copy_(torch.as_tensor(norm["band_std"]))
        model.head_aux.copy_(aux)
        model.calibrated.fill_(bool(cfg.get("calibrated", True)))
        model.target_mean.fill_(float(cfg.get("target", {}).get("mean", 0.0)))
        model.target_std.fill_(float(cfg.get("target", {}).get("std", 1.0)))
        if "readout_reference" in cfg:
            ref = torch.as_tensor(cfg["readout_reference"]["group_margin"], dtype=torch.float32)
            if tuple(ref.shape) != (model.n_classes, model.groups.n_groups):
                raise CheckpointError(f"{folder / CONFIG}: readout_reference has shape {tuple(ref.shape)}, expected "
                                      f"{(model.n_classes, model.groups.n_groups)}")
            model.margin_ref = ref
        if "background_fill" in cfg:
            fill = torch.as_tensor(cfg["background_fill"], dtype=torch.float32)
            if tuple(fill.shape) != (model.groups.n_bands,):
                raise CheckpointError(f"{folder / CONFIG}: background_fill has {fill.numel()} values, expected one per "
                                      f"band ({model.groups.n_bands})")
            model.background_fill = fill
    model.canonical_background = bool(cfg.get("canonical_background", False)) and model.background_fill is not None
    model.saliency_rule = cfg.get("saliency_rule")
    model.checkpoint_sha256 = checkpoint_sha256(folder)
    model.checkpoint_path = str(Path(folder).resolve())
    model.backbone_spec_dir = str(folder)
    if device is not None:
        model.to(device)
    return model.eval()
