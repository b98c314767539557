"""The benchmark's FOCUS training recipe: one procedure for every row of every table.

It trains every trainable tensor of docs/method.md §3.7 (Φ after its spectral-contrast fit, e_g, SINK, prompts, head),
because Table III varies the SINK token and its loss. The shipped models (`scripts/build_model_zoo.sh`) use the fast
variant instead: prompts and head only, on cached backbone keys/values, 40 epochs on 960 leaves. The benchmark's cells
therefore compare methods and ablations under one recipe; the shipped checkpoints are measured by their model cards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from napari_focus.focus.train import TrainHistory, train

#: the settings of the recipe (kept in one place so tables can print them)
RECIPE: dict[str, Any] = {"epochs": 8, "lr": 3e-3, "batch_size": 8, "fast": False, "spectral_contrast": 1.0}


def fit(model, data: Any, *, val: Any = None, sink_weight: float = 1e-3, seed: int = 0,
        progress: Callable[[int, int, dict], None] | None = None, should_stop: Callable[[], bool] | None = None,
        **overrides: Any) -> TrainHistory:
    """Train `model` on `data` (see `train`) with the recipe's settings; `overrides` replace any of them."""
    cfg = {**RECIPE, **overrides}
    return train(model, data, epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"], fast=cfg["fast"],
                 sink_weight=sink_weight, seed=seed, val=val, progress=progress, should_stop=should_stop,
                 spectral_contrast=cfg["spectral_contrast"])
