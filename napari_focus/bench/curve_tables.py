"""The curve tables' parts of the generated block: Table II (the readout choice on tuning leaves), the curve on
diseased leaves under Table I's main block, and their "what holds" lines (the race on ρ, lift and BIO@5 over run
seeds, the faithfulness floors, the chosen readout under the randomisation cascade)."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_focus.bench.fmt import fmt, mean, seeds_ahead, table, values
from napari_focus.bench.sanity import CURVE_RHO_MAX, TUNED

#: the curve race (docs/method.md, "Judging a curve"): FOCUS against these rows on RACE_METRICS, on diseased leaves,
#: won when FOCUS is ahead on a majority of the run seeds that both rows have. Prompt-CAM-style is not in it: its
#: model classifies at chance, so its curve counts as a floor only (its row stays in the tables).
RACE = {"gradxinput": "gradient × input", "gradcam": "Grad-CAM", "vip": "PLS-DA VIP"}
RACE_METRICS = (("rho_gt_diseased", "ρ"), ("mass_lift_diseased", "lift"), ("bio5_tolerant_diseased", "BIO@5"))
#: faithfulness is an absolute floor, not a race: the product's floors for its default curve
FAITHFUL_FLOORS = (("group_faithfulness_diseased", "group faithfulness", 0.7),
                   ("window_faithfulness_diseased", "window faithfulness", 0.5))

#: the curve's columns on diseased leaves (`metrics.diseased_curve_means`): against the truth, then against the model
CURVE_COLUMNS = (("rho_gt_diseased", "ρ(curve, truth)"), ("mass_lift_diseased", "mass lift"),
                 ("bio5_tolerant_diseased", "BIO@5 tolerant"), ("group_faithfulness_diseased", "group faithfulness"),
                 ("window_faithfulness_diseased", "window faithfulness"), ("faithful_coverage_diseased", "coverage"))


def curve_table(label: str, rows) -> list[str]:
    """The band curve on diseased leaves under the curve table's Table I block."""
    body = [[lab] + [fmt(vals, k) for k, _ in CURVE_COLUMNS] for _, lab, vals in rows]
    return [f"*{label}, the curve on diseased leaves* (faithfulness: `–` where a row has no model, or one group)", ""] \
        + table(["method"] + [h for _, h in CURVE_COLUMNS], body) + [""]


def table_readout(rows, chosen: str | None) -> list[str]:
    """Table II: each readout rule on the tuning leaves, and the pair chosen from them for Table I."""
    from napari_focus.focus.readout import curve_score

    body = []
    for rule, vals in rows:
        score = [curve_score(r) if r is not None else None for r in vals]
        body.append([f"`{rule}`", fmt(vals, "auprc"), fmt(vals, "iou"),
                     fmt([None if v is None else {"s": v} for v in score], "s")]
                    + [fmt(vals, k) for k, _ in CURVE_COLUMNS])
    out = table(["rule", "AUPRC (→ map)", "IoU", "curve score (→ curve)"] + [h for _, h in CURVE_COLUMNS], body)
    pick = (f"Chosen: **`{chosen}`** (map rule, then curve rule when they differ); Table I's \"chosen\" row explains "
            "the held-out leaves with it." if chosen else "Chosen: pending (every rule needs every seed).")
    return out + ["", pick, ""]


def curve_race(label: str, by: dict[str, list[dict[str, Any] | None]], readouts: dict[str, str]) -> list[str]:
    """Per FOCUS readout of a curve table: is it ahead of every RACE row on every RACE_METRICS on a majority of run
    seeds (the means and, in brackets, the seeds ahead); then its faithfulness against the product's floors."""
    lines = []
    for key, what in readouts.items():
        focus = by.get(key, [])
        if not values(focus, "mass_lift_diseased"):
            continue
        parts, behind = [], []
        for metric, name in RACE_METRICS:
            vs = []
            for k, other in RACE.items():
                a, n = seeds_ahead(focus, by.get(k, [None] * len(focus)), metric)
                vs.append(f"{other} {mean(by.get(k, []), metric):.3f} ({a}/{n})")
                if not 2 * a > n or n == 0:
                    behind.append(f"{name} vs {other}")
            parts.append(f"{name} {mean(focus, metric):.3f} vs " + ", ".join(vs))
        verdict = "holds" if not behind else f"does not hold (not ahead on most seeds: {', '.join(behind)})"
        lines.append(f"- {label}, diseased leaves: FOCUS ({what}) ahead of {', '.join(RACE.values())} on ρ(curve, "
                     f"truth), mass lift and tolerant BIO@5 on a majority of run seeds → {verdict}. "
                     + "; ".join(parts) + " (run seeds where FOCUS is ahead)")
        got = [(name, mean(focus, k), floor) for k, name, floor in FAITHFUL_FLOORS]
        if all(np.isfinite(v) for _, v, _ in got):
            ok = all(v >= floor for _, v, floor in got)
            lines.append(f"- {label}, diseased leaves: FOCUS ({what}) "
                         + ", ".join(f"{name} {v:.3f} (floor {floor:g})" for name, v, floor in got)
                         + f", coverage {mean(focus, 'faithful_coverage_diseased'):.3f} → "
                         + ("holds" if ok else "does not hold"))
    return lines


def sanity_holds(seeds: list[dict[str, Any] | None]) -> list[str]:
    """Table II's readout under the cascade's first stage (what training fitted and the readout stores reset): its
    curve's mean ρ with the trained model's should fall to ≤ CURVE_RHO_MAX."""
    rho = mean(seeds, f"{TUNED}_curve_prompts")
    if not np.isfinite(rho):
        return []
    n = len(values(seeds, f"{TUNED}_curve_prompts"))
    return [f"- sanity, readout chosen on tuning leaves: curve ρ with the trained model's after re-initialising "
            f"prompts, SINK, head, Φ, group embeddings and the stored reference {rho:.3f} over {n} run seed(s) (goal "
            f"≤ {CURVE_RHO_MAX:g}) → {'holds' if rho <= CURVE_RHO_MAX else 'does not hold'}"]
