"""Experiment: the shipped recipe trained on leaves whose light is jittered per leaf (a level and a spectral tilt
that a calibration could leave), so that the class cannot be read from the light's spectral slope.

Not the shipped recipe: it writes a checkpoint for `benchmarks/curve_check.py` and `benchmarks/shifted_leaves.py`
to compare with the embedded model (docs/benchmarks.md, "Training under jittered light").

    .venv/bin/python benchmarks/light_jitter_training.py --n 384 --tilt 0.3 --out runs/vnir_jitter30
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="runs/bls_vnir204_train960")
    p.add_argument("--n", type=int, default=384, help="training leaves (the folder's train split, in order)")
    p.add_argument("--tilt", type=float, default=0.3, help="tilts drawn uniformly in ±TILT (0: no jitter)")
    p.add_argument("--level", type=float, nargs=2, default=(0.6, 1.0), help="light level range")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(2)
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import save_checkpoint, set_saliency_rule
    from napari_focus.focus.factory import backbone_spec, new_model
    from napari_focus.focus.train import tensors_from, train
    from napari_focus.resources import model_dir

    ds = load_dataset(a.data)
    tr, te = ds.split("train")[: a.n], ds.split("test")[:96]
    first = tr[0].cube()
    spec = backbone_spec(weights_file=model_dir() / "backbone" / "backbone.json")
    model = new_model(spec, first.data.shape[0], first.wavelengths_nm, ["healthy", "bls"], prompt_std=1.0, seed=0)
    x, y = tensors_from(model, [(it, it.label) for it in tr])
    xv, yv = tensors_from(model, [(it, it.label) for it in te])
    wl = np.asarray(first.wavelengths_nm, dtype=np.float64)
    ramp = torch.as_tensor((wl - (wl.max() + wl.min()) / 2) / (wl.max() - wl.min()), dtype=torch.float32)
    gen = torch.Generator().manual_seed(123)
    if a.tilt > 0:
        tilt = (torch.rand(len(x), generator=gen) * 2 - 1) * a.tilt
        level = a.level[0] + (a.level[1] - a.level[0]) * torch.rand(len(x), generator=gen)
        x *= (level[:, None] * (1 + tilt[:, None] * ramp[None]))[:, :, None, None]
    t0 = time.perf_counter()
    hist = train(model, (x, y), epochs=40, lr=1e-2, batch_size=16, seed=0, fast=True, cache_views=1, val=(xv, yv),
                 spectral_contrast=1.0)
    print(f"trained in {time.perf_counter() - t0:.0f} s; held-out split of the folder {hist.val_score[-1]:.3f}")
    save_checkpoint(model, a.out)
    set_saliency_rule(a.out, "paper+calibrated_rollout")  # the embedded model's readout, for a like comparison
    print(a.out)


if __name__ == "__main__":
    main()
