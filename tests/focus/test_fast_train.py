"""The cached fast path (docs/method.md §3.7): the cache holds exactly what the full forward pass would see."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from napari_focus.focus import fast_train as ft  # noqa: E402
from napari_focus.focus.train import train  # noqa: E402

from .conftest import tiny_model  # noqa: E402


def _x(n: int = 5) -> torch.Tensor:
    return torch.rand(n, 24, 32, 32, generator=torch.Generator().manual_seed(1))


def test_dihedral_views_are_the_eight_distinct_symmetries():
    x = torch.arange(16.0).reshape(1, 4, 4)
    views = {tuple(ft.dihedral(x, v).flatten().tolist()) for v in range(8)}
    assert len(views) == 8


def test_cached_view_logits_match_full_forward_of_that_view(model):
    x = _x()
    with torch.no_grad():
        model.prompts.add_(0.1 * torch.randn_like(model.prompts))
    cache = ft.build_cache(model, x, views=3, batch_size=2, dtype=torch.float32)
    assert cache.n == 5 and cache.views == 3
    idx = torch.tensor([4, 0, 2, 3])
    view = torch.tensor([2, 1, 0, 2])
    with torch.no_grad():
        got = ft.cached_logits(model, cache, idx, view)
        want = torch.cat([model(ft.dihedral(x[i : i + 1], int(v))).logits for i, v in zip(idx, view, strict=True)])
    assert torch.allclose(got, want, atol=1e-5)


def test_fp16_cache_is_close_and_half_the_size(model):
    x = _x(2)
    c32 = ft.build_cache(model, x, views=1, dtype=torch.float32)
    c16 = ft.build_cache(model, x, views=1)
    assert c16.nbytes * 2 == c32.nbytes
    idx = torch.arange(2)
    with torch.no_grad():
        a = ft.cached_logits(model, c32, idx, torch.zeros_like(idx))
        b = ft.cached_logits(model, c16, idx, torch.zeros_like(idx))
    assert torch.allclose(a, b, atol=5e-2)


def test_cancel_while_caching_returns_none(model):
    assert ft.build_cache(model, _x(), views=2, should_stop=lambda: True) is None


def test_fast_training_learns_a_separable_task_and_reports_caching():
    m = tiny_model(n_bands=24, classes=("dark", "bright"), n_groups=4)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 24, 32, 32, generator=g)
    y = torch.arange(16) % 2
    x[y == 1, 10:16] += 1.0  # class 1 is brighter in bands 10-15
    stages = []
    hist = train(m, (x, y), epochs=30, lr=3e-2, batch_size=8, fast=True, val=(x, y),
                 progress=lambda s, t, i: stages.append(i.get("stage")))
    assert "caching" in stages
    assert hist.val_score[-1] == 1.0
    assert hist.loss[-1] < hist.loss[0]
