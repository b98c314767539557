"""Model-randomisation control for the band curve: re-initialise every trained FOCUS tensor (prompts, SINK,
head, Φ, group embeddings) and what the readout stores, then rank-correlate each leaf's curve with the trained
model's. A curve that survives the randomisation explains the input, not the model.

    .venv/bin/python benchmarks/curve_sanity.py --model model/focus_bls_vnir204 --data runs/bls_vnir204_tune

`--prompt-std`: the spread the fresh prompts are drawn with; a checkpoint does not store it, so give the one its
recipe used (the shipped checkpoints: `--prompt-std 1.0`, scripts/build_model_zoo.sh; default: the constructor's).
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--rule", default=None)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--prompt-std", type=float, default=None)
    a = p.parse_args()
    from napari_focus.bench.sanity import reinit_trainables
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.explain import explain
    from napari_focus.metrics import spearman

    model = load_checkpoint(a.model)
    rule = a.rule or model.saliency_rule
    rand = reinit_trainables(model, seed=1, prompt_std=a.prompt_std)
    rhos = []
    for it in list(load_dataset(a.data))[: a.n]:
        cube, c = it.cube(), model.classes.index(it.label)
        b0 = explain(model, cube, class_index=c, rule=rule, leaf_mask=it.leaf_mask()).B
        b1 = explain(rand, cube, class_index=c, rule=rule, leaf_mask=it.leaf_mask()).B
        r = spearman(b0, b1)
        rhos.append(r if np.isfinite(r) else 0.0)
    print(f"{rule}: mean ρ(curve trained, curve randomised) over {len(rhos)} leaves = {np.mean(rhos):.3f}")


if __name__ == "__main__":
    main()
