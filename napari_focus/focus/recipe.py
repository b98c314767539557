"""The benchmark's FOCUS training recipes: one procedure per kind of table, so rows compare like with like.

`RECIPE` trains every trainable tensor of docs/method.md §3.7 (Φ after its spectral-contrast fit, e_g, SINK, prompts,
head), because the ablation tables vary the SINK token and its loss, which the fast path leaves frozen. `CURVE_RECIPE`
is the shipped VNIR checkpoint's (`scripts/build_model_zoo.sh`): prompts and head only, on cached backbone
keys/values, each training leaf under its own light. The curve tables (the main dataset's Table I, Table II and the
sanity checks) train with it, so that they judge the readout on the kind of model a user runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from napari_focus.focus.light_jitter import LightJitter
from napari_focus.focus.train import TrainHistory, train

#: the full-path recipe of the ablation tables (kept in one place so tables can print it)
RECIPE: dict[str, Any] = {"epochs": 8, "lr": 3e-3, "batch_size": 8, "fast": False, "spectral_contrast": 1.0}
#: the shipped VNIR checkpoint's recipe, as `napari-focus train` flags spell it in scripts/build_model_zoo.sh (a test
#: keeps the two equal). `prompt_std` is how the model is made (`factory.new_model`), the rest how it is trained.
CURVE_RECIPE: dict[str, Any] = {"epochs": 40, "lr": 1e-2, "batch_size": 16, "fast": True, "views": 1,
                                "prompt_std": 1.0, "spectral_contrast": 1.0, "light_jitter_level": 0.7,
                                "light_jitter_tilt": 0.1}
#: the keys `fit` reads from a recipe (all but `prompt_std`, which `new_model` reads)
_FIT_KEYS = frozenset(RECIPE) | {"views", "light_jitter_level", "light_jitter_tilt"}


def fit(model, data: Any, *, val: Any = None, sink_weight: float = 1e-3, seed: int = 0,
        progress: Callable[[int, int, dict], None] | None = None, should_stop: Callable[[], bool] | None = None,
        **overrides: Any) -> TrainHistory:
    """Train `model` on `data` (see `train`) with `RECIPE`'s settings; `overrides` replace or add any of
    `CURVE_RECIPE`'s training keys. `prompt_std` is refused: it is how the model is made (`factory.new_model`), and
    a fit that silently ignored it would train another model than the recipe says."""
    unknown = set(overrides) - _FIT_KEYS
    if unknown:
        raise TypeError(f"unknown recipe settings: {sorted(unknown)}")
    cfg = {**RECIPE, **overrides}
    jitter = LightJitter.from_options(cfg.get("light_jitter_level"), cfg.get("light_jitter_tilt"))
    return train(model, data, epochs=cfg["epochs"], lr=cfg["lr"], batch_size=cfg["batch_size"], fast=cfg["fast"],
                 sink_weight=sink_weight, seed=seed, val=val, progress=progress, should_stop=should_stop,
                 spectral_contrast=cfg["spectral_contrast"], cache_views=cfg.get("views"), light_jitter=jitter)
