"""Imaging spectrometers: band centres, Gaussian spectral response, band-dependent noise.

Ground truth is computed on a sensor's bands (after its response), because the response moves
reflectance features by a few nm; the noise model says where a sensor is weak, which both the
rendered cubes and the noise-weighted ground truth use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from napari_focus.errors import FocusError
from napari_focus.simulate.prospect import WAVELENGTHS_NM

#: Preset names accepted by `get_sensor`.
PRESETS = ("vnir204", "vswir200")

# noise model: sigma(R) = weakness(lambda) * sqrt(READ^2 + SHOT * R), in reflectance units
READ_NOISE = 0.003
SHOT_NOISE = 2.0e-5
_WATER_BANDS_NM = ((1400.0, 35.0), (1875.0, 45.0))  # atmospheric water: centre, half-width


@dataclass(frozen=True)
class Sensor:
    """A spectrometer: `wavelengths_nm` and `fwhm_nm` per band, plus its noise profile."""

    name: str
    wavelengths_nm: np.ndarray
    fwhm_nm: np.ndarray
    weakness: np.ndarray = field(repr=False)  # >= 1: noise multiplier per band

    @property
    def n_bands(self) -> int:
        return int(self.wavelengths_nm.size)

    def render_index(self) -> np.ndarray:
        """Indices into PROSPECT's 1 nm grid covering every band's response (+-3 sigma)."""
        step = int(max(1, np.floor(self.fwhm_nm.min() / 3.5)))  # >= 2 samples per sigma
        sigma = self.fwhm_nm / 2.3548
        lo = np.floor(self.wavelengths_nm - 3 * sigma).min()
        hi = np.ceil(self.wavelengths_nm + 3 * sigma).max()
        grid = WAVELENGTHS_NM
        keep = (grid >= lo) & (grid <= hi)
        idx = np.flatnonzero(keep)
        return idx[::step] if step > 1 else idx

    def response_matrix(self, grid_nm: np.ndarray) -> np.ndarray:
        """(C, L) Gaussian responses sampled on `grid_nm`, each row summing to 1."""
        sigma = (self.fwhm_nm / 2.3548)[:, None]
        w = np.exp(-0.5 * ((grid_nm[None, :] - self.wavelengths_nm[:, None]) / sigma) ** 2)
        w[w < 1e-4] = 0.0
        s = w.sum(axis=1, keepdims=True)
        if np.any(s <= 0):
            raise FocusError(f"sensor {self.name}: a band's response misses the model grid")
        return w / s

    def noise_sigma(self, reflectance: np.ndarray) -> np.ndarray:
        """Noise standard deviation for reflectance shaped (C, ...), same shape."""
        r = np.maximum(reflectance, 0.0)
        dt = r.dtype.type if np.issubdtype(r.dtype, np.floating) else np.float64
        shape = (-1,) + (1,) * (np.ndim(r) - 1)
        weak = self.weakness.astype(dt).reshape(shape)
        return weak * np.sqrt(dt(READ_NOISE**2) + dt(SHOT_NOISE) * r)


def _weakness(wl: np.ndarray) -> np.ndarray:
    """Noise multiplier: weak blue (< 450 nm), silicon fall-off (> 950 nm), water bands, SWIR end."""
    f = 1.0 + 3.0 * np.exp(-(wl - 400.0) / 22.0)
    silicon_only = wl.max() <= 1100.0
    if silicon_only:
        f += np.where(wl > 950.0, ((wl - 950.0) / 35.0) ** 2, 0.0)
    else:  # silicon -> InGaAs/MCT hand-over near 1000 nm
        f += 2.0 * np.exp(-0.5 * ((wl - 1000.0) / 25.0) ** 2)
        f += np.where(wl > 2350.0, ((wl - 2350.0) / 80.0) ** 2, 0.0)
    for centre, half in _WATER_BANDS_NM:
        f += 6.0 * np.exp(-0.5 * ((wl - centre) / half) ** 2)
    return f


def _make(name: str, wl: np.ndarray, fwhm: np.ndarray) -> Sensor:
    wl = np.asarray(wl, dtype=np.float64)
    fwhm = np.asarray(fwhm, dtype=np.float64)
    return Sensor(name, wl, fwhm, _weakness(wl))


def get_sensor(
    name_or_wavelengths: str | Sequence[float] | np.ndarray | Sensor,
    fwhm_nm: Sequence[float] | np.ndarray | float | None = None,
) -> Sensor:
    """A preset by name (`vnir204`, `vswir200`) or a sensor from band centres in nm.

    For a user list, FWHM defaults to the local band spacing (at least 1 nm); bands must be
    strictly increasing within PROSPECT's 400-2500 nm.
    """
    if isinstance(name_or_wavelengths, Sensor):
        return name_or_wavelengths
    if isinstance(name_or_wavelengths, str):
        name = name_or_wavelengths.strip().lower()
        if name == "vnir204":  # Specim IQ-like: 204 bands, FWHM widening 5.5 -> 7 nm
            wl = np.linspace(400.0, 1000.0, 204)
            return _make(name, wl, 5.5 + 1.5 * (wl - 400.0) / 600.0)
        if name == "vswir200":  # 200 bands across 400-2500 nm, ~10.6 nm spacing
            wl = np.linspace(400.0, 2500.0, 200)
            return _make(name, wl, np.full(200, 10.6))
        raise FocusError(
            f"unknown sensor {name_or_wavelengths!r}; choose one of {', '.join(PRESETS)} "
            "or give band centres in nm"
        )
    wl = np.asarray(name_or_wavelengths, dtype=np.float64).ravel()
    if wl.size < 2 or not np.all(np.isfinite(wl)):
        raise FocusError("a sensor needs at least 2 finite band centres (nm)")
    if np.any(np.diff(wl) <= 0):
        raise FocusError("sensor band centres must be strictly increasing")
    if wl[0] < 400.0 or wl[-1] > 2500.0:
        raise FocusError(f"sensor bands {wl[0]:g}-{wl[-1]:g} nm fall outside PROSPECT's 400-2500 nm")
    if fwhm_nm is None:
        fwhm = np.maximum(np.gradient(wl), 1.0)
    else:
        fwhm = np.broadcast_to(np.asarray(fwhm_nm, dtype=np.float64), wl.shape).copy()
        if np.any(~np.isfinite(fwhm)) or np.any(fwhm <= 0):
            raise FocusError("sensor FWHM values must be positive (nm)")
    return _make(f"custom{wl.size}", wl, fwhm)
