"""Cost of the calibrated curve against the readout it replaces, in the same process (interleaved runs, median).

    .venv/bin/python benchmarks/readout_cost.py --model model/focus_bls_vnir204 --cube sample_data/<cube>.hdr
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--cube", required=True)
    p.add_argument("--baseline", default="paper+margin")
    p.add_argument("--rule", default=None, help="default: the checkpoint's")
    p.add_argument("--runs", type=int, default=15)
    a = p.parse_args()
    from napari_focus.cube_io import read_cube
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.explain import explain

    model = load_checkpoint(a.model)
    cube = read_cube(a.cube)
    rule = a.rule or model.saliency_rule
    times: dict[str, list[float]] = {a.baseline: [], rule: []}
    for r in times:
        _ = explain(model, cube, rule=r).T  # warm-up (T rendered, as the GUI reads it)
    for _ in range(a.runs):
        for r in times:
            t0 = time.perf_counter()
            _ = explain(model, cube, rule=r).T
            times[r].append(time.perf_counter() - t0)
    base = statistics.median(times[a.baseline])
    for r, ts in times.items():
        med = statistics.median(ts)
        print(f"{r}: median {med * 1e3:.1f} ms, ratio to {a.baseline} {med / base:.2f}")


if __name__ == "__main__":
    main()
