"""Does a band curve follow the model? Forward passes only, on leaves whose lesion mask is known (evaluation).

The counterfactual is healing: a lesion's pixels get the leaf's median healthy spectrum in some bands, and the drop
of the explained class's margin (its logit minus the mean of the others) says how much the model relied on those
bands of the lesion. Healing one spectral group at a time gives the group drops; healing each ~10 nm window of the
curve's top groups gives the window drops. Each heal re-runs only its group's sequence. A faithful curve puts its
mass where the drops are (docs/method.md, "Judging a curve"). Nothing here is used by the readout itself: it reads
lesion masks, which users do not have (the readout's own heals, window_share.py, use the leaf's deviating pixels).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from napari_focus.cube import Cube
from napari_focus.focus.inputs import mask_on_input, prepare_cube
from napari_focus.focus.model import FocusModel
from napari_focus.focus.window_share import class_margin, windows

#: a group or window whose healing removes at least this share of the largest drop must carry ...
SIGNIFICANT_DROP = 0.10
#: ... at least this share of the curve's mass
MIN_MASS = 0.02


def model_band_curve(curve: np.ndarray, back: np.ndarray | None) -> np.ndarray:
    """A curve on the cube's bands mapped onto the model's bands (identity when they are the same bands)."""
    c = np.clip(np.nan_to_num(np.asarray(curve, np.float64)), 0, None)
    return c if back is None else np.asarray(back, np.float64).T @ c


#: drops already measured, keyed by model, input, class, lesion and band set: scoring several curves of one leaf
#: (the readout choice scores every rule) heals each band set once
_DROPS: OrderedDict[tuple, float] = OrderedDict()
_DROPS_MAX = 20_000


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha1(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def _drops(model: FocusModel, x: torch.Tensor, c: int, heals: list[np.ndarray], lesion: torch.Tensor,
           healthy: torch.Tensor, group: int | None = None, batch: int = 8) -> np.ndarray:
    """Margin drop for each band set in `heals` when the lesion's pixels get the healthy median in those bands.

    `group`: every band set lies in that group, so only its sequence is re-run (`FocusModel.group_logits`): the
    class margin is the mean of the groups' margins, so its drop is that group's drop divided by G."""
    dev = next(model.parameters()).device
    leaf_key = (id(model), model.checkpoint_sha256, _digest(x), _digest(lesion), int(c))
    keys = [leaf_key + (tuple(int(b) for b in bands),) for bands in heals]
    todo = [i for i, k in enumerate(keys) if k not in _DROPS]
    one_group = group is not None and not model.joint

    def margin(xs: torch.Tensor) -> torch.Tensor:
        if one_group:
            return class_margin(model, model.group_logits(xs.to(dev), int(group)), c) / model.groups.n_groups
        return class_margin(model, model(xs.to(dev)).logits, c)

    with torch.inference_mode():
        if todo:
            base = float(margin(x[None])[0])
        for i in range(0, len(todo), batch):
            part = todo[i:i + batch]
            xs = x[None].repeat(len(part), 1, 1, 1)
            for j, k in enumerate(part):
                b = torch.as_tensor(heals[k], dtype=torch.long)
                xs[j][b[:, None], lesion] = healthy[b][:, None]
            for k, m in zip(part, margin(xs).cpu().tolist(), strict=True):
                _DROPS[keys[k]] = base - m
    while len(_DROPS) > _DROPS_MAX:
        _DROPS.popitem(last=False)
    return np.array([_DROPS[k] for k in keys], dtype=np.float64)


def _coverage(mass: np.ndarray, drops: np.ndarray, total: float) -> list[bool]:
    """For each group/window whose drop is significant, whether it carries enough of the curve's mass."""
    if drops.size == 0 or drops.max() <= 0:
        return []
    sig = drops >= SIGNIFICANT_DROP * drops.max()
    return [bool(m >= MIN_MASS * total) for m in mass[sig]]


def heal_faithfulness(model: FocusModel, cube: Cube, class_index: int, curve: np.ndarray, lesion_mask: np.ndarray,
                      leaf_mask: np.ndarray | None = None, top_groups: int = 3) -> dict[str, Any]:
    """Group and window faithfulness of `curve` (on the cube's bands) for one leaf with a lesion.

    group_faithfulness: Spearman of the curve's per-group mass with the group-healing drops. window_faithfulness:
    in each of the curve's `top_groups` heaviest groups, Spearman of its ~10 nm windows' mass with their healing
    drops, averaged over those groups (a curve constant within a group scores 0 there). faithful_coverage: the
    share of significant groups and windows (drop ≥ 10 % of the largest) holding ≥ 2 % of the curve's mass.
    NaN everywhere when the lesion or the healthy leaf vanish at the model's input size.
    """
    from napari_focus.metrics import spearman

    nan = float("nan")
    prep = prepare_cube(model, cube, leaf=leaf_mask)
    S = model.img_size
    lesion = mask_on_input(lesion_mask, S)
    leaf = mask_on_input(leaf_mask if leaf_mask is not None else np.ones_like(lesion_mask, bool), S)
    healthy_px = leaf & ~lesion
    if not bool(lesion.any()) or not bool(healthy_px.any()):
        return {"group_faithfulness": nan, "window_faithfulness": nan, "faithful_coverage": nan}
    x = prep.x.float()
    healthy = x[:, healthy_px].median(1).values  # (C_model,)
    wl = model.wavelengths_nm
    gidx = model.band_group.cpu().numpy()
    G = model.groups.n_groups
    members = [np.flatnonzero(gidx == g) for g in range(G)]
    cm = model_band_curve(curve, prep.back)
    total = float(cm[gidx >= 0].sum())
    gmass = np.array([cm[m].sum() for m in members])
    gdrop = np.array([_drops(model, x, class_index, [m], lesion, healthy, group=g)[0] for g, m in enumerate(members)])
    res: dict[str, Any] = {"group_faithfulness": spearman(gmass, gdrop), "group_drops": gdrop.tolist()}
    covered = _coverage(gmass, gdrop, total)
    rhos, wmass_all, wdrop_all = [], [], []
    for g in np.argsort(-gmass, kind="stable")[:top_groups]:
        wins = windows(members[g], wl)
        if len(wins) < 2:
            continue
        wmass = np.array([cm[w].sum() for w in wins])
        wdrop = _drops(model, x, class_index, wins, lesion, healthy, group=int(g))
        r = spearman(wmass, wdrop)
        rhos.append(r if np.isfinite(r) else 0.0)
        wmass_all.append(wmass)
        wdrop_all.append(wdrop)
    if wdrop_all:
        covered += _coverage(np.concatenate(wmass_all), np.concatenate(wdrop_all), total)
    res["window_faithfulness"] = float(np.mean(rhos)) if rhos else nan
    res["faithful_coverage"] = float(np.mean(covered)) if covered and total > 0 else nan
    return res
