"""Second opinions on the same trained FOCUS model (docs/method.md §6): gradient × input and Grad-CAM.

Both explain the class logit z_c with one backward pass and return the same `Explanation` as FOCUS.
Grad-CAM (the `grad-cam` library) reads the last block's `norm1` (its output is exactly zero for
the head, docs/method.md §6), with the group axis folded into channels; its band curve is gradient × input's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from napari_focus.focus.explain import (
    Explanation,
    _prediction,
    finish,
    outer,
    resolve_class,
    to_cube_saliency,
)
from napari_focus.focus.inputs import PreparedCube
from napari_focus.focus.model import FocusModel


class _Logits(nn.Module):
    """FocusModel → logits, keeping the (grad-requiring) input so one backward also gives ∂z/∂X."""

    def __init__(self, model: FocusModel) -> None:
        super().__init__()
        self.model = model
        self.last_input: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last_input = x.detach().clone().requires_grad_(True)
        return self.model(self.last_input).logits


def _cam_reshape(model: FocusModel):
    gh, gw = model.grid
    G, p0, n = model.groups.n_groups, model.patch_start, model.seq_patches

    def reshape(t: torch.Tensor) -> torch.Tensor:  # (B·G, L+K, d), or (B, L+G·K, d) for one joint sequence
        d = t.shape[-1]
        patches = t[:, p0 : p0 + n].reshape(-1, G, gh, gw, d)
        return patches.permute(0, 1, 4, 2, 3).reshape(-1, G * d, gh, gw)

    return reshape


def explain_baseline(
    model: FocusModel, prep: PreparedCube, class_index: int | str | None, method: str, leaf: np.ndarray
) -> Explanation:
    """Gradient × input (`gradxinput`) or Grad-CAM (`gradcam`) for one class of one cube."""
    wrapper = _Logits(model).eval()
    dev = next(model.parameters()).device
    x = prep.x[None].to(dev)
    with torch.inference_mode():
        vals = model.predict_values(model(x).logits)[0].cpu().numpy()
    c = resolve_class(model, class_index, vals)
    with torch.enable_grad():
        if method == "gradcam":
            from pytorch_grad_cam import GradCAM
            from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

            with GradCAM(model=wrapper, target_layers=[model.backbone.blocks[-1].norm1],
                         reshape_transform=_cam_reshape(model)) as cam:
                m = cam(input_tensor=x, targets=[ClassifierOutputTarget(c)])[0]  # (S, S) in [0, 1]
        else:
            z = wrapper(x)[0, c]
            z.backward()
    xin = wrapper.last_input
    gxi = (xin.grad * xin.detach()).abs()[0] if xin.grad is not None else torch.zeros_like(xin[0])
    T = to_cube_saliency(gxi, model, prep, leaf)
    if method == "gradcam":
        mt = torch.as_tensor(np.asarray(m, np.float32))[None, None]
        mt = torch.nn.functional.interpolate(mt, size=prep.hw, mode="bilinear", align_corners=False)[0, 0]
        T = outer(mt.clamp_min(0).numpy() * leaf, finish(T, leaf)[1], leaf)
    M, B = finish(T, leaf)
    pred = _prediction(model, vals)
    return Explanation(T=T, M=M, B=B, probabilities=vals, predicted=pred["predicted"], class_index=c,
                       class_name=model.classes[c], method=method, rule=method, wavelengths_nm=None,
                       leaf_mask=leaf)
