"""The readout choice on tuning leaves: a curve is judged against the truth and against the model together."""

import math

from napari_focus.focus.readout import choose_rule, curve_score


def _row(auprc, rho, gf, wf, bio=0.0):
    return {"auprc": auprc, "bio5_tolerant": bio, "rho_gt_diseased": rho, "group_faithfulness_diseased": gf,
            "window_faithfulness_diseased": wf}


def test_a_curve_that_matches_the_truth_but_not_the_model_loses_to_one_that_does_both():
    table = {"paper": _row(0.5, 0.1, 0.0, 0.0, bio=0.3), "prior": _row(0.2, 0.9, -0.5, -0.4, bio=0.6),
             "calibrated": _row(0.3, 0.6, 0.8, 0.5, bio=0.2)}
    for row in table.values():
        row["curve_score"] = curve_score(row)
    assert choose_rule(table, curve_key="curve_score") == "paper+calibrated"
    assert choose_rule(table) == "paper+prior"  # tolerant BIO@5 alone would take the prior


def test_a_missing_or_nan_score_never_wins():
    assert math.isnan(curve_score({"rho_gt_diseased": 0.9, "group_faithfulness_diseased": float("nan"),
                                   "window_faithfulness_diseased": 0.9}))
    assert math.isnan(curve_score({"rho_gt_diseased": 0.9}))


def test_a_refinement_is_refused_as_a_checkpoints_default(tmp_path, capsys):
    import pytest

    from napari_focus.zoo import choose_rule as cli

    for rule in ("typical_rollout", "blind_rollout_windows"):
        with pytest.raises(SystemExit) as e:
            cli.main(["--model", str(tmp_path), "--tune", str(tmp_path), "--rules", "calibrated", rule])
        assert e.value.code == 2 and f"{rule}: a refinement" in capsys.readouterr().err
