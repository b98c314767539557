"""What the model sees outside the leaf: its training background, for pixels without data and, with
`canonical_background`, for everything outside the leaf mask (docs/method.md §2)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_focus.cube import Cube  # noqa: E402
from napari_focus.focus.background import fit_background, no_data_mask, no_data_note  # noqa: E402
from napari_focus.focus.inputs import default_leaf_mask, prepare_cube, resize_cube  # noqa: E402
from napari_focus.focus.train import train  # noqa: E402

from .conftest import tiny_model  # noqa: E402

WL = np.linspace(400, 1000, 24)  # the tiny model's bands: they cover red and NIR, so the vegetation mask is NDVI's
SOIL = np.linspace(0.15, 0.25, 24)


def _leaf(seed: int = 0, size: int = 40) -> np.ndarray:
    """(24, size, size): a leaf disk (low red, high NIR) on sloping soil, a little noise."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disk = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    leaf = np.where(WL < 700, 0.06, 0.5)
    x = np.where(disk[None], leaf[:, None, None], SOIL[:, None, None])
    return (x + 0.003 * g.standard_normal(x.shape)).astype(np.float32)


def test_the_mask_finds_pixels_with_no_band_and_only_those():
    x = _leaf()
    assert not no_data_mask(x).any()
    x[:, :5] = 0.0
    x[:, 5:8, :10] = np.nan
    x[3, 8:12, :] = np.nan  # a bad band's NaNs alone are no removed background
    x[:, 20, 20] = 0.0
    x[0, 20, 20] = 0.1  # one band with data: the pixel has data
    want = np.zeros((40, 40), bool)
    want[:5] = True
    want[5:8, :10] = True
    assert np.array_equal(no_data_mask(x), want)


def test_filling_after_resizing_equals_filling_the_cube_itself():
    model = tiny_model()
    fill = torch.linspace(0.01, 0.05, 24)
    model.background_fill = fill
    x = _leaf()
    x[:, ~(np.hypot(*np.mgrid[-20:20, -20:20]) < 14)] = 0.0  # everything outside the leaf removed
    prep = prepare_cube(model, Cube(x, wavelengths_nm=WL))
    painted = np.where(no_data_mask(x)[None], fill.numpy()[:, None, None], x)
    assert torch.allclose(prep.x, resize_cube(painted, model.img_size), atol=1e-6)
    assert any("hold no data" in n and "median background of its training leaves" in n for n in prep.notes)
    assert f"{no_data_mask(x).mean():.1%}" in prep.notes[-1]


def test_a_cube_with_data_everywhere_or_a_model_without_a_fill_is_prepared_as_before():
    model = tiny_model()
    x = _leaf()
    before = prepare_cube(model, Cube(x, wavelengths_nm=WL))
    model.background_fill = torch.full((24,), 0.3)
    after = prepare_cube(model, Cube(x, wavelengths_nm=WL))
    assert torch.equal(before.x, after.x) and before.notes == after.notes
    x[:, :4] = 0.0
    model.background_fill = None
    plain = prepare_cube(model, Cube(x, wavelengths_nm=WL))
    assert torch.equal(plain.x, resize_cube(x, model.img_size)) and not plain.notes


def test_the_background_is_the_median_soil_of_the_leaves_and_none_without_soil():
    x = torch.from_numpy(np.stack([_leaf(s) for s in range(5)]))
    bg = fit_background(x, WL)
    assert bg.shape == (24,) and torch.allclose(bg, torch.as_tensor(SOIL, dtype=torch.float32), atol=2e-3)
    x[:, :, :4] = 0.0  # blanked rows are no background
    assert torch.allclose(fit_background(x, WL), bg, atol=2e-3)
    assert fit_background(torch.full((2, 24, 16, 16), 0.0), WL) is None


def test_training_stores_the_background_of_its_leaves_and_shows_it_outside_every_leaf():
    x = torch.from_numpy(np.stack([_leaf(s, size=32) for s in range(6)]))
    model = tiny_model()
    assert not model.canonical_background
    train(model, (x, torch.arange(6) % 3), epochs=1, batch_size=3, fast=True)
    assert torch.allclose(model.background_fill, torch.as_tensor(SOIL, dtype=torch.float32), atol=2e-3)
    assert model.canonical_background


def _canonical(fill: float = 0.2):
    model = tiny_model()
    model.background_fill = torch.full((24,), fill)
    model.canonical_background = True
    return model


