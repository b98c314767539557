"""What the Explain dock reads from the viewer before a run, and the inputs it refuses.

The cube layers it offers, the chosen layer as a `Cube` (refused with one notification, never a
traceback), the leaf mask painted or shipped for it, and what a chosen checkpoint offers (its classes,
the demonstration note). Kept out of `explain_dock.py`, which wires widgets and runs the worker; the
Fine-tune dock's training-set editor reads the same cube layers from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..cube import Cube
from ..errors import FocusError
from .result_layers import leaf_mask_names

NO_EMBEDDED = "No embedded model is installed: open a checkpoint folder."


def cube_layers(viewer: Any) -> list[Any]:
    """Image layers with a band axis: (C, H, W), not RGB, not our own saliency."""
    return [lyr for lyr in viewer.layers if lyr._type_string == "image" and lyr.ndim == 3 and not lyr.rgb
            and lyr.metadata.get("napari_focus") != "saliency"]


def cube_or_refuse(layer: Any) -> Cube | None:
    """The chosen layer as a checked Cube (`input_check`), or None after a notification saying why it cannot be
    explained; what the check assumed (e.g. reflectance × 10 000) is shown as a warning."""
    from napari.utils.notifications import show_error, show_warning

    from ..input_check import check_input, input_notes

    if layer is None:
        show_error("napari-focus: open a hyperspectral cube (an image layer with a band axis) first")
        return None
    try:
        cube = Cube.from_layer(layer.data, layer.metadata)
    except ValueError as exc:
        show_error(f"napari-focus: layer {layer.name!r} is not a cube: {exc}")
        return None
    try:
        cube = check_input(cube, cube.source or f"layer {layer.name!r}")
    except FocusError as exc:
        show_error(f"napari-focus will not explain it: {exc}")
        return None
    for note in input_notes(cube):
        show_warning(f"napari-focus: {layer.name}: {note}")
    return cube


def user_leaf_mask(viewer: Any, layer: Any) -> np.ndarray | None:
    """The leaf mask layer of this cube (painted by the user, or shipped with a sample), if usable."""
    for name in leaf_mask_names(layer.name):
        if name in viewer.layers:
            mask = np.asarray(viewer.layers[name].data) > 0
            if mask.shape == tuple(layer.data.shape[-2:]) and mask.any():
                return mask
    return None


def resolved_model(data: Any, layer: Any) -> Path | None:
    """The checkpoint folder a model-box choice means: its own folder, else the default for this cube (None when
    there is none)."""
    if data:
        return Path(data)
    from ..explain_job import default_checkpoint

    cube = None if layer is None else Cube.from_layer(layer.data, layer.metadata)
    try:
        return default_checkpoint(cube)
    except FocusError:
        return None


def model_offer(data: Any, layer: Any) -> tuple[list[str], str]:
    """(classes, note) of a model-box choice: an in-memory model's classes, else its checkpoint's config.json;
    the note says when it is the demonstration model or when there is no model at all."""
    from ..explain_job import DEMO_BACKBONE_NOTE, on_demo_backbone, remembered

    kept = remembered(data)
    folder = None if kept is not None else resolved_model(data, layer)
    classes: list[str] = list(kept.classes) if kept is not None else []
    note = DEMO_BACKBONE_NOTE if kept is not None and on_demo_backbone(kept) else ""
    if folder is not None:
        try:
            classes = list(json.loads((folder / "config.json").read_text()).get("classes", []))
        except (OSError, ValueError, AttributeError, RecursionError):  # not ours: loading it says why
            classes = []
        from ..explain_job import DEMO_NOTE, is_embedded

        if is_embedded(folder):
            note = DEMO_NOTE
    elif data is None:
        note = NO_EMBEDDED
    return classes, note
