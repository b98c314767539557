"""Show `band 97 · 742.3 nm` in the viewer while the band slider moves (docs/method.md §2).

Installed once per viewer by the reader, the sample data and the docks; it follows the active cube
layer (or the first one) and writes napari's text overlay.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .cube import band_label
from .layers import find_band_axis_layer

_INSTALLED: weakref.WeakSet = weakref.WeakSet()


def current_band(viewer: Any, layer: Any) -> int:
    """The band index of `layer` that the viewer's dims currently show."""
    point = np.asarray(viewer.dims.point, dtype=float)[-layer.ndim:]
    band = int(round(float(layer.world_to_data(point)[0])))
    return int(np.clip(band, 0, layer.data.shape[0] - 1))


def cube_layer(viewer: Any) -> Any:
    active = viewer.layers.selection.active
    if active is not None and "wavelengths_nm" in active.metadata and active.ndim == 3:
        return active
    return find_band_axis_layer(viewer.layers)


def text_overlay(viewer: Any) -> Any:
    """napari ≥ 0.9 keeps the text overlay in `viewer.canvas.overlays`; older versions on the viewer."""
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    if overlays is not None and "text" in overlays:
        return overlays["text"]
    return viewer.text_overlay


def update_band_label(viewer: Any) -> str:
    overlay = text_overlay(viewer)
    layer = cube_layer(viewer)
    if layer is None:
        overlay.visible = False
        return ""
    text = band_label(current_band(viewer, layer), layer.metadata.get("wavelengths_nm"))
    overlay.text = text
    overlay.visible = True
    return text


def install_band_label(viewer: Any) -> None:
    """Connect the label to the viewer once; safe to call many times."""
    if viewer is None or viewer in _INSTALLED:
        return
    _INSTALLED.add(viewer)
    ref = weakref.ref(viewer)

    def _update(*_: Any) -> None:
        v = ref()
        if v is not None:
            update_band_label(v)

    viewer.dims.events.current_step.connect(_update)
    viewer.layers.events.inserted.connect(_update)
    viewer.layers.events.removed.connect(_update)
    viewer.layers.selection.events.active.connect(_update)
    text_overlay(viewer).position = "top_left"
    text_overlay(viewer).font_size = 12
    _update()
