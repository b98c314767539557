"""Model-randomisation sanity checks (Adebayo et al., NeurIPS 2018) for every saliency method.

An explanation that does not change when the model it explains is destroyed explains the input,
not the model. Cascade: (1) the trained FOCUS tensors are re-initialised as a fresh model would
be (prompts, SINK and head random, Φ back to its mean-band start, group embeddings zero, no stored readout
reference; the calibration is kept); (2) then the backbone's top blocks are re-initialised as well (timm's ViT
init). For each method, the Spearman ρ between the map M (leaf pixels) and the curve B before and
after, mean over held-out leaves; ρ > 0.9 flags a method whose output barely depends on the model. The readout
Table II chose is checked beside the fixed methods; its curve's ρ after the first stage is held to ≤ CURVE_RHO_MAX.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from napari_focus.bench.cells import CellCache
from napari_focus.bench.config import BENCH_VERSION, CURVE_VIEW, BenchConfig, DataSpec
from napari_focus.bench.runs import dataset, heldout_data, rule_key, trained_model, truth_name, viewed

#: (key, method, rule) of the model-based methods checked
METHODS = (("focus", "focus", None), ("focus_paper", "focus", "paper"), ("gradxinput", "gradxinput", None),
           ("gradcam", "gradcam", None))
FLAG_RHO = 0.9
CURVE_RHO_MAX = 0.5  # the chosen readout's curve after re-initialising what training fitted and the readout stores
TUNED = "focus_tuned"  # the key of Table II's readout (Table I's row of the same name)


def reinit_trainables(model, seed: int, prompt_std: float | None = None):
    """A copy of `model` whose trainable tensors are those of a freshly built model (other seed), its prompts spread
    as the model's recipe made them (`prompt_std`; a checkpoint does not store it; None: the model's own)."""
    fresh = type(model)(model.backbone, model.backbone_spec, model.groups, model.classes, task=model.task,
                       wavelengths_nm=model.wavelengths_nm, use_sink=model.use_sink, seed=seed,
                       rollout_depth=model.rollout_depth,
                       prompt_std=model.prompt_std if prompt_std is None else prompt_std)
    out = copy.deepcopy(model)
    new = fresh.trainable_named()
    import torch

    with torch.no_grad():
        for name, p in out.trainable_named().items():
            p.copy_(new[name])
    out.margin_ref = fresh.margin_ref  # what the readout stores is reset too: a fresh model has none
    return out.eval()


def reinit_top_blocks(model, n_blocks: int, seed: int):
    """A copy of `model` whose backbone's last `n_blocks` blocks are re-initialised (still frozen)."""
    import torch
    from timm.models.vision_transformer import init_weights_vit_timm

    out = copy.deepcopy(model)
    torch.manual_seed(seed)
    with torch.no_grad():
        for blk in out.backbone.blocks[len(out.backbone.blocks) - n_blocks:]:
            for m in blk.modules():
                init_weights_vit_timm(m)  # Linear: trunc-normal 0.02; LayerNorm, LayerScale: reset
    for p in out.backbone.parameters():
        p.requires_grad_(False)
    return out.eval()


def sanity_config(cfg: BenchConfig, spec: DataSpec, tcfg: dict[str, Any], chosen: str | None = None
                  ) -> dict[str, Any]:
    out = {"kind": "sanity", "v": BENCH_VERSION, "model": tcfg, "heldout": heldout_data(cfg, spec),
           "items": cfg.sanity_items, "top_blocks": cfg.sanity_top_layers,
           "methods": [TUNED] if chosen else [m[0] for m in METHODS]}
    return out | ({"chosen": chosen, "view": CURVE_VIEW, **rule_key(chosen)} if chosen else {})


def sanity(cache: CellCache, cfg: BenchConfig, spec: DataSpec, tcfg: dict[str, Any],
           chosen: str | None = None) -> dict[str, Any] | None:
    """The fixed methods' cell or, with `chosen`, Table II's readout's own cell (method `TUNED`): the fixed methods'
    results do not depend on which readout Table II chooses, so they keep their cell when the choice changes."""
    scfg = sanity_config(cfg, spec, tcfg, chosen)
    if cache.compute and cache.get(scfg) is None:
        trained_model(cache, cfg, tcfg)  # its own cell first, so each cell's time is its own
    what = f" of {chosen}" if chosen else ""
    return cache.run(scfg, lambda: _compute(cache, cfg, scfg), f"sanity checks{what} on seed {tcfg['seed']}")


def _compute(cache: CellCache, cfg: BenchConfig, scfg: dict[str, Any]) -> dict[str, Any]:
    model, _ = trained_model(cache, cfg, scfg["model"])
    with viewed(model, scfg):
        return _cascade(cache, model, scfg)


def _cascade(cache: CellCache, model: Any, scfg: dict[str, Any]) -> dict[str, Any]:
    from napari_focus.focus.explain import explain

    held = dataset(cache, scfg["heldout"])
    items = list(held)[: scfg["items"]]
    depth = len(model.backbone.blocks)
    n_top = scfg["top_blocks"] or max(1, depth // 2)
    seed = 10_000 + scfg["model"]["seed"]
    stage1 = reinit_trainables(model, seed, scfg["model"]["recipe"].get("prompt_std"))
    stages = {"trained": model, "prompts": stage1, "prompts_top": reinit_top_blocks(stage1, n_top, seed)}
    res: dict[str, Any] = {"n": len(items), "top_blocks": n_top, "depth": depth}
    cubes = [(it, it.cube(), it.leaf_mask()) for it in items]
    chosen = scfg.get("chosen")
    for key, method, rule in ((TUNED, "focus", chosen),) if chosen else METHODS:
        rho: dict[str, list[float]] = {f"{w}_{s}": [] for w in ("map", "curve") for s in ("prompts", "prompts_top")}
        for it, cube, leaf in cubes:
            c = model.classes.index(truth_name(model, held, it)) if model.task == "classification" else 0
            exps = {s: explain(m, cube, class_index=c, method=method, rule=rule, leaf_mask=leaf)
                    for s, m in stages.items()}
            lm = np.asarray(leaf, bool)
            for s in ("prompts", "prompts_top"):
                rho[f"map_{s}"].append(_rho(exps["trained"].M[lm], exps[s].M[lm]))
                rho[f"curve_{s}"].append(_rho(exps["trained"].B, exps[s].B))
        for name, vals in rho.items():
            finite = [v for v in vals if np.isfinite(v)]
            res[f"{key}_{name}"] = float(np.mean(finite)) if finite else float("nan")
            res[f"{key}_{name}_n"] = len(finite)
    return res


def _rho(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ; 0 when exactly one side is constant (a randomised model whose curve went flat changed it
    entirely: leaving such leaves out would bias ρ upwards), NaN when both are."""
    from napari_focus.metrics import spearman

    r = spearman(a, b)
    if not np.isfinite(r) and (np.ptp(a) > 0) != (np.ptp(b) > 0):
        return 0.0
    return r


def flags(res: dict[str, Any], key: str) -> list[str]:
    """What did not change for a method (empty when every ρ ≤ FLAG_RHO or undefined)."""
    out = []
    for what in ("map", "curve"):
        for stage, name in (("prompts", "prompts/adapter"), ("prompts_top", "+ top blocks")):
            v = res.get(f"{key}_{what}_{stage}")
            if v is not None and np.isfinite(v) and v > FLAG_RHO:
                out.append(f"{what} unchanged ({name})")
    return out
