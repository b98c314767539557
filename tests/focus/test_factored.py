"""M and B from the patch-level factors equal M and B of the rendered T; T is rendered on first read."""

import numpy as np
import pytest
import torch

from napari_focus.cube import Cube
from napari_focus.focus.explain import explain, explain_classes
from napari_focus.focus.factored import band_max, leaf_rows, render, saliency_map


def _leaves(h: int, w: int, rng: np.random.Generator) -> list[np.ndarray]:
    blob = rng.random((h, w)) < 0.3  # scattered pixels: many stretches with one leaf row only
    disc = np.hypot(*np.mgrid[:h, :w] - np.array([h / 2, w / 3])[:, None, None]) < min(h, w) / 3
    one = np.zeros((h, w), bool)
    one[h - 1, w // 2] = True  # a single pixel on the bottom edge (clamped interpolation there)
    return [np.ones((h, w), bool), blob, disc, one, np.zeros((h, w), bool)]


@pytest.mark.parametrize("grid,hw", [((4, 5), (40, 36)), ((14, 14), (256, 200)), ((6, 6), (5, 9)), ((3, 3), (3, 3))])
def test_map_and_curve_from_factors_match_the_rendered_cube(grid, hw):
    rng = np.random.default_rng(sum(hw))
    P = torch.from_numpy(rng.random((7, *grid)).astype(np.float32) ** 4)  # peaked, so the max is not flat
    P[2] = 0  # a band without saliency
    for leaf in _leaves(*hw, rng):
        T = render(P, hw, leaf)
        assert T.shape == (7, *hw) and (T[:, ~leaf] == 0).all()
        np.testing.assert_allclose(saliency_map(P, hw, leaf), T.sum(0), rtol=1e-5, atol=1e-6)
        expect = T[:, leaf].max(1) if leaf.any() else np.zeros(7, np.float32)
        np.testing.assert_allclose(band_max(P, leaf_rows(leaf, grid)), expect, rtol=1e-6, atol=1e-7)


def test_the_curve_is_not_read_off_the_patch_grid():
    # a patch row's peak lands between output rows: B must be the upsampled value, not the patch value
    P = torch.zeros(1, 4, 4)
    P[0, 1, 2] = 1.0
    leaf = np.ones((10, 10), bool)
    B = band_max(P, leaf_rows(leaf, (4, 4)))
    assert 0 < B[0] < 1
    np.testing.assert_allclose(B, render(P, (10, 10), leaf).reshape(1, -1).max(1), rtol=1e-6)


def test_explain_classes_defers_every_T_until_read(model):
    rng = np.random.default_rng(3)
    cube = Cube(rng.random((24, 40, 36)).astype(np.float32), wavelengths_nm=np.linspace(400, 1000, 24))
    leaf = np.zeros((40, 36), bool)
    leaf[3:37, 6:33] = True
    for rule in ("rollout_spectral", "rollout+direct"):
        many = explain_classes(model, cube, rule=rule, leaf_mask=leaf)
        assert not any(e.T_ready for e in many)
        for e in many:
            T = e.T  # rendered here, outside explain's inference mode
            assert e.T_ready and e.T is T and T.dtype == np.float32 and T.shape == (24, 40, 36)
            np.testing.assert_allclose(e.M, T.sum(0), rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(e.B, T[:, leaf].max(1), rtol=1e-6)
            one = explain(model, cube, class_index=e.class_index, rule=rule, leaf_mask=leaf)
            np.testing.assert_array_equal(one.T, T)
            np.testing.assert_array_equal(one.M, e.M)
            np.testing.assert_array_equal(one.B, e.B)
