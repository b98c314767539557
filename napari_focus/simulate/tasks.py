"""The three tasks: what the classes (or the trait) are and which PROSPECT parameters they move.

`bls`: healthy vs bacterial leaf spot (necrotic cores in chlorotic halos, 1-10 % of the leaf).
`genotype`: four classes, each raising one trait a little above a shared population.
`trait`: regression of chlorophyll (`cab`) or water (`cw`) with per-leaf targets.

Everything the ground truth needs (class means, trait spread, typical lesion) is defined here
once, so the rendered leaves and the ground truth cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_focus.errors import FocusError

TASKS = ("bls", "genotype", "trait")
TRAITS = {"cab": (20.0, 70.0), "cw": (0.006, 0.025)}  # uniform target ranges

# leaf population: (mean, sd) of normal draws; N and ant are uniform (lo, hi)
_POP_NORMAL = {"cab": (42.0, 6.0), "car": (9.5, 1.3), "cw": (0.012, 0.0012), "cm": (0.0075, 0.0008)}
_POP_UNIFORM = {"N": (1.35, 1.85), "ant": (0.2, 1.2)}

#: genotype classes: name -> (trait raised, amount)
GENOTYPE_SHIFTS = {
    "A_chlorophyll": ("cab", 8.0),
    "B_anthocyanin": ("ant", 2.0),
    "C_carotenoid": ("car", 2.2),
    "D_water": ("cw", 0.0025),  # sensors reaching the SWIR
    "D_structure": ("N", 0.18),  # VNIR-only sensors, where water is barely visible
}

#: lesion area as a fraction of the leaf: log-uniform between these bounds
LESION_FRACTION = (0.01, 0.10)
# necrotic core (uniform ranges) and chlorotic halo (multipliers at full halo severity)
_CORE = {"cab": (2.0, 5.0), "car": (1.0, 2.5), "cbrown": (1.0, 3.0), "cw_factor": (0.35, 0.5)}
_HALO = {"cab": 0.30, "car": 0.65, "cw": 0.9, "cbrown_add": 0.15}
_CORE_AREA_SHARE = (0.55**3 - 0.35**3) / (3 * 0.2)  # E[(r_core / r_halo)^2] for r ratio ~ U(0.35, 0.55)
_HALO_MEAN_SEVERITY = 0.55

# spatial variation inside a leaf (relative sd of smooth fields) and the midrib's contrast
_FIELD_SD = {"cab": 0.06, "car": 0.05, "ant": 0.2, "cw": 0.04, "cm": 0.03}
_MIDRIB = {"cab": -0.35, "car": -0.3, "ant": -0.3, "cw": 0.1}


@dataclass(frozen=True)
class TaskSpec:
    """A task on a given sensor: classes (empty for regression) and the trait (regression only)."""

    name: str
    classes: tuple[str, ...]
    trait: str | None = None
    shifts: dict[str, tuple[str, float]] = field(default_factory=dict)


def task_spec(task: str, max_wavelength_nm: float, trait: str | None = None) -> TaskSpec:
    """Validate a task name (and trait) for a sensor reaching `max_wavelength_nm`."""
    name = str(task).strip().lower()
    if name not in TASKS:
        raise FocusError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if trait is not None and name != "trait":
        raise FocusError(f"--trait applies to the 'trait' task only, not {name!r}")
    if name == "bls":
        return TaskSpec(name, ("healthy", "bls"))
    if name == "genotype":
        fourth = "D_water" if max_wavelength_nm >= 1300 else "D_structure"
        classes = ("A_chlorophyll", "B_anthocyanin", "C_carotenoid", fourth)
        return TaskSpec(name, classes, shifts={c: GENOTYPE_SHIFTS[c] for c in classes})
    trait = (trait or "cab").strip().lower()
    if trait not in TRAITS:
        raise FocusError(f"unknown trait {trait!r}; choose one of {', '.join(TRAITS)}")
    return TaskSpec(name, (), trait=trait)


def population_mean() -> dict[str, float]:
    """Mean leaf-level parameters of the shared population."""
    mean = {k: m for k, (m, _) in _POP_NORMAL.items()}
    mean.update({k: (lo + hi) / 2 for k, (lo, hi) in _POP_UNIFORM.items()})
    mean["cbrown"] = 0.0
    return mean


def class_mean(spec: TaskSpec, label: str | None) -> dict[str, float]:
    """Mean leaf-level parameters of a class (genotype shifts applied)."""
    mean = population_mean()
    if spec.name == "genotype" and label is not None:
        trait, amount = spec.shifts[label]
        mean[trait] += amount
    return mean


def leaf_traits(
    spec: TaskSpec, rng: np.random.Generator, label: str | None, target: float | None
) -> dict[str, float]:
    """Draw one leaf's parameters: population variation + class shift or regression target."""
    t = {k: float(np.clip(rng.normal(m, s), m - 3 * s, m + 3 * s)) for k, (m, s) in _POP_NORMAL.items()}
    t.update({k: float(rng.uniform(lo, hi)) for k, (lo, hi) in _POP_UNIFORM.items()})
    t["cbrown"] = 0.0
    if spec.name == "genotype":
        trait, amount = spec.shifts[label]  # type: ignore[index]
        t[trait] += amount
    elif spec.name == "trait":
        assert spec.trait is not None and target is not None
        t[spec.trait] = float(target)
    return t


