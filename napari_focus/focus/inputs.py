"""From a `Cube` (or a set of labelled ones) to the model's input: map its bands to the model's (resampling when the
wavelengths differ, docs/method.md §3.11) and resize it to the backbone's input size (bilinear)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from napari_focus.cube import Cube
from napari_focus.errors import FocusError
from napari_focus.focus.background import no_data_mask, no_data_note


@dataclass
class PreparedCube:
    """A cube on the model's bands at S×S, plus how to map band-wise results back to the cube."""

    x: torch.Tensor  # (C_model, S, S) float32
    hw: tuple[int, int]
    back: np.ndarray | None = None  # (C_cube, C_model); None = the same bands
    notes: list[str] = field(default_factory=list)
    no_data_share: float = 0.0  # the share of the cube's pixels filled with the model's background (background.py)


def band_mapping(
    model_wl: np.ndarray | None, model_bands: int, used: np.ndarray, cube: Cube
) -> tuple[np.ndarray | None, str | None]:
    """(C_model, C_cube) resampling matrix (None when the bands already match) and a note.

    Raises FocusError when the cube's bands cannot be mapped to the model's.
    """
    cwl = cube.wavelengths_nm
    if model_wl is None or cwl is None:
        if cube.n_bands != model_bands:
            raise FocusError(
                f"the cube has {cube.n_bands} bands and the model {model_bands}, and without wavelengths "
                "on both sides they cannot be mapped"
            )
        return None, None
    if cwl.size == model_wl.size and np.allclose(cwl, model_wl, atol=0.5):
        return None, None
    m = _resampling_matrix(cwl, model_wl, cube.fwhm_nm)
    if cube.good_bands is not None:
        m[:, ~cube.good_bands] = 0.0
    s = m.sum(1, keepdims=True)
    missing = [int(b) for b in used if not np.isfinite(s[b, 0]) or s[b, 0] <= 0]
    if missing:
        need = model_wl[used]
        raise FocusError(
            f"the cube covers {cwl.min():.0f}–{cwl.max():.0f} nm but the model needs "
            f"{need.min():.0f}–{need.max():.0f} nm ({len(missing)} model bands cannot be filled)"
        )
    m = np.nan_to_num(m / np.where(s > 0, s, 1.0))
    note = (f"resampled {cube.n_bands} bands ({cwl.min():.0f}–{cwl.max():.0f} nm) to the model's "
            f"{model_bands} bands")
    return m, note


def _resampling_matrix(cwl: np.ndarray, model_wl: np.ndarray, fwhm: np.ndarray | None) -> np.ndarray:
    """spectral's resampling matrix, without its per-band INFO lines (hundreds for a cube outside the model's
    range, before the one error that matters) and with its failures as one FocusError."""
    import logging
    import warnings

    from spectral import BandResampler

    if cwl.size < 2:
        raise FocusError(f"the cube has {cwl.size} band; resampling to the model's bands needs at least 2")
    log = logging.getLogger("spectral")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a zero-width band: its row is refused below
            return np.asarray(BandResampler(cwl, model_wl, fwhm, None).matrix, dtype=np.float64)
    except (IndexError, ValueError, ZeroDivisionError) as e:
        raise FocusError(f"the cube's wavelengths cannot be resampled to the model's ({e})") from None
    finally:
        log.setLevel(level)


def resize_cube(data: np.ndarray | torch.Tensor, size: int, zero: np.ndarray | None = None) -> torch.Tensor:
    """(C, H, W) → (C, size, size), bilinear, float32; non-finite values and the pixels of `zero` ((H, W) bool)
    become 0 first."""
    t = torch.from_numpy(np.array(data, dtype=np.float32)) if not torch.is_tensor(data) else data.float()
    t = torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)
    if zero is not None and zero.any():
        t.masked_fill_(torch.from_numpy(np.ascontiguousarray(zero, dtype=bool))[None], 0.0)  # nan_to_num's copy
    if tuple(t.shape[-2:]) == (size, size):
        return t.clone()
    return F.interpolate(t[None], size=(size, size), mode="bilinear", align_corners=False)[0]


def default_leaf_mask(cube: Cube) -> tuple[np.ndarray, str | None]:
    """The vegetation mask (docs/method.md §2); every pixel when it cannot be computed or finds nothing."""
    h, w = cube.data.shape[1:]
    try:
        from napari_focus.vegetation import leaf_mask

        m = np.asarray(leaf_mask(cube.data, cube.wavelengths_nm), dtype=bool)
        if m.shape == (h, w) and m.any():
            return m, None
    except Exception as e:  # noqa: BLE001 - a mask is a convenience; say why it is missing
        return np.ones((h, w), bool), f"no leaf mask ({e}); every pixel counts as leaf"
    return np.ones((h, w), bool), "the vegetation mask found no leaf; every pixel counts as leaf"


