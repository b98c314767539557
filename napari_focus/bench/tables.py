"""Markdown from collected cells: mean ± std over run seeds, and the generated block of docs/benchmarks.md.

Nothing here computes a metric; it only formats what the cells hold and compares means (and, per run seed, values
and accuracy against chance) for the "what holds" lines. A missing cell shows as `pending`, a metric that does not
apply as `–`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from napari_focus.bench.config import SINK_ROWS, BenchConfig
from napari_focus.bench.curve_tables import curve_race, curve_table, sanity_holds, table_readout
from napari_focus.bench.fmt import fmt, mean, seeds_ahead, values
from napari_focus.bench.fmt import table as _table
from napari_focus.bench.sanity import FLAG_RHO, TUNED, flags
from napari_focus.bench.sanity import METHODS as SANITY_METHODS

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _score_key(rows) -> tuple[str, str]:
    for _, _, vals in rows:
        if values(vals, "r2"):
            return "r2", "R²"
    return "accuracy", "Acc"


def table1(cfg: BenchConfig, label: str, rows, sanity_flags: dict[str, list[str]], curve: bool = False) -> list[str]:
    """One Table I block; `curve`: the curve table's (the main dataset's), with the curve on diseased leaves below."""
    key, name = _score_key(rows)
    out = [f"**{label}**", ""]
    body = []
    for k, lab, vals in rows:
        mark = " ⚑" if sanity_flags.get(k) else ""
        body.append([lab + mark, fmt(vals, key), fmt(vals, "bio5_strict"), fmt(vals, "bio5_tolerant"),
                     fmt(vals, "bio5_tolerant_diseased"), fmt(vals, "rho_gt"), fmt(vals, "iou"), fmt(vals, "auprc"),
                     fmt(vals, "auprc_floor_random"), fmt(vals, "deletion_ratio", 2)])
    out += _table(["method", name, "BIO@5 strict", "BIO@5 tolerant", "BIO@5 tolerant, diseased leaves",
                   "ρ(B, truth)", "IoU", "AUPRC", "AUPRC floor (prevalence)", "deletion ratio"], body)
    return out + [""] + (curve_table(label, rows) if curve else [])


def table3(rows) -> list[str]:
    base = next((mean(v, "collapse_rate") for lab, v in rows if lab == SINK_ROWS[0][0]), float("nan"))
    body = []
    for lab, vals in rows:
        c = mean(vals, "collapse_rate")
        delta = f"{100 * (c - base) / base:+.0f}%" if np.isfinite(c) and np.isfinite(base) and base > 0 else "–"
        body.append([lab, fmt(vals, "accuracy"), fmt(vals, "bio5_tolerant"), fmt(vals, "auprc"),
                     fmt(vals, "collapse_rate"), delta, fmt(vals, "over_filtering"), fmt(vals, "sink_mass"),
                     fmt(vals, "consistency")])
    return _table(["configuration", "Acc", "BIO@5 tolerant", "AUPRC", "collapse rate", "Δ collapse vs no SINK",
                   "over-filtering", "sink mass", "consistency"], body) + [""]


def table4(rows, cost_rows, cfg: BenchConfig) -> list[str]:
    """G rows (per-group sequences), then the joint-sequence row and its cost from the cost cells of this run."""
    body = [[f"{cfg.default_groups}, one joint sequence" if g == "joint" else str(g), fmt(vals, "accuracy"),
             fmt(vals, "bio5_tolerant"), fmt(vals, "rho_gt"), fmt(train, "params_percent", 2)]
            for g, vals, train in rows]
    out = _table(["G", "Acc", "BIO@5 tolerant", "ρ(B, truth)", "trainable params, % of backbone"], body) + [""]
    if not any(g == "joint" for g, _, _ in rows):
        return out
    out += [f"*{cfg.default_groups}, one joint sequence*: one backbone sequence [SINK][CLS] x_(1,1) … x_(N,G) of all "
            "N·G patch tokens (each with its position and group embedding; `napari_focus/focus/joint.py`) instead of "
            "G sequences of N; every prompt p_(c,g) attends to the whole joint sequence, so it sees every group. Its "
            "saliency a_(c,g)(p) is p_(c,g)'s attention to group g's own patch tokens (for the rollout: after the "
            "rollout over the joint sequence's attention). Trained by the same recipe; scored with the default "
            "readout only (the other readouts run on it but are not tabulated).", ""]
    for n_bands, size, r in cost_rows:
        rows_ = (r or {}).get("rows", {})
        if "joint_one" not in rows_:
            continue
        f1, fa, j1, ja = (rows_[k] for k in ("focus_one", "focus_all", "joint_one", "joint_all"))
        mem = (f", peak memory {j1['peak_mb']:.0f} vs {f1['peak_mb']:.0f} MB above idle"
               + (f" (×{j1['peak_mb'] / f1['peak_mb']:.1f})" if f1["peak_mb"] >= 1 else ""))
        out += [f"Cost of the joint sequence vs per-group sequences, measured in this run (cost table, {n_bands} "
                f"bands, {size} px, its backbone): 1 class {j1['seconds']:.3f} vs {f1['seconds']:.3f} s "
                f"(×{j1['seconds'] / f1['seconds']:.2f}), all classes {ja['seconds']:.3f} vs {fa['seconds']:.3f} s "
                f"(×{ja['seconds'] / fa['seconds']:.2f}){mem}.", ""]
    return out


def table_backbone(rows) -> list[str]:
    body = [[f"{init} (frozen)", fmt(v, "accuracy"), fmt(v, "bio5_tolerant"), fmt(v, "auprc"), fmt(v, "iou"),
             fmt(v, "collapse_rate")] for init, v in rows]
    return _table(["backbone", "Acc", "BIO@5 tolerant", "AUPRC", "IoU", "collapse rate"], body) + [""]


def _sanity_keys(seeds: list[dict[str, Any] | None]) -> list[str]:
    """The fixed methods' keys, then Table II's readout's when its cells checked it."""
    tuned = any(r is not None and f"{TUNED}_curve_prompts" in r for r in seeds)
    return [key for key, _, _ in SANITY_METHODS] + ([TUNED] if tuned else [])


