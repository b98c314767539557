"""A checkpoint on leaves made differently from its training and tuning leaves: other lesion sizes, other light.

Each condition is a simulated folder of a seed no training, tuning or held-out set uses (seed 5), made once under
`runs/shift_<sensor>_<name>/`; the checkpoint's default readout is scored there like a model card scores its
held-out leaves (accuracy, the map's AUPRC against the lesion prevalence, the curve against the truth and against
the model). The first row is the training conditions on that seed: the other rows are read against it.
A paler midrib looks like a chlorotic halo in the visible and the red edge (benchmarks/lesion_cues.py), so two
rows change only how pale it is.

    .venv/bin/python benchmarks/shifted_leaves.py --model model/focus_bls_vnir204 --n 40 --json runs/shifted.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

CONDITIONS = {  # name: (folder suffix, Conditions arguments)
    "training conditions": ("train", {}),
    "small lesions (0.3-1 % of the leaf)": ("small_lesions", {"lesion_fraction": (0.003, 0.01)}),
    "large lesions (10-25 %)": ("large_lesions", {"lesion_fraction": (0.10, 0.25)}),
    "dim light (level 0.4-0.6)": ("dim", {"light_level": (0.4, 0.6)}),
    "light tilted +10 % to the NIR": ("tilt_p10", {"light_tilt": 0.1}),
    "light tilted -10 % to the NIR": ("tilt_m10", {"light_tilt": -0.1}),
    "light tilted +30 % to the NIR": ("tilt_p30", {"light_tilt": 0.3}),
    "light tilted -30 % to the NIR": ("tilt_m30", {"light_tilt": -0.3}),
    "a midrib like the blade (not paler)": ("no_midrib", {"midrib_contrast": 0.0}),
    "a midrib half again as pale": ("pale_midrib", {"midrib_contrast": 1.5}),
}
KEYS = ("accuracy", "auprc", "prevalence", "rho_gt_diseased", "mass_lift_diseased", "top5_in_region_diseased",
        "bio5_tolerant_diseased", "group_faithfulness_diseased", "window_faithfulness_diseased")
SEED = 5


def _folder(root: Path, sensor: str, suffix: str, size: int) -> Path:
    """The condition's folder; leaves of another size than the training leaves' 96 px get their own."""
    return root / (f"shift_{sensor}_{suffix}" if size == 96 else f"shift_{sensor}_{suffix}_{size}px")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--sensor", default="vnir204")
    p.add_argument("--n", type=int, default=40, help="leaves per condition (half diseased)")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--root", type=Path, default=Path("runs"))
    p.add_argument("--only", nargs="*", default=None, help="conditions to run, by folder suffix (train, dim, ...)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(2)
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.evaluate import evaluate
    from napari_focus.simulate import make_dataset
    from napari_focus.simulate.conditions import Conditions

    model = load_checkpoint(a.model)
    out = {}
    for name, (suffix, kw) in CONDITIONS.items():
        if a.only and suffix not in a.only:
            continue
        folder = _folder(a.root, a.sensor, suffix, a.size)
        if not (folder / "manifest.csv").is_file():
            make_dataset(folder, "bls", a.sensor, n=a.n, size=a.size, seed=SEED, conditions=Conditions(**kw))
        ds = load_dataset(folder)
        prev = [float(m.sum() / max(1, lf.sum())) for it in ds.items
                if (m := it.lesion_mask()) is not None and m.any() and (lf := it.leaf_mask()) is not None]
        t0 = time.perf_counter()
        res = evaluate(model, ds, split="all", deletion_random=0, faithfulness=True)
        res["prevalence"] = float(np.mean(prev)) if prev else float("nan")
        res["seconds"] = time.perf_counter() - t0
        out[name] = res
        vals = " ".join(f"{k.replace('_diseased', '')}={res.get(k, float('nan')):.3f}" for k in KEYS)
        print(f"{name}: {vals} ({res['seconds']:.0f} s)", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"model": a.model, "n": a.n, "seed": SEED, "results": out}, indent=1,
                                           default=float))


if __name__ == "__main__":
    main()
