"""Tile plans for scenes larger than the model's input: where the tiles go and how they are blended.

Pure numpy (no torch), so plans can be checked and drawn without a model. Two kinds of plan:

- **overlapping tiles** of `tile` pixels, neighbours overlapping by `overlap` of a tile, each
  weighted by a cos² taper over the overlap, so that at every pixel the weights of the tiles
  covering it blend smoothly (no seams) and are divided out again (a weighted mean);
- **one tile per leaf** when a label image (or a leaf mask, split into connected leaves) is given:
  a square crop around each leaf, weighted by that leaf's own mask only, so leaves never mix;
  a leaf much larger than a tile is itself covered by overlapping tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# auto rule: tile when the cube's longer side exceeds this many model inputs (the resize would
# shrink it more than 4× per side, 16× in pixels, and lesions of a few pixels would vanish)
AUTO_FACTOR = 4
LEAF_MARGIN = 0.1  # per-leaf crops: a margin of 10% of the leaf's longer side on every side
MIN_LEAF_PIXELS = 16  # connected components smaller than this are specks, not leaves


@dataclass(frozen=True)
class Tile:
    """One tile: its box in scene pixels, its taper and, in per-leaf plans, the leaf label it explains."""

    y0: int
    y1: int
    x0: int
    x1: int
    taper_y: int = 0  # cos² taper length (pixels) at each end of the y axis; 0 = flat window
    taper_x: int = 0
    label: int = 0  # 0: every leaf pixel of the box (overlapping plan); k > 0: pixels of label k only

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    def window(self) -> np.ndarray:
        """(h, w) blending weights: 1 inside, a cos² ramp over the taper, > 0 everywhere."""
        return np.outer(_ramp(self.y1 - self.y0, self.taper_y), _ramp(self.x1 - self.x0, self.taper_x))


def _ramp(n: int, taper: int) -> np.ndarray:
    """1-D window: sin² rising over `taper` samples at both ends (half-sample offset keeps it > 0)."""
    w = np.ones(n, np.float32)
    t = min(taper, n // 2)
    if t > 0:
        up = np.sin(0.5 * np.pi * (np.arange(t) + 0.5) / t).astype(np.float32) ** 2
        w[:t] = up
        w[n - t:] = up[::-1]
    return w


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def grid_plan(h: int, w: int, tile: int, overlap: float = 0.25, y0: int = 0, x0: int = 0,
              label: int = 0) -> list[Tile]:
    """Overlapping tiles covering an (h, w) region whose top-left corner is (y0, x0)."""
    if tile < 1:
        raise ValueError(f"tile size must be positive, got {tile}")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    o = int(round(overlap * tile))
    stride = max(1, tile - o)
    ty, tx = min(tile, h), min(tile, w)
    return [Tile(y0 + y, y0 + y + ty, x0 + x, x0 + x + tx, taper_y=o if h > tile else 0,
                 taper_x=o if w > tile else 0, label=label)
            for y in _starts(h, tile, stride) for x in _starts(w, tile, stride)]


def leaf_plan(labels: np.ndarray, tile: int, overlap: float = 0.25) -> list[Tile]:
    """One square crop per labelled leaf (with a margin, clipped to the scene); a leaf whose crop is more
    than AUTO_FACTOR tiles long is covered by overlapping tiles instead."""
    from scipy import ndimage

    h, w = labels.shape
    plan: list[Tile] = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        ys, xs = sl
        side = max(ys.stop - ys.start, xs.stop - xs.start)
        side = min(int(np.ceil(side * (1 + 2 * LEAF_MARGIN))), max(h, w))
        if side > AUTO_FACTOR * tile:
            plan += grid_plan(ys.stop - ys.start, xs.stop - xs.start, tile, overlap, ys.start, xs.start, label=k)
            continue
        cy, cx = (ys.start + ys.stop) // 2, (xs.start + xs.stop) // 2
        y0 = int(np.clip(cy - side // 2, 0, max(0, h - side)))
        x0 = int(np.clip(cx - side // 2, 0, max(0, w - side)))
        plan.append(Tile(y0, min(h, y0 + side), x0, min(w, x0 + side), label=k))
    return plan


def labels_from_mask(mask: np.ndarray) -> np.ndarray:
    """Connected leaves of a boolean mask as a label image (specks below MIN_LEAF_PIXELS dropped)."""
    from scipy import ndimage

    labels, n = ndimage.label(np.asarray(mask, bool))
    if n:
        sizes = np.bincount(labels.ravel())
        small = np.flatnonzero(sizes < MIN_LEAF_PIXELS)
        labels[np.isin(labels, small[small > 0])] = 0
        labels, _ = ndimage.label(labels > 0)
    return labels.astype(np.int32)


def should_tile(hw: tuple[int, int], input_size: int, tile: int | str | None = "auto") -> bool:
    """The rule: `tile` an int → always; "off"/None/0 → never; "auto" → when the longer side of the
    cube exceeds AUTO_FACTOR × the model's input size."""
    if tile in (None, "off", 0, "0"):
        return False
    if tile == "auto":
        return max(hw) > AUTO_FACTOR * input_size
    return True
