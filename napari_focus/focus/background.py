"""What the model sees outside the leaf: the background of its training leaves (docs/method.md §2).

A model trained on leaves in front of soil reads part of its class, and most of its band curve, from the leaf's
edge against that soil: leaves in front of a grey tray, a bright bench or nothing at all (every band 0 or NaN, what
segmentation tools leave) were misread. So a checkpoint stores the median background spectrum of its training leaves
(outside the vegetation mask), and the input preparation shows the model every pixel outside the leaf mask as that
spectrum: the class and the curve then depend on the leaf alone, whatever it was photographed on. The explanation's
leaf mask (a user's corrected one included) is the one used. Checkpoints without `canonical_background` only fill
pixels that hold no data, as a chemometric model imputes a missing band.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def no_data_mask(data: Any) -> np.ndarray:
    """(H, W) bool: pixels whose every band is 0 or not finite. Reads band by band and stops at the first band that
    leaves no candidate, so a cube with data everywhere costs one band."""
    n = int(data.shape[0])
    mask = np.ones(data.shape[1:], dtype=bool)
    for b in range(n):
        with np.errstate(invalid="ignore"):
            band = np.asarray(data[b], dtype=np.float32)
            mask &= ~(np.isfinite(band) & (band != 0))
        if not mask.any():
            break
    return mask


def no_data_note(share: float) -> str:
    """What the explanation says when it filled pixels."""
    return (f"{share:.1%} of the pixels hold no data (0 or not a number in every band: a removed background?); the "
            "model sees them as the median background of its training leaves")


def fit_background(x: torch.Tensor, wavelengths_nm: Any) -> torch.Tensor | None:
    """(C,) median over leaves of each leaf's median spectrum outside its vegetation mask (pixels with data only);
    None when no leaf shows any background. `x`: (n, C, H, W) training leaves as the model saw them."""
    from napari_focus.vegetation import leaf_mask

    wl = None if wavelengths_nm is None else np.asarray(wavelengths_nm)
    spectra = []
    for leaf in x:
        a = leaf.detach().cpu().float().numpy()
        outside = ~leaf_mask(a, wl) & ~no_data_mask(a)
        if outside.any():
            spectra.append(np.median(a[:, outside], axis=1))
    if not spectra:
        return None
    return torch.as_tensor(np.median(np.stack(spectra), axis=0), dtype=torch.float32)
