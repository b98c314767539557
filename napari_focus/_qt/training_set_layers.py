"""The training-set editor's choices applied to the viewer's layers: the samples' labels and the `TrainingSet`.

No widgets: `training_set_editor.py` keeps the tables, drop-downs and the live summary; this reads layers by
name and hands them to the core (`training_set`), which crops and refuses. `assign` maps an image layer to
its class (or target), `pairs` a Labels layer to the image it was painted on, `legend` a label value to a class.
"""

from __future__ import annotations

from typing import Any

from ..cube import Cube
from ..errors import FocusError
from ..training_set import TrainingSet, parse_target, region_counts, spatial_labels
from .explain_inputs import cube_layers


def _layer(viewer: Any, name: str) -> Any:
    try:
        return viewer.layers[name]
    except KeyError:
        return None


def _cube(layer: Any) -> Cube:
    return Cube.from_layer(layer.data, layer.metadata)


def used_pairs(viewer: Any, pairs: dict[str, str]) -> list[tuple[Any, Any]]:
    """(labels layer, image layer) of every pair whose two layers are still open."""
    out = []
    for lab_name, img_name in pairs.items():
        lab, img = _layer(viewer, lab_name), _layer(viewer, img_name)
        if lab is not None and img is not None:
            out.append((lab, img))
    return out


def sample_label(task: str, text: str, what: str) -> Any:
    """A chosen label as the task wants it: the class name, or the target parsed (FocusError naming `what`)."""
    return parse_target(text, what) if task == "regression" else text


def cube_labels(viewer: Any, task: str, assign: dict[str, str]) -> list[Any]:
    """The label of every whole cube that has one, in layer order."""
    return [sample_label(task, assign[name], f"cube {name!r}")
            for name in [lyr.name for lyr in cube_layers(viewer)] if name in assign]


def region_labels(viewer: Any, task: str, pairs: dict[str, str], legend: dict[int, str],
                  values: dict[int, int]) -> list[Any]:
    """The label of every painted region the legend names, without cropping anything.

    `values` is filled with the regions each label value has, over every used pair: the legend shows them even
    when a later pair is refused.
    """
    labels: list[Any] = []
    for lab, img in used_pairs(viewer, pairs):
        counts = region_counts(spatial_labels(lab.data, _cube(img), lab.name, img.name))
        if not counts:
            raise FocusError(f"labels {lab.name!r} are empty: paint at least one region on {img.name!r}")
        for value, n in counts.items():
            values[value] = values.get(value, 0) + n
            if value in legend:
                labels += [sample_label(task, legend[value], f"label {value}")] * n
    return labels


def build_training_set(viewer: Any, task: str, mode: str, assign: dict[str, str], pairs: dict[str, str],
                       legend: dict[int, str]) -> TrainingSet:
    """The training set of whole cubes (`mode` "cubes") or painted regions; crops read only their windows."""
    ts = TrainingSet(task)
    if mode == "cubes":
        for layer in cube_layers(viewer):
            if layer.name in assign:
                ts.add_cube(layer.name, _cube(layer), assign[layer.name])
    else:
        for lab, img in used_pairs(viewer, pairs):
            ts.add_regions(img.name, _cube(img), lab.data, legend, labels_name=lab.name)
    ts.check()
    return ts
