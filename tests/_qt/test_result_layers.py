"""The Explain result's layers: added without taking the selection from the cube, refilled in place on a re-run."""

from __future__ import annotations

import numpy as np

from napari_focus._qt.result_layers import add_result_layers, build_layers, leaf_mask_name


def _layer_data(t: np.ndarray, m: np.ndarray) -> list[tuple]:
    common = {"contrast_limits": (0.0, 1.0), "metadata": {"napari_focus": "saliency"}}
    return [(t, dict(common, name="saliency · healthy"), "image"), (m, dict(common, name="saliency map · healthy"),
                                                                        "image")]


def test_layers_added_cube_stays_selected_and_rerun_refills(viewer_cube, cube16):
    viewer, cube = viewer_cube
    viewer.layers.selection.active = cube
    rng = np.random.default_rng(1)
    t, m = rng.random(cube16.shape, dtype=np.float32), rng.random(cube16.shape[1:], dtype=np.float32)
    mask = np.zeros(cube16.shape[1:], bool)
    mask[2:6, 3:9] = True
    names = list(add_result_layers(viewer, cube, mask, _layer_data(t, m)))
    assert names == ["saliency · healthy", "saliency map · healthy", leaf_mask_name(cube.name)]
    order = [lyr.name for lyr in viewer.layers]
    assert order[order.index(cube.name) + 1: order.index(cube.name) + 3] == names[:2]  # directly above the cube
    assert viewer.layers.selection.active is cube
    assert viewer.layers._activate_on_insert is True  # restored for everyone else's layers
    assert viewer.layers[names[0]].data.shape == cube16.shape
    np.testing.assert_array_equal(viewer.layers[names[2]].data, mask.astype(np.uint8))
    first = viewer.layers[names[0]]
    again = list(add_result_layers(viewer, cube, mask, _layer_data(t * 2, m)))
    assert again == names[:2]  # the leaf mask is there already
    assert viewer.layers[names[0]] is first and np.allclose(first.data, t * 2)
    assert len(viewer.layers) == 4


def test_layers_built_off_the_gui_thread_are_the_ones_added(viewer_cube, cube16):
    """build_layers (the worker's) makes the napari layers; add_result_layers inserts those very objects."""
    import threading

    viewer, cube = viewer_cube
    t, m = np.ones(cube16.shape, np.float32), np.ones(cube16.shape[1:], np.float32)
    mask = np.zeros(cube16.shape[1:], bool)
    mask[1:4, 2:5] = True
    built: dict = {}
    worker = threading.Thread(target=lambda: built.update(build_layers(_layer_data(t, m), mask, cube.scale,
                                                                       cube.translate)))
    worker.start()
    worker.join()
    names = list(add_result_layers(viewer, cube, mask, _layer_data(t, m), built))
    assert viewer.layers[names[0]] is built["saliency · healthy"]
    assert viewer.layers[names[2]] is built[""] and built[""].name == leaf_mask_name(cube.name)
    np.testing.assert_array_equal(viewer.layers[names[2]].data, mask.astype(np.uint8))
    assert viewer.layers.selection.active is cube


def test_window_paints_again_after_the_layers_went_in_or_were_abandoned(viewer_cube, cube16):
    """The window is paused while the steps insert layers (one repaint instead of one per layer), never left so."""
    viewer, cube = viewer_cube
    native = viewer.window._qt_window
    rng = np.random.default_rng(2)
    t, m = rng.random(cube16.shape, dtype=np.float32), rng.random(cube16.shape[1:], dtype=np.float32)
    steps = add_result_layers(viewer, cube, np.ones(cube16.shape[1:], bool), _layer_data(t, m))
    assert next(steps) == "saliency · healthy"
    assert not native.updatesEnabled()  # paused between turns
    list(steps)
    assert native.updatesEnabled()
    steps = add_result_layers(viewer, cube, np.ones(cube16.shape[1:], bool), _layer_data(t * 3, m))
    next(steps)
    steps.close()  # what the dock does when the cube is removed meanwhile
    assert native.updatesEnabled()
