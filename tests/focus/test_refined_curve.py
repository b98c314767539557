"""The refined curve: group weights measured against the same leaf at its median spectrum (a second forward pass)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_focus.cube import Cube  # noqa: E402
from napari_focus.errors import FocusError  # noqa: E402
from napari_focus.focus.explain import explain  # noqa: E402
from napari_focus.focus.inputs import mask_on_input, prepare_cube, typical_leaf  # noqa: E402
from napari_focus.focus.readout import (  # noqa: E402
    NEEDS_SECOND_PASS,
    REFINED_RULES,
    RULES,
    group_weight,
    one_pass_rules,
    refined_rule,
)
from napari_focus.focus.reference import group_margins  # noqa: E402
from napari_focus.focus.tiled import explain_scene  # noqa: E402


def _lesioned(band: int = 13, seed: int = 3) -> tuple[Cube, np.ndarray]:
    """A noisy flat leaf on a dark background, its square lesion brighter in one band."""
    rng = np.random.default_rng(seed)
    data = (0.05 + 0.005 * rng.standard_normal((24, 40, 40))).astype(np.float32)
    leaf = np.zeros((40, 40), bool)
    leaf[4:36, 4:36] = True
    data[:, leaf] += 0.3
    data[band, 12:20, 12:20] += 0.3
    return Cube(data, wavelengths_nm=np.linspace(400, 1000, 24)), leaf


def test_refined_rule_keeps_the_map_and_swaps_the_curves_group_weight():
    assert refined_rule("paper+calibrated_rollout") == "paper+typical_rollout"
    assert refined_rule("calibrated") == "calibrated+typical"
    assert refined_rule("margin+calibrated") == "margin+typical"
    assert refined_rule("rollout_spectral") == "rollout_spectral+typical_rollout"
    assert refined_rule("paper+typical_rollout") == "paper+typical_rollout"  # already refined
    assert refined_rule("paper+calibrated_rollout_even") == "paper+typical_rollout_even"  # the same band shares
    assert refined_rule("calibrated_even") == "calibrated_even+typical_even"
    assert {"typical", "typical_rollout", "typical_even", "typical_rollout_even"} == NEEDS_SECOND_PASS
    assert set(one_pass_rules()) == set(RULES) - REFINED_RULES


def test_typical_leaf_flattens_the_leaf_to_its_median_and_leaves_the_rest():
    x = torch.rand(5, 16, 16)
    leaf = np.zeros((16, 16), bool)
    leaf[2:10, 3:12] = True
    t = typical_leaf(x, leaf)
    on = mask_on_input(leaf, 16)
    assert torch.equal(t[:, ~on], x[:, ~on])
    assert torch.equal(t[:, on], x[:, on].median(1).values[:, None].expand(-1, int(on.sum())))
    assert torch.equal(typical_leaf(x, np.zeros((16, 16), bool)), x)


def test_group_weight_is_the_margin_the_leaf_adds_over_its_typical_leaf(model):
    cube, leaf = _lesioned()
    x = prepare_cube(model, cube).x
    out = model(x[None], record=True)
    with pytest.raises(FocusError, match="typical leaf"):
        group_weight(model, out, 1, "typical")
    out.typical_group_logits = model(typical_leaf(x, leaf)[None]).group_logits[0]
    both = model(torch.stack([x, typical_leaf(x, leaf)])).group_logits
    m = group_margins(model, both)
    expected = (m[0, 1] - m[1, 1]).clamp_min(0)
    torch.testing.assert_close(group_weight(model, out, 1, "typical"), expected, rtol=1e-4, atol=1e-4)


def test_a_leaf_without_deviations_gets_no_refined_curve(model):
    flat = Cube(np.full((24, 32, 32), 0.3, np.float32), wavelengths_nm=np.linspace(400, 1000, 24))
    exp = explain(model, flat, class_index=0, rule="paper+typical_rollout", leaf_mask=np.ones((32, 32), bool))
    assert exp.refined and float(exp.B.sum()) == 0.0


def test_refined_explanation_is_marked_and_one_pass_is_not(model):
    cube, leaf = _lesioned()
    model.margin_ref = torch.zeros(model.n_classes, model.groups.n_groups)
    one = explain(model, cube, class_index=1, rule="paper+calibrated_rollout", leaf_mask=leaf)
    two = explain(model, cube, class_index=1, rule=refined_rule("paper+calibrated_rollout"), leaf_mask=leaf)
    assert not one.refined and two.refined and two.rule == "paper+typical_rollout"
    np.testing.assert_allclose(one.M, two.M / max(two.M.max(), 1e-30) * one.M.max(), rtol=1e-4, atol=1e-6)
    assert not np.allclose(one.B / max(one.B.sum(), 1e-30), two.B / max(two.B.sum(), 1e-30))


def test_tiled_refined_explain_runs_the_second_pass_per_tile(model, monkeypatch):
    cube, _ = _lesioned()
    calls = []
    real = type(model).forward

    def counting(self, x, *a, **kw):
        calls.append(bool(kw.get("record")))
        return real(self, x, *a, **kw)

    monkeypatch.setattr(type(model), "forward", counting)
    exp = explain_scene(model, cube, class_index=1, rule="paper+typical_rollout", tile=24)
    assert exp.refined and len(exp.tiles) >= 2
    assert calls.count(True) == calls.count(False) == len(exp.tiles)  # one recorded and one typical pass per tile


def test_cli_refuses_refine_for_a_baseline_before_reading_anything(tmp_path, capsys, monkeypatch):
    from napari_focus.cli import main

    monkeypatch.chdir(tmp_path)
    rc = main(["explain", "x.hdr", "--out", str(tmp_path / "o"), "--refine", "--method", "gradxinput"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--refine" in err[0]


def test_cli_refine_end_to_end(folder, tmp_path, capsys):  # noqa: F811
    from napari_focus.cli import main

    ck = tmp_path / "ck"
    assert main(["train", "--data", str(folder), "--out", str(ck), "--backbone-file", str(folder / "bb/backbone.json"),
                 "--groups", "3", "--epochs", "1", "--fast"]) == 0
    rule = json.loads((ck / "config.json").read_text()).get("saliency_rule")
    capsys.readouterr()
    assert main(["explain", str(folder / "c1.hdr"), "--model", str(ck), "--out", str(tmp_path / "e"), "--refine",
                 "--class", "sick"]) == 0
    pred = json.loads((tmp_path / "e" / "prediction.json").read_text())
    assert pred["refined_curve"] is True and pred["rule"] == refined_rule(rule)
    assert "refined" in pred["band_curve"]
    torch.set_num_threads(1)


from .test_cli import folder  # noqa: E402, F401  (the tiny dataset folder fixture)