def prepare_cube(model, cube: Cube, mapping: tuple[np.ndarray | None, str | None] | None = None,
                 leaf: np.ndarray | None = None, outside_leaf: bool = True) -> PreparedCube:
    """The model's view of a cube; the band mapping is reversible for saliency (`back`).

    `mapping`: a `band_mapping` result computed once for many tiles of the same scene. `leaf`: the explanation's
    (H, W) leaf mask (default: the vegetation mask); a model with `canonical_background` sees every pixel outside
    it as its training background (background.py), unless `outside_leaf` is False (leaves as they are, for
    training). Pixels without data are filled with that background either way.
    """
    used = model.used_bands.cpu().numpy()
    m, note = mapping if mapping is not None else band_mapping(model.wavelengths_nm, model.groups.n_bands, used, cube)
    fill = getattr(model, "background_fill", None)
    empty = outside = None
    if fill is not None:
        empty = outside = no_data_mask(cube.data)
        if outside_leaf and getattr(model, "canonical_background", False):
            outside = empty | ~np.asarray(leaf if leaf is not None else default_leaf_mask(cube)[0], dtype=bool)
    x = resize_cube(cube.data, model.img_size, zero=outside)
    back = None
    if m is not None:
        x = torch.einsum("mc,chw->mhw", torch.as_tensor(m, dtype=torch.float32), x)
        bt = m.T
        back = bt / np.where(bt.sum(1, keepdims=True) > 0, bt.sum(1, keepdims=True), 1.0)
    notes = [note] if note else []
    filled = 0.0
    if outside is not None and outside.any():  # resizing and band mapping are linear: = painting the cube first
        x = x + resize_cube(outside[None].astype(np.float32), model.img_size) * fill.to(x)[:, None, None]
        if empty.any():
            filled = float(empty.mean())
            notes.append(no_data_note(filled))
    return PreparedCube(x=x, hw=(int(cube.data.shape[1]), int(cube.data.shape[2])), back=back, notes=notes,
                        no_data_share=filled)


def mask_on_input(mask: np.ndarray, size: int) -> torch.Tensor:
    """A (H, W) mask on the model's S×S input (the same bilinear resize as the cube, then ≥ 0.5)."""
    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0] >= 0.5


def typical_leaf(x: torch.Tensor, leaf: np.ndarray) -> torch.Tensor:
    """(C, S, S) the input with every leaf pixel at the leaf's median spectrum (off-leaf pixels unchanged).

    Why: it is the same leaf with nothing on it deviating from its typical tissue, so the change of a class's
    evidence between it and the leaf is what the leaf's deviations (lesions, not its overall colour or light)
    add; the readout weighs groups by that (docs/method.md, "The spectral curve"). No mask of lesions is needed:
    lesions are a minority of the leaf, so the median is the healthy tissue's."""
    on = mask_on_input(leaf, x.shape[-1])
    out = x.clone()
    if bool(on.any()):
        out[:, on] = x[:, on].median(1).values[:, None]
    return out


def tensors_from(model, data: Any, progress: Callable[[int, int, dict[str, Any]], None] | None = None,
                 outside_leaf: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(X (n,C,S,S), y) from tensors, a LeafDataset (its train split), LeafItems or (Cube, label) pairs; cubes as the
    model sees them in use, or as they are (`outside_leaf` False: training leaves, background.py)."""
    if isinstance(data, tuple) and len(data) == 2 and torch.is_tensor(data[0]):
        return data[0].float(), torch.as_tensor(data[1])
    if hasattr(data, "split") and hasattr(data, "items"):
        data = data.split("train")
    pairs = []
    for it in data:
        if isinstance(it, tuple):
            pairs.append(it)
        else:
            pairs.append((it, it.label if model.task == "classification" else it.target))
    if not pairs:
        raise FocusError("no training samples")
    x: torch.Tensor | None = None  # allocated once the first cube gives the shape: stacking a list held X twice
    ys = []
    for i, (src, y) in enumerate(pairs):
        cube = src.cube() if hasattr(src, "cube") else src
        xi = prepare_cube(model, cube, outside_leaf=outside_leaf).x
        if x is None:
            x = xi.new_empty((len(pairs), *xi.shape))
        elif xi.shape != x.shape[1:]:
            raise FocusError(f"training sample {i} prepares to {tuple(xi.shape)}, not {tuple(x.shape[1:])}")
        x[i] = xi
        ys.append(_target(model, y))
        if progress is not None:
            progress(i + 1, len(pairs), {"stage": "reading"})
    dtype = torch.long if model.task == "classification" else torch.float32
    return x, torch.as_tensor(ys, dtype=dtype)


def _target(model, y: Any) -> Any:
    if model.task == "regression":
        if y is None:
            raise FocusError("a regression sample has no target value")
        return float(y)
    if isinstance(y, (int, np.integer)):
        return int(y)
    if y not in model.classes:
        raise FocusError(f"label {y!r} is not one of the model's classes {model.classes}")
    return model.classes.index(y)
