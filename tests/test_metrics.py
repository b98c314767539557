"""The metrics of docs/method.md §4 against hand-computed cases (and scikit-learn / scipy where they define them)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score

from napari_focus import metrics as mt


def spikes(n: int, ranked: list[int]) -> np.ndarray:
    """A curve whose top bands, best first, are ``ranked`` (everything else 0)."""
    curve = np.zeros(n)
    for r, b in enumerate(ranked):
        curve[b] = len(ranked) - r
    return curve


WL5 = 400.0 + 5.0 * np.arange(60)  # 5 nm spacing


# ----------------------------------------------------------------------------------- top-k
def test_top_k_without_wavelengths_uses_index_spacing():
    # order 4, 1, 2, 3, 5, 0; with separation 1 (inclusive) 2, 3, 5 and 0 are neighbours of a pick
    assert mt.top_k_bands([0, 5, 4, 3, 9, 1], k=5, min_separation_nm=1).tolist() == [4, 1]


def test_top_k_peak_separation_finds_second_feature():
    broad = np.exp(-0.5 * ((WL5 - 550) / 15) ** 2)
    second = 0.6 * np.exp(-0.5 * ((WL5 - 600) / 5) ** 2)
    curve = broad + second
    top = mt.top_k_bands(curve, WL5, k=2)
    assert WL5[top].tolist() == [550.0, 600.0]
    # without separation the broad peak's neighbours take both places
    assert WL5[mt.top_k_bands(curve, WL5, k=2, min_separation_nm=0)].tolist() == [550.0, 545.0]


def test_top_k_ties_lower_index_and_inclusive_separation():
    # all tied: band 0 first; band 4 is exactly 20 nm away (within), so band 5 is next
    assert mt.top_k_bands(np.zeros(20), WL5[:20], k=3).tolist() == [0, 5, 10]


def test_top_k_nan_ranks_last():
    assert mt.top_k_bands([np.nan, 1.0, 0.0], k=3, min_separation_nm=0).tolist() == [1, 2, 0]


# ------------------------------------------------------------------------------------- BIO
def test_bio_strict_and_tolerant_hand_computed():
    pred = spikes(60, [0, 10, 20, 30, 40])
    true = spikes(60, [0, 10, 20, 31, 45])
    # strict: 3 shared of 7 distinct bands
    assert mt.bio_at_k(pred, true, WL5, k=5) == pytest.approx(3 / 7)
    # tolerant (max(10 nm, 5 nm) = 10 nm): 30↔31 (5 nm) matches, 40↔45 (25 nm) does not: 4/(10-4)
    assert mt.bio_at_k(pred, true, WL5, k=5, tolerant=True) == pytest.approx(4 / 6)
    assert mt.bio_at_k(pred, true, WL5, k=5, tolerant=True, tolerance_nm=30) == pytest.approx(1.0)
    assert mt.bio_at_k(true, true, WL5, k=5) == 1.0


def test_bio_uses_peak_separation_on_both_curves():
    broad = np.exp(-0.5 * ((WL5 - 550) / 15) ** 2) + 0.6 * np.exp(-0.5 * ((WL5 - 600) / 5) ** 2)
    pred = spikes(60, [int(np.flatnonzero(WL5 == 600)[0]), int(np.flatnonzero(WL5 == 550)[0])])
    assert mt.bio_at_k(pred, broad, WL5, k=2) == 1.0
    # without the rule the truth would be 550 and 545 nm: only 550 is shared -> 1/3
    assert mt.bio_at_k(pred, broad, WL5, k=2, min_separation_nm=0) == pytest.approx(1 / 3)


def _greedy_matches(pred_nm, true_nm, tol):
    used, m = set(), 0
    for p in pred_nm:
        cands = [i for i, t in enumerate(true_nm) if abs(p - t) <= tol and i not in used]
        if cands:
            used.add(min(cands, key=lambda i: (abs(p - true_nm[i]), i)))
            m += 1
    return m


def test_bio_tolerant_optimal_matching_beats_greedy():
    wl = 400.0 + 15.0 * np.arange(10)  # 15 nm spacing -> tolerance max(10, 15) = 15 nm
    pred = spikes(10, [5, 3])  # 475 nm (best), 445 nm
    true = spikes(10, [4, 6])  # 460 nm, 490 nm
    # 475 is within 15 nm of both true bands, 445 only of 460: greedy pairs 475-460 and strands 445
    assert _greedy_matches([475.0, 445.0], [460.0, 490.0], 15.0) == 1
    assert mt.max_matching([475.0, 445.0], [460.0, 490.0], 15.0) == 2
    assert mt.bio_at_k(pred, true, wl, k=2, tolerant=True) == pytest.approx(2 / (4 - 2))
    assert mt.bio_at_k(pred, true, wl, k=2, tolerant=True, tolerance_nm=10.0) == 0.0
    assert mt.bio_at_k(pred, true, wl, k=2) == 0.0


def test_bio_tolerant_matches_neighbours_of_a_10_nm_sensor_whose_header_rounds_the_band_centres():
    """vswir200 (200 bands, 400–2500 nm, 10.5528 nm apart) as its ENVI header stores it (6 significant digits):
    neighbours lie 10.550–10.560 nm apart around a median of 10.55 nm. One band off must still match."""
    wl = np.array([float(f"{w:g}") for w in np.linspace(400.0, 2500.0, 200)])
    assert {round(d, 3) for d in np.diff(wl)} >= {10.55, 10.553, 10.56}
    true = [18, 20, 22, 24, 28]  # the simulator's red-edge top bands on this sensor (each pair is 2 bands apart)
    assert mt.bio_from_bands([19, 21, 23, 25, 29], true, wl, tolerant=True) == pytest.approx(1.0)
    assert mt.bio_from_bands([110, 111, 112, 113, 114], [111, 112, 113, 114, 115], wl, tolerant=True) == 1.0
    assert mt.bio_from_bands([19, 21, 23, 25, 29], true, wl) == 0.0  # strict stays exact
    assert mt.bio_from_bands([16], [18], wl, tolerant=True) == 0.0  # two bands (21.1 nm) apart do not match
    # the 10 nm floor is unchanged on a finer sensor: 4 bands of 2.9557 nm (11.8 nm) apart do not match
    vnir = np.array([float(f"{w:g}") for w in np.linspace(400.0, 1000.0, 204)])
    assert mt.bio_from_bands([100], [103], vnir, tolerant=True) == 1.0
    assert mt.bio_from_bands([100], [104], vnir, tolerant=True) == 0.0


def test_bio_from_bands_and_length_check():
    assert mt.bio_from_bands([1, 2, 3], [3, 4, 5]) == pytest.approx(1 / 5)
    assert mt.bio_from_bands([1, 3], [13, 30], tolerant=True) == pytest.approx(1 / 3)  # 10 bands apart
    assert mt.bio_from_bands([1, 2], [13, 30], tolerant=True) == 0.0  # 11 bands apart
    with pytest.raises(ValueError):
        mt.bio_at_k(np.zeros(5), np.zeros(6))


# --------------------------------------------------------------------------------- spatial
def test_spatial_iou_area_matched_with_tie_break():
    sal = np.array([[0.9, 0.1, 0.1], [0.5, 0.5, 0.1], [0.1, 0.1, 0.1]])
    lesion = np.zeros((3, 3), bool)
    lesion[0, 0] = lesion[1, 1] = True
    # keep 2 pixels: 0.9 at (0,0), then the 0.5 tie goes to (1,0) (earlier in row-major order)
    assert mt.spatial_iou(sal, lesion) == pytest.approx(1 / 3)
    leaf = np.ones((3, 3), bool)
    leaf[1, 0] = False
    assert mt.spatial_iou(sal, lesion, leaf) == 1.0
    # a lesion pixel outside the leaf is not counted
    lesion2 = lesion.copy()
    lesion2[1, 0] = True
    assert mt.spatial_iou(sal, lesion2, leaf) == 1.0
    assert math.isnan(mt.spatial_iou(sal, np.zeros((3, 3), bool)))


def test_auprc_hand_computed_and_matches_sklearn():
    sal = np.array([[0.9, 0.8], [0.7, 0.6]])
    lesion = np.array([[1, 0], [1, 0]], bool)
    # precision at recall 0.5 is 1, at recall 1 is 2/3
    assert mt.auprc(sal, lesion) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    rng = np.random.default_rng(3)
    sal = rng.random((20, 24))
    lesion = rng.random((20, 24)) < 0.15
    leaf = rng.random((20, 24)) < 0.7
    expected = average_precision_score(lesion[leaf], sal[leaf])
    assert mt.auprc(sal, lesion, leaf) == pytest.approx(expected)
    sal_nan = sal.copy()
    sal_nan[~lesion] = np.nan  # NaN = lowest score: the lesion is ranked first -> AP 1
    assert mt.auprc(sal_nan, lesion, leaf) == pytest.approx(1.0)


def test_auprc_floors_equal_prevalence():
    leaf = np.zeros((4, 4), bool)
    leaf[:3] = True  # 12 leaf pixels
    lesion = np.zeros((4, 4), bool)
    lesion[0, :3] = True
    lesion[3, 0] = True  # outside the leaf: ignored
    floors = mt.auprc_floors(lesion, leaf)
    assert floors["random"] == pytest.approx(3 / 12)
    assert floors["whole_leaf"] == pytest.approx(3 / 12)


# ---------------------------------------------------------------------------- correlations
def test_spearman_matches_scipy_and_handles_degenerate():
    rng = np.random.default_rng(5)
    a, b = rng.random(40), rng.random(40)
    assert mt.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert mt.spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)
    assert mt.spearman([1, 2, np.nan, 4], [4, 3, 100, 1]) == pytest.approx(-1.0)
    assert math.isnan(mt.spearman([1, 1, 1], [1, 2, 3]))


def test_layer_consistency():
    a = np.arange(12.0).reshape(3, 4)
    assert mt.layer_consistency([a, a**2, a**3]) == pytest.approx(1.0)
    assert mt.layer_consistency([a, a, -a]) == pytest.approx(0.0)
    assert mt.layer_consistency([a, np.ones_like(a), a, a]) == pytest.approx(1.0)  # constant pairs skipped
    mask = np.zeros((3, 4), bool)
    mask[0] = True
    assert mt.layer_consistency([a, np.where(mask, a, -a)], mask=mask) == pytest.approx(1.0)


def test_attention_mass():
    # 2 heads, 2 queries, 4 keys (SINK, CLS, patch, patch); rows sum to 1
    attn = np.array(
        [
            [[0.5, 0.2, 0.2, 0.1], [0.1, 0.3, 0.3, 0.3]],
            [[0.0, 0.0, 0.5, 0.5], [0.2, 0.2, 0.2, 0.4]],
        ]
    )
    assert mt.attention_mass(attn, [0]) == pytest.approx((0.5 + 0.1 + 0.0 + 0.2) / 4)
    assert mt.attention_mass(attn, [0, 1]) == pytest.approx((0.7 + 0.4 + 0.0 + 0.4) / 4)
    assert mt.attention_mass(attn, []) == 0.0


# ----------------------------------------------------------------------------- task scores
def test_task_scores_and_summaries():
    assert mt.accuracy(["a", "b", "a", "c"], ["a", "b", "c", "c"]) == 0.75
    rs = mt.regression_scores([1, 2, 3], [1, 2, 4])
    assert rs["mse"] == pytest.approx(1 / 3)
    assert rs["r2"] == pytest.approx(1 - 1 / 2)
    assert mt.mean_std([1, 2, 3]) == pytest.approx((2.0, 1.0))
    assert mt.mean_std([4.0, np.nan]) == (4.0, 0.0)
    summary = mt.summarize([{"acc": 0.9, "bio": 0.2, "rule": "x"}, {"acc": 0.7, "bio": 0.4}])
    assert set(summary) == {"acc", "bio"}
    assert summary["acc"] == pytest.approx((0.8, math.sqrt(0.02)))


def test_leaf_means_skip_missing_and_nan_and_count():
    rows = [{"bio5_tolerant": 0.5, "auprc": 0.2}, {"bio5_tolerant": np.nan}, {"bio5_tolerant": 0.1}]
    m = mt.leaf_means(rows, counts=True)
    assert m["bio5_tolerant"] == pytest.approx(0.3) and m["bio5_tolerant_n"] == 2
    assert m["auprc"] == pytest.approx(0.2) and m["auprc_n"] == 1
    assert math.isnan(mt.leaf_means([{"x": np.nan}])["x"])


def test_diseased_curve_means_average_the_lesioned_leaves_only():
    rows = [{"bio5_tolerant": 0.6, "bio5_strict": 0.2, "auprc": 0.4},  # diseased
            {"bio5_tolerant": 0.0, "bio5_strict": 0.0},  # no lesion: left out
            {"bio5_tolerant": 0.2, "bio5_strict": 0.0, "auprc": 0.1}]  # diseased
    out = mt.diseased_curve_means(rows, [True, False, True])
    assert out == {"bio5_strict_diseased": pytest.approx(0.1), "bio5_tolerant_diseased": pytest.approx(0.4)}
    assert mt.diseased_curve_means(rows, [False, False, False]) == {}  # a task without lesions gets no column
    with pytest.raises(ValueError):
        mt.diseased_curve_means(rows, [True])  # one flag per leaf


def test_top_k_in_region_counts_the_highest_bands_where_the_truth_is_at_least_half_its_peak():
    truth = np.array([0, 1, 4, 3, 0, 0, 0, 0.0])  # region: bands 2 and 3
    assert mt.top_k_in_region(np.array([0, 0, 5, 4, 3, 0, 0, 0.0]), truth, k=2) == pytest.approx(1.0)
    assert mt.top_k_in_region(np.array([0, 0, 5, 4, 3, 0, 0, 0.0]), truth, k=3) == pytest.approx(2 / 3)
    assert mt.top_k_in_region(np.array([9, 8, 0, 0, 0, 0, 0, 0.0]), truth, k=2) == pytest.approx(0.0)
    assert math.isnan(mt.top_k_in_region(np.zeros(8), truth))
    assert math.isnan(mt.top_k_in_region(np.ones(8), np.zeros(8)))
    with pytest.raises(ValueError):
        mt.top_k_in_region(np.ones(3), truth)


def test_mass_lift_is_one_for_a_flat_curve_above_one_on_the_region_and_zero_off_it():
    truth = np.array([0.0, 0.1, 1.0, 0.8, 0.2, 0.0, 0.0, 0.0])  # region (≥ half the max): bands 2, 3 = 1/4 of bands
    assert mt.mass_lift(np.ones(8), truth) == pytest.approx(1.0)
    assert mt.mass_lift(np.array([0, 0, 1, 1, 0, 0, 0, 0.0]), truth) == pytest.approx(4.0)
    assert mt.mass_lift(np.array([1, 1, 0, 0, 1, 1, 1, 1.0]), truth) == pytest.approx(0.0)
    assert mt.mass_lift(np.array([0, 0, 3, 1, 0, 0, 0, -5.0]), truth) == pytest.approx(4.0)  # negatives carry no mass
    assert math.isnan(mt.mass_lift(np.zeros(8), truth))
    assert math.isnan(mt.mass_lift(np.ones(8), np.ones(8)))  # every band in the region: nothing to lift
    with pytest.raises(ValueError):
        mt.mass_lift(np.ones(3), truth)
