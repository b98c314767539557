"""The Explain dock's result as napari layers: the saliency layers (added, or refilled in place) and the leaf mask.

Each step adds one layer and yields its name, so that the dock can spread them over event-loop turns
(`ExplainDock._show_in_turns`): a napari layer add and its first draw cost 0.1-0.4 s of GUI time each.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def leaf_mask_name(cube_name: str) -> str:
    """`<cube> · leaf mask`: the name the sample data ships it under, so every cube's mask reads the same."""
    from .._sample_data import MASK_NAMES

    return f"{cube_name} · {MASK_NAMES['leaf']}"


def leaf_mask_names(cube_name: str) -> tuple[str, str]:
    """The names a cube's leaf mask may have: today's, and the one earlier versions of the dock gave it."""
    return leaf_mask_name(cube_name), f"leaf mask · {cube_name}"


def refill(layer: Any, data: Any, kwargs: dict) -> bool:
    """Put a new result into an existing saliency layer of the same dimensionality (False: replace it instead).

    A re-run for the same class then costs no layer removal (napari runs gc.collect() there: 0.3–1.4 s of GUI
    time in benchmarks/gui_latency.py) and no new visual or controls; the user's display settings stay.
    """
    from napari.layers import Image

    if not isinstance(layer, Image) or layer.rgb or layer.ndim != np.ndim(data):
        return False
    if "scale" in kwargs:
        layer.scale = kwargs["scale"]
    if "translate" in kwargs:
        layer.translate = kwargs["translate"]
    layer.metadata = kwargs["metadata"]
    layer.data = data
    layer.contrast_limits_range = kwargs["contrast_limits"]
    layer.contrast_limits = kwargs["contrast_limits"]
    return True


