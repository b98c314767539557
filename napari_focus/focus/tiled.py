"""Tiled explain: a scene larger than the model's input, explained tile by tile, stitched without seams.

Each tile is one ordinary FOCUS pass (docs/method.md §3.8) on a crop of the scene; what is kept of it is not the
saliency cube but its factors: T_tile = leaf ⊙ upsample(U @ P), with P the patch-level saliency
(r × gh × gw) and U the (C_cube × r) map from the model's bands back to the cube's (shared by every
tile; for "MAP+CURVE" rules r = 1 and U is the tile's own band curve). A tile of 204 bands on a 12×12
patch grid keeps 117 kB, so a 2000² scan (≈800 tiles) holds ≈100 MB per class explained.

Comparable tiles. Attention sums to one over a tile's patches, so a tile with little leaf concentrates
its mass on few patches: each tile's saliency is multiplied by its leaf fraction (the share of its
pixels that are leaf), which puts a half-leaf tile and a full-leaf tile on the same scale. The class
margin w_{c,g} is left as it is (it says how strongly that tile evidences the class).
No seams. Overlapping tiles are blended by a weighted mean with cos² windows (tiles.py): T(x) =
Σ_t W_t(x)·f_t·T_t(x) / Σ_t W_t(x), W_t = window_t ⊙ leaf_t. Per-leaf tiles use their leaf's mask as
W_t, so leaves never mix.
Bounded memory. The scene is read in row strips (never whole); T is a dask array rendered from the
factors on demand, band block by band block (`write_envi` streams it to disk); M comes from the
factors directly and B from one pass over the band blocks.
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np
import torch
import torch.nn.functional as F

from napari_focus.cube import Cube
from napari_focus.errors import FocusError
from napari_focus.focus.background import no_data_note
from napari_focus.focus.blind import deviation_and_blind_pass, needs_kv
from napari_focus.focus.device import autocast
from napari_focus.focus.explain import (
    Explanation,
    _prediction,
    explain,
    leaf_patches,
    reference_notes,
    resolve_class,
    typical_pass,
)
from napari_focus.focus.factored import one_torch_thread as _one_torch_thread
from napari_focus.focus.input_deviation import combine, group_mass
from napari_focus.focus.inputs import band_mapping, default_leaf_mask, prepare_cube
from napari_focus.focus.model import FocusModel
from napari_focus.focus.readout import REFINED_RULES, RULES, parse_rule, patch_saliency
from napari_focus.focus.tiles import Tile, grid_plan, labels_from_mask, leaf_plan, should_tile

Progress = Callable[[int, int, dict[str, Any]], None]
BLOCK_BYTES = 128 << 20  # one rendered block of T stays below this
STRIP_BYTES = 512 << 20  # one row strip of the scene (float32) stays below this, unless one tile needs more


@dataclass
class TileFactor:
    """What a tile leaves behind: its factors, scale and prediction."""

    tile: Tile
    P: np.ndarray  # (K', r, gh, gw) patch-level saliency (K' = classes kept)
    U: np.ndarray | None  # (K', C, r) own band map, or None for the scene's shared one
    leaf_fraction: float
    probabilities: np.ndarray
    pixel: np.ndarray | None = None  # (K', h, w) the map's pixel weight (input_deviation.py), or None
    no_data_share: float = 0.0  # the tile's pixels filled with the model's background (background.py)


@dataclass
class TiledExplanation(Explanation):
    """An Explanation whose T is a lazy dask array rendered from per-tile factors."""

    tiles: list[dict[str, Any]] = field(default_factory=list)


def render_tile(U: np.ndarray, P: np.ndarray, hw: tuple[int, int], mask: np.ndarray) -> np.ndarray:
    """mask ⊙ clamp(upsample(U @ P)): one tile's saliency on its pixels, as explain.to_cube_saliency makes it."""
    small = torch.einsum("cr,rhw->chw", torch.from_numpy(U), torch.from_numpy(P))
    full = F.interpolate(small[None], size=hw, mode="bilinear", align_corners=False)[0].clamp_min(0)
    return full.numpy() * mask[None]


