"""The calibrated readout's reference (docs/method.md, "The spectral curve"): per-group class margins measured on
training leaves and stored with the checkpoint.

Why: a group's raw class margin z_c,g − mean_k z_k,g carries an offset that every leaf shares (a group can favour
one class on every leaf, diseased or not). Taken as the group's weight, that offset decides the curve on every leaf
and hides the groups whose evidence actually changed. Subtracting what the margin is on leaves that are *not* of
the class leaves only the part this leaf adds: the group's evidence for the class.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from napari_focus.focus.model import FocusModel


def group_margins(model: FocusModel, group_logits: torch.Tensor) -> torch.Tensor:
    """(B, K, G) → each class's per-group margin over the mean of all classes (regression: the output itself)."""
    z = group_logits.float()
    if model.task == "regression" or z.shape[1] == 1:
        return z
    return z - z.mean(1, keepdim=True)


@torch.no_grad()
def fit_margin_reference(model: FocusModel, x: torch.Tensor, y: torch.Tensor, batch_size: int = 16,
                         should_stop: Callable[[], bool] | None = None) -> torch.Tensor | None:
    """Measure and set `model.margin_ref` (K, G) on training cubes x (n, C, S, S) with labels y; returns it.

    Classification: row c is the mean margin of class c over the leaves of the *other* classes, each class
    weighted alike (so a frequent class does not set the reference alone). Regression: the mean output per group.
    A class without leaves of other classes (one class only) gets the mean over every leaf. None when stopped.
    """
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts = []
    for i in range(0, len(x), batch_size):
        if should_stop is not None and should_stop():
            model.train(was_training)
            return None
        parts.append(group_margins(model, model(x[i:i + batch_size].to(dev)).group_logits).cpu())
    model.train(was_training)
    m = torch.cat(parts)  # (n, K, G)
    if model.task == "regression" or m.shape[1] == 1:
        ref = m.mean(0)
    else:
        labels = y.reshape(-1).long().cpu()
        present = [k for k in range(m.shape[1]) if bool((labels == k).any())]
        per_class = {k: m[labels == k].mean(0) for k in present}  # (K, G) mean margins on class-k leaves
        rows = []
        for c in range(m.shape[1]):
            others = [per_class[k][c] for k in present if k != c]
            rows.append(torch.stack(others).mean(0) if others else m[:, c].mean(0))
        ref = torch.stack(rows)
    model.margin_ref = ref.to(dev)
    return ref
