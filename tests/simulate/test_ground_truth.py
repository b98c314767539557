"""Ground truth follows the generator: the right bands for each class or trait, sidecars found."""

import numpy as np
import pytest

from napari_focus.simulate import get_sensor, ground_truth_for, simulate_leaf, write_leaf
from napari_focus.simulate.ground_truth import ground_truth, sensitivity
from napari_focus.simulate.tasks import task_spec


def _gt(task, sensor, trait=None):
    s = get_sensor(sensor)
    return ground_truth(task_spec(task, s.wavelengths_nm.max(), trait), s, {"seed": 0})


def test_bls_truth_is_visible_and_red_edge_on_vnir():
    gt = _gt("bls", "vnir204")
    top = gt["gt_top5_nm"]["bls"]
    assert len(top) == 5 and all(500 <= w <= 760 for w in top)
    assert gt["gt_top5_nm"]["healthy"] == top  # two classes: one difference
    picks = sorted(top)
    assert min(np.diff(picks)) > 20  # peak-separated


def test_genotype_truth_follows_the_trait_each_class_raises():
    vnir, vswir = _gt("genotype", "vnir204"), _gt("genotype", "vswir200")
    assert any(690 <= w <= 740 for w in vnir["gt_top5_nm"]["A_chlorophyll"])  # red edge
    assert 500 <= vnir["gt_top5_nm"]["B_anthocyanin"][0] <= 570  # anthocyanin absorbs green
    assert 490 <= vnir["gt_top5_nm"]["C_carotenoid"][0] <= 530  # carotenoids absorb blue-green
    assert all(w > 1300 for w in vswir["gt_top5_nm"]["D_water"][:3])  # water: SWIR
    assert vswir["classes"][3] == "D_water" and vnir["classes"][3] == "D_structure"


def test_trait_truth():
    assert any(690 <= w <= 740 for w in _gt("trait", "vnir204")["gt_top5_nm"]["cab"])
    assert all(w > 1300 for w in _gt("trait", "vswir200", "cw")["gt_top5_nm"]["cw"])


def test_sensitivity_is_noise_weighted():
    s = get_sensor("vswir200")
    curve = sensitivity(task_spec("trait", 2500, "cw"), s)["cw"]
    at = lambda nm: curve[np.argmin(abs(s.wavelengths_nm - nm))]  # noqa: E731
    # water absorbs most near 1940 nm but the atmosphere makes the sensor weak there
    assert at(1940) < at(1650)


def test_contract_fields():
    gt = _gt("genotype", "vnir204")
    for key in (
        "task",
        "sensor",
        "classes",
        "trait",
        "wavelengths_nm",
        "sensitivity",
        "gt_top5_nm",
        "gt_top5_band",
        "generator",
    ):
        assert key in gt
    for c in gt["classes"]:
        assert len(gt["sensitivity"][c]) == 204
        bands = gt["gt_top5_band"][c]
        assert [gt["wavelengths_nm"][b] for b in bands] == gt["gt_top5_nm"][c]


def test_ground_truth_for_finds_sidecars(tmp_path):
    leaf = simulate_leaf("bls", "vnir204", 32, seed=1, label="bls")
    hdr = write_leaf(tmp_path / "x.hdr", leaf, {"note": "t"})
    for path in (hdr, hdr.with_suffix(".img")):
        found = ground_truth_for(path)
        assert np.array_equal(found["lesion_mask"], leaf.lesion_mask)
        assert np.array_equal(found["leaf_mask"], leaf.leaf_mask)
        assert found["label_mask"] is None and found["truth"]["label"] == "bls"
    assert ground_truth_for(tmp_path / "other.hdr") is None


@pytest.mark.parametrize("sensor", ["vnir204", "vswir200"])
def test_top5_are_five_distinct_bands(sensor):
    gt = _gt("bls", sensor)
    assert len(set(gt["gt_top5_band"]["bls"])) == 5