def sanity_flags(seeds: list[dict[str, Any] | None]) -> dict[str, list[str]]:
    """Flags of each method, from the mean over seeds."""
    present = [r for r in seeds if r is not None]
    if not present:
        return {}
    keys = {k for r in present for k in r}
    avg = {k: mean(present, k) for k in keys}
    return {key: flags(avg, key) for key in _sanity_keys(present)}


def table_sanity(seeds: list[dict[str, Any] | None], labels: dict[str, str]) -> list[str]:
    fl = sanity_flags(seeds)
    top = next((r["top_blocks"] for r in seeds if r), "?")
    depth = next((r["depth"] for r in seeds if r), "?")
    body = []
    for key in _sanity_keys(seeds):
        body.append([labels.get(key, key)] + [fmt(seeds, f"{key}_{w}_{s}") for w in ("map", "curve")
                                              for s in ("prompts", "prompts_top")]
                    + ["⚑ " + "; ".join(fl[key]) if fl.get(key) else ("ok" if fl else "pending")])
    return _table(["method", "ρ map: prompts/adapter re-initialised", f"ρ map: + top {top} of {depth} blocks",
                   "ρ curve: prompts/adapter", "ρ curve: + top blocks", f"flag (ρ > {FLAG_RHO})"], body) + [""]


