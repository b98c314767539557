"""Cells that simulate, train and evaluate: every FOCUS model goes through the project's recipe.

Training leaves of run seed s come from simulator seed `train_data_seed + s`; the held-out folder
has its own seed and is never trained or tuned on. Models are built by `factory.new_model` on the
configured backbone (or the same architecture randomly initialised, for the backbone table),
trained with `recipe.fit` and stored as checkpoints in the cache, so tables that need the same
model share one training run.
"""

from __future__ import annotations

import contextlib
import functools
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from napari_focus.bench.cells import CellCache
from napari_focus.bench.config import BENCH_VERSION, CURVE_VIEW, EVAL_METRICS, BenchConfig, DataSpec, metrics_version


# ----------------------------------------------------------------------------------------- data
def data_config(cfg: BenchConfig, spec: DataSpec, seed: int, n: int) -> dict[str, Any]:
    return {**spec.to_dict(), "n": n, "size": cfg.size, "seed": seed}


def train_data(cfg: BenchConfig, spec: DataSpec, seed: int) -> dict[str, Any]:
    return data_config(cfg, spec, cfg.train_data_seed + seed, cfg.n_train)


def heldout_data(cfg: BenchConfig, spec: DataSpec) -> dict[str, Any]:
    return data_config(cfg, spec, cfg.heldout_seed, cfg.n_heldout)


def tuning_data(cfg: BenchConfig, spec: DataSpec) -> dict[str, Any]:
    """Leaves for choosing the readout (Table II): their own simulator seed, neither trained on nor held out."""
    return data_config(cfg, spec, cfg.tuning_seed, cfg.n_heldout)


def data_folder(cache: CellCache, dcfg: dict[str, Any]) -> Path:
    """Where a data configuration's leaves are simulated (`dataset` fills it)."""
    from napari_focus.bench.cells import cell_key

    return cache.data_dir(f"{dcfg['task']}_n{dcfg['n']}_px{dcfg['size']}_s{dcfg['seed']}_{cell_key(dcfg)[:8]}")


def dataset(cache: CellCache, dcfg: dict[str, Any]):
    """The simulated folder of a data configuration (simulated into the cache on first use)."""
    from napari_focus.dataset import load_dataset
    from napari_focus.simulate.dataset import make_dataset

    folder = data_folder(cache, dcfg)
    if not (folder / "manifest.csv").is_file():  # the manifest is written last: no manifest, no dataset
        if not cache.compute:
            return None
        cache.log(f"simulating {dcfg['n']} {dcfg['task']} leaves (seed {dcfg['seed']}) …")
        make_dataset(folder, dcfg["task"], dcfg["sensor"], dcfg["n"], dcfg["size"], dcfg["seed"], overwrite=True,
                     trait=dcfg["trait"])
    return load_dataset(folder)


# ------------------------------------------------------------------------------------ backbone
@functools.lru_cache(maxsize=4)
def _spec(backbone_file: str | None):
    from napari_focus.focus.factory import backbone_spec, default_backbone_json

    return backbone_spec(weights_file=backbone_file or default_backbone_json())


def backbone_config(cfg: BenchConfig, init: str = "pretrained") -> dict[str, Any]:
    spec = _spec(cfg.backbone_file)
    out = {"name": spec.name, "kwargs": spec.kwargs, "img_size": spec.img_size, "sha256": spec.sha256, "init": init}
    return out | ({"random_init_seed": f"{RANDOM_INIT_SEED} + run seed"} if init == "random" else {})


RANDOM_INIT_SEED = 4242  # + run seed: the randomly initialised backbone's own seed (not the FOCUS init's)


def backbone_for(cache: CellCache, cfg: BenchConfig, init: str, seed: int):
    """The configured backbone spec, or the same architecture randomly initialised (frozen either way).

    The random one is built from the same spec without its weights file, under its own seed, and
    written to the cache as a backbone.json + safetensors, so its checkpoints rebuild it exactly.
    """
    import json

    import torch
    from safetensors.torch import save_file

    from napari_focus.focus.backbone import BackboneSpec, build_backbone
    from napari_focus.focus.factory import backbone_spec

    spec = _spec(cfg.backbone_file)
    if init == "pretrained":
        return spec
    folder = cache.root / "backbones" / f"random_{spec.sha256[:12]}_seed{RANDOM_INIT_SEED + seed}"
    if not (folder / "backbone.json").is_file():
        torch.manual_seed(RANDOM_INIT_SEED + seed)
        vit = build_backbone(BackboneSpec(name=spec.name, kwargs=dict(spec.kwargs), img_size=spec.img_size))
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(folder / "weights.safetensors"))
        kwargs = {**spec.kwargs, **({"img_size": spec.img_size} if spec.img_size else {})}
        (folder / "backbone.json").write_text(json.dumps({"name": spec.name, "kwargs": kwargs,
                                                          "weights_file": "weights.safetensors", "init": "random"}))
    return backbone_spec(weights_file=folder / "backbone.json")


