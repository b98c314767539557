"""`napari-focus bench --smoke`: every table is generated with numbers, and a rerun only reads the cache."""

from __future__ import annotations

import json
import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from napari_focus.bench.tables import END, START, write_block  # noqa: E402
from napari_focus.cli import main  # noqa: E402

TINY = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, num_classes=0)
TABLES = ("Table II analogue", "Table I analogue", "Table III analogue", "Table IV analogue", "Backbone:",
          "Sanity checks", "Cost per")
NUMBER = re.compile(r"^-?\d+\.\d+( ± \d+\.\d+)?$")


@pytest.fixture
def backbone(tmp_path):
    from safetensors.torch import save_file
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(**TINY)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(tmp_path / "w.safetensors"))
    (tmp_path / "backbone.json").write_text(json.dumps({"kwargs": TINY, "weights_file": "w.safetensors"}))
    return tmp_path / "backbone.json"


def _sections(block: str) -> dict[str, list[list[str]]]:
    """Heading → data rows of the tables under it."""
    out: dict[str, list[list[str]]] = {}
    current = None
    for line in block.splitlines():
        if line.startswith("#### "):
            current = line[5:]
            out[current] = []
        elif current and line.startswith("| ") and not line.startswith("| ---"):
            out[current].append([c.strip() for c in line.strip("|").split("|")])
    return {k: [r for r in rows if r[0] not in ("method", "configuration", "G", "backbone", "cube", "rule")]
            for k, rows in out.items()}


def test_smoke_bench_writes_every_table_and_resumes(tmp_path, backbone, monkeypatch):
    torch.set_num_threads(1)
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nkept above\n\n" + START + "\nold\n" + END + "\n\nkept below\n")
    cache = tmp_path / "cache"
    args = ["bench", "--smoke", "--backbone-file", str(backbone), "--cache", str(cache), "--out", str(out)]
    assert main(args) == 0
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nkept above\n") and text.endswith("\nkept below\n") and "\nold\n" not in text
    block = text[text.index(START):text.index(END)]
    assert "SMOKE CONFIGURATION, not the benchmark" in block
    sections = _sections(block)
    for name in TABLES:
        heading = next((h for h in sections if h.startswith(name)), None)
        assert heading is not None, f"no table {name!r}"
        cells = [c for row in sections[heading] for c in row[1:]]
        assert any(NUMBER.match(c) for c in cells), f"{heading}: no numeric cell"
        assert "pending" not in cells, f"{heading}: a cell was not computed"
    chosen = re.search(r"Chosen: \*\*`([a-z_+]+)`\*\*", block)
    assert chosen, "Table II chose no readout"
    t1 = sections[next(h for h in sections if h.startswith("Table I analogue"))]
    assert any(r[0] == f"FOCUS, readout chosen on tuning leaves (`{chosen.group(1)}`)" and NUMBER.match(r[1])
               for r in t1)
    t4 = sections[next(h for h in sections if h.startswith("Table IV analogue"))]
    joint = next(r for r in t4 if r[0] == "4, one joint sequence")  # the ablation is trained and scored, not named
    assert NUMBER.match(joint[1]) and NUMBER.match(joint[-1])
    assert "Cost of the joint sequence vs per-group sequences, measured in this run" in block
    assert "one joint sequence of N·G tokens (Table IV ablation), 1 class" in block  # its row of the cost table
    # the curve tables: Table II by the curve score, the main block's curve on diseased leaves with faithfulness to
    # the model, the chosen readout under the randomisation cascade, and the race over run seeds
    assert "| rule | AUPRC (→ map) | IoU | curve score (→ curve) | ρ(curve, truth) | mass lift |" in block
    curve = [r for r in t1 if r[0] == f"FOCUS, readout chosen on tuning leaves (`{chosen.group(1)}`)"][1]
    assert all(NUMBER.match(c) for c in curve[1:3]) and NUMBER.match(curve[4])  # ρ, lift; group faithfulness
    assert block.count("the curve on diseased leaves*") == 1  # the main block only: the others keep their cells
    sanity = sections[next(h for h in sections if h.startswith("Sanity checks"))]
    assert any(r[0].startswith("FOCUS, readout chosen on tuning leaves (`") and NUMBER.match(r[3]) for r in sanity)
    assert "diseased leaves: FOCUS (readout chosen on tuning leaves) ahead of gradient × input, Grad-CAM, PLS-DA " \
           "VIP on ρ(curve, truth), mass lift and tolerant BIO@5" in block
    assert "- sanity, readout chosen on tuning leaves: curve ρ with the trained model's" in block

    cells_dir = cache / "cells"
    before = {p.name: p.stat().st_mtime_ns for p in cells_dir.iterdir()}
    assert any(n.startswith("train-") for n in before) and any(n.startswith("cost-") for n in before)
    # the curve tables' models on the shipped checkpoint's fast path, the ablations' on the full path
    assert {json.loads(p.read_text())["config"]["recipe"]["fast"] for p in cells_dir.glob("train-*.json")} == \
        {True, False}

    def no_training(*a, **k):
        raise AssertionError("a cached model was trained again")

    _a_model_saved_without_the_reference_gets_the_one_train_stores(cache, backbone)
    monkeypatch.setattr("napari_focus.focus.recipe.fit", no_training)
    monkeypatch.setattr("napari_focus.bench.cost.cost_cell", no_training)
    assert main(args) == 0
    assert {p.name: p.stat().st_mtime_ns for p in cells_dir.iterdir()} == before
    again = out.read_text()
    assert _sections(again[again.index(START):]) == sections  # same numbers, read back from the cells

    monkeypatch.chdir(tmp_path)  # without --out a smoke check writes its own file, never the full run's tables
    assert main(args[:-2]) == 0
    assert (tmp_path / "docs" / "bench_quick.md").is_file() and not (tmp_path / "docs" / "benchmarks.md").exists()


