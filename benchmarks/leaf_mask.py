"""The default leaf mask against the truth: bench captures with a white panel, and held-out simulated leaves.

1. Bench captures (`simulate.capture.bench_capture`): a simulated leaf over 10–30 % of the frame on a black
   tray (0.02–0.05, sensor noise) beside a white panel (0.95–0.99) over 8–15 % of it. Reports the mask's IoU
   with the leaf and the share of the panel inside the mask, per seed.
2. Held-out simulated leaves: the ENVI cubes of a `napari-focus simulate` folder, against their `_leaf.npy`
   sidecars (the folder is made when missing).

`--vegetation FILE` takes `leaf_mask` from another copy of `napari_focus/vegetation.py` (e.g. an earlier
commit's, `git show REV:napari_focus/vegetation.py > old.py`), so two masks are measured on the same data.

    .venv/bin/python benchmarks/leaf_mask.py [--seeds 10] [--heldout /tmp/ic_heldout] [--vegetation old.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _mask_function(path: str | None):
    if path is None:
        from napari_focus.vegetation import leaf_mask

        return leaf_mask
    spec = importlib.util.spec_from_file_location("other_vegetation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.leaf_mask


def captures(leaf_mask, seeds: int) -> list[dict]:
    from napari_focus.simulate.capture import bench_capture

    rows = []
    for seed in range(seeds):
        cap = bench_capture(seed)
        m = np.asarray(leaf_mask(cap.cube.data, cap.cube.wavelengths_nm), bool)
        rows.append({"seed": seed, "leaf_fraction": round(float(cap.leaf_mask.mean()), 3),
                     "panel_fraction": round(float(cap.panel_mask.mean()), 3),
                     "iou": round(_iou(m, cap.leaf_mask), 4),
                     "panel_in_mask": round(float((m & cap.panel_mask).sum() / cap.panel_mask.sum()), 4)})
    return rows


def heldout(leaf_mask, folder: Path) -> list[float]:
    from napari_focus.cube_io import read_cube

    if not any(folder.glob("*_leaf.npy")):
        from napari_focus.simulate import make_dataset

        make_dataset(folder, "bls", "vnir204", 20, 96, 2)
    out = []
    for truth in sorted(folder.glob("*_leaf.npy")):
        cube = read_cube(truth.with_name(truth.name.replace("_leaf.npy", ".hdr")))
        out.append(_iou(np.asarray(leaf_mask(cube.data, cube.wavelengths_nm), bool), np.load(truth)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--heldout", type=Path, default=Path("/tmp/ic_heldout"))
    ap.add_argument("--vegetation", default=None, help="another vegetation.py to take leaf_mask from")
    args = ap.parse_args()
    leaf_mask = _mask_function(args.vegetation)
    rows = captures(leaf_mask, args.seeds)
    ious = heldout(leaf_mask, args.heldout)
    print(json.dumps({"captures": rows,
                      "captures_iou": [min(r["iou"] for r in rows), float(np.mean([r["iou"] for r in rows]))],
                      "captures_panel_in_mask_max": max(r["panel_in_mask"] for r in rows),
                      "heldout_n": len(ious), "heldout_iou_mean": round(float(np.mean(ious)), 4),
                      "heldout_iou_min": round(float(np.min(ious)), 4)}, indent=1))


if __name__ == "__main__":
    main()
