"""Link the spectral plot and napari's band slider both ways, and Shift-click pixels into the plot.

The pattern (STYLE.md, "Curve ↔ slider link"): the plot asks for a band → the dims step is set only
when it differs; the dims step changes → the line moves without emitting. Neither direction can
trigger the other, so there is no ping-pong and no jitter. Every handler holds weak references and
does nothing once the layer has left the viewer.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

import numpy as np
from napari.layers import Layer

from napari_focus._band_label import current_band
from napari_focus.errors import FocusError
from napari_focus.spectral_curve import SpectralCurve

from .spectral_plot import SpectralPlotWidget

DOCK_NAME = "Spectral importance"
PIXEL_MODIFIER = "Shift"


def check_layer(layer: Any, curve: SpectralCurve | None) -> None:
    """Raise a one-line `FocusError` unless `layer` is a (C, H, W) image whose C matches the curve."""
    name = getattr(layer, "name", "layer")
    if getattr(layer, "ndim", 0) != 3 or getattr(layer, "rgb", False):
        raise FocusError(f"layer {name!r} is not a (band, y, x) cube; the spectral plot needs a band axis")
    if curve is not None and layer.data.shape[0] != curve.n_bands:
        raise FocusError(f"the spectral curve has {curve.n_bands} bands but layer {name!r} has "
                         f"{layer.data.shape[0]}")


def band_axis(viewer: Any, layer: Any) -> int:
    """The viewer dims axis that shows the layer's first (band) axis."""
    return int(viewer.dims.ndim - layer.ndim)


class BandLink:
    """A two-way connection between a `SpectralPlotWidget` and the band axis of a napari layer."""

    def __init__(self, plot: SpectralPlotWidget, viewer: Any, layer: Any) -> None:
        check_layer(layer, plot.curve)
        self._plot = plot
        self._viewer = weakref.ref(viewer)
        self._layer = weakref.ref(layer)
        self.connected = True
        plot.band_link = self  # Qt and napari hold bound methods weakly: the plot keeps its link alive
        plot.band_requested.connect(self._on_band_requested)
        self._on_point, self._on_removed = _weak_handlers(self)
        # `point` (the field the slider sets; current_step is derived from it and emitted after it, behind the
        # slider widget and the band label), first among non-napari handlers: napari keeps its own handlers first
        # whatever `position` says, so its slicing of the layers still runs before this
        viewer.dims.events.point.connect(self._on_point, position="first")
        viewer.layers.events.removed.connect(self._on_removed)
        self._on_current_step()

    @property
    def layer(self) -> Any:
        """The linked layer, or None once it has been removed (or collected)."""
        viewer, layer = self._viewer(), self._layer()
        if not self.connected or viewer is None or layer is None or layer not in viewer.layers:
            return None
        return layer

    def go_to(self, band: int) -> None:
        """Move napari's band slider (and so the plot's line) to `band` of the linked layer."""
        self._on_band_requested(band)

    def _on_band_requested(self, band: int) -> None:
        """Plot → viewer: move the slider to `band` (world coordinate of the band), only if it differs."""
        layer = self.layer
        if layer is None:
            return
        viewer = self._viewer()
        band = int(np.clip(band, 0, layer.data.shape[0] - 1))
        if current_band(viewer, layer) == band:
            return
        axis = band_axis(viewer, layer)
        scale, translate = float(layer.scale[0]), float(layer.translate[0])
        if scale == 1.0 and translate == 0.0 and viewer.dims.range[axis].start == 0.0:
            viewer.dims.set_current_step(axis, band)
        else:  # a scaled or shifted band axis: set the world coordinate of the band
            viewer.dims.set_point(axis, translate + scale * band)

    def _on_current_step(self, *_: Any) -> None:
        """Viewer → plot: move the line; `set_band` emits nothing, so this cannot loop."""
        layer = self.layer
        if layer is None:
            return
        self._plot.set_band(current_band(self._viewer(), layer))

    def _on_layer_removed(self, event: Any) -> None:
        if getattr(event, "value", None) is self._layer():
            self.disconnect()

    def disconnect(self) -> None:
        """Undo both directions (safe to call twice, or after the viewer has closed)."""
        if not self.connected:
            return
        self.connected = False
        with contextlib.suppress(TypeError, RuntimeError):  # the widget was already deleted
            self._plot.band_requested.disconnect(self._on_band_requested)
        viewer = self._viewer()
        if viewer is not None:
            viewer.dims.events.point.disconnect(self._on_point)
            viewer.layers.events.removed.disconnect(self._on_removed)


