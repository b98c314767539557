"""Leaf mask on a synthetic leaf: NDVI path, brightness fallback, and reading only needed bands."""

from __future__ import annotations

import numpy as np
import pytest

from napari_focus import vegetation as veg

WL = 400.0 + 10.0 * np.arange(61)  # 400–1000 nm
H = W = 48


def _leaf_spectrum(wl):
    red_edge = 1 / (1 + np.exp(-(wl - 715) / 12))
    green = 0.07 * np.exp(-0.5 * ((wl - 550) / 25) ** 2)
    return 0.05 + green + 0.45 * red_edge


def _soil_spectrum(wl):
    return 0.2 + 0.0002 * (wl - 400)


@pytest.fixture
def scene():
    """(cube, leaf truth, lesion truth): an elliptic leaf with an enclosed brown lesion on soil."""
    yy, xx = np.mgrid[:H, :W]
    leaf = ((yy - 24) / 18) ** 2 + ((xx - 22) / 12) ** 2 <= 1
    lesion = (yy - 26) ** 2 + (xx - 22) ** 2 <= 9
    cube = np.where(leaf, 1.0, 0.0)[None] * _leaf_spectrum(WL)[:, None, None]
    cube = cube + np.where(leaf, 0.0, 1.0)[None] * _soil_spectrum(WL)[:, None, None]
    cube[:, lesion] = 0.15  # flat brown: NDVI ~ 0, below the threshold
    cube += np.random.default_rng(0).normal(0, 0.01, cube.shape)
    return cube.astype(np.float32), leaf, lesion


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_ndvi_values(scene):
    cube, leaf, lesion = scene
    idx = veg.ndvi(cube, WL)
    assert idx.shape == (H, W)
    assert np.median(idx[leaf & ~lesion]) > 0.7
    assert np.median(idx[~leaf]) < 0.2
    with pytest.raises(ValueError):
        veg.ndvi(cube[:20], WL[:20])  # 400–590 nm: no red, no NIR


def test_ndvi_mask_recovers_leaf_and_fills_lesion(scene):
    cube, leaf, lesion = scene
    raw = veg.ndvi(cube, WL) > veg.otsu_threshold(veg.ndvi(cube, WL))
    assert not raw[lesion].any()  # the lesion is a hole before cleaning
    mask = veg.leaf_mask(cube, WL)
    assert mask.dtype == bool and mask.shape == (H, W)
    assert _iou(mask, leaf) > 0.95
    assert mask[lesion].all()


def test_fixed_threshold_is_used(scene):
    cube, leaf, _ = scene
    assert _iou(veg.leaf_mask(cube, WL, threshold=0.5), leaf) > 0.95
    assert not veg.leaf_mask(cube, WL, threshold=0.99).any()


class _CountingCube:
    """Array stand-in that records which bands are read."""

    def __init__(self, data):
        self._data = data
        self.shape, self.ndim, self.dtype = data.shape, data.ndim, data.dtype
        self.read: list = []

    def __getitem__(self, key):
        self.read.append(key)
        return self._data[key]

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole cube was read")


def test_reads_only_needed_bands(scene):
    cube, leaf, _ = scene
    counting = _CountingCube(cube)
    mask = veg.leaf_mask(counting, WL)
    assert _iou(mask, leaf) > 0.95
    assert all(isinstance(k, int) for k in counting.read)
    assert sorted(set(counting.read)) == [26, 27, 28, 39, 40, 41]  # 660–680 and 790–810 nm
    counting = _CountingCube(cube)
    veg.leaf_mask(counting, None)
    assert len(set(counting.read)) <= 16


def test_memmap_cube(scene, tmp_path):
    cube, leaf, _ = scene
    mm = np.memmap(tmp_path / "cube.dat", dtype=np.float32, mode="w+", shape=cube.shape)
    mm[:] = cube
    mm.flush()
    ro = np.memmap(tmp_path / "cube.dat", dtype=np.float32, mode="r", shape=cube.shape)
    assert _iou(veg.leaf_mask(ro, WL), leaf) > 0.95