def test_everything_outside_the_leaf_is_the_training_background_whatever_the_leaf_lay_on():
    model = _canonical()
    on_soil = _leaf()
    disk = default_leaf_mask(Cube(on_soil, wavelengths_nm=WL))[0]
    on_tray = np.where(disk[None], on_soil, 0.5).astype(np.float32)  # the same leaf on a grey tray
    blanked = np.where(disk[None], on_soil, 0.0).astype(np.float32)  # ... and with its background removed
    views = [prepare_cube(model, Cube(c, wavelengths_nm=WL)).x for c in (on_soil, on_tray, blanked)]
    assert torch.allclose(views[0], views[1], atol=1e-6) and torch.allclose(views[0], views[2], atol=1e-6)
    painted = np.where(disk[None], on_soil, 0.2)
    assert torch.allclose(views[0], resize_cube(painted, model.img_size), atol=1e-6)  # = replacing it first
    model.canonical_background = False  # an older checkpoint: only pixels without data are filled
    assert torch.allclose(prepare_cube(model, Cube(on_soil, wavelengths_nm=WL)).x,
                          resize_cube(on_soil, model.img_size), atol=1e-6)


def test_the_leaf_mask_given_is_the_one_the_input_is_seen_through():
    model = _canonical()
    x = _leaf()
    half = np.zeros(x.shape[1:], bool)
    half[:, :20] = True  # a user's Labels layer that keeps only the left half
    prep = prepare_cube(model, Cube(x, wavelengths_nm=WL), leaf=half)
    want = resize_cube(np.where(half[None], x, 0.2), model.img_size)
    assert torch.allclose(prep.x, want, atol=1e-6)
    as_is = prepare_cube(model, Cube(x, wavelengths_nm=WL), leaf=half, outside_leaf=False)  # training's view
    assert torch.allclose(as_is.x, resize_cube(x, model.img_size), atol=1e-6)


def test_an_explanation_and_its_class_do_not_depend_on_the_background():
    from napari_focus.focus.explain import explain

    model = _canonical()
    x = _leaf(3)
    disk = default_leaf_mask(Cube(x, wavelengths_nm=WL))[0]
    a = explain(model, Cube(x, wavelengths_nm=WL), class_index=1)
    b = explain(model, Cube(np.where(disk[None], x, 0.45).astype(np.float32), wavelengths_nm=WL), class_index=1)
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5)
    np.testing.assert_allclose(a.B, b.B, rtol=1e-4, atol=1e-7)
    model.canonical_background = False
    c = explain(model, Cube(np.where(disk[None], x, 0.45).astype(np.float32), wavelengths_nm=WL), class_index=1)
    assert not np.allclose(a.probabilities, c.probabilities, rtol=1e-4)  # without it, the tray moves the class


def test_training_on_leaves_without_background_keeps_the_fill_the_model_had():
    x = torch.from_numpy(np.stack([_leaf(s, size=96)[:, 32:64, 32:64] for s in range(6)]))  # leaf fills the frame
    model = tiny_model()
    model.background_fill = torch.full((24,), 0.05)
    train(model, (x, torch.arange(6) % 3), epochs=1, batch_size=3, fast=True)
    assert torch.equal(model.background_fill, torch.full((24,), 0.05))


def test_a_tiled_explain_fills_each_tile_and_says_so(model):
    from napari_focus.focus.explain import explain
    from napari_focus.focus.tiled import explain_tiled

    data = np.concatenate([_leaf(s, size=32) for s in range(3)], axis=2)  # three leaves side by side, 32 × 96
    data[:, ~np.concatenate([np.hypot(*np.mgrid[-16:16, -16:16]) < 10] * 3, axis=1)] = 0.0
    cube = Cube(data, wavelengths_nm=WL)
    leaf = np.ones(data.shape[1:], bool)
    model.background_fill = torch.full((24,), 0.2)
    exp = explain_tiled(model, cube, tile=32, overlap=0.0, leaf_mask=leaf, per_leaf=False, class_index=0)
    share = float(no_data_mask(data).mean())
    assert len(exp.tiles) == 3 and any(n == no_data_note(share) for n in exp.notes)
    first = explain(model, Cube(data[:, :, :32], wavelengths_nm=WL), class_index=0, leaf_mask=leaf[:, :32])
    np.testing.assert_allclose(exp.tiles[0]["probabilities"], first.probabilities, rtol=1e-5)  # filled like a whole
    model.background_fill = None
    plain = explain_tiled(model, cube, tile=32, overlap=0.0, leaf_mask=leaf, per_leaf=False, class_index=0)
    assert not any("hold no data" in n for n in plain.notes)
    assert not np.allclose(plain.M, exp.M, rtol=1e-3)  # the tiles' inputs differed
