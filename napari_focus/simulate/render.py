"""Render simulated leaves into cubes: PROSPECT per pixel -> sensor response -> light -> noise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_focus.cube import Cube
from napari_focus.errors import FocusError
from napari_focus.simulate import scene, tasks
from napari_focus.simulate.conditions import DEFAULT, Conditions
from napari_focus.simulate.prospect import WAVELENGTHS_NM, leaf_reflectance
from napari_focus.simulate.sensors import Sensor, get_sensor

MIN_SIZE, MAX_SIZE = 32, 1024


@dataclass
class SimulatedLeaf:
    """A rendered scene (one leaf, or several with `label_mask`) and what generated it."""

    cube: Cube  # float32 reflectance (C, H, W)
    leaf_mask: np.ndarray  # (H, W) bool
    lesion_mask: np.ndarray | None  # (H, W) bool, None where the task has no lesions
    label: str | None
    target: float | None
    params: dict[str, Any] = field(default_factory=dict)
    label_mask: np.ndarray | None = None  # (H, W) int: 0 background, i = leaf i (multi-leaf scenes)
    midrib_mask: np.ndarray | None = None  # (H, W) bool: the midrib's and petiole's core (weight > 0.5); None in scenes


def sensor_reflectance(params: dict[str, np.ndarray], n_layers: float, sensor: Sensor) -> np.ndarray:
    """(P, C) reflectance on the sensor's bands of P pixels of one leaf."""
    idx = sensor.render_index()
    r = leaf_reflectance(params, n_layers, idx)
    srf = sensor.response_matrix(WAVELENGTHS_NM[idx]).astype(np.float32)
    return r @ srf.T


def check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise FocusError(f"size must be an integer from {MIN_SIZE} to {MAX_SIZE} pixels; got {size!r}")
    return int(size)


def _leaf(
    spec: tasks.TaskSpec,
    rng: np.random.Generator,
    shape: tuple[int, int],
    label: str | None,
    target: float | None,
    box: tuple[int, int, int, int] | None = None,
    conditions: Conditions = DEFAULT,
) -> dict[str, Any]:
    """Draw one leaf: geometry, traits, fields, lesions. No rendering yet."""
    geom = scene.leaf_shape(shape, rng, box)
    traits = tasks.leaf_traits(spec, rng, label, target)
    sigma = max(shape) / 8
    fields = {k: scene.smooth_field(shape, rng, sigma) for k in ("cab", "car", "ant", "cw", "cm")}
    leaf = {
        "shape": geom,
        "traits": traits,
        "fields": fields,
        "core": None,
        "halo": None,
        "core_params": None,
        "lesion_fraction_target": 0.0,
        "spots": [],
    }
    if spec.name == "bls" and label == "bls":
        frac = tasks.sample_lesion_fraction(rng, conditions.lesion_fraction)
        core, halo, spots = scene.lesion_spots(geom.mask, rng, frac)
        leaf.update(
            core=core, halo=halo, core_params=tasks.sample_core(rng), spots=spots, lesion_fraction_target=frac
        )
    leaf["midrib_contrast"] = conditions.draw_midrib_contrast(rng)
    return leaf


