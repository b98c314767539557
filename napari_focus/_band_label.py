"""Show `band 97 · 742.3 nm` in the viewer while the band slider moves (docs/method.md §2).

Installed once per viewer by the reader, the sample data and the docks; it writes napari's text overlay for the
active cube layer, else the cube under the cursor, else the topmost visible cube: cubes from different sensors
share the slider but not their wavelengths, and a selected mask or points layer has no bands of its own.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .cube import band_label

_INSTALLED: weakref.WeakSet = weakref.WeakSet()


def current_band(viewer: Any, layer: Any) -> int:
    """The band index of `layer` that the viewer's dims currently show."""
    point = np.asarray(viewer.dims.point, dtype=float)[-layer.ndim:]
    band = int(round(float(layer.world_to_data(point)[0])))
    return int(np.clip(band, 0, layer.data.shape[0] - 1))


def _is_cube(layer: Any) -> bool:
    """A (C, H, W) image layer: a cube, or a saliency cube laid over one (it carries its cube's wavelengths)."""
    return (hasattr(layer, "rgb") and hasattr(layer, "contrast_limits") and getattr(layer, "ndim", 0) == 3
            and not layer.rgb)


def _under(layer: Any, position: Any) -> bool:
    """Whether the world `position` (all dims) falls on one of the layer's pixels."""
    point = np.asarray(position, dtype=float)[-layer.ndim:]
    if point.size < layer.ndim:
        return False
    y, x = np.asarray(layer.world_to_data(point), dtype=float)[-2:]
    h, w = layer.data.shape[-2:]
    return bool(-0.5 <= y < h - 0.5 and -0.5 <= x < w - 0.5)


def cube_layer(viewer: Any) -> Any:
    """The cube whose band the label names: the active one, the topmost visible one under the cursor, the topmost
    visible one, the topmost one; None without any."""
    active = viewer.layers.selection.active
    if _is_cube(active):
        return active
    cubes = [lyr for lyr in reversed(viewer.layers) if _is_cube(lyr) and lyr.metadata.get("napari_focus") != "saliency"]
    visible = [lyr for lyr in cubes if lyr.visible]
    under = [lyr for lyr in visible if _under(lyr, viewer.cursor.position)]
    for found in (under, visible, cubes):
        if found:
            return found[0]
    return None


def text_overlay(viewer: Any) -> Any:
    """napari ≥ 0.9 keeps the text overlay in `viewer.canvas.overlays`; older versions on the viewer."""
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    if overlays is not None and "text" in overlays:
        return overlays["text"]
    return viewer.text_overlay


# every character `cube.band_label` writes
LABEL_CHARACTERS = "band 0123456789·.nm"


def _label_font(viewer: Any) -> Any:
    """The glyph atlas napari's canvas draws the band label with; None when this napari keeps it elsewhere.

    Read through the unwrapped viewer: napari's plugin proxy would warn a user about private access."""
    viewer = getattr(viewer, "__wrapped__", viewer)
    try:
        canvas = viewer.window._qt_viewer.canvas
        for visual in canvas._viewer_overlay_to_visual.get(text_overlay(viewer), []):
            node = visual.node
            return node._font_manager.get_font(node._face, node._bold, node._italic)
    except (AttributeError, KeyError, TypeError):
        return None
    return None


def glyph_loads(viewer: Any) -> list[Callable[[], None]]:
    """One call per label character the canvas has not drawn yet, each rendering that glyph into the label's atlas.

    napari renders a glyph the first time a label needs it, inside a canvas repaint (~10 ms each with the software
    renderer here); the slider's jump to the curve's top band after a result needs new digits, and their rendering
    made the result's last repaint the longest stall of an explain (benchmarks/gui_latency.py). A dock runs these
    one per event-loop turn ahead of time. Empty when napari's font internals are not where this napari keeps them:
    the label then draws its glyphs as before.
    """
    font = _label_font(viewer)
    if font is None or not hasattr(font, "_glyphs"):
        return []
    return [lambda ch=ch: font[ch] for ch in LABEL_CHARACTERS if ch not in font._glyphs]


def update_band_label(viewer: Any) -> str:
    overlay = text_overlay(viewer)
    layer = cube_layer(viewer)
    if layer is None:
        overlay.visible = False
        return ""
    text = band_label(current_band(viewer, layer), layer.metadata.get("wavelengths_nm"))
    if overlay.text != text:  # the cursor moves often; the overlay redraws only when the words change
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
    viewer.cursor.events.position.connect(_update)  # the cube under the cursor may change
    viewer.layers.events.inserted.connect(_update)
    viewer.layers.events.removed.connect(_update)
    viewer.layers.events.moved.connect(_update)
    viewer.layers.selection.events.active.connect(_update)
    text_overlay(viewer).position = "top_left"
    text_overlay(viewer).font_size = 12
    _update()
