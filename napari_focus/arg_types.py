"""argparse types for the numbers and names the CLI takes, so that a bad value is refused in one line (exit 2)
when the command line is parsed, not as a traceback after the data is read or a model is built."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

# what torch accepts as a device here; availability is checked where the device is chosen (focus.device)
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,2})?)$")


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An integer in [lo, hi] (no upper bound when hi is None)."""
    def parse(text: str) -> int:
        value = int(_number(text, int))
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value} is not in [{lo}, {'∞' if hi is None else hi}]")
        return value
    return parse


def float_in(lo: float, hi: float | None = None, lo_open: bool = False,
             hi_open: bool = False) -> Callable[[str], float]:
    """A finite float between lo and hi (each end open or closed)."""
    def parse(text: str) -> float:
        value = float(_number(text, float))
        below = value <= lo if lo_open else value < lo
        above = hi is not None and (value >= hi if hi_open else value > hi)
        if below or above:
            span = f"{'(' if lo_open else '['}{lo}, {'∞' if hi is None else hi}{')' if hi_open or hi is None else ']'}"
            raise argparse.ArgumentTypeError(f"{value} is not in {span}")
        return value
    return parse


def device(text: str) -> str:
    """cpu, cuda, cuda:N, mps or auto."""
    if not DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device (cpu, cuda, cuda:N, mps or auto)")
    return text