def table_cost(rows, limit: float, isolate: bool, repeats: str = "the repeats") -> list[str]:
    from napari_focus.bench.cost import ROWS

    body, notes = [], []
    for n_bands, size, res in rows:
        if res is None:
            body.append([f"{n_bands} bands, {size} px", "pending", "", "", "", ""])
            continue
        base = res["rows"]["focus_one"]
        for k, lab in ROWS.items():
            if k not in res["rows"]:
                continue
            r = res["rows"][k]
            what = lab
            if k == "naive":
                what += f" ({r['tokens']:,} tokens)"
                if r.get("extrapolated"):
                    bands = ", ".join(str(x["n_bands"]) for x in res["naive_small"])
                    why = (f"predicted > {limit:g} s per pass, the most this configuration runs" if limit > 0
                           else "this configuration never runs it at full size")
                    what += f", **extrapolated** from C = {bands} ({why})"
            mem = f"{r['peak_mb'] / base['peak_mb']:.1f}" if base["peak_mb"] >= 1 else "–"
            body.append([f"{n_bands} bands, {size} px", what, f"{r['seconds']:.3f}",
                         f"{r['seconds'] / base['seconds']:.2f}", f"{r['peak_mb']:.0f}", mem])
        notes.append(f"{n_bands} bands: trainable {res['trainable_params']:,} = {res['params_percent']:.2f}% of the "
                     f"backbone's {res['backbone_params']:,} parameters")
    how = ("each measurement in its own process" if isolate else
           "all measurements in one process (freed memory is handed back to the OS before each; the FOCUS rows, "
           "per-group and joint, timed in turns)")
    out = [f"Median of {repeats} after a warm-up; peak RSS above the RSS before the measurement; {how}.", ""]
    out += _table(["cube", "what", "seconds", "× FOCUS 1 class", "peak MB above idle", "× FOCUS 1 class"], body)
    return out + [""] + ([" · ".join(dict.fromkeys(notes)), ""] if notes else [])  # one note per band count


def seeds_above_chance(model: list[dict[str, Any] | None], floor: list[dict[str, Any] | None],
                       alpha: float = 0.05) -> tuple[int, int]:
    """(run seeds whose held-out accuracy beats the random floor's majority-class accuracy by a one-sided binomial
    test, run seeds with both): a baseline at chance can still draw band curves that score, so the reader is told."""
    from scipy.stats import binomtest

    if not model or not floor:  # a row not in this run
        return 0, 0
    out = []
    for m, f in zip(model, floor, strict=True):
        acc, chance = values([m], "accuracy"), values([f], "accuracy")
        if acc and chance and m.get("n"):
            k = round(acc[0] * m["n"])
            out.append(binomtest(k, int(m["n"]), chance[0], alternative="greater").pvalue < alpha)
    return sum(out), len(out)


