"""Choose a checkpoint's saliency rule on tuning leaves (docs/method.md §3.8), never on the held-out ones.

Every single rule is evaluated on the tuning folder; the map rule with the best in-leaf AUPRC and the
curve rule with the best curve score are combined as "map+curve" (`readout.choose_rule`) and written into the
checkpoint's config (atomically, with the tuning table beside it). The curve score (`readout.curve_score`, which
the benchmark's readout choice uses too) judges a curve against the truth and against the model together, on the
diseased tuning leaves: Spearman ρ(curve, truth) + group faithfulness + window faithfulness (docs/method.md,
"Judging a curve"), each in [−1, 1].

    python -m napari_focus.zoo.choose_rule --model model/focus_bls_vnir204 --tune runs/bls_vnir204_tune
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--tune", type=Path, required=True, help="tuning leaves (a seed used for nothing else)")
    ap.add_argument("--max-items", type=int, default=40)
    ap.add_argument("--rules", nargs="+", default=None,
                    help="candidate rules (default: every single one-pass rule)")
    args = ap.parse_args(argv)
    from napari_focus.focus.readout import REFINED_RULES

    refinements = sorted(set(args.rules or ()) & REFINED_RULES)
    if refinements:  # a checkpoint's default curve stays one forward pass; the refinement is the user's choice
        ap.error(f"{', '.join(refinements)}: a refinement (more than one pass) cannot be a checkpoint's default")

    import torch
    from tqdm import tqdm

    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import load_checkpoint, set_saliency_rule
    from napari_focus.focus.evaluate import evaluate
    from napari_focus.focus.readout import CURVE_SCORE, choose_rule, curve_score, one_pass_rules

    torch.set_num_threads(1)  # the readout is many small ops
    model = load_checkpoint(args.model)
    tune = load_dataset(args.tune)
    table = {}
    for rule in tqdm(args.rules or one_pass_rules(), desc="rules", file=sys.stderr):
        res = evaluate(model, tune, split="all", rule=rule, deletion_random=0, max_items=args.max_items,
                       faithfulness=True)
        table[rule] = {k: res.get(k) for k in ("accuracy", "auprc", "iou", "bio5_tolerant", "bio5_strict",
                                               "auprc_floor_random", "n", *(f"{m}_diseased" for m in CURVE_SCORE),
                                               "mass_lift_diseased", "bio5_tolerant_diseased")}
        table[rule]["curve_score"] = curve_score(table[rule])
    chosen = choose_rule(table, curve_key="curve_score")
    best_map, best_curve = (chosen.split("+") * 2)[:2]
    set_saliency_rule(args.model, chosen)
    (args.model / "rule_tuning.json").write_text(json.dumps(
        {"tuning_folder": str(args.tune), "max_items": args.max_items, "chosen": chosen,
         "criterion": "map: best in-leaf AUPRC; curve: best ρ(curve, truth) + group + window faithfulness on "
                      "the diseased leaves", "rules": table}, indent=1, default=float))
    print(json.dumps({"chosen": chosen, "map_auprc": table[best_map]["auprc"],
                      "curve_score": table[best_curve]["curve_score"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
