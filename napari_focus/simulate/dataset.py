"""Write simulated leaves to disk: ENVI cubes + mask/truth sidecars, and whole dataset folders.

The folder follows the dataset contract read by `napari_focus.dataset.load_dataset`: ENVI cubes,
`manifest.csv` (file,label,target,split,leaf_mask,lesion_mask) and `ground_truth.json`. Cubes are
uint16 with `reflectance scale factor = 10000` (a quarter of float32's size; the quantum 1e-4 is
far below the noise). The manifest is written last, so an interrupted run leaves no manifest.
Same arguments -> identical bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from napari_focus.dataset import write_manifest
from napari_focus.errors import FocusError
from napari_focus.simulate import tasks
from napari_focus.simulate.conditions import DEFAULT, Conditions
from napari_focus.simulate.ground_truth import ground_truth, sidecar_paths
from napari_focus.simulate.render import SimulatedLeaf, check_size, simulate_leaf
from napari_focus.simulate.sensors import get_sensor

SCALE = 10000
TEST_EVERY = 5  # one group of leaves in five goes to the test split
_OURS = ("manifest.csv", "ground_truth.json")


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False, default=_jsonable) + "\n"


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_uint16(data: np.ndarray) -> np.ndarray:
    """Reflectance -> uint16 counts at `SCALE` (clipped to 0..65535)."""
    return np.clip(np.rint(np.asarray(data, np.float32) * SCALE), 0, 65535).astype(np.uint16)


def write_leaf(hdr_path: str | Path, leaf: SimulatedLeaf, truth: dict[str, Any] | None = None) -> Path:
    """Write a simulated leaf as ENVI (`.hdr` + `.img`) plus its `_leaf/_lesion/_classes/_truth` sidecars."""
    from napari_focus.cube_io.envi import write_envi

    hdr = Path(hdr_path).with_suffix(".hdr")
    cube = leaf.cube
    meta = {
        "reflectance scale factor": SCALE,
        "sensor type": f"simulated {cube.metadata.get('sensor', '')}",
        "description": "napari-focus leaf simulator (PROSPECT-D); ground truth in *_truth.json",
    }
    write_envi(
        hdr, to_uint16(cube.data), wavelengths_nm=cube.wavelengths_nm, fwhm_nm=cube.fwhm_nm, metadata=meta
    )
    side = sidecar_paths(hdr)
    np.save(side["leaf_mask"], np.ascontiguousarray(leaf.leaf_mask, dtype=bool), allow_pickle=False)
    if leaf.lesion_mask is not None:
        np.save(side["lesion_mask"], np.ascontiguousarray(leaf.lesion_mask, dtype=bool), allow_pickle=False)
    if leaf.label_mask is not None:
        np.save(side["label_mask"], np.ascontiguousarray(leaf.label_mask, dtype=np.int32), allow_pickle=False)
    record = {"label": leaf.label, "target": leaf.target, "generator": leaf.params}
    if leaf.lesion_mask is not None:
        record["lesion_fraction"] = round(float(leaf.lesion_mask.sum() / max(leaf.leaf_mask.sum(), 1)), 6)
    record.update(truth or {})
    side["truth"].write_text(_json(record), encoding="utf-8")
    return hdr


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise FocusError(f"n must be a positive number of leaves; got {n!r}")
    return int(n)


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FocusError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FocusError(
                f"{out} exists and is not empty; pass --overwrite to replace a simulated dataset there"
            )
        for p in out.iterdir():  # remove only what a previous run wrote
            if p.is_file() and (p.name in _OURS or p.name.startswith("leaf_")):
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _split(i: int, n: int, k: int) -> str:
    """Balanced split: groups of k consecutive leaves (one per class); every 5th group is test."""
    group, n_groups = i // k, -(-n // k)
    if n_groups < TEST_EVERY:
        return "test" if n_groups >= 2 and group == n_groups - 1 else "train"
    return "test" if group % TEST_EVERY == TEST_EVERY - 1 else "train"


def make_dataset(
    out_dir: str | Path,
    task: str,
    sensor: str | Any = "vnir204",
    n: int = 200,
    size: int = 64,
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    trait: str | None = None,
    conditions: Conditions = DEFAULT,
) -> Path:
    """Simulate `n` leaves and write a dataset folder (see the module docstring). Returns the folder.

    `conditions`: lesion sizes and light other than the training distribution's, recorded in ground_truth.json.

    Leaf i uses the seed sequence (seed, i), so the first leaves do not change when n grows. Labels
    cycle through the classes (balanced); `progress(done, total)` is called after each leaf.
    """
    sens = get_sensor(sensor)
    spec = tasks.task_spec(task, float(sens.wavelengths_nm.max()), trait)
    n, size = _check_n(n), check_size(size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise FocusError(f"seed must be a non-negative integer; got {seed!r}")
    out = Path(out_dir)
    _prepare_out(out, overwrite)
    k = max(len(spec.classes), 1)
    rows = []
    for i in range(n):
        label = spec.classes[i % k] if spec.classes else None
        leaf = simulate_leaf(
            spec.name,
            sens,
            size,
            np.random.SeedSequence(int(seed), spawn_key=(i,)),
            label=label,
            trait=spec.trait if spec.name == "trait" else None,
            conditions=conditions,
        )
        stem = f"leaf_{i:05d}"
        hdr = write_leaf(out / f"{stem}.hdr", leaf)
        side = sidecar_paths(hdr)
        rows.append(
            {
                "file": hdr.name,
                "label": label or "",
                "target": "" if leaf.target is None else f"{leaf.target:.6g}",
                "split": _split(i, n, k),
                "leaf_mask": side["leaf_mask"].name,
                "lesion_mask": side["lesion_mask"].name if leaf.lesion_mask is not None else "",
            }
        )
        if progress is not None:
            progress(i + 1, n)
    generator = {
        "simulator": "napari_focus.simulate (PROSPECT-D)",
        "task": spec.name,
        "sensor": sens.name,
        "trait": spec.trait,
        "n": n,
        "size": size,
        "seed": int(seed),
        "scale_factor": SCALE,
        "lesion_fraction": {"distribution": "log-uniform", "range": list(conditions.lesion_fraction)}
        if spec.name == "bls"
        else None,
        "class_shifts": {c: list(v) for c, v in spec.shifts.items()} or None,
        "trait_range": list(tasks.TRAITS[spec.trait]) if spec.trait else None,
        **({"conditions": conditions.to_dict()} if conditions != DEFAULT else {}),
    }
    (out / "ground_truth.json").write_text(_json(ground_truth(spec, sens, generator)), encoding="utf-8")
    write_manifest(out, rows)
    return out