def holds(res: dict[str, Any], cfg: BenchConfig) -> list[str]:
    """The benchmark's goals, checked against the means above (generated, not typed)."""
    names = {"bio5_tolerant": "BIO@5 tolerant", "bio5_tolerant_diseased": "BIO@5 tolerant on diseased leaves",
             "auprc": "AUPRC", "gradcam": "Grad-CAM", "promptcam": "Prompt-CAM-style"}
    readouts = {"focus": "default readout", "focus_tuned": "readout chosen on tuning leaves"}
    lines = []
    for i, (label, rows) in enumerate(res["table1"].items()):
        if not label.startswith("bls"):
            continue
        by = {k: v for k, _, v in rows}
        for metric in ("bio5_tolerant", "bio5_tolerant_diseased", "auprc"):
            others = {k: mean(by.get(k, []), metric) for k in ("gradcam", "promptcam") if k in by}
            for key, what in readouts.items():
                f = mean(by.get(key, []), metric)
                if np.isfinite(f) and others and all(np.isfinite(v) for v in others.values()):
                    ok = all(f > v for v in others.values())
                    vs = ", ".join(f"{names[k]} {v:.3f}" for k, v in others.items())
                    ahead = {k: seeds_ahead(by[key], by[k], metric) for k in others}
                    seeds = ", ".join(f"{names[k]} on {a}/{n}" for k, (a, n) in ahead.items())
                    lines.append(f"- {label}: FOCUS ({what}) {names[metric]} {f:.3f} vs {vs} → "
                                 f"{'holds' if ok else 'does not hold'} (run seeds where FOCUS is ahead of {seeds})")
        lines += curve_race(label, by, readouts) if i == 0 else []  # the curve table: the main dataset's block
        for k in ("focus", "promptcam"):
            beat, n = seeds_above_chance(by.get(k, []), by.get("random", []))
            if n and beat < n:
                who = "FOCUS's (and so Grad-CAM's and gradient × input's)" if k == "focus" else f"{names[k]}'s"
                lines.append(f"- {label}: {who} model beats the majority class (one-sided binomial p < 0.05) on "
                             f"{beat} of {n} run seeds: its maps explain a model that does not classify")
    lines += sanity_holds(res.get("sanity", []))
    t3 = dict(res["table3"])
    base = mean(t3.get(SINK_ROWS[0][0], []), "collapse_rate")
    for lab, _, _ in SINK_ROWS[2:]:
        c = mean(t3.get(lab, []), "collapse_rate")
        if np.isfinite(c) and np.isfinite(base) and base > 0:
            drop = 100 * (base - c) / base
            change = f"{drop:.0f}% lower" if drop >= 0 else f"{-drop:.0f}% higher"
            lower, n = seeds_ahead(t3[SINK_ROWS[0][0]], t3[lab], "collapse_rate")
            lines.append(f"- collapse rate, {lab} vs no SINK: {change} (goal ≥ 40% lower) → "
                         f"{'holds' if drop >= 40 else 'does not hold'} (lower on {lower}/{n} run seeds)")
    if cfg is not None:
        lines += best_groups(res.get("table4", []), cfg.default_groups)
    for n_bands, size, r in res["cost"]:
        if r is not None:
            f, g = r["rows"]["focus_all"]["seconds"], r["rows"]["gradcam_all"]["seconds"]
            lines.append(f"- {n_bands} bands, {size} px: FOCUS all classes {f:.3f} s vs Grad-CAM all classes "
                         f"{g:.3f} s → {'holds' if f < g else 'does not hold'}")
    return lines or ["- nothing to check yet"]


def best_groups(rows, default: int) -> list[str]:
    """The paper's Table IV claim (G = 10 best of the per-group G), on each metric's means, with the run seeds
    where the default G is ahead of each other G; the joint-sequence row is an ablation, not a G."""
    by = {g: vals for g, vals, _ in rows if g != "joint"}
    if default not in by or len(by) < 2:
        return []
    out = []
    for metric, name in (("accuracy", "Acc"), ("bio5_tolerant", "BIO@5 tolerant")):
        means = {g: mean(v, metric) for g, v in by.items()}
        if not all(np.isfinite(m) for m in means.values()):
            continue
        best = max(means, key=lambda g: (means[g], g == default))  # a tie with the default G counts for it
        seeds = ", ".join(f"G = {g} on {'/'.join(map(str, seeds_ahead(by[default], by[g], metric)))}"
                          for g in by if g != default)
        out.append(f"- Table IV, {name}: G = {default} {means[default]:.3f}, best of G ∈ {{{', '.join(map(str, by))}}}"
                   f" is G = {best} ({means[best]:.3f}) → {'holds' if best == default else 'does not hold'} "
                   f"(run seeds where G = {default} is ahead of {seeds})")
    return out


