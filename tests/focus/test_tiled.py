"""Tiled explain: one tile = explain exactly; per-leaf tiles; no seams; lazy T streamed to ENVI; the auto rule."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_focus.cube import Cube
from napari_focus.errors import FocusError
from napari_focus.focus import tiled
from napari_focus.focus.explain import explain
from napari_focus.focus.tiled import TiledExplanation, explain_scene, explain_tiled
from napari_focus.focus.tiles import Tile, grid_plan, leaf_plan, should_tile

WL = np.linspace(400, 1000, 24)


def _smooth_cube(h, w, seed=0):
    rng = np.random.default_rng(seed)
    d = ndimage.gaussian_filter(rng.random((24, h, w)), (0, 6, 6))
    return Cube(((d - d.min()) / (d.max() - d.min())).astype(np.float32), wavelengths_nm=WL)


@pytest.mark.parametrize("rule", [None, "rollout+direct", "paper_input+rollout_spectral", "paper_input",
                                  "paper_input+blind_rollout_even"])
def test_one_tile_is_exactly_explain(model, rule):
    cube = _smooth_cube(32, 32)
    leaf = np.ones((32, 32), bool)
    ref = explain(model, cube, leaf_mask=leaf, rule=rule)
    exp = explain_tiled(model, cube, leaf_mask=leaf, rule=rule)
    assert isinstance(exp, TiledExplanation) and len(exp.tiles) == 1
    assert exp.class_name == ref.class_name and exp.rule == ref.rule
    np.testing.assert_allclose(np.asarray(exp.T), ref.T, rtol=1e-5, atol=1e-9 * ref.T.max())
    np.testing.assert_allclose(exp.M, ref.M, rtol=1e-5, atol=1e-9 * ref.M.max())
    np.testing.assert_allclose(exp.B, ref.B, rtol=1e-5)


def test_one_tile_per_leaf_scaled_by_leaf_fraction(model):
    cube = _smooth_cube(64, 80, seed=1)
    labels = np.zeros((64, 80), np.int32)
    labels[4:24, 6:30] = 1
    labels[30:60, 40:76] = 2
    exp = explain_tiled(model, cube, labels=labels, class_index="b")
    T = np.asarray(exp.T)
    assert (T[:, labels == 0] == 0).all() and [t["label"] for t in exp.tiles] == [1, 2]
    for t, tile in zip(exp.tiles, leaf_plan(labels, model.img_size), strict=True):
        box = (slice(tile.y0, tile.y1), slice(tile.x0, tile.x1))
        leaf = labels[box] == tile.label
        crop = Cube(cube.data[:, box[0], box[1]], wavelengths_nm=WL)
        ref = explain(model, crop, class_index="b", leaf_mask=leaf)
        assert t["leaf_fraction"] == pytest.approx(leaf.mean(), abs=1e-4)
        got = T[:, box[0], box[1]] * leaf[None]
        np.testing.assert_allclose(got, leaf.mean() * ref.T, rtol=1e-4, atol=1e-7 * ref.T.max())


def test_overlapping_tiles_blend_without_seams(model):
    """Column-to-column jumps of M: a hard mosaic (no overlap) jumps at its tile borders; the cos² blend
    does not stand out from the map's own texture."""
    cube = _smooth_cube(96, 96, seed=2)
    leaf = np.ones((96, 96), bool)
    ratios = {}
    for ov in (0.0, 0.25):
        exp = explain_tiled(model, cube, tile=32, overlap=ov, leaf_mask=leaf, per_leaf=False, class_index=0)
        M = exp.M / exp.M.max()
        jumps = np.concatenate([np.abs(np.diff(M, axis=1)).mean(0), np.abs(np.diff(M, axis=0)).mean(1)])
        ratios[ov] = jumps.max() / np.median(jumps)
    assert ratios[0.0] > 5, ratios  # the measure sees seams when there are some
    assert ratios[0.25] < 3, ratios


def test_lazy_T_streams_to_envi_and_progress_counts_tiles(model, tmp_path, monkeypatch):
    from napari_focus.cube_io import read_cube
    from napari_focus.export import export_explanation

    monkeypatch.setattr(tiled, "BLOCK_BYTES", 4 * 96 * 80 * 5)  # 5 bands per block: T in 5 chunks
    cube = _smooth_cube(96, 80, seed=3)
    steps = []
    exp = explain_tiled(model, cube, tile=32, leaf_mask=np.ones((96, 80), bool), per_leaf=False,
                        progress=lambda done, total, info: steps.append((done, total)))
    n = len(grid_plan(96, 80, 32))
    assert steps == [(i, n) for i in range(1, n + 1)] and len(exp.tiles) == n
    assert hasattr(exp.T, "dask") and len(exp.T.chunks[0]) == 5
    T = np.asarray(exp.T)
    np.testing.assert_allclose(T.sum(0), exp.M, rtol=1e-4, atol=1e-6 * exp.M.max())
    np.testing.assert_allclose(T.reshape(24, -1).max(1), exp.B, rtol=1e-6)
    torch.set_num_threads(2)  # rendering runs on one torch thread (in dask's threads) and gives the setting back
    export_explanation(exp, tmp_path / "out", list(model.classes))
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    saved = read_cube(tmp_path / "out" / "saliency.hdr")
    np.testing.assert_array_equal(np.asarray(saved.data), T)
    rows = (tmp_path / "out" / "tiles.csv").read_text().splitlines()
    assert rows[0].startswith("y0,y1,x0,x1,label,leaf_fraction,predicted,p_a") and len(rows) == n + 1


def test_tiles_without_leaf_are_skipped_and_not_counted(model):
    cube = _smooth_cube(64, 64)
    leaf = np.zeros((64, 64), bool)
    leaf[:20, :20] = True
    steps = []
    exp = explain_tiled(model, cube, tile=32, leaf_mask=leaf, per_leaf=False,
                        progress=lambda done, total, info: steps.append((done, total)))
    assert all(t["y0"] < 20 and t["x0"] < 20 for t in exp.tiles) and len(exp.tiles) < len(grid_plan(64, 64, 32))
    n = len(exp.tiles)  # progress counts the tiles explained, not the plan's empty ones
    assert steps == [(i, n) for i in range(1, n + 1)]
    assert (np.asarray(exp.T)[:, ~leaf] == 0).all()


def test_auto_rule_and_dispatch(model):
    assert not should_tile((128, 128), 32) and should_tile((129, 40), 32)
    assert should_tile((16, 16), 32, tile=16) and not should_tile((1000, 1000), 32, tile="off")
    small, big = _smooth_cube(40, 40), _smooth_cube(140, 30)
    assert not isinstance(explain_scene(model, small), TiledExplanation)
    assert isinstance(explain_scene(model, big), TiledExplanation)
    assert not isinstance(explain_scene(model, big, method="gradxinput"), TiledExplanation)
    with pytest.raises(FocusError, match="focus method only"):
        explain_scene(model, small, method="gradxinput", tile=16)


def test_window_is_positive_and_tapers():
    w = Tile(0, 32, 0, 32, taper_y=8, taper_x=8).window()
    assert (w > 0).all() and w[16, 16] == 1 and w[0, 0] < 0.01
    plan = grid_plan(100, 70, 32, 0.25)
    cover = np.zeros((100, 70), int)
    for t in plan:
        cover[t.y0:t.y1, t.x0:t.x1] += 1
    assert cover.min() >= 1 and max(t.y1 for t in plan) == 100 and max(t.x1 for t in plan) == 70
