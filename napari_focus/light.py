"""A lamp's spectral tilt over a cube's bands: one definition for the simulator's capture conditions and for
training under jittered light, so that what a model is trained to ignore is what the checks vary."""

from __future__ import annotations

import numpy as np


def tilt_ramp(wavelengths_nm: np.ndarray) -> np.ndarray:
    """(C,) float64 position of each band from −0.5 (first) to +0.5 (last), linear in wavelength, 0 at the middle.

    Light with tilt t scales band b by 1 + t · ramp[b]: t = 0.3 is 30 % more light at the last band than at the
    first, and the middle band keeps its level."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    span = float(wl.max() - wl.min()) or 1.0
    return (wl - (wl.max() + wl.min()) / 2) / span
