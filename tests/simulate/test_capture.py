"""The bench capture: a leaf, a white panel and a black tray in the stated proportions, drawn from a seed."""

from __future__ import annotations

import numpy as np
import pytest

from napari_focus.simulate.capture import LEAF_FRACTION, PANEL_FRACTION, bench_capture


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_proportions_and_values(seed):
    cap = bench_capture(seed)
    data = np.asarray(cap.cube.data)
    assert data.dtype == np.float32 and data.shape[1:] == cap.leaf_mask.shape == cap.panel_mask.shape
    assert not (cap.leaf_mask & cap.panel_mask).any()
    assert LEAF_FRACTION[0] - 0.02 <= cap.leaf_mask.mean() <= LEAF_FRACTION[1] + 0.02
    assert PANEL_FRACTION[0] - 0.01 <= cap.panel_mask.mean() <= PANEL_FRACTION[1] + 0.01
    panel = np.median(data[:, cap.panel_mask], axis=1)
    assert panel.min() >= 0.94 and panel.max() <= 1.0 and np.ptp(panel) < 0.01  # flat across bands
    tray = data[:, ~(cap.leaf_mask | cap.panel_mask)]
    assert 0.015 <= np.median(tray) <= 0.055 and tray.std() > 0.001  # with the sensor's noise
    red, nir = (np.median(data[np.argmin(np.abs(cap.cube.wavelengths_nm - w)), cap.leaf_mask]) for w in (670, 800))
    assert nir > 2 * red  # a leaf spectrum


def test_same_seed_same_capture():
    a, b = bench_capture(5), bench_capture(5)
    np.testing.assert_array_equal(a.cube.data, b.cube.data)
    other = bench_capture(6)
    assert other.cube.shape != a.cube.shape or not np.array_equal(other.cube.data, a.cube.data)
