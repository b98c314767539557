"""PROSPECT-D/PRO: agreement with the `prosail` package and the physics a plant scientist expects."""

import numpy as np
import pytest

from napari_focus.errors import FocusError
from napari_focus.simulate.prospect import WAVELENGTHS_NM, leaf_reflectance, prospect

HEALTHY = dict(N=1.5, cab=45.0, car=10.0, cw=0.012, cm=0.009)


def _at(spectrum, nm):
    return float(spectrum[int(nm) - 400])


def test_matches_prosail_on_random_parameters():
    prosail = pytest.importorskip("prosail")
    rng = np.random.default_rng(42)
    worst = 0.0
    for _ in range(300):
        p = dict(
            N=rng.uniform(1, 3.5),
            cab=rng.uniform(0, 120),
            car=rng.uniform(0, 30),
            ant=rng.uniform(0, 15),
            cbrown=rng.uniform(0, 3),
            cw=rng.uniform(0.0005, 0.06),
            cm=rng.uniform(0.001, 0.03),
        )
        _, r_ref, t_ref = prosail.run_prospect(
            p["N"], p["cab"], p["car"], p["cbrown"], p["cw"], p["cm"], ant=p["ant"], prospect_version="D"
        )
        r, t = prospect(**p)
        worst = max(worst, np.abs(r[0] - r_ref).max(), np.abs(t[0] - t_ref).max())
    assert worst < 1e-5


def test_vectorised_and_fast_paths_agree_with_exact():
    rng = np.random.default_rng(1)
    n = 200
    conc = dict(
        cab=rng.uniform(2, 80, n),
        car=rng.uniform(1, 15, n),
        ant=rng.uniform(0, 3, n),
        cbrown=rng.uniform(0, 2, n),
        cw=rng.uniform(0.004, 0.02, n),
        cm=rng.uniform(0.004, 0.012, n),
    )
    r_vec, _ = prospect(N=1.6, **conc)
    r_one, _ = prospect(N=1.6, **{k: v[7] for k, v in conc.items()})
    assert np.abs(r_vec[7] - r_one[0]).max() < 1e-12
    idx = np.arange(0, 2101, 3)
    fast = leaf_reflectance({k: v.astype(np.float32) for k, v in conc.items()}, 1.6, idx)
    assert fast.shape == (n, idx.size) and fast.dtype == np.float32
    assert np.abs(fast - r_vec[:, idx]).max() < 2e-5


def test_prospect_pro_uses_proteins_and_cbc():
    r_d, _ = prospect(**HEALTHY)
    r_pro, _ = prospect(N=1.5, cab=45, car=10, cw=0.012, cm=0.0, prot=0.001, cbc=0.008)
    assert r_pro.shape == r_d.shape
    assert np.abs(r_pro - r_d).max() < 0.05  # same leaf, dry matter split into its parts
    r_more, _ = prospect(N=1.5, cab=45, car=10, cw=0.012, cm=0.0, prot=0.003, cbc=0.008)
    assert _at(r_more[0], 2170) < _at(r_pro[0], 2170)  # protein absorption feature


def test_healthy_leaf_shape():
    r = prospect(**HEALTHY)[0][0]
    vis = (WAVELENGTHS_NM >= 500) & (WAVELENGTHS_NM <= 600)
    green_peak = WAVELENGTHS_NM[vis][np.argmax(r[vis])]
    assert 540 <= green_peak <= 565 and 0.10 < r[vis].max() < 0.16
    assert 0.02 < _at(r, 680) < 0.05
    assert 0.40 < _at(r, 800) < 0.50
    for dip in (1450, 1940):  # water: local minima well below their shoulders
        assert _at(r, dip) < 0.6 * max(_at(r, dip - 200), _at(r, dip + 150))


def _red_edge(r):
    band = (WAVELENGTHS_NM >= 680) & (WAVELENGTHS_NM <= 760)
    return WAVELENGTHS_NM[band][np.argmax(np.gradient(r[band]))]


def test_red_edge_moves_blue_with_chlorosis():
    healthy = prospect(**HEALTHY)[0][0]
    chlorotic = prospect(**{**HEALTHY, "cab": 15.0})[0][0]
    shift = _red_edge(healthy) - _red_edge(chlorotic)
    assert 5 <= shift <= 25
    assert _at(chlorotic, 550) > _at(healthy, 550) * 1.3  # lifted green peak


def test_water_changes_only_past_1100_nm():
    dry = prospect(**{**HEALTHY, "cw": 0.006})[0][0]
    wet = prospect(**{**HEALTHY, "cw": 0.024})[0][0]
    diff = dry - wet
    assert np.abs(diff[WAVELENGTHS_NM < 900]).max() < 0.01
    assert _at(diff, 1450) > 0.05 and _at(diff, 1940) > 0.02


@pytest.mark.parametrize(
    "bad",
    [dict(N=0.5), dict(cab=-1.0), dict(cw=0.5), dict(cbrown=np.array([0.0, 9.0])), dict(cm=0.01, prot=0.001)],
)
def test_out_of_range_parameters_are_refused(bad):
    with pytest.raises(FocusError, match="PROSPECT"):
        prospect(**{**HEALTHY, **bad})
