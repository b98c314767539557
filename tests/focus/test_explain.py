"""Readout rules and explain(): shapes, finiteness, non-negativity, M/B consistent with T."""

import numpy as np
import pytest
import torch

from napari_focus.cube import Cube
from napari_focus.focus.explain import explain, predict
from napari_focus.focus.inputs import prepare_cube
from napari_focus.focus.readout import DEFAULT_RULE, NEEDS_BLIND, RULES, available_rules, input_share, parse_rule


def _cube(c=24, h=40, w=36, seed=0, bad=None):
    rng = np.random.default_rng(seed)
    good = None
    if bad is not None:
        good = np.ones(c, bool)
        good[bad] = False
    return Cube(rng.random((c, h, w)).astype(np.float32), wavelengths_nm=np.linspace(400, 1000, c), good_bands=good)


@pytest.mark.parametrize("rule", list(RULES) + ["rollout_spectral+direct", "rollout+paper"])
def test_every_rule_gives_a_consistent_explanation(model, rule):
    cube = _cube()
    leaf = np.zeros((40, 36), bool)
    leaf[5:35, 4:30] = True
    exp = explain(model, cube, class_index=1, rule=rule, leaf_mask=leaf)
    assert exp.T.shape == (24, 40, 36) and exp.M.shape == (40, 36) and exp.B.shape == (24,)
    assert np.isfinite(exp.T).all() and (exp.T >= 0).all()
    assert (exp.T[:, ~leaf] == 0).all()
    np.testing.assert_allclose(exp.M, exp.T.sum(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(exp.B, exp.T[:, leaf].max(1), rtol=1e-6)
    if not set(parse_rule(rule)) & NEEDS_BLIND:  # on noise the margin may rest on no deviating patch: weight 0
        assert exp.T.sum() > 0  # (test_blind.py checks a blind curve on a leaf with a lesion)
    assert exp.class_index == 1 and exp.class_name == "b"
    assert exp.rule == rule
    np.testing.assert_allclose(exp.probabilities.sum(), 1, atol=1e-5)


def test_default_rule_and_unknown_rule():
    assert parse_rule(None) == tuple(DEFAULT_RULE.split("+")) * (1 if "+" in DEFAULT_RULE else 2)
    with pytest.raises(ValueError):
        parse_rule("nonsense")
    assert "paper" in RULES
    assert set(RULES) <= set(available_rules()) and all(parse_rule(r) for r in available_rules())


def test_explain_runs_without_grad_and_predict_matches(model):
    cube = _cube()
    exp = explain(model, cube)
    p = predict(model, cube)
    np.testing.assert_allclose(exp.probabilities, p["probabilities"], atol=1e-6)
    assert exp.predicted == p["predicted"] and exp.class_index == p["class_index"]
    assert all(p.grad is None for p in model.parameters())


def test_explain_under_inference_mode_is_used(model, monkeypatch):
    seen = []
    orig = model.forward

    def spy(*a, **k):
        seen.append(torch.is_inference_mode_enabled())
        return orig(*a, **k)

    monkeypatch.setattr(model, "forward", spy)
    explain(model, _cube(), rule="rollout")
    assert seen == [True]


def test_bad_bands_get_zero_saliency(model):
    from napari_focus.focus.groups import make_groups
    from napari_focus.focus.model import FocusModel

    good = np.ones(24, bool)
    good[[0, 10]] = False
    wl = np.linspace(400, 1000, 24)
    m = FocusModel(model.backbone, model.backbone_spec, make_groups(24, wl, 4, good_bands=good), ["a", "b"],
                   wavelengths_nm=wl)
    m.calibrate(torch.rand(2, 24, 32, 32))
    cube = _cube(bad=[0, 10])
    cube.data[0] = np.nan
    exp = explain(m, cube, rule="paper")
    assert np.isfinite(exp.T).all()
    assert (exp.B[[0, 10]] == 0).all() and (exp.B[good] > 0).all()


def test_metrics_with_ground_truth(model):
    cube = _cube()
    lesion = np.zeros((40, 36), bool)
    lesion[10:16, 10:16] = True
    gt = {"lesion_mask": lesion, "top_bands": [3, 8, 12, 17, 22]}
    exp = explain(model, cube, class_index=0, leaf_mask=np.ones((40, 36), bool), ground_truth=gt)
    for k in ("bio5_strict", "bio5_tolerant", "iou", "auprc", "auprc_floor_random", "collapse_rate",
              "over_filtering", "sink_mass", "consistency"):
        assert k in exp.metrics and np.isfinite(exp.metrics[k]), k
    assert 0 <= exp.metrics["auprc"] <= 1


def test_regression_explanation():
    from .conftest import tiny_model

    m = tiny_model(classes=["chl"], task="regression")
    m.calibrate(torch.rand(2, 24, 32, 32))
    exp = explain(m, _cube(), rule="rollout+direct")
    assert isinstance(exp.predicted, float) and exp.T.shape == (24, 40, 36) and (exp.T >= 0).all()


@pytest.mark.parametrize("rule", list(RULES))
def test_one_group_regression_explanation_is_not_empty(rule):
    """G = 1 (the Prompt-CAM-style baseline) on a regression: a group's weight is its deviation from the other
    groups' predictions, and with no other group that is 0 for every pixel; the one group must weigh 1 instead."""
    from .conftest import tiny_model

    m = tiny_model(classes=["chl"], task="regression", n_groups=1, use_sink=False)
    m.calibrate(torch.rand(2, 24, 32, 32))
    exp = explain(m.eval(), _cube(), rule=rule)
    assert exp.T.sum() > 0 and np.ptp(exp.B) > 0


def test_explain_classes_matches_single_explanations(model):
    from napari_focus.focus.explain import explain_classes

    cube = _cube()
    leaf = np.ones((40, 36), bool)
    many = explain_classes(model, cube, rule="rollout", leaf_mask=leaf)
    assert [e.class_index for e in many] == [0, 1, 2]
    for e in many:
        one = explain(model, cube, class_index=e.class_index, rule="rollout", leaf_mask=leaf)
        np.testing.assert_allclose(e.T, one.T, rtol=1e-5, atol=1e-8)


def _lesioned_cube(band: int):
    """A flat leaf with noise whose square lesion is brighter in one band only."""
    rng = np.random.default_rng(3)
    data = (0.3 + 0.005 * rng.standard_normal((24, 32, 32))).astype(np.float32)
    data[band, 10:22, 10:22] += 0.3
    return Cube(data, wavelengths_nm=np.linspace(400, 1000, 24))


def test_calibrated_curve_puts_the_group_share_on_the_band_where_the_lesion_differs(model):
    model.margin_ref = torch.zeros(model.n_classes, model.groups.n_groups)
    gidx = model.band_group.numpy()
    for band in (2, 13):  # one band in two different groups
        exp = explain(model, _lesioned_cube(band), class_index=0, rule="calibrated")
        members = np.flatnonzero(gidx == gidx[band])
        assert int(members[np.argmax(exp.B[members])]) == band or exp.B[members].max() == 0
        out = model(prepare_cube(model, _lesioned_cube(band)).x[None], record=True)
        share = input_share(model, out).detach().numpy()
        assert int(members[np.argmax(share[members])]) == band and share[band] > 0.5
        for g in range(model.groups.n_groups):  # each group's shares sum to 1, or to 0 when nothing deviates
            assert share[gidx == g].sum() == pytest.approx(1.0, abs=1e-4) or share[gidx == g].sum() == 0


@pytest.mark.parametrize("rule", ["calibrated", "calibrated_rollout"])
def test_an_even_rule_keeps_each_groups_mass_and_spreads_part_of_it_evenly(model, rule):
    """The `_even` twin of a rule: the same group masses; within a group 1 − EVEN_PART of the mass by the band share,
    EVEN_PART evenly, so no band of a weighted group is left at 0 and the band the lesion moves still leads its
    group."""
    from napari_focus.focus.readout import EVEN_PART

    model.margin_ref = torch.zeros(model.n_classes, model.groups.n_groups)
    gidx = model.band_group.numpy()
    cube = _lesioned_cube(2)
    base = explain(model, cube, class_index=0, rule=rule)
    even = explain(model, cube, class_index=0, rule=f"{rule}_even")
    members = np.flatnonzero(gidx == gidx[2])
    assert base.B[members].sum() > 0 and (base.B[members] == 0).any()  # the share alone leaves bands empty
    for g in range(model.groups.n_groups):
        m = gidx == g
        assert even.B[m].sum() == pytest.approx(base.B[m].sum(), rel=1e-4, abs=1e-9)
        np.testing.assert_allclose(even.B[m], (1 - EVEN_PART) * base.B[m] + EVEN_PART * base.B[m].mean(),
                                   rtol=1e-4, atol=1e-9)
    assert int(members[np.argmax(even.B[members])]) == 2
    assert (even.B[members] > 0).all()


def test_an_even_rule_gives_no_weight_to_a_group_where_nothing_deviates(model, monkeypatch):
    """A group whose band shares are all 0 (a flat leaf there) stays at 0 in the `_even` twin too."""
    from napari_focus.focus import readout

    model.margin_ref = torch.zeros(model.n_classes, model.groups.n_groups)
    gidx = model.band_group[model.used_bands]
    real = readout.input_share

    def share_without_group_0(m, out, where=None):
        s = real(m, out, where).clone()
        s[gidx == 0] = 0
        return s

    monkeypatch.setattr(readout, "input_share", share_without_group_0)
    exp = explain(model, _lesioned_cube(13), class_index=0, rule="calibrated_even")
    first = model.band_group.numpy() == 0
    assert exp.B[first].sum() == 0 and exp.B[~first].sum() > 0


def test_a_checkpoint_without_a_stored_reference_says_its_curve_uses_raw_margins(model):
    model.margin_ref = None
    exp = explain(model, _cube(), rule="calibrated")
    assert any("no group-margin reference" in n and "raw class margins" in n for n in exp.notes)
    assert any("old readout (paper)" in n for n in explain(model, _cube(), rule="paper").notes)
    model.margin_ref = torch.zeros(model.n_classes, model.groups.n_groups)
    for rule in ("calibrated", "paper"):
        assert not any("reference" in n for n in explain(model, _cube(), rule=rule).notes)
