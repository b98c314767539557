"""What a user sees after Explain: one result per cube and method, each directly above its cube; the slider on
the curve's top band with a colour scale that saturates little there; the band label of the cube that is looked at;
a double-click or a closed dock never loses or sneaks in a result."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_focus._band_label import text_overlay
from napari_focus._qt.explain_dock import ExplainDock
from napari_focus.focus.readout import REFINED_RULES

pytest.importorskip("torch")


def _dock(viewer) -> ExplainDock:
    _, dock = viewer.window.add_plugin_dock_widget("napari-focus", "Explain (FOCUS)")
    return dock


def _click_explain(qtbot, dock) -> None:
    qtbot.mouseClick(dock.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dock.running, timeout=60_000)


def _above(viewer, name: str) -> str:
    names = [lyr.name for lyr in viewer.layers]
    return names[names.index(name) + 1]


def test_two_cubes_and_two_methods_keep_their_results(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    viewer = make_napari_viewer()
    first = viewer.open(str(envi_cube), plugin="napari-focus")[0]
    second = viewer.open(str(envi_cube), plugin="napari-focus")[0]
    second.name = "other leaf"
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    dock.class_box.setCurrentText("bls")
    dock.cube_box.setCurrentText("leaf")
    _click_explain(qtbot, dock)
    a = viewer.layers["leaf · saliency · FOCUS · bls"]
    assert _above(viewer, first.name) == a.name  # drawn over its own cube, not on top of everything
    viewer.layers.selection.active = second  # the dock follows the cube selected in the layer list
    assert dock.cube_box.currentText() == "other leaf"
    _click_explain(qtbot, dock)
    b = viewer.layers["other leaf · saliency · FOCUS · bls"]
    assert viewer.layers["leaf · saliency · FOCUS · bls"] is a and b is not a  # the first result survives
    assert _above(viewer, second.name) == b.name and _above(viewer, first.name) == a.name
    viewer.open(str(envi_cube), plugin="napari-focus")  # a cube just opened is the dock's next pick
    assert dock.cube_box.currentText() == "leaf [1]"
    dock.cube_box.setCurrentText("leaf")
    dock.method_box.setCurrentIndex(dock.method_box.findData("gradxinput"))
    _click_explain(qtbot, dock)
    g = viewer.layers["leaf · saliency · gradient × input · bls"]
    assert _above(viewer, first.name) == g.name and a in viewer.layers and b in viewer.layers
    assert dock.colour_scale.limits_text()[2] == f"{g.contrast_limits[1]:.3g} or more"  # the newest result's scale
    assert "gradient × input" in dock.status.text() and "bacterial leaf spot" in dock.status.text()
    assert "·" not in dock.status.text().split(" in ")[0]  # plain words, not "gradxinput · gradxinput"
    dock.method_box.setCurrentIndex(dock.method_box.findData("focus_refined"))
    assert "more passes" in dock.method_box.currentText()
    _click_explain(qtbot, dock)
    r = viewer.layers["leaf · saliency · FOCUS refined · bls"]  # beside the one-pass result, not instead of it
    assert a in viewer.layers and r is not a and dock.result.refined
    assert dock.result.rule.split("+")[-1] in REFINED_RULES
    assert dock.status.text().startswith("FOCUS refined explained")


def test_explain_rests_on_the_top_band_with_little_saturated(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    viewer.dims.set_current_step(0, 0)
    _click_explain(qtbot, dock)
    sal = viewer.layers["leaf · saliency · FOCUS · " + dock.result.class_name]
    plot, _ = dock.spectral
    top = int(np.nanargmax(plot.curve.plotted()))
    assert viewer.dims.current_step[0] == top and plot.band == top
    lo, hi = sal.contrast_limits
    leaf = dock.result.leaf_mask
    at_top = np.asarray(sal.data[top])[leaf]
    assert lo == 0.0 and 0 < hi <= at_top.max()
    assert np.count_nonzero(at_top >= hi) <= 0.02 * leaf.sum() + 1e-9
    text = dock.colour_scale.text()
    assert f"{hi:.3g}" in text and "2 %" in text and plot.curve.band_text(top, 1) in text
    assert dock.colour_scale.isVisibleTo(dock) and dock.colour_scale.limits_text()[2] == f"{hi:.3g} or more"


def test_band_label_names_the_cube_looked_at(make_napari_viewer, wavelengths):
    """A VNIR and a longer-range cube share the slider; with a mask selected, the label names the band of the cube
    under the cursor (else the topmost visible one), never another sensor's wavelength."""
    viewer = make_napari_viewer()
    vnir = viewer.add_image(np.ones((12, 8, 8), np.float32), name="vnir",
                            metadata={"wavelengths_nm": list(wavelengths)})
    wide_wl = np.linspace(400.0, 2400.0, 20)
    wide = viewer.add_image(np.ones((20, 8, 8), np.float32), name="wide", translate=(0, 0, 20),
                            metadata={"wavelengths_nm": list(wide_wl)})
    viewer.add_labels(np.zeros((8, 8), np.uint8), name="mask")
    _, dock = viewer.window.add_plugin_dock_widget("napari-focus", "Explain (FOCUS)")
    viewer.dims.set_current_step(0, 5)
    overlay = text_overlay(viewer)
    viewer.cursor.position = (5, 3, 3)  # over the VNIR leaf
    assert overlay.text.endswith(f"{wavelengths[5]:.1f} nm")
    viewer.cursor.position = (5, 3, 23)  # over the wide cube
    assert overlay.text.endswith(f"{wide_wl[5]:.1f} nm")
    viewer.cursor.position = (5, 30, 60)  # over nothing: the topmost visible cube
    assert overlay.text.endswith(f"{wide_wl[5]:.1f} nm")
    wide.visible = False
    viewer.layers.selection.active = vnir
    assert overlay.text.endswith(f"{wavelengths[5]:.1f} nm")


