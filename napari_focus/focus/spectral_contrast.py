"""A first training stage for Φ (SPEC §3.3): an in-group spectral contrast fitted linearly on the training leaves.

Why: Φ starts as 1/|g| (a group's token is the embedding of its mean band), and the fast path keeps it there, so the
prompts see ten grey images that average away what separates the classes inside a group. On the embedded backbone
that capped accuracy near 0.8 whatever the prompts did (docs/benchmarks.md, issue 5). This stage fits a logistic
(or, for a trait, ridge) regression on the training leaves' mean normalised spectra (class labels only, no lesion
masks), keeps each group's part of its weights as a zero-sum contrast, and adds it to Φ, so that a group's token
becomes the embedding of "mean band + strength × contrast image": still one grey image per group (what the frozen
backbone was trained on), in which pixels that look like the discriminating spectrum stand out. The contrast is
zero-sum within a group, so the patch embedding's bias and a flat spectrum's token are unchanged. Training then
goes on as before (the fast path keeps this Φ; the full path trains it further).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: pixels of at most this many samples set the contrast's scale (its std against the group-mean image's)
_SCALE_SAMPLES = 32


def _normalised(model: Any, x: torch.Tensor) -> torch.Tensor:
    """The model's normalised grouped bands of x, computed where the model lives, returned on the CPU."""
    device = next(model.parameters()).device
    with torch.no_grad():
        return model.normalise_bands(x.to(device)).float().cpu()


def _leaf_means(model: Any, x: torch.Tensor, batch: int = 32) -> np.ndarray:
    """(n, used bands) mean normalised spectrum of each sample over its vegetation mask (all pixels if none)."""
    from napari_focus.vegetation import leaf_mask

    wl = model.wavelengths_nm
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            xb = x[s : s + batch]
            xn = _normalised(model, xb)
            masks = []
            for cube in xb.numpy():
                try:
                    m = np.asarray(leaf_mask(cube, wl), dtype=np.float32)
                except Exception:  # noqa: BLE001 (no usable mask: the whole sample)
                    m = np.ones(cube.shape[1:], np.float32)
                masks.append(m if m.sum() > 0 else np.ones_like(m))
            m = torch.as_tensor(np.stack(masks))
            out.append(((xn * m[:, None]).sum((-2, -1)) / m.sum((-2, -1))[:, None]).numpy())
    return np.concatenate(out)


def _direction(model: Any, features: np.ndarray, y: torch.Tensor) -> np.ndarray:
    """The discriminating direction over the used bands, on the leaf means of the normalised bands."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    z = scaler.transform(features)
    if model.task == "regression":
        coef = Ridge(alpha=1.0).fit(z, y.float().numpy()).coef_.reshape(1, -1)
    else:
        labels = y.numpy()
        if len(np.unique(labels)) < 2:
            return np.zeros(features.shape[1])
        coef = LogisticRegression(C=1.0, max_iter=5000).fit(z, labels).coef_
    coef = coef / scaler.scale_
    if len(coef) == 1:
        return coef[0]
    # several classes: the strongest common direction of the per-class weights
    centred = coef - coef.mean(0, keepdims=True)
    return np.linalg.svd(centred, full_matrices=False)[2][0]


def fit_spectral_contrast(model: Any, x: torch.Tensor, y: torch.Tensor, strength: float = 1.0) -> dict[str, Any]:
    """Add `strength` × the fitted in-group contrast to Φ (model calibrated first); returns a summary for logs.

    Per group, the contrast's weights are scaled so that its image has, over the first samples' pixels, the same
    standard deviation as the group-mean image: `strength` 1 mixes the two at equal weight. Deterministic.
    """
    if not bool(model.calibrated):
        model.calibrate(x[: min(8, len(x))].to(next(model.parameters()).device))
    used = model.used_bands
    w = torch.as_tensor(_direction(model, _leaf_means(model, x), y), dtype=torch.float32)
    groups = model.band_group[used].cpu()
    xs = _normalised(model, x[:_SCALE_SAMPLES])
    with torch.no_grad():
        add = torch.zeros(len(used))
        for g in range(model.groups.n_groups):
            members = groups == g
            if int(members.sum()) < 2:
                continue
            wg = w[members] - w[members].mean()
            contrast = torch.einsum("c,bchw->bhw", wg, xs[:, members])
            mean_img = xs[:, members].mean(1)
            add[members] = wg * (mean_img.std() / contrast.std().clamp_min(1e-8))
        model.phi[used] += float(strength) * add.to(model.phi)[:, None]
    return {"strength": float(strength), "bands_changed": int((add != 0).sum()),
            "max_abs_change": float(add.abs().max()) * abs(float(strength))}