def _render(
    leaves: list[dict[str, Any]], shape: tuple[int, int], sensor: Sensor, rng: np.random.Generator,
    conditions: Conditions = DEFAULT,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Compose leaves over a background, apply illumination and noise: (C, H, W) float32."""
    idx = sensor.render_index()
    srf = sensor.response_matrix(WAVELENGTHS_NM[idx]).astype(np.float32)
    bg_spec, bg_kind = scene.background_spectrum(rng, idx)
    bg = srf @ bg_spec  # (C,)
    bg_var = 1 + 0.05 * scene.smooth_field(shape, rng, max(shape) / 6)
    cube = bg[:, None, None] * bg_var[None]
    for leaf in leaves:
        cov = leaf["shape"].coverage
        pix = np.flatnonzero(cov.ravel() > 0)
        sel = {k: v.ravel()[pix] for k, v in leaf["fields"].items()}
        core = None if leaf["core"] is None else leaf["core"].ravel()[pix]
        halo = None if leaf["halo"] is None else leaf["halo"].ravel()[pix]
        params = tasks.pixel_params(
            leaf["traits"], sel, leaf["midrib_contrast"] * leaf["shape"].midrib.ravel()[pix], core, halo,
            leaf["core_params"],
        )
        refl = sensor_reflectance(params, leaf["traits"]["N"], sensor)  # (P, C)
        a = cov.ravel()[pix]
        flat = cube.reshape(cube.shape[0], -1)
        flat[:, pix] = a[None, :] * refl.T + (1 - a[None, :]) * flat[:, pix]
    light, light_params = scene.illumination(shape, rng, conditions.light_level)
    cube *= light[None]
    if conditions.light_tilt:
        cube *= conditions.spectral_light(sensor.wavelengths_nm)[:, None, None]
        light_params["tilt"] = float(conditions.light_tilt)
    noise = rng.standard_normal(cube.shape, dtype=np.float32)
    cube += sensor.noise_sigma(cube).astype(np.float32) * noise
    np.maximum(cube, 0, out=cube)
    return cube.astype(np.float32, copy=False), {"background": bg_kind, "illumination": light_params}


def _leaf_record(leaf: dict[str, Any]) -> dict[str, Any]:
    return {
        "traits": {k: round(v, 6) for k, v in leaf["traits"].items()},
        "geometry": leaf["shape"].geometry,
        "lesion_fraction_target": round(leaf["lesion_fraction_target"], 6),
        "core_params": leaf["core_params"],
        "spots": leaf["spots"],
        **({"midrib_contrast": round(leaf["midrib_contrast"], 6)} if leaf["midrib_contrast"] != 1.0 else {}),
    }


def _make_cube(data: np.ndarray, sensor: Sensor, note: str) -> Cube:
    return Cube(
        data=data,
        wavelengths_nm=sensor.wavelengths_nm.copy(),
        fwhm_nm=sensor.fwhm_nm.copy(),
        metadata={"sensor": sensor.name},
        source=None,
        format="simulated",
        notes=[note],
    )


def _rng(seed: int | np.random.SeedSequence) -> np.random.Generator:
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise FocusError(f"seed must be a non-negative integer; got {seed!r}")
    return np.random.default_rng(int(seed))


def simulate_leaf(
    task: str,
    sensor: str | Sensor | np.ndarray = "vnir204",
    size: int = 64,
    seed: int | np.random.SeedSequence = 0,
    label: str | None = None,
    target: float | None = None,
    trait: str | None = None,
    conditions: Conditions = DEFAULT,
) -> SimulatedLeaf:
    """Render one leaf for `task` on `sensor` (size x size px). Same arguments -> same leaf.

    `label` picks the class (random if None); for `trait`, `target` sets the trait's leaf value
    (random in the task's range if None). The returned target is the leaf-mean trait value.
    `conditions`: lesion sizes and light other than the training distribution's (conditions.py).
    """
    sens = get_sensor(sensor)
    spec = tasks.task_spec(task, float(sens.wavelengths_nm.max()), trait)
    size = check_size(size)
    rng = _rng(seed)
    if spec.classes:
        if label is None:
            label = spec.classes[int(rng.integers(len(spec.classes)))]
        elif label not in spec.classes:
            raise FocusError(
                f"unknown label {label!r} for task {spec.name}; choose one of {', '.join(spec.classes)}"
            )
    elif label is not None:
        raise FocusError("the 'trait' task takes a target, not a label")
    if spec.name == "trait" and target is None:
        target = tasks.sample_target(spec, rng)
    if target is not None and spec.name != "trait":
        raise FocusError(f"task {spec.name!r} takes a label, not a target")
    shape = (size, size)
    leaf = _leaf(spec, rng, shape, label, target, conditions=conditions)
    data, scene_params = _render([leaf], shape, sens, rng, conditions)
    mask = leaf["shape"].mask
    lesion = None
    if spec.name == "bls":
        lesion = np.zeros(shape, bool) if leaf["halo"] is None else (leaf["halo"] > 0) & mask
    out_target = None
    if spec.name == "trait":
        p = tasks.pixel_params(
            leaf["traits"], {k: v[mask] for k, v in leaf["fields"].items()},
            leaf["midrib_contrast"] * leaf["shape"].midrib[mask],
        )
        out_target = float(np.mean(p[spec.trait]))
    params = {
        "task": spec.name,
        "sensor": sens.name,
        "size": size,
        "trait": spec.trait,
        **scene_params,
        "leaf": _leaf_record(leaf),
    }
    cube = _make_cube(
        data, sens, f"simulated {spec.name} leaf (PROSPECT-D), label={label}, target={out_target}"
    )
    midrib = (leaf["shape"].midrib > 0.5) & mask
    return SimulatedLeaf(cube, mask, lesion, label, out_target, params, midrib_mask=midrib)


def simulate_scene(task: str, sensor: str | Sensor, size: int, seed: int, labels: list[str]) -> SimulatedLeaf:
    """Several leaves in a grid (e.g. the four genotypes); `label_mask` says which leaf is which class.

    `label_mask` holds 1 + the class index of each leaf's label (0 = background).
    """
    sens = get_sensor(sensor)
    spec = tasks.task_spec(task, float(sens.wavelengths_nm.max()))
    size = check_size(size)
    if not labels or any(lab not in spec.classes for lab in labels):
        raise FocusError(f"labels must be among {', '.join(spec.classes)}")
    rng = _rng(seed)
    n = len(labels)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    shape = (size, size)
    leaves = []
    for i, lab in enumerate(labels):
        r, c = divmod(i, cols)
        box = (r * size // rows, c * size // cols, (r + 1) * size // rows, (c + 1) * size // cols)
        leaves.append(_leaf(spec, rng, shape, lab, None, box))
    data, scene_params = _render(leaves, shape, sens, rng)
    label_mask = np.zeros(shape, np.int32)
    lesion = np.zeros(shape, bool)
    for leaf, lab in zip(leaves, labels, strict=True):
        label_mask[leaf["shape"].mask] = spec.classes.index(lab) + 1
        if leaf["halo"] is not None:
            lesion |= (leaf["halo"] > 0) & leaf["shape"].mask
    params = {
        "task": spec.name,
        "sensor": sens.name,
        "size": size,
        "labels": list(labels),
        **scene_params,
        "leaves": [_leaf_record(leaf) for leaf in leaves],
    }
    cube = _make_cube(data, sens, f"simulated {spec.name} scene of {n} leaves (PROSPECT-D)")
    return SimulatedLeaf(
        cube, label_mask > 0, lesion if spec.name == "bls" else None, None, None, params, label_mask
    )
