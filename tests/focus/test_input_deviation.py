"""The map's pixel weight: where the input deviates in the groups the curve weighs, and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

from napari_focus.cube import Cube
from napari_focus.focus.explain import explain
from napari_focus.focus.input_deviation import _row_medians, group_deviation, pixel_weight

torch = pytest.importorskip("torch")


def _group_bands(model, g: int) -> np.ndarray:
    gidx = model.band_group.cpu().numpy()
    return np.flatnonzero(gidx == g)


def _leaf(model, seed: int = 0) -> torch.Tensor:
    """A textured leaf: every band varies a little from pixel to pixel, as real tissue does."""
    rng = np.random.default_rng(seed)
    S = model.img_size
    return torch.as_tensor(0.4 + 0.02 * rng.standard_normal((len(model.band_group), S, S)), dtype=torch.float32)


def test_a_spot_that_deviates_in_a_weighed_group_gets_the_weight(model):
    x = _leaf(model)
    bands = _group_bands(model, 1)
    x[bands, 10:14, 20:24] += 0.3  # a spot, in group 1's bands only
    leaf = np.ones((32, 32), bool)
    only_1 = np.eye(model.groups.n_groups)[1]
    w = pixel_weight(model, x, leaf, only_1, (32, 32))
    assert w.dtype == np.float32 and w.shape == (32, 32)
    assert np.median(w[leaf]) == pytest.approx(1.0, rel=1e-3)  # typical tissue keeps the map's scale
    inside, outside = w[11:13, 21:23].min(), np.delete(w, np.s_[8:16], axis=0).max()
    assert inside > 5 * outside
    # the same spot is invisible to a curve that weighs another group only
    only_2 = np.eye(model.groups.n_groups)[2]
    w2 = pixel_weight(model, x, leaf, only_2, (32, 32))
    assert w2[11:13, 21:23].mean() < 2 * np.median(w2)


def test_each_group_is_scaled_by_its_own_typical_deviation(model):
    """Groups whose Φ has a larger gain do not outweigh the others: each is over its median on the leaf."""
    x = _leaf(model)
    dev = group_deviation(model, x, torch.ones(32, 32, dtype=torch.bool))
    med = dev.flatten(1).median(1).values
    assert torch.allclose(med, torch.ones_like(med), atol=1e-5)
    with torch.no_grad():
        model.phi.mul_(1000.0)
    assert torch.allclose(group_deviation(model, x, torch.ones(32, 32, dtype=torch.bool)), dev, rtol=1e-3, atol=1e-4)


def test_an_empty_curve_or_a_uniform_leaf_leaves_the_map_as_it_is(model):
    leaf = np.ones((32, 32), bool)
    x = _leaf(model)
    assert np.array_equal(pixel_weight(model, x, leaf, np.zeros(model.groups.n_groups), (32, 32)), np.ones((32, 32)))


def test_the_pixel_rule_changes_the_map_not_the_curves_shape(model):
    rng = np.random.default_rng(3)
    C = len(model.band_group)
    data = (0.4 + 0.02 * rng.standard_normal((C, 32, 32))).astype(np.float32)
    data[:, 4:9, 4:9] += 0.25
    cube = Cube(data=data, wavelengths_nm=np.asarray(model.wavelengths_nm))
    a = explain(model, cube, class_index=0, rule="paper+rollout_spectral")
    b = explain(model, cube, class_index=0, rule="paper_input+rollout_spectral")
    np.testing.assert_allclose(a.B / a.B.max(), b.B / b.B.max(), rtol=1e-5, atol=1e-7)
    assert not np.allclose(a.M, b.M)
    assert b.M[4:9, 4:9].mean() > b.M.mean()  # the deviating square stands out more than it did
    assert b.M[4:9, 4:9].mean() / b.M.mean() > a.M[4:9, 4:9].mean() / a.M.mean()
    T = np.asarray(b.T.render() if hasattr(b.T, "render") else b.T)
    np.testing.assert_allclose(T.sum(0), b.M, rtol=1e-4, atol=1e-6)  # the cube the overlay shows sums to the map


def test_a_uniform_or_mostly_clipped_leaf_keeps_the_map_finite_and_its_curve(model):
    """Medians of 0 (most of the leaf at its typical value) must neither zero the map nor blow it up."""
    C = len(model.band_group)
    uniform = Cube(data=np.full((C, 32, 32), 0.4, np.float32), wavelengths_nm=np.asarray(model.wavelengths_nm))
    a = explain(model, uniform, class_index=0, rule="paper")
    b = explain(model, uniform, class_index=0, rule="paper_input")
    np.testing.assert_allclose(b.M, a.M, rtol=1e-5, atol=1e-8)  # nothing deviates: the weight is 1
    assert b.B.sum() > 0
    clipped = np.full((C, 32, 32), 1.0, np.float32)
    rng = np.random.default_rng(0)
    clipped[:, :12] = 0.4 + 0.02 * rng.standard_normal((C, 12, 32))  # 60 % of the leaf saturated
    c = explain(model, Cube(data=clipped, wavelengths_nm=np.asarray(model.wavelengths_nm)), class_index=0,
                rule="paper_input")
    ref = explain(model, Cube(data=clipped, wavelengths_nm=np.asarray(model.wavelengths_nm)), class_index=0,
                  rule="paper")
    assert np.isfinite(c.M).all() and c.M.max() < 1e3 * ref.M.max()


def test_non_finite_pixels_are_not_hotspots(model):
    x = _leaf(model)
    x[:, 5, 5] = float("nan")
    x[:, 20, 20] = float("inf")
    dev = group_deviation(model, x, torch.ones(32, 32, dtype=torch.bool))
    assert torch.isfinite(dev).all()
    assert float(dev[:, 5, 5].max()) == 0.0 and float(dev[:, 20, 20].max()) == 0.0


def test_one_non_finite_band_makes_its_pixel_typical(model):
    x = _leaf(model)
    x[3, 7, 7] = float("nan")
    x[len(x) - 1, 9, 9] = float("-inf")
    dev = group_deviation(model, x, torch.ones(32, 32, dtype=torch.bool))
    assert float(dev[:, 7, 7].max()) == 0.0 and float(dev[:, 9, 9].max()) == 0.0
    assert float(dev[:, 8, 8].max()) > 0.0


def test_the_pass_normalised_bands_give_the_same_deviation(model):
    x, leaf = _leaf(model), torch.ones(32, 32, dtype=torch.bool)
    with torch.inference_mode():
        out = model(x[None], record=True)
    assert torch.equal(out.normalised[0], model.normalise_bands(x[None])[0])
    assert torch.equal(group_deviation(model, x, leaf, out.normalised[0]), group_deviation(model, x, leaf))


def test_a_leaf_that_vanishes_at_the_input_gives_no_weight(model):
    x = _leaf(model)
    assert group_deviation(model, x, torch.zeros(32, 32, dtype=torch.bool)) is None
    tiny = np.zeros((256, 256), bool)
    tiny[3, 3] = True  # one pixel of a 256² cube: nothing of it at the 32 px input
    assert np.array_equal(pixel_weight(model, x, tiny, np.ones(model.groups.n_groups), (256, 256)),
                          np.ones((256, 256)))


@pytest.mark.parametrize("n_cols", [7, 8])
def test_row_medians_are_torchs_lower_median_over_the_chosen_columns(n_cols):
    gen = torch.Generator().manual_seed(n_cols)
    a = torch.randn(5, 40, generator=gen)
    cols = torch.zeros(40, dtype=torch.bool)
    cols[torch.randperm(40, generator=gen)[:n_cols]] = True
    expected = a[:, cols].median(1).values.double()
    assert torch.equal(_row_medians(a, cols), expected)
    assert _row_medians(a, cols).dtype == torch.float64
