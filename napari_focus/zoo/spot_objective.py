"""Stage 2 of the backbone pretraining: synthetic spot images with their per-patch spot cover, and the
held-out checks of the two spot objectives. Synthetic only: no leaf, lesion mask or class label."""

from __future__ import annotations

import numpy as np


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
