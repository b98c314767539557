"""Device choice (docs/method.md §3.10): CUDA with autocast, then Apple MPS, else CPU; always overridable."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

ENV_VAR = "NAPARI_FOCUS_DEVICE"


def select_device(prefer: str | torch.device | None = None) -> torch.device:
    """`prefer` (or $NAPARI_FOCUS_DEVICE) wins; otherwise CUDA → MPS → CPU."""
    prefer = prefer or os.environ.get(ENV_VAR) or None
    if prefer is not None and str(prefer) != "auto":
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device) -> Any:
    """bf16 (or fp16 where bf16 is missing) autocast on CUDA; a no-op elsewhere."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)
