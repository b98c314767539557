"""A bench capture: one simulated leaf on a dark tray beside a white reference panel.

Most cameras that image leaves on a bench (a Specim IQ, a Fenix on a rail) keep a white panel in view to
calibrate against. That is the hard case for a vegetation mask: the panel is the brightest thing in the frame
and the tray is near black, so a mask that splits bright from dark takes the panel for leaf. The leaf is a
`simulate_leaf` render (PROSPECT-D spectra, illumination, sensor noise); tray and panel get the sensor's own
noise. Truth comes with it: the leaf's and the panel's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_focus.cube import Cube
from napari_focus.simulate.render import _make_cube, _rng, simulate_leaf
from napari_focus.simulate.sensors import get_sensor

TRAY = (0.02, 0.05)  # reflectance of a black tray
PANEL = (0.95, 0.99)  # reflectance of a white reference panel (flat across bands)
PANEL_FRACTION = (0.08, 0.15)  # of the frame
LEAF_FRACTION = (0.10, 0.30)  # of the frame


@dataclass
class BenchCapture:
    cube: Cube  # float32 reflectance (C, H, W)
    leaf_mask: np.ndarray  # (H, W) bool: the leaf's pixels
    panel_mask: np.ndarray  # (H, W) bool: the panel's pixels


def bench_capture(seed: int = 0, sensor: str = "vnir204", leaf_size: int = 96, task: str = "bls") -> BenchCapture:
    """A leaf over 10–30 % of the frame, a panel (0.95–0.99) over 8–15 % of it along one side, the rest a tray
    (0.02–0.05); each drawn from `seed`. Leaf and panel never overlap."""
    rng = _rng(seed)
    sens = get_sensor(sensor)
    leaf = simulate_leaf(task, sens, size=leaf_size, seed=int(rng.integers(2**31)))
    leaf_px = int(leaf.leaf_mask.sum())
    want_leaf = rng.uniform(*LEAF_FRACTION)
    want_panel = rng.uniform(*PANEL_FRACTION)
    side = max(leaf_size, int(np.ceil(np.sqrt(leaf_px / want_leaf))))
    # the panel: a strip along the left edge, from a random height, as wide as its area needs
    panel_h = int(round(side * rng.uniform(0.6, 1.0)))
    panel_w = max(1, int(round(want_panel * side * side / panel_h)))
    width = max(side, panel_w + leaf_size + 2)  # the leaf's box stays clear of the panel
    c = sens.wavelengths_nm.size
    tray = np.linspace(*sorted(rng.uniform(*TRAY, size=2)), c).astype(np.float32)  # a slight slope over bands
    cube = np.broadcast_to(tray[:, None, None], (c, side, width)).copy()
    panel = np.zeros((side, width), bool)
    y0 = int(rng.integers(0, side - panel_h + 1))
    panel[y0:y0 + panel_h, :panel_w] = True
    cube[:, panel] = np.float32(rng.uniform(*PANEL))
    ly = int(rng.integers(0, side - leaf_size + 1))
    lx = int(rng.integers(panel_w + 2, width - leaf_size + 1))
    leaf_mask = np.zeros((side, width), bool)
    leaf_mask[ly:ly + leaf_size, lx:lx + leaf_size] = leaf.leaf_mask
    window = cube[:, ly:ly + leaf_size, lx:lx + leaf_size]
    window[:, leaf.leaf_mask] = leaf.cube.data[:, leaf.leaf_mask]  # already lit and noisy
    other = ~leaf_mask
    noise = rng.standard_normal((c, int(other.sum())), dtype=np.float32)
    cube[:, other] += sens.noise_sigma(cube[:, other]).astype(np.float32) * noise
    np.maximum(cube, 0, out=cube)
    note = f"simulated bench capture: a {task} leaf, a white panel, a black tray (seed {seed})"
    return BenchCapture(_make_cube(cube, sens, note), leaf_mask, panel)
