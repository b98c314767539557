"""Capture conditions (napari_focus/simulate/conditions.py): other lesion sizes and light, same leaves otherwise."""

import json

import numpy as np
import pytest

from napari_focus.errors import FocusError
from napari_focus.simulate import make_dataset, simulate_leaf
from napari_focus.simulate.conditions import DEFAULT, Conditions


def _diseased(conditions=DEFAULT, seed=11):
    return simulate_leaf("bls", "vnir204", size=48, seed=seed, label="bls", conditions=conditions)


def test_other_lesion_sizes_change_the_lesions_and_nothing_drawn_before_them():
    base, big = _diseased(), _diseased(Conditions(lesion_fraction=(0.2, 0.3)))
    assert np.array_equal(base.leaf_mask, big.leaf_mask)  # the leaf's geometry is drawn first, with the same numbers
    frac = big.params["leaf"]["lesion_fraction_target"]
    assert 0.2 <= frac <= 0.3 and base.params["leaf"]["lesion_fraction_target"] <= 0.10
    assert big.lesion_mask.sum() > 2 * base.lesion_mask.sum()


def test_a_light_tilt_scales_each_band_by_the_lights_relative_level():
    base, tilted = _diseased(), _diseased(Conditions(light_tilt=0.4))
    leaf = base.leaf_mask
    ratio = np.asarray(tilted.cube.data)[:, leaf].mean(1) / np.asarray(base.cube.data)[:, leaf].mean(1)
    expected = Conditions(light_tilt=0.4).spectral_light(base.cube.wavelengths_nm)
    assert expected[0] == pytest.approx(0.8) and expected[-1] == pytest.approx(1.2)
    np.testing.assert_allclose(ratio, expected, rtol=0.03)  # noise is drawn after the light, from the same numbers
    assert tilted.params["illumination"]["tilt"] == pytest.approx(0.4)


def test_without_a_paler_midrib_only_the_midrib_changes_and_it_looks_like_the_blade():
    base, plain = _diseased(), _diseased(Conditions(midrib_contrast=0.0))
    rib = base.midrib_mask
    assert rib.any() and not (rib & ~base.leaf_mask).any() and rib.sum() < 0.15 * base.leaf_mask.sum()
    a, b = np.asarray(base.cube.data), np.asarray(plain.cube.data)
    away = base.leaf_mask & ~rib & ~np.any(np.abs(a - b) > 1e-3, axis=0)  # below the noise (3e-3)
    assert away.sum() > 0.8 * (base.leaf_mask & ~rib).sum()  # the same random numbers: the rest of the leaf is kept
    green = int(np.argmin(np.abs(base.cube.wavelengths_nm - 550)))
    core = rib & ~base.lesion_mask
    blade = base.leaf_mask & ~rib & ~base.lesion_mask
    # the default midrib holds less chlorophyll than the blade (brighter in the visible); without contrast it does not
    assert a[green][core].mean() > 1.1 * a[green][blade].mean()
    assert abs(b[green][core].mean() / b[green][blade].mean() - 1) < 0.1


def test_a_midrib_contrast_range_is_drawn_per_leaf_and_recorded():
    drawn = [_diseased(Conditions(midrib_contrast=(0.5, 1.5)), seed=s) for s in range(4)]
    values = [leaf.params["leaf"]["midrib_contrast"] for leaf in drawn]
    assert all(0.5 <= v <= 1.5 for v in values) and len(set(values)) == 4
    assert "midrib_contrast" not in _diseased().params["leaf"]  # default leaves are recorded as before
    # the draw comes from a spawned stream: the scene's own draws after it (background, light, noise) are kept
    fixed, ranged = _diseased(seed=2), _diseased(Conditions(midrib_contrast=(0.999999, 1.0)), seed=2)
    assert fixed.params["illumination"] == ranged.params["illumination"]
    assert fixed.params["background"] == ranged.params["background"]
    np.testing.assert_allclose(np.asarray(fixed.cube.data), np.asarray(ranged.cube.data), atol=1e-4)


def test_the_light_level_range_is_honoured():
    dim = _diseased(Conditions(light_level=(0.3, 0.35)))
    assert 0.3 <= dim.params["illumination"]["level"] <= 0.35