@pytest.mark.parametrize("leaf_brighter", [True, False])
def test_brightness_fallback_without_wavelengths(scene, leaf_brighter):
    _, leaf, _ = scene
    level = np.where(leaf, 0.6, 0.2) if leaf_brighter else np.where(leaf, 0.1, 0.7)
    cube = np.repeat(level[None], 30, axis=0) + np.random.default_rng(1).normal(0, 0.02, (30, H, W))
    mask = veg.leaf_mask(cube)
    assert _iou(mask, leaf) > 0.95
    assert not veg.covers_ndvi(None)


def test_otsu_between_modes_and_small_specks_removed():
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(0.1, 0.02, 500), rng.normal(0.8, 0.02, 300)])
    assert 0.2 < veg.otsu_threshold(values) < 0.7
    m = np.zeros((40, 40), bool)
    m[5:30, 5:30] = True
    m[35, 35] = True  # a speck
    m[36:38, 2:4] = True  # a tiny component
    m[15:18, 15:18] = False  # a small enclosed hole
    cleaned = veg.clean_mask(m)
    expected = np.zeros_like(m)
    expected[5:30, 5:30] = True
    np.testing.assert_array_equal(cleaned, expected)


def test_dark_tray_background_with_noise(scene):
    """On a near-black tray NDVI is noise over noise; such pixels must not enter the mask."""
    _, leaf, lesion = scene
    rng = np.random.default_rng(4)
    tray = 0.02 + 0.012 * (WL - 400) / 2100
    cube = np.where(leaf, 1.0, 0.0)[None] * _leaf_spectrum(WL)[:, None, None]
    cube = cube + np.where(leaf, 0.0, 1.0)[None] * tray[:, None, None]
    cube[:, lesion] = 0.15
    cube += rng.normal(0, 0.02, cube.shape)
    raw = veg.ndvi(cube, WL)  # near-zero denominators: outliers that wreck a plain Otsu split
    assert _iou(veg.clean_mask(raw > veg.otsu_threshold(raw)), leaf) < 0.5
    mask = veg.leaf_mask(cube, WL)
    assert _iou(mask, leaf) > 0.95 and mask[lesion].all()


def test_whole_image_leaf_is_not_split():
    """Otsu splits any image in two; with no background the 0.3 NDVI cut keeps the whole leaf."""
    rng = np.random.default_rng(5)
    shade = 0.8 + 0.4 * rng.random((H, W))
    cube = _leaf_spectrum(WL)[:, None, None] * shade[None] + rng.normal(0, 0.005, (WL.size, H, W))
    assert veg.leaf_mask(cube, WL).mean() > 0.99


@pytest.mark.parametrize("seed", range(4))
def test_white_panel_on_a_black_tray_is_not_leaf(seed):
    """A bench capture: leaf 10–30 %, white panel (0.95–0.99) 8–15 %, noisy black tray. Dark pixels must not make
    Otsu split dark from lit (which took the whole panel for leaf)."""
    from napari_focus.simulate.capture import bench_capture

    cap = bench_capture(seed)
    mask = veg.leaf_mask(cap.cube.data, cap.cube.wavelengths_nm)
    assert _iou(mask, cap.leaf_mask) >= 0.8
    assert (mask & cap.panel_mask).sum() <= 0.05 * cap.panel_mask.sum()


def test_flat_bright_pixels_are_never_leaf(scene):
    """A panel is flat from red to NIR (NDVI ≈ 0): out of the mask even at a threshold that lets it through."""
    cube, leaf, _ = scene
    panel = np.zeros(leaf.shape, bool)
    panel[:, -6:] = True
    cube = cube.copy()
    cube[:, panel] = 0.97
    mask = veg.leaf_mask(cube, WL, threshold=-0.5)
    assert not mask[panel].any()
    assert mask[leaf].mean() > 0.95