def _weak_handlers(link: BandLink) -> tuple[Any, Any]:
    """Plain functions holding `link` weakly, for napari's emitters.

    A bound method is stored as (weakref, name) and compared with every connected (weakref, name) on connect and
    disconnect: against the viewer's that runs ViewerModel.__eq__, a model_dump of the whole viewer (60 ms of
    GUI-thread CPU per re-run in benchmarks/gui_latency.py). A function compares by identity.
    """
    ref = weakref.ref(link)

    def on_point(*_: Any) -> None:
        alive = ref()
        if alive is not None:
            alive._on_current_step()

    def on_removed(event: Any) -> None:
        alive = ref()
        if alive is not None:
            alive._on_layer_removed(event)

    return on_point, on_removed


def _band_data(source: Any) -> Any:
    """An array-like (C, H, W) from an array or a napari layer (a numpy array's own `.data` is a buffer)."""
    return source.data if isinstance(source, Layer) else source


class PixelPicker:
    """Shift-click on the viewer canvas → the plot shows that pixel's reflectance and saliency spectra.

    A viewer-level callback (not a layer one), so it works whichever layer is selected. `saliency` may
    be a (C, H, W) array or a napari layer; its T[:, y, x] goes on the plot's second axis.
    """

    def __init__(self, plot: SpectralPlotWidget, viewer: Any, layer: Any, saliency: Any = None,
                 modifier: str = PIXEL_MODIFIER) -> None:
        self._plot = weakref.ref(plot)
        self._viewer = weakref.ref(viewer)
        self._layer = weakref.ref(layer)
        self.saliency = saliency
        self.modifier = modifier
        plot.pixel_picker = self  # kept alive by the plot, like BandLink
        viewer.mouse_drag_callbacks.append(self._on_press)

    def pixel_at(self, world_position: Any) -> tuple[int, int] | None:
        """(y, x) of the cube under a world position, or None outside the cube / without the layer."""
        viewer, layer = self._viewer(), self._layer()
        if viewer is None or layer is None or layer not in viewer.layers:
            return None
        pos = np.asarray(world_position, dtype=float)[-layer.ndim:]
        _, y, x = (int(round(float(v))) for v in layer.world_to_data(pos)[-3:])
        _, h, w = layer.data.shape[-3:]
        return (y, x) if 0 <= y < h and 0 <= x < w else None

    def show(self, y: int, x: int) -> bool:
        """Plot the spectra at (y, x); False when the plot or layer is gone."""
        plot, layer = self._plot(), self._layer()
        if plot is None or layer is None:
            return False
        reflectance = np.asarray(layer.data[:, y, x], dtype=np.float64)
        saliency = None
        if self.saliency is not None:
            sal = _band_data(self.saliency)
            if tuple(sal.shape) == tuple(layer.data.shape):
                saliency = np.asarray(sal[:, y, x], dtype=np.float64)
        plot.show_pixel(y, x, reflectance, saliency)
        return True

    def _on_press(self, viewer: Any, event: Any) -> None:
        if self.modifier not in {getattr(m, "name", str(m)) for m in event.modifiers}:
            return
        pixel = self.pixel_at(event.position)
        if pixel is not None and self.show(*pixel):
            self.mark(*pixel)

    def mark(self, y: int, x: int) -> None:
        """A cross on the picked pixel (`<cube> · picked pixel`, one Points layer per cube, moved on each pick), so
        the user sees which pixel the plotted spectra come from."""
        viewer, layer = self._viewer(), self._layer()
        if viewer is None or layer is None:
            return
        name = f"{layer.name} · picked pixel"
        if name in viewer.layers:
            viewer.layers[name].data = np.array([[y, x]], float)
            return
        from .result_layers import _keep_selection

        size = max(2.0, min(layer.data.shape[-2:]) / 25)
        with _keep_selection(viewer):
            viewer.add_points(np.array([[y, x]], float), name=name, symbol="cross", size=size, face_color="#00e5ff",
                              border_width=0, scale=tuple(layer.scale)[-2:], translate=tuple(layer.translate)[-2:])

    def disconnect(self) -> None:
        viewer = self._viewer()
        if viewer is not None and self._on_press in viewer.mouse_drag_callbacks:
            viewer.mouse_drag_callbacks.remove(self._on_press)


def link_plot_to_viewer(plot: SpectralPlotWidget, viewer: Any, layer: Any) -> BandLink:
    """Connect the plot's line and napari's band slider both ways; `link.disconnect()` undoes it."""
    return BandLink(plot, viewer, layer)


def install_pixel_picker(plot: SpectralPlotWidget, viewer: Any, layer: Any, saliency: Any = None) -> PixelPicker:
    """Shift-click on a pixel of `layer` plots its spectrum (and `saliency`'s T[:, y, x]) in `plot`."""
    return PixelPicker(plot, viewer, layer, saliency)


class SpectralDockLink:
    """Both connections of one dock, undone together when the dock is replaced."""

    def __init__(self, band: BandLink, pixels: PixelPicker) -> None:
        self.band = band
        self.pixels = pixels

    def disconnect(self) -> None:
        self.band.disconnect()
        self.pixels.disconnect()


