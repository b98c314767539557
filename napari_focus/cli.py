"""The `napari-focus` command line: one subcommand per task, one-line errors, non-zero exit codes.

Subcommands live beside the code they drive (`simulate/cli.py`, `focus/cli.py`); each exposes
`register(subparsers)`. This module only assembles them and turns errors into one line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .errors import FocusError

# modules whose `register(subparsers)` adds subcommands, in help order
SUBCOMMAND_MODULES = ("napari_focus.simulate.cli", "napari_focus.focus.cli", "napari_focus.bench.cli")


def _info(args: argparse.Namespace) -> int:
    from .cube_io import read_cube

    cube = read_cube(args.path)
    out = {
        "path": str(args.path),
        "format": cube.format,
        "shape": list(cube.shape),
        "dtype": str(cube.data.dtype),
        "wavelengths_nm": None if cube.wavelengths_nm is None else [round(float(w), 4) for w in cube.wavelengths_nm],
        "fwhm_nm": None if cube.fwhm_nm is None else [round(float(w), 4) for w in cube.fwhm_nm],
    }
    if "interleave" in cube.metadata:
        out["interleave"] = cube.metadata["interleave"]
    if cube.notes:
        out["notes"] = cube.notes
    print(json.dumps(out), flush=True)  # a closed pipe (`| head`) is then seen here, where main handles it
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (the usage is one `--help` away), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="napari-focus", description="Explain hyperspectral Vision Transformers in space and wavelength (FOCUS).")
    parser.add_argument("--version", action="version", version=f"napari-focus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = sub.add_parser("info", help="print a cube's format, shape, dtype, wavelengths and fwhm as JSON")
    info.add_argument("path", help="ENVI .hdr/data file, TIFF, .npy/.npz, .h5 or .mat, or a Specim capture folder")
    info.set_defaults(func=_info)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("napari_focus"):
                continue  # that part of the product is not installed in this checkout
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FocusError as exc:
        print(f"napari-focus: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("napari-focus: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `napari-focus info … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141  # what a shell reports for a pipe writer stopped by SIGPIPE
    except (OSError, MemoryError) as exc:
        print(f"napari-focus: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
