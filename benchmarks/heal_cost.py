"""Cost of the healing counterfactuals: re-running only the healed group's sequence against the whole model.

Both ways heal the same band sets of the same leaves in one process, interleaved, and must give the same drops;
the ratio is what the faithfulness measurements (evaluate, choose_rule, model cards) save per heal.

    .venv/bin/python benchmarks/heal_cost.py --model model/focus_bls_vswir200 --data runs/bls_vswir200_tune --n 4
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=4, help="diseased leaves")
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(2)
    from napari_focus.dataset import load_dataset
    from napari_focus.focus import faithfulness as fa
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.inputs import mask_on_input, prepare_cube

    model = load_checkpoint(a.model)
    items = [it for it in load_dataset(a.data).items if (m := it.lesion_mask()) is not None and m.any()][: a.n]
    gidx = model.band_group.cpu().numpy()
    wl = model.wavelengths_nm
    times = {"whole model": 0.0, "one group": 0.0}
    heals = 0
    worst = 0.0
    for it in items:
        x = prepare_cube(model, it.cube()).x.float()
        lesion = mask_on_input(it.lesion_mask(), model.img_size)
        healthy = x[:, ~lesion].median(1).values
        for g in range(model.groups.n_groups):
            wins = fa.windows(np.flatnonzero(gidx == g), wl)
            heals += len(wins)
            for _ in range(a.repeats):
                out = {}
                for name, group in (("whole model", None), ("one group", g)):
                    fa._DROPS.clear()
                    t0 = time.perf_counter()
                    out[name] = fa._drops(model, x, 1, wins, lesion, healthy, group=group)
                    times[name] += time.perf_counter() - t0
                worst = max(worst, float(np.abs(out["whole model"] - out["one group"]).max()))
    base = times["whole model"]
    print(f"{len(items)} leaves, {heals} window heals (every group), {a.repeats} repeats, interleaved")
    for name, t in times.items():
        print(f"{name}: {1000 * t / (heals * a.repeats):.1f} ms per heal, ratio {t / base:.3f}")
    print(f"largest difference between the two ways' drops: {worst:.2e}")


if __name__ == "__main__":
    main()
