"""Stage 2 of the backbone pretraining: synthetic spot images with their per-patch spot cover, and the
held-out checks of the two spot objectives. Synthetic only: no leaf, lesion mask or class label."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def standardise(img: np.ndarray) -> np.ndarray:
    img = np.nan_to_num(img.astype(np.float32))
    return (img - img.mean()) / (img.std() + 1e-6)


def spot_image(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth field (sometimes a large bright region on a dark surround, with an edge), plus 0-12 small
    disks of random radius (0.8-5 px), contrast and sign; returns (standardised image, spot mask)."""
    from scipy.ndimage import gaussian_filter

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = gaussian_filter(rng.standard_normal((size, size)), rng.uniform(2.0, 12.0))
    img = img / (img.std() + 1e-6) * rng.uniform(0.1, 0.6)
    region = np.ones((size, size), bool)
    if rng.random() < 0.7:  # a leaf-like ellipse on a dark background
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        a, b = rng.uniform(0.2, 0.45, 2) * size
        t = rng.uniform(0, np.pi)
        u = ((yy - cy) * np.cos(t) + (xx - cx) * np.sin(t)) / a
        v = (-(yy - cy) * np.sin(t) + (xx - cx) * np.cos(t)) / b
        region = u**2 + v**2 < 1
        img = np.where(region, img + rng.uniform(1.5, 4.0), img * 0.2)
    mask = np.zeros((size, size), bool)
    inside = np.argwhere(region)
    for _ in range(int(rng.integers(0, 13)) if rng.random() < 0.8 else 0):
        cy, cx = inside[rng.integers(len(inside))]
        r = rng.uniform(0.8, 5.0)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img = np.where(disk, img + rng.choice([-1, 1]) * rng.uniform(0.5, 3.0), img)
        mask |= disk
    img = img + rng.uniform(0.01, 0.15) * rng.standard_normal((size, size))
    return standardise(img), mask


def make_spot_images(n: int, size: int, patch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, size, size) float16 images and (n, patches) float16 per-patch spot cover for stage 2."""
    rng = np.random.default_rng(seed + 1)
    imgs = np.empty((n, size, size), np.float16)
    cover = np.empty((n, (size // patch) ** 2), np.float16)
    g = size // patch
    for i in range(n):
        img, mask = spot_image(rng, size)
        imgs[i] = img
        cover[i] = mask.reshape(g, patch, g, patch).mean((1, 3)).reshape(-1)
    return imgs, cover


def spot_auroc(model, images: np.ndarray, cover: np.ndarray) -> float:
    """Held-out AUROC of the spot head for patches with ≥ 10 % spot cover (nothing masked)."""
    import torch
    from sklearn.metrics import roc_auc_score

    x = torch.from_numpy(images.astype(np.float32))[:, None]
    with torch.inference_mode():
        vit = model.vit
        t = vit.norm_pre(vit._pos_embed(vit.patch_embed(x.expand(-1, 3, -1, -1))))
        t = vit.norm(vit.blocks(t))[:, vit.num_prefix_tokens:]
        score = model.spot_head(t).squeeze(-1).numpy().reshape(-1)
    return round(float(roc_auc_score(cover.reshape(-1) >= 0.1, score)), 4)


def cls_cover_r(model, images: np.ndarray, cover: np.ndarray) -> float:
    """Held-out Pearson r between the CLS estimate and the true total spot cover (nothing masked)."""
    import torch

    x = torch.from_numpy(images.astype(np.float32))[:, None]
    mask = torch.zeros(x.shape[0], cover.shape[1], dtype=torch.bool)
    with torch.inference_mode():
        model(x, mask)
        est = model.cls_head(model.last_cls).squeeze(-1).numpy()
    return round(float(np.corrcoef(est, np.sqrt(cover.astype(np.float64).mean(1)))[0, 1]), 4)


def attention_weights(attn, normed: torch.Tensor, queries: slice = slice(None)) -> torch.Tensor:
    """Softmax attention (B, H, Q, L) of the query rows `queries` in one timm `Attention`, recomputed from the
    block's normed input: timm never returns its attention weights."""
    b, n, _ = normed.shape
    qkv = attn.qkv(normed).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(qkv[0][:, :, queries]), attn.k_norm(qkv[1])
    return ((q * attn.scale) @ k.transpose(-2, -1)).softmax(-1)


def cls_attention(vit, normed: torch.Tensor, attn) -> torch.Tensor:
    """CLS's attention row (B, H, patches) in one block."""
    return attention_weights(attn, normed, slice(0, 1))[:, :, 0, vit.num_prefix_tokens:]


class AttentionTap:
    """Keeps the normed inputs of the last `layers` attention modules during a forward (for stage 3)."""

    def __init__(self, vit, layers: int) -> None:
        self.vit, self.inputs = vit, []
        self.blocks = list(vit.blocks)[-layers:]
        self.handles = [b.attn.register_forward_pre_hook(self._keep) for b in self.blocks]

    def _keep(self, _module, args) -> None:
        self.inputs.append(args[0])

    def rows(self) -> list:
        rows = [cls_attention(self.vit, x, b.attn) for x, b in zip(self.inputs, self.blocks, strict=True)]
        self.inputs = []
        return rows


def spot_attention_loss(rows: list, cover: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Stage 3: −log of the CLS attention mass on visible spot patches (cover ≥ 0.1), mean over the tapped
    layers, heads and the images that show a spot. Teaches CLS to look at small spots, as DINOv2's CLS
    looks at salient objects; synthetic images only."""
    pos = (cover >= 0.1) & visible
    has = pos.any(1)
    if not bool(has.any()):
        return rows[0].new_zeros(())
    w = pos[has].float()[:, None, :]
    return sum(-(r[has] * w).sum(-1).clamp_min(1e-6).log().mean() for r in rows) / len(rows)


def spot_attention_auroc(model, images: np.ndarray, cover: np.ndarray, layers: int) -> float:
    """Held-out AUROC of CLS attention (last layer, mean over heads) for spot patches vs the rest."""
    import torch
    from sklearn.metrics import roc_auc_score

    x = torch.from_numpy(images.astype(np.float32))[:, None]
    tap = AttentionTap(model.vit, layers)
    try:
        with torch.inference_mode():
            model(x, torch.zeros(x.shape[0], cover.shape[1], dtype=torch.bool))
            score = tap.rows()[-1].mean(1).numpy().reshape(-1)
    finally:
        for h in tap.handles:
            h.remove()
    return round(float(roc_auc_score(cover.reshape(-1) >= 0.1, score)), 4)
