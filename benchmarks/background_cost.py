"""Cost of showing the model its training background outside the leaf, against the leaves as they are, in the same
process (interleaved runs, median), for a whole explain (T rendered, as the GUI reads it) and a prediction.

    .venv/bin/python benchmarks/background_cost.py --model model/focus_bls_vnir204 --cube sample_data/<cube>.hdr \\
        [--size 512]

`--size S`: the cube tiled to S × S pixels first (a larger scan, still explained whole).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--cube", required=True)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--runs", type=int, default=11)
    a = p.parse_args()
    import numpy as np

    from napari_focus.cube import Cube
    from napari_focus.cube_io import read_cube
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.explain import explain, predict

    model = load_checkpoint(a.model)
    cube = read_cube(a.cube)
    if a.size:
        data = np.asarray(cube.data, dtype=np.float32)
        reps = (1, -(-a.size // data.shape[1]), -(-a.size // data.shape[2]))
        cube = Cube(np.tile(data, reps)[:, :a.size, :a.size].copy(), wavelengths_nm=cube.wavelengths_nm)
    jobs = {"explain": lambda: explain(model, cube).T, "predict": lambda: predict(model, cube)}
    views = {"as they are": False, "training background": True}
    times = {(j, v): [] for j in jobs for v in views}
    for _ in range(a.runs + 1):  # the first round warms up and is dropped
        for (j, v), ts in times.items():
            model.canonical_background = views[v]
            t0 = time.perf_counter()
            jobs[j]()
            ts.append(time.perf_counter() - t0)
    for j in jobs:
        base = statistics.median(times[(j, "as they are")][1:])
        for v in views:
            med = statistics.median(times[(j, v)][1:])
            print(f"{j}, leaves seen {v}: median {med * 1e3:.1f} ms, ratio {med / base:.2f}")


if __name__ == "__main__":
    main()
