"""The windows refinement: the heaviest groups' bands shared by what healing each ~10 nm window costs the class."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_focus.focus import window_share as ws  # noqa: E402
from napari_focus.focus.explain import explain  # noqa: E402
from napari_focus.focus.groups import make_groups  # noqa: E402
from napari_focus.focus.input_deviation import input_deviation  # noqa: E402
from napari_focus.focus.inputs import mask_on_input, prepare_cube  # noqa: E402
from napari_focus.focus.model import FocusModel  # noqa: E402
from napari_focus.focus.readout import (  # noqa: E402
    NEEDS_BLIND,
    NEEDS_WINDOWS,
    REFINED_RULES,
    one_pass_rules,
    refined_rule,
)
from napari_focus.focus.tiled import explain_scene  # noqa: E402

from .conftest import tiny_model, tiny_vit  # noqa: E402
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

    def fake(model, x_, healed, median, c, g, wins, **kw):
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
    healed = []

    def nothing(*a, **kw):
        healed.append(a[5])
        return np.zeros(len(a[6]))

    monkeypatch.setattr(ws, "window_drops", nothing)
    refined = ws.refine_share(lively, SimpleNamespace(window_input=(x, deviation, on)), 1, share, share,
                              torch.ones(lively.groups.n_groups))
    assert len(healed) == ws.TOP_GROUPS  # the heals were asked for, and lost nothing
    torch.testing.assert_close(refined, share)


def test_inside_a_window_half_follows_the_one_pass_share_on_a_fine_sensor_with_bad_bands(monkeypatch):
    wl = np.linspace(400, 517, 40)  # 3 nm apart: windows of 4 bands
    good = np.ones(40, bool)
    good[[5, 6, 22]] = False  # bad bands inside groups: share positions are not band indices
    vit, spec = tiny_vit(0, reg_tokens=2, init_values=None, no_embed_class=True)
    model = FocusModel(vit, spec, make_groups(40, wl, 2, good_bands=good), ["a", "b"], wavelengths_nm=wl).eval()
    model.calibrate(torch.rand(2, 40, 32, 32))
    x = torch.rand(40, 32, 32)
    on = torch.ones(32, 32, dtype=torch.bool)
    deviation = torch.full((2, 32, 32), 2.0)  # every pixel deviates in both groups
    used = model.used_bands.numpy()
    gidx = model.band_group.numpy()[used]
    rows = np.flatnonzero(gidx == 0)
    wins = ws.windows(used[rows], wl)
    assert len(wins) >= 3 and max(len(w) for w in wins) > 1
    planted = np.zeros(len(wins))
    planted[1] = 1.0  # only the second window of group 0 costs the class anything
    monkeypatch.setattr(ws, "window_drops", lambda *a, **kw: planted if a[5] == 0 else np.zeros(len(a[6])))
    raw = torch.as_tensor(np.arange(1, len(used) + 1, dtype=np.float32))
    raw = raw / torch.zeros(2).index_add(0, torch.as_tensor(gidx), raw)[torch.as_tensor(gidx)]
    refined = ws.refine_share(model, SimpleNamespace(window_input=(x, deviation, on)), 1, raw, raw,
                              torch.tensor([1.0, 0.0])).numpy()
    pos = {int(b): i for i, b in enumerate(used)}
    second = np.array([pos[int(b)] for b in wins[1]])
    expected = 0.5 * raw.numpy()[second] / raw.numpy()[second].sum() + 0.5 / len(second)
    np.testing.assert_allclose(refined[second], expected, rtol=1e-5)  # the whole group's mass, split inside
    np.testing.assert_allclose(refined[np.setdiff1d(rows, second)], 0.0)
    np.testing.assert_allclose(refined[gidx == 1], raw.numpy()[gidx == 1])  # group 1 weighs nothing: untouched


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


def test_tiled_explain_refines_each_tile(lively, monkeypatch):
    cube, _ = _lesioned()
    one = explain_scene(lively, cube, class_index=1, rule="blind_rollout_even", tile=24)
    calls = []
    real = ws.refine_share
    monkeypatch.setattr(ws, "refine_share", lambda *a: calls.append(1) or real(*a))
    exp = explain_scene(lively, cube, class_index=1, rule="blind_rollout_windows", tile=24)
    assert exp.refined and len(exp.tiles) >= 2 and len(calls) == len(exp.tiles)
    assert np.isfinite(exp.B).all() and not np.allclose(exp.B, one.B)