def test_double_click_explains_once(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    qtbot.mouseClick(dock.run_button, Qt.MouseButton.LeftButton)
    qtbot.mouseDClick(dock.run_button, Qt.MouseButton.LeftButton)  # the second click of a double-click
    qtbot.waitUntil(lambda: not dock.running, timeout=60_000)
    assert dock.result is not None and "explained" in dock.status.text()
    assert dock.progress.value() == dock.progress.maximum()
    assert any("saliency ·" in lyr.name for lyr in viewer.layers)


def test_closing_the_dock_mid_run_adds_nothing(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    from napari_focus._qt.band_link import dock_of

    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    n = len(viewer.layers)
    qtbot.mouseClick(dock.run_button, Qt.MouseButton.LeftButton)
    dock_of(dock).title.close_button.click()  # napari's ✕ on the dock
    qtbot.waitUntil(lambda: not dock.running, timeout=60_000)
    qtbot.wait(200)
    assert dock.result is None and len(viewer.layers) == n
    assert not any("saliency" in lyr.name for lyr in viewer.layers)


def test_both_docks_and_a_result_fit_a_1600_by_1000_screen(make_napari_viewer, qtbot, envi_cube, tiny_checkpoint):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1600, 1000)
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    area = dock.layout().itemAt(0).widget()
    qtbot.waitUntil(lambda: area.viewport().width() >= area.widget().minimumSizeHint().width(), timeout=5_000)
    viewer.window.add_plugin_dock_widget("napari-focus", "Fine-tune")
    _click_explain(qtbot, dock)
    qtbot.wait(100)
    need = window.minimumSizeHint().expandedTo(window.minimumSize())
    assert need.height() <= 1000 and need.width() <= 1600
    assert window.height() <= 1000
    # nothing of the Explain dock is cut off on the right: its contents are as wide as their minimum
    assert area.viewport().width() >= area.widget().minimumSizeHint().width()
    label = dock.model_box.currentText()
    assert dock.model_box.width() > dock.model_box.fontMetrics().horizontalAdvance(label)  # never "embedded demonstr"


def test_grad_cam_curve_is_labelled_as_gradient_x_input_everywhere(make_napari_viewer, qtbot, envi_cube,
                                                                     tiny_checkpoint, tmp_path):
    import json
    import stat

    pytest.importorskip("pytorch_grad_cam")
    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    dock.method_box.setCurrentIndex(dock.method_box.findData("gradcam"))
    assert "gradient × input" in dock.method_box.currentText()
    _click_explain(qtbot, dock)
    plot, _ = dock.spectral
    assert plot.plot_item.titleLabel.text.startswith("gradient × input (the band curve of Grad-CAM)")
    dock.export(tmp_path / "out")
    pred = json.loads((tmp_path / "out" / "prediction.json").read_text())
    assert pred["method"] == "gradcam" and pred["band_curve"].startswith("gradient × input")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").iterdir()}
    assert len(set(modes.values())) == 1, modes  # the CSV, PNG and JSON as readable as the ENVI files


def test_a_large_cube_is_tiled_as_the_cli_tiles_it(make_napari_viewer, qtbot, tmp_path, tiny_checkpoint,
                                                    wavelengths):
    """One policy for the dock and `napari-focus explain`: a cube longer than 4 model inputs is explained in tiles,
    with the same answer as the command line's `explain_scene` for the same leaf mask."""
    import spectral.io.envi as envi

    from napari_focus.cube import Cube
    from napari_focus.explain_job import load_model
    from napari_focus.focus.tiled import explain_scene

    rng = np.random.default_rng(0)
    data = (np.linspace(0.05, 0.5, 12)[:, None, None] * (1 + 0.2 * rng.random((12, 140, 136)))).astype(np.float32)
    hdr = tmp_path / "wide.hdr"
    envi.save_image(str(hdr), np.transpose(data, (1, 2, 0)), interleave="bsq", force=True, ext=".img",
                    metadata={"wavelength": list(wavelengths)})
    viewer = make_napari_viewer()
    layer = viewer.open(str(hdr), plugin="napari-focus")[0]
    yy, xx = np.mgrid[0:140, 0:136]
    mask = ((yy - 70) ** 2 + (xx - 68) ** 2 < 60 ** 2).astype(np.uint8)
    viewer.add_labels(mask, name="wide · leaf mask")
    dock = _dock(viewer)
    dock.set_model_folder(tiny_checkpoint)
    dock.class_box.setCurrentText("bls")
    said = []
    dock.status.setText = lambda text, set_text=dock.status.setText: (said.append(text), set_text(text))
    _click_explain(qtbot, dock)
    assert dock.result is not None and dock.result.tiles, dock.status.text()
    assert any(t.startswith("explaining: tile ") for t in said) and " tiles in " in dock.status.text()
    cli = explain_scene(load_model(tiny_checkpoint), Cube.from_layer(layer.data, layer.metadata), class_index="bls",
                        tile="auto", leaf_mask=mask > 0)
    np.testing.assert_allclose(dock.result.B, cli.B, rtol=1e-5)
    np.testing.assert_allclose(dock.result.probabilities, cli.probabilities, rtol=1e-5)
