"""The `blind` group weight's reference (docs/method.md, "The spectral curve"): the margin each group's prompts give
when they cannot attend to the leaf patches that deviate in that group, in the same forward pass.

Why: the `calibrated` weight measures a group's margin against one stored number per group, the same for every leaf,
so what moves a whole leaf (its colour, the light) moves the weights; the `typical` weight measures it against the
same leaf with nothing deviating, which costs a second backbone pass. Hiding the deviating patches from the prompts
asks the same question inside the pass: the backbone's keys and values are reused and only the prompts run again.
Deviation is the model's own (input_deviation.py: the group token's change at a pixel over its leaf median); no lesion
mask and no wavelength is involved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from napari_focus.errors import FocusError
from napari_focus.focus.input_deviation import input_deviation
from napari_focus.focus.inputs import mask_on_input
from napari_focus.focus.readout import NEEDS_BLIND, NEEDS_WINDOWS, RULES

#: a leaf patch whose mean deviation in group g exceeds this × the leaf's median is hidden from group g's prompts;
#: chosen on tuning leaves among 1–4 (docs/benchmarks.md, "A one-pass group weight from the same pass")
HIDE_ABOVE = 1.5


def hidden_patches(model: Any, deviation: torch.Tensor | None, leaf_patches: torch.Tensor) -> torch.Tensor:
    """(G, N) bool: the leaf patches whose mean deviation in each group exceeds HIDE_ABOVE; none when there is no
    deviation (a leaf that vanishes at the input). The mean is over all of a patch's pixels: at the leaf's edge the
    background pixels count (their deviation from the leaf median is large), so edge patches are often hidden too;
    the threshold was chosen with that."""
    G = model.groups.n_groups
    on = leaf_patches.cpu().bool()
    if deviation is None:
        return torch.zeros(G, on.numel(), dtype=torch.bool)
    patch = F.adaptive_avg_pool2d(deviation.float()[None], model.grid)[0].flatten(1)  # (G, N)
    return (patch > HIDE_ABOVE) & on[None]


def blind_group_logits(model: Any, out: Any, hidden: torch.Tensor) -> torch.Tensor:
    """(K, G) item 0's group logits with group g's prompts blind to its `hidden` patches (from `forward(keep_kv=True)`).
    With nothing hidden they equal the forward pass's."""
    if model.joint or out.block_kv is None:
        raise FocusError("the blind group weight needs one sequence per group and the pass's keys and values")
    kv = [(k[: model.groups.n_groups], v[: model.groups.n_groups]) for k, v in out.block_kv]  # item 0
    L = kv[0][0].shape[2]
    bias = torch.zeros(model.groups.n_groups, 1, 1, L, device=kv[0][0].device)
    p0 = model.patch_start
    bias[:, 0, 0, p0 : p0 + hidden.shape[1]] = torch.where(hidden.to(bias.device), float("-inf"), 0.0)
    with torch.no_grad():  # a readout: the pass's keys and values may be inference tensors
        return model.prompt_logits(kv, bias, as_forward=True)[0]


def needs_kv(*rules: str) -> bool:
    """Whether the pass must keep its keys and values (`forward(keep_kv=...)`): a rule weighs groups by `blind`."""
    return bool(set(rules) & NEEDS_BLIND)


def blind_pass(model: Any, out: Any, deviation: torch.Tensor | None, *rules: str) -> None:
    """When a rule weighs groups by `blind`, set `out.blind_group_logits` (readout.group_weight reads them); nothing
    otherwise. `deviation`: `input_deviation` of the pass's input; `out.leaf_patches` must be set. Call inside
    inference mode."""
    if needs_kv(*rules):
        out.blind_group_logits = blind_group_logits(model, out, hidden_patches(model, deviation, out.leaf_patches))


def deviation_and_blind_pass(model: Any, out: Any, x: torch.Tensor, leaf: np.ndarray, map_rule: str,
                             curve_rule: str) -> torch.Tensor | None:
    """After a pass on input x (C_model, S, S): its group deviation, computed once when the map is pixel-level or a
    rule is blind, the blind pass run with it; returns the deviation for a pixel-level map, else None. A `windows`
    curve (window_share.py) also gets `out.window_input`: what its heals need."""
    pixel = RULES[map_rule].pixel
    if not (pixel or needs_kv(map_rule, curve_rule)):
        return None
    deviation = input_deviation(model, x, leaf, None if out.normalised is None else out.normalised[0])
    blind_pass(model, out, deviation, map_rule, curve_rule)
    if {map_rule, curve_rule} & NEEDS_WINDOWS:
        out.window_input = (x.detach().cpu(), deviation, mask_on_input(leaf, x.shape[-1]))
    return deviation if pixel else None
