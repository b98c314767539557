"""The `direct` readout (docs/method.md §3.8): each band's contribution to the class logits through the last block's
value → output → head path, which is linear given the layer norms' scales taken from the forward pass, so it needs
no gradient. Kept apart from readout.py because it reads the backbone's weights rather than recorded attention.
"""

from __future__ import annotations

import torch

from napari_focus.focus.model import FocusModel, FocusOutput


def direct_path(model: FocusModel, out: FocusOutput) -> torch.Tensor:
    """Each band's contribution to every class logit through the last block's value→output→head path.

    Linear there given the layer norms' scales (taken from the forward pass), so no gradient is
    needed: D[b, k, p] = Σ_h A^h_{k,g(b)}[p] / σ_{g(b),p} · q_{k,g(b),h} · (Φ_b ⊙ E(X_b)_p). (Cu, K, N)
    """
    blk = model.backbone.blocks[-1]
    attn = blk.attn
    H, hd, d = attn.num_heads, attn.head_dim, model.backbone.embed_dim
    ad = attn.attn_dim
    wv = attn.qkv.weight[2 * ad : 3 * ad].float().reshape(H, hd, d)
    wo = attn.proj.weight.float().reshape(d, H, hd)
    ls1 = getattr(blk.ls1, "gamma", None)
    ls1 = torch.ones(d) if ls1 is None else ls1.float()
    g1 = getattr(blk.norm1, "weight", None)
    g1 = torch.ones(d) if g1 is None else g1.float()
    w = model.head.weight[0].float() * model.head_norm.weight.float()
    w = w - w.mean()
    pf = out.prompt_final[0].float()  # (G, K, d)
    sig_p = torch.sqrt(pf.var(-1, unbiased=False) + model.head_norm.eps)
    r = (ls1 * w)[None, None] / sig_p[..., None]  # (G, K, d)
    u = torch.einsum("dhe,gkd->gkhe", wo, r)
    q = torch.einsum("hed,gkhe->gkhd", wv, u) * g1
    q = q - q.mean(-1, keepdim=True)  # norm1 centres its input
    p0 = model.patch_start
    a = model.own_patches(out.prompt_attn[-1][0].float()[..., p0:-1])  # (G, K, H, N)
    sig = model.own_patches(out.last_sigma[0].float()[:, p0:])  # (G, N)
    gidx = model.band_group[model.used_bands]
    bt = out.band_tokens[0].float()  # (Cu, N, d)
    proj = torch.einsum("bkhd,bnd->bkhn", q[gidx], bt)
    return (proj * a[gidx]).sum(2) / sig[gidx][:, None]


def direct_T(model: FocusModel, out: FocusOutput, c: int) -> torch.Tensor:
    """T of the `direct` rule, (Cu, N): class c's direct-path contribution over the classes' mean, clamped at 0
    (the magnitude for regression or one class)."""
    d = direct_path(model, out)
    if model.task == "regression" or d.shape[1] == 1:
        return d[:, 0].abs()
    return (d[:, c] - d.mean(1)).clamp_min(0)
