"""Write an explanation to a folder: the files a scientist keeps and a reviewer can check.

`saliency.hdr/.img` (T, band-first ENVI with wavelengths), `saliency_map.npy` (M), `curve.csv`
(band, wavelength_nm, importance), `figure.png` (M beside B) and `prediction.json` (predicted class,
probabilities, method, readout rule, the model's SHA-256). Shared by the CLI and the Explain dock.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .cube_io import write_envi


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


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
    ax_b.set_title(f"which wavelengths · {exp.method} ({exp.rule})")
    for b in [] if top_bands is None else top_bands:
        ax_b.axvline(x[b], color="0.6", lw=0.8, ls="--")
        ax_b.annotate(f"{x[b]:.0f}", (x[b], exp.B[b]), textcoords="offset points", xytext=(2, 4), fontsize=8)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp)
    os.replace(tmp, path)
    return path


def prediction_record(exp: Any, classes: list[str] | None = None) -> dict[str, Any]:
    probs = [float(p) for p in np.ravel(exp.probabilities)]
    rec: dict[str, Any] = {
        "predicted": exp.predicted if isinstance(exp.predicted, str) else float(exp.predicted),
        "explained_class": str(exp.class_name),
        "method": exp.method,
        "rule": exp.rule,
        "model_sha256": exp.model_sha256,
        "notes": list(exp.notes),
    }
    rec["probabilities"] = dict(zip(classes, probs, strict=True)) if classes and len(classes) == len(probs) else probs
    if exp.metrics:
        rec["metrics"] = {k: float(v) for k, v in exp.metrics.items()}
    return rec


def export_explanation(exp: Any, folder: str | os.PathLike, classes: list[str] | None = None) -> list[Path]:
    """Write every file of an explanation into `folder` (created); returns the paths written."""
    from .metrics import top_k_bands

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    top = top_k_bands(np.asarray(exp.B, float), exp.wavelengths_nm, k=5)
    hdr = write_envi(out / "saliency.hdr", np.asarray(exp.T, np.float32), wavelengths_nm=exp.wavelengths_nm,
                     metadata={"description": f"napari-focus saliency {exp.method}/{exp.rule} for {exp.class_name}; "
                                              f"model sha256 {exp.model_sha256}"})
    m_path = out / "saliency_map.npy"
    np.save(m_path, np.asarray(exp.M, np.float32))
    paths = [hdr, hdr.with_suffix(".img"), m_path, write_curve_csv(out / "curve.csv", exp.B, exp.wavelengths_nm),
             write_figure(out / "figure.png", exp, top)]
    rec = prediction_record(exp, classes)
    rec["top5_bands"] = [int(b) for b in top]
    if exp.wavelengths_nm is not None:
        rec["top5_nm"] = [round(float(exp.wavelengths_nm[b]), 2) for b in top]
    pred = out / "prediction.json"
    _atomic_text(pred, json.dumps(rec, indent=1))
    paths.append(pred)
    return paths
