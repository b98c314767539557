"""Sensors: presets, user band lists, spectral response and the noise profile."""

import numpy as np
import pytest

from napari_focus.errors import FocusError
from napari_focus.simulate import get_sensor
from napari_focus.simulate.prospect import WAVELENGTHS_NM


def test_presets():
    vnir, vswir = get_sensor("vnir204"), get_sensor("VSWIR200")
    assert vnir.n_bands == 204 and vnir.wavelengths_nm[0] == 400 and vnir.wavelengths_nm[-1] == 1000
    assert vnir.fwhm_nm.min() >= 5.5 and vnir.fwhm_nm.max() <= 7.0
    assert vswir.n_bands == 200 and vswir.wavelengths_nm[-1] == 2500


def test_response_rows_are_normalised_gaussians():
    s = get_sensor("vnir204")
    idx = s.render_index()
    srf = s.response_matrix(WAVELENGTHS_NM[idx])
    assert srf.shape == (204, idx.size)
    assert np.allclose(srf.sum(axis=1), 1.0)
    centre = (WAVELENGTHS_NM[idx][None, :] * srf).sum(axis=1)
    assert np.abs(centre[5:-5] - s.wavelengths_nm[5:-5]).max() < 0.5


def test_noise_is_higher_where_sensors_are_weak():
    vnir, vswir = get_sensor("vnir204"), get_sensor("vswir200")
    sig = vnir.noise_sigma(np.full(204, 0.3))
    mid = sig[np.argmin(abs(vnir.wavelengths_nm - 700))]
    assert sig[0] > 2 * mid and sig[-1] > 2 * mid
    sig2 = vswir.noise_sigma(np.full(200, 0.3))
    at = lambda nm: sig2[np.argmin(abs(vswir.wavelengths_nm - nm))]  # noqa: E731
    assert at(1400) > 3 * at(1250) and at(1880) > 3 * at(1650)


def test_user_wavelengths():
    s = get_sensor([450.0, 550.0, 650.0, 750.0])
    assert s.n_bands == 4 and np.allclose(s.fwhm_nm, 100.0)
    s2 = get_sensor(np.arange(500, 900, 10.0), fwhm_nm=8.0)
    assert np.allclose(s2.fwhm_nm, 8.0)


@pytest.mark.parametrize("bad", ["hyperion", [500.0], [600.0, 500.0], [350.0, 500.0], [500.0, 2600.0]])
def test_bad_sensors_are_refused(bad):
    with pytest.raises(FocusError):
        get_sensor(bad)