# ------------------------------------------------------------------------------------- training
def train_config(cfg: BenchConfig, spec: DataSpec, seed: int, groups: int | None = None, use_sink: bool = True,
                 sink_weight: float | None = None, init: str = "pretrained", joint: bool = False,
                 curve: bool = False) -> dict[str, Any]:
    """`joint`: one backbone sequence of all N·G tokens (focus/joint.py), Table IV's ablation. `curve`: a model of the
    curve tables, trained with the shipped checkpoint's recipe (`recipe.CURVE_RECIPE`); the others with `RECIPE`.
    The preset's `fit_overrides` (fewer epochs for the smoke runs) apply to both."""
    from napari_focus.focus.recipe import CURVE_RECIPE, RECIPE

    lam = cfg.default_sink_weight if sink_weight is None else float(sink_weight)
    return {"kind": "train", "v": BENCH_VERSION, "data": train_data(cfg, spec, seed),
            "backbone": backbone_config(cfg, init), "groups": int(groups or cfg.default_groups),
            "use_sink": bool(use_sink), "sink_weight": lam if use_sink else 0.0, "seed": int(seed),
            "recipe": {**(CURVE_RECIPE if curve else RECIPE), **cfg.fit_overrides}} | (
        {"sequence": "joint"} if joint else {})


def _label(tcfg: dict[str, Any]) -> str:
    d = tcfg["data"]
    sink = f"λ={tcfg['sink_weight']:g}" if tcfg["use_sink"] else "no SINK"
    return (f"train {d['task']} {len(d['sensor']) if isinstance(d['sensor'], list) else d['sensor']} "
            f"G={tcfg['groups']}{' joint' if tcfg.get('sequence') == 'joint' else ''} {sink} "
            f"{tcfg['backbone']['init']}{' fast path' if tcfg['recipe'].get('fast') else ''} seed {tcfg['seed']}")


def trained_model(cache: CellCache, cfg: BenchConfig, tcfg: dict[str, Any]):
    """(model, training record) for a training configuration; (None, None) when not available yet."""
    from napari_focus.focus.checkpoint import load_checkpoint

    folder = cache.model_dir(tcfg)
    if cache.get(tcfg) is not None and not (folder / "config.json").is_file():
        cache.path(tcfg).unlink()  # the model was deleted by hand: train it again
    rec = cache.run(tcfg, lambda: _train(cache, cfg, tcfg), _label(tcfg))
    if rec is None:
        return None, None

    def stamp() -> tuple:
        return str(folder), *((folder / f).stat().st_mtime_ns for f in ("config.json", "weights.safetensors"))

    key = stamp()
    if key not in _LOADED:
        model = load_checkpoint(folder)
        if model.margin_ref is None or model.background_fill is None:
            model, key = _add_reference(cache, tcfg, model), stamp()
        model.canonical_background = False  # leaves as they are, unless a cell asks for a view (`viewed`)
        _LOADED[key] = model
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
    _LOADED.move_to_end(key)
    return _LOADED[key], rec


#: the last models loaded, by folder and file times: Table II explains each seed's model with every rule in turn, and
#: one model object lets the lesion heals (focus/faithfulness.py caches them per model) serve every rule's cell
_LOADED: OrderedDict[tuple, Any] = OrderedDict()
_LOADED_MAX = 3


def _add_reference(cache: CellCache, tcfg: dict[str, Any], model: Any):
    """A model trained before `train()` ended by storing the calibrated readout's reference and the training
    background gets them now: measured as `train()` measures them, on the model's own training leaves
    (`zoo.add_reference`), and written into the cached checkpoint's config.json. The weights, the training cell and
    its key stay; the checkpoint's hash changes (the evaluations record the new one)."""
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.zoo.add_reference import add_background, add_reference

    dataset(cache, tcfg["data"])  # the training leaves regenerate from their seed when missing
    folder, data = cache.model_dir(tcfg), data_folder(cache, tcfg["data"])
    if model.margin_ref is None:
        res = add_reference(folder, data)
        cache.log(f"  {_label(tcfg)}: margin reference fitted on its {res['leaves']} training leaves")
    if model.background_fill is None:
        res = add_background(folder, data)
        cache.log(f"  {_label(tcfg)}: training background measured on its {res['leaves']} training leaves")
    return load_checkpoint(folder)


