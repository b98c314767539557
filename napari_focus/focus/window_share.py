"""The `windows` refinement of the curve (docs/method.md, "The spectral curve"): inside the curve's heaviest groups,
each ~10 nm window's share is the class margin the model loses when that window is healed on the leaf's deviating
pixels.

Why: the one-pass band share is a linear reading of the group token's deviation (input × Φ), and the margin can
respond to one end of a group only (a non-linear response no one-pass share can sign). Healing a window (the leaf's
median spectrum in its bands, on the pixels whose deviation in the group exceeds the blind pass's threshold) asks
the model directly. Each heal re-runs only its group's sequence (1/G of a forward pass), a group's windows a few at
a time, once for every class; no gradient, no lesion mask, no named wavelength. The group's mass is left as the
group weight made it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from napari_focus.errors import FocusError
from napari_focus.focus.blind import HIDE_ABOVE

#: the groups, by weight, whose windows are healed: the curve's heaviest, where a user reads the curve
TOP_GROUPS = 3
#: inside a window, this part of its share is spread evenly over its bands and the rest by the one-pass band share
#: (as the `_even` rules do within groups: the band share is exact only as a decomposition)
EVEN_IN_WINDOW = 0.5


def class_margin(model: Any, logits: torch.Tensor, c: int) -> torch.Tensor:
    """(B,) the class logit minus the mean of the other classes' (regression: the output)."""
    z = logits.float()
    if model.task == "regression" or z.shape[1] == 1:
        return z[:, 0]
    others = torch.cat([z[:, :c], z[:, c + 1:]], 1)
    return z[:, c] - others.mean(1)


def windows(band_idx: np.ndarray, wavelengths_nm: np.ndarray | None, width_nm: float = 10.0) -> list[np.ndarray]:
    """Consecutive runs of a group's bands, each about `width_nm` wide (3 bands when wavelengths are unknown)."""
    out: list[list[int]] = []
    start = None
    for b in band_idx:
        pos = float(wavelengths_nm[b]) if wavelengths_nm is not None else float(b) * width_nm / 3
        if start is None or abs(pos - start) >= width_nm - 1e-6:  # wavelengths may descend
            out.append([])
            start = pos
        out[-1].append(int(b))
    return [np.asarray(w) for w in out]


def window_logits(model: Any, x: torch.Tensor, healed: torch.Tensor, median: torch.Tensor, g: int,
                  wins: list[np.ndarray], batch: int = 8) -> torch.Tensor:
    """(len(wins) + 1, K) float32 on the CPU: group g's logits for x (row 0) and for x with each window's bands set
    to `median` (the leaf's median spectrum, (C_model,)) on the `healed` pixels ((S, S) bool), from group g's
    sequence alone, `batch` inputs at a time (a fine sensor's group has dozens of one-band windows). x: the
    prepared input (C_model, S, S). Call inside inference mode."""
    dev = next(model.parameters()).device
    rows = []
    for start in range(0, len(wins) + 1, batch):
        idx = range(start, min(start + batch, len(wins) + 1))
        xs = x[None].repeat(len(idx), 1, 1, 1)
        for j, k in enumerate(idx):
            if k > 0:
                b = torch.as_tensor(wins[k - 1], dtype=torch.long)
                xs[j][b[:, None], healed] = median[b][:, None].to(xs.dtype)
        rows.append(model.group_logits(xs.to(dev), g).float().cpu())
    return torch.cat(rows)


def window_drops(model: Any, x: torch.Tensor, healed: torch.Tensor, median: torch.Tensor, c: int, g: int,
                 wins: list[np.ndarray], cache: dict | None = None) -> np.ndarray:
    """(len(wins),) the drop of group g's class-c margin when each window is healed (`window_logits`); its logits
    move the class margin by 1/G of this. `cache`: group → logits, so that explaining several classes heals once."""
    z = cache.get(g) if cache is not None else None
    if z is None:
        z = window_logits(model, x, healed, median, g, wins)
        if cache is not None:
            cache[g] = z
    m = class_margin(model, z, c).double()
    return (m[0] - m[1:]).numpy()


def refine_share(model: Any, out: Any, c: int, share: torch.Tensor, raw: torch.Tensor,
                 weight: torch.Tensor) -> torch.Tensor:
    """(Cu,) `share` with each of the TOP_GROUPS heaviest groups (by `weight`, (G,)) re-shared by its windows' margin
    drops, each group keeping its total; inside a window, by `raw` (the one-pass band share before any even part)
    half and half with an even share (evenly where `raw` is 0 throughout the window). Needs `out.window_input` =
    (x, deviation, leaf on the input), which blind.deviation_and_blind_pass sets. A group with no deviating pixel,
    or whose windows lose nothing, keeps its one-pass share."""
    if getattr(out, "window_input", None) is None:
        raise FocusError("the windows refinement needs the pass's input and deviation (explain sets them)")
    x, deviation, leaf = out.window_input
    if deviation is None or not bool(leaf.any()):
        return share
    used = model.used_bands.cpu().numpy()
    ugidx = model.band_group.cpu().numpy()[used]
    median = x[:, leaf].float().median(1).values
    refined = share.float().clone()  # float32 whatever the pass's dtype, so each group keeps its total
    one_pass = raw.detach().double().cpu()
    cache = out.__dict__.setdefault("_window_logits", {})
    w = weight.detach().float().cpu()
    for g in [int(g) for g in torch.argsort(-w)[:TOP_GROUPS] if float(w[g]) > 0]:
        rows = np.flatnonzero(ugidx == g)
        total = float(share[rows].sum())
        healed = (deviation[g] > HIDE_ABOVE) & leaf
        wins = windows(used[rows], model.wavelengths_nm)
        if total <= 0 or len(wins) < 2 or not bool(healed.any()):
            continue
        drops = np.clip(window_drops(model, x, healed, median, c, g, wins, cache=cache), 0, None)
        if drops.sum() <= 0:
            continue
        row_of = {int(b): int(r) for b, r in zip(used[rows], rows, strict=True)}
        new = torch.zeros(len(share), dtype=torch.float64)
        for win, part in zip(wins, drops / drops.sum(), strict=True):
            r = torch.as_tensor([row_of[int(b)] for b in win])
            mass = float(one_pass[r].sum())
            inside = one_pass[r] / mass if mass > 0 else torch.full((len(r),), 1.0 / len(r), dtype=torch.float64)
            new[r] = total * part * ((1 - EVEN_IN_WINDOW) * inside + EVEN_IN_WINDOW / len(r))
        refined[torch.as_tensor(rows, device=share.device)] = new[rows].to(refined)
    return refined
