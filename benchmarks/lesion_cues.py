"""Where a lesion-specific cue exists in each spectral group's token image, and what imitates a lesion there.

Why: the curve is judged against the simulator's truth, a lesion's reflectance change over the sensor's noise,
band by band. A classifier needs something else: a cue that diseased leaves show and healthy leaves do not. This
script measures that cue per group on simulated leaves, with the generator's own masks (so it is research tooling,
never product code): for each group the token's grey image Σ_b Φ_b·X_b (normalised bands; Φ averaged over the
embedding's components, which is exact for a model whose Φ the fast path never trained), robustly standardised
within each leaf (median, MAD). Per group it prints

- the lesion pixels' median z (how far lesions stand out of their own leaf),
- the leaf AUROC of the 99.5th percentile of z on the lesion side (how well the group's most lesion-like pixels
  tell a diseased leaf from a healthy one: a cue is useful only if healthy leaves lack such pixels),
- on healthy leaves, the share of their most lesion-like pixels (top 0.5 %) that lie on the midrib, and on the
  leaf's outer 2 pixels (where leaf and background mix), against those parts' shares of the leaf.

The leaves are made here with the seed sequence `napari-focus simulate` uses, so `--seed 3` gives the tuning leaves.

    .venv/bin/python benchmarks/lesion_cues.py --model model/focus_bls_vnir204 --seed 3 --n 80
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def group_images(model, cube: np.ndarray) -> np.ndarray:
    """(G, H, W) the group tokens' grey images of one (C, H, W) cube."""
    import torch

    with torch.no_grad():
        x = torch.as_tensor(cube[None], dtype=torch.float32)
        xb = model.normalise_bands(x)[0]  # (Cu, H, W)
        phi = model.phi[model.used_bands].float().mean(1)
        groups = model.band_group[model.used_bands]
        out = torch.zeros((model.groups.n_groups, *xb.shape[1:]))
        out.index_add_(0, groups, xb * phi[:, None, None])
    return out.numpy()


def measure(model, leaves) -> list[dict]:
    """Per group: lesion median z, leaf AUROC of the lesion-side tail, healthy leaves' tail share on the midrib and
    on the edge. The lesion side of each group is the sign of the lesions' median z over the diseased leaves."""
    from scipy.ndimage import binary_erosion
    from sklearn.metrics import roc_auc_score

    names = list(model.groups.names)
    tails, lesion_z, labels = [], [], []
    # healthy leaves: per group, (share of the top-0.5 % tail on the midrib, on the edge) for each side of z
    on_midrib, on_edge, midrib_share, edge_share = [], [], [], []
    for leaf in leaves:
        imgs = group_images(model, np.asarray(leaf.cube.data, np.float32))
        mask = leaf.leaf_mask
        diseased = leaf.label == "bls"
        labels.append(diseased)
        z_leaf = []
        for img in imgs:
            v = img[mask]
            med = np.median(v)
            mad = 1.4826 * np.median(np.abs(v - med)) + 1e-9
            z_leaf.append(((img - med) / mad)[mask])
        tails.append([(np.percentile(z, 99.5), np.percentile(-z, 99.5)) for z in z_leaf])
        if diseased:
            lesion = leaf.lesion_mask[mask]
            lesion_z.append([np.median(z[lesion]) if lesion.any() else np.nan for z in z_leaf])
            continue
        rib = leaf.midrib_mask[mask]
        edge = (mask & ~binary_erosion(mask, iterations=2))[mask]
        midrib_share.append(rib.mean())
        edge_share.append(edge.mean())
        sides = [(z >= np.percentile(z, 99.5), -z >= np.percentile(-z, 99.5)) for z in z_leaf]
        on_midrib.append([(rib[hi].mean(), rib[lo].mean()) for hi, lo in sides])
        on_edge.append([(edge[hi].mean(), edge[lo].mean()) for hi, lo in sides])
    tails, labels = np.asarray(tails), np.asarray(labels)
    lz = np.nanmedian(np.asarray(lesion_z), 0)
    on_midrib, on_edge = np.asarray(on_midrib), np.asarray(on_edge)  # (healthy leaves, G, side)
    rows = []
    for g, name in enumerate(names):
        side = 0 if lz[g] >= 0 else 1
        rows.append({
            "group": name,
            "lesion_median_z": float(lz[g]),
            "leaf_auroc_tail": float(roc_auc_score(labels, tails[:, g, side])),
            "healthy_tail_on_midrib": float(on_midrib[:, g, side].mean()),
            "midrib_share_of_leaf": float(np.mean(midrib_share)),
            "healthy_tail_on_edge": float(on_edge[:, g, side].mean()),
            "edge_share_of_leaf": float(np.mean(edge_share)),
        })
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--sensor", default="vnir204")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--n", type=int, default=80)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--midrib-contrast", type=float, default=1.0)
    p.add_argument("--json", default=None)
    a = p.parse_args()

    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.simulate.conditions import Conditions
    from napari_focus.simulate.render import simulate_leaf
    from napari_focus.simulate.sensors import get_sensor

    if a.n < 4:
        raise SystemExit("--n: at least 4 leaves (two of each class)")
    model = load_checkpoint(a.model, device="cpu")
    wl, mwl = get_sensor(a.sensor).wavelengths_nm, model.wavelengths_nm
    if mwl is None or len(wl) != len(mwl) or not np.allclose(wl, mwl):
        raise SystemExit(f"--sensor {a.sensor}: its bands are not the model's (this script does not resample)")
    classes = ("healthy", "bls")  # the order `napari-focus simulate` cycles through
    cond = Conditions(midrib_contrast=a.midrib_contrast)
    leaves = [simulate_leaf("bls", a.sensor, size=a.size, seed=np.random.SeedSequence(a.seed, spawn_key=(i,)),
                            label=classes[i % len(classes)], conditions=cond) for i in range(a.n)]
    rows = measure(model, leaves)
    print(f"{a.model} · {a.n} leaves of seed {a.seed} (midrib contrast {a.midrib_contrast}); "
          f"share of healthy leaves' pixels on the midrib {rows[0]['midrib_share_of_leaf']:.3f}, "
          f"on the edge {rows[0]['edge_share_of_leaf']:.3f}")
    print("| group | lesion median z | leaf AUROC, lesion-side tail | healthy leaves' tail on the midrib | "
          "… on the edge |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['group']} | {r['lesion_median_z']:+.2f} | {r['leaf_auroc_tail']:.3f} | "
              f"{r['healthy_tail_on_midrib']:.2f} | {r['healthy_tail_on_edge']:.2f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
