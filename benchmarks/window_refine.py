"""The windows refinement (napari_focus/focus/window_share.py) with its knobs open, scored like `curve_check.py`.

Research tooling: how many heaviest groups get their windows healed (`--top`), how much of a window's share is even
(`--within-even`), and which one-pass curve it refines (`--base`: a `blind` rule, or a `typical` one to refine the
typical leaf's group weights instead). The product's rules are `blind_windows` / `blind_rollout_windows` with the
module's constants.

    .venv/bin/python benchmarks/window_refine.py --model model/focus_bls_vnir204 --data runs/bls_vnir204_tune \
        --top 3 --n 40
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

KEYS = ("accuracy", "auprc", "rho_gt_diseased", "mass_lift_diseased", "bio5_tolerant_diseased",
        "group_faithfulness_diseased", "window_faithfulness_diseased", "faithful_coverage_diseased")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--top", type=int, default=3, help="heal the windows of this many heaviest groups")
    ap.add_argument("--within-even", type=float, default=0.5, help="the even part inside a window")
    ap.add_argument("--base", default="blind_rollout_even", help="the one-pass (or typical) curve rule to refine")
    ap.add_argument("--n", type=int, default=40)
    a = ap.parse_args()
    torch.set_num_threads(2)
    from napari_focus.dataset import load_dataset
    from napari_focus.focus import blind, explain, readout, window_share
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.evaluate import evaluate

    base = readout.RULES[a.base]
    readout.RULES["winref"] = dataclasses.replace(base, windows=True)
    window_share.TOP_GROUPS, window_share.EVEN_IN_WINDOW = a.top, a.within_even
    blind.NEEDS_WINDOWS = blind.NEEDS_WINDOWS | {"winref"}
    if base.weight == "blind":
        blind.NEEDS_BLIND = blind.NEEDS_BLIND | {"winref"}
    else:  # the typical leaf's second pass, and the deviation the heals need
        explain.NEEDS_SECOND_PASS = explain.NEEDS_SECOND_PASS | {"winref"}
        blind.NEEDS_BLIND = blind.NEEDS_BLIND | {"winref"}  # keeps the pass's keys and values; unused by the weight
    model = load_checkpoint(a.model)
    ds = load_dataset(a.data)
    t0 = time.perf_counter()
    res = evaluate(model, ds, split="all", rule="paper_input+winref", deletion_random=0, max_items=a.n,
                   faithfulness=True)
    vals = " ".join(f"{k.replace('_diseased', '')}={res.get(k, float('nan')):.3f}" for k in KEYS)
    print(f"windows of {a.base}, top {a.top}, even in window {a.within_even}: {vals} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
