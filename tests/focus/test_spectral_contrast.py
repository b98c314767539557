"""Φ's first training stage (docs/method.md §3.3): an in-group spectral contrast fitted on training leaves' means."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from napari_focus.focus.spectral_contrast import fit_spectral_contrast  # noqa: E402
from napari_focus.focus.train import train  # noqa: E402

from .conftest import tiny_model  # noqa: E402


def _two_class_cubes(n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1 leaves differ from class 0 only by band 1 brighter than band 0 (both in the first group)."""
    g = torch.Generator().manual_seed(seed)
    leaf = 0.02 * torch.randn(n, 24, 1, 1, generator=g)  # leaves differ in every band, not only by class
    x = 0.4 + leaf + 0.05 * torch.rand(n, 24, 32, 32, generator=g)
    y = torch.arange(n) % 2
    x[y == 1, 1] += 0.08
    x[y == 1, 0] -= 0.08
    return x, y


def test_contrast_is_zero_sum_per_group_follows_the_class_difference_and_is_deterministic():
    x, y = _two_class_cubes()
    m1, m2 = tiny_model(classes=("a", "b")), tiny_model(classes=("a", "b"))
    before = m1.phi.detach().clone()
    fit_spectral_contrast(m1, x, y, 1.0)
    fit_spectral_contrast(m2, x, y, 1.0)
    assert torch.equal(m1.phi, m2.phi)
    change = (m1.phi - before)[:, 0].detach()  # the same change in every token dimension
    assert torch.allclose(m1.phi - before, change[:, None].expand_as(before))
    groups = m1.band_group
    for g in range(m1.groups.n_groups):
        assert abs(float(change[groups == g].sum().detach())) < 1e-5  # a flat spectrum's token is unchanged
    first = groups == groups[0]
    assert int(first.sum()) >= 2
    # the planted difference (band 1 minus band 0) dominates the first group's contrast
    assert float(change[1] * change[0]) < 0
    assert abs(float(change[0])) > 2 * float(change[first][2:].abs().max())


def test_strength_zero_changes_nothing_and_train_uses_it():
    x, y = _two_class_cubes(8)
    m = tiny_model(classes=("a", "b"))
    before = m.phi.detach().clone()
    fit_spectral_contrast(m, x, y, 0.0)
    assert torch.equal(m.phi, before)
    m2 = tiny_model(classes=("a", "b"))
    train(m2, (x, y), epochs=1, batch_size=4, fast=True, cache_views=1, spectral_contrast=1.0)
    assert not torch.equal(m2.phi, before)  # fitted first, then kept by the fast path


def test_cancelled_training_restores_phi():
    x, y = _two_class_cubes(8)
    m = tiny_model(classes=("a", "b"))
    before = m.phi.detach().clone()
    hist = train(m, (x, y), epochs=2, batch_size=4, fast=True, cache_views=1, spectral_contrast=1.0,
                 should_stop=lambda: True)
    assert hist.cancelled
    assert torch.equal(m.phi, before)


def _free_and_capped_changes(**cap: float) -> tuple[torch.Tensor, torch.Tensor, object]:
    """Φ's change per band from the free contrast fit and from the fit with `cap` (bound= or gain_cap=), and the
    capped model."""
    x, y = _two_class_cubes()
    free, capped = tiny_model(classes=("a", "b")), tiny_model(classes=("a", "b"))
    before = free.phi.detach().clone()[:, 0]
    fit_spectral_contrast(free, x, y, 1.0)
    fit_spectral_contrast(capped, x, y, 1.0, **cap)
    return free.phi.detach()[:, 0] - before, capped.phi.detach()[:, 0] - before, capped


def test_bound_caps_every_band_change_at_bound_over_group_size_and_keeps_the_shape():
    d_free, d_cap, capped = _free_and_capped_changes(bound=0.05)
    sizes = torch.as_tensor(capped.groups.sizes, dtype=torch.float32)
    gidx = capped.band_group
    used = gidx >= 0
    assert float(d_free[used].abs().max()) > float((0.05 / sizes[gidx[used]]).max())  # the cap binds here
    assert bool((d_cap[used].abs() <= 0.05 / sizes[gidx[used]] + 1e-7).all())
    for g in range(capped.groups.n_groups):
        m = gidx == g
        assert abs(float(d_cap[m].sum())) < 1e-6  # still zero-sum
        if float(d_free[m].abs().max()) > 0:  # the same shape, scaled down
            ratio = d_cap[m] / d_free[m].abs().max()
            assert torch.allclose(ratio * float(d_free[m].abs().max()) / float(d_cap[m].abs().max() or 1),
                                  d_free[m] / float(d_free[m].abs().max()), atol=1e-5)


def test_gain_cap_holds_a_noise_level_group_to_the_median_amplification_and_keeps_the_others():
    d_free, d_cap, capped = _free_and_capped_changes(gain_cap=1.0)
    gidx = capped.band_group
    first, last = gidx == 0, gidx == capped.groups.n_groups - 1
    # the planted first-group contrast stands out of its group's image: its amplification is below the median
    # ones and is kept; the last group's contrast (leaf-to-leaf noise only) needed more and is cut down
    assert torch.allclose(d_cap[first], d_free[first], atol=1e-6)
    assert float(d_cap[last].abs().max()) < 0.5 * float(d_free[last].abs().max())
    for g in range(capped.groups.n_groups):
        m = gidx == g
        assert abs(float(d_cap[m].sum())) < 1e-6  # still zero-sum
        if float(d_free[m].abs().max()) > 0:  # each group keeps its shape, only its scale may fall
            k = float(d_cap[m].abs().max()) / float(d_free[m].abs().max())
            assert 0 <= k <= 1 + 1e-6
            assert torch.allclose(d_cap[m], k * d_free[m], atol=1e-6)


def test_train_fits_the_capped_contrast_it_is_asked_for():
    x, y = _two_class_cubes(8)
    fitted, trained = tiny_model(classes=("a", "b")), tiny_model(classes=("a", "b"))
    fit_spectral_contrast(fitted, x, y, 1.0, gain_cap=1.0)
    train(trained, (x, y), epochs=1, batch_size=4, fast=True, cache_views=1, spectral_contrast=1.0,
          contrast_gain_cap=1.0)
    assert torch.allclose(trained.phi, fitted.phi)  # the fast path keeps the fitted Φ


def test_a_gain_cap_must_be_positive():
    x, y = _two_class_cubes(8)
    with pytest.raises(ValueError, match="gain_cap"):
        fit_spectral_contrast(tiny_model(classes=("a", "b")), x, y, 1.0, gain_cap=0.0)
