"""The benchmark's recipes: the curve tables train like the shipped checkpoint, the ablations on the full path."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from napari_focus.focus import recipe
from napari_focus.focus.light_jitter import LightJitter

BUILD_SCRIPT = Path(__file__).parents[2] / "scripts" / "build_model_zoo.sh"


def _vnir_flags() -> dict[str, object]:
    """The `napari-focus train` flags the build script gives the VNIR checkpoint, as recipe keys."""
    text = BUILD_SCRIPT.read_text()
    words = shlex.split(re.search(r"^RECIPE=\((.*?)\)", text, re.M).group(1))
    words += shlex.split(re.search(r'\[ "\$S" = vnir204 \] && RECIPE\+=\((.*?)\)', text).group(1))
    out: dict[str, object] = {}
    i = 0
    while i < len(words):
        key = words[i].removeprefix("--").replace("-", "_")
        if i + 1 < len(words) and not words[i + 1].startswith("--"):
            out[key] = float(words[i + 1])
            i += 2
        else:
            out[key] = True
            i += 1
    return out


def test_curve_recipe_is_the_shipped_vnir_checkpoints():
    flags = _vnir_flags()
    flags.pop("seed")  # the benchmark trains one model per run seed
    assert flags == {k: float(v) if not isinstance(v, bool) else v for k, v in recipe.CURVE_RECIPE.items()}


def test_fit_passes_a_whole_recipe_to_train(monkeypatch):
    seen = {}
    monkeypatch.setattr(recipe, "train", lambda model, data, **kw: seen.update(kw))
    how = {k: v for k, v in recipe.CURVE_RECIPE.items() if k != "prompt_std"}
    recipe.fit(object(), [], seed=3, **how)
    assert seen["fast"] is True and seen["cache_views"] == 1 and seen["epochs"] == 40 and seen["lr"] == 1e-2
    assert seen["light_jitter"] == LightJitter(0.9, 0.1) and seen["seed"] == 3
    recipe.fit(object(), [])
    assert seen["fast"] is False and seen["light_jitter"] is None and seen["cache_views"] is None
    assert seen["epochs"] == recipe.RECIPE["epochs"]


def test_fit_refuses_a_setting_it_would_ignore():
    with pytest.raises(TypeError, match="epoch"):
        recipe.fit(object(), [], epoch=3)
