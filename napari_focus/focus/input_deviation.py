"""Where, inside the model's patches, the input deviates in the spectral groups the curve weighs (docs/method.md §3.8,
"The map at pixel level").

Why: prompt attention is a patch-level map (12×12 on the embedded model), upsampled; it says which patches, not
which pixels inside them (docs/benchmarks.md, "The map at pixel level"). A group's token is Σ_b Φ_b ⊙ E(X_b) with
E one linear patch embedding, so what E's kernel is applied to at a pixel, for that token's change, is the vector
v_g(x) = Σ_{b∈g} Φ_b (x̂_b(x) − x̂_b,typical), x̂ the normalised band and the typical value its median over the
leaf. Its length, over its own median on the leaf (so that groups of different gain compare), weighted by the
curve's mass in the group, is the pixel weight. It is gradient-free, reads only the input and the model's Φ, and
needs no lesion mask. It assumes what the medians assume: lesions are a minority of the leaf (or of the tile).
Computed on the CPU in float64 (a zero-sum Φ's terms cancel), whatever device the model is on: it is a few
small ops at the model's input size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from napari_focus.focus.groups import group_rows


def group_deviation(model, x: torch.Tensor, leaf: torch.Tensor,
                    normalised: torch.Tensor | None = None) -> torch.Tensor | None:
    """(G, S, S) float32 on the CPU: ‖v_g(x)‖ over its median on the leaf's pixels, for one prepared input x
    (C_model, S, S) and its leaf mask on the input (S, S) bool. None when the leaf vanishes at the input size.

    Exact for a Φ that differs between the embedding's components: ‖Σ_b Φ_b δ_b‖² = δᵀ(Φ_g Φ_gᵀ)δ over the
    group's bands. Pixels with a non-finite band count as typical (the model sees them as 0, which is no evidence of
    anything). A group whose median is 0 (most of the leaf at its typical value, e.g. clipped) is scaled by the mean
    of its non-zero lengths instead, and a group that does not deviate anywhere weighs 1 everywhere. `normalised`:
    the model's normalised bands of x (Cu, S, S), when a forward pass has them (`FocusOutput.normalised`)."""
    on = leaf.cpu().bool()
    if not bool(on.any()):
        return None
    used = model.used_bands.cpu()
    xu = x.detach().cpu()
    xu = xu if used.numel() == xu.shape[0] else xu[used]
    finite = torch.isfinite(xu.sum(0))  # a band's nan or inf makes the sum non-finite; all finite otherwise
    # None when every pixel is finite; else the pixels to keep (an overflowing sum: look band by band)
    keep = None if bool(finite.all()) else torch.isfinite(xu).all(0).flatten()
    # the model's own normalisation (on its device); then, per group, the deviation and its quadratic form in float64
    if normalised is None:
        normalised = model.normalise_bands(x.detach()[None].to(model.band_mean.device).float())[0]
    xb = normalised.detach().float().cpu().flatten(1)
    flat_on = on.flatten()
    typical = _row_medians(xb, flat_on)
    phi = model.phi.detach().cpu().double()[used]  # (Cu, d)
    out = torch.ones((model.groups.n_groups, xb.shape[1]), dtype=torch.float64)
    for g, sel in enumerate(group_rows(model.band_group.cpu()[used], model.groups.n_groups)):
        if sel is None:
            continue
        d = xb[sel].double() - typical[sel, None]  # (|g|, S·S)
        if keep is not None:
            d = d * keep
        norm = (d * ((phi[sel] @ phi[sel].T) @ d)).sum(0).clamp_min(0).sqrt()
        scale = norm[flat_on].median()
        if not scale > 0:
            nonzero = norm[flat_on][norm[flat_on] > 0]
            scale = nonzero.mean() if nonzero.numel() else torch.tensor(0.0, dtype=norm.dtype)
        if scale > 0 and torch.isfinite(scale):
            out[g] = norm / scale
    return out.reshape(-1, *x.shape[1:]).float()


def _row_medians(a: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """(R,) float64: each row's median over the columns where `cols` is True, the lower of the two middle values
    as `torch.median` takes it, found by partial sorting (a median is one of the values, so float32 loses nothing).
    `a` (R, N) float32 without NaN."""
    sub = a.index_select(1, torch.nonzero(cols).flatten()).numpy()  # a copy, partitioned in place
    k = (sub.shape[1] - 1) // 2
    sub.partition(k, axis=1)
    return torch.from_numpy(sub[:, k].astype(np.float64))


def combine(deviation: torch.Tensor | None, masses: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(H, W) float32: Σ_g w_g · deviation_g, w the group masses normalised to sum 1, resized to H×W like the map
    (bilinear). About 1 on typical tissue (each group's deviation is over its median). Ones when there is no
    deviation (a leaf that vanishes at the input) or the curve is empty."""
    w = np.clip(np.nan_to_num(np.asarray(masses, np.float64)), 0, None)
    if deviation is None or w.sum() <= 0:
        return np.ones(hw, np.float32)
    wt = torch.as_tensor(w / w.sum(), dtype=deviation.dtype)
    D = torch.einsum("g,ghw->hw", wt, deviation)
    return F.interpolate(D[None, None], size=hw, mode="bilinear", align_corners=False)[0, 0].numpy()


def group_mass(model, curve: np.ndarray, back: np.ndarray | None) -> np.ndarray:
    """(G,) a curve's mass in each of the model's groups (the curve, on the cube's bands, mapped onto the model's
    bands through `back`, the prepared cube's band map; None when they are the same bands)."""
    from .faithfulness import model_band_curve

    cm = model_band_curve(curve, back)
    gidx = model.band_group.cpu().numpy()
    on = gidx >= 0
    return np.bincount(gidx[on], weights=cm[on], minlength=model.groups.n_groups)


def input_deviation(model, x: torch.Tensor, leaf: np.ndarray,
                    normalised: torch.Tensor | None = None) -> torch.Tensor | None:
    """`group_deviation` for a leaf mask at the cube's size (once per input: it does not depend on the class)."""
    from .inputs import mask_on_input

    return group_deviation(model, x, mask_on_input(leaf, x.shape[-1]), normalised)


def pixel_weight(model, x: torch.Tensor, leaf: np.ndarray, masses: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(H, W) float32: the map's pixel weight for one input and one curve's group masses (`combine`)."""
    return combine(input_deviation(model, x, leaf), masses, hw)
