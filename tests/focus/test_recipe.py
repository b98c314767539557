"""The benchmark's recipes: the curve tables train like the shipped checkpoint, the ablations on the full path."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from napari_focus.focus import recipe
from napari_focus.focus.light_jitter import LightJitter

BUILD_SCRIPT = Path(__file__).parents[2] / "scripts" / "build_model_zoo.sh"


def _vnir_train_args():
    """`napari-focus train` as the build script runs it for the VNIR checkpoint, parsed by the CLI's own parser: every
    assignment to RECIPE (the VNIR line's guard is the only one it may carry) and the train line's own flags."""
    from napari_focus.cli import build_parser

    text = BUILD_SCRIPT.read_text()
    words: list[str] = []
    for guard, op, flags in re.findall(r'^(.*?)RECIPE(\+?=)\((.*?)\)', text, re.M):
        assert guard.strip() in ("", '[ "$S" = vnir204 ] &&'), f"a RECIPE assignment under {guard!r}"
        words = (words if op == "+=" else []) + shlex.split(flags)
    train = re.search(r'^\$N train (.*model/focus_bls_\$\{S\}".*)$', text, re.M).group(1)
    own = shlex.split(train.replace('"${RECIPE[@]}"', ""))
    assert [w for w in own if w.startswith("--")] == ["--data", "--out", "--backbone-file"]
    return build_parser().parse_args(["train", *own, *words])


def test_curve_recipe_is_the_shipped_vnir_checkpoints():
    """CURVE_RECIPE is what the build script trains the VNIR checkpoint with, value and type, and the benchmark's
    default G and SINK λ are the CLI's defaults the script relies on."""
    from napari_focus.bench.config import preset

    args = _vnir_train_args()
    r = recipe.CURVE_RECIPE
    assert (args.fast, args.views, args.epochs) == (r["fast"], r["views"], r["epochs"])
    assert args.batch_size == r["batch_size"]
    assert isinstance(r["epochs"], int) and isinstance(r["views"], int) and isinstance(r["batch_size"], int)
    assert (args.lr, args.prompt_std, args.spectral_contrast) == (r["lr"], r["prompt_std"], r["spectral_contrast"])
    assert (args.light_jitter_level, args.light_jitter_tilt) == (r["light_jitter_level"], r["light_jitter_tilt"])
    assert args.contrast_bound is None and args.contrast_gain_cap is None and not args.no_sink
    full = preset("full")
    assert (args.groups, args.sink_weight) == (full.default_groups, full.default_sink_weight)
    assert set(r) - {"prompt_std"} <= recipe._FIT_KEYS  # fit reads every training setting


def test_fit_passes_a_whole_recipe_to_train(monkeypatch):
    seen = {}
    monkeypatch.setattr(recipe, "train", lambda model, data, **kw: seen.update(kw))
    how = {k: v for k, v in recipe.CURVE_RECIPE.items() if k != "prompt_std"}
    recipe.fit(object(), [], seed=3, **how)
    assert seen["fast"] is True and seen["cache_views"] == 1 and seen["epochs"] == 40 and seen["lr"] == 1e-2
    assert seen["light_jitter"] == LightJitter(0.7, 0.1) and seen["seed"] == 3
    recipe.fit(object(), [])
    assert seen["fast"] is False and seen["light_jitter"] is None and seen["cache_views"] is None
    assert seen["epochs"] == recipe.RECIPE["epochs"]


def test_fit_refuses_a_setting_it_would_ignore():
    with pytest.raises(TypeError, match="epoch"):
        recipe.fit(object(), [], epoch=3)
    with pytest.raises(TypeError, match="prompt_std"):  # how the model is made: `new_model`'s, not fit's
        recipe.fit(object(), [], **recipe.CURVE_RECIPE)


def test_the_sanity_cascade_spreads_fresh_prompts_as_the_models_recipe_did(model):
    """The cascade's first stage is the model as its recipe would start it: prompts spread by the recipe's
    `prompt_std` (the shipped recipe's 1.0, not the constructor's 0.02), which a checkpoint does not store."""
    from napari_focus.bench.sanity import reinit_trainables

    base = model._token_base().detach()
    spread = {s: (reinit_trainables(model, seed=5, prompt_std=s).prompts.detach() - base).std().item()
              for s in (0.02, recipe.CURVE_RECIPE["prompt_std"])}
    assert spread[1.0] > 10 * spread[0.02]
    assert reinit_trainables(model, seed=5).prompt_std == model.prompt_std
