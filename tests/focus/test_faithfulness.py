"""Healing faithfulness (napari_focus/focus/faithfulness.py): forward passes only, on a leaf with a known lesion."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_focus.cube import Cube  # noqa: E402
from napari_focus.focus.faithfulness import heal_faithfulness  # noqa: E402
from napari_focus.focus.window_share import class_margin, windows  # noqa: E402

from .conftest import tiny_model  # noqa: E402


@pytest.fixture
def model():
    """A tiny model whose margin responds visibly to its input (a head of unit-scale weights)."""
    m = tiny_model()
    m.calibrate(torch.rand(4, 24, 32, 32))
    with torch.no_grad():
        m.head.weight.copy_(torch.randn(m.head.weight.shape, generator=torch.Generator().manual_seed(1)))
        m.prompts.add_(torch.randn(m.prompts.shape, generator=torch.Generator().manual_seed(2)))
    return m.eval()


def test_windows_are_about_ten_nm_and_cover_every_band_once():
    wl = np.arange(400.0, 460.0, 3.0)  # 20 bands, 3 nm apart
    idx = np.arange(20)
    wins = windows(idx, wl)
    assert np.array_equal(np.concatenate(wins), idx)
    assert all(wl[w[-1]] - wl[w[0]] < 10 for w in wins) and len(wins) == 5  # 4 bands (9 nm) each
    assert [len(w) for w in windows(np.arange(7), None)] == [3, 3, 1]


def test_margin_is_the_class_logit_over_the_mean_of_the_others(model):
    z = torch.tensor([[1.0, 4.0, 7.0]])
    assert float(class_margin(model, z, 1)[0]) == pytest.approx(4.0 - 4.0)
    assert float(class_margin(model, z, 2)[0]) == pytest.approx(7.0 - 2.5)


@pytest.fixture
def leaf_with_lesion():
    rng = np.random.default_rng(0)
    data = (0.3 + 0.02 * rng.standard_normal((24, 32, 32))).astype(np.float32)
    lesion = np.zeros((32, 32), bool)
    lesion[8:20, 8:20] = True
    data[:, lesion] += np.linspace(0.5, 0.05, 24)[:, None]  # the lesion differs in every band, most in the first
    return Cube(data, wavelengths_nm=np.linspace(400, 1000, 24)), lesion


def test_a_curve_ordered_like_the_drops_scores_one_and_the_reverse_minus_one(model, leaf_with_lesion):
    cube, lesion = leaf_with_lesion
    first = heal_faithfulness(model, cube, 0, np.ones(24), lesion)
    drops = np.asarray(first["group_drops"])
    assert drops.shape == (model.groups.n_groups,) and len(np.unique(drops)) == len(drops)  # untied
    gidx = model.band_group.numpy()
    sizes = np.bincount(gidx[gidx >= 0])
    rank = np.argsort(np.argsort(drops)).astype(float) + 1  # the drops' order, one mass level per group
    follows = heal_faithfulness(model, cube, 0, (rank / sizes)[gidx], lesion)
    against = heal_faithfulness(model, cube, 0, ((len(rank) + 1 - rank) / sizes)[gidx], lesion)
    assert follows["group_faithfulness"] == pytest.approx(1.0)
    assert against["group_faithfulness"] == pytest.approx(-1.0)


def test_a_curve_flat_within_its_groups_scores_zero_on_windows(model, leaf_with_lesion):
    cube, lesion = leaf_with_lesion
    res = heal_faithfulness(model, cube, 0, np.ones(24), lesion)
    assert res["window_faithfulness"] == 0.0  # no within-group shape: no credit
    assert 0.0 <= res["faithful_coverage"] <= 1.0


def test_a_lesion_that_vanishes_at_the_model_input_gives_nan(model):
    cube = Cube(np.full((24, 256, 256), 0.3, np.float32), wavelengths_nm=np.linspace(400, 1000, 24))
    lesion = np.zeros((256, 256), bool)
    lesion[5, 5] = True  # one pixel of 256² at 32²: gone
    res = heal_faithfulness(model, cube, 0, np.ones(24), lesion)
    assert all(np.isnan(res[k]) for k in ("group_faithfulness", "window_faithfulness", "faithful_coverage"))


def test_a_heal_inside_one_group_reruns_only_that_group_and_matches_a_full_forward(model, leaf_with_lesion):
    from napari_focus.focus import faithfulness
    from napari_focus.focus.inputs import mask_on_input, prepare_cube

    cube, lesion_np = leaf_with_lesion
    x = prepare_cube(model, cube).x.float()
    lesion = mask_on_input(lesion_np, model.img_size)
    healthy = x[:, ~lesion].median(1).values
    gidx = model.band_group.numpy()
    for g in range(model.groups.n_groups):
        bands = np.flatnonzero(gidx == g)
        heals = [bands, bands[: max(1, len(bands) // 2)]]
        faithfulness._DROPS.clear()
        full = faithfulness._drops(model, x, 1, heals, lesion, healthy)
        faithfulness._DROPS.clear()
        one = faithfulness._drops(model, x, 1, heals, lesion, healthy, group=g)
        assert np.abs(full).max() > 1e-4  # the heals change the margin, so the comparison means something
        np.testing.assert_allclose(one, full, rtol=1e-4, atol=1e-5)


def test_group_logits_are_the_forwards_per_group_logits(model, leaf_with_lesion):
    from napari_focus.focus.inputs import prepare_cube

    x = prepare_cube(model, leaf_with_lesion[0]).x.float()[None]
    with torch.inference_mode():
        per_group = model(x).group_logits  # (1, K, G)
        for g in range(model.groups.n_groups):
            torch.testing.assert_close(model.group_logits(x, g), per_group[..., g], rtol=1e-4, atol=1e-5)