@contextlib.contextmanager
def viewed(model, cell: dict[str, Any]):
    """The model seeing leaves as `cell` says (its "view": `CURVE_VIEW`, or leaves as they are), for that cell only:
    loaded models are shared between cells."""
    model.canonical_background = cell.get("view") == CURVE_VIEW
    try:
        yield model
    finally:
        model.canonical_background = False


def _train(cache: CellCache, cfg: BenchConfig, tcfg: dict[str, Any]) -> dict[str, Any]:
    import torch

    from napari_focus.focus import recipe
    from napari_focus.focus.checkpoint import save_checkpoint
    from napari_focus.focus.factory import new_model

    ds = dataset(cache, tcfg["data"])
    items, val = ds.split("train"), ds.split("test")
    task = "regression" if ds.is_regression else "classification"
    classes = [ds.ground_truth.get("trait") or "trait"] if task == "regression" else ds.classes
    first = items[0].cube()
    torch.manual_seed(tcfg["seed"])
    spec = backbone_for(cache, cfg, tcfg["backbone"]["init"], tcfg["seed"])
    how = dict(tcfg["recipe"])
    made = {"prompt_std": how.pop("prompt_std")} if "prompt_std" in how else {}
    model = new_model(spec, first.n_bands, first.wavelengths_nm, classes, task=task, n_groups=tcfg["groups"],
                      good_bands=first.good_bands, use_sink=tcfg["use_sink"], seed=tcfg["seed"],
                      joint=tcfg.get("sequence") == "joint", **made)
    hist = recipe.fit(model, items, val=val or None, sink_weight=tcfg["sink_weight"], seed=tcfg["seed"],
                      progress=_progress(_label(tcfg)), **how)
    save_checkpoint(model, cache.model_dir(tcfg))  # atomic: replaces a stale folder in one rename
    trainable = sum(p.numel() for p in model.trainable_named().values())
    backbone = sum(p.numel() for p in model.backbone.parameters())
    return {"loss": hist.loss, "val_score": hist.val_score, "sink_mass": hist.sink_mass, "seconds": hist.seconds,
            "n_train": len(items), "n_val": len(val), "trainable_params": trainable, "backbone_params": backbone,
            "params_percent": 100.0 * trainable / backbone, "checkpoint_sha256": model.checkpoint_sha256}


def _progress(desc: str):
    from tqdm import tqdm

    state: dict[str, Any] = {}

    def progress(step: int, total: int, info: dict[str, Any]) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=total, desc=desc, unit="step", leave=False, disable=None)
        bar.update(step - bar.n)
        if step >= total:
            bar.close()

    return progress


# ----------------------------------------------------------------------------------- evaluation
def gt_curve(ds, name: str) -> np.ndarray | None:
    sens = (ds.ground_truth or {}).get("sensitivity") or {}
    return np.asarray(sens[name], float) if name in sens else None


def curve_scores(curve: np.ndarray, ds, name: str) -> dict[str, float]:
    """BIO@5 strict/tolerant against the class's true top-5 bands, Spearman ρ and mass lift against its sensitivity
    (the curve metrics `explain.saliency_metrics` gives a model's explanation, for a curve without one)."""
    from napari_focus import metrics as mt

    gt = ds.ground_truth or {}
    wl = gt.get("wavelengths_nm")
    res: dict[str, float] = {}
    top = (gt.get("gt_top5_band") or {}).get(name)
    if top is not None:
        pred = mt.top_k_bands(curve, wl, k=5)
        res["bio5_strict"] = mt.bio_from_bands(pred, top, wl, tolerant=False)
        res["bio5_tolerant"] = mt.bio_from_bands(pred, top, wl, tolerant=True)
    true = gt_curve(ds, name)
    if true is not None:
        res["rho_gt"] = mt.spearman(curve, true)
        res["mass_lift"] = mt.mass_lift(curve, true)
    return res


def truth_name(model, ds, item) -> str:
    return item.label if model.task == "classification" else (ds.ground_truth.get("trait") or model.classes[0])


def rule_key(rule: str | None) -> dict[str, Any]:
    """What a cached explanation depends on beyond its rule's name: the even part of an `_even` curve (a module
    constant, re-chosen on tuning leaves), so that changing it re-runs those cells and no other."""
    from napari_focus.focus.readout import RULES

    even = [RULES[p].even for p in (rule or "").split("+") if p in RULES and RULES[p].even]
    return {"even": even[-1]} if even else {}


