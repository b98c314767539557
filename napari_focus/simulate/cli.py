"""`napari-focus simulate`: write a simulated dataset folder from the command line."""

from __future__ import annotations

import argparse
import time

from napari_focus.simulate.sensors import PRESETS
from napari_focus.simulate.tasks import TASKS, TRAITS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `simulate` subcommand to the main CLI's subparsers."""
    p = subparsers.add_parser(
        "simulate",
        help="write a dataset of simulated leaves (PROSPECT-D) with ground truth",
        description="Simulate leaves with PROSPECT-D; write ENVI cubes, manifest.csv and ground_truth.json.",
    )
    p.add_argument(
        "--task",
        required=True,
        choices=TASKS,
        help="bls (healthy vs bacterial spot), genotype (4 classes), trait (regression)",
    )
    p.add_argument(
        "--sensor", default="vnir204", help=f"sensor preset ({', '.join(PRESETS)}); default vnir204"
    )
    p.add_argument("--n", type=int, default=200, help="number of leaves (default 200)")
    p.add_argument("--size", type=int, default=64, help="image size in pixels (square; default 64)")
    p.add_argument(
        "--seed", type=int, default=0, help="random seed; same seed -> identical files (default 0)"
    )
    p.add_argument(
        "--trait", choices=tuple(TRAITS), default=None, help="trait for --task trait (default cab)"
    )
    p.add_argument("--out", required=True, help="output folder (must be empty unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace a simulated dataset already in --out")
    shift = p.add_argument_group("conditions other than the training distribution's (to check a model on leaves "
                                 "made differently)")
    shift.add_argument("--lesion-fraction", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                       help="lesion area range as a fraction of the leaf (default 0.01 0.10)")
    shift.add_argument("--light-level", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                       help="illumination level range, 1 = the white reference's light (default 0.85 1.0)")
    shift.add_argument("--light-tilt", type=float, default=0.0,
                       help="the light's relative change from the first to the last band left in the data by the "
                            "calibration (e.g. 0.3; default 0)")
    shift.add_argument("--midrib-contrast", type=float, nargs="+", metavar="M", default=None,
                       help="how much paler the midrib is than the blade, as a multiple of the default: one value, or "
                            "LOW HIGH drawn per leaf (0: no paler midrib; default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from napari_focus.simulate.conditions import DEFAULT, Conditions
    from napari_focus.simulate.dataset import make_dataset

    conditions = Conditions(lesion_fraction=tuple(args.lesion_fraction or DEFAULT.lesion_fraction),
                            light_level=tuple(args.light_level or DEFAULT.light_level), light_tilt=args.light_tilt,
                            midrib_contrast=tuple(args.midrib_contrast or DEFAULT.midrib_contrast))
    start = time.perf_counter()
    with tqdm(total=max(int(args.n), 0), unit="leaf", desc=f"simulate {args.task}", disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        out = make_dataset(
            args.out,
            args.task,
            args.sensor,
            args.n,
            args.size,
            args.seed,
            overwrite=args.overwrite,
            progress=progress,
            trait=args.trait,
            conditions=conditions,
        )
    print(f"wrote {args.n} leaves to {out} in {time.perf_counter() - start:.1f} s")
    return 0