def docked_widgets(viewer: Any) -> dict[str, Any]:
    """The widgets docked in `viewer`'s window, by dock name (the widgets themselves, not napari's proxies).

    `Window.dock_widgets` is public in recent napari; napari 0.5.1 has only the private map of dock frames, read
    here through the unwrapped viewer so that napari's plugin proxy does not warn a user about private access.
    """
    window = getattr(viewer, "__wrapped__", viewer).window
    docks = getattr(window, "dock_widgets", None)
    if docks is None:
        docks = getattr(window, "_dock_widgets", {})
    found = {}
    for name, dock in list(docks.items()):
        inner = dock.widget() if hasattr(dock, "widget") and callable(dock.widget) else dock
        found[name] = getattr(inner, "__wrapped__", inner)
    return found


def _find_dock(viewer: Any, name: str) -> Any:
    """The inner widget docked under `name`, or None."""
    return docked_widgets(viewer).get(name)


def add_spectral_dock(viewer: Any, curve: SpectralCurve, cube_layer: Any,
                      saliency: Any = None) -> tuple[SpectralPlotWidget, SpectralDockLink]:
    """Add the "Spectral importance" dock on the right (or show the new curve in the one already there), linked
    to `cube_layer`'s band axis.

    An existing dock is reused: it stays where the user put it, and napari's add_dock_widget (~0.3 s of GUI
    time in benchmarks/gui_latency.py) is skipped; a pixel it showed is re-plotted from the new saliency.
    Raises `FocusError` (nothing added) when the layer is not a (C, H, W) cube with the curve's band count.
    """
    steps = spectral_dock_steps(viewer, curve, cube_layer, saliency)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def spectral_dock_steps(viewer: Any, curve: SpectralCurve, cube_layer: Any, saliency: Any = None) -> Any:
    """`add_spectral_dock` as a generator returning (widget, link), for a caller that spreads it over event-loop turns.

    A dock that is there (a previous result's, or an empty one docked hidden ahead of time by `dock_hidden_plot`)
    draws the curve in parts, yielding after each (making the plot's items is 60-120 ms of GUI time the first
    time), then shows itself. Without one, the widget is made and docked in one go."""
    check_layer(cube_layer, curve)
    existing = _find_dock(viewer, DOCK_NAME)
    if existing is not None:
        old_link = getattr(existing, "link", None)
        if old_link is not None:
            old_link.disconnect()
            existing.link = None
    if isinstance(existing, SpectralPlotWidget):  # the curve updates the plot's items in place
        widget, pixel = existing, existing.pixel
        for _ in widget.curve_steps(curve):
            yield
    else:
        if existing is not None:
            viewer.window.remove_dock_widget(existing)
        pixel = None
        widget = SpectralPlotWidget(curve)
    link = SpectralDockLink(link_plot_to_viewer(widget, viewer, cube_layer),
                            install_pixel_picker(widget, viewer, cube_layer, saliency))
    widget.link = link
    if widget is existing:
        _show_dock_of(widget)
        h, w = cube_layer.data.shape[-2:]
        if pixel is not None and 0 <= pixel[0] < h and 0 <= pixel[1] < w:
            link.pixels.show(*pixel)
        else:
            widget.clear_pixel()
    else:
        viewer.window.add_dock_widget(widget, name=DOCK_NAME, area="right")
    return widget, link


def dock_hidden_plot(viewer: Any) -> SpectralPlotWidget:
    """Dock an empty Spectral importance widget, hidden, for the first result to fill and show.

    Docking is the expensive part of a new dock: napari's add_dock_widget lays out the window and, on the dock's
    `dockLocationChanged`, writes its settings file synchronously (`_update_default_dock_area`: 190-310 ms of GUI
    time in benchmarks/gui_latency.py). Done when the Explain dock opens, that is not paid while explain runs."""
    widget = SpectralPlotWidget()
    dock = viewer.window.add_dock_widget(widget, name=DOCK_NAME, area="right")
    dock.hide()  # in the same turn: never drawn empty
    return widget


def dock_of(widget: Any) -> Any:
    """The QDockWidget holding `widget` (napari wraps it in containers), or None when it is not docked."""
    from qtpy.QtWidgets import QDockWidget

    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def _show_dock_of(widget: Any) -> None:
    """Make the dock holding `widget` visible again (the user may have hidden it)."""
    dock = dock_of(widget)
    if dock is not None and dock.isHidden():
        dock.show()


__all__ = [
    "DOCK_NAME", "PIXEL_MODIFIER", "BandLink", "PixelPicker", "SpectralDockLink", "add_spectral_dock", "band_axis",
    "check_layer", "dock_hidden_plot", "dock_of", "install_pixel_picker", "link_plot_to_viewer", "spectral_dock_steps",
]