def render(cfg: BenchConfig, res: dict[str, Any], header: list[str]) -> str:
    from napari_focus.bench.config import TABLE1_METHODS

    labels = dict(TABLE1_METHODS)
    if res.get("chosen"):
        labels[TUNED] += f" (`{res['chosen']}`)"
    fl = sanity_flags(res["sanity"])
    out = list(header)
    out += [f"#### Table II analogue: choosing the readout on tuning leaves ({cfg.main.label})", "",
            f"Every readout rule (`napari_focus/focus/readout.py`) on {cfg.n_heldout} tuning leaves of simulator seed "
            f"{cfg.tuning_seed} (neither trained on nor held out), explaining the default model (G = "
            f"{cfg.default_groups}, the shipped checkpoint's recipe) of each run seed; mean ± std over seeds. The "
            "map comes from the rule with the best AUPRC; the curve from the rule with the best curve score, the "
            "product's criterion (`readout.curve_score`, which `zoo/choose_rule.py` uses too): ρ(curve, truth) + "
            "group faithfulness + window faithfulness, means over the diseased leaves (faithfulness: Spearman of "
            "the curve's group and ~10 nm window masses with the class margin's drop when the lesion is healed "
            "there). The other columns are diseased-leaf means too. The choice is made here, before Table I "
            "explains any held-out leaf with it, and serves every Table I dataset.", ""]
    out += table_readout(res.get("readout", []), res.get("chosen"))
    out += ["#### Table I analogue: explanation quality on held-out leaves", "",
            "Means over held-out leaves of the true class inside the leaf mask (AUPRC, IoU and the last BIO@5 "
            "column over diseased leaves only), then mean ± std over run seeds. ⚑ = fails the sanity check below. "
            f"The first block ({cfg.main.label}) is the curve table: its cells carry the current metric set, with "
            "the curve on diseased leaves below it, its models are trained with the shipped checkpoint's recipe "
            "(the header's training line; Tables III, IV and the backbone table keep the full-path recipe, as do "
            "the other blocks), and they see every pixel outside the leaf mask as their training background, as "
            "the product does (docs/method.md §2; so do Table II's and the chosen readout's "
            "sanity check; its deletion ratios were measured on the leaves as they are). The other blocks and "
            "tables keep the cells of the set before (no mass lift, no faithfulness, leaves as they are; the default "
            "and paper-literal readouts are unchanged, the chosen row explains with the readout Table II chooses "
            "now).", ""]
    for i, (label, rows) in enumerate(res["table1"].items()):
        out += table1(cfg, label, rows, fl if i == 0 else {}, curve=i == 0)
    out += [f"#### Table III analogue: SINK and its loss ({cfg.main.label})", ""] + table3(res["table3"])
    out += [f"#### Table IV analogue: number of spectral groups G ({cfg.main.label})", ""]
    out += table4(res["table4"], res["cost"], cfg)
    out += [f"#### Backbone: pretrained vs randomly initialised ({cfg.main.label})", ""]
    out += table_backbone(res["backbone"])
    out += [f"#### Sanity checks: model randomisation ({cfg.main.label}, cascading)", ""]
    out += table_sanity(res["sanity"], labels)
    c = cfg.cost
    reps = f"{c.repeats} run(s)" + (f" ({c.focus_repeats} for the FOCUS rows)" if c.focus_repeats else "")
    bb = c.backbone
    out += ["#### Cost per explained cube", "",
            f"Frozen ViT with random weights (cost does not depend on them): {bb['img_size']} px input, patch "
            f"{bb['patch_size']}, width {bb['embed_dim']}, depth {bb['depth']}; {c.n_groups} groups, {c.n_classes} "
            "classes.", ""]
    out += table_cost(res["cost"], c.naive_max_seconds, c.isolate, reps)
    out += ["#### What holds (generated from the means above, with the run seeds that agree)", ""] + holds(res, cfg)
    out += [""]
    return "\n".join(out)


def write_block(path: str | Path, block: str, start: str = START, end: str = END) -> Path:
    """Replace the text between the markers (appended when absent); the rest of the file is untouched."""
    p = Path(path)
    text = p.read_text() if p.is_file() else ""
    new = f"{start}\n{block.rstrip()}\n{end}"
    if start in text and end in text and text.index(start) < text.index(end):
        text = text[: text.index(start)] + new + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + ("\n\n" if text.strip() else "") + new + "\n"
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, p)
    return p