class _Stitcher:
    """Renders any block of the stitched saliency cube from the tile factors."""

    def __init__(self, shape: tuple[int, int, int], factors: list[TileFactor], U: np.ndarray,
                 masks: Callable[[Tile], np.ndarray]) -> None:
        self.shape, self.factors, self.U, self.masks = shape, factors, U, masks
        self.ndim, self.dtype = 3, np.dtype(np.float32)

    def render(self, bands: slice, rows: slice, cols: slice, summed: bool = False) -> np.ndarray:
        """T[bands, rows, cols] (or Σ_b T[b] over every band when `summed`) as float32."""
        with _one_torch_thread():
            return self._render(bands, rows, cols, summed)

    def _render(self, bands: slice, rows: slice, cols: slice, summed: bool) -> np.ndarray:
        r0, r1, _ = rows.indices(self.shape[1])
        c0, c1, _ = cols.indices(self.shape[2])
        b0, b1, _ = bands.indices(self.shape[0])
        nb = 1 if summed else max(0, b1 - b0)
        num = np.zeros((nb, max(0, r1 - r0), max(0, c1 - c0)), np.float32)
        den = np.zeros(num.shape[1:], np.float32)
        for f in self.factors:
            t = f.tile
            y0, y1, x0, x1 = max(t.y0, r0), min(t.y1, r1), max(t.x0, c0), min(t.x1, c1)
            if y0 >= y1 or x0 >= x1 or nb == 0:
                continue
            U = self.U if f.U is None else f.U[0]
            U = U.sum(0, keepdims=True) if summed else U[b0:b1]
            mask = self.masks(t)
            tile_t = render_tile(U, f.P[0], t.shape, mask)
            if f.pixel is not None:
                tile_t *= f.pixel[0][None]
            sy, sx = slice(y0 - t.y0, y1 - t.y0), slice(x0 - t.x0, x1 - t.x0)
            w = (t.window() * mask)[sy, sx]
            num[:, y0 - r0:y1 - r0, x0 - c0:x1 - c0] += (w * f.leaf_fraction) * tile_t[:, sy, sx]
            den[y0 - r0:y1 - r0, x0 - c0:x1 - c0] += w
        np.divide(num, den, out=num, where=den > 0)
        num[:, den <= 0] = 0.0
        return num

    def __getitem__(self, key: Any) -> np.ndarray:  # dask.array.from_array reads blocks through this
        key = key if isinstance(key, tuple) else (key,)
        key = tuple(key) + (slice(None),) * (3 - len(key))
        ints = [i for i, k in enumerate(key) if isinstance(k, (int, np.integer))]
        sl = tuple(slice(int(k), int(k) + 1) if i in ints else k for i, k in enumerate(key))
        out = self.render(*sl)
        return out.squeeze(tuple(ints)) if ints else out

    def blocks(self) -> tuple[int, int]:
        """(bands, rows) per block so that one block stays below BLOCK_BYTES."""
        c, h, w = self.shape
        nb = int(max(1, min(c, BLOCK_BYTES // max(1, 4 * h * w))))
        rows = h if nb > 1 else int(max(1, min(h, BLOCK_BYTES // max(1, 4 * w))))
        return nb, rows

    def lazy(self) -> Any:
        import dask.array as da

        nb, rows = self.blocks()
        return da.from_array(self, chunks=(nb, rows, self.shape[2]), asarray=False, fancy=False,
                             meta=np.empty((0, 0, 0), np.float32), name=False)


class _StripReader:
    """Reads the scene in row strips (a memmap or a lazily converted ENVI cube is never read whole)."""

    def __init__(self, data: Any, rows: int) -> None:
        self.data, self.rows = data, rows
        self.y0, self.strip = 0, None

    def get(self, t: Tile) -> np.ndarray:
        if self.strip is None or not (self.y0 <= t.y0 and t.y1 <= self.y0 + self.strip.shape[1]):
            from napari_focus.cube_io.envi import release_pages

            self.strip = None  # free the old strip before reading the next one
            self.y0 = t.y0
            y1 = min(self.data.shape[1], t.y0 + max(self.rows, t.y1 - t.y0))
            _trim_heap()
            self.strip = np.empty((self.data.shape[0], y1 - t.y0, self.data.shape[2]), np.float32)
            with dask.config.set(scheduler="synchronous"):  # one thread: no extra malloc arenas to fragment
                for b in range(self.data.shape[0]):  # band by band: a lazy cube computes one band at a time
                    self.strip[b] = self.data[b, t.y0:y1, :]
            release_pages(self.data)
            _trim_heap()
        return self.strip[:, t.y0 - self.y0:t.y1 - self.y0, t.x0:t.x1]


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _trim_heap() -> None:
    """Hand freed heap memory back to the OS. glibc keeps the large temporary arrays of a strip read and
    of each tile in its arenas, and under CPU contention RSS crept up by ~100 MB a minute without this."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def explain_tiled(
    model: FocusModel,
    cube: Cube,
    class_index: int | str | None = None,
    rule: str | None = None,
    tile: int | None = None,
    overlap: float = 0.25,
    leaf_mask: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    per_leaf: bool | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> TiledExplanation:
    """Explain a scene by overlapping tiles or one tile per leaf, for one class: `class_index`, else the
    scene's predicted class (leaf-area-weighted mean of the tiles' probabilities).

    `per_leaf` (default: whenever `labels` or `leaf_mask` is given): one tile per label of `labels`, or per
    connected leaf of `leaf_mask`; otherwise overlapping tiles restricted to `leaf_mask` (default: the
    vegetation mask). `tile`: tile size in scene pixels (default: the model's input size, so pixels keep
    their scale). `progress(done, total, info)` counts tiles; `cancel()` returning True stops at the next tile.
    """
    t0 = time.perf_counter()
    c_, h, w = (int(s) for s in cube.data.shape)
    tile = int(tile or model.img_size)
    map_rule, curve_rule = parse_rule(rule or model.saliency_rule)
    notes: list[str] = []
    if per_leaf is None:
        per_leaf = labels is not None or leaf_mask is not None
    if per_leaf:
        if labels is None and leaf_mask is None:
            raise FocusError("one tile per leaf needs a leaf mask or a label image")
        lab = np.asarray(labels) if labels is not None else labels_from_mask(np.asarray(leaf_mask, bool))
        if lab.shape != (h, w):
            raise FocusError(f"the leaf mask / label image is {lab.shape}, the cube {(h, w)}")
        lab = lab.astype(np.int32)
        leaf = lab > 0
        plan = leaf_plan(lab, tile, overlap)
        notes.append(f"tiled explain: one tile per leaf ({int(lab.max())} labels, {len(plan)} tiles)")

        def masks(t: Tile) -> np.ndarray:
            return (lab[t.y0:t.y1, t.x0:t.x1] == t.label).astype(np.float32)
    else:
        leaf, note = (np.asarray(leaf_mask, bool), None) if leaf_mask is not None else default_leaf_mask(cube)
        if leaf.shape != (h, w):
            raise FocusError(f"the leaf mask is {leaf.shape}, the cube {(h, w)}")
        notes += [note] if note else []
        plan = grid_plan(h, w, tile, overlap)
        notes.append(f"tiled explain: {len(plan)} tiles of {tile} px, {overlap:.0%} overlap, cos² blending")

        def masks(t: Tile) -> np.ndarray:
            return leaf[t.y0:t.y1, t.x0:t.x1].astype(np.float32)
    if not plan:
        raise FocusError("tiled explain: no leaf in the label image")
    used = model.used_bands.cpu().numpy()
    mapping = band_mapping(model.wavelengths_nm, model.groups.n_bands, used, cube)
    notes += [mapping[1]] if mapping[1] else []
    notes += reference_notes(model, *parse_rule(rule or model.saliency_rule))
    back = np.eye(c_, dtype=np.float32) if mapping[0] is None else mapping[0].T / np.maximum(
        mapping[0].T.sum(1, keepdims=True), 1e-30)
    U = np.ascontiguousarray(back[:, used], dtype=np.float32)  # (C_cube, Cu)
    fixed = None if class_index is None else resolve_class(model, class_index, np.zeros(model.n_classes))
    classes = list(range(model.n_classes)) if fixed is None else [fixed]
    # tiles without leaf are dropped first, so that progress counts the tiles that are explained
    order = [i for i in sorted(range(len(plan)), key=lambda i: (plan[i].y0, plan[i].x0)) if masks(plan[i]).any()]
    skipped = len(plan) - len(order)
    reader = _StripReader(cube.data, max(max(t.y1 - t.y0 for t in plan), STRIP_BYTES // max(1, 4 * c_ * w)))
    factors: list[TileFactor] = []
    model.eval()
    for done, i in enumerate(order, start=1):
        if cancel is not None and cancel():
            raise FocusError("explain cancelled")
        t = plan[i]
        sub = Cube(reader.get(t), wavelengths_nm=cube.wavelengths_nm, fwhm_nm=cube.fwhm_nm, good_bands=cube.good_bands)
        factors.append(_tile_factor(model, sub, mapping, U, t, masks(t), classes, map_rule, curve_rule))
        if done % 16 == 0:
            _trim_heap()
        if progress is not None:
            progress(done, len(order), {"tile": done, "skipped": skipped})
    if not factors:
        raise FocusError("tiled explain: no tile contains leaf pixels")
    notes.append(f"{len(factors)} tiles explained, {skipped} without leaf skipped; each tile's saliency scaled by "
                 "its leaf fraction")
    sizes = np.array([np.prod(f.tile.shape) for f in factors], dtype=np.float64)
    filled = float(np.dot([f.no_data_share for f in factors], sizes) / sizes.sum())
    if filled > 0:  # over the explained tiles (overlaps counted twice)
        notes.append(no_data_note(filled))
    area = np.array([f.leaf_fraction for f in factors]) * sizes
    probs = (np.stack([f.probabilities for f in factors]) * area[:, None]).sum(0) / area.sum()
    pred = _prediction(model, probs)
    c = pred["class_index"] if fixed is None else fixed
    k = classes.index(c)
    for f in factors:  # keep only the explained class
        f.P = f.P[k:k + 1]
        f.U = None if f.U is None else f.U[k:k + 1]
        f.pixel = None if f.pixel is None else f.pixel[k:k + 1]
    st = _Stitcher((c_, h, w), factors, U, masks)
    M = st.render(slice(None), slice(None), slice(None), summed=True)[0]
    B = _band_max(st, leaf)
    name = map_rule if map_rule == curve_rule else f"{map_rule}+{curve_rule}"
    records = [{"y0": f.tile.y0, "y1": f.tile.y1, "x0": f.tile.x0, "x1": f.tile.x1, "label": f.tile.label,
                "leaf_fraction": round(f.leaf_fraction, 4),
                "predicted": _prediction(model, f.probabilities)["predicted"],
                "probabilities": [float(p) for p in f.probabilities]} for f in factors]
    return TiledExplanation(T=st.lazy(), M=M, B=B, probabilities=probs, predicted=pred["predicted"], class_index=c,
                            class_name=model.classes[c], method="focus", rule=name, wavelengths_nm=cube.wavelengths_nm,
                            leaf_mask=leaf, notes=notes, model_sha256=model.checkpoint_sha256,
                            seconds=time.perf_counter() - t0, tiles=records, refined=curve_rule in REFINED_RULES)


def _tile_factor(model: FocusModel, sub: Cube, mapping: Any, U: np.ndarray, t: Tile, mask: np.ndarray,
                 classes: list[int], map_rule: str, curve_rule: str) -> TileFactor:
    """One FOCUS pass on a tile; its patch-level saliency for every class in `classes`."""
    prep = prepare_cube(model, sub, mapping, leaf=mask > 0)
    dev = next(model.parameters()).device
    gh, gw = model.grid
    with torch.inference_mode(), autocast(dev):
        out = model(prep.x[None].to(dev), record=True, keep_kv=needs_kv(map_rule, curve_rule))
        out.leaf_patches = leaf_patches(mask > 0, (gh, gw))
        typical_pass(model, out, prep.x, mask > 0, map_rule, curve_rule)
        vals = model.predict_values(out.logits)[0].float().cpu().numpy()
        Ps, Us, pixels = [], [], []
        pixel = RULES[map_rule].pixel
        deviation = deviation_and_blind_pass(model, out, prep.x, mask > 0, map_rule, curve_rule)
        for c in classes:
            pm = patch_saliency(model, out, c, map_rule).float().reshape(-1, gh, gw).cpu().numpy()
            if curve_rule == map_rule and not pixel:
                Ps.append(pm)
                continue
            pc = pm if curve_rule == map_rule else (
                patch_saliency(model, out, c, curve_rule).float().reshape(-1, gh, gw).cpu().numpy())
            curve = render_tile(U, pc, t.shape, mask)[:, mask > 0].max(1)  # the tile's B of the curve rule
            Us.append((curve / max(float(curve.sum()), 1e-30))[:, None].astype(np.float32))
            Ps.append(np.einsum("r,rhw->hw", U.sum(0), pm)[None].astype(np.float32))
            if pixel:  # the tile's map at pixel level, as explain.py weighs a whole cube's
                pixels.append(combine(deviation, group_mass(model, curve, prep.back), t.shape))
    return TileFactor(tile=t, P=np.stack(Ps), U=np.stack(Us) if Us else None, leaf_fraction=float(mask.mean()),
                      probabilities=vals, pixel=np.stack(pixels) if pixels else None, no_data_share=prep.no_data_share)


def _band_max(st: _Stitcher, leaf: np.ndarray) -> np.ndarray:
    """B_b = max over leaf pixels of T[b], one band block at a time."""
    c, h, _ = st.shape
    nb, rows = st.blocks()
    B = np.zeros(c, np.float32)
    for b0 in range(0, c, nb):
        for r0 in range(0, h, rows):
            blk = st.render(slice(b0, b0 + nb), slice(r0, r0 + rows), slice(None))
            lf = leaf[r0:r0 + rows]
            if lf.any():  # a masked reduction, not blk[:, lf]: boolean indexing copies under the GIL (GUI stalls)
                B[b0:b0 + nb] = np.maximum(B[b0:b0 + nb], blk.max(axis=(1, 2), where=lf[None], initial=0.0))
    return B


def explain_scene(
    model: FocusModel,
    cube: Cube,
    class_index: int | str | None = None,
    method: str = "focus",
    rule: str | None = None,
    tile: int | str | None = "auto",
    overlap: float = 0.25,
    leaf_mask: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    progress: Progress | None = None,
) -> Explanation:
    """`explain` (the whole cube resized to the model input) or `explain_tiled`, by `tiles.should_tile`:
    `tile` an int → tiles of that size; "auto" → tiles when the cube's longer side exceeds 4× the model's
    input; "off" → never. A label image always means one tile per leaf. Baselines are never tiled."""
    hw = tuple(int(s) for s in cube.data.shape[1:])
    tiled = labels is not None or should_tile(hw, model.img_size, tile)
    if tiled and method != "focus":
        if tile != "auto" or labels is not None:
            raise FocusError(f"tiled and per-leaf explain support the focus method only, not {method!r}")
        tiled = False
    if not tiled:
        return explain(model, cube, class_index=class_index, method=method, rule=rule, leaf_mask=leaf_mask)
    size = None if tile in ("auto", None) else int(tile)
    return explain_tiled(model, cube, class_index=class_index, rule=rule, tile=size, overlap=overlap,
                         leaf_mask=leaf_mask, labels=labels, progress=progress)