def eval_config(cfg: BenchConfig, spec: DataSpec, tcfg: dict[str, Any], method: str = "focus",
                rule: str | None = None, on: str = "heldout") -> dict[str, Any]:
    """`on`: "heldout" (the tables) or "tuning" (Table II's readout choice); the folder is stored under that key."""
    from napari_focus.focus.readout import DEFAULT_RULE

    data = {"heldout": heldout_data, "tuning": tuning_data}[on](cfg, spec)
    rule = (rule or DEFAULT_RULE) if method == "focus" else None
    return {"kind": "eval", "v": BENCH_VERSION, "model": tcfg, on: data, "method": method, "rule": rule,
            **rule_key(rule)}


def eval_folder(ecfg: dict[str, Any]) -> dict[str, Any]:
    """The data configuration an evaluation runs on (held-out or tuning leaves)."""
    return ecfg["heldout"] if "heldout" in ecfg else ecfg["tuning"]


def _evaluate(cache: CellCache, cfg: BenchConfig, ecfg: dict[str, Any], deletion: int, max_items: int | None = None,
              faithfulness: bool = False) -> dict:
    from napari_focus.focus.evaluate import evaluate

    model, _ = trained_model(cache, cfg, ecfg["model"])
    held = dataset(cache, eval_folder(ecfg))
    with viewed(model, ecfg):
        return evaluate(model, held, split="all", method=ecfg["method"], rule=ecfg["rule"], deletion_random=deletion,
                        max_items=max_items, faithfulness=faithfulness)


def evaluation(cache: CellCache, cfg: BenchConfig, ecfg: dict[str, Any], curve: bool = False) -> dict[str, Any] | None:
    """docs/method.md §4 metrics of one method on the held-out (or tuning) folder: means over leaves, the band-curve
    metrics also over the diseased leaves alone.

    `curve`: a cell of the curve tables (Table I of the main dataset, Table II), which also heals each diseased leaf's
    lesion group by group and window by window to score the curve's faithfulness to the model (evaluate's
    `faithfulness`). The cell's key adds the metric set's version to `ecfg` (which the deletion cell keys on
    unchanged), so a new metric re-runs the evaluations only."""
    cache.get(ecfg["model"])  # count the model's training among the cells this table rests on
    version = metrics_version(curve)
    ecfg = {**ecfg, "metrics": version} | ({"view": CURVE_VIEW} if curve else {})
    if cache.compute and cache.get(ecfg) is None:
        trained_model(cache, cfg, ecfg["model"])  # its own cell first, so each cell's time is its own

    tag = (ecfg["rule"] or ecfg["method"]) + (" (tuning leaves)" if "tuning" in ecfg else "")
    return cache.run(ecfg, lambda: _evaluate(cache, cfg, ecfg, 0, faithfulness=version >= EVAL_METRICS),
                     f"evaluate {tag} on {_label(ecfg['model'])[6:]}")


def deletion(cache: CellCache, cfg: BenchConfig, ecfg: dict[str, Any]) -> dict[str, Any] | None:
    """Spectral deletion (docs/method.md §4) of one method's curves over the held-out leaves: its own cell, because it
    costs several forward passes per leaf and only Table I reports it. Grad-CAM's band curve is gradient ×
    input's (focus/baselines.py), so its deletion is gradient × input's cell, not a second identical one."""
    if ecfg["method"] == "gradcam":
        ecfg = {**ecfg, "method": "gradxinput"}
    dcfg = {"kind": "deletion", "v": BENCH_VERSION, "eval": ecfg, "n_random": cfg.deletion_random}
    dcfg |= {"items": cfg.deletion_items} if cfg.deletion_items else {}
    if cache.compute and cache.get(dcfg) is None:
        trained_model(cache, cfg, ecfg["model"])

    def compute() -> dict[str, Any]:
        res = _evaluate(cache, cfg, ecfg, cfg.deletion_random, max_items=cfg.deletion_items)
        agg = res.get("spectral_deletion") or {}
        return {"deletion_ratio": agg.get("ratio", float("nan")), "drop_top": agg.get("drop_top"),
                "drop_random": agg.get("drop_random"), "n": res["n"]}

    tag = ecfg["rule"] or ecfg["method"]
    return cache.run(dcfg, compute, f"spectral deletion {tag} on {_label(ecfg['model'])[6:]}")
