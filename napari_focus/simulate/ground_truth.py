"""Ground truth from the generator's own parameters (docs/method.md §5), and finding it beside a cube.

The band sensitivity of a class (against the rest) or of a trait is the reflectance change that
the class difference (or one standard deviation of the trait) causes on the sensor's bands,
divided by the sensor's noise there: a band matters when the change stands out of the noise.
Its peak-separated top 5 is the ground truth for BIO@5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from napari_focus.metrics import top_k_bands
from napari_focus.simulate import tasks
from napari_focus.simulate.render import sensor_reflectance
from napari_focus.simulate.sensors import Sensor

TOP_K = 5
MIN_SEPARATION_NM = 20.0  # docs/method.md §4: a band within 20 nm of a higher-ranked one is skipped


def _pixel(mean: dict[str, float]) -> dict[str, np.ndarray]:
    p = {k: np.array([mean[k]], np.float32) for k in ("cab", "car", "ant", "cw", "cm")}
    p["cbrown"] = np.array([mean.get("cbrown", 0.0)], np.float32)
    return p


def _refl(mean: dict[str, float], sensor: Sensor) -> np.ndarray:
    return sensor_reflectance(_pixel(mean), mean["N"], sensor)[0].astype(np.float64)


def sensitivity(spec: tasks.TaskSpec, sensor: Sensor) -> dict[str, np.ndarray]:
    """Noise-weighted band sensitivity per class (against the rest) or for the trait.

    bls: a typical lesion pixel (halo and core by their area shares) minus a healthy pixel.
    genotype: the change that class c's own trait shift causes (the rest of the classes keep that
    trait at the population mean), so the discriminative bands follow the trait. trait: the
    derivative times the target's standard deviation. All divided by the sensor's noise sigma.
    """
    if spec.name == "bls":
        mean = tasks.population_mean()
        healthy = _refl(mean, sensor)
        pixels, shares = tasks.typical_lesion_pixels(mean)
        lesion = sum(
            share * (sensor_reflectance(px, mean["N"], sensor)[0] - healthy)
            for px, share in zip(pixels, shares, strict=True)
        )
        curve = np.abs(lesion) / sensor.noise_sigma(healthy)
        return {c: curve.copy() for c in spec.classes}
    if spec.name == "genotype":  # each class against the rest *in its own trait*
        base = tasks.population_mean()
        ref = _refl(base, sensor)
        return {
            c: np.abs(_refl(tasks.class_mean(spec, c), sensor) - ref) / sensor.noise_sigma(ref)
            for c in spec.classes
        }
    lo, hi = tasks.TRAITS[spec.trait]  # type: ignore[index]
    mean = tasks.population_mean()
    mean[spec.trait] = (lo + hi) / 2  # type: ignore[index]
    step = (hi - lo) * 0.01
    up, down = dict(mean), dict(mean)
    up[spec.trait] += step  # type: ignore[index]
    down[spec.trait] -= step  # type: ignore[index]
    slope = (_refl(up, sensor) - _refl(down, sensor)) / (2 * step)
    sd = (hi - lo) / np.sqrt(12.0)
    return {spec.trait: np.abs(slope) * sd / sensor.noise_sigma(_refl(mean, sensor))}  # type: ignore[dict-item]


def ground_truth(spec: tasks.TaskSpec, sensor: Sensor, generator: dict[str, Any]) -> dict[str, Any]:
    """The dataset contract's `ground_truth.json` content."""
    curves = sensitivity(spec, sensor)
    wl = sensor.wavelengths_nm
    top = {name: top_k_bands(c, wl, TOP_K, MIN_SEPARATION_NM) for name, c in curves.items()}
    return {
        "task": spec.name,
        "sensor": sensor.name,
        "classes": list(spec.classes),
        "trait": spec.trait,
        "wavelengths_nm": [round(float(w), 4) for w in wl],
        "fwhm_nm": [round(float(f), 4) for f in sensor.fwhm_nm],
        "sensitivity": {n: [round(float(v), 6) for v in c] for n, c in curves.items()},
        "sensitivity_units": "reflectance change / sensor noise sigma",
        "gt_top5_nm": {n: [round(float(wl[i]), 4) for i in t] for n, t in top.items()},
        "gt_top5_band": {n: [int(i) for i in t] for n, t in top.items()},
        "generator": generator,
    }


def sidecar_paths(cube_path: str | Path) -> dict[str, Path]:
    """Where a cube's sidecars live: `<stem>_leaf.npy`, `_lesion.npy`, `_classes.npy`, `_truth.json`."""
    p = Path(cube_path)
    stem = (
        p.with_suffix("")
        if p.suffix.lower() in {".hdr", ".img", ".raw", ".dat", ".bsq", ".bil", ".bip"}
        else p
    )
    return {
        "leaf_mask": stem.with_name(stem.name + "_leaf.npy"),
        "lesion_mask": stem.with_name(stem.name + "_lesion.npy"),
        "label_mask": stem.with_name(stem.name + "_classes.npy"),
        "truth": stem.with_name(stem.name + "_truth.json"),
    }


def ground_truth_for(cube_path: str | Path) -> dict[str, Any] | None:
    """A simulated cube's masks and truth, or None when it has no sidecars.

    Returns `{"leaf_mask", "lesion_mask", "label_mask": (H, W) arrays or None, "truth": dict or None}`;
    `label_mask` (multi-leaf scenes) holds 1 + class index per leaf, 0 for background.
    """
    paths = sidecar_paths(cube_path)
    if not any(p.is_file() for p in paths.values()):
        return None
    out: dict[str, Any] = {}
    for key in ("leaf_mask", "lesion_mask", "label_mask"):
        out[key] = np.load(paths[key], allow_pickle=False) if paths[key].is_file() else None
    out["truth"] = (
        json.loads(paths["truth"].read_text(encoding="utf-8")) if paths["truth"].is_file() else None
    )
    return out
