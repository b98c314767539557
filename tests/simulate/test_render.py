"""Rendered leaves: shapes, masks, lesions, determinism and bad input."""

import numpy as np
import pytest

from napari_focus.errors import FocusError
from napari_focus.simulate import simulate_leaf, simulate_scene


@pytest.fixture(scope="module")
def diseased():
    return simulate_leaf("bls", "vnir204", 64, seed=3, label="bls")


def test_leaf_cube_and_masks(diseased):
    cube = diseased.cube
    assert cube.data.shape == (204, 64, 64) and cube.data.dtype == np.float32
    assert cube.wavelengths_nm.shape == (204,) and cube.fwhm_nm.shape == (204,)
    leaf = diseased.leaf_mask
    assert leaf.dtype == bool and 0.15 < leaf.mean() < 0.7
    lesion = diseased.lesion_mask
    assert lesion.dtype == bool and not np.any(lesion & ~leaf)
    assert 0.003 < lesion.sum() / leaf.sum() < 0.15
    assert np.all(cube.data >= 0) and cube.data.max() < 1.0


def test_lesions_look_like_bacterial_spot(diseased):
    d, wl = diseased.cube.data, diseased.cube.wavelengths_nm
    healthy = diseased.leaf_mask & ~diseased.lesion_mask
    band = lambda nm: d[np.argmin(abs(wl - nm))]  # noqa: E731
    # chlorosis/necrosis: the red trough fills in, the NIR plateau drops
    assert band(675)[diseased.lesion_mask].mean() > band(675)[healthy].mean() * 1.2
    assert band(850)[diseased.lesion_mask].mean() < band(850)[healthy].mean()
    # leaves are bright in the NIR against a dark or soil background
    assert band(850)[healthy].mean() > 2 * band(850)[~diseased.leaf_mask].mean()


def test_healthy_leaf_has_an_empty_lesion_mask():
    leaf = simulate_leaf("bls", "vnir204", 48, seed=5, label="healthy")
    assert leaf.lesion_mask is not None and not leaf.lesion_mask.any()
    assert simulate_leaf("genotype", "vnir204", 48, seed=5).lesion_mask is None


def test_same_seed_same_leaf_other_seed_other_leaf():
    a = simulate_leaf("genotype", "vswir200", 40, seed=11)
    b = simulate_leaf("genotype", "vswir200", 40, seed=11)
    c = simulate_leaf("genotype", "vswir200", 40, seed=12)
    assert a.label == b.label and np.array_equal(a.cube.data, b.cube.data)
    assert not np.array_equal(a.cube.data, c.cube.data)


def test_trait_target_is_the_leaf_mean():
    leaf = simulate_leaf("trait", "vnir204", 48, seed=2, target=55.0)
    assert leaf.label is None and abs(leaf.target - 55.0) < 5.0
    assert leaf.params["trait"] == "cab"


def test_scene_of_four_genotypes():
    labels = ["A_chlorophyll", "B_anthocyanin", "C_carotenoid", "D_structure"]
    s = simulate_scene("genotype", "vnir204", 64, 0, labels)
    assert set(np.unique(s.label_mask)) == {0, 1, 2, 3, 4}
    assert np.array_equal(s.leaf_mask, s.label_mask > 0)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(task="rust"), "unknown task"),
        (dict(sensor="nope"), "unknown sensor"),
        (dict(size=8), "size"),
        (dict(seed=-1), "seed"),
        (dict(label="rust"), "unknown label"),
        (dict(task="trait", label="bls"), "target"),
    ],
)
def test_bad_input(kwargs, msg):
    args = dict(task="bls", sensor="vnir204", size=32, seed=0) | kwargs
    with pytest.raises(FocusError, match=msg):
        simulate_leaf(**args)
