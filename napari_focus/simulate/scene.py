"""Scene geometry: leaf-shaped masks, smooth trait fields, illumination and background.

Pure geometry and radiometry with no PROSPECT parameters, so tasks decide *what* varies and this
module decides *where*. Every function takes a `numpy.random.Generator`, so a seed fixes a scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from napari_focus.simulate.prospect import WAVELENGTHS_NM, coefficients


@dataclass
class LeafShape:
    """One leaf in an image: soft coverage, the midrib weight and its geometry."""

    coverage: np.ndarray  # (H, W) float32 in [0, 1]: fraction of the pixel covered by leaf
    midrib: np.ndarray  # (H, W) float32 in [0, 1]: 1 on the midrib and petiole
    geometry: dict[str, float]

    @property
    def mask(self) -> np.ndarray:
        return self.coverage >= 0.5


def leaf_shape(
    shape: tuple[int, int], rng: np.random.Generator, box: tuple[int, int, int, int] | None = None
) -> LeafShape:
    """An ovate leaf with a serrated margin, a midrib and a petiole inside `box` (y0, x0, y1, x1)."""
    h, w = shape
    y0, x0, y1, x1 = box if box is not None else (0, 0, h, w)
    bh, bw = y1 - y0, x1 - x0
    extent = min(bh, bw)
    angle = rng.uniform(0, 2 * np.pi)
    length = extent * rng.uniform(0.72, 0.86)  # blade length (tip to base), px
    width = length * rng.uniform(0.28, 0.4)  # max half-width, px
    tip = rng.uniform(0.7, 1.1)  # > 0.5: acute tip, broadest below the middle (ovate)
    teeth = rng.integers(10, 22)
    tooth = rng.uniform(0.025, 0.06)
    cy = y0 + bh / 2 + rng.uniform(-0.04, 0.04) * extent
    cx = x0 + bw / 2 + rng.uniform(-0.04, 0.04) * extent
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dy, dx = yy - cy, xx - cx
    ca, sa = np.cos(angle), np.sin(angle)
    along = dx * ca + dy * sa  # px along the axis, + towards the tip
    across = -dx * sa + dy * ca
    s = along / (length / 2)  # -1 base .. +1 tip
    sc = np.clip(s, -1, 1)
    s_max = (0.5 - tip) / (0.5 + tip)  # where the blade is broadest
    norm = np.sqrt(1 + s_max) * (1 - s_max) ** tip
    half = width * np.sqrt(np.maximum(1 + sc, 0)) * np.maximum(1 - sc, 0) ** tip / norm
    saw = 2 * ((teeth * (sc + 1) / 2) % 1.0) - 1  # sawtooth in [-1, 1)
    half = half * (1 + tooth * np.abs(saw)) * (sc < 0.97) + half * (sc >= 0.97)
    d_across = np.abs(across) - half
    d_along = (np.abs(s) - 1) * length / 2
    d_blade = np.maximum(d_across, d_along)
    # petiole: a short stalk beyond the base
    pet_len = length * rng.uniform(0.08, 0.14)
    d_pet = np.where((along < -length / 2) & (along > -length / 2 - pet_len), np.abs(across) - 0.9, np.inf)
    d = np.minimum(d_blade, d_pet)
    coverage = np.clip(0.5 - d, 0, 1).astype(np.float32)
    rib_w = max(0.5, 0.008 * length)
    midrib = np.exp(-0.5 * (across / rib_w) ** 2) * (s < 0.9) * (1 - np.clip((s - 0.5) / 0.4, 0, 1) * 0.6)
    midrib = np.where(d_pet <= 0, 1.0, midrib) * (coverage > 0)
    geom = {
        "centre_y": float(cy),
        "centre_x": float(cx),
        "angle_rad": float(angle),
        "length_px": float(length),
        "half_width_px": float(width),
        "teeth": int(teeth),
    }
    return LeafShape(coverage, midrib.astype(np.float32), geom)


def smooth_field(shape: tuple[int, int], rng: np.random.Generator, sigma_px: float) -> np.ndarray:
    """Zero-mean, unit-std smooth random field (zero-mean *before* scaling: docs/method.md §5)."""
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="reflect")
    f -= f.mean()
    sd = f.std()
    return (f / sd if sd > 0 else f).astype(np.float32)


#: the illumination level's range in the training distribution (a fraction of the white reference's light)
LIGHT_LEVEL = (0.85, 1.0)


def illumination(shape: tuple[int, int], rng: np.random.Generator, level_range: tuple[float, float] = LIGHT_LEVEL
                 ) -> tuple[np.ndarray, dict[str, float]]:
    """Band-independent illumination: level x linear gradient x radial vignetting."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ny, nx = (yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2)
    level = rng.uniform(*level_range)
    grad = rng.uniform(0.04, 0.14)
    phi = rng.uniform(0, 2 * np.pi)
    vig = rng.uniform(0.05, 0.18)
    field = level * (1 + grad * (nx * np.cos(phi) + ny * np.sin(phi))) * (1 - vig * (nx**2 + ny**2) / 2)
    params = {
        "level": float(level),
        "gradient": float(grad),
        "gradient_dir_rad": float(phi),
        "vignetting": float(vig),
    }
    return field.astype(np.float32), params


