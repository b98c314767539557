"""Table I rows without a ViT: PLS-DA VIP and a linear model on leaf-mean spectra, and the random floor.

They are trained on the same training leaves as FOCUS (its training split) and scored on the same
held-out leaves with the same metric functions; band curves are judged against the leaf's true class
(BIO@5 strict and tolerant, Spearman ρ and mass lift against the ground-truth sensitivity).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from napari_focus.bench.cells import CellCache
from napari_focus.bench.config import BENCH_VERSION, BenchConfig, DataSpec, metrics_version
from napari_focus.bench.runs import curve_scores, dataset, heldout_data, train_data

METHODS = ("vip", "linear", "random")


def baseline_config(cfg: BenchConfig, spec: DataSpec, seed: int, method: str, curve: bool = False) -> dict[str, Any]:
    return {"kind": "baseline", "v": BENCH_VERSION, "metrics": metrics_version(curve), "method": method,
            "seed": int(seed), "train": train_data(cfg, spec, seed), "heldout": heldout_data(cfg, spec)}


def baseline(cache: CellCache, cfg: BenchConfig, spec: DataSpec, seed: int, method: str,
             curve: bool = False) -> dict[str, Any] | None:
    """`curve`: a cell of the curve table (Table I of the main dataset), keyed on the current metric set (its curves
    get the mass lift too; faithfulness needs a model, which these rows have not)."""
    bcfg = baseline_config(cfg, spec, seed, method, curve)
    return cache.run(bcfg, lambda: _compute(cache, bcfg), f"{method} baseline on {spec.label} seed {seed}")


def _compute(cache: CellCache, bcfg: dict[str, Any]) -> dict[str, Any]:
    from napari_focus import chemometrics as ch
    from napari_focus import metrics as mt

    train, held = dataset(cache, bcfg["train"]), dataset(cache, bcfg["heldout"])
    tr, te = train.split("train"), list(held)
    regression = held.is_regression
    x_tr = ch.leaf_mean_spectra([it.cube() for it in tr], [it.leaf_mask() for it in tr])
    x_te = ch.leaf_mean_spectra([it.cube() for it in te], [it.leaf_mask() for it in te])
    trait = held.ground_truth.get("trait") or "trait"
    names = [trait if regression else it.label for it in te]
    y_tr = [it.target if regression else it.label for it in tr]
    y_te = [it.target if regression else it.label for it in te]
    res: dict[str, Any] = {"n": len(te), "n_train": len(tr)}
    method = bcfg["method"]
    if method == "linear":
        fit = ch.ridge_baseline(x_tr, y_tr, x_te, y_te) if regression else ch.logistic_baseline(x_tr, y_tr, x_te, y_te)
        res.update({k: fit[k] for k in ("accuracy", "mse", "r2") if k in fit})
        coef = np.abs(np.asarray(fit["coef"], float))
        rows = coef.reshape(1, -1) if coef.ndim == 1 else coef
        classes = fit.get("classes") or [trait]
        curves = {c: rows[0] if len(rows) == 1 else rows[classes.index(c)] for c in classes}
    elif method == "vip":
        with warnings.catch_warnings():  # "y residual is constant": a component explains the rest, not an error
            warnings.simplefilter("ignore", UserWarning)
            curves = {trait: ch.plsr_vip(x_tr, y_tr)} if regression else ch.plsda_vip_per_class(x_tr, y_tr)
    elif method == "random":
        gen = np.random.default_rng(bcfg["seed"])
        curves = None
        if regression:
            res.update(mt.regression_scores(y_te, np.full(len(y_te), float(np.mean(y_tr)))))
        else:
            values, counts = np.unique(np.asarray(y_tr), return_counts=True)
            res["accuracy"] = mt.accuracy(y_te, [values[int(np.argmax(counts))]] * len(y_te))
    else:
        raise ValueError(f"unknown baseline {method!r}")
    rows_out, diseased = [], []
    for it, name in zip(te, names, strict=True):
        lesion = it.lesion_mask()
        diseased.append(lesion is not None and bool(lesion.any()))
        if curves is None:
            n_bands = len(held.ground_truth.get("wavelengths_nm") or x_te[0])
            row = curve_scores(gen.random(n_bands), held, name)
            row.update(_random_map(it, gen))
        else:
            row = curve_scores(np.asarray(curves[name], float), held, name)
        rows_out.append(row)
    res.update(mt.leaf_means(rows_out))
    res.update(mt.diseased_curve_means(rows_out, diseased))
    return res


def _random_map(item, gen: np.random.Generator) -> dict[str, float]:
    """IoU and AUPRC of a uniformly random map on a diseased leaf, beside the prevalence floor."""
    from napari_focus import metrics as mt

    lesion = item.lesion_mask()
    if lesion is None or not lesion.any():
        return {}
    leaf = item.leaf_mask()
    m = gen.random(lesion.shape)
    return {"iou": mt.spatial_iou(m, lesion, leaf), "auprc": mt.auprc(m, lesion, leaf),
            "auprc_floor_random": mt.auprc_floors(lesion, leaf)["random"]}
