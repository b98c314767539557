"""The Explain dock as a user drives it: opened from the manifest, explain off the GUI thread, layers and
the spectral dock appear, export writes files the reader reads back, bad input gives notifications."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_focus._qt.explain_dock import ExplainDock

pytest.importorskip("torch")


def _dock(viewer) -> ExplainDock:
    _, dock = viewer.window.add_plugin_dock_widget("napari-focus", "Explain (FOCUS)")
    return dock


def _colormap_box_width(viewer, layer) -> int:
    from qtpy.QtWidgets import QComboBox

    return viewer.window._qt_viewer.controls.widgets[layer].findChild(QComboBox, "colormapComboBox").sizeHint().width()


def _explain(qtbot, dock) -> None:
    assert dock.start() is not None
    qtbot.waitUntil(lambda: not dock.running, timeout=60_000)  # set on the GUI thread when the worker ends


def test_explain_adds_aligned_layers_and_curve(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint, cube_chw):
    viewer = make_napari_viewer()
    cube = viewer.open(str(envi_cube), plugin="napari-focus")[0]
    cube.scale = (1, 2.0, 2.0)
    cube.translate = (0, 5.0, -3.0)
    dock = _dock(viewer)
    assert isinstance(dock, ExplainDock) and dock.cube_box.currentText() == "leaf"
    dock.set_model_folder(tiny_checkpoint)
    assert [dock.class_box.itemText(i) for i in range(dock.class_box.count())] == ["predicted class", "healthy", "bls"]
    dock.class_box.setCurrentText("bls")
    cube_box_width = _colormap_box_width(viewer, cube)
    _explain(qtbot, dock)
    sal = viewer.layers["leaf · saliency · FOCUS · bls"]
    # the overlay's colormap name does not widen napari's layer controls (that resized the canvas on a first result)
    assert _colormap_box_width(viewer, sal) <= cube_box_width
    assert sal.data.shape == cube_chw.shape and sal.metadata["napari_focus"] == "saliency"
    np.testing.assert_allclose(sal.scale, cube.scale)
    np.testing.assert_allclose(sal.translate, cube.translate)
    assert sal.blending == "translucent" and sal.contrast_limits[0] == 0.0
    assert sal.colormap.map([0.0])[0][3] == 0.0 and sal.colormap.map([1.0])[0][3] == 1.0  # transparent at 0
    smap = viewer.layers["leaf · saliency map · FOCUS · bls"]
    assert smap.data.shape == cube_chw.shape[1:]
    np.testing.assert_allclose(smap.data, sal.data.sum(0), rtol=1e-4, atol=1e-6)
    assert "leaf · leaf mask" in viewer.layers
    assert "predicted:" in dock.probabilities.text() and "healthy" in dock.probabilities.text()
    assert dock.progress.value() == dock.progress.maximum()  # a shown result reads 100%, not 0%
    # the spectral dock shows the explanation's B and follows the slider
    plot, link = dock.spectral
    np.testing.assert_allclose(plot.curve.importance, sal.data.max(axis=(1, 2)), rtol=1e-4, atol=1e-7)
    viewer.dims.set_current_step(0, 7)
    assert plot.band == 7
    # re-running for the same class replaces, another class adds: no silent pile-up
    n = len(viewer.layers)
    _explain(qtbot, dock)
    assert len(viewer.layers) == n
    # replaced in place (no napari layer removal, no new dock): the same layer and dock objects
    assert viewer.layers["leaf · saliency · FOCUS · bls"] is sal and dock.spectral[0] is plot
    np.testing.assert_array_equal(sal.data, dock.result.T)
    dock.class_box.setCurrentText("healthy")
    _explain(qtbot, dock)
    assert len(viewer.layers) == n + 2 and "leaf · saliency · FOCUS · healthy" in viewer.layers


def test_spectral_dock_is_docked_hidden_before_the_first_result(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint,
                                                                monkeypatch):
    """Docking writes napari's settings file on the GUI thread: it happens when the Explain dock opens, hidden, and
    the first result only fills and shows that dock (no add_dock_widget while explain runs)."""
    from napari_focus._qt.band_link import DOCK_NAME, docked_widgets
    from napari_focus._qt.band_link import dock_of as _qdock

    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    qtbot.waitUntil(lambda: DOCK_NAME in docked_widgets(viewer), timeout=60_000)
    early = docked_widgets(viewer)[DOCK_NAME]
    early = getattr(early, "__wrapped__", early)
    assert early.curve is None and _qdock(early).isHidden()
    assert early.status.text().startswith("No explanation yet")  # what a user who shows it from the Window menu reads
    added = []
    monkeypatch.setattr(viewer.window, "add_dock_widget", lambda *a, **k: added.append(a))
    _explain(qtbot, dock)
    plot, _ = dock.spectral
    assert plot is early and plot.curve is not None and not _qdock(plot).isHidden()
    assert plot.status.text().startswith("band ")
    assert added == []


def test_band_label_glyphs_are_rendered_before_the_first_result(make_napari_viewer, qtbot, envi_cube):
    """The slider's jump to the curve's top band needs new digits in the band label; the dock renders every
    character the label writes while the user sets up the run, not in the result's repaint."""
    from napari_focus._band_label import LABEL_CHARACTERS, _label_font, glyph_loads

    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    font = _label_font(viewer)
    assert font is not None  # napari's font internals are where the warm-up looks for them
    assert glyph_loads(viewer)  # nothing drew the digits yet
    _dock(viewer)
    qtbot.waitUntil(lambda: set(LABEL_CHARACTERS) <= set(font._glyphs), timeout=60_000)
    assert glyph_loads(viewer) == []


