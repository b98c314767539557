"""Cost of explaining one cube: FOCUS vs Grad-CAM and gradient × input on the same model, same process.

The setting: a ViT-tiny-sized frozen backbone (d 192, 12 layers, patch 16, 224 px; random weights:
cost does not depend on them), G = 10, K = 3 classes, one 204-band 256×256 cube. Reports the median of
`--repeats` runs after a warm-up (the FOCUS rows in turns), ratios against FOCUS one class, one training
step, and peak RSS. FOCUS renders T on its first read, so its rows come twice: with every T read, and
M, B and probabilities alone; the first read of one T is a row of its own.
The measuring code lives in `napari_focus.bench.cost` (shared with `napari-focus bench`'s cost table).

    .venv/bin/python benchmarks/cost.py [--repeats 3] [--threads 2] [--focus-only]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--focus-only", action="store_true", help="FOCUS rows only (no baselines, no training step)")
    args = ap.parse_args()

    import torch

    from napari_focus.bench.config import CostConfig
    from napari_focus.bench.cost import cost_model, explain_fns, random_cube, timed, timed_interleaved
    from napari_focus.focus.train import train

    torch.set_num_threads(args.threads)
    backbone = CostConfig().backbone
    model = cost_model(204, backbone, n_groups=10, n_classes=3)
    cube, leaf = random_cube(204, args.size)
    fns = explain_fns(model, cube, leaf)
    labels = {"focus_one": "FOCUS, 1 class, T read",
              "focus_all": "FOCUS, all 3 classes (one pass), every T read",
              "focus_one_deferred": "FOCUS, 1 class: M, B, probabilities (T not read)",
              "focus_all_deferred": "FOCUS, all 3 classes (one pass): M, B, probabilities (T not read)",
              "focus_render_T": f"first read of one class's T (204×{args.size}² float32, rendered then)",
              "gradxinput_one": "gradient × input, 1 class", "gradcam_one": "Grad-CAM, 1 class",
              "gradcam_all": "Grad-CAM, all 3 classes (3 backward passes)",
              "focus_vegetation": "FOCUS, 1 class, with vegetation leaf mask, T read"}
    if args.focus_only:
        labels = {k: v for k, v in labels.items() if k.startswith("focus") and k != "focus_vegetation"}
    focus = [k for k in labels if k.startswith("focus")]  # in turns, so that their ratios share the load
    rows = {labels[k]: v for k, v in timed_interleaved({k: fns[k] for k in focus}, args.repeats).items()}
    rows |= {labels[k]: timed(fns[k], args.repeats) for k in labels if k not in focus}
    base = rows[labels["focus_one"]]
    what = f"what (204 bands, {args.size}² px, ViT d192×12, G 10, {args.threads} threads)"
    print(f"| {what} | seconds | × FOCUS 1 class, T read |")
    print("| --- | --- | --- |")
    for k, v in rows.items():
        print(f"| {k} | {v:.3f} | {v / base:.2f} |")
    if not args.focus_only:
        x = torch.rand(1, 204, 224, 224)
        step = timed(lambda: train(model, (x, torch.tensor([1])), epochs=1, batch_size=1, augment_views=False),
                     max(1, args.repeats - 1))
        print(f"| one training step on one leaf (sink loss on) | {step:.3f} | {step / base:.2f} |")
    r = {k: rows[labels[k]] for k in ("focus_one", "focus_all", "focus_one_deferred", "focus_all_deferred")}
    print(f"\nall 3 classes ÷ 1 class: {r['focus_all'] / r['focus_one']:.2f}× with every T read, "
          f"{r['focus_all_deferred'] / r['focus_one_deferred']:.2f}× for M, B and probabilities (T not read)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the whole run: {rss:.0f} MB")
    trainable = sum(p.numel() for p in model.trainable_named().values())
    backbone_n = sum(p.numel() for p in model.backbone.parameters())
    print(f"trainable parameters: {trainable} ({100 * trainable / backbone_n:.2f}% of the backbone's {backbone_n})")
    print(json.dumps({k: round(v, 4) for k, v in rows.items()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
