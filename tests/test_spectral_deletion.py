"""Spectral deletion (napari_focus/spectral_deletion.py): windows interpolated away, logit drops against random."""

from __future__ import annotations

import numpy as np
import pytest

from napari_focus import spectral_deletion as sd


def test_interpolate_windows_identity_on_linear_spectrum():
    wl = np.sort(np.random.default_rng(0).uniform(400, 1000, 50))
    cube = 0.3 + 0.001 * wl[:, None, None] * np.arange(1, 7).reshape(1, 2, 3)
    out = sd.interpolate_windows(cube, wl, [wl[0], 600.0, 800.0, wl[-1] - 50], half_width_nm=10)
    inner = (wl > wl[0] + 10) & (wl < wl[-1] - 60)  # edge windows are flat, not linear
    np.testing.assert_allclose(out[inner], cube[inner], rtol=1e-12)


def test_interpolate_windows_hand_computed_and_edges():
    spec = np.array([0.0, 1.0, 4.0, 9.0, 16.0])
    np.testing.assert_allclose(sd.interpolate_windows(spec, None, [2], half_width_nm=1), [0, 4, 8, 12, 16])
    np.testing.assert_allclose(sd.interpolate_windows(spec, None, [0], half_width_nm=1), [4, 4, 4, 9, 16])
    np.testing.assert_allclose(sd.interpolate_windows(spec, None, [4], half_width_nm=0), [0, 1, 4, 9, 9])
    np.testing.assert_allclose(spec, [0, 1, 4, 9, 16])  # input untouched
    with pytest.raises(ValueError):
        sd.interpolate_windows(spec, None, [2], half_width_nm=5)


def test_spectral_deletion_toy_score():
    wl = 400.0 + 5.0 * np.arange(80)
    bump = np.exp(-0.5 * ((wl - 560.0) / 4.0) ** 2)
    cube = (0.2 + 0.0005 * (wl - 400) + bump)[:, None, None] * np.ones((1, 3, 3))
    feature = np.abs(wl - 560.0) <= 10

    def score(c):
        return float(np.asarray(c)[feature].mean())

    res = sd.spectral_deletion(score, cube, bump, wl, k=1, n_random=30, rng=1)
    assert res["top_bands"] == [32]
    removed = sd.interpolate_windows(cube, wl, [560.0], 10.0)
    assert res["drop_top"] == pytest.approx(score(cube) - score(removed))
    assert res["drop_top"] > 0.3
    assert 0 <= res["drop_random"] < res["drop_top"] / 3
    assert res["ratio"] == pytest.approx(res["drop_top"] / res["drop_random"])
    again = sd.spectral_deletion(score, cube, bump, wl, k=1, n_random=30, rng=1)
    assert again == res  # reproducible
    agg = sd.aggregate_deletion([res, {"drop_top": 1.0, "drop_random": 0.5}])
    assert agg["ratio"] == pytest.approx((res["drop_top"] + 1) / (res["drop_random"] + 0.5))
