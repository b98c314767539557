"""The docs/method.md §4 metrics of a FOCUS model over a dataset's held-out leaves (true class, inside the leaf)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from napari_focus.cube import Cube
from napari_focus.focus.explain import explain
from napari_focus.focus.model import FocusModel


def _ground_truth(gt: dict[str, Any], name: str, wl_cube: np.ndarray | None) -> dict[str, Any]:
    """This class's (or trait's) true band curve / top bands, when the dataset's bands are the cube's."""
    out: dict[str, Any] = {}
    gwl = gt.get("wavelengths_nm")
    same = gwl is not None and wl_cube is not None and len(gwl) == len(wl_cube) and np.allclose(gwl, wl_cube, atol=0.5)
    if same or gwl is None:
        if name in (gt.get("gt_top5_band") or {}):
            out["top_bands"] = list(gt["gt_top5_band"][name])
        if name in (gt.get("sensitivity") or {}):
            out["sensitivity"] = np.asarray(gt["sensitivity"][name], float)
    return out


def logit_fn(model: FocusModel, class_index: int, wavelengths_nm: np.ndarray | None,
             leaf: np.ndarray | None = None) -> Callable[[np.ndarray], float]:
    """score_fn for spectral deletion: the class logit of a (C, H, W) array, seen through the explanation's leaf
    mask `leaf` (deleting bands must not move the mask)."""
    import torch

    from napari_focus.focus.inputs import prepare_cube

    def score(data: np.ndarray) -> float:
        prep = prepare_cube(model, Cube(np.asarray(data, np.float32), wavelengths_nm=wavelengths_nm), leaf=leaf)
        with torch.inference_mode():
            return float(model(prep.x[None].to(next(model.parameters()).device)).logits[0, class_index])

    return score


def evaluate(
    model: FocusModel,
    dataset: Any,
    split: str = "test",
    rule: str | None = None,
    method: str = "focus",
    deletion_random: int = 5,
    max_items: int | None = None,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    on_item: Callable[[Any, Any, dict[str, Any]], None] | None = None,
    faithfulness: bool = False,
) -> dict[str, Any]:
    """Accuracy (or MSE/R²) and the means of every saliency metric over the split's items.

    `faithfulness`: also heal each diseased leaf's lesion group by group and window by window (focus/
    faithfulness.py; about 30 forward passes a leaf) and score the curve against the margin drops.

    `on_item(item, explanation, truth)` sees each leaf's explanation and ground truth, for callers
    that need more than the means (the benchmark's rank correlations and sanity checks).
    """
    from napari_focus import metrics as mt
    from napari_focus import spectral_deletion as sd

    items = dataset.split(split) or list(dataset)
    items = items[:max_items] if max_items else items
    gt = getattr(dataset, "ground_truth", {}) or {}
    rows: list[dict[str, float]] = []
    diseased: list[bool] = []
    y_true, y_pred, deletions = [], [], []
    for i, it in enumerate(items):
        cube = it.cube()
        if model.task == "classification":
            c = model.classes.index(it.label)
            name = it.label
        else:
            c, name = 0, (gt.get("trait") or model.classes[0])
        truth = _ground_truth(gt, name, cube.wavelengths_nm)
        lesion = it.lesion_mask()
        if lesion is not None:
            truth["lesion_mask"] = lesion
        if (true_leaf := it.leaf_mask()) is not None:
            truth["leaf_mask"] = true_leaf  # scores only: the model sees the leaf through the vegetation mask
        diseased.append(lesion is not None and bool(lesion.any()))
        exp = explain(model, cube, class_index=c, method=method, rule=rule, ground_truth=truth)
        if faithfulness and diseased[-1]:
            from napari_focus.focus.faithfulness import heal_faithfulness

            found = heal_faithfulness(model, cube, c, exp.B, lesion, exp.leaf_mask)
            exp.metrics.update({k: v for k, v in found.items() if not k.endswith("_drops")})
        y_true.append(it.label if model.task == "classification" else it.target)
        y_pred.append(exp.predicted)
        rows.append(exp.metrics)
        if on_item is not None:
            on_item(it, exp, truth)
        if deletion_random > 0:
            score = logit_fn(model, c, cube.wavelengths_nm, exp.leaf_mask)
            deletions.append(sd.spectral_deletion(score, np.asarray(cube.data), exp.B, cube.wavelengths_nm,
                                                  n_random=deletion_random, rng=i))
        if progress is not None:
            progress(i + 1, len(items), {"item": str(it.path)})
    res: dict[str, Any] = {"split": split, "n": len(items), "method": method,
                           "rule": rule or model.saliency_rule or "default", "model_sha256": model.checkpoint_sha256}
    if model.task == "classification":
        res["accuracy"] = mt.accuracy(y_true, y_pred)
    else:
        res.update(mt.regression_scores(y_true, y_pred))
    res.update(mt.leaf_means(rows, counts=True))
    res.update(mt.diseased_curve_means(rows, diseased))
    if deletions:
        res["spectral_deletion"] = sd.aggregate_deletion(deletions)
    return res
