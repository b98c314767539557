"""Write an explanation to a folder: the files a scientist keeps and a reviewer can check.

`saliency.hdr/.img` (T, band-first ENVI with wavelengths; or, in float16, which ENVI has no type for,
`saliency.npy` with `saliency.wavelengths.txt` beside it, which the reader opens alike; or no T at all, see
`SALIENCY_DTYPES`), `saliency_map.npy` (M), `curve.csv` (band, wavelength_nm, importance), `figure.png` (M beside
B) and `prediction.json` (predicted class, probabilities, method, readout rule, the model: its folder and
SHA-256); a tiled explanation adds `tiles.csv` (each tile's box and prediction) and its T is streamed to disk,
never held whole. Shared by the CLI and the Explain dock.
The folder is marked as a result (`outputs.RESULT_MARKER`) before anything else is written; one holding a
user's own files is refused.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import replace_file
from .cube_io import write_envi
from .explain_layers import curve_label

#: how the saliency cube T is written: float32 (4 bytes a value), float16 (2; 3 significant digits, fewer below
#: float16's smallest normal value, 6.1e-5, and 0 below 6e-8) or "none" (the map and the curve only). T is as
#: large as the cube in float32; M and the curve are always float32
SALIENCY_DTYPES = ("float32", "float16", "none")
#: above this, the CLI says how large T will be before explaining, and offers the smaller formats
SALIENCY_WARN_BYTES = 1 << 30


def saliency_bytes(shape: Any, dtype: str = "float32") -> int:
    """The size of the saliency cube T written for a (C, H, W) cube."""
    return 0 if dtype == "none" else int(np.prod(shape)) * np.dtype(dtype).itemsize


def _atomic_text(path: Path, text: str) -> None:
    """Written whole or not at all, with the user's usual file mode (as the ENVI files are), not a temp file's 0600."""
    replace_file(path, lambda tmp: tmp.write_text(text))


def write_curve_csv(path: Path, importance: np.ndarray, wavelengths_nm: Any) -> Path:
    rows = ["band,wavelength_nm,importance"]
    for b, v in enumerate(np.asarray(importance, float)):
        wl = "" if wavelengths_nm is None else f"{float(wavelengths_nm[b]):.4f}"
        rows.append(f"{b},{wl},{v:.8g}")
    _atomic_text(path, "\n".join(rows) + "\n")
    return path


def read_curve_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    imp = np.array([float(r["importance"]) for r in rows])
    wl = None if not rows or rows[0]["wavelength_nm"] == "" else np.array([float(r["wavelength_nm"]) for r in rows])
    return imp, wl


def write_tiles_csv(path: Path, tiles: list[dict[str, Any]], classes: list[str] | None = None) -> Path:
    """One row per explained tile: its box, leaf label, leaf fraction, prediction and probabilities."""
    n = len(tiles[0]["probabilities"]) if tiles else 0
    names = list(classes) if classes and len(classes) == n else [str(i) for i in range(n)]
    keys = ("y0", "y1", "x0", "x1", "label", "leaf_fraction", "predicted")
    rows = [list(keys) + [f"p_{c}" for c in names]]
    rows += [[t[k] for k in keys] + [f"{p:.6g}" for p in t["probabilities"]] for t in tiles]
    _atomic_text(path, csv_text(rows))
    return path


def csv_text(rows: list[list[Any]]) -> str:
    """Rows as CSV text (quoted where a class name needs it)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def write_figure(path: Path, exp: Any, top_bands: Any = None) -> Path:
    """M (left) beside B over wavelength (right), with the top bands marked."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=120, layout="constrained")
    ax_m, ax_b = fig.subplots(1, 2, width_ratios=[1, 1.6])
    im = ax_m.imshow(exp.M, cmap="inferno")
    ax_m.set_title(f"where · {exp.class_name}")
    ax_m.set_axis_off()
    fig.colorbar(im, ax=ax_m, shrink=0.8)
    x = np.arange(len(exp.B)) if exp.wavelengths_nm is None else np.asarray(exp.wavelengths_nm)
    ax_b.plot(x, exp.B, color="#c0392b")
    ax_b.set_xlabel("band index" if exp.wavelengths_nm is None else "wavelength (nm)")
    ax_b.set_ylabel("importance B")
    ax_b.set_title(f"which wavelengths · {curve_label(exp.method, exp.refined)}")
    for b in [] if top_bands is None else top_bands:
        ax_b.axvline(x[b], color="0.6", lw=0.8, ls="--")
        ax_b.annotate(f"{x[b]:.0f}", (x[b], exp.B[b]), textcoords="offset points", xytext=(2, 4), fontsize=8)
    replace_file(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


def write_half_cube(path: Path, T: Any, wavelengths_nm: Any) -> list[Path]:
    """T as a float16 (C, H, W) .npy, a band block at a time when lazy, and its wavelengths as the reader's
    sidecar; each file written whole or not at all."""
    chunks = T.chunks[0] if hasattr(T, "dask") else (int(T.shape[0]),)

    def write(tmp: Path) -> None:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=tuple(int(s) for s in T.shape))
        b0 = 0
        for nb in chunks:
            mm[b0:b0 + nb] = np.asarray(T[b0:b0 + nb], np.float32)
            b0 += nb
        mm.flush()
        del mm

    replace_file(path, write)
    if wavelengths_nm is None:
        return [path]
    side = path.with_name(f"{path.stem}.wavelengths.txt")
    _atomic_text(side, "\n".join(f"{float(w):.4f}" for w in wavelengths_nm) + "\n")
    return [path, side]


def model_record(model: Any) -> dict[str, Any]:
    """Which model made a result: its checkpoint folder and SHA-256, or that it was never saved."""
    path = getattr(model, "checkpoint_path", None)
    return {"path": path, "sha256": getattr(model, "checkpoint_sha256", None)} if path else \
        {"path": None, "sha256": None, "note": "an in-memory model (fine-tuned in napari and not saved)"}


def prediction_record(exp: Any, classes: list[str] | None = None) -> dict[str, Any]:
    probs = [float(p) for p in np.ravel(exp.probabilities)]
    rec: dict[str, Any] = {
        "predicted": exp.predicted if isinstance(exp.predicted, str) else float(exp.predicted),
        "explained_class": str(exp.class_name),
        "method": exp.method,
        "refined_curve": exp.refined,
        "band_curve": curve_label(exp.method, exp.refined),  # Grad-CAM's band curve is gradient × input's
        "rule": exp.rule,
        "model_sha256": exp.model_sha256,
        "notes": list(exp.notes),
    }
    rec["probabilities"] = dict(zip(classes, probs, strict=True)) if classes and len(classes) == len(probs) else probs
    if exp.metrics:
        rec["metrics"] = {k: float(v) for k, v in exp.metrics.items()}
    return rec


def export_explanation(exp: Any, folder: str | os.PathLike, classes: list[str] | None = None, model: Any = None,
                       saliency: str = "float32") -> list[Path]:
    """Write every file of an explanation into `folder` (created); returns the paths written.

    `folder` must be new, empty or an earlier result: its files are overwritten. `model`: the model that made
    it, recorded by folder and hash. `saliency`: one of SALIENCY_DTYPES."""
    if saliency not in SALIENCY_DTYPES:
        raise ValueError(f"saliency must be one of {SALIENCY_DTYPES}")
    from .metrics import top_k_bands
    from .outputs import check_out, mark_result_folder

    out = check_out(folder, "result")
    out.mkdir(parents=True, exist_ok=True)
    mark_result_folder(out, "explanation")
    top = top_k_bands(np.asarray(exp.B, float), exp.wavelengths_nm, k=5)
    paths: list[Path] = []
    if saliency == "float16":
        paths += write_half_cube(out / "saliency.npy", exp.T, exp.wavelengths_nm)
    elif saliency == "float32":
        T = exp.T.astype(np.float32) if hasattr(exp.T, "dask") else np.asarray(exp.T, np.float32)  # lazy: streamed
        hdr = write_envi(out / "saliency.hdr", T, wavelengths_nm=exp.wavelengths_nm,
                         metadata={"description": f"napari-focus saliency {exp.method}/{exp.rule} for "
                                                  f"{exp.class_name}; model sha256 {exp.model_sha256}"})
        paths += [hdr, hdr.with_suffix(".img")]
    m_path = out / "saliency_map.npy"
    np.save(m_path, np.asarray(exp.M, np.float32))
    paths += [m_path, write_curve_csv(out / "curve.csv", exp.B, exp.wavelengths_nm),
              write_figure(out / "figure.png", exp, top)]
    if getattr(exp, "tiles", None):  # tiled explain: where each tile was and what it predicted
        paths.append(write_tiles_csv(out / "tiles.csv", exp.tiles, classes))
    rec = prediction_record(exp, classes)
    if model is not None:
        rec["model"] = model_record(model)
    rec["saliency_cube"] = "not written" if saliency == "none" else saliency
    rec["top5_bands"] = [int(b) for b in top]
    if exp.wavelengths_nm is not None:
        rec["top5_nm"] = [round(float(exp.wavelengths_nm[b]), 2) for b in top]
    pred = out / "prediction.json"
    _atomic_text(pred, json.dumps(rec, indent=1))
    paths.append(pred)
    return paths
