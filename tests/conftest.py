"""Shared fixtures: tiny synthetic cubes made in memory (no files shipped for tests)."""

from __future__ import annotations

import os

import numpy as np
import pytest

# napari needs Qt's xcb platform under pytest-xvfb; "offscreen" cannot draw image layers.
if os.environ.get("QT_QPA_PLATFORM") in (None, "", "offscreen"):
    os.environ["QT_QPA_PLATFORM"] = "xcb"


@pytest.fixture
def wavelengths() -> np.ndarray:
    return np.linspace(400.0, 1000.0, 12)


@pytest.fixture
def cube_chw(wavelengths: np.ndarray) -> np.ndarray:
    """A (12, 9, 7) float32 cube whose spectrum changes smoothly with position (distinct per band)."""
    rng = np.random.default_rng(0)
    c, h, w = wavelengths.size, 9, 7
    base = np.linspace(0.05, 0.5, c)[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w]
    return (base * (1 + 0.1 * yy + 0.05 * xx)[None] + 0.01 * rng.standard_normal((c, h, w))).astype(np.float32)