def test_export_reads_back(make_napari_viewer, qtbot, tmp_path, envi_cube, tiny_checkpoint, wavelengths):
    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    _explain(qtbot, dock)
    paths = dock.export(tmp_path / "out")
    names = {p.name for p in paths}
    assert {"saliency.hdr", "saliency.img", "curve.csv", "figure.png", "prediction.json"} <= names
    back = viewer.open(str(tmp_path / "out" / "saliency.hdr"), plugin="napari-focus")[0]
    np.testing.assert_allclose(back.data, dock.result.T, rtol=1e-6)
    np.testing.assert_allclose(back.metadata["wavelengths_nm"], wavelengths, rtol=1e-6)
    pred = json.loads((tmp_path / "out" / "prediction.json").read_text())
    assert pred["predicted"] in ("healthy", "bls") and set(pred["probabilities"]) == {"healthy", "bls"}
    assert len(pred["model_sha256"]) == 64


def _errors(notifications):
    return [n.message for n in notifications if n.severity == "error"]


def test_export_refuses_a_folder_holding_the_users_files(make_napari_viewer, tmp_path, notifications):
    dock = _dock(make_napari_viewer())
    dock.result = object()  # refused before the result is looked at
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    assert dock.export(mine) == []
    assert "refusing" in _errors(notifications)[-1] and str(mine) in _errors(notifications)[-1]
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]


def test_bad_inputs_notify_and_add_nothing(make_napari_viewer, qtbot, tmp_path, tiny_checkpoint, notifications):
    viewer = make_napari_viewer()
    dock = _dock(viewer)
    assert dock.start() is None  # no cube at all
    assert "open a hyperspectral cube" in _errors(notifications)[-1]
    # a cube the model cannot map: 5 bands, no wavelengths, model needs 12
    viewer.add_image(np.random.rand(5, 16, 16).astype(np.float32), name="odd")
    dock.set_model_folder(tiny_checkpoint)
    dock.cube_box.setCurrentText("odd")
    n = len(viewer.layers)
    _explain(qtbot, dock)
    assert "5 bands and no wavelengths" in _errors(notifications)[-1]
    assert len(viewer.layers) == n
    # a folder that is not a checkpoint
    (tmp_path / "empty").mkdir()
    dock.set_model_folder(tmp_path / "empty")
    _explain(qtbot, dock)
    assert "not a FOCUS checkpoint" in _errors(notifications)[-1]
    assert len(viewer.layers) == n
    # 2-D layers are not offered as cubes
    viewer.add_image(np.zeros((8, 8)), name="flat")
    assert "flat" not in [dock.cube_box.itemText(i) for i in range(dock.cube_box.count())]


def test_layer_removed_while_running(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint, notifications):
    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    assert dock.start() is not None
    viewer.layers.remove("leaf")
    qtbot.waitUntil(lambda: not dock.running, timeout=60_000)
    assert not any("saliency" in layer.name for layer in viewer.layers)