@pytest.mark.parametrize("kwargs", [dict(lesion_fraction=(0.3, 0.2)), dict(lesion_fraction=(0.0, 0.1)),
                                    dict(light_level=(0.0, 1.0)), dict(light_tilt=2.0),
                                    dict(midrib_contrast=-0.1), dict(midrib_contrast=2.5),
                                    dict(midrib_contrast=(1.2, 0.8)), dict(midrib_contrast=(0.1, 0.2, 0.3)),
                                    dict(midrib_contrast=float("nan")), dict(midrib_contrast="pale")])
def test_impossible_conditions_are_refused(kwargs):
    with pytest.raises(FocusError):
        Conditions(**kwargs)


def test_a_dataset_records_the_conditions_it_was_made_under(tmp_path):
    out = make_dataset(tmp_path / "ds", "bls", "vnir204", n=2, size=32, seed=1,
                       conditions=Conditions(lesion_fraction=(0.15, 0.25), light_tilt=-0.2))
    gen = json.loads((out / "ground_truth.json").read_text())["generator"]
    assert gen["conditions"] == {"lesion_fraction": [0.15, 0.25], "light_level": [0.85, 1.0], "light_tilt": -0.2}
    assert gen["lesion_fraction"]["range"] == [0.15, 0.25]
    plain = json.loads((make_dataset(tmp_path / "plain", "bls", "vnir204", n=2, size=32, seed=1)
                        / "ground_truth.json").read_text())["generator"]
    assert "conditions" not in plain  # default datasets are written as before


def test_the_cli_takes_the_conditions_and_refuses_impossible_ones_in_one_line(tmp_path, capsys):
    from napari_focus.cli import main

    common = ["simulate", "--task", "bls", "--n", "2", "--size", "32"]
    assert main([*common, "--out", str(tmp_path / "ok"), "--lesion-fraction", "0.2", "0.3", "--light-tilt", "0.3"]) == 0
    gen = json.loads((tmp_path / "ok" / "ground_truth.json").read_text())["generator"]
    assert gen["conditions"]["lesion_fraction"] == [0.2, 0.3] and gen["conditions"]["light_tilt"] == 0.3
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "bad"), "--lesion-fraction", "0.3", "0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "lesion fraction" in err and len(err.splitlines()) == 1 and not (tmp_path / "bad").exists()
    assert main([*common, "--out", str(tmp_path / "rib"), "--midrib-contrast", "0"]) == 0
    gen = json.loads((tmp_path / "rib" / "ground_truth.json").read_text())["generator"]
    assert gen["conditions"]["midrib_contrast"] == [0.0, 0.0]
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "bad_rib"), "--midrib-contrast", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "midrib contrast" in err and len(err.splitlines()) == 1 and not (tmp_path / "bad_rib").exists()


def test_a_drawn_midrib_contrast_is_the_one_rendered(tmp_path):
    from napari_focus.cli import main

    near_zero = _diseased(Conditions(midrib_contrast=(0.0, 1e-6)))
    fixed_zero = _diseased(Conditions(midrib_contrast=0.0))
    rib = near_zero.midrib_mask & ~near_zero.lesion_mask
    np.testing.assert_allclose(np.asarray(near_zero.cube.data)[:, rib], np.asarray(fixed_zero.cube.data)[:, rib],
                               atol=1e-4)  # the drawn value (≈ 0) made the midrib, not the default 1
    assert np.abs(np.asarray(_diseased().cube.data)[:, rib] - np.asarray(near_zero.cube.data)[:, rib]).max() > 0.01
    assert main(["simulate", "--task", "bls", "--n", "2", "--size", "32", "--midrib-contrast", "0.2", "0.4",
                 "--out", str(tmp_path / "range")]) == 0
    assert json.loads((tmp_path / "range" / "ground_truth.json").read_text())["generator"]["conditions"][
        "midrib_contrast"] == [0.2, 0.4]
    for f in sorted((tmp_path / "range").glob("leaf_*_truth.json")):
        assert 0.2 <= json.loads(f.read_text())["generator"]["leaf"]["midrib_contrast"] <= 0.4