def background_spectrum(rng: np.random.Generator, wavelength_index: np.ndarray) -> tuple[np.ndarray, str]:
    """Reflectance of the background on the model grid: a dark tray or a moist soil.

    The soil is parametric (brightness rising with wavelength, water dips from PROSPECT's own
    water absorption), not a measured spectrum.
    """
    wl = WAVELENGTHS_NM[wavelength_index]
    if rng.uniform() < 0.7:
        return (0.02 + 0.012 * (wl - 400) / 2100 + rng.uniform(-0.005, 0.005)).astype(np.float32), "dark"
    kw = coefficients().k[4, wavelength_index]  # water, cm-1
    bright = rng.uniform(0.12, 0.3)
    moisture = rng.uniform(0.002, 0.02)  # cm of water equivalent
    base = bright * (0.35 + 0.65 * (1 - np.exp(-(wl - 400) / 700)))
    return (base * np.exp(-moisture * kw)).astype(np.float32), "soil"


def lesion_spots(
    leaf_mask: np.ndarray, rng: np.random.Generator, fraction: float
) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]]]:
    """Irregular round spots covering ~`fraction` of the leaf: (core severity, halo severity, spots).

    Each spot is a necrotic core (severity 1, soft edge) inside a chlorotic halo whose severity falls
    from 1 at the core's edge to 0.25 at its rim. Spot sizes split the area by a Dirichlet draw.
    """
    h, w = leaf_mask.shape
    area = float(leaf_mask.sum()) * fraction
    n = int(min(1 + rng.poisson(2.5), 8))
    shares = rng.dirichlet(np.full(n, 2.0))
    inside = ndimage.distance_transform_edt(leaf_mask)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    spots = []
    for share in shares:
        r_h = max(np.sqrt(area * share / np.pi), 1.0)
        ok = np.flatnonzero((inside > max(1.5, 0.8 * r_h)).ravel())
        if ok.size == 0:
            ok = np.flatnonzero(leaf_mask.ravel())
        cy, cx = divmod(int(ok[rng.integers(ok.size)]), w)
        wobble = [(m, rng.uniform(0, 0.12), rng.uniform(0, 2 * np.pi)) for m in (2, 3, 5)]
        spots.append(
            {
                "y": float(cy),
                "x": float(cx),
                "halo_radius_px": float(r_h),
                "core_ratio": float(rng.uniform(0.35, 0.55)),
                "wobble": wobble,
            }
        )

    def draw(scale: float) -> tuple[np.ndarray, np.ndarray]:
        core = np.zeros((h, w), np.float64)
        halo = np.zeros((h, w), np.float64)
        for sp in spots:
            dy, dx = yy - sp["y"], xx - sp["x"]
            theta = np.arctan2(dy, dx)
            rho = np.hypot(dy, dx) / (1 + sum(a * np.cos(m * theta + ph) for m, a, ph in sp["wobble"]))
            r_h = max(sp["halo_radius_px"] * scale, 0.7)
            r_c = r_h * sp["core_ratio"]
            core = np.maximum(core, np.clip(r_c + 0.5 - rho, 0, 1))
            t = np.clip((rho - r_c) / max(r_h - r_c, 1e-6), 0, 1)
            halo = np.maximum(halo, np.where(rho <= r_h, 1 - 0.75 * t, 0))
        return core * leaf_mask, halo * leaf_mask

    # pixelation inflates small spots: rescale the radii once so the mask area meets the target
    core, halo = draw(1.0)
    got = float((halo > 0).sum())
    scale = float(np.clip(np.sqrt(area / got), 0.5, 1.5)) if got > 0 else 1.0
    if got > 0:
        core, halo = draw(scale)
    for sp in spots:
        sp["halo_radius_px"] = round(max(sp["halo_radius_px"] * scale, 0.7), 4)
        sp["core_radius_px"] = round(sp["halo_radius_px"] * sp.pop("core_ratio"), 4)
        sp["wobble"] = [[int(m), round(a, 4), round(ph, 4)] for m, a, ph in sp["wobble"]]
    return core.astype(np.float32), halo.astype(np.float32), spots
