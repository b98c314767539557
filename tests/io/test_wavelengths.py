"""The spectral axis: one unit per header for centres and widths, and wavelengths that must be distinct."""

from __future__ import annotations

import numpy as np
import pytest

from napari_focus.cube_io import read_cube
from napari_focus.cube_io.wavelengths import check_distinct, spectral_axis_nm
from napari_focus.errors import CubeReadError


@pytest.mark.parametrize("centres,widths,units,want_wl,want_fw", [
    ([400, 1000], [1.68, 5.63], None, [400, 1000], [1.68, 5.63]),  # nm centres: small widths stay nm
    ([400, 1000], [1.68, 5.63], "Unknown", [400, 1000], [1.68, 5.63]),
    ([0.4, 1.0], [0.00168, 0.00563], None, [400, 1000], [1.68, 5.63]),  # µm centres: widths follow them
    ([0.4, 1.0], [0.006, 0.006], "Micrometers", [400, 1000], [6, 6]),
    (None, [0.006, 0.007], "micrometers", None, [6, 7]),  # a stated unit applies without centres too
    (None, [1.68, 5.63], None, None, [1.68, 5.63]),  # widths alone: nm
    ([10000, 5000], [10, 4], "cm-1", [1000, 2000], [1, 1.6]),  # Δλ = 10⁷·Δν/ν²
])
def test_one_unit_for_centres_and_widths(centres, widths, units, want_wl, want_fw):
    wl, fw, _ = spectral_axis_nm(centres, widths, units, "h.hdr")
    for got, want in ((wl, want_wl), (fw, want_fw)):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want)


def test_widths_in_wavenumbers_need_their_centres():
    with pytest.raises(CubeReadError, match="without the band centres"):
        spectral_axis_nm(None, [10, 4], "cm-1", "h.hdr")


def test_a_nan_width_is_named_as_a_width():
    with pytest.raises(CubeReadError, match="fwhm values contain NaN"):
        spectral_axis_nm([400, 500], ["nan", 5], "nm", "h.hdr")


def test_repeated_wavelengths_are_refused_and_unsorted_ones_noted():
    with pytest.raises(CubeReadError, match=r"must be distinct, but 204 of 204 bands share a value \(500 nm ×204\)"):
        check_distinct(np.full(204, 500.0), "c.hdr")
    with pytest.raises(CubeReadError, match="2 of 4 bands"):
        check_distinct(np.array([400.0, 500.0, 500.0, 600.0]), "c.hdr")
    assert check_distinct(np.array([400.0, 500.0, 600.0]), "c.hdr") is None
    assert "band 2 at 450 nm follows 600 nm" in check_distinct(np.array([400.0, 600.0, 450.0]), "c.hdr")


def test_a_cube_of_204_identical_wavelengths_is_refused_on_reading(tmp_path):
    np.save(tmp_path / "c.npy", np.zeros((204, 4, 4), np.float32))
    with pytest.raises(CubeReadError, match="c.npy: wavelengths must be distinct"):
        read_cube(tmp_path / "c.npy", wavelengths_nm=np.full(204, 700.0))
