"""Physically simulated leaves with ground truth (docs/method.md §5): PROSPECT-D, sensors, scenes, datasets.

Public API (numpy/scipy only; submodules load on first use so `import napari_focus.simulate` is cheap):

- `get_sensor(name_or_wavelengths, fwhm_nm=None) -> Sensor`
- `simulate_leaf(task, sensor, size, seed, label=None, target=None, trait=None) -> SimulatedLeaf`
- `simulate_scene(task, sensor, size, seed, labels) -> SimulatedLeaf` (several leaves, `label_mask`)
- `bench_capture(seed, sensor="vnir204") -> BenchCapture` (a leaf on a black tray beside a white panel)
- `make_dataset(out_dir, task, sensor, n, size, seed, overwrite=False, progress=None, trait=None) -> Path`
- `ground_truth_for(cube_path) -> dict | None` (a cube's `_leaf`/`_lesion`/`_classes`/`_truth` sidecars)
- `prospect(...)`: vectorised PROSPECT-D/PRO reflectance and transmittance.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Sensor": "sensors",
    "get_sensor": "sensors",
    "PRESETS": "sensors",
    "SimulatedLeaf": "render",
    "simulate_leaf": "render",
    "simulate_scene": "render",
    "BenchCapture": "capture",
    "bench_capture": "capture",
    "make_dataset": "dataset",
    "write_leaf": "dataset",
    "ground_truth_for": "ground_truth",
    "prospect": "prospect",
    "TASKS": "tasks",
    "TRAITS": "tasks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