@contextlib.contextmanager
def _private_access() -> Iterator[None]:
    """Read napari's private attributes below without napari 0.9's FutureWarning about it.

    napari turns warnings into notifications, so a user would see "Private attribute access … is deprecated" on their
    first explain: nothing they can act on. The accesses are deliberate and guarded (each falls back to napari's
    public behaviour when the attribute is gone), and the warning is silenced only around them.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Private attribute access", category=FutureWarning)
        yield


@contextlib.contextmanager
def _keep_selection(viewer: Any) -> Iterator[None]:
    """Add layers without making each the active one (the cube stays selected, as the dock leaves it anyway).

    napari activates an inserted layer, which swaps the layer-controls panel twice per layer (to it, and back to
    the cube at the end): 30-60 ms of GUI time per layer here. The switch is napari's private `_activate_on_insert`;
    without it (another napari), layers are added as before.
    """
    layers = viewer.layers
    with _private_access():
        before = getattr(layers, "_activate_on_insert", None)
        if isinstance(before, bool):
            layers._activate_on_insert = False
    try:
        yield
    finally:
        if isinstance(before, bool):
            with _private_access():
                layers._activate_on_insert = before


@contextlib.contextmanager
def _window_paused(viewer: Any) -> Iterator[None]:
    """Hold the main window's repaints while the result's layers go in, then repaint once.

    Each insertion posts the window's repaint, and with software OpenGL every repaint composes napari's canvas
    (20-140 ms at 1600x1000 here); Qt runs it right after the insertion's own 60-100 ms, before any timer: one stall
    of both per layer. Pausing the canvas alone still left the rest of the window's repaint in each stall; the whole
    window paused, the first click had no gap over 100 ms in 4 alternating quiet runs of 4, against 2 of 4 with the
    canvas alone (longest 66-93 ms against 78-161 ms; benchmarks/gui_latency.py). The window is napari's private
    `window._qt_window`; without it, nothing is paused.
    """
    with _private_access():
        window = getattr(viewer.window, "_qt_window", None)
    if window is None or not hasattr(window, "setUpdatesEnabled") or not window.updatesEnabled():
        yield
        return
    window.setUpdatesEnabled(False)
    try:
        yield
    finally:
        window.setUpdatesEnabled(True)
        window.update()


def build_layers(layer_data: list[tuple], leaf_mask: np.ndarray | None = None, scale: Any = None,
                 translate: Any = None) -> dict[str, Any]:
    """The result's napari layer objects, made off the GUI thread (the worker calls this; no Qt involved).

    Saliency layers by name, and the leaf mask under "" (the dock names it after the cube): constructing them
    (colormap, transforms, evented fields) is 5-30 ms of GUI time each that the insertion then does not pay.
    """
    from napari.layers import Image

    layers: dict[str, Any] = {kwargs["name"]: Image(data, **kwargs) for data, kwargs, kind in layer_data
                              if kind == "image"}
    if leaf_mask is not None:
        layers[""] = _mask_layer(leaf_mask, scale, translate)
    return layers


def _mask_layer(leaf_mask: np.ndarray, scale: Any, translate: Any, name: str = "") -> Any:
    from napari.layers import Labels

    return Labels(np.ascontiguousarray(leaf_mask, dtype=np.uint8), name=name, opacity=0.25, visible=False,
                  scale=None if scale is None else tuple(scale)[-2:],
                  translate=None if translate is None else tuple(translate)[-2:])


def build_leaf_mask(data: Any, metadata: dict) -> Any:
    """The cube's leaf mask (docs/method.md §2) as a napari Labels layer, made off the GUI thread; None when
    the cube has no red and NIR bands or no leaf was found (explain then falls back as it always did and says so).

    A thread, because reading the red and NIR bands of a large band-interleaved file touches all of it.
    """
    from ..cube import Cube
    from ..vegetation import covers_ndvi, leaf_mask

    try:
        cube = Cube.from_layer(data, metadata)
        if cube.wavelengths_nm is None or not covers_ndvi(cube.wavelengths_nm):
            return None  # only the vegetation (NDVI) mask ahead of time; explain's fallbacks say what they did
        mask = np.asarray(leaf_mask(cube.data, cube.wavelengths_nm), dtype=bool)
    except Exception:  # noqa: BLE001 (no wavelengths, not a cube…: the Explain click says why)
        return None
    if mask.shape != tuple(np.shape(data)[-2:]) or not mask.any():
        return None
    return _mask_layer(mask, None, None)


def add_leaf_mask(viewer: Any, cube: Any, mask: Any) -> str | None:
    """Put a mask from `build_leaf_mask` in the viewer for `cube` unless it has one (or is gone); its name or None.

    The dock shows it as soon as it has a cube, before any explain: the user sees (and can correct, it is a Labels
    layer) the mask the run will use, and the first explain inserts one napari layer fewer (a Labels layer's
    overlays are the costliest insertion: benchmarks/gui_latency.py).
    """
    if mask is None or cube not in viewer.layers or any(n in viewer.layers for n in leaf_mask_names(cube.name)):
        return None
    if tuple(mask.data.shape) != tuple(cube.data.shape[-2:]):
        return None  # the cube layer's data changed meanwhile
    mask.name = leaf_mask_name(cube.name)
    mask.scale, mask.translate = tuple(cube.scale)[-2:], tuple(cube.translate)[-2:]  # as the cube is now
    with _keep_selection(viewer):
        viewer.layers.append(mask)
    return mask.name


class LeafMaskOffer:
    """Shows the picked cube's leaf mask ahead of any explain: computed by `build_leaf_mask` in a napari worker, added
    by `add_leaf_mask`; one worker at a time, then again for whichever cube is picked by then; once per cube layer
    (a mask the user deleted stays deleted until an explain adds it)."""

    def __init__(self, viewer: Any, picked_cube: Callable[[], Any]) -> None:
        self.viewer = viewer
        self.picked_cube = picked_cube
        self.worker: Any = None
        self._tried: weakref.WeakSet = weakref.WeakSet()

    def offer(self) -> None:
        layer = self.picked_cube()
        if (layer is None or layer in self._tried or self.worker is not None
                or any(name in self.viewer.layers for name in leaf_mask_names(layer.name))):
            return
        self._tried.add(layer)
        from napari.qt.threading import create_worker

        def shown(mask: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the viewer closed meanwhile: its Qt objects are gone
                add_leaf_mask(self.viewer, layer, mask)

        def done() -> None:
            self.worker = None
            with contextlib.suppress(RuntimeError):  # the dock was closed meanwhile
                self.offer()

        self.worker = create_worker(build_leaf_mask, layer.data, dict(layer.metadata), _start_thread=False)
        self.worker.returned.connect(shown)
        self.worker.finished.connect(done)
        self.worker.start()


def add_result_layers(viewer: Any, cube: Any, leaf_mask: np.ndarray, layer_data: list[tuple],
                      built: dict[str, Any] | None = None) -> Iterator[str]:
    """Add (or refill) the saliency layers directly above `cube`, then its leaf mask unless it has one; yield each
    layer's name.

    `built`: layers made by `build_layers` for this data (off the GUI thread); anything missing is made here.
    """
    built = built or {}
    with _window_paused(viewer):
        yield from _add_layers(viewer, cube, leaf_mask, layer_data, built)


def _place_above(viewer: Any, layer: Any, below: Any) -> None:
    """Move `layer` to sit directly above `below` in the layer list (drawn over it, under everything else)."""
    layers = viewer.layers
    src, dest = layers.index(layer), layers.index(below) + 1
    if src != dest:
        layers.move(src, dest)  # "before dest" in the indices before the move, either direction


def _add_layers(viewer: Any, cube: Any, leaf_mask: np.ndarray, layer_data: list[tuple],
                built: dict[str, Any]) -> Iterator[str]:
    from napari.layers import Image

    below = cube  # T directly above its cube, then its map above T
    for data, kwargs, _ in layer_data:
        name = kwargs["name"]
        old = viewer.layers[name] if name in viewer.layers else None  # noqa: SIM401 (LayerList has no .get)
        if old is None or not refill(old, data, kwargs):
            if old is not None:
                viewer.layers.remove(old)
            new = built.get(name)
            if new is None:
                new = Image(data, **kwargs)
            with _keep_selection(viewer):
                viewer.layers.insert(viewer.layers.index(below) + 1, new)
            old = new
        else:
            _place_above(viewer, old, below)
        below = old
        yield name
    mask_name = leaf_mask_name(cube.name)
    if not any(name in viewer.layers for name in leaf_mask_names(cube.name)):
        mask = built.get("")
        if mask is None:
            mask = _mask_layer(leaf_mask, cube.scale, cube.translate)
        mask.name = mask_name
        with _keep_selection(viewer):
            viewer.layers.append(mask)
        yield mask_name
