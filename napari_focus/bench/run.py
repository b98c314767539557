"""Collect every table's cells (computing the missing ones) into plain data for `tables.render`.

Order: the readout choice on tuning leaves (Table II, which Table I's "chosen readout" row needs), the
main dataset's cells for Tables I, III, IV, V and the sanity checks, then the cost table, then Table I's
other datasets, so that a time-limited sitting fills every table first.
Each value is a list with one entry per run seed (None where the cell is not computed yet).
"""

from __future__ import annotations

from typing import Any

from napari_focus.bench import baselines, sanity
from napari_focus.bench.cells import CellCache
from napari_focus.bench.config import SINK_ROWS, TABLE1_METHODS, BenchConfig, DataSpec
from napari_focus.bench.runs import deletion, eval_config, evaluation, train_config

Seeds = list[dict[str, Any] | None]


def _per_seed(cfg: BenchConfig, fn) -> Seeds:
    return [fn(seed) for seed in cfg.seeds]


def _focus_eval(cache: CellCache, cfg: BenchConfig, spec: DataSpec, method: str = "focus", rule: str | None = None,
                with_deletion: bool = False, on: str = "heldout", curve: bool = False, **train_kw: Any) -> Seeds:
    """`curve`: the curve tables' cells (`runs.evaluation`)."""
    def one(seed: int) -> dict[str, Any] | None:
        ecfg = eval_config(cfg, spec, train_config(cfg, spec, seed, curve=curve, **train_kw), method, rule, on)
        res = evaluation(cache, cfg, ecfg, curve)
        if res is None or not with_deletion:
            return res
        dl = deletion(cache, cfg, ecfg)
        return {**res, **(dl or {"deletion_ratio": None})}

    return _per_seed(cfg, one)


def _training(cache: CellCache, cfg: BenchConfig, spec: DataSpec, **train_kw: Any) -> Seeds:
    """Training results (read-only: the evaluations have trained what exists)."""
    recs = [cache.get(train_config(cfg, spec, s, **train_kw)) for s in cfg.seeds]
    return [None if r is None else r["result"] for r in recs]


def table_readout(cache: CellCache, cfg: BenchConfig) -> list[tuple[str, Seeds]]:
    """Table II: every single one-pass readout rule on the tuning leaves, for the main dataset's default model of each
    seed (the chosen rule becomes a default, which stays one forward pass)."""
    from napari_focus.focus.readout import one_pass_rules

    return [(rule, _focus_eval(cache, cfg, cfg.main, "focus", rule, on="tuning", curve=True))
            for rule in one_pass_rules()]


def chosen_readout(rows: list[tuple[str, Seeds]]) -> str | None:
    """Table II's choice, by the product's criterion (zoo/choose_rule.py): `readout.choose_rule` on the means over
    seeds, the map by AUPRC, the curve by `readout.curve_score` (ρ with the truth + group and window faithfulness to
    the model, on diseased leaves). Fixed before any held-out leaf is explained with it; None until every rule has
    every seed."""
    from napari_focus.bench.fmt import mean
    from napari_focus.focus.readout import CURVE_SCORE, choose_rule, curve_score

    if not rows or any(r is None for _, vals in rows for r in vals):
        return None
    keys = ("auprc", "rho_gt", *(f"{m}_diseased" for m in CURVE_SCORE))
    scores = {rule: {k: mean(vals, k) for k in keys} for rule, vals in rows}
    for s in scores.values():
        s["curve_score"] = curve_score(s)
    return choose_rule(scores, curve_key="curve_score")


def _cached_choice(cache: CellCache, cfg: BenchConfig) -> str | None:
    """Table II's choice from the cells that exist, computing none (a second process's share waits for it)."""
    computing, cache.compute = cache.compute, False
    chosen = chosen_readout(table_readout(cache, cfg))
    cache.compute = computing
    return chosen


def table1(cache: CellCache, cfg: BenchConfig, spec: DataSpec, chosen: str | None = None
           ) -> list[tuple[str, str, Seeds]]:
    """`chosen`: Table II's readout (its row reads pending while that is not known). The main dataset's block is the
    curve table: its cells carry the current metric set (`runs.evaluation`'s `curve`)."""
    rows = []
    curve = spec == cfg.main
    for key, label in TABLE1_METHODS:
        if key not in cfg.table1_methods:
            continue
        if key in ("focus", "gradxinput", "gradcam"):
            vals = _focus_eval(cache, cfg, spec, key, with_deletion=True, curve=curve)
        elif key == "focus_paper":
            vals = _focus_eval(cache, cfg, spec, "focus", "paper", with_deletion=True, curve=curve)
        elif key == "focus_tuned":
            vals = (_focus_eval(cache, cfg, spec, "focus", chosen, with_deletion=True, curve=curve) if chosen
                    else [None] * len(cfg.seeds))
            label = f"{label} (`{chosen}`)" if chosen else label
        elif key == "promptcam":
            vals = _focus_eval(cache, cfg, spec, groups=1, use_sink=False, with_deletion=True, curve=curve)
        else:
            vals = _per_seed(cfg, lambda s, k=key: baselines.baseline(cache, cfg, spec, s, k, curve))
        rows.append((key, label, vals))
    return rows


def table3(cache: CellCache, cfg: BenchConfig) -> list[tuple[str, Seeds]]:
    rows = []
    for i in cfg.sink_rows:
        label, use_sink, lam = SINK_ROWS[i]
        rows.append((label, _focus_eval(cache, cfg, cfg.main, use_sink=use_sink, sink_weight=lam)))
    return rows