def _a_model_saved_without_the_reference_gets_the_one_train_stores(cache, backbone) -> None:
    """A cached model whose checkpoint lacks the calibrated readout's reference (saved before `train()` stored one)
    gets it on load, fitted on its own training leaves: the same numbers `train()` stored, written back."""
    from napari_focus.bench import runs
    from napari_focus.bench.cells import CellCache
    from napari_focus.bench.config import preset

    rec = next(json.loads(p.read_text()) for p in (cache / "cells").glob("train-*.json"))
    folder = cache / "models" / rec["key"]
    stored = json.loads((folder / "config.json").read_text())
    ref = stored.pop("readout_reference")["group_margin"]
    (folder / "config.json").write_text(json.dumps(stored, indent=1))
    runs._LOADED.clear()
    cfg = preset("smoke").with_(backbone_file=str(backbone))
    model, _ = runs.trained_model(CellCache(cache), cfg, rec["config"])
    assert torch.allclose(model.margin_ref.cpu(), torch.tensor(ref), atol=1e-5)
    again = json.loads((folder / "config.json").read_text())["readout_reference"]["group_margin"]
    assert torch.allclose(torch.tensor(again), torch.tensor(ref), atol=1e-5)


def test_other_datasets_part_computes_only_their_cells(tmp_path, backbone):
    """The second process's share (`--part other-datasets`) trains and evaluates only the non-main datasets, and
    writes no tables; a whole run on the same cache then reuses those cells."""
    torch.set_num_threads(1)
    cache, out = tmp_path / "cache", tmp_path / "b.md"
    common = ["bench", "--smoke", "--backbone-file", str(backbone), "--cache", str(cache), "--out", str(out)]
    assert main(common + ["--part", "other-datasets"]) == 0
    assert not out.exists()
    cells = [json.loads(p.read_text()) for p in (cache / "cells").iterdir()]
    trained = {(c["config"]["data"]["task"], c["config"]["data"]["sensor"][-1]) for c in cells
               if c["config"]["kind"] == "train"}
    assert trained == {("bls", 2500.0), ("genotype", 1000.0), ("trait", 1000.0)}  # not the main bls · 400–1000 nm
    assert not any("tuning" in c["config"] for c in cells)  # Table II is the main order's
    n = len(cells)
    assert main(common) == 0
    assert len(list((cache / "cells").iterdir())) > n and out.is_file()


