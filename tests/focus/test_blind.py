"""The blind group weight: each group's margin against its prompts' margin without the patches that deviate in it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_focus.cube import Cube  # noqa: E402
from napari_focus.errors import FocusError  # noqa: E402
from napari_focus.focus import blind  # noqa: E402
from napari_focus.focus.explain import explain, leaf_patches  # noqa: E402
from napari_focus.focus.input_deviation import input_deviation  # noqa: E402
from napari_focus.focus.inputs import prepare_cube  # noqa: E402
from napari_focus.focus.readout import NEEDS_BLIND, RULES, group_weight, one_pass_rules, refined_rule  # noqa: E402
from napari_focus.focus.reference import group_margins  # noqa: E402

from .test_refined_curve import _lesioned  # noqa: E402


def _pass(model, cube, leaf):
    x = prepare_cube(model, cube).x
    with torch.inference_mode():
        out = model(x[None], record=True, keep_kv=True)
    out.leaf_patches = leaf_patches(leaf, model.grid)
    return x, out


def test_blind_rules_are_one_pass_and_refine_by_windows():
    assert {"blind", "blind_rollout", "blind_even", "blind_rollout_even", "blind_windows",
            "blind_rollout_windows"} == NEEDS_BLIND
    assert set(one_pass_rules()) >= NEEDS_BLIND - {"blind_windows", "blind_rollout_windows"}
    assert RULES["blind_rollout_even"].even == RULES["calibrated_rollout_even"].even
    assert refined_rule("paper_input+blind_rollout_even") == "paper_input+blind_rollout_windows"


def test_nothing_hidden_gives_the_forward_pass_logits_exactly(model):
    cube, leaf = _lesioned()
    _, out = _pass(model, cube, leaf)
    none = torch.zeros(model.groups.n_groups, model.grid[0] * model.grid[1], dtype=torch.bool)
    with torch.inference_mode():
        z = blind.blind_group_logits(model, out, none)
    assert torch.equal(z, out.group_logits[0].float())


def test_hiding_the_lesion_patches_changes_only_that_groups_logits(model):
    rng = np.random.default_rng(0)
    data = (0.35 + 0.005 * rng.standard_normal((24, 32, 32))).astype(np.float32)  # the leaf fills the frame
    data[13, 8:16, 8:16] += 0.3  # one patch (8-px patches, 4 × 4) deviates, in one band
    leaf = np.ones((32, 32), bool)
    x, out = _pass(model, Cube(data, wavelengths_nm=np.linspace(400, 1000, 24)), leaf)
    hidden = blind.hidden_patches(model, input_deviation(model, x, leaf), out.leaf_patches)
    g = int(model.band_group[13])
    assert hidden[g].nonzero().flatten().tolist() == [5]  # row 1, column 1
    with torch.inference_mode():
        z = blind.blind_group_logits(model, out, hidden)
    changed = (z != out.group_logits[0].float()).any(0)  # the tiny model's layer scale keeps changes small
    assert changed[g]
    assert changed.tolist() == hidden.any(1).tolist()  # a group keeps its logits unless a patch was hidden from it


def test_patches_off_the_leaf_are_never_hidden(model):
    cube, leaf = _lesioned()
    x, out = _pass(model, cube, leaf)
    hidden = blind.hidden_patches(model, input_deviation(model, x, leaf), out.leaf_patches)
    assert hidden.any() and not hidden[:, ~out.leaf_patches].any()


def test_no_deviation_hides_nothing(model):
    leaf_p = torch.ones(model.grid[0] * model.grid[1], dtype=torch.bool)
    assert not blind.hidden_patches(model, None, leaf_p).any()


def test_the_weight_is_the_margin_above_the_blind_margin(model):
    cube, leaf = _lesioned()
    x, out = _pass(model, cube, leaf)
    blind.blind_pass(model, out, input_deviation(model, x, leaf), "blind")
    m, ref = group_margins(model, out.group_logits.float())[0], group_margins(model, out.blind_group_logits[None])[0]
    for c in range(model.n_classes):
        assert torch.allclose(group_weight(model, out, c, "blind"), (m[c] - ref[c]).clamp_min(0))


def test_without_the_blind_pass_the_weight_says_so(model):
    cube, leaf = _lesioned()
    _, out = _pass(model, cube, leaf)
    with pytest.raises(FocusError, match="blind pass"):
        group_weight(model, out, 0, "blind")


def test_explain_weighs_the_curve_by_the_blind_pass(model, monkeypatch):
    cube, leaf = _lesioned()
    whole = explain(model, cube, class_index=1, rule="paper_input+blind_rollout_even", leaf_mask=leaf)
    assert whole.B.sum() > 0
    monkeypatch.setattr(blind, "HIDE_ABOVE", float("inf"))  # nothing hidden: every weight (m − m)₊ = 0
    empty = explain(model, cube, class_index=1, rule="paper_input+blind_rollout_even", leaf_mask=leaf)
    assert empty.B.sum() == 0


def test_a_joint_sequence_model_refuses_the_blind_weight():
    from types import SimpleNamespace

    with pytest.raises(FocusError, match="one sequence per group"):
        blind.blind_group_logits(SimpleNamespace(joint=True), SimpleNamespace(block_kv=[]), torch.zeros(1, 1))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_nothing_hidden_gives_the_pass_logits_under_autocast(dtype):
    from .conftest import tiny_model

    model = tiny_model(reg_tokens=2)  # full layer scale: a dtype change in the prompts' path shows in the logits
    model.calibrate(torch.rand(4, 24, 32, 32))
    model.eval()
    cube, leaf = _lesioned()
    x = prepare_cube(model, cube).x
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype):
        out = model(x[None], record=True, keep_kv=True)
        out.leaf_patches = leaf_patches(leaf, model.grid)
        none = torch.zeros(model.groups.n_groups, model.grid[0] * model.grid[1], dtype=torch.bool)
        z = blind.blind_group_logits(model, out, none)
    assert torch.equal(z, out.group_logits[0].float())


def test_a_curve_with_its_own_reference_needs_no_stored_one(model):
    cube, leaf = _lesioned()
    assert model.margin_ref is None
    assert not explain(model, cube, class_index=1, rule="paper_input+blind_rollout_even", leaf_mask=leaf).notes
    assert explain(model, cube, class_index=1, rule="paper_input+calibrated_rollout_even", leaf_mask=leaf).notes