def sample_target(spec: TaskSpec, rng: np.random.Generator) -> float:
    lo, hi = TRAITS[spec.trait]  # type: ignore[index]
    return float(rng.uniform(lo, hi))


def sample_lesion_fraction(rng: np.random.Generator, bounds: tuple[float, float] = LESION_FRACTION) -> float:
    lo, hi = bounds
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def sample_core(rng: np.random.Generator) -> dict[str, float]:
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in _CORE.items()}


def typical_core() -> dict[str, float]:
    return {k: (lo + hi) / 2 for k, (lo, hi) in _CORE.items()}


def pixel_params(
    traits: dict[str, float],
    fields: dict[str, np.ndarray],
    midrib: np.ndarray,
    core: np.ndarray | None = None,
    halo: np.ndarray | None = None,
    core_params: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Per-pixel PROSPECT absorbers (1-D arrays) from leaf traits, fields, midrib and lesions.

    All map arguments are already restricted to the pixels being rendered. N stays per leaf.
    """
    p: dict[str, np.ndarray] = {}
    for name in ("cab", "car", "ant", "cw", "cm"):
        v = traits[name] * (1 + _FIELD_SD[name] * fields[name]) * (1 + _MIDRIB.get(name, 0.0) * midrib)
        p[name] = v.astype(np.float32)
    p["cbrown"] = np.full_like(p["cab"], traits.get("cbrown", 0.0))
    if halo is not None and core is not None and core_params is not None:
        apply_lesion(p, core, halo, core_params)
    for name in p:
        np.maximum(p[name], 0, out=p[name])
    return p


def apply_lesion(p: dict[str, np.ndarray], core: np.ndarray, halo: np.ndarray, cp: dict[str, float]) -> None:
    """Chlorotic halo (severity `halo`) then necrotic core (weight `core`), in place."""
    p["cab"] *= 1 - (1 - _HALO["cab"]) * halo
    p["car"] *= 1 - (1 - _HALO["car"]) * halo
    p["cw"] *= 1 - (1 - _HALO["cw"]) * halo
    p["cbrown"] += _HALO["cbrown_add"] * halo
    p["ant"] *= 1 - 0.5 * halo
    for name, value in (("cab", cp["cab"]), ("car", cp["car"]), ("cbrown", cp["cbrown"]), ("ant", 0.0)):
        p[name] = ((1 - core) * p[name] + core * value).astype(np.float32)
    p["cw"] = ((1 - core) * p["cw"] + core * p["cw"] * cp["cw_factor"]).astype(np.float32)


def typical_lesion_pixels(mean: dict[str, float]) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """Parameter sets of a typical halo and core pixel and their area shares within a lesion."""

    def base() -> dict[str, np.ndarray]:
        q = {k: np.array([mean[k]], np.float32) for k in ("cab", "car", "ant", "cw", "cm")}
        q["cbrown"] = np.zeros(1, np.float32)
        return q

    halo_px, core_px = base(), base()
    apply_lesion(
        halo_px, np.zeros(1, np.float32), np.full(1, _HALO_MEAN_SEVERITY, np.float32), typical_core()
    )
    apply_lesion(core_px, np.ones(1, np.float32), np.ones(1, np.float32), typical_core())
    return [halo_px, core_px], np.array([1 - _CORE_AREA_SHARE, _CORE_AREA_SHARE])
