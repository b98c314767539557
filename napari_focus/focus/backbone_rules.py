"""What a backbone description may ask timm to build: a checkpoint is data, not instructions.

A config.json's `backbone` reaches `timm.create_model`, which would fetch a `hf-hub:` name's config from
the internet, `torch.load` a `checkpoint_path` (a pickle) and allocate whatever `embed_dim`/`depth` ask
for. So a description is checked here, in plain Python before timm or torch see it: a timm name is a
registered-style name (no hub or path prefix), the constructor arguments are the plain-ViT ones this
project writes, each of the expected type and within bounds, and the network they describe is at most
`MAX_PARAMS` parameters. Anything else is refused in one line naming the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from napari_focus.errors import CheckpointError

#: a timm model name with an optional pretrained tag (`vit_base_patch14_dinov2.lvd142m`); no `hf-hub:`,
#: `local-dir:`, `timm/` or path: those make timm read files or reach the network
NAME = re.compile(r"^[a-z0-9_]{1,80}(\.[a-z0-9_]{1,40})?$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_PARAMS = 1_500_000_000  # above ViT-g (1.1 B): 6 GB of float32 before any input is seen
MAX_TOKENS = 64 * 64  # patches per side ≤ 64: attention memory grows with its square


def _int(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _real(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                      and lo <= v <= hi)


def _flag(v: Any) -> bool:
    return isinstance(v, bool)


def _opt(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


#: the timm VisionTransformer arguments this project writes (pretraining, backbone.json, tests), with bounds
KWARGS: dict[str, Callable[[Any], bool]] = {
    "img_size": _int(8, 1024),
    "patch_size": _int(1, 64),
    "in_chans": _int(1, 16),
    "embed_dim": _int(8, 2048),
    "depth": _int(1, 48),
    "num_heads": _int(1, 32),
    "mlp_ratio": _real(0.25, 8.0),
    "num_classes": _int(0, 0),  # the head is never used: FOCUS has its own
    "class_token": _flag,
    "global_pool": lambda v: v in ("token", "avg", ""),
    "reg_tokens": _int(0, 16),
    "no_embed_class": _flag,
    "init_values": _opt(_real(1e-12, 1.0)),
    "qkv_bias": _flag,
    "qk_norm": _flag,
    "pre_norm": _flag,
    "fc_norm": _opt(_flag),
    "dynamic_img_size": _flag,
    **{k: _real(0.0, 1.0) for k in ("drop_rate", "pos_drop_rate", "patch_drop_rate", "proj_drop_rate",
                                    "attn_drop_rate", "drop_path_rate")},
}
_FIELDS = {"name", "kwargs", "weights_file", "sha256", "img_size", "timm_version"}


def _short(v: Any) -> str:
    return repr(v)[:60]


def estimated_params(kwargs: dict[str, Any]) -> int:
    """Parameters of the plain ViT `kwargs` describe (timm's defaults for what is missing): 12·d² per
    block at mlp_ratio 4, the patch embedding and the position table."""
    d, depth = int(kwargs.get("embed_dim", 768)), int(kwargs.get("depth", 12))
    ratio = float(kwargs.get("mlp_ratio", 4.0))
    patch, chans = int(kwargs.get("patch_size", 16)), int(kwargs.get("in_chans", 3))
    tokens = (int(kwargs.get("img_size", 224)) // patch) ** 2
    return int(depth * d * d * (4 + 2 * ratio) + patch * patch * chans * d + (tokens + 17) * d)


def check_backbone(spec: Any, where: object) -> None:
    """Refuse (CheckpointError naming `where`) a backbone description napari-focus would not write."""
    if not isinstance(spec, dict):
        raise CheckpointError(f"{where}: backbone is not an object")
    extra = sorted(set(spec) - _FIELDS)
    if extra:
        raise CheckpointError(f"{where}: backbone has unknown fields {extra}"[:200])
    name = spec.get("name")
    if name is not None and not (isinstance(name, str) and NAME.match(name)):
        raise CheckpointError(f"{where}: backbone name {_short(name)} is not a plain timm model name (hub, path "
                              "and download names are refused)")
    sha = spec.get("sha256")
    if sha is not None and not (isinstance(sha, str) and SHA256.match(sha)):
        raise CheckpointError(f"{where}: backbone sha256 {_short(sha)} is not a SHA-256 hex digest")
    if not _opt(KWARGS["img_size"])(spec.get("img_size")):
        raise CheckpointError(f"{where}: backbone img_size {_short(spec.get('img_size'))} is out of range")
    kwargs = spec.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{where}: backbone kwargs is not an object")
    for key, value in kwargs.items():
        if key not in KWARGS:
            raise CheckpointError(f"{where}: backbone argument {_short(key)} is not one napari-focus writes; refused")
        if not KWARGS[key](value):
            raise CheckpointError(f"{where}: backbone argument {key}={_short(value)} has a wrong type or is out of "
                                  "range")
    sized = {**kwargs, **({"img_size": spec["img_size"]} if spec.get("img_size") else {})}
    if "embed_dim" in sized and sized["embed_dim"] % sized.get("num_heads", 12):
        raise CheckpointError(f"{where}: backbone embed_dim {sized['embed_dim']} is not a multiple of num_heads")
    if (sized.get("img_size", 224) // sized.get("patch_size", 16)) ** 2 > MAX_TOKENS:
        raise CheckpointError(f"{where}: backbone has more than {MAX_TOKENS} patches per image")
    if name is None and estimated_params(sized) > MAX_PARAMS:
        raise CheckpointError(f"{where}: backbone of ~{estimated_params(sized) / 1e9:.1f} billion parameters is "
                              f"larger than napari-focus builds ({MAX_PARAMS / 1e9:.1f} billion)")