def test_main_tail_part_computes_the_main_datasets_training_tables_only(tmp_path, backbone):
    """`--part main-tail` (a second process once the other datasets are done) trains the main dataset's Table III
    and IV rows, random backbone and sanity cells, none of Table I's other datasets, no cost and no table."""
    torch.set_num_threads(1)
    cache, out = tmp_path / "cache", tmp_path / "b.md"
    common = ["bench", "--smoke", "--backbone-file", str(backbone), "--cache", str(cache), "--out", str(out)]
    assert main(common + ["--part", "main-tail"]) == 0
    assert not out.exists()
    cells = [json.loads(p.read_text()) for p in (cache / "cells").glob("*.json")]
    kinds = {c["config"]["kind"] for c in cells}
    assert "sanity" in kinds and "cost" not in kinds
    trained = [c["config"] for c in cells if c["config"]["kind"] == "train"]
    assert {(c["data"]["task"], c["data"]["sensor"][-1]) for c in trained} == {("bls", 1000.0)}
    assert any(c["backbone"]["init"] == "random" for c in trained)
    assert any(c.get("sequence") == "joint" for c in trained)
    assert not list((cache / "cells").glob(".claim-*"))
    n = len(cells)
    assert main(common) == 0
    assert len(list((cache / "cells").glob("*.json"))) > n and out.is_file()


def test_chosen_readout_takes_the_map_by_auprc_and_the_curve_by_the_products_curve_score():
    from napari_focus.bench.run import chosen_readout

    def seeds(auprc, rho, gf, wf, bio=0.0):
        row = {"auprc": auprc, "bio5_tolerant_diseased": bio, "rho_gt_diseased": rho,
               "group_faithfulness_diseased": gf, "window_faithfulness_diseased": wf}
        return [row, dict(row)]

    # "prior" matches the truth and has the best BIO@5, but not the model: the curve score takes "calibrated"
    rows = [("paper", seeds(0.5, 0.1, 0.0, 0.0, bio=0.3)), ("prior", seeds(0.2, 0.9, -0.5, -0.4, bio=0.6)),
            ("calibrated", seeds(0.3, 0.6, 0.8, 0.5, bio=0.2))]
    assert chosen_readout(rows) == "paper+calibrated"
    assert chosen_readout([rows[2], ("b", seeds(0.2, 0.6, 0.8, 0.5))]) == "calibrated"  # tie → the earlier rule
    assert chosen_readout([rows[0], ("b", [None, seeds(0.9, 1, 1, 1)[0]])]) is None  # not before every seed is in
    nan = float("nan")
    assert chosen_readout([("a", seeds(0.3, 0.9, nan, 0.9)), ("b", seeds(0.1, 0.1, 0.1, 0.1))]) == "a+b"  # NaN loses


def test_curve_race_needs_a_majority_of_seeds_against_every_baseline_on_every_metric():
    from napari_focus.bench.curve_tables import RACE, curve_race

    def seeds(rho, lift, bio, gf=0.8, wf=0.6):
        return [{"rho_gt_diseased": r, "mass_lift_diseased": lift, "bio5_tolerant_diseased": bio,
                 "group_faithfulness_diseased": gf, "window_faithfulness_diseased": wf,
                 "faithful_coverage_diseased": 0.9} for r in rho]

    by = {"focus_tuned": seeds((0.5, 0.4, 0.1), 2.0, 0.3)} | {k: seeds((0.2, 0.2, 0.2), 1.0, 0.1) for k in RACE}
    race, floors = curve_race("bls · x", by, {"focus_tuned": "chosen"})
    assert "→ holds." in race and "ρ 0.333 vs gradient × input 0.200 (2/3)" in race  # 2 of 3 seeds suffice
    assert floors.endswith("group faithfulness 0.800 (floor 0.7), window faithfulness 0.600 (floor 0.5), "
                           "coverage 0.900 → holds")
    by["vip"] = seeds((0.2, 0.2, 0.2), 1.0, 0.3)  # a tie on BIO@5 is not ahead
    race, _ = curve_race("bls · x", by, {"focus_tuned": "chosen"})
    assert "does not hold (not ahead on most seeds: BIO@5 vs PLS-DA VIP)" in race
    by["focus_tuned"] = seeds((0.5, 0.4, 0.1), 2.0, 0.4, wf=0.2)
    assert curve_race("bls · x", by, {"focus_tuned": "chosen"})[1].endswith("→ does not hold")
    assert curve_race("bls · x", by, {"focus": "default"}) == []  # a readout without the curve's cells


