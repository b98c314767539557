"""Cost of explaining one cube: FOCUS vs Grad-CAM and gradient × input on the same model, same process.

Issue 4's setting: a ViT-tiny-sized frozen backbone (d 192, 12 layers, patch 16, 224 px; random weights:
cost does not depend on them), G = 10, K = 3 classes, one 204-band 256×256 cube. Reports the median of
`--repeats` runs after a warm-up, ratios against FOCUS one class, one training step, and peak RSS.

    .venv/bin/python benchmarks/cost.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()

    import torch
    from timm.models.vision_transformer import VisionTransformer

    from napari_focus.cube import Cube
    from napari_focus.focus.backbone import BackboneSpec, freeze
    from napari_focus.focus.explain import explain, explain_classes
    from napari_focus.focus.groups import make_groups
    from napari_focus.focus.model import FocusModel
    from napari_focus.focus.train import train

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    kw = dict(img_size=224, patch_size=16, embed_dim=192, depth=12, num_heads=3, num_classes=0)
    wl = np.linspace(400, 1000, 204)
    model = FocusModel(freeze(VisionTransformer(**kw)), BackboneSpec(kwargs=kw), make_groups(204, wl, 10),
                       ["a", "b", "c"], wavelengths_nm=wl)
    model.calibrate(torch.rand(2, 204, 224, 224))
    model.eval()
    rng = np.random.default_rng(0)
    cube = Cube(rng.random((204, args.size, args.size)).astype(np.float32), wavelengths_nm=wl)
    leaf = np.ones((args.size, args.size), bool)
    rows = {
        "FOCUS, 1 class": timed(lambda: explain(model, cube, class_index=0, leaf_mask=leaf), args.repeats),
        "FOCUS, all 3 classes (one pass)": timed(lambda: explain_classes(model, cube, leaf_mask=leaf), args.repeats),
        "gradient × input, 1 class": timed(lambda: explain(model, cube, 0, method="gradxinput", leaf_mask=leaf),
                                           args.repeats),
        "Grad-CAM, 1 class": timed(lambda: explain(model, cube, 0, method="gradcam", leaf_mask=leaf), args.repeats),
    }
    rows["Grad-CAM, all 3 classes (3 backward passes)"] = 3 * rows["Grad-CAM, 1 class"]
    rows["FOCUS, 1 class, with vegetation leaf mask"] = timed(lambda: explain(model, cube, class_index=0),
                                                              args.repeats)
    x = torch.rand(1, 204, 224, 224)
    step = timed(lambda: train(model, (x, torch.tensor([1])), epochs=1, batch_size=1, augment_views=False),
                 max(1, args.repeats - 1))
    base = rows["FOCUS, 1 class"]
    what = f"what (204 bands, {args.size}² px, ViT d192×12, G 10, {args.threads} threads)"
    print(f"| {what} | seconds | × FOCUS 1 class |")
    print("| --- | --- | --- |")
    for k, v in rows.items():
        print(f"| {k} | {v:.3f} | {v / base:.2f} |")
    print(f"| one training step on one leaf (sink loss on) | {step:.3f} | {step / base:.2f} |")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the whole run: {rss:.0f} MB")
    trainable = sum(p.numel() for p in model.trainable_named().values())
    backbone = sum(p.numel() for p in model.backbone.parameters())
    print(f"trainable parameters: {trainable} ({100 * trainable / backbone:.2f}% of the backbone's {backbone})")
    print(json.dumps({k: round(v, 4) for k, v in rows.items()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
