"""Leaf-mean-spectrum baselines (docs/method.md §6): PLS-DA VIP band importance and a logistic regression.

They answer two questions the ViT explanations are judged against: which bands would the
chemometrics standard (VIP of a PLS-DA on mean leaf spectra) pick, and how hard is the task with
no image model at all. Inputs are arrays (or `Cube`s for `leaf_mean_spectra`); scikit-learn only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_BAND_CHUNK = 32


def leaf_mean_spectra(cubes: Sequence[Any], leaf_masks: Sequence[Any]) -> np.ndarray:
    """Mean spectrum over each cube's leaf pixels, (n, C).

    ``cubes``: (C, H, W) arrays, memmaps or `Cube`s (their ``data``); read in chunks of bands so a
    memmap is never copied whole. A mask with no pixel gives a NaN row.
    """
    if len(cubes) != len(leaf_masks):
        raise ValueError(f"{len(cubes)} cubes but {len(leaf_masks)} masks")
    rows = []
    for cube, mask in zip(cubes, leaf_masks, strict=True):
        data = getattr(cube, "data", cube)
        if rows and data.shape[0] != rows[0].size:
            raise ValueError(f"cubes differ in band count: {rows[0].size} vs {data.shape[0]}")
        m = np.asarray(mask, dtype=bool)
        if tuple(data.shape[1:]) != m.shape:
            raise ValueError(f"mask {m.shape} does not match cube {tuple(data.shape)}")
        n_pix = int(m.sum())
        spec = np.full(data.shape[0], np.nan)
        if n_pix:
            for b in range(0, data.shape[0], _BAND_CHUNK):
                chunk = np.asarray(data[b : b + _BAND_CHUNK], dtype=np.float64)
                spec[b : b + chunk.shape[0]] = chunk[:, m].mean(axis=1)
        rows.append(spec)
    return np.vstack(rows) if rows else np.zeros((0, 0))


def vip_scores(pls: Any) -> np.ndarray:
    """Variable importance in projection of a fitted scikit-learn PLSRegression, (C,).

    VIP_j = sqrt(C · Σ_a SS_a (w_ja / ‖w_a‖)² / Σ_a SS_a), SS_a = (t_a·t_a) Σ_m q_ma² being the
    response variance component a explains (all responses pooled). The mean of VIP² is 1, so
    "VIP > 1" is the usual importance cut.
    """
    w = pls.x_weights_  # (C, A)
    t = pls.x_scores_  # (n, A)
    q = pls.y_loadings_  # (m, A)
    ss = (t**2).sum(axis=0) * (q**2).sum(axis=0)
    wn = w / np.linalg.norm(w, axis=0, keepdims=True)
    return np.sqrt(w.shape[0] * (wn**2 @ ss) / ss.sum())


def select_n_components(X: Any, Y: Any, max_components: int = 10, folds: int = 5) -> int:
    """Number of PLS components by cross-validation (the chemometrics habit, not a fixed guess).

    The smallest count whose K-fold mean squared error of the (standardised) responses is within
    2 % of the best, so that a negligible gain does not add components (later components shift
    VIP towards X variance). Folds are shuffled with a fixed seed: the choice is reproducible.
    """
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.model_selection import KFold, cross_val_predict

    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    Ys = (Y - Y.mean(0)) / np.where(Y.std(0) > 0, Y.std(0), 1.0)
    top = _n_comp(max_components, X, folds)
    kf = KFold(n_splits=min(folds, len(X)), shuffle=True, random_state=0)
    errs = []
    for a in range(1, top + 1):
        pred = cross_val_predict(PLSRegression(n_components=a, scale=True), X, Ys, cv=kf)
        errs.append(float(np.mean((pred.reshape(Ys.shape) - Ys) ** 2)))
    errs_arr = np.asarray(errs)
    return int(np.flatnonzero(errs_arr <= errs_arr.min() * 1.02)[0]) + 1


def _n_comp(n_components: int, X: np.ndarray, folds: int = 1) -> int:
    """Clip to what the data allow (fewer than the samples of a training fold, at most C)."""
    n_fit = X.shape[0] - int(np.ceil(X.shape[0] / folds)) if folds > 1 else X.shape[0] - 1
    return int(max(1, min(n_components, n_fit, X.shape[1])))


def _pls_vip(X: np.ndarray, Y: np.ndarray, n_components: int | None) -> np.ndarray:
    from sklearn.cross_decomposition import PLSRegression

    a = select_n_components(X, Y) if n_components is None else _n_comp(n_components, X)
    return vip_scores(PLSRegression(n_components=a, scale=True).fit(X, Y))


def plsda_vip(X: Any, y: Any, n_components: int | None = None, target_class: Any = None) -> np.ndarray:
    """VIP of a PLS-DA (PLSRegression, standardised, on one-hot labels), (C,).

    ``target_class`` given: a class-vs-rest PLS-DA (one binary response), matching the per-class
    ground truth of the simulator. ``n_components``: None chooses it by cross-validation
    (`select_n_components`); an int is clipped to what the data allow. Known weakness of VIP:
    components that mostly remove shared brightness/slope variation still carry response variance,
    so with more components VIP can rank the bands of largest nuisance variance first.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(y).ravel()
    if target_class is not None:
        if not np.any(labels == target_class):
            raise ValueError(f"class {target_class!r} does not occur in y")
        Y = (labels == target_class).astype(np.float64)[:, None]
    else:
        classes = np.unique(labels)
        if classes.size < 2:
            raise ValueError("PLS-DA needs at least two classes")
        Y = (labels[:, None] == classes[None, :]).astype(np.float64)
    return _pls_vip(X, Y, n_components)


