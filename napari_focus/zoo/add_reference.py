"""Give a checkpoint saved before the calibrated readout existed its group-margin reference, without retraining.

The reference (napari_focus/focus/reference.py) is measured on the checkpoint's own training leaves and written
into its config.json; the weights stay as they are.

    python -m napari_focus.zoo.add_reference --model model/focus_bls_vswir200 --data runs/bls_vswir200_train960
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_reference(model_dir: Path, data_dir: Path) -> dict:
    """Measure the reference on `data_dir`'s training split and store it in `model_dir`; returns a summary."""
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import load_checkpoint, set_readout_reference
    from napari_focus.focus.reference import fit_margin_reference
    from napari_focus.focus.train import tensors_from

    model = load_checkpoint(model_dir)
    items = load_dataset(data_dir).split("train")
    x, y = tensors_from(model, items)
    ref = fit_margin_reference(model, x, y)
    sha = set_readout_reference(model_dir, model)
    return {"leaves": len(items), "reference": ref.tolist(), "sha256": sha}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="the simulated folder the model was trained on")
    args = p.parse_args(argv)
    res = add_reference(args.model, args.data)
    print(f"{args.model}: reference from {res['leaves']} training leaves; checkpoint SHA-256 {res['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
