"""The fine-tuning job without the GUI: starting points adapt to the task and classes, on a private copy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_focus.cube import Cube
from napari_focus.errors import FocusError
from napari_focus.finetune_job import Settings, StartPoint, copy_model, run_finetune
from napari_focus.training_set import TrainingSet

WL = np.linspace(400.0, 1000.0, 12)  # the tiny checkpoint's bands


def _set(task: str, labels) -> TrainingSet:
    rng = np.random.default_rng(0)
    ts = TrainingSet(task)
    for i, lab in enumerate(labels):
        data = rng.random((12, 16, 16)).astype(np.float32) * (1 + i) / len(labels)  # reflectance, brighter with i
        ts.add_cube(f"c{i}", Cube(data, wavelengths_nm=WL), lab)
    return ts


def test_regression_from_a_classifier_gets_fresh_prompts_on_its_backbone(tiny_checkpoint):
    ts = _set("regression", [0.0, 10.0, 20.0, 30.0, 40.0, 50.0])
    r = run_finetune(ts, StartPoint("checkpoint", tiny_checkpoint), Settings(epochs=2, trait="chlorophyll"))
    assert r.model.task == "regression" and r.model.classes == ["chlorophyll"]
    assert any("fresh prompts on its backbone" in n for n in r.notes)
    assert len(r.history.loss) == 2 and len(r.history.val_score) == 2 and r.n_train + r.n_held == 6


def test_new_classes_join_the_old_ones_and_refusals_come_first(tiny_checkpoint):
    r = run_finetune(_set("classification", ["healthy", "rust"] * 3), StartPoint("checkpoint", tiny_checkpoint),
                     Settings(epochs=1, held_out=0.0))
    assert r.model.classes == ["healthy", "bls", "rust"] and any("rust" in n for n in r.notes)
    with pytest.raises(FocusError, match="'rust' has 1 sample"):
        run_finetune(_set("classification", ["healthy", "healthy", "rust"]), StartPoint("checkpoint", tiny_checkpoint))


def test_the_trained_copy_does_not_claim_its_starting_checkpoint(tiny_checkpoint):
    """An export of a fine-tuned model must not record the starting checkpoint's folder and hash."""
    from napari_focus.export import model_record
    from napari_focus.finetune_job import start_model
    from napari_focus.focus.checkpoint import load_checkpoint

    ts = _set("classification", ["healthy", "bls"] * 2)
    model, _ = start_model(StartPoint("checkpoint", tiny_checkpoint), ts, Settings())
    assert model.checkpoint_sha256 is None and model.checkpoint_path is None
    assert model_record(model)["sha256"] is None and "not saved" in model_record(model)["note"]
    start = load_checkpoint(tiny_checkpoint)
    assert model_record(start) == {"path": str(tiny_checkpoint.resolve()), "sha256": start.checkpoint_sha256}


def test_copy_shares_the_frozen_backbone_only(tiny_checkpoint):
    from napari_focus.focus.checkpoint import load_checkpoint

    m = load_checkpoint(tiny_checkpoint)
    c = copy_model(m)
    assert c.backbone is m.backbone and c.prompts is not m.prompts
    with torch.no_grad():
        c.prompts.add_(1.0)
    assert not torch.equal(c.prompts, m.prompts)


def test_running_out_of_memory_is_one_clear_error_and_keeps_the_checkpoint(tiny_checkpoint, monkeypatch):
    import napari_focus.focus.train as train_mod

    before = {p.name: p.read_bytes() for p in tiny_checkpoint.iterdir() if p.is_file()}

    def oom(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 9 GB (out of memory)")

    monkeypatch.setattr(train_mod, "train", oom)
    with pytest.raises(FocusError, match="ran out of memory while training; the previous model is unchanged"):
        run_finetune(_set("classification", ["healthy", "bls"] * 3), StartPoint("checkpoint", tiny_checkpoint),
                     Settings(epochs=1))
    assert {p.name: p.read_bytes() for p in tiny_checkpoint.iterdir() if p.is_file()} == before


def test_a_fresh_model_gets_the_spectral_contrast_a_trained_one_keeps_its_phi(tiny_checkpoint, monkeypatch):
    import napari_focus.focus.train as train_mod

    real, seen = train_mod.train, []

    def spy(*args, **kwargs):
        seen.append(kwargs["spectral_contrast"])
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train", spy)
    same = run_finetune(_set("classification", ["healthy", "bls"] * 3), StartPoint("checkpoint", tiny_checkpoint),
                        Settings(epochs=1, held_out=0.0))
    fresh = run_finetune(_set("regression", [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]),
                         StartPoint("checkpoint", tiny_checkpoint), Settings(epochs=1, held_out=0.0))
    assert seen == [0.0, 1.0]
    assert not any("spectral contrast" in n for n in same.notes)
    assert any("spectral contrast" in n for n in fresh.notes)
