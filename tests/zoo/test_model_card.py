"""The model card re-renders from its stored measurements only for the checkpoint they were measured on."""

import json
import shutil
from pathlib import Path

from napari_focus.zoo import model_card

SHIPPED = Path(__file__).resolve().parents[2] / "model" / "focus_bls_vnir204"


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "focus_bls_vnir204"
    dst.mkdir()
    for name in ("config.json", "weights.safetensors", "metrics.json"):
        shutil.copy(SHIPPED / name, dst / name)
    return dst


def _args(model: Path) -> list[str]:
    return ["--model", str(model), "--train", "runs/train", "--heldout", "runs/heldout", "--render-only"]


def test_render_only_writes_the_card_from_metrics_json(tmp_path):
    model = _copy(tmp_path)
    assert model_card.main(_args(model)) == 0
    text = (model / "MODEL_CARD.md").read_text()
    acc = json.loads((model / "metrics.json").read_text())["results"]["FOCUS (default readout)"]["accuracy"]
    assert f"| {acc:.3f} |" in text
    assert "runs/heldout" in text


def test_render_only_refuses_metrics_of_another_checkpoint(tmp_path, capsys):
    model = _copy(tmp_path)
    m = json.loads((model / "metrics.json").read_text())
    m["model_sha256"] = "0" * 64
    (model / "metrics.json").write_text(json.dumps(m))
    assert model_card.main(_args(model)) == 1
    assert not (model / "MODEL_CARD.md").exists()
    assert "another checkpoint" in capsys.readouterr().err


def test_card_says_how_phi_was_trained_when_the_recipe_fits_a_spectral_contrast():
    assert "spectral_contrast.py" in model_card._recipe_lines("--fast --epochs 40 --spectral-contrast 1")
    assert model_card._recipe_lines("--fast --epochs 40") == ""


def test_render_only_adds_a_random_backbone_row_measured_alone(tmp_path, monkeypatch):
    import napari_focus.dataset

    model = _copy(tmp_path)
    row = {"accuracy": 0.5, "auprc": 0.04, "bio5_tolerant": 0.1, "n": 3}
    monkeypatch.setattr(napari_focus.dataset, "load_dataset", lambda folder: f"held-out leaves of {folder}")
    monkeypatch.setattr(model_card, "_random_backbone_row", lambda folder, held: dict(row, held=held))
    before = json.loads((model / "metrics.json").read_text())
    assert model_card.main([*_args(model), "--random-backbone", "runs/random"]) == 0
    after = json.loads((model / "metrics.json").read_text())
    assert after["random_backbone"]["held"] == "held-out leaves of runs/heldout"
    assert {k: v for k, v in after.items() if k != "random_backbone"} == \
        {k: v for k, v in before.items() if k != "random_backbone"}
    assert "randomly initialised" in (model / "MODEL_CARD.md").read_text()


def test_pretraining_sentence_names_what_the_random_backbone_matches_or_beats():
    pre = {"accuracy": 0.93, "auprc": 0.458, "bio5_tolerant": 0.257}
    rand = {"accuracy": 0.52, "auprc": 0.150, "bio5_tolerant": 0.429}
    assert model_card.pretraining_sentence(pre, rand) == (
        "Pretraining raises accuracy (0.930 vs 0.520) and AUPRC (0.458 vs 0.150); "
        "it does not raise BIO@5 tolerant (0.257 vs 0.429).")
    assert model_card.pretraining_sentence(pre, {**rand, "bio5_tolerant": 0.1}) == (
        "Pretraining raises accuracy (0.930 vs 0.520), AUPRC (0.458 vs 0.150) and BIO@5 tolerant (0.257 vs 0.100).")
    low = {"accuracy": 0.5, "auprc": 0.1, "bio5_tolerant": 0.2}
    assert model_card.pretraining_sentence(low, rand).startswith("Pretraining raises none of these; it does not")


def test_pretraining_sentence_does_not_compare_maps_of_different_readouts():
    pre = {"accuracy": 0.93, "auprc": 0.78, "bio5_tolerant": 0.257, "rule": "paper_input+calibrated"}
    rand = {"accuracy": 0.52, "auprc": 0.150, "bio5_tolerant": 0.1, "rule": "margin+calibrated"}
    text = model_card.pretraining_sentence(pre, rand)
    assert "AUPRC (" not in text and "the maps are different readouts (`paper_input` vs `margin`)" in text
    assert "AUPRC (0.780 vs 0.150)" in model_card.pretraining_sentence(pre, {**rand, "rule": "paper_input"})


def test_card_says_how_the_light_was_jittered_when_the_recipe_did():
    both = model_card._recipe_lines("--spectral-contrast 1 --light-jitter-level 0.9 --light-jitter-tilt 0.1")
    assert "light_jitter.py" in both and "spectral_contrast.py" in both
    assert "light_jitter.py" not in model_card._recipe_lines("--fast --spectral-contrast 1")
