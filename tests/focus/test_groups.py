import numpy as np
import pytest

from napari_focus.focus.groups import DEFAULT_BOUNDARIES_NM, SpectralGroups, group_rows, make_groups


def _check_partition(g, good):
    allb = [b for grp in g.bands for b in grp]
    assert sorted(allb) == sorted(np.flatnonzero(good).tolist())
    for grp in g.bands:  # contiguous in band order among good bands
        assert list(grp) == sorted(grp)


def test_vnir_sensor_drops_swir_and_splits_to_g():
    wl = np.linspace(400, 1000, 204)
    g = make_groups(204, wl, 10)
    assert g.n_groups == 10
    assert not any(n.startswith("SWIR") for n in g.names)
    assert "red-edge" in "".join(g.names)
    _check_partition(g, np.ones(204, bool))
    # every group lies inside one default range (or a split of one)
    b2g = g.band_to_group()
    assert (b2g >= 0).all()


def test_full_range_default_boundaries_kept():
    wl = np.linspace(400, 2499, 300)
    g = make_groups(300, wl, None)
    assert list(g.names) == [n for n, _, _ in DEFAULT_BOUNDARIES_NM]


def test_merge_to_fewer_groups_and_more_groups_than_bands():
    wl = np.linspace(400, 2499, 300)
    assert make_groups(300, wl, 2).n_groups == 2
    g = make_groups(6, np.linspace(400, 900, 6), 20)
    assert g.n_groups == 6 and all(len(b) == 1 for b in g.bands)


def test_user_boundaries_and_edges():
    wl = np.linspace(400, 1000, 61)
    g = make_groups(61, wl, None, boundaries=[("vis", 400, 700), ("nir", 700, 1001)])
    assert g.names == ("vis", "nir")
    assert max(wl[list(g.bands[0])]) < 700 <= min(wl[list(g.bands[1])])
    g2 = make_groups(61, wl, None, boundaries=[400, 550, 700, 1001])
    assert g2.n_groups == 3
    with pytest.raises(ValueError):
        make_groups(61, wl, None, boundaries=[("bad", 700, 400)])


def test_no_wavelengths_equal_counts_and_bad_bands_excluded():
    good = np.ones(30, bool)
    good[[3, 4, 17]] = False
    g = make_groups(30, None, 3, good_bands=good)
    assert g.n_groups == 3
    assert set(g.sizes.tolist()) <= {9}
    _check_partition(g, good)
    assert (g.band_to_group()[~good] == -1).all()
    g2 = make_groups(30, np.linspace(400, 1000, 30), 5, good_bands=good)
    _check_partition(g2, good)


def test_round_trip_dict():
    g = make_groups(40, np.linspace(400, 1000, 40), 7)
    assert SpectralGroups.from_dict(g.to_dict()) == g


def test_group_rows_are_slices_for_consecutive_bands_and_indices_otherwise():
    rows = group_rows(np.array([0, 0, 1, 1, 1, 3, 2, 3]), 5)
    assert rows[0] == slice(0, 2) and rows[1] == slice(2, 5) and rows[2] == slice(6, 7)
    assert rows[3].tolist() == [5, 7] and rows[4] is None
    data = np.arange(8) * 10
    assert [data[r].tolist() for r in rows[:4]] == [[0, 10], [20, 30, 40], [60], [50, 70]]