def table4(cache: CellCache, cfg: BenchConfig) -> list[tuple[int | str, Seeds, Seeds]]:
    """One row per G (per-group sequences), then G = default in one joint sequence (key "joint")."""
    rows: list[tuple[int | str, Seeds, Seeds]] = []
    for g in cfg.groups:
        vals = _focus_eval(cache, cfg, cfg.main, groups=g)
        rows.append((g, vals, _training(cache, cfg, cfg.main, groups=g)))
    if cfg.joint_row:
        rows.append(("joint", _focus_eval(cache, cfg, cfg.main, joint=True),
                     _training(cache, cfg, cfg.main, joint=True)))
    return rows


def table_backbone(cache: CellCache, cfg: BenchConfig) -> list[tuple[str, Seeds]]:
    return [(init, _focus_eval(cache, cfg, cfg.main, init=init)) for init in ("pretrained", "random")]


def table_sanity(cache: CellCache, cfg: BenchConfig, chosen: str | None) -> Seeds:
    """The fixed methods' cells and, once Table II has chosen, its readout's, merged per seed."""
    def one(seed: int) -> dict[str, Any] | None:
        tcfg = train_config(cfg, cfg.main, seed, curve=True)
        fixed = sanity.sanity(cache, cfg, cfg.main, tcfg)
        tuned = sanity.sanity(cache, cfg, cfg.main, tcfg, chosen) if chosen else None
        return None if fixed is None else {**fixed, **(tuned or {})}

    return _per_seed(cfg, one)


def cost_config(cfg: BenchConfig, n_bands: int, size: int) -> dict[str, Any]:
    from napari_focus.bench.config import BENCH_VERSION
    from napari_focus.bench.cost import MEASURED, machine

    c = cfg.cost
    job = {"n_bands": n_bands, "size": size, "backbone": dict(c.backbone), "n_groups": c.n_groups,
           "n_classes": c.n_classes, "repeats": c.repeats, "threads": cfg.threads}
    job |= {"focus_repeats": c.focus_repeats} if c.focus_repeats else {}
    return {"kind": "cost", "v": BENCH_VERSION, "machine": machine(), "job": job, "methods": list(MEASURED),
            "naive_bands": list(c.naive_bands), "naive_max_seconds": c.naive_max_seconds, "isolate": c.isolate}


def table_cost(cache: CellCache, cfg: BenchConfig) -> list[tuple[int, int, dict[str, Any] | None]]:
    from napari_focus.bench.cost import cost_cell

    rows = []
    for n_bands, size in cfg.cost.cubes:
        ccfg = cost_config(cfg, n_bands, size)
        res = cache.run(ccfg, lambda c=ccfg: cost_cell(c["job"], tuple(c["naive_bands"]), c["naive_max_seconds"],
                                                       c["isolate"]), f"cost {n_bands} bands {size} px", alone=True)
        rows.append((n_bands, size, res))
    return rows


def collect_other_datasets(cache: CellCache, cfg: BenchConfig) -> None:
    """A second process's share of a sitting on a 2-core machine: Table I of the datasets after the main one, last
    first. `collect` reaches them last, so the two processes compute different cells for hours (were they to meet,
    the atomic cell writes keep one whole copy of a cell computed twice). The chosen-readout row waits for Table
    II, which only the main order computes."""
    chosen = _cached_choice(cache, cfg)
    for spec in reversed(cfg.datasets[1:]):
        table1(cache, cfg, spec, chosen)


def collect_main_tail(cache: CellCache, cfg: BenchConfig) -> None:
    """A second process's share once the other datasets are done: the main dataset's training tables from the far
    end (sanity, random backbone, Table IV's joint row and G from the largest, Table III from its last row, each
    seed from the last), so that it walks towards the main order and the cell claims stop them meeting twice on
    one cell. The cost table stays the main order's, which waits for the other process's cell to end before it
    measures (`CellCache.run(alone=True)`)."""
    back = cfg.with_(seeds=tuple(reversed(cfg.seeds)))
    table_sanity(cache, back, _cached_choice(cache, cfg))
    _focus_eval(cache, back, back.main, init="random")
    if back.joint_row:
        _focus_eval(cache, back, back.main, joint=True)
    for g in sorted(back.groups, reverse=True):
        _focus_eval(cache, back, back.main, groups=g)
    for i in reversed(back.sink_rows):
        _, use_sink, lam = SINK_ROWS[i]
        _focus_eval(cache, back, back.main, use_sink=use_sink, sink_weight=lam)


def collect(cache: CellCache, cfg: BenchConfig) -> dict[str, Any]:
    """Every table's values, computing what is missing (unless the cache only reads)."""
    out: dict[str, Any] = {"table1": {}, "readout": table_readout(cache, cfg)}
    out["chosen"] = chosen = chosen_readout(out["readout"])
    out["table1"][cfg.main.label] = table1(cache, cfg, cfg.main, chosen)
    out["table3"] = table3(cache, cfg)
    out["table4"] = table4(cache, cfg)
    out["backbone"] = table_backbone(cache, cfg)
    out["sanity"] = table_sanity(cache, cfg, chosen)
    out["cost"] = table_cost(cache, cfg)
    for spec in cfg.datasets[1:]:
        out["table1"][spec.label] = table1(cache, cfg, spec, chosen)
    return out

