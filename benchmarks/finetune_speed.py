"""Fine-tuning speed: the cached fast path (prompts + head against cached backbone keys and
values) against the full path (prompts + adapter + SINK through the frozen backbone), same leaves, same
process, ratios reported. Not a test: numbers depend on the machine and its load (printed).

    python benchmarks/finetune_speed.py [--leaves 20 --size 128 --epochs 30] [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Fine-tuning speed"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leaves", type=int, default=20)
    ap.add_argument("--heldout", type=int, default=10)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--full-epochs", type=int, default=2, help="full-path epochs timed (per-epoch cost is the point)")
    ap.add_argument("--views", type=int, default=None, help="dihedral views cached (default: the product's)")
    ap.add_argument("--backbone", type=Path, default=ROOT / "model" / "backbone" / "backbone.json")
    ap.add_argument("--write", action="store_true", help=f"replace the section in {DOC.relative_to(ROOT)}")
    args = ap.parse_args(argv)

    import torch

    from napari_focus.focus.fast_train import DEFAULT_VIEWS

    args.views = args.views or DEFAULT_VIEWS

    from napari_focus.dataset import load_dataset
    from napari_focus.focus.factory import backbone_spec, new_model
    from napari_focus.focus.inputs import tensors_from
    from napari_focus.focus.train import train
    from napari_focus.simulate.dataset import make_dataset

    torch.set_num_threads(os.cpu_count() or 1)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tr = load_dataset(make_dataset(Path(tmp) / "tr", "bls", n=args.leaves, size=args.size, seed=50))
        ho = load_dataset(make_dataset(Path(tmp) / "ho", "bls", n=args.heldout, size=args.size, seed=51))
        spec = backbone_spec(weights_file=args.backbone)
        first = tr.items[0].cube()

        def fresh():
            return new_model(spec, first.n_bands, first.wavelengths_nm, tr.classes, seed=0)

        m = fresh()
        data = tensors_from(m, tr.items)
        val = tensors_from(m, ho.items)
        rows = {}
        for name, kw in (("fast (prompts + head, cached)", dict(fast=True, cache_views=args.views,
                                                                   epochs=args.epochs)),
                         ("full (prompts + Φ + SINK)", dict(fast=False, epochs=args.full_epochs))):
            m = fresh()
            marks: dict[str, float] = {}
            t0 = time.perf_counter()

            def progress(step, total, info, marks=marks, t0=t0):
                if info.get("stage") != "caching" and "train_start" not in marks:
                    marks["train_start"] = time.perf_counter() - t0

            hist = train(m, data, val=val, lr=1e-2, batch_size=8, progress=progress, **kw)
            total = time.perf_counter() - t0
            start = marks.get("train_start", 0.0)
            rows[name] = dict(total=total, setup=start, per_epoch=(total - start) / kw["epochs"], epochs=kw["epochs"],
                              acc=hist.val_score[-1])
            print(name, {k: round(v, 3) for k, v in rows[name].items()}, flush=True)
    fast, full = rows["fast (prompts + head, cached)"], rows["full (prompts + Φ + SINK)"]
    lines = [SECTION, "", f"`python benchmarks/finetune_speed.py --write` · {time.strftime('%Y-%m-%d')} · "
             f"{os.cpu_count()} cores, load average {load:.1f} at start · {args.leaves} training / {args.heldout} "
             f"held-out simulated bls leaves, {args.size}×{args.size} px, 204 bands, embedded backbone, "
             f"fast path caches {args.views} dihedral views per leaf.", "",
             "| path | epochs | total s | setup s (reading, calibration, caching) | s / epoch | held-out acc |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['epochs']} | {r['total']:.1f} | {r['setup']:.1f} | {r['per_epoch']:.2f} | "
                     f"{r['acc']:.2f} |")
    lines += ["", f"Per-epoch speed-up of the fast path: **{full['per_epoch'] / fast['per_epoch']:.0f}×** "
              f"(floor ≥ 10×); fast path end to end for {args.epochs} epochs: **{fast['total']:.0f} s** "
              "(floor ≤ 60 s). "
              "Held-out accuracy after so few leaves and (full path) epochs is not a quality measure.", ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        from benchmarks_doc import write_section

        write_section(DOC, SECTION, text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
