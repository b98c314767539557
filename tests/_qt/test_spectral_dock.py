"""The Spectral importance dock as a user meets it: click, drag, slider, Shift-click, replace, removal."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.events import Event
from napari.utils.interactions import mouse_press_callbacks
from qtpy.QtCore import QEvent, QPointF, Qt
from qtpy.QtGui import QMouseEvent
from qtpy.QtWidgets import QApplication

from napari_focus._qt.band_link import DOCK_NAME, add_spectral_dock, docked_widgets, link_plot_to_viewer
from napari_focus._qt.spectral_plot import SpectralPlotWidget
from napari_focus.metrics import top_k_bands
from napari_focus.spectral_curve import SpectralCurve, SpectralGroup


def _click(qtbot, plot: SpectralPlotWidget, x: float) -> None:
    """A real left click (QTest press + release) on the graphics viewport at data x of the importance plot."""
    view = plot.graphics
    pos = view.mapFromScene(plot.scene_point(x))
    qtbot.mouseMove(view.viewport(), pos)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def _counter(signal_or_emitter) -> list:
    seen: list = []
    signal_or_emitter.connect(lambda *a: seen.append(a))
    return seen


def test_click_on_plot_moves_band_slider_once(qtbot, shown_plot, viewer_cube, wl16):
    viewer, layer = viewer_cube
    link_plot_to_viewer(shown_plot, viewer, layer)
    requested, steps = _counter(shown_plot.band_requested), _counter(viewer.dims.events.current_step)
    _click(qtbot, shown_plot, wl16[9] + 12.0)  # nearer band 9 than band 10 (40 nm spacing)
    assert viewer.dims.current_step[0] == 9
    assert shown_plot.band == 9 and shown_plot.line.value() == pytest.approx(wl16[9])
    assert len(requested) == 1 and len(steps) == 1  # no ping-pong
    _click(qtbot, shown_plot, wl16[9] - 3.0)  # same band again: nothing is emitted
    assert len(requested) == 1 and len(steps) == 1


def test_click_on_bad_band_goes_to_nearest_good_band(qtbot, shown_plot, viewer_cube, wl16):
    viewer, layer = viewer_cube
    link_plot_to_viewer(shown_plot, viewer, layer)
    _click(qtbot, shown_plot, wl16[13] + 4.0)  # band 13 is bad; 14 is the nearest good one
    assert viewer.dims.current_step[0] == 14


def _send(widget, kind, pos, buttons) -> None:
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos), button, buttons, Qt.KeyboardModifier.NoModifier))


def test_real_mouse_drag_of_line(qtbot, shown_plot, viewer_cube, wl16):
    """Press on the line, move with the button held (QMouseEvents to the viewport), release."""
    viewer, layer = viewer_cube
    link_plot_to_viewer(shown_plot, viewer, layer)
    viewer.dims.set_current_step(0, 4)
    view, held = shown_plot.graphics, Qt.MouseButton.LeftButton
    requested, steps = _counter(shown_plot.band_requested), _counter(viewer.dims.events.current_step)
    start = view.mapFromScene(shown_plot.scene_point(wl16[4]))
    qtbot.mouseMove(view.viewport(), start)  # QTest moves the pointer, so pyqtgraph's hover finds the line
    qtbot.wait(20)
    _send(view.viewport(), QEvent.Type.MouseButtonPress, start, held)
    for x in np.linspace(wl16[4] + 8, wl16[7] + 5, 8):
        qtbot.wait(20)  # pyqtgraph rate-limits move events, as a real hand would be
        _send(view.viewport(), QEvent.Type.MouseMove, view.mapFromScene(shown_plot.scene_point(x)), held)
    assert shown_plot.line.moving and viewer.dims.current_step[0] == 7
    assert abs(shown_plot.line.value() - (wl16[7] + 5)) < 3  # under the cursor, not snapped: no jitter
    _send(view.viewport(), QEvent.Type.MouseButtonRelease, view.mapFromScene(shown_plot.scene_point(wl16[7] + 5)),
          Qt.MouseButton.NoButton)
    assert shown_plot.line.value() == pytest.approx(wl16[7])  # snapped on release
    assert len(requested) == len(steps) == 3  # 5, 6, 7: one slider step per band, none echoed back


def test_dragging_line_moves_slider_and_snaps_on_release(qtbot, curve16, viewer_cube, wl16):
    viewer, layer = viewer_cube
    plot = SpectralPlotWidget(curve16)
    qtbot.addWidget(plot)
    link_plot_to_viewer(plot, viewer, layer)
    requested = _counter(plot.band_requested)
    plot.line.moving = True  # what InfiniteLine.mouseDragEvent sets, then it calls setPos for each move
    for x in (wl16[4] + 1, wl16[4] + 10, wl16[5] - 15, wl16[5] + 3):
        plot.line.setValue(x)
    assert viewer.dims.current_step[0] == 5
    assert len(requested) == 2  # band 4, then band 5: one emission per band change, not per mouse move
    assert plot.line.value() == pytest.approx(wl16[5] + 3)  # the line follows the cursor while dragging
    plot.line.moving = False
    plot.line.sigPositionChangeFinished.emit(plot.line)
    assert plot.line.value() == pytest.approx(wl16[5])  # and snaps onto the band on release


def test_slider_moves_line_without_emitting(qtbot, curve16, viewer_cube, wl16):
    viewer, layer = viewer_cube
    plot = SpectralPlotWidget(curve16)
    qtbot.addWidget(plot)
    link = link_plot_to_viewer(plot, viewer, layer)
    requested = _counter(plot.band_requested)
    for band in (3, 7, 15, 0):  # as playing the slider would
        viewer.dims.set_current_step(0, band)
        assert plot.band == band and plot.line.value() == pytest.approx(wl16[band])
    assert requested == []
    assert plot.line.label.format == f"{wl16[0]:.1f} nm"
    link.disconnect()
    viewer.dims.set_current_step(0, 6)
    assert plot.band == 0  # disconnected: the line stays


def test_line_moves_first_and_link_never_compares_the_viewer(shown_plot, viewer_cube, monkeypatch):
    """The line follows dims.point, emitted before current_step (the slider widget's and the band label's event);
    connecting and disconnecting never run ViewerModel.__eq__ (a model_dump of the whole viewer)."""
    from napari.components import ViewerModel

    viewer, layer = viewer_cube
    compared: list[str] = []
    eq = ViewerModel.__eq__
    monkeypatch.setattr(ViewerModel, "__eq__", lambda self, other: compared.append(type(other).__name__)
                        or eq(self, other))
    seen: list[int] = []
    viewer.dims.events.current_step.connect(lambda e: seen.append(shown_plot.band))  # connected before the link
    link = link_plot_to_viewer(shown_plot, viewer, layer)
    viewer.dims.set_current_step(0, 9)
    assert seen == [9]
    link.disconnect()
    assert compared == []


def test_bad_bands_are_gaps_and_top_markers_match(qtbot, curve16, good16):
    plot = SpectralPlotWidget(curve16)
    qtbot.addWidget(plot)
    x, y = plot.curve_item.getData()
    assert np.isnan(y[~good16]).all() and not np.any(y[~good16] == 0)
    assert np.isfinite(y[good16]).all()
    expected = top_k_bands(np.where(good16, curve16.importance, np.nan), curve16.wavelengths_nm, k=5)
    np.testing.assert_array_equal(plot.top_bands, expected)
    pts = plot.top_item.getData()
    np.testing.assert_allclose(pts[0], curve16.wavelengths_nm[expected])
    assert [lab.toPlainText() for lab in plot.top_labels] == [f"{curve16.wavelengths_nm[b]:.0f} nm" for b in expected]
    names = [lab.toPlainText() for lab in plot._group_labels]
    assert names == ["blue", "green", "red-edge", "NIR"]


def test_no_wavelengths_uses_band_index_axis(qtbot, viewer_cube):
    viewer, layer = viewer_cube
    curve = SpectralCurve(np.linspace(0, 1, 16))
    plot = SpectralPlotWidget(curve)
    qtbot.addWidget(plot)
    link_plot_to_viewer(plot, viewer, layer)
    assert plot.plot_item.getAxis("bottom").labelText == "band index (no wavelengths)"
    viewer.dims.set_current_step(0, 11)
    assert plot.line.value() == 11.0 and plot.line.label.format == "band 11"
    assert plot.status.text() == f"band 11 · importance {curve.importance[11]:.3g}"


def test_set_curve_keeps_band_and_clears_stale_pixel(qtbot, curve16, wl16):
    plot = SpectralPlotWidget(curve16)
    qtbot.addWidget(plot)
    plot.set_band(7)
    plot.show_pixel(1, 2, np.ones(16))
    plot.set_curve(SpectralCurve(curve16.importance * 2, wavelengths_nm=wl16, title="saliency · healthy"))
    assert plot.band == 7 and plot.pixel == (1, 2)  # same bands: the pixel's spectra still apply
    assert plot.plot_item.titleLabel.text == "saliency · healthy"
    plot.set_curve(SpectralCurve(np.ones(5)))
    assert plot.band == 0 and plot.pixel is None and plot.line.value() == 0.0


def test_set_curve_updates_items_in_place(qtbot, curve16, wl16):
    """A re-run's curve reuses the plot's items (no remove/re-add); fewer groups drop the extra ones from the plot."""
    plot = SpectralPlotWidget(curve16)
    qtbot.addWidget(plot)
    curve_item, top_item, region = plot.curve_item, plot.top_item, plot._group_regions[0]
    fewer = [SpectralGroup("visible", 0, 9), SpectralGroup("NIR", 10, 15)]
    new = SpectralCurve(curve16.importance[::-1].copy(), wavelengths_nm=wl16, groups=fewer, good_bands=curve16.good)
    plot.set_curve(new)
    assert plot.curve_item is curve_item and plot.top_item is top_item and plot._group_regions[0] is region
    x, y = curve_item.getData()
    np.testing.assert_allclose(y[np.isfinite(y)], new.plotted()[np.isfinite(new.plotted())])
    assert [lab.toPlainText() for lab in plot._group_labels] == ["visible", "NIR"]
    shown = [item for item in plot.plot_item.items if item in plot._group_regions or item in plot._group_labels]
    assert len(shown) == 4  # the two dropped groups' region and name left the plot
    assert [lab.toPlainText() for lab in plot.top_labels] == [new.band_text(int(b)) for b in new.top_bands()]


def test_hover_shows_wavelength_and_importance(shown_plot, curve16, wl16):
    shown_plot.graphics.scene().sigMouseMoved.emit(shown_plot.scene_point(wl16[8] + 5))
    assert shown_plot.status.text() == f"band 8 · 720.0 nm · importance {curve16.importance[8]:.3g}"


def test_layer_removed_is_harmless(qtbot, shown_plot, viewer_cube, wl16):
    viewer, layer = viewer_cube
    link = link_plot_to_viewer(shown_plot, viewer, layer)
    viewer.layers.remove(layer)
    assert not link.connected
    _click(qtbot, shown_plot, wl16[3])  # no exception, nothing to move
    viewer.add_image(np.zeros((16, 4, 4)))
    viewer.dims.set_current_step(0, 2)
    link.disconnect()  # twice is fine


def test_scaled_band_axis(qtbot, curve16, make_napari_viewer, cube16, wl16):
    viewer = make_napari_viewer()
    layer = viewer.add_image(cube16, scale=(2.0, 1.0, 1.0), translate=(10.0, 0, 0))
    plot = SpectralPlotWidget(curve16)
    qtbot.addWidget(plot)
    link_plot_to_viewer(plot, viewer, layer)
    plot.band_requested.emit(6)
    assert viewer.dims.point[0] == pytest.approx(10.0 + 2.0 * 6)
    viewer.dims.set_point(0, 10.0 + 2.0 * 9)
    assert plot.band == 9


def _press(viewer, position, modifiers=("Shift",)):
    """Dispatch a mouse press through the viewer's drag callbacks, as napari's canvas does."""
    event = Event(type_name="mouse_press", position=position, modifiers=modifiers, is_dragging=False,
                  button=1, view_direction=None, dims_displayed=[1, 2])
    mouse_press_callbacks(viewer, event)


def test_dock_shift_click_plots_pixel_spectra(viewer_cube, curve16, cube16, good16):
    viewer, layer = viewer_cube
    saliency = np.random.default_rng(1).random(cube16.shape).astype(np.float32)
    widget, link = add_spectral_dock(viewer, curve16, layer, saliency=saliency)
    assert docked_widgets(viewer)[DOCK_NAME] is widget
    _press(viewer, (0.0, 3.0, 7.0), modifiers=())  # a plain click does nothing
    assert widget.pixel is None
    _press(viewer, (0.0, 3.2, 6.8))
    assert widget.pixel == (3, 7)
    _, refl = widget.reflectance_item.getData()
    _, sal = widget.saliency_item.getData()
    np.testing.assert_allclose(refl[good16], cube16[good16, 3, 7], rtol=1e-6)
    np.testing.assert_allclose(sal[good16], saliency[good16, 3, 7], rtol=1e-6)
    assert np.isnan(refl[~good16]).all()
    marker = viewer.layers["leaf · picked pixel"]  # the picked pixel is marked in the viewer
    np.testing.assert_allclose(marker.data, [[3, 7]])
    assert viewer.layers.selection.active is not marker
    _press(viewer, (0.0, 50.0, 50.0))  # outside the cube: unchanged
    assert widget.pixel == (3, 7)
    _press(viewer, (0.0, 5.0, 2.0))  # the same marker moves
    np.testing.assert_allclose(viewer.layers["leaf · picked pixel"].data, [[5, 2]])
    assert [lyr.name for lyr in viewer.layers].count("leaf · picked pixel") == 1


def test_dock_is_replaced_not_piled_up(viewer_cube, curve16):
    viewer, layer = viewer_cube
    first, link1 = add_spectral_dock(viewer, curve16, layer)
    second, link2 = add_spectral_dock(viewer, curve16, layer)
    assert [n for n in docked_widgets(viewer) if n == DOCK_NAME] == [DOCK_NAME]
    assert docked_widgets(viewer)[DOCK_NAME] is second
    assert not link1.band.connected and link2.band.connected
    n_callbacks = len(viewer.mouse_drag_callbacks)
    viewer.dims.set_current_step(0, 4)
    assert second.band == 4
    link2.disconnect()
    assert len(viewer.mouse_drag_callbacks) == n_callbacks - 1


def test_rendered_line_is_where_the_band_is(qtbot, shown_plot, wl16):
    """Look at the pixels: the yellow line is drawn at the x of the current band (not just 'non-blank')."""
    shown_plot.set_band(8)
    qtbot.wait(50)
    img = shown_plot.graphics.grab().toImage()
    w, h = img.width(), img.height()
    rgb = np.frombuffer(img.constBits().asstring(img.sizeInBytes()), np.uint8).reshape(h, img.bytesPerLine() // 4, 4)
    b, g, r = (rgb[:, :w, i].astype(int) for i in range(3))
    yellow = (abs(r - 0xFF) < 40) & (abs(g - 0xD3) < 40) & (b < 120)
    cols = np.flatnonzero(yellow.sum(axis=0) > h // 4)
    ratio = img.devicePixelRatio()
    expected = shown_plot.graphics.mapFromScene(shown_plot.scene_point(wl16[8])).x() * ratio
    assert cols.size and abs(np.median(cols) - expected) <= 3 * ratio


@pytest.mark.parametrize("problem", ["two_d", "band_count"])
def test_unusable_layer_is_refused_before_anything_is_added(make_napari_viewer, curve16, problem):
    from napari_focus.errors import FocusError

    viewer = make_napari_viewer()
    data = np.zeros((10, 12)) if problem == "two_d" else np.zeros((9, 10, 12))
    layer = viewer.add_image(data, name="flat")
    n_callbacks = len(viewer.mouse_drag_callbacks)
    with pytest.raises(FocusError, match="flat"):
        add_spectral_dock(viewer, curve16, layer)
    assert DOCK_NAME not in docked_widgets(viewer) and len(viewer.mouse_drag_callbacks) == n_callbacks


def test_crowded_top_band_labels_never_overlap(qtbot, wl16):
    """Five top bands side by side on a narrow dock: labels that fit nowhere are hidden, the best one shows."""
    imp = np.where((wl16 > 600) & (wl16 < 850), 1.0, 0.1) + np.linspace(0, 1e-3, wl16.size)  # a flat plateau
    plot = SpectralPlotWidget(SpectralCurve(imp, wavelengths_nm=wl16, top_k=5, min_separation_nm=0.0))
    qtbot.addWidget(plot)
    plot.resize(380, 440)
    plot.show()
    qtbot.waitExposed(plot)
    plot._layout_labels()
    shown = [lab for lab in plot.top_labels if lab.isVisible()]
    assert plot.top_labels[0].isVisible() and len(shown) < len(plot.top_labels)
    rects = [lab.sceneBoundingRect() for lab in shown]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])


def test_crowded_group_names_never_run_together(qtbot, wl16):
    """Eight narrow groups on a narrow dock: names go on two rows, one that fits on neither is hidden."""
    groups = [SpectralGroup(name, 2 * i, 2 * i + 1) for i, name in
              enumerate(["blue·1", "blue·2", "green·1", "green·2", "red", "red-edge", "NIR-1·1", "NIR-1·2"])]
    plot = SpectralPlotWidget(SpectralCurve(np.linspace(0.1, 1, wl16.size), wavelengths_nm=wl16, groups=groups))
    qtbot.addWidget(plot)
    plot.resize(380, 440)
    plot.show()
    qtbot.waitExposed(plot)
    plot._layout_labels()
    shown = [lab for lab in plot._group_labels if lab.isVisible()]
    assert shown and len(shown) <= len(groups)
    rects = [lab.sceneBoundingRect() for lab in shown]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])


def test_the_top_bands_label_shows_even_under_the_group_names(qtbot, wl16):
    """A tall narrow peak in a group whose name sits right above it: the band's wavelength wins, and no group name
    overlaps any band label."""
    groups = [SpectralGroup(name, 2 * i, 2 * i + 1) for i, name in
              enumerate(["blue·1", "blue·2", "green·1", "green·2", "red", "red-edge", "NIR-1·1", "NIR-1·2"])]
    imp = np.full(wl16.size, 0.1)
    imp[13] = 1.0  # the top band, under "NIR-1·1"
    plot = SpectralPlotWidget(SpectralCurve(imp, wavelengths_nm=wl16, groups=groups, top_k=3))
    qtbot.addWidget(plot)
    plot.resize(380, 440)
    plot.show()
    qtbot.waitExposed(plot)
    plot._layout_labels()
    assert plot.top_labels[0].isVisible()
    bands = [lab.sceneBoundingRect() for lab in plot.top_labels if lab.isVisible()]
    names = [lab.sceneBoundingRect() for lab in plot._group_labels if lab.isVisible()]
    assert names and not any(a.intersects(b) for a in bands for b in names)
