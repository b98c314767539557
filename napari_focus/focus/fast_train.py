"""The fast path of training (docs/method.md §3.7): with Φ, the group embeddings and SINK frozen, the frozen
backbone's per-layer keys and values of a sample never change while prompts and head train, so
they are computed once, stored (fp16), and the prompts train against the store alone.

Augmentation cannot happen after caching, so each sample is cached in several dihedral views
(flips and 90° rotations: leaves have no up) and every epoch draws one view per sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from napari_focus.focus.device import autocast

Progress = Callable[[int, int, dict], None]


def dihedral(x: torch.Tensor, view: int) -> torch.Tensor:
    """View 0–7 of the dihedral group on the last two axes (0 = identity, 4–7 flipped)."""
    x = torch.rot90(x, view % 4, dims=(-2, -1))
    return x.flip(-1) if view >= 4 else x


@dataclass
class KVCache:
    """Per layer, keys and values of every (sample, view, group) sequence: (n·V·G, H, L, hd)."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    n: int
    views: int
    groups: int

    @property
    def nbytes(self) -> int:
        return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in self.layers)

    def take(self, idx: torch.Tensor, view: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Rows for samples `idx` in views `view` (same length), in the layout `forward_cached` expects."""
        rows = ((idx * self.views + view)[:, None] * self.groups + torch.arange(self.groups)).reshape(-1)
        return [(k[rows], v[rows]) for k, v in self.layers]


def cache_bytes_per_view(model) -> int:
    """Bytes one (sample, view) takes in an fp16 cache: to choose the number of views for a memory budget."""
    vit = model.backbone
    L = model.patch_start + model.grid[0] * model.grid[1]
    return 2 * len(vit.blocks) * model.groups.n_groups * vit.embed_dim * L * 2


def build_cache(model, x: torch.Tensor, views: int = 8, batch_size: int = 8, dtype: torch.dtype = torch.float16,
                progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> KVCache | None:
    """Keys/values of `views` dihedral views of every sample (n, C, S, S); None when cancelled.

    Each batch is written into tensors allocated for the whole cache after the first batch, so the peak is the
    cache itself (concatenating per-batch parts held the cache twice: 960 leaves of 200 bands were killed at
    17.9 GB on a 24 GB machine)."""
    device = next(model.parameters()).device
    views = int(max(1, min(8, views)))
    n = len(x)
    G = model.groups.n_groups
    layers: list[tuple[torch.Tensor, torch.Tensor]] = []
    total = (n + batch_size - 1) // batch_size * views
    done = 0
    model.eval()
    for s in range(0, n, batch_size):
        xb = x[s : s + batch_size]
        per_view = []
        for v in range(views):
            if should_stop is not None and should_stop():
                return None
            with torch.inference_mode(), autocast(device):
                kv = model.backbone_cache(dihedral(xb, v).to(device))
            per_view.append([(k.to("cpu", dtype), vv.to("cpu", dtype)) for k, vv in kv])
            done += 1
            if progress is not None:
                progress(done, total, {"stage": "caching"})
        # (b, V, G) ordering: sample-major, then view, then group
        b = len(xb)
        parts = [(_rows([pv[li][0] for pv in per_view], b, G), _rows([pv[li][1] for pv in per_view], b, G))
                 for li in range(len(per_view[0]))]
        if not layers:
            layers = [(k.new_empty((n * views * G, *k.shape[1:])), v.new_empty((n * views * G, *v.shape[1:])))
                      for k, v in parts]
        r0, r1 = s * views * G, (s + b) * views * G
        for (k_all, v_all), (k, v) in zip(layers, parts, strict=True):
            k_all[r0:r1], v_all[r0:r1] = k, v
    return KVCache(layers=layers, n=n, views=views, groups=model.groups.n_groups)


def _rows(per_view: list[torch.Tensor], b: int, G: int) -> torch.Tensor:
    """One layer's keys (or values) of a batch in every view, (b·G, ...) each → rows (b·V·G, ...) in the cache's
    sample-major, then view, then group order."""
    part = torch.stack([t.reshape(b, G, *t.shape[1:]) for t in per_view], 1)
    return part.reshape(-1, *part.shape[3:])


def cached_logits(model, cache: KVCache, idx: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """Logits (len(idx), K) of the prompts against the cached rows of samples `idx` in views `view`."""
    device = next(model.parameters()).device
    kv = [(k.to(device), v.to(device)) for k, v in cache.take(idx, view)]
    return model.forward_cached(kv)


def cached_predict(model, cache: KVCache, batch_size: int = 32) -> torch.Tensor:
    """Predicted values (probabilities or trait) of every cached sample in its identity view."""
    out = []
    with torch.inference_mode():
        for s in range(0, cache.n, batch_size):
            idx = torch.arange(s, min(cache.n, s + batch_size))
            out.append(model.predict_values(cached_logits(model, cache, idx, torch.zeros_like(idx))).cpu())
    return torch.cat(out)


#: views cached by default: identity, two rotations and a flip cost half of all eight (the 60 s floor of
#: fine-tuning is mostly this one-off pass) and gave the same held-out score in benchmarks/finetune_speed.py
DEFAULT_VIEWS = 4


def views_for_budget(model, n: int, budget_bytes: float = 4e9, most: int = DEFAULT_VIEWS) -> int:
    """As many dihedral views (≤ `most`) of n samples as fit an fp16 cache of `budget_bytes` (at least 1)."""
    return int(max(1, min(most, budget_bytes // max(1, n * cache_bytes_per_view(model)))))
