"""Fixtures for the Qt tests: a 16-band curve with a red-edge peak, and a viewer holding a matching cube."""

from __future__ import annotations

import numpy as np
import pytest

from napari_focus.spectral_curve import SpectralCurve, SpectralGroup

N_BANDS = 16

@pytest.fixture
def wl16() -> np.ndarray:
    return np.linspace(400.0, 1000.0, N_BANDS)  # 40 nm spacing


@pytest.fixture
def good16() -> np.ndarray:
    good = np.ones(N_BANDS, bool)
    good[[12, 13]] = False  # a water-absorption pair
    return good


@pytest.fixture
def curve16(wl16, good16) -> SpectralCurve:
    imp = 0.05 + np.exp(-((wl16 - 720) / 40) ** 2) + 0.5 * np.exp(-((wl16 - 560) / 30) ** 2)
    imp[12] = 5.0  # a bad band with a huge value: must never be drawn or marked
    groups = [SpectralGroup("blue", 0, 2), SpectralGroup("green", 3, 5), SpectralGroup("red-edge", 6, 9),
              SpectralGroup("NIR", 10, 15)]
    return SpectralCurve(imp, wavelengths_nm=wl16, groups=groups, good_bands=good16, title="saliency · diseased")


@pytest.fixture
def cube16(wl16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (np.linspace(0.05, 0.5, N_BANDS)[:, None, None] * (1 + rng.random((N_BANDS, 10, 12)))).astype(np.float32)


@pytest.fixture
def viewer_cube(make_napari_viewer, cube16, wl16):
    viewer = make_napari_viewer()
    layer = viewer.add_image(cube16, name="leaf", metadata={"wavelengths_nm": list(wl16)})
    return viewer, layer


@pytest.fixture
def shown_plot(qtbot, curve16):
    """A SpectralPlotWidget on screen (clicks need an exposed widget)."""
    from napari_focus._qt.spectral_plot import SpectralPlotWidget

    plot = SpectralPlotWidget(curve16)
    qtbot.addWidget(plot)
    plot.resize(500, 600)
    plot.show()
    qtbot.waitExposed(plot)
    return plot
