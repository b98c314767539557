"""A checkpoint on leaves whose background was removed (every pixel outside the vegetation mask set to 0, as a
segmentation step saves them) or replaced (`--value V`: a flat V in every band, a tray or a bench unlike the training
soil). Scores the default readout three ways: as the checkpoint sees leaves (its training background outside the
leaf), with only pixels without data filled, and with nothing done.

    .venv/bin/python benchmarks/removed_background.py --model model/focus_bls_vnir204 \
        --data runs/bls_vnir204_tune --out runs/tune_vnir204_blank --n 80 [--value 0.2] [--faith]

Writes the changed copy of the first N leaves to OUT (cubes as float32 ENVI, masks and ground truth copied), once.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

KEYS = ("accuracy", "auprc", "rho_gt_diseased", "mass_lift_diseased", "bio5_tolerant_diseased",
        "group_faithfulness_diseased", "window_faithfulness_diseased", "faithful_coverage_diseased")


def blanked_copy(src: Path, dst: Path, n: int, value: float = 0.0) -> Path:
    """The first `n` leaves of `src` with their background set to `value`, in `dst` (made once; refused if it exists
    without this script's manifest)."""
    import numpy as np

    from napari_focus.cube_io import read_cube, write_envi
    from napari_focus.vegetation import leaf_mask

    if (dst / "manifest.csv").is_file():
        return dst
    if dst.exists():
        raise SystemExit(f"{dst} exists and is not a dataset folder: not touched")
    dst.mkdir(parents=True)
    with open(src / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[:n]
    for f in src.glob("*.json"):
        shutil.copy(f, dst / f.name)
    for r in rows:
        for key in ("leaf_mask", "lesion_mask"):
            if r.get(key):
                shutil.copy(src / r[key], dst / r[key])
        cube = read_cube(src / r["file"])
        data = np.asarray(cube.data, dtype=np.float32).copy()
        data[:, ~leaf_mask(data, cube.wavelengths_nm)] = value
        write_envi(dst / r["file"], data, wavelengths_nm=cube.wavelengths_nm)
    with open(dst / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return dst


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=80)
    p.add_argument("--value", type=float, default=0.0, help="the background's value in every band (0: removed)")
    p.add_argument("--faith", action="store_true", help="also the curve's faithfulness (forward-pass heals)")
    a = p.parse_args()
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.evaluate import evaluate

    ds = load_dataset(blanked_copy(a.data, a.out, a.n, a.value))
    model = load_checkpoint(a.model)
    fill, canonical = model.background_fill, model.canonical_background
    ways = (("as the checkpoint sees leaves", fill, canonical), ("only pixels without data filled", fill, False),
            ("nothing done", None, False))
    for label, value, canon in ways if fill is not None else ways[2:]:
        if label.startswith("only") and not canonical:
            continue  # the same as the first
        model.background_fill, model.canonical_background = value, canon
        res = evaluate(model, ds, split="all", deletion_random=0, faithfulness=a.faith)
        print(f"{label}: " + " ".join(f"{k.replace('_diseased', '')}={res.get(k, float('nan')):.3f}" for k in KEYS),
              flush=True)


if __name__ == "__main__":
    main()
