"""What the benchmark runs: data sizes, seeds, the rows of every table, the cost sizes.

Three presets: `full` (the published benchmark, hours, spread over sittings), `quick` (a smoke check
of every table in ≤ 10 min on 2 cores) and `smoke` (seconds, for the test suite, with a tiny backbone
given by the caller). Every cell's configuration is built from these fields, so changing one
changes the cells' keys and the cache recomputes exactly what it affects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

BENCH_VERSION = 1  # bump to invalidate every cached cell (a change of what a cell computes)
#: the metric set of evaluation and baseline cells (their key; trainings keep theirs). 2: + band-curve metrics on
#: diseased leaves; 3: + mass lift, and the curve's faithfulness to the model (healing lesions group by group and
#: window by window) for the rows that have a model. Only the curve tables (Table I of the main dataset, Table II)
#: ask for 3; the other tables keep their cells of set 2, and say so.
EVAL_METRICS = 3
EVAL_METRICS_KEPT = 2
#: how the curve tables' models see a leaf (their cells' key): every pixel outside the explanation's leaf mask as the
#: training background (docs/method.md §2), as the product does. The other tables' cells saw leaves as they are.
CURVE_VIEW = "training_background"


def metrics_version(curve: bool) -> int:
    """The metric set of a cell: the curve tables' (`curve`) or the one the other tables were computed with."""
    return EVAL_METRICS if curve else EVAL_METRICS_KEPT


@dataclass(frozen=True)
class DataSpec:
    """One simulated task on one sensor (a preset name or band centres in nm)."""

    task: str
    sensor: str | tuple[float, ...]
    trait: str | None = None

    @property
    def sensor_name(self) -> str:
        if isinstance(self.sensor, str):
            return self.sensor
        return f"{len(self.sensor)} bands {self.sensor[0]:.0f}–{self.sensor[-1]:.0f} nm"

    @property
    def label(self) -> str:
        task = f"trait ({self.trait or 'cab'})" if self.task == "trait" else self.task
        return f"{task} · {self.sensor_name}"

    @property
    def slug(self) -> str:
        sensor = self.sensor if isinstance(self.sensor, str) else f"c{len(self.sensor)}_{self.sensor[-1]:.0f}"
        return f"{self.task}{'_' + self.trait if self.trait else ''}_{sensor}"

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "sensor": list(self.sensor) if not isinstance(self.sensor, str) else self.sensor,
                "trait": self.trait}


@dataclass(frozen=True)
class CostConfig:
    """The setting of benchmarks/cost.py: a DINOv2-layout frozen ViT (random weights: cost does not depend on them)."""

    backbone: dict[str, Any] = field(default_factory=lambda: dict(
        img_size=224, patch_size=16, embed_dim=192, depth=12, num_heads=3, num_classes=0))
    cubes: tuple[tuple[int, int], ...] = ((204, 128), (204, 256), (200, 128), (200, 256))  # (bands, px)
    n_classes: int = 3
    n_groups: int = 10
    repeats: int = 3
    focus_repeats: int | None = None  # repeats of the (cheap) FOCUS rows; None: `repeats`
    naive_bands: tuple[int, ...] = (8, 16, 32, 64)  # the naive ViT is measured at these band counts …
    naive_max_seconds: float = 120.0  # … and at the real count only when the fit predicts ≤ this per pass
    isolate: bool = True  # one subprocess per measurement, so peak memory is not shared between methods


#: Table I rows: (key, label). FOCUS rows explain the same trained model as the two gradient baselines.
TABLE1_METHODS = (
    ("focus", "FOCUS, default readout"),
    ("focus_paper", "FOCUS, paper-literal readout"),
    ("focus_tuned", "FOCUS, readout chosen on tuning leaves"),
    ("gradxinput", "gradient × input (same model)"),
    ("gradcam", "Grad-CAM (same model)"),
    ("promptcam", "Prompt-CAM-style (G = 1, no SINK)"),
    ("vip", "PLS-DA VIP (leaf means)"),
    ("linear", "logistic / ridge regression (leaf means)"),
    ("random", "random floor"),
)

#: Table III rows: (label, use_sink, λ)
SINK_ROWS = (
    ("no SINK", False, 0.0),
    ("SINK, no loss (λ = 0)", True, 0.0),
    ("SINK + loss, λ = 1e-3", True, 1e-3),
    ("SINK + loss, λ = 1e-2", True, 1e-2),
    ("SINK + loss, λ = 1e-1", True, 1e-1),
)

VNIR, VSWIR = "vnir204", "vswir200"


