"""Give a checkpoint saved before `train` stored them what `train` now measures last, without retraining: the
calibrated readout's group-margin reference (napari_focus/focus/reference.py) or, with `--background`, the
training background the model then sees outside every leaf (napari_focus/focus/background.py).

Each is measured on the checkpoint's own training leaves and written into its config.json; the weights stay as they
are.

    python -m napari_focus.zoo.add_reference --model model/focus_bls_vswir200 --data runs/bls_vswir200_train960
    python -m napari_focus.zoo.add_reference --model model/focus_bls_vnir204 --data runs/bls_vnir204_train960 \
        --background
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _model_and_leaves(model_dir: Path, data_dir: Path):
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.inputs import tensors_from

    model = load_checkpoint(model_dir)
    items = load_dataset(data_dir).split("train")
    return (model, len(items), *tensors_from(model, items, outside_leaf=False))


def add_reference(model_dir: Path, data_dir: Path) -> dict:
    """Measure the reference on `data_dir`'s training split and store it in `model_dir`; returns a summary."""
    from napari_focus.focus.checkpoint import set_readout_reference
    from napari_focus.focus.reference import fit_margin_reference

    model, n, x, y = _model_and_leaves(model_dir, data_dir)
    ref = fit_margin_reference(model, x, y)
    sha = set_readout_reference(model_dir, model)
    return {"leaves": n, "reference": ref.tolist(), "sha256": sha}


def add_background(model_dir: Path, data_dir: Path) -> dict:
    """Measure the background fill on `data_dir`'s training split and store it in `model_dir`; returns a summary."""
    from napari_focus.errors import FocusError
    from napari_focus.focus.background import fit_background
    from napari_focus.focus.checkpoint import set_background_fill

    model, n, x, _ = _model_and_leaves(model_dir, data_dir)
    model.background_fill = fit_background(x, model.wavelengths_nm)
    if model.background_fill is None:
        raise FocusError(f"{data_dir}: no training leaf shows any background")
    model.canonical_background = True
    return {"leaves": n, "sha256": set_background_fill(model_dir, model)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="the simulated folder the model was trained on")
    p.add_argument("--background", action="store_true", help="store the background fill, not the reference")
    args = p.parse_args(argv)
    what = "background" if args.background else "reference"
    res = (add_background if args.background else add_reference)(args.model, args.data)
    print(f"{args.model}: {what} from {res['leaves']} training leaves; checkpoint SHA-256 {res['sha256']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
