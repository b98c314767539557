"""Score readouts of one checkpoint on a simulated folder: accuracy, the curve against the truth and against the
model (healing faithfulness), the map's AUPRC, on all leaves and on the diseased ones.

    .venv/bin/python benchmarks/curve_check.py --model model/focus_bls_vnir204 --data runs/bls_vnir204_tune \
        --rules calibrated paper+margin --n 40

`--even E ...` scores each rule once per even part E of its `_even` curve (the part of each group's weight spread
evenly over its bands, docs/method.md, "The spectral curve"); the heals are measured once and reused.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

KEYS = ("accuracy", "auprc", "rho_gt_diseased", "mass_lift_diseased", "bio5_tolerant_diseased",
        "group_faithfulness_diseased", "window_faithfulness_diseased", "faithful_coverage_diseased")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--rules", nargs="+", default=[None])
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--split", default="all")
    p.add_argument("--no-faith", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--even", type=float, nargs="+", default=[None])
    a = p.parse_args()
    import torch

    torch.set_num_threads(2)
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.evaluate import evaluate

    model = load_checkpoint(a.model)
    ds = load_dataset(a.data)
    from napari_focus.focus import readout

    shipped = dict(readout.RULES)
    out = {}
    for rule in a.rules:
        for even in a.even:
            name = rule or model.saliency_rule or "default"
            if even is not None:
                curve = name.split("+")[-1]
                readout.RULES[curve] = dataclasses.replace(shipped[curve], even=even)
                name = f"{name} (even part {even:g})"
            t0 = time.perf_counter()
            res = evaluate(model, ds, split=a.split, rule=rule, deletion_random=0, max_items=a.n,
                           faithfulness=not a.no_faith)
            readout.RULES.update(shipped)
            out[name] = res
            vals = " ".join(f"{k.replace('_diseased', '')}={res.get(k, float('nan')):.3f}" for k in KEYS)
            print(f"{name}: {vals} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, default=float)


if __name__ == "__main__":
    main()
