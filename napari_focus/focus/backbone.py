"""Build and freeze a timm plain ViT from local files only (docs/method.md §3.9); never the network.

A backbone is described by a `BackboneSpec` (a timm name and/or constructor kwargs, the weights
file, its SHA-256 and the input size) so that a checkpoint can rebuild exactly the same network
and refuse one whose weights changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from napari_focus.errors import CheckpointError, FocusError
from napari_focus.focus.backbone_rules import MAX_PARAMS, check_backbone


@dataclass
class BackboneSpec:
    """Everything needed to rebuild a frozen backbone."""

    name: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    weights_file: str | None = None
    sha256: str | None = None
    img_size: int | None = None
    timm_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BackboneSpec:
        return cls(**{k: d.get(k) for k in ("name", "weights_file", "sha256", "img_size", "timm_version")},
                   kwargs=dict(d.get("kwargs") or {}))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_plain_vit(vit: Any) -> None:
    """Refuse anything that is not a timm VisionTransformer made of pre-norm `Block`s with `Attention`."""
    from timm.layers import Attention
    from timm.models.vision_transformer import Block, VisionTransformer

    if not isinstance(vit, VisionTransformer):
        raise FocusError(f"backbone {type(vit).__name__} is not a timm VisionTransformer")
    for i, blk in enumerate(vit.blocks):
        if type(blk) is not Block or not isinstance(blk.attn, Attention):
            raise FocusError(f"backbone block {i} ({type(blk).__name__}) is not a plain pre-norm ViT block")
    if not hasattr(vit.patch_embed, "proj") or vit.patch_embed.proj.__class__.__name__ != "Conv2d":
        raise FocusError("backbone patch embedding is not a convolution")


def freeze(vit: Any) -> Any:
    """No gradients, eval mode: the backbone is never trained (docs/method.md §3.7)."""
    for p in vit.parameters():
        p.requires_grad_(False)
    return vit.eval()


def build_backbone(spec: BackboneSpec, base_dir: str | Path | None = None, verify_hash: bool = True) -> Any:
    """Build the frozen ViT a spec describes, loading its weights from the local file.

    With a timm `name`, timm's own pretrained loader filters the file (position embeddings resized
    to `img_size`); without one, `VisionTransformer(**kwargs)` is built and the safetensors file
    loaded strictly. A spec without a weights file builds random weights (tests, pretraining).
    The spec is checked first (`backbone_rules`): nothing reaches timm that could download or allocate
    an unbounded network.
    """
    check_backbone(spec.to_dict(), Path(base_dir) / "config.json" if base_dir is not None else "backbone")
    import timm
    from timm.models.vision_transformer import VisionTransformer

    path = resolve_weights(spec, base_dir)
    if path is not None and verify_hash and spec.sha256:
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise CheckpointError(
                f"backbone weights {path} have SHA-256 {actual[:12]}…, the checkpoint expects {spec.sha256[:12]}…"
            )
    kwargs = dict(spec.kwargs)
    kwargs.setdefault("num_classes", 0)
    if spec.img_size:
        kwargs["img_size"] = int(spec.img_size)
    if spec.name:
        _dry_run(spec.name, kwargs)
    try:
        if spec.name:
            if path is None:
                vit = timm.create_model(spec.name, pretrained=False, **kwargs)
            else:
                vit = timm.create_model(
                    spec.name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs
                )
        else:
            vit = VisionTransformer(**kwargs)
            if path is not None:
                from safetensors.torch import load_file

                state = {k: v for k, v in load_file(str(path)).items() if not k.startswith("head.")}
                vit.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, KeyError, OSError) as e:
        what = spec.name or "VisionTransformer"
        raise CheckpointError(f"cannot build backbone {what}: {str(e).splitlines()[0]}") from e
    check_plain_vit(vit)
    spec.timm_version = timm.__version__
    spec.img_size = int(vit.patch_embed.img_size[0])
    return freeze(vit)


def _dry_run(name: str, kwargs: dict[str, Any]) -> None:
    """Build a named network on torch's meta device (no memory, no network, no file) and refuse one that
    is not a plain ViT or is larger than `MAX_PARAMS`, before its weights are allocated."""
    import timm
    import torch

    if not timm.is_model(name):
        raise CheckpointError(f"backbone {name!r} is not a timm model name")
    try:
        with torch.device("meta"):
            vit = timm.create_model(name, pretrained=False, **kwargs)
    except (RuntimeError, ValueError, KeyError, TypeError, AssertionError) as e:
        raise CheckpointError(f"cannot build backbone {name}: {str(e).splitlines()[0] if str(e) else e!r}") from None
    check_plain_vit(vit)
    n = sum(p.numel() for p in vit.parameters())
    if n > MAX_PARAMS:
        raise CheckpointError(f"backbone {name} has {n / 1e9:.1f} billion parameters, more than napari-focus builds "
                              f"({MAX_PARAMS / 1e9:.1f} billion)")


def resolve_weights(spec: BackboneSpec, base_dir: str | Path | None) -> Path | None:
    """The weights file as a path (relative names are relative to the checkpoint folder)."""
    if not spec.weights_file:
        return None
    p = Path(spec.weights_file)
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    if not p.is_file():
        raise CheckpointError(f"backbone weights file not found: {p}")
    return p


def backbone_from_file(
    weights_file: str | Path, name: str | None = None, kwargs: dict[str, Any] | None = None,
    img_size: int | None = None,
) -> tuple[Any, BackboneSpec]:
    """Convenience: a frozen backbone and its spec (with the file's hash) from a local weights file."""
    path = Path(weights_file)
    if not path.is_file():
        raise FocusError(f"backbone weights file not found: {path}")
    spec = BackboneSpec(name=name, kwargs=dict(kwargs or {}), weights_file=str(path.resolve()),
                        sha256=sha256_file(path), img_size=img_size)
    return build_backbone(spec), spec