def plsda_vip_per_class(X: Any, y: Any, n_components: int | None = None) -> dict[Any, np.ndarray]:
    """Class-vs-rest VIP curves, one per class (keys: the class labels as they occur in y)."""
    labels = np.asarray(y).ravel()
    return {
        c.item() if hasattr(c, "item") else c: plsda_vip(X, labels, n_components, target_class=c)
        for c in np.unique(labels)
    }


def plsr_vip(X: Any, y: Any, n_components: int | None = None) -> np.ndarray:
    """VIP of a PLS regression on a continuous trait, (C,) (the regression counterpart)."""
    X = np.asarray(X, dtype=np.float64)
    return _pls_vip(X, np.asarray(y, dtype=np.float64).reshape(len(X), -1), n_components)


def logistic_baseline(X_train: Any, y_train: Any, X_test: Any, y_test: Any, C: float = 1.0) -> dict[str, Any]:
    """Standardised logistic regression on leaf-mean spectra: how hard is the task without a ViT.

    Returns ``accuracy`` on the test set, ``y_pred``, ``classes`` and ``coef`` ((K, C) weights on
    standardised bands as nested lists, JSON-safe; one row for two classes), a band-importance
    curve by itself.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from napari_focus.metrics import accuracy

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    model.fit(np.asarray(X_train, dtype=np.float64), np.asarray(y_train).ravel())
    pred = model.predict(np.asarray(X_test, dtype=np.float64))
    clf = model[-1]
    return {
        "accuracy": accuracy(y_test, pred),
        "y_pred": pred.tolist(),
        "classes": clf.classes_.tolist(),
        "coef": clf.coef_.tolist(),
        "n_train": len(X_train),
        "n_test": len(X_test),
    }


def ridge_baseline(X_train: Any, y_train: Any, X_test: Any, y_test: Any) -> dict[str, Any]:
    """Standardised ridge regression (alpha by leave-one-out on the training set) for a trait.

    ``coef``: the weights on standardised bands (a band-importance curve, like the logistic one's).
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from napari_focus.metrics import regression_scores

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    model.fit(np.asarray(X_train, dtype=np.float64), np.asarray(y_train, dtype=np.float64).ravel())
    pred = model.predict(np.asarray(X_test, dtype=np.float64))
    return {**regression_scores(y_test, pred), "y_pred": pred.tolist(), "alpha": float(model[-1].alpha_),
            "coef": np.ravel(model[-1].coef_).tolist()}
