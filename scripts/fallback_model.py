"""An untrained FOCUS checkpoint on the embedded backbone, for GUI benchmarks and screenshots only.

    .venv/bin/python scripts/fallback_model.py OUT_FOLDER [--cube sample_data/bls_vnir204.hdr]

Used while no embedded FOCUS checkpoint (model/focus_bls_vnir204/) is installed: a fresh model on
the shipped frozen backbone, calibrated (band statistics, H_aux) on the sample cube and saved with
`save_checkpoint`. Its prompts and head are random, so its explanations mean nothing; it costs the
same to run as a trained one, which is all a latency measurement or a layout screenshot needs.
Run it in its own process so that a GUI measurement still sees torch imported on the click.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CUBE = ROOT / "sample_data" / "bls_vnir204.hdr"


def build(out: Path, cube_path: Path = DEFAULT_CUBE) -> Path:
    """Build, calibrate and save the untrained model; returns the checkpoint folder."""
    import torch

    from napari_focus.cube_io import read_cube
    from napari_focus.focus.checkpoint import save_checkpoint
    from napari_focus.focus.factory import backbone_spec, new_model
    from napari_focus.focus.inputs import prepare_cube

    torch.set_num_threads(1)  # shared machine
    cube = read_cube(cube_path)
    truth = cube_path.with_name(cube_path.stem + "_truth.json")
    classes = json.loads(truth.read_text())["classes"] if truth.is_file() else ["healthy", "diseased"]
    spec = backbone_spec(weights_file=ROOT / "model" / "backbone" / "backbone.json")
    model = new_model(spec, cube.n_bands, cube.wavelengths_nm, classes, good_bands=cube.good_bands)
    model.calibrate(prepare_cube(model, cube).x[None])
    return save_checkpoint(model.eval(), out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cube", type=Path, default=DEFAULT_CUBE)
    args = parser.parse_args(argv)
    print(build(args.out, args.cube))
    return 0


if __name__ == "__main__":
    sys.exit(main())
