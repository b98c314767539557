"""The windows refinement: the heaviest groups' bands shared by what healing each ~10 nm window costs the class."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_focus.focus import window_share as ws  # noqa: E402
from napari_focus.focus.explain import explain  # noqa: E402
from napari_focus.focus.input_deviation import input_deviation  # noqa: E402
from napari_focus.focus.inputs import mask_on_input, prepare_cube  # noqa: E402
from napari_focus.focus.readout import (  # noqa: E402
    NEEDS_BLIND,
    NEEDS_WINDOWS,
    REFINED_RULES,
    one_pass_rules,
    refined_rule,
)
from napari_focus.focus.tiled import explain_scene  # noqa: E402

from .conftest import tiny_model  # noqa: E402
from .test_refined_curve import _lesioned  # noqa: E402


@pytest.fixture
def lively():
    """A tiny model without layer scale, so that its margins respond to a healed window."""
    m = tiny_model(reg_tokens=2, init_values=None, no_embed_class=True)
    m.calibrate(torch.rand(4, 24, 32, 32))
    return m.eval()


def _leaf_input(model):
    cube, leaf = _lesioned()
    x = prepare_cube(model, cube).x
    return cube, leaf, x, input_deviation(model, x, leaf), mask_on_input(leaf, x.shape[-1])


def test_windows_rules_refine_blind_curves_and_are_never_a_default():
    assert {"blind_windows", "blind_rollout_windows"} == NEEDS_WINDOWS
    assert NEEDS_WINDOWS <= NEEDS_BLIND and NEEDS_WINDOWS <= REFINED_RULES
    assert not NEEDS_WINDOWS & set(one_pass_rules())
    assert refined_rule("paper_input+blind_rollout_even") == "paper_input+blind_rollout_windows"
    assert refined_rule("blind_even") == "blind_even+blind_windows"
    assert refined_rule("paper_input+blind_windows") == "paper_input+blind_windows"  # already refined


def test_window_drops_are_the_class_margins_drop_times_the_group_count(lively):
    _, _, x, _, on = _leaf_input(lively)
    healed = torch.zeros_like(on)
    healed[10:22, 10:22] = True  # the lesion, on the input
    median = x[:, on].float().median(1).values
    g = int(lively.band_group[13])
    wins = ws.windows(np.flatnonzero(lively.band_group.numpy() == g), lively.wavelengths_nm)
    with torch.inference_mode():
        drops = ws.window_drops(lively, x, healed, median, 1, g, wins)
        xs = x[None].repeat(len(wins) + 1, 1, 1, 1)
        for j, w in enumerate(wins):
            b = torch.as_tensor(w)
            xs[j + 1][b[:, None], healed] = median[b][:, None].to(xs.dtype)
        m = ws.class_margin(lively, lively(xs).logits, 1).double()
    whole = (m[0] - m[1:]).numpy() * lively.groups.n_groups  # the class margin is the mean of the groups' margins
    assert np.abs(drops).max() > 0
    np.testing.assert_allclose(drops, whole, rtol=1e-3, atol=1e-6)


def _shares(model):
    """A one-pass share whose groups each sum to 1, spread unevenly inside each group."""
    gidx = model.band_group[model.used_bands].numpy()
    s = np.arange(1, len(gidx) + 1, dtype=np.float64)
    for g in np.unique(gidx):
        s[gidx == g] /= s[gidx == g].sum()
    return torch.as_tensor(s, dtype=torch.float32)


def test_the_heaviest_groups_windows_share_their_mass_by_their_drops(lively, monkeypatch):
    _, _, x, deviation, on = _leaf_input(lively)
    out = SimpleNamespace(window_input=(x, deviation, on))
    share = _shares(lively)
    G = lively.groups.n_groups
    weight = torch.zeros(G)
    weight[1] = 2.0  # only group 1 weighs: only its windows are healed
    gidx = lively.band_group[lively.used_bands].numpy()
    rows = np.flatnonzero(gidx == 1)
    planted = np.zeros(len(rows))
    planted[[1, 3]] = [3.0, 1.0]
    planted[0] = -2.0  # a window whose healing raises the margin gets nothing
    calls = []

    def fake(model, x_, healed, median, c, g, wins):
        calls.append(g)
        assert len(wins) == len(rows) and bool(healed.any())  # one band per window at this band spacing
        return planted

    monkeypatch.setattr(ws, "window_drops", fake)
    refined = ws.refine_share(lively, out, 1, share, share, weight).numpy()
    assert calls == [1]
    np.testing.assert_allclose(refined[gidx != 1], share.numpy()[gidx != 1])  # other groups keep their share
    np.testing.assert_allclose(refined[rows], np.where(planted > 0, planted, 0) / 4.0, rtol=1e-6)  # total kept: 1
    raw = share.clone()
    raw[torch.as_tensor(rows)] = 0  # the one-pass share left these bands empty: a window still gets its whole part
    again = ws.refine_share(lively, out, 1, share, raw, weight).numpy()
    np.testing.assert_allclose(again, refined, rtol=1e-6)


def test_a_group_whose_windows_lose_nothing_keeps_its_one_pass_share(lively, monkeypatch):
    _, _, x, deviation, on = _leaf_input(lively)
    share = _shares(lively)
    monkeypatch.setattr(ws, "window_drops", lambda *a: np.zeros(len(a[-1])))
    refined = ws.refine_share(lively, SimpleNamespace(window_input=(x, deviation, on)), 1, share, share,
                              torch.ones(lively.groups.n_groups))
    assert torch.equal(refined, share)


def test_explain_refines_inside_groups_and_keeps_each_groups_mass(lively):
    cube, leaf = _lesioned()
    one = explain(lively, cube, class_index=1, rule="blind_rollout_even", leaf_mask=leaf)
    ref = explain(lively, cube, class_index=1, rule="blind_rollout_windows", leaf_mask=leaf)
    assert ref.refined and not one.refined
    gidx = lively.band_group.numpy()
    mass = lambda b: np.bincount(gidx, weights=b, minlength=lively.groups.n_groups)  # noqa: E731
    assert one.B.sum() > 0
    np.testing.assert_allclose(mass(ref.B), mass(one.B), rtol=1e-4, atol=1e-9)
    assert not np.allclose(ref.B, one.B)  # the shares inside the weighted groups moved


def test_tiled_explain_refines_each_tile(lively):
    cube, _ = _lesioned()
    exp = explain_scene(lively, cube, class_index=1, rule="blind_rollout_windows", tile=24)
    assert exp.refined and len(exp.tiles) >= 2 and np.isfinite(exp.B).all()