def test_what_holds_counts_the_run_seeds_that_agree_with_the_means():
    from napari_focus.bench.tables import holds, seeds_ahead

    def seeds(*auprc):
        return [None if a is None else {"auprc": a} for a in auprc]

    assert seeds_ahead(seeds(0.5, 0.1, 0.4), seeds(0.2, 0.3, 0.1), "auprc") == (2, 3)
    assert seeds_ahead(seeds(0.5, None, 0.4), seeds(0.2, 0.3, float("nan")), "auprc") == (1, 1)
    # one seed carries the mean: FOCUS's mean is ahead, on one seed of three
    rows = [("focus", "", seeds(0.9, 0.1, 0.1)), ("focus_tuned", "", seeds(0.3, 0.3, 0.3)),
            ("gradcam", "", seeds(0.2, 0.2, 0.2)), ("promptcam", "", seeds(0.1, 0.2, 0.5))]
    collapse = [("no SINK", [{"collapse_rate": 0.5}, {"collapse_rate": 0.1}, None]),
                ("SINK + loss, λ = 1e-3", [{"collapse_rate": c} for c in (0.2, 0.3, 0.1)])]
    lines = holds({"table1": {"bls · x": rows}, "table3": collapse, "cost": []}, None)
    assert lines.pop() == ("- collapse rate, SINK + loss, λ = 1e-3 vs no SINK: 33% lower (goal ≥ 40% lower) → does "
                           "not hold (lower on 1/2 run seeds)")  # means 0.3 → 0.2; seeds where both rows have one
    assert lines == [
        "- bls · x: FOCUS (default readout) AUPRC 0.367 vs Grad-CAM 0.200, Prompt-CAM-style 0.267 → holds "
        "(run seeds where FOCUS is ahead of Grad-CAM on 1/3, Prompt-CAM-style on 1/3)",
        "- bls · x: FOCUS (readout chosen on tuning leaves) AUPRC 0.300 vs Grad-CAM 0.200, Prompt-CAM-style 0.267 → "
        "holds (run seeds where FOCUS is ahead of Grad-CAM on 3/3, Prompt-CAM-style on 2/3)"]


def test_what_holds_says_when_a_compared_model_is_at_chance():
    from napari_focus.bench.tables import holds, seeds_above_chance

    def acc(*a):
        return [{"accuracy": x, "n": 60} for x in a]

    floor = acc(0.5, 0.5, 0.5)
    assert seeds_above_chance(acc(0.85, 0.6, 0.45), floor) == (1, 3)  # 36/60 vs 0.5: p = 0.08, not above chance
    assert seeds_above_chance(acc(0.85, 0.62, 0.45), floor) == (2, 3)  # 37/60: p = 0.046
    assert seeds_above_chance([None, *acc(0.9, 0.9)], floor) == (2, 2)
    rows = [("focus", "", acc(0.85, 0.9, 0.8)), ("promptcam", "", acc(0.49, 0.5, 0.52)), ("random", "", floor)]
    lines = holds({"table1": {"bls · x": rows}, "table3": [], "cost": []}, None)
    assert lines == ["- bls · x: Prompt-CAM-style's model beats the majority class (one-sided binomial p < 0.05) on 0 "
                     "of 3 run seeds: its maps explain a model that does not classify"]


def test_write_block_appends_markers_when_missing(tmp_path):
    p = tmp_path / "b.md"
    p.write_text("# Title\n\nbody\n")
    write_block(p, "table")
    assert p.read_text() == f"# Title\n\nbody\n\n{START}\ntable\n{END}\n"
    write_block(p, "new")
    assert p.read_text() == f"# Title\n\nbody\n\n{START}\nnew\n{END}\n"


def test_naive_vit_extrapolation_recovers_linear_plus_quadratic_cost():
    from napari_focus.bench.cost import fit_predict

    def cost(t):
        return 0.05 + 2e-5 * t + 3e-9 * t * t

    small = [1568.0, 3136.0, 6272.0]
    assert fit_predict(small, [cost(t) for t in small], 39984) == pytest.approx(cost(39984), rel=1e-6)
    # noisy timings never bend the curve down: the prediction stays above the largest measured point
    assert fit_predict(small, [0.5, 0.4, 2.0], 39984) > 2.0