@dataclass(frozen=True)
class BenchConfig:
    name: str
    seeds: tuple[int, ...]
    n_train: int  # leaves in each training folder (its own 80/20 train/validation split)
    n_heldout: int  # leaves in the held-out folder (never trained or tuned on)
    size: int  # leaf image size in pixels (the backbone resizes to its own input)
    datasets: tuple[DataSpec, ...]  # Table I blocks; the first is the one Tables III–VI use
    fit_overrides: dict[str, Any] = field(default_factory=dict)  # passed to recipe.fit (quick: fewer epochs)
    table1_methods: tuple[str, ...] = tuple(k for k, _ in TABLE1_METHODS)
    sink_rows: tuple[int, ...] = tuple(range(len(SINK_ROWS)))  # indices into SINK_ROWS
    groups: tuple[int, ...] = (2, 5, 10, 20)
    default_groups: int = 10
    joint_row: bool = True  # Table IV: G = default_groups in one joint sequence of N·G tokens (focus/joint.py)
    default_sink_weight: float = 1e-3
    deletion_random: int = 5  # random windows per leaf in spectral deletion (Table I only)
    deletion_items: int | None = None  # held-out leaves in spectral deletion (None: all; the first ones)
    sanity_items: int = 20  # held-out leaves per sanity check
    sanity_top_layers: int | None = None  # backbone blocks re-initialised (None: the top half)
    train_data_seed: int = 1000  # training leaves of run seed s: simulator seed train_data_seed + s
    heldout_seed: int = 2000  # held-out leaves: one folder, this simulator seed
    tuning_seed: int = 3000  # tuning leaves (n_heldout of them), where the readout is chosen: never trained on
    backbone_file: str | None = None  # backbone.json (None: the embedded backbone)
    threads: int = 2
    cost: CostConfig = field(default_factory=CostConfig)

    @property
    def main(self) -> DataSpec:
        return self.datasets[0]

    def with_(self, **kw: Any) -> BenchConfig:
        return replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def preset(name: str) -> BenchConfig:
    """`full`, `quick` or `smoke`."""
    full = BenchConfig(
        name="full", seeds=(0, 1, 2), n_train=160, n_heldout=60, size=96,
        datasets=(DataSpec("bls", VNIR), DataSpec("bls", VSWIR), DataSpec("genotype", VNIR),
                  DataSpec("trait", VNIR, "cab")),
    )
    if name == "full":
        return full
    if name == "quick":
        # ≤ 10 min on 2 shared cores (two sittings at load ~4–5 took 8.8 and 11.5 min with 8 held-out leaves,
        # 2 sanity leaves and a depth-12 cost backbone): 8 training leaves, 2 epochs, 8 trainings (the joint one
        # costs ~2.3 G = 10 ones), 6 held-out leaves, spectral deletion on 4 of them with 1 random draw, sanity on
        # 1, and a smaller cost backbone (160 px: N = 100 patches instead of 196; depth 6) with models built once
        return full.with_(
            name="quick", seeds=(0,), n_train=8, n_heldout=6, size=64, datasets=(DataSpec("bls", VNIR),),
            fit_overrides={"epochs": 2}, sink_rows=(0, 2, 4), groups=(2, 10), deletion_random=1, deletion_items=4,
            sanity_items=1,
            cost=CostConfig(backbone=dict(img_size=160, patch_size=16, embed_dim=192, depth=6, num_heads=3,
                                          num_classes=0),
                            cubes=((204, 128),), repeats=1, focus_repeats=3, naive_bands=(8, 16),
                            naive_max_seconds=0.0, isolate=False),
        )
    if name == "smoke":
        vnir = tuple(float(400 + 40 * i) for i in range(16))
        vswir = tuple(float(400 + 140 * i) for i in range(16))
        return full.with_(
            name="smoke", seeds=(0,), n_train=8, n_heldout=4, size=32,
            datasets=(DataSpec("bls", vnir), DataSpec("bls", vswir), DataSpec("genotype", vnir),
                      DataSpec("trait", vnir, "cab")),
            fit_overrides={"epochs": 1}, sink_rows=(0, 1, 2, 4), groups=(2, 4), default_groups=4,
            deletion_random=1, sanity_items=2, threads=1,
            cost=CostConfig(backbone=dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4,
                                          num_classes=0),
                            cubes=((16, 32),), repeats=1, naive_bands=(2, 4), naive_max_seconds=0.0,
                            isolate=False),
        )
    raise ValueError(f"unknown benchmark preset {name!r}")
