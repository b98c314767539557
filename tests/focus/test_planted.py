"""Acceptance test of the readout: a planted band window inside a known square.

A tiny ViT is pretrained once per session by masked-patch reconstruction (a random frozen ViT attends
uniformly), then for each of the held-out seeds 0–9 a FOCUS model is trained on that seed's cubes.
Each seed's window lies anywhere in 420–980 nm (`planted.window_for`), so a readout cannot pass by favouring one
part of the spectrum. A seed passes when, on its held-out planted cubes, B's top band lies in the window for at
least half of them and M peaks in the square for at least half of them; over the seeds, the curve's mass lift on
the window must average ≥ 2, for the default rule, for the embedded VNIR model's curve rule (`blind_rollout_even`)
and for the stored-reference one (`calibrated_rollout_even`). The default rule was chosen on seeds 100–109 (never
these); the paper-literal and the calibrated readouts are measured on the same seeds and reported.
"""

import numpy as np
import pytest
import torch

from napari_focus.focus.readout import DEFAULT_RULE

from . import planted as pl

TEST_SEEDS = range(10)


@pytest.fixture(scope="session")
def pretrained_backbone():
    torch.set_num_threads(1)
    return pl.pretrain_backbone(steps=150, batch=16, lr=3e-3, qk_gain=1.5)


def test_pretrained_backbone_has_spread_head_entropies(pretrained_backbone):
    ent = pl.attention_entropy(pretrained_backbone, pl.textures(8, torch.Generator().manual_seed(1)))
    assert float(ent.max() - ent.min()) > 0.2, ent
    assert float(ent.min()) < 0.6


def test_planted_signal_default_rule(pretrained_backbone, record_property):
    results = {}
    for seed in TEST_SEEDS:
        model, acc = pl.train_planted(pretrained_backbone, seed, epochs=pl.EPOCHS)
        results[seed] = {"acc": acc, "default": pl.judge(model, seed, DEFAULT_RULE),
                         "paper": pl.judge(model, seed, "paper"),
                         "calibrated_rollout": pl.judge(model, seed, "calibrated_rollout"),
                         "calibrated_rollout_even": pl.judge(model, seed, "calibrated_rollout_even"),
                         "blind_rollout_even": pl.judge(model, seed, "blind_rollout_even")}

    def passed(rule):
        return [s for s, r in results.items() if r[rule][0] >= 0.5 and r[rule][1] >= 0.5]

    summary = {
        rule: {"seeds_passed": len(passed(rule)),
               "band_in_window": float(np.mean([r[rule][0] for r in results.values()])),
               "map_in_square": float(np.mean([r[rule][1] for r in results.values()])),
               "lift_on_window": float(np.mean([r[rule][2] for r in results.values()]))}
        for rule in ("default", "paper", "calibrated_rollout", "calibrated_rollout_even", "blind_rollout_even")
    }
    summary["accuracy"] = float(np.mean([r["acc"] for r in results.values()]))
    record_property("planted", summary)
    print(f"\nplanted signal ({DEFAULT_RULE} vs paper):", summary)
    assert len(passed("default")) >= 8, (summary, results)
    assert summary["default"]["lift_on_window"] >= 2.0, summary
    # the embedded VNIR model's curve rule (its group weight from the blind pass) and the one before it keep the lift
    assert summary["calibrated_rollout_even"]["lift_on_window"] >= 2.0, summary
    assert summary["blind_rollout_even"]["lift_on_window"] >= 2.0, summary
