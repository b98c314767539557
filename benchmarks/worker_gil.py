"""How long the Explain dock's worker keeps the GUI thread from running Python: the GIL holds of one explain.

The GUI's worker body (`_qt/explain_worker.job`: model, explain, the rendered saliency cube, the layer data) runs
in a thread on one cube, as the dock runs it, while the main thread sleeps 1 ms at a time and records how late it
wakes; a wake-up later than the sleep is time the worker (or the machine) kept the GIL or the core. No Qt, no
display: what is left of a GUI stall once this is small is the GUI thread's own work (benchmarks/gui_latency.py).
Each gap over 20 ms is put down to the worker's phase at that moment. The idle rows are the same loop with no
worker, in the same process, first.

    .venv/bin/python benchmarks/worker_gil.py CUBE.hdr --runs 3
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import numpy as np

_phase = ["start"]


def _mark(name: str) -> None:
    _phase[0] = name


def _wrap(owner: Any, name: str, label: str) -> None:
    """Label the time spent in owner.name (the phases a gap is put down to)."""
    f = getattr(owner, name)

    def labelled(*a: Any, **k: Any) -> Any:
        before = _phase[0]
        _mark(label)
        try:
            return f(*a, **k)
        finally:
            _mark(before)

    setattr(owner, name, labelled)


def _measure(label: str, target: Any = None, seconds: float = 5.0) -> float:
    gaps: list[tuple[float, str]] = []
    th = threading.Thread(target=target) if target else None
    t0 = last = time.perf_counter()
    if th:
        th.start()
    while th.is_alive() if th else time.perf_counter() - t0 < seconds:
        time.sleep(0.001)
        now = time.perf_counter()
        gaps.append((now - last - 0.001, _phase[0]))
        last = now
    g = np.array([d for d, _ in gaps]) * 1e3
    print(f"{label}: {time.perf_counter() - t0:.1f} s, late wake-ups: max {g.max():.1f} ms, p99 "
          f"{np.percentile(g, 99):.1f} ms, over 50 ms {int((g > 50).sum())}")
    by: dict[str, list[int]] = {}
    for d, ph in gaps:
        if d > 0.02:
            by.setdefault(ph, []).append(round(d * 1e3))
    for ph, v in sorted(by.items(), key=lambda kv: -max(kv[1])):
        print(f"    in {ph}: {sorted(v, reverse=True)[:8]} ms")
    return float(g.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cube")
    ap.add_argument("--class-name", default="bls")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    from napari_focus import explain_layers
    from napari_focus._qt import explain_worker, result_layers
    from napari_focus.cube_io import read_cube
    from napari_focus.focus import tiled

    _wrap(tiled._StripReader, "get", "reading a strip of the cube")
    _wrap(tiled, "_band_max", "the tiled band maxima")
    _wrap(explain_layers, "render_ahead", "rendering the saliency cube")
    _wrap(explain_layers, "saliency_layer_data", "the layer data")
    _wrap(explain_layers, "curve_from_explanation", "the curve")
    _wrap(result_layers, "build_layers", "building the layers")
    cube = read_cube(a.cube)
    explain_worker.prefetch()  # as the dock does when it opens
    explain_worker.wait_for_prefetch()

    def run() -> None:
        steps = explain_worker.job(cube, None, a.class_name, "focus", None, ((1, 1, 1), (0, 0, 0), None, "cube"))
        try:
            while True:
                step = next(steps)
                _mark(f"step '{step[2]}'" if isinstance(step, tuple) and len(step) > 2 else "a tile")
        except StopIteration:
            _mark("done")

    idle = _measure("idle (no worker)", seconds=5.0)
    worst = [_measure(f"explain {i + 1}", target=run) for i in range(a.runs)]
    print("worst late wake-up, explain over idle: " + ", ".join(f"{w / max(idle, 1e-3):.1f}x" for w in worst))


if __name__ == "__main__":
    main()
