"""Judge map readouts of one checkpoint three ways on the diseased leaves of a simulated folder.

- against the truth: in-leaf AUPRC of the lesion mask;
- against the model: heal the map's top 2 % and 5 % of leaf pixels (every band set to the median of the rest of
  the leaf) and take the class margin's drop over the margin, against the same for random pixels and for the
  true lesion's pixels (forward passes only; a map whose top pixels move the margin no more than random pixels
  does not show what the model used). Healing the pixels that deviate most is the largest change of the input,
  so two input-only controls are scored too (a pixel's distance from the leaf's median spectrum; the model's
  group deviations, evenly weighted): a map's heal drop says more than the input alone only where it beats them;
- against a randomised model (every trained FOCUS tensor and the stored reference re-initialised,
  `bench.sanity.reinit_trainables`): Spearman of the two maps on the leaf (a map that survives explains the input,
  not the model).

Research tooling: it reads the generator's lesion masks. Medians over leaves (the relative drops are heavy-tailed:
a leaf whose margin is near 0 gives large ratios), means beside them.

    .venv/bin/python benchmarks/map_check.py --model model/focus_bls_vnir204 --data runs/bls_vnir204_tune \
        --rules paper+calibrated_rollout_even paper_input+calibrated_rollout_even --n 40
"""

from __future__ import annotations

import argparse

import numpy as np


def heal_drop(model, x, c: int, leaf: np.ndarray, chosen: np.ndarray) -> float:
    """Relative drop of class c's margin when the `chosen` leaf pixels get the rest of the leaf's median spectrum."""
    import torch

    from napari_focus.focus.faithfulness import class_margin

    rest = torch.as_tensor(leaf & ~chosen)
    healed = x.clone()
    healed[:, torch.as_tensor(chosen)] = x[:, rest].median(1).values[:, None]
    with torch.inference_mode():
        m = class_margin(model, model(torch.stack([x, healed])).logits, c)
    return float((m[0] - m[1]) / m[0].abs().clamp_min(1e-6))


def top_pixels(score: np.ndarray, leaf: np.ndarray, frac: float) -> np.ndarray:
    idx = np.flatnonzero(leaf.ravel())
    k = max(1, int(round(frac * idx.size)))
    chosen = np.zeros(leaf.size, bool)
    chosen[idx[np.argsort(-score.ravel()[idx], kind="stable")[:k]]] = True
    return chosen.reshape(leaf.shape)


def random_pixels(leaf: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    idx = np.flatnonzero(leaf.ravel())
    chosen = np.zeros(leaf.size, bool)
    chosen[rng.choice(idx, max(1, int(round(frac * idx.size))), replace=False)] = True
    return chosen.reshape(leaf.shape)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--rules", nargs="+", required=True)
    p.add_argument("--n", type=int, default=40, help="leaves read (the diseased ones among them are scored)")
    p.add_argument("--fractions", nargs="+", type=float, default=[0.02, 0.05])
    a = p.parse_args()
    import torch

    torch.set_num_threads(2)
    from napari_focus import metrics as mt
    from napari_focus.bench.sanity import reinit_trainables
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.explain import explain
    from napari_focus.focus.input_deviation import combine, input_deviation
    from napari_focus.focus.inputs import prepare_cube

    model = load_checkpoint(a.model)
    rand = reinit_trainables(model, seed=1)
    rng = np.random.default_rng(0)
    rows: dict[str, list[dict[str, float]]] = {r: [] for r in a.rules}
    floor: list[dict[str, float]] = []
    for it in list(load_dataset(a.data))[: a.n]:
        lesion = it.lesion_mask()
        if lesion is None or not lesion.any():
            continue
        cube, c = it.cube(), model.classes.index(it.label)
        if tuple(cube.data.shape[1:]) != (model.img_size, model.img_size):
            raise SystemExit(f"{it.path}: leaves must be at the model's input size ({model.img_size} px)")
        x = prepare_cube(model, cube).x.float()
        leaf_mask = it.leaf_mask()
        row0: dict[str, float] = {}
        leaf = explain(model, cube, class_index=c, rule=a.rules[0], leaf_mask=leaf_mask).leaf_mask.astype(bool)
        for f in a.fractions:
            row0[f"random {f:.0%}"] = float(np.mean([heal_drop(model, x, c, leaf, random_pixels(leaf, f, rng))
                                                     for _ in range(10)]))
            # the lesion's own pixels first, then (when the lesion is smaller than the fraction) random leaf pixels
            truth_score = lesion.astype(float) + 1e-6 * rng.random(lesion.shape)
            row0[f"lesion {f:.0%}"] = heal_drop(model, x, c, leaf, top_pixels(truth_score, leaf, f))
        # input-only controls: how far a pixel's spectrum is from the leaf's median, with no model at all, and the
        # model's group deviations weighted evenly (no curve): a heal of the pixels that deviate most is the largest
        # input change, so these say how much of a map's heal drop the input alone explains
        xn = (x - x[:, torch.as_tensor(leaf)].median(1).values[:, None, None]).norm(dim=0).numpy()
        dev = input_deviation(model, x, leaf)
        even = combine(dev, np.ones(model.groups.n_groups), leaf.shape)
        for name, score in (("control: ‖x − leaf median‖, no model", xn),
                            ("control: group deviations, even weights", even)):
            row0[f"{name} AUPRC"] = mt.auprc(score, lesion, leaf)
            for f in a.fractions:
                row0[f"{name} heal {f:.0%}"] = heal_drop(model, x, c, leaf, top_pixels(score, leaf, f))
        floor.append(row0)
        for rule in a.rules:
            e = explain(model, cube, class_index=c, rule=rule, leaf_mask=leaf_mask)
            er = explain(rand, cube, class_index=c, rule=rule, leaf_mask=leaf_mask)
            leaf = e.leaf_mask.astype(bool)
            M, Mr = np.asarray(e.M, np.float64), np.asarray(er.M, np.float64)
            row = {"AUPRC": mt.auprc(M, lesion, leaf), "ρ(map, randomised model's)": mt.spearman(M[leaf], Mr[leaf])}
            for f in a.fractions:
                row[f"heal top {f:.0%}"] = heal_drop(model, x, c, leaf, top_pixels(M, leaf, f))
            rows[rule].append(row)
    print(f"{len(floor)} diseased leaves of the first {a.n} in {a.data}; model {a.model}")
    print("| map | " + " | ".join(rows[a.rules[0]][0]) + " |")
    print("| --- |" + " --- |" * len(rows[a.rules[0]][0]))
    for rule, rs in rows.items():
        cells = [f"{np.median([r[k] for r in rs]):.3f} ({np.mean([r[k] for r in rs]):.3f})" for k in rs[0]]
        print(f"| {rule} | " + " | ".join(cells) + " |")
    print("floors, references and controls, median (mean):")
    for k in floor[0]:
        print(f"- {k}: {np.median([r[k] for r in floor]):.3f} ({np.mean([r[k] for r in floor]):.3f})")


if __name__ == "__main__":
    main()
