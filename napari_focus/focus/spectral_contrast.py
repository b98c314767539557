"""A first training stage for Φ (docs/method.md §3.3): an in-group spectral contrast fitted on the training leaves.

Why: Φ starts as 1/|g| (a group's token is the embedding of its mean band), and the fast path keeps it there, so the
prompts see ten grey images that average away what separates the classes inside a group. On the embedded backbone
that capped accuracy near 0.8 whatever the prompts did (docs/benchmarks.md). This stage takes the difference
between the classes' mean spectra on the training leaves (leaf means of the normalised bands; class labels only, no
lesion masks; for a trait, each band's covariance with it), keeps each group's part as a zero-sum contrast, and adds
it to Φ, so that a group's token becomes the embedding of "mean band + strength × contrast image": still one grey
image per group (what the frozen backbone was trained on), in which pixels that look like the discriminating
spectrum stand out. The contrast is
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


def _leaf_means(model: Any, x: torch.Tensor) -> np.ndarray:
    """(n, used bands) mean normalised spectrum of each sample over its vegetation mask (all pixels if none).

    The normalisation is per band and affine, so it is applied to the leaf means of the raw bands."""
    from napari_focus.chemometrics import leaf_mean_spectra
    from napari_focus.cube import Cube
    from napari_focus.focus.inputs import default_leaf_mask

    cubes = x.cpu().numpy()
    masks = [default_leaf_mask(Cube(c, wavelengths_nm=model.wavelengths_nm))[0] for c in cubes]
    used = model.used_bands.cpu()
    means = torch.as_tensor(leaf_mean_spectra(cubes, masks)[:, used.numpy()], dtype=torch.float32)
    normed = (means - model.band_mean[used].cpu()) / model.band_std[used].cpu()
    return torch.nan_to_num(normed, nan=0.0, posinf=0.0, neginf=0.0).numpy()


def _direction(model: Any, features: np.ndarray, y: torch.Tensor) -> np.ndarray:
    """How the classes' mean spectra differ, over the used bands (leaf means of the normalised bands).

    Two classes: the difference of their means; more: the main direction of the class means around their centre;
    a trait: each band's covariance with it (PLS's first weight vector). On the tuning leaves this beat a
    logistic regression's weights for accuracy (0.99 against 0.96) and, unlike them, its bands follow the class
    difference, so a band readout through Φ points at them (docs/benchmarks.md).
    """
    if model.task == "regression":
        t = y.float().numpy().reshape(-1)
        return (features - features.mean(0)).T @ (t - t.mean()) / max(len(t) - 1, 1)
    labels = y.numpy()
    classes = np.unique(labels)
    if len(classes) < 2:
        return np.zeros(features.shape[1])
    means = np.stack([features[labels == k].mean(0) for k in classes])
    if len(classes) == 2:
        return means[1] - means[0]
    centred = means - means.mean(0, keepdims=True)
    return np.linalg.svd(centred, full_matrices=False)[2][0]


def fit_spectral_contrast(model: Any, x: torch.Tensor, y: torch.Tensor, strength: float = 1.0,
                          bound: float | None = None, gain_cap: float | None = None) -> dict[str, Any]:
    """Add `strength` × the fitted in-group contrast to Φ (model calibrated first); returns a summary for logs.

    Per group, the contrast's weights are scaled so that its image has, over the first samples' pixels, the same
    standard deviation as the group-mean image: `strength` 1 mixes the two at equal weight. Deterministic.

    `bound` caps each band's change at `bound` / |g| (|g| the group's band count; Φ starts at 1/|g|), keeping the
    contrast zero-sum: why: on correlated bands (NIR's plateau) matching the image spreads needs gains of ±10–20,
    which turn the group's image into a high-gain spectral derivative of noise-level differences, and the model
    then draws its evidence from there rather than from where the classes' spectra differ most.

    `gain_cap` caps each group's scale factor (its contrast image's amplification) at `gain_cap` × the median
    group's factor (`_gain_cap`): a group whose class difference is flat inside it (a contrast image at noise level)
    is amplified no more than a typical group, while groups whose contrast already stands out keep theirs
    (unlike `bound`, which also shrinks those).
    """
    if not bool(model.calibrated):
        model.calibrate(x[: min(8, len(x))].to(next(model.parameters()).device))
    used = model.used_bands
    w = torch.as_tensor(_direction(model, _leaf_means(model, x), y), dtype=torch.float32)
    groups = model.band_group[used].cpu()
    xs = _normalised(model, x[:_SCALE_SAMPLES])
    with torch.no_grad():
        add = torch.zeros(len(used))
        factors: dict[int, float] = {}
        flat: set[int] = set()  # groups whose contrast image is constant: no contrast to scale, no say in the median
        for g in range(model.groups.n_groups):
            members = groups == g
            if int(members.sum()) < 2:
                continue
            wg = w[members] - w[members].mean()
            contrast = torch.einsum("c,bchw->bhw", wg, xs[:, members])
            spread = float(contrast.std())
            factors[g] = float(xs[:, members].mean(1).std()) / max(spread, 1e-8)
            if spread <= 1e-8:
                flat.add(g)
            add[members] = wg
        cap = _gain_cap(gain_cap, [f for g, f in factors.items() if g not in flat])
        for g, f in factors.items():
            add[groups == g] *= f if cap is None else min(f, cap)
        add = float(strength) * add
        if bound is not None:
            add = _bounded(add, groups, model.groups.n_groups, float(bound))
        model.phi[used] += add.to(model.phi)[:, None]
    return {"strength": float(strength), "bound": bound, "gain_cap": gain_cap, "bands_changed": int((add != 0).sum()),
            "max_abs_change": float(add.abs().max())}


def _gain_cap(gain_cap: float | None, factors: list[float]) -> float | None:
    """`gain_cap` × the median group's factor (for an even number of groups, the lower middle one: a factor some
    group has); None without a cap or without groups to compare."""
    if gain_cap is None or not factors:
        return None
    if not gain_cap > 0:
        raise ValueError(f"gain_cap must be > 0, got {gain_cap}")
    return float(gain_cap) * sorted(factors)[(len(factors) - 1) // 2]


def _bounded(add: torch.Tensor, groups: torch.Tensor, n_groups: int, bound: float) -> torch.Tensor:
    """Scale each group's zero-sum change down (as a whole, so it keeps its shape and stays zero-sum) until no
    band's change exceeds bound / |g|."""
    out = add.clone()
    for g in range(n_groups):
        members = groups == g
        size = int(members.sum())
        peak = float(add[members].abs().max()) if size else 0.0
        cap = bound / max(size, 1)
        if peak > cap:
            out[members] = add[members] * (cap / peak)
    return out
