"""The fine-tuning training set from plain arrays: whole cubes, painted regions, targets, refusals, split."""

from __future__ import annotations

import numpy as np
import pytest

from napari_focus.cube import Cube
from napari_focus.errors import FocusError
from napari_focus.training_set import TrainingSet, crop_region, label_regions

WL = np.linspace(400.0, 1000.0, 8)


def _cube(seed: int = 0, shape=(8, 24, 24), wl=WL) -> Cube:
    data = np.random.default_rng(seed).random(shape).astype(np.float32) + 0.5  # never 0 inside
    return Cube(data, wavelengths_nm=wl)


def _painted() -> np.ndarray:
    """Label 1: two leaves; label 2: one leaf and a 3-pixel stray stroke; label 3: one leaf."""
    lab = np.zeros((24, 24), np.int32)
    lab[1:6, 1:9] = 1  # 5×8, not square
    lab[10:14, 10:14] = 1
    lab[18:23, 2:7] = 2
    lab[0, 20:23] = 2  # stray: below the minimum region size
    lab[16:22, 16:22] = 3
    return lab


def test_whole_cubes_counts_and_classes():
    ts = TrainingSet()
    for i, c in enumerate(["healthy", "bls", "healthy", "bls", "healthy"]):
        ts.add_cube(f"leaf {i}", _cube(i), c)
    assert ts.classes == ["healthy", "bls"] and ts.counts() == {"healthy": 3, "bls": 2}
    ts.check()
    assert [lab for _, lab in ts.pairs()] == ["healthy", "bls", "healthy", "bls", "healthy"]


def test_regions_from_a_label_image_are_square_crops_zero_outside():
    cube = _cube()
    ts = TrainingSet()
    added = ts.add_regions("img", cube, _painted(), {1: "healthy", 2: "bls"}, labels_name="paint")
    assert added == 3 and ts.counts() == {"healthy": 2, "bls": 1}
    assert {s.image for s in ts.samples} == {"img"}
    first = ts.samples[0].cube
    assert first.data.shape == (8, 8, 8)  # the 5×8 box padded to a square
    assert (first.data[:, :1] == 0).all() and (first.data[:, 1:6] > 0).all()  # centred rows, zero padding
    np.testing.assert_array_equal(first.data[:, 1:6, :], cube.data[:, 1:6, 1:9])
    np.testing.assert_array_equal(first.wavelengths_nm, WL)
    assert any("label 3" in n and "no entry in the legend" in n for n in ts.notes)


def test_region_outside_pixels_are_zeroed():
    mask = np.zeros((10, 10), bool)
    mask[2:7, 2:7] = True
    mask[2, 2] = False  # a notch inside the box
    crop = crop_region(_cube(shape=(8, 10, 10)), mask)
    assert crop.data.shape == (8, 5, 5) and (crop.data[:, 0, 0] == 0).all() and (crop.data[:, 1, 1] > 0).all()


def test_regions_are_8_connected_per_value():
    lab = np.zeros((12, 12), np.int32)
    lab[2:6, 2:6] = 1
    lab[6:10, 6:10] = 1  # touches the first only at a corner: one region
    lab[2:6, 6:10] = 2  # a different value next to it: its own region
    regions = label_regions(lab, min_pixels=4)
    assert [v for v, _ in regions] == [1, 2] and regions[0][1].sum() == 32


def test_labels_painted_on_a_band_of_the_cube_count():
    cube = _cube()
    lab3 = np.zeros(cube.shape, np.int32)
    lab3[4] = _painted()  # a 3-D labels layer painted on band 4
    ts = TrainingSet()
    assert ts.add_regions("img", cube, lab3, {1: "a", 2: "b"}) == 3


def test_regression_targets_are_validated():
    ts = TrainingSet("regression")
    ts.add_cube("a", _cube(0), "41.5")
    ts.add_cube("b", _cube(1), "38,2")  # decimal comma
    ts.add_cube("c", _cube(2), 12)
    assert [s.label for s in ts.samples] == [41.5, 38.2, 12.0] and ts.counts() == {"samples": 3}
    ts.check()
    for bad in ("high", "", "nan", None, True):
        with pytest.raises(FocusError, match="not a"):
            ts.add_cube("d", _cube(3), bad)
    with pytest.raises(FocusError, match="not a number"):
        TrainingSet("regression").add_regions("img", _cube(), _painted(), {1: "lots"})
    same = TrainingSet("regression")
    same.add_cube("a", _cube(0), 1.0)
    same.add_cube("b", _cube(1), 1.0)
    with pytest.raises(FocusError, match="same target"):
        same.check()