def test_what_holds_checks_that_the_default_g_is_best_with_the_seeds_that_agree():
    from napari_focus.bench.tables import best_groups

    def seeds(*accs, bio=0.1):
        return [{"accuracy": a, "bio5_tolerant": bio} for a in accs]

    rows = [(2, seeds(0.7, 0.8, 0.6, bio=0.2), []), (10, seeds(0.8, 0.9, 0.7), []), (20, seeds(0.9, 0.7, 0.8), []),
            ("joint", seeds(1.0, 1.0, 1.0), [])]  # the ablation is not a G: its better accuracy does not count
    acc, bio = best_groups(rows, 10)
    assert acc == ("- Table IV, Acc: G = 10 0.800, best of G ∈ {2, 10, 20} is G = 10 (0.800) → holds (run seeds "
                   "where G = 10 is ahead of G = 2 on 3/3, G = 20 on 1/3)")
    assert bio.endswith("is G = 2 (0.200) → does not hold (run seeds where G = 10 is ahead of G = 2 on 0/3, "
                        "G = 20 on 0/3)")  # a tie with G = 20 is not "ahead"
    rows[2] = (20, seeds(0.9, 0.95, 0.85), [])
    assert best_groups(rows, 10)[0].startswith("- Table IV, Acc: G = 10 0.800, best of G ∈ {2, 10, 20} is G = 20")
    assert best_groups(rows[:1], 10) == []  # no default G in this run
    rows[0] = (2, seeds(0.7, 0.8, 0.6, bio=0.05), [])
    assert "is G = 10 (0.100) → holds" in best_groups(rows, 10)[1]  # tied with G = 20: the tie counts for G = 10


def test_cost_table_states_the_trainable_parameters_once_per_band_count():
    from napari_focus.bench.tables import table_cost

    def cell(n_bands, trainable):
        row = {"seconds": 1.0, "peak_mb": 100.0}
        return {"rows": {"focus_one": row, "focus_all": row}, "trainable_params": trainable,
                "params_percent": trainable / 1e4, "backbone_params": 1_000_000}

    rows = [(204, 128, cell(204, 47_617)), (204, 256, cell(204, 47_617)), (200, 128, cell(200, 46_849)),
            (200, 256, None)]
    text = "\n".join(table_cost(rows, 120.0, True))
    assert text.count("trainable 47,617") == 1 and text.count("trainable 46,849") == 1
    assert "| 200 bands, 256 px | pending |" in text


def test_an_even_rules_cells_key_on_its_even_part_and_no_other_rules_do(monkeypatch):
    """The even part is a module constant, not part of the rule's name: a cached evaluation of an `_even` curve made
    with another part must not be reused, and the cells of rules without one must stay."""
    import dataclasses

    from napari_focus.bench.runs import rule_key
    from napari_focus.focus import readout

    assert rule_key("paper_input+blind_rollout") == {} and rule_key(None) == {}
    before = rule_key("paper_input+blind_rollout_even")
    assert before == {"even": readout.EVEN_PART}
    monkeypatch.setitem(readout.RULES, "blind_rollout_even",
                        dataclasses.replace(readout.RULES["blind_rollout_even"], even=0.1))
    assert rule_key("paper_input+blind_rollout_even") == {"even": 0.1} != before


def test_the_curve_tables_models_train_with_the_shipped_recipe_and_the_ablations_keep_theirs():
    """Table I of the main dataset, Table II and the sanity checks judge the readout on the kind of model a user runs;
    the ablation tables (which vary the SINK the fast path freezes) keep the full-path recipe and their cached cells."""
    from napari_focus.bench.config import preset
    from napari_focus.bench.runs import train_config
    from napari_focus.focus.recipe import CURVE_RECIPE, RECIPE

    cfg = preset("full")
    assert train_config(cfg, cfg.main, 0, curve=True)["recipe"] == CURVE_RECIPE
    assert train_config(cfg, cfg.main, 0)["recipe"] == RECIPE
    smoke = preset("smoke")
    assert train_config(smoke, smoke.main, 0, curve=True)["recipe"] == {**CURVE_RECIPE, "epochs": 1}
