"""A saliency cube held as its factors, so that explaining every class does not build every T (docs/method.md §3.8).

T = leaf ⊙ clamp₀(upsample(P)), P the patch-level saliency on the cube's bands (C, gh, gw), upsample
bilinear (align_corners False) to the cube's H×W. T is C·H·W floats per class (53 MB for 204×256×256)
and took most of each extra class's time, while a user looks at one class's T at a time. So T is
rendered on first read (`Deferred`, see explain.Explanation) and M and B come from P directly:

- M = leaf ⊙ upsample(Σ_b P[b]): the upsampling is linear and the clamp a no-op (P ≥ 0).
- B_b = max over leaf pixels of T[b]: in one pixel column, between two patch rows, T is linear in the
  row's interpolation weight, so its largest leaf value there is at the first or the last leaf row of
  that stretch. Only those ≤ 2 rows per patch row and column are evaluated: exact, not a sample.

Both agree with M and B of the rendered T within float32 rounding (tests/focus/test_explain.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

_threads_lock = threading.Lock()
_threads_state = {"depth": 0, "saved": 1}


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One torch thread for a run of small ops (readouts, tile rendering): on a busy 2-core machine torch's
    thread pool made them 17× slower. Re-entrant across threads (dask's): the first one in saves the
    setting, the last one out restores it."""
    with _threads_lock:
        if _threads_state["depth"] == 0:
            _threads_state["saved"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_state["depth"] += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_state["depth"] -= 1
            if _threads_state["depth"] == 0:
                torch.set_num_threads(_threads_state["saved"])


class Deferred:
    """A value not computed yet: `render()` makes it when it is first read."""

    def __init__(self, render: Callable[[], np.ndarray]) -> None:
        self.render = render


def render(P: torch.Tensor, hw: tuple[int, int], leaf: np.ndarray) -> np.ndarray:
    """T = leaf ⊙ clamp₀(upsample(P)) as float32 (C, H, W), in place after the one allocation."""
    with torch.inference_mode():  # also when a Deferred renders it later, outside explain's inference mode
        T = F.interpolate(P.float()[None], size=hw, mode="bilinear", align_corners=False)[0].clamp_min_(0)
        if not leaf.all():
            T.mul_(torch.from_numpy(np.ascontiguousarray(leaf)).to(T.device))
        return T.cpu().numpy()


def interp_weights(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) bilinear weights along one axis, taken from F.interpolate itself (so they match it)."""
    eye = torch.eye(n_in).reshape(1, n_in, n_in, 1)
    return F.interpolate(eye, size=(n_out, 1), mode="bilinear", align_corners=False)[0, :, :, 0].T.contiguous()


@dataclass(frozen=True)
class LeafRows:
    """Where B's maximum can be, for one leaf mask and one patch grid (shared by every class)."""

    hw: tuple[int, int]
    Rx: torch.Tensor  # (W, gw) column weights
    k: torch.Tensor  # (R,) the upper patch row of each stretch of pixel rows
    k1: torch.Tensor  # (R,) the lower patch row (= k at the bottom edge)
    w0: torch.Tensor  # (2R, W) weight of patch row k at the first / last leaf row of each stretch and column
    w1: torch.Tensor  # (2R, W) weight of patch row k1 there
    valid: torch.Tensor  # (2R, W) that stretch has a leaf pixel in that column
    any_leaf: bool


def leaf_rows(leaf: np.ndarray, grid: tuple[int, int]) -> LeafRows:
    """The candidate rows of `band_max` for this leaf mask on this patch grid."""
    (h, w), (gh, gw) = leaf.shape, grid
    Ry = interp_weights(gh, h)
    k0 = (Ry > 0).int().argmax(1).numpy()  # first patch row with weight: the stretch each pixel row is in
    starts = np.flatnonzero(np.diff(k0, prepend=-1))
    rows = np.arange(h)[:, None]
    first = np.minimum.reduceat(np.where(leaf, rows, h), starts, axis=0)  # (R, W); h = no leaf there
    last = np.maximum.reduceat(np.where(leaf, rows, -1), starts, axis=0)
    cand = np.concatenate([first, last]).clip(0, h - 1)
    valid = np.concatenate([first < h, last >= 0])
    k = torch.from_numpy(k0[starts].astype(np.int64))
    k1 = (k + 1).clamp_max(gh - 1)
    kk, kk1 = torch.cat([k, k]), torch.cat([k1, k1])
    rc = torch.from_numpy(cand)
    w0 = Ry[rc, kk[:, None].expand_as(rc)]
    w1 = torch.where(kk1 != kk, 1.0, 0.0)[:, None] * Ry[rc, kk1[:, None].expand_as(rc)]
    return LeafRows((h, w), interp_weights(gw, w), k, k1, w0, w1, torch.from_numpy(valid), bool(leaf.any()))


def saliency_map(P: torch.Tensor, hw: tuple[int, int], leaf: np.ndarray) -> np.ndarray:
    """M = Σ_b T[b] from P (C, gh, gw) ≥ 0: (H, W) float32."""
    return render(P.float().sum(0, keepdim=True), hw, leaf)[0]


def band_max(P: torch.Tensor, rows: LeafRows) -> np.ndarray:
    """B_b = max over leaf pixels of T[b] from P (C, gh, gw) ≥ 0: (C,) float32."""
    if not rows.any_leaf:
        return np.zeros(P.shape[0], np.float32)
    P = P.float().cpu()
    Y = torch.einsum("ckl,jl->ckj", P, rows.Rx)  # (C, gh, W): every column, at patch-row resolution
    Yk, Yk1 = torch.cat([Y[:, rows.k]] * 2, 1), torch.cat([Y[:, rows.k1]] * 2, 1)  # (C, 2R, W)
    vals = (rows.w0 * Yk + rows.w1 * Yk1).clamp_min_(0) * rows.valid
    return vals.amax((1, 2)).numpy()
