"""A candidate one-pass group weight, scored like `curve_check.py`: each group's class margin against the margin its
prompts give when they cannot attend to the group's most deviating patches.

Research tooling, not a readout of the product. The stored reference of the `calibrated` weight is one number per
group for every leaf; the typical leaf of the `typical` weight costs a second backbone pass. This counterfactual
stays inside the pass: the backbone's keys and values of the leaf are reused and only the prompts run again, with
the patches whose deviation in group g (`input_deviation`: ‖v_g‖ over its median on the leaf, averaged over the
patch) exceeds `--threshold` (or lies in the leaf's top `--quantile`) taken out of group g's prompts' attention. No
lesion mask, no named wavelength. Here the keys and values are recomputed (`FocusModel.backbone_cache`), so this
script says nothing about cost; a product version would keep them from the forward pass.

It runs the evaluation with the `typical` rules, their second pass replaced by this one:

    .venv/bin/python benchmarks/masked_reference.py --model model/focus_bls_vnir204 --data runs/bls_vnir204_tune \
        --threshold 2 --n 40
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
import torch.nn.functional as F

KEYS = ("accuracy", "auprc", "rho_gt_diseased", "mass_lift_diseased", "bio5_tolerant_diseased",
        "group_faithfulness_diseased", "window_faithfulness_diseased", "faithful_coverage_diseased")


def masked_group_logits(model, x: torch.Tensor, leaf: np.ndarray, threshold: float | None,
                        quantile: float | None, leaf_only: bool = False) -> torch.Tensor:
    """(K, G): the prompts' group logits with each group's deviating leaf patches out of its attention."""
    from napari_focus.focus.explain import leaf_patches
    from napari_focus.focus.input_deviation import input_deviation

    G = model.groups.n_groups
    dev = next(model.parameters()).device
    cache = model.backbone_cache(x[None].to(dev))
    bias = torch.zeros(G, 1, 1, cache[0][0].shape[2], device=dev)
    d = input_deviation(model, x, leaf)
    on = leaf_patches(leaf, model.grid).to(dev)
    if d is not None and bool(on.any()):
        if leaf_only:  # the mean over each patch's leaf pixels, not over all of them
            from napari_focus.focus.inputs import mask_on_input

            w = mask_on_input(leaf, x.shape[-1]).float()[None]
            num = F.adaptive_avg_pool2d((d * w)[None], model.grid)[0]
            den = F.adaptive_avg_pool2d(w[None], model.grid)[0].clamp_min(1e-6)
            patch_dev = (num / den).flatten(1).to(dev)
        else:
            patch_dev = F.adaptive_avg_pool2d(d[None], model.grid)[0].flatten(1).to(dev)  # (G, N)
        for g in range(G):
            cut = threshold if quantile is None else float(torch.quantile(patch_dev[g][on], 1 - quantile))
            hidden = torch.nonzero((patch_dev[g] > cut) & on).flatten() + model.patch_start
            bias[g, 0, 0, hidden] = float("-inf")
    return model.prompt_logits(cache, bias)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threshold", type=float, default=2.0, help="hide patches deviating more than this × the median")
    ap.add_argument("--quantile", type=float, default=None, help="instead: hide the leaf's top share of patches")
    ap.add_argument("--even", type=float, default=None, help="the even part of the `_even` rule (default: its own)")
    ap.add_argument("--leaf-only", action="store_true", help="a patch's deviation: the mean over its leaf pixels only")
    ap.add_argument("--rules", nargs="+", default=["paper_input+typical_rollout_even"])
    ap.add_argument("--n", type=int, default=40)
    a = ap.parse_args()
    torch.set_num_threads(2)
    from napari_focus.dataset import load_dataset
    from napari_focus.focus import explain, readout, tiled
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.evaluate import evaluate

    def second_pass(model, out, x, leaf, *rules) -> None:
        if set(rules) & readout.NEEDS_SECOND_PASS:
            out.typical_group_logits = masked_group_logits(model, x, np.asarray(leaf), a.threshold, a.quantile,
                                                           a.leaf_only)

    explain.typical_pass = tiled.typical_pass = second_pass
    if a.even is not None:
        for name in ("typical_even", "typical_rollout_even"):
            readout.RULES[name] = dataclasses.replace(readout.RULES[name], even=a.even)
    model = load_checkpoint(a.model)
    ds = load_dataset(a.data)
    for rule in a.rules:
        t0 = time.perf_counter()
        res = evaluate(model, ds, split="all", rule=rule, deletion_random=0, max_items=a.n, faithfulness=True)
        vals = " ".join(f"{k.replace('_diseased', '')}={res.get(k, float('nan')):.3f}" for k in KEYS)
        print(f"{rule} (typical → masked): {vals} ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
