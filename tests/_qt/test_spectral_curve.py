"""SpectralCurve is Qt-free: axis, gaps, nearest good band, top-k (kept here beside the plot it feeds)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_focus.metrics import top_k_bands
from napari_focus.spectral_curve import NO_WAVELENGTHS_LABEL, SpectralCurve, SpectralGroup


def test_bad_bands_are_nan_never_zero(curve16, good16):
    y = curve16.plotted()
    assert np.isnan(y[~good16]).all() and np.isfinite(y[good16]).all()


def test_nearest_band_skips_bad_bands(curve16, wl16):
    assert curve16.nearest_band(wl16[12] + 1.0) == 11  # 12 and 13 are bad: 11 is the nearest good band
    assert curve16.nearest_band(wl16[13] + 5.0) == 14
    assert curve16.nearest_band(wl16[12], good_only=False) == 12
    assert curve16.nearest_band(float("nan")) is None


def test_top_bands_use_top_k_bands_and_ignore_bad(curve16):
    expected = top_k_bands(curve16.plotted(), curve16.wavelengths_nm, k=5, min_separation_nm=20.0)
    np.testing.assert_array_equal(curve16.top_bands(), expected)
    assert 12 not in curve16.top_bands() and curve16.top_bands()[0] == 8  # 720 nm: the red-edge peak


def test_no_wavelengths_uses_band_index():
    c = SpectralCurve(np.arange(6.0))
    assert c.x_label == NO_WAVELENGTHS_LABEL == "band index (no wavelengths)"
    np.testing.assert_array_equal(c.x, np.arange(6))
    assert c.band_text(3) == "band 3" and c.describe(3) == "band 3 · importance 3"


def test_describe_and_spans(curve16):
    assert curve16.describe(8) == f"720.0 nm · importance {curve16.importance[8]:.3g}"
    assert curve16.describe(12).endswith("bad band")
    lo, hi = curve16.group_span(curve16.groups[2])  # red-edge: bands 6..9, edge to edge
    assert (lo, hi) == (pytest.approx(620.0), pytest.approx(780.0))


def test_from_groups_duck_typed():
    class G:
        names = ("a", "b")
        bands = ((0, 1, 2), (4, 5))

    c = SpectralCurve.from_groups(np.ones(6), G())
    assert c.groups == [SpectralGroup("a", 0, 2), SpectralGroup("b", 4, 5)]


@pytest.mark.parametrize("kwargs", [{"wavelengths_nm": np.ones(3)}, {"good_bands": np.ones(2, bool)},
                                    {"groups": [SpectralGroup("x", 2, 9)]}])
def test_mismatched_shapes_raise(kwargs):
    with pytest.raises(ValueError):
        SpectralCurve(np.ones(4), **kwargs)
