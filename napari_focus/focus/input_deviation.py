"""Where, inside the model's patches, the input deviates in the spectral groups the curve weighs (docs/method.md §3.9).

Why: prompt attention is a patch-level map (12×12 on the embedded model), and on simulated leaves the pixels it
ranks highest barely move the class margin when they are healed, while the pixels where the groups the curve
weighs deviate from the leaf's typical tissue move it as much as the true lesions (docs/benchmarks.md, "The
map at pixel level"). A group's token is Σ_b Φ_b ⊙ E(X_b) with E one linear patch embedding, so what E turns
into that token's change at a pixel is the vector v_g(x) = Σ_{b∈g} Φ_b (x̂_b(x) − x̂_b,typical), x̂ the
normalised band and the typical value its median over the leaf. Its length, over its own median on the leaf
(so that groups of different gain compare), weighted by the curve's mass in the group, is the pixel weight.
It is gradient-free, reads only the input and the model's Φ, and needs no lesion mask.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def group_deviation(model, x: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
    """(G, S, S) ‖v_g(x)‖ over its median on the leaf's pixels, for one prepared input x (C_model, S, S) and its
    leaf mask on the input (S, S) bool (all pixels when it is empty). Exact for a Φ that differs between the
    embedding's components: ‖Σ_b Φ_b δ_b‖² = δᵀ(Φ_g Φ_gᵀ)δ over the group's bands."""
    xb = model.normalise_bands(x[None].float())[0]  # (Cu, S, S)
    on = leaf if bool(leaf.any()) else torch.ones_like(leaf)
    dev = xb - xb[:, on].median(1).values[:, None, None]
    phi = model.phi[model.used_bands].detach().double()  # (Cu, d); double: a zero-sum Φ's terms cancel
    gidx = model.band_group[model.used_bands]
    out = []
    for g in range(model.groups.n_groups):
        sel = gidx == g
        if not bool(sel.any()):
            out.append(torch.zeros(xb.shape[1:], device=xb.device))
            continue
        d = dev[sel].flatten(1).double()  # (|g|, S·S)
        gram = phi[sel] @ phi[sel].T  # (|g|, |g|)
        norm = (d * (gram @ d)).sum(0).clamp_min(0).sqrt().reshape(xb.shape[1:])
        out.append((norm / norm[on].median().clamp_min(1e-12)).float())
    return torch.stack(out)


def group_mass(model, curve: np.ndarray, back: np.ndarray | None) -> np.ndarray:
    """(G,) a curve's mass in each of the model's groups (the curve, on the cube's bands, mapped onto the model's
    bands through `back`, the prepared cube's band map; None when they are the same bands)."""
    from .faithfulness import model_band_curve

    cm = model_band_curve(curve, back)
    gidx = model.band_group.cpu().numpy()
    on = gidx >= 0
    return np.bincount(gidx[on], weights=cm[on], minlength=model.groups.n_groups)


def pixel_weight(model, x: torch.Tensor, leaf: np.ndarray, group_mass: np.ndarray,
                 hw: tuple[int, int]) -> np.ndarray:
    """(H, W) float32: Σ_g w_g · group_deviation_g, w the curve's group masses normalised to sum 1, resized to the
    cube's H×W like the map (bilinear). About 1 on typical tissue (each group's deviation is over its median), so
    the map keeps its scale there whatever the lesions' size, and tiles of one scene stay comparable. Ones when
    the curve is empty."""
    from .inputs import mask_on_input

    w = np.clip(np.nan_to_num(np.asarray(group_mass, np.float64)), 0, None)
    if w.sum() <= 0:
        return np.ones(hw, np.float32)
    on = mask_on_input(leaf, x.shape[-1])
    dev = group_deviation(model, x, on.to(x.device))
    wt = torch.as_tensor(w / w.sum(), dtype=dev.dtype, device=dev.device)
    D = torch.einsum("g,ghw->hw", wt, dev)
    return F.interpolate(D[None, None].float().cpu(), size=hw, mode="bilinear", align_corners=False)[0, 0].numpy()