@pytest.mark.parametrize(("labels", "message"), [
    (["healthy", "healthy", "bls"], "class 'bls' has 1 sample"),
    (["healthy", "healthy"], "at least 2 classes"),
    ([], "none yet"),
])
def test_refuses_sets_that_cannot_train(labels, message):
    ts = TrainingSet()
    for i, c in enumerate(labels):
        ts.add_cube(f"leaf {i}", _cube(i), c)
    with pytest.raises(FocusError, match=message):
        ts.check()


def test_refuses_misaligned_or_empty_labels():
    cube = _cube()
    with pytest.raises(FocusError, match=r"shape \(20, 24\) but image 'img' is 24×24"):
        TrainingSet().add_regions("img", cube, np.ones((20, 24), np.int32), {1: "a"})
    with pytest.raises(FocusError, match="empty"):
        TrainingSet().add_regions("img", cube, np.zeros((24, 24), np.int32), {1: "a"})
    with pytest.raises(FocusError, match="not integer"):
        TrainingSet().add_regions("img", cube, np.full((24, 24), 0.5), {1: "a"})


def _two_images_per_class() -> TrainingSet:
    ts = TrainingSet()
    lab = _painted()
    for i in range(6):
        ts.add_regions(f"img {i}", _cube(i), lab, {1: "healthy" if i % 2 else "bls", 2: "bls", 3: "healthy"})
    return ts


def test_split_holds_out_whole_images_deterministically():
    ts = _two_images_per_class()
    tr, ho = ts.split(0.34, seed=3)
    assert set(tr.images).isdisjoint(ho.images) and len(tr) + len(ho) == len(ts)
    assert len(ho.images) == 2  # one image of each majority class
    tr2, ho2 = ts.split(0.34, seed=3)
    assert ho2.images == ho.images and [s.name for s in tr2.samples] == [s.name for s in tr.samples]
    assert {tuple(ts.split(0.34, seed=s)[1].images) for s in range(10)} != {tuple(ho.images)}  # the seed matters
    tr0, ho0 = ts.split(0.0)
    assert len(ho0) == 0 and len(tr0) == len(ts)
    with pytest.raises(FocusError, match="fraction"):
        ts.split(1.0)


def test_split_keeps_an_image_of_every_class_for_training():
    ts = TrainingSet()
    for i, c in enumerate(["a", "a", "b", "b"]):
        ts.add_cube(f"leaf {i}", _cube(i), c)
    tr, ho = ts.split(0.9, seed=0)
    assert tr.counts() == {"a": 1, "b": 1} and ho.counts() == {"a": 1, "b": 1}
    one = TrainingSet()
    one.add_regions("only", _cube(), _painted(), {1: "a", 2: "b", 3: "b"})
    tr1, ho1 = one.split(0.5)
    assert len(ho1) == 0 and any("no held-out" in n for n in tr1.notes)


def test_band_counts_and_wavelengths_are_mapped_or_refused():
    pytest.importorskip("torch")
    from napari_focus.training_set import check_bands

    ts = TrainingSet()
    ts.add_cube("same", _cube(0), "a")
    ts.add_cube("finer", _cube(1, shape=(16, 24, 24), wl=np.linspace(400.0, 1000.0, 16)), "a")
    notes = check_bands(ts.samples, WL, 8)
    assert len(notes) == 1 and notes[0].startswith("finer: resampled 16 bands")
    swir = TrainingSet()
    swir.add_cube("swir", _cube(2, wl=np.linspace(1200.0, 2400.0, 8)), "a")
    with pytest.raises(FocusError, match="swir: the cube covers 1200–2400 nm"):
        check_bands(swir.samples, WL, 8)
    bare = TrainingSet()
    bare.add_cube("bare", Cube(np.random.default_rng(3).random((5, 4, 4)).astype(np.float32)), "a")
    with pytest.raises(FocusError, match="bare: the cube has 5 bands and the model 8"):
        check_bands(bare.samples, WL, 8)


def test_split_holds_out_about_the_fraction_of_samples_not_of_images():
    """Two images of 10 and 6 regions: a fraction of 0.25 holds out the 6 (nearer 4 of 16), never the 10."""
    ts = TrainingSet()
    for name, n in (("big", 10), ("small", 6)):
        for i in range(n):
            ts.add_cube(f"{name} {i}", _cube(i), "a")
            ts.samples[-1].image = name
    for seed in range(6):
        tr, ho = ts.split(0.25, seed=seed)
        assert len(ho) == 6 and len(tr) == 10
