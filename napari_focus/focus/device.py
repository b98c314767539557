"""Device choice (docs/method.md §3.10): CUDA with autocast, then Apple MPS, else CPU; always overridable."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from napari_focus.errors import FocusError

ENV_VAR = "NAPARI_FOCUS_DEVICE"


def select_device(prefer: str | torch.device | None = None) -> torch.device:
    """`prefer` (or $NAPARI_FOCUS_DEVICE) wins; otherwise CUDA → MPS → CPU. A device that does not parse or
    is not present here is refused in one line now, rather than as a traceback when the model moves."""
    prefer = prefer or os.environ.get(ENV_VAR) or None
    if prefer is not None and str(prefer) != "auto":
        try:
            dev = torch.device(prefer)
        except (RuntimeError, ValueError, TypeError):
            raise FocusError(f"device {str(prefer)!r} is not one of cpu, cuda, cuda:N, mps or auto") from None
        if not _present(dev):
            raise FocusError(f"device {str(prefer)!r} is not available on this machine")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _present(dev: torch.device) -> bool:
    if dev.type == "cpu":
        return True
    if dev.type == "cuda":
        return torch.cuda.is_available() and (dev.index is None or dev.index < torch.cuda.device_count())
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available()
    return False  # xla, meta, … : not devices napari-focus runs on


def autocast(device: torch.device) -> Any:
    """bf16 (or fp16 where bf16 is missing) autocast on CUDA; a no-op elsewhere."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)
