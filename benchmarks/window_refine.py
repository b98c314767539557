"""A candidate refinement of the curve inside its heaviest groups, scored like `curve_check.py`: each ~10 nm window
of a group gets the share of the margin drop it causes when the leaf's deviating pixels get the leaf's median
spectrum in that window (forward passes of the group's own sequence, no gradient, no lesion mask).

Research tooling, not a readout of the product. The group weights are the `blind` rule's (one pass); only the share
within the `--top` heaviest groups changes. Inside a window the drop is spread by the one-pass band share mixed
half and half with an even share. Groups outside the top keep the one-pass share (with its even half).

    .venv/bin/python benchmarks/window_refine.py --model model/focus_bls_vnir204 --data runs/bls_vnir204_tune \
        --top 3 --n 40
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

KEYS = ("accuracy", "auprc", "rho_gt_diseased", "mass_lift_diseased", "bio5_tolerant_diseased",
        "group_faithfulness_diseased", "window_faithfulness_diseased", "faithful_coverage_diseased")


def window_shares(model, x: torch.Tensor, leaf: np.ndarray, c: int, groups: list[int], one_pass: torch.Tensor,
                  threshold: float, within_even: float, all_leaf: bool) -> dict[int, torch.Tensor]:
    """{g: (|g|,) share} from window heals of the deviating pixels in each of `groups`."""
    from napari_focus.focus.faithfulness import class_margin, windows
    from napari_focus.focus.input_deviation import input_deviation
    from napari_focus.focus.inputs import mask_on_input

    dev = next(model.parameters()).device
    d = input_deviation(model, x, leaf)
    on = mask_on_input(leaf, x.shape[-1])
    if d is None:
        return {}
    xf = x.float()
    median = xf[:, on].median(1).values
    gidx = model.band_group.cpu().numpy()
    used = model.used_bands.cpu().numpy()
    ugidx = gidx[used]
    res = {}
    for g in groups:
        px = on if all_leaf else (d[g] > threshold) & on
        if not bool(px.any()):
            continue
        members = np.flatnonzero(gidx == g)
        wins = windows(members, model.wavelengths_nm)
        xs = xf[None].repeat(len(wins) + 1, 1, 1, 1)
        for j, w in enumerate(wins):
            b = torch.as_tensor(w, dtype=torch.long)
            xs[j + 1][b[:, None], px] = median[b][:, None]
        with torch.inference_mode():
            m = class_margin(model, model.group_logits(xs.to(dev), g), c).float().cpu()
        drops = (m[0] - m[1:]).clamp_min(0)
        if float(drops.sum()) <= 0:
            continue
        # bands of g in the model's used order
        pos = {int(b): i for i, b in enumerate(used[ugidx == g])}
        s_g = one_pass[torch.as_tensor(np.flatnonzero(ugidx == g))].float().cpu()
        share = torch.zeros(len(pos))
        for w, dw in zip(wins, drops / drops.sum(), strict=True):
            idx = torch.as_tensor([pos[int(b)] for b in w if int(b) in pos], dtype=torch.long)
            if idx.numel() == 0:
                continue
            inside = s_g[idx]
            inside = inside / inside.sum() if float(inside.sum()) > 0 else torch.full_like(inside, 1 / len(idx))
            share[idx] = dw * ((1 - within_even) * inside + within_even / len(idx))
        res[g] = share
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--top", type=int, default=3)
    ap.add_argument("--threshold", type=float, default=1.5)
    ap.add_argument("--within-even", type=float, default=0.5)
    ap.add_argument("--outside-even", type=float, default=0.5)
    ap.add_argument("--all-leaf", action="store_true", help="heal every leaf pixel, not only the deviating ones")
    ap.add_argument("--base", default="blind_rollout_even")
    ap.add_argument("--n", type=int, default=40)
    a = ap.parse_args()
    torch.set_num_threads(2)
    from napari_focus.dataset import load_dataset
    from napari_focus.focus import blind, explain, readout
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.evaluate import evaluate

    base = readout.RULES[a.base]
    readout.RULES["winref"] = dataclasses.replace(base, even=0.0)
    if base.weight == "blind":
        blind.NEEDS_BLIND = readout.NEEDS_BLIND = readout.NEEDS_BLIND | {"winref"}
    else:
        explain.NEEDS_SECOND_PASS = explain.NEEDS_SECOND_PASS | {"winref"}
    orig_typical, orig_weight, orig_share = explain.typical_pass, readout.group_weight, readout.input_share

    def typical_pass(model, out, x, leaf, *rules):
        out._x, out._leaf = x, np.asarray(leaf)
        return orig_typical(model, out, x, leaf, *rules)

    def group_weight(model, out, c, kind):
        out._c = c
        return orig_weight(model, out, c, kind)

    def input_share(model, out, where=None):
        s = orig_share(model, out, where)
        if not hasattr(out, "_x"):
            return s
        gidx = model.band_group[model.used_bands].to(s.device)
        sizes = torch.as_tensor(model.groups.sizes, device=s.device, dtype=s.dtype)
        total = s.new_zeros(len(sizes)).index_add(0, gidx, s)
        mixed = (1 - a.outside_even) * s + a.outside_even * (total / sizes)[gidx]
        w = orig_weight(model, out, out._c, base.weight)
        top = [int(g) for g in torch.argsort(-w)[: a.top] if float(w[g]) > 0]
        for g, sh in window_shares(model, out._x, out._leaf, out._c, top, s, a.threshold, a.within_even,
                                   a.all_leaf).items():
            mixed[gidx == g] = sh.to(mixed)
        return mixed

    explain.typical_pass, readout.group_weight, readout.input_share = typical_pass, group_weight, input_share
    model = load_checkpoint(a.model)
    ds = load_dataset(a.data)
    t0 = time.perf_counter()
    res = evaluate(model, ds, split="all", rule="paper_input+winref", deletion_random=0, max_items=a.n,
                   faithfulness=True)
    vals = " ".join(f"{k.replace('_diseased', '')}={res.get(k, float('nan')):.3f}" for k in KEYS)
    print(f"winref top={a.top} thr={a.threshold} in-even={a.within_even} out-even={a.outside_even} "
          f"all-leaf={a.all_leaf}: {vals} ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