def test_cancel_adds_nothing_and_says_so(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    n = len(viewer.layers)
    worker = dock.start()
    assert not dock.run_button.isEnabled() and dock.cancel_button.isEnabled()
    assert dock.start() is worker  # no second run
    dock.cancel_button.click()
    qtbot.waitUntil(lambda: not dock.running, timeout=60_000)
    assert dock.run_button.isEnabled() and not dock.cancel_button.isEnabled()
    assert dock.status.text() == "cancelled; nothing was added" and dock.progress.value() == 0
    assert len(viewer.layers) == n


def test_cube_removed_while_the_result_is_added(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    """The result is added one step per event-loop turn; a cube removed between steps leaves nothing behind."""
    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    n = len(viewer.layers)

    def remove_cube(event):
        if "saliency" in event.value.name and "leaf" in viewer.layers:
            viewer.layers.remove("leaf")

    viewer.layers.events.inserted.connect(remove_cube)
    _explain(qtbot, dock)
    assert not any("saliency" in layer.name for layer in viewer.layers)
    assert len(viewer.layers) == n - 1 and dock.run_button.isEnabled() and "nothing was added" in dock.status.text()


def test_cube_moved_while_running_gets_aligned_layers(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    """Layer data is prepared in the worker for the geometry at the click; a change meanwhile is honoured."""
    viewer = make_napari_viewer()
    cube = viewer.open(str(envi_cube), plugin="napari-focus")[0]
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    assert dock.start() is not None
    cube.scale = (1, 3.0, 3.0)
    qtbot.waitUntil(lambda: not dock.running, timeout=60_000)
    sal = next(layer for layer in viewer.layers if layer.name.startswith("leaf · saliency ·"))
    np.testing.assert_allclose(sal.scale, (1, 3.0, 3.0))


def test_a_sample_leaf_mask_is_used_not_duplicated(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    """The sample data ships `<cube> · leaf mask`: explain uses it and adds no second leaf mask layer."""
    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    mask = np.zeros((9, 7), np.uint8)
    mask[2:7, 1:5] = 1
    viewer.add_labels(mask, name="leaf · leaf mask", visible=False)
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    _explain(qtbot, dock)
    assert [lyr.name for lyr in viewer.layers].count("leaf · leaf mask") == 1
    np.testing.assert_array_equal(dock.result.leaf_mask, mask > 0)


def test_the_leaf_mask_is_shown_before_any_explain(make_napari_viewer, qtbot, tmp_path):
    """Picking a cube shows its leaf mask (computed in a thread), so the user sees the mask a run will use; a cube
    without red and NIR bands gets none ahead of time (explain's fallback says what it did)."""
    import spectral.io.envi as envi

    from napari_focus.vegetation import leaf_mask

    wl = np.linspace(400.0, 1000.0, 12)
    cube = np.full((12, 20, 16), 0.2, np.float32)
    yy, xx = np.mgrid[0:20, 0:16]
    leaf = (yy - 10) ** 2 + (xx - 8) ** 2 < 30
    cube[:, leaf] = np.where(wl < 700, 0.05, 0.5)[:, None]  # dark in the red, bright in the NIR
    hdr = tmp_path / "disc.hdr"
    envi.save_image(str(hdr), np.transpose(cube, (1, 2, 0)), interleave="bil", force=True, ext=".img",
                    metadata={"wavelength": list(wl)})
    viewer = make_napari_viewer()
    layer = viewer.open(str(hdr), plugin="napari-focus")[0]
    layer.scale = (1, 2.0, 2.0)
    dock = _dock(viewer)
    active = viewer.layers.selection.active
    qtbot.waitUntil(lambda: "disc · leaf mask" in viewer.layers, timeout=60_000)
    mask = viewer.layers["disc · leaf mask"]
    np.testing.assert_array_equal(mask.data > 0, leaf)
    np.testing.assert_array_equal(mask.data > 0, leaf_mask(cube, wl))
    np.testing.assert_allclose(mask.scale, (2.0, 2.0))
    assert viewer.layers.selection.active is active  # adding the mask does not change the user's selection
    # a cube without wavelengths, picked in the dock, gets no mask ahead of time
    viewer.add_image(cube.copy(), name="nowl")
    dock.cube_box.setCurrentText("nowl")
    qtbot.wait(200)
    qtbot.waitUntil(lambda: dock._leaf_masks.worker is None, timeout=60_000)
    assert "nowl · leaf mask" not in viewer.layers
    assert [lyr.name for lyr in viewer.layers].count("disc · leaf mask") == 1


def test_explain_raises_no_warning_a_user_would_see(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    """napari shows warnings as notifications: the dock's deliberate, guarded private-API uses must not surface as
    "Private attribute access … deprecated" on a user's first explain."""
    import warnings

    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _explain(qtbot, dock)
    assert "leaf · saliency · FOCUS · " + dock.result.class_name in viewer.layers
    assert not [str(w.message) for w in seen if "Private attribute access" in str(w.message)]


def test_raw_counts_are_refused_with_a_notification_and_x10k_is_noted(make_napari_viewer, qtbot, tmp_path,
                                                                      tiny_checkpoint, notifications):
    """The input check runs when Explain is clicked: raw counts get an error naming the file and no run; uint16
    reflectance × 10 000 is explained, with a warning and the note in the status line."""
    from napari_focus.cube_io import write_envi

    wl = np.linspace(400.0, 1000.0, 12)
    yy, xx = np.mgrid[:24, :24]
    leaf = ((yy - 12) / 9) ** 2 + ((xx - 12) / 7) ** 2 <= 1
    refl = np.where(leaf[None], (0.05 + 0.45 / (1 + np.exp(-(wl - 715) / 15)))[:, None, None], 0.03)
    refl = refl + np.random.default_rng(0).normal(0, 0.003, refl.shape)
    raw = write_envi(tmp_path / "raw.hdr", (refl * np.exp(-0.5 * ((wl - 600) / 150) ** 2)[:, None, None] * 2800
                                             + 60).astype(np.uint16), wavelengths_nm=wl)
    x10k = write_envi(tmp_path / "x10k.hdr", np.rint(refl.clip(0) * 10_000).astype(np.uint16), wavelengths_nm=wl)
    viewer = make_napari_viewer()
    viewer.open(str(raw), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    dock.cube_box.setCurrentText("raw")
    n = len(viewer.layers)
    assert dock.start() is None  # refused before any worker starts
    err = _errors(notifications)[-1]
    assert "raw counts, not reflectance" in err and str(raw) in err and "\n" not in err
    assert len(viewer.layers) == n and not dock.running
    viewer.open(str(x10k), plugin="napari-focus")
    dock.cube_box.setCurrentText("x10k")
    _explain(qtbot, dock)
    warnings = [m.message for m in notifications if m.severity == "warning"]
    assert any("x10k: read as reflectance × 10 000" in w for w in warnings), warnings
    assert dock.result is not None and dock.result.notes[0].startswith("read as reflectance × 10 000")
    assert "reflectance × 10 000" in dock.status.text()


def test_the_model_sees_the_leaf_mask_the_user_corrected(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint,
                                                         tmp_path):
    """A checkpoint that shows its training background outside the leaf (docs/method.md §2) sees only what the
    `<cube> · leaf mask` layer holds: painting part of the leaf out changes the class probabilities, to those of the
    core's explain with that mask."""
    import shutil

    from napari_focus.cube_io import read_cube
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.explain import explain

    folder = shutil.copytree(tiny_checkpoint, tmp_path / "tiny_on_background")
    cfg = json.loads((folder / "config.json").read_text())
    n_bands = load_checkpoint(folder).groups.n_bands
    cfg |= {"background_fill": [0.6] * n_bands, "canonical_background": True}
    (folder / "config.json").write_text(json.dumps(cfg))
    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    mask = viewer.add_labels(np.ones((9, 7), np.uint8), name="leaf · leaf mask", visible=False)
    dock = _dock(viewer)
    dock.set_model_folder(folder)
    _explain(qtbot, dock)
    whole = np.array(dock.result.probabilities)
    painted = np.ones((9, 7), np.uint8)
    painted[:, 4:] = 0  # the user paints the right side out of the leaf
    mask.data = painted
    _explain(qtbot, dock)
    np.testing.assert_array_equal(dock.result.leaf_mask, painted > 0)
    assert not np.allclose(dock.result.probabilities, whole, atol=1e-6)
    core = explain(load_checkpoint(folder), read_cube(envi_cube), leaf_mask=painted > 0)
    np.testing.assert_allclose(dock.result.probabilities, core.probabilities, rtol=1e-4, atol=1e-6)
