"""The saliency overlay's colour scale comes from the data: the same picture whatever the readout's units."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from napari_focus.explain_layers import SATURATED_AT_MOST, curve_label, saliency_layer_data, top_band


def _exp(scale: float) -> SimpleNamespace:
    rng = np.random.default_rng(3)
    T = rng.gamma(0.5, size=(6, 40, 50)).astype(np.float32)
    T[3] *= 4  # the curve's top band
    leaf = np.zeros((40, 50), bool)
    leaf[5:35, 5:45] = True
    T[:, ~leaf] = 0
    T *= scale
    return SimpleNamespace(T=T, M=T.sum(0), B=T.reshape(6, -1).max(1), leaf_mask=leaf, class_name="bls",
                           method="focus", rule="r", model_sha256="0", probabilities=[0.1, 0.9], predicted="bls",
                           wavelengths_nm=None, refined=False)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 230.0])
def test_at_most_two_percent_of_leaf_pixels_saturate_at_the_top_band(scale):
    exp = _exp(scale)
    (T, kw, _), (M, mkw, _) = saliency_layer_data(exp, cube_name="leaf")
    band = top_band(exp.B)
    assert band == 3 and kw["metadata"]["top_band"] == 3
    lo, hi = kw["contrast_limits"]
    inside = T[band][exp.leaf_mask]
    assert lo == 0.0 and np.count_nonzero(inside >= np.float32(hi)) <= SATURATED_AT_MOST * inside.size
    assert np.count_nonzero(inside >= np.float32(hi)) >= 0.5 * SATURATED_AT_MOST * inside.size  # not a washed-out top
    np.testing.assert_allclose(hi / scale, saliency_layer_data(_exp(1.0))[0][1]["contrast_limits"][1], rtol=1e-4)


def test_bad_bands_are_never_the_top_band_and_gradcam_says_whose_curve_it_is():
    assert top_band([1.0, 9.0, 2.0], good_bands=[1, 0, 1]) == 2
    assert top_band([np.nan, np.nan]) == 0
    assert curve_label("gradcam") == "gradient × input (the band curve of Grad-CAM)"


def test_a_lazy_saliency_cube_is_rendered_ahead_when_small_and_left_lazy_when_large():
    da = pytest.importorskip("dask.array")
    from napari_focus.explain_layers import render_ahead

    T = np.random.default_rng(0).random((4, 8, 8)).astype(np.float32)
    small = SimpleNamespace(T=da.from_array(T, chunks=(1, 8, 8)))
    render_ahead(small)
    assert isinstance(small.T, np.ndarray) and np.array_equal(small.T, T)
    large = SimpleNamespace(T=da.from_array(T, chunks=(1, 8, 8)))
    render_ahead(large, budget=T.nbytes - 1)
    assert hasattr(large.T, "dask")
    ready = SimpleNamespace(T=T)
    render_ahead(ready)
    assert ready.T is T
