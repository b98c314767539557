"""An `Explanation` as napari layer data and a spectral curve: no napari or Qt import.

The saliency cube is laid over the cube it explains (same scale and translate, band axis shared) with
one contrast range for all bands, so that scrubbing compares bands honestly. The range is read from the
data (the readout's units are whatever the method gives), never from an assumed scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .spectral_curve import SpectralCurve, SpectralGroup

SALIENCY_COLORMAP = "inferno"  # the family; the layers use `saliency_colormap()`, an inferno with a transparent low end
# inferno at 0.1, 0.2, …, 0.9: without its near-black start (invisible on dark bands) and its palest end (invisible
# on the white NIR leaf); see saliency_colormap()
_INFERNO_STOPS = ((0.0874, 0.0446, 0.2248), (0.2582, 0.0386, 0.4065), (0.4163, 0.0902, 0.4329),
                  (0.5783, 0.148, 0.4044), (0.7328, 0.2143, 0.3321), (0.865, 0.3168, 0.2261),
                  (0.9545, 0.4687, 0.0999), (0.9876, 0.6453, 0.0399), (0.9644, 0.8438, 0.2734))
OPAQUE_FROM = 0.7  # fraction of the contrast range where the overlay becomes fully opaque
SATURATED_AT_MOST = 0.02  # of the leaf's pixels at the curve's top band: the top of the colour scale
RENDER_AHEAD_BYTES = 1 << 30  # a lazy saliency cube up to this size is rendered before it becomes a layer
METHOD_LABELS = {"focus": "FOCUS", "gradxinput": "gradient × input", "gradcam": "Grad-CAM"}
# the band curve (B) each method gives; Grad-CAM's map has no band axis, so its curve is gradient × input's
CURVE_OF = {"gradcam": "gradxinput"}
CLASS_WORDS = {"bls": "bacterial leaf spot"}  # class names the shipped models use, in plain words


def method_label(method: str, refined: bool = False) -> str:
    """The method's name for people; "refined" when the curve took more forward passes (`Explanation.refined`)."""
    return METHOD_LABELS.get(method, method) + (" refined" if refined else "")


def curve_label(method: str, refined: bool = False) -> str:
    """What the band curve of `method` really is: Grad-CAM's band curve is gradient × input's."""
    source = CURVE_OF.get(method)
    if source is None:
        return method_label(method, refined)
    return f"{method_label(source)} (the band curve of {method_label(method)})"


def class_words(class_name: str) -> str:
    """'bls (bacterial leaf spot)'; other names as they are."""
    words = CLASS_WORDS.get(str(class_name).lower())
    return f"{class_name} ({words})" if words else str(class_name)


def saliency_names(cube_name: str, method: str, class_name: str, refined: bool = False) -> tuple[str, str]:
    """One result per cube, method (a refined curve apart) and class: a second explain of another cube or method
    never replaces it."""
    tail = f"{method_label(method, refined)} · {class_name}"
    return f"{cube_name} · saliency · {tail}", f"{cube_name} · saliency map · {tail}"


def saliency_colormap() -> dict:
    """The saliency overlay's colormap as napari's Colormap fields (a dict: no napari import here).

    Translucent blending with an alpha ramp: zero saliency is transparent (the cube shows through), and
    from OPAQUE_FROM of the range up the colour is opaque. Additive inferno vanished where the cube is
    bright (a healthy leaf at NIR bands is near white) and was dark where saliency was low.
    """
    n = len(_INFERNO_STOPS)
    controls = np.linspace(0.0, 1.0, n)
    alpha = np.clip(controls / OPAQUE_FROM, 0.0, 1.0)
    colors = [(*rgb, float(a)) for rgb, a in zip(_INFERNO_STOPS, alpha, strict=True)]
    # a short name: a long one widened napari's layer controls, and so resized the canvas, on the first result
    return {"colors": colors, "controls": controls.tolist(), "name": "saliency"}


def top_band(importance: Any, good_bands: Any = None) -> int:
    """The band where the curve peaks (bad and non-finite bands never); 0 for a curve without any value."""
    v = np.asarray(importance, float).copy()
    if good_bands is not None and np.size(good_bands) == v.size:
        v[~np.asarray(good_bands, bool)] = np.nan
    return int(np.nanargmax(v)) if np.isfinite(v).any() else 0


def _top_of(values: np.ndarray) -> float:
    """The top of the colour scale for these pixels: only the SATURATED_AT_MOST largest of them (rounded down) lie
    at or above it. Exact for a handful of pixels too, where a percentile would let two of 60 saturate."""
    v = values[np.isfinite(values)]
    allowed = int(np.floor(SATURATED_AT_MOST * v.size))
    if v.size == 0 or not (v > 0).any():
        return 1.0  # nothing salient: any positive top shows nothing
    kth = float(np.partition(v, v.size - 1 - allowed)[v.size - 1 - allowed])  # the (allowed + 1)-th largest
    if kth <= 0:  # no more positive pixels than may saturate: the faintest of them is the top
        return float(v[v > 0].min())
    return kth * (1 + 1e-5)  # just above it (also once napari stores the limits as float32): its ties stay below


def saliency_limits(T: Any, band: int, leaf: Any) -> tuple[float, float]:
    """One contrast range for all bands: 0 (transparent) to the value that at most SATURATED_AT_MOST of the leaf's
    pixels reach at `band` (the curve's top band). From the data, whatever the readout's units."""
    plane = np.asarray(T[band], dtype=np.float64)
    inside = _leaf_or_all(leaf, plane.shape)
    return 0.0, _top_of(plane[inside])


def _leaf_or_all(leaf: Any, shape: tuple) -> np.ndarray:
    mask = None if leaf is None else np.asarray(leaf, bool)
    if mask is None or mask.shape != tuple(shape) or not mask.any():
        return np.ones(shape, bool)
    return mask


def render_ahead(exp: Any, budget: int = RENDER_AHEAD_BYTES) -> None:
    """Render a lazy (tiled) saliency cube now, in the caller's thread, when it is at most `budget` bytes.

    Why: napari slices an image layer on the GUI thread, so a lazy T made the first draw of the top band, and every
    band scrubbed to, wait for its tiles (220-440 ms per band for a 512² leaf), while the whole cube renders in one
    go in about half a second (docs/benchmarks.md, "GUI responsiveness: a 512² cube"). Larger cubes stay lazy."""
    t = exp.T
    if hasattr(t, "dask") and int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize <= budget:
        exp.T = np.asarray(t)


def saliency_layer_data(exp: Any, scale: Any = None, translate: Any = None, cube_name: str = "cube",
                        good_bands: Any = None) -> list[tuple]:
    """(T, kwargs, "image") and (M, kwargs, "image"), aligned with the explained cube layer."""
    t_name, m_name = saliency_names(cube_name, exp.method, str(exp.class_name), exp.refined)
    band = top_band(exp.B, good_bands)
    t_limits = saliency_limits(exp.T, band, exp.leaf_mask)
    spatial_scale = None if scale is None else tuple(scale)[-2:]
    spatial_translate = None if translate is None else tuple(translate)[-2:]
    meta = {
        "napari_focus": "saliency",
        "class_name": str(exp.class_name),
        "method": exp.method,
        "rule": exp.rule,
        "model_sha256": exp.model_sha256,
        "probabilities": [float(p) for p in np.ravel(exp.probabilities)],
        "predicted": str(exp.predicted),
        "cube": cube_name,
        "top_band": band,
        "saturated_at_most": SATURATED_AT_MOST,
    }
    if exp.wavelengths_nm is not None:
        meta["wavelengths_nm"] = [float(w) for w in exp.wavelengths_nm]
    common = {"colormap": saliency_colormap(), "blending": "translucent", "opacity": 0.9}
    m = np.asarray(exp.M, dtype=np.float64)
    m_limits = (0.0, _top_of(m[_leaf_or_all(exp.leaf_mask, m.shape)]))
    t_kwargs = dict(common, name=t_name, contrast_limits=t_limits, metadata=meta, axis_labels=("band", "y", "x"))
    m_kwargs = dict(common, name=m_name, contrast_limits=m_limits, metadata=dict(meta), visible=False)
    if scale is not None:
        t_kwargs["scale"] = tuple(scale)
        m_kwargs["scale"] = spatial_scale
    if translate is not None:
        t_kwargs["translate"] = tuple(translate)
        m_kwargs["translate"] = spatial_translate
    return [(exp.T, t_kwargs, "image"), (exp.M, m_kwargs, "image")]


def groups_on_cube_bands(model_groups: Any, model_wavelengths: Any, cube_wavelengths: Any,
                         n_cube_bands: int) -> list[SpectralGroup]:
    """The model's named groups as contiguous band ranges of the cube (mapped by wavelength if needed)."""
    out: list[SpectralGroup] = []
    if model_groups is None:
        return out
    same = cube_wavelengths is None or model_wavelengths is None or (
        len(model_wavelengths) == n_cube_bands and np.allclose(model_wavelengths, cube_wavelengths, atol=0.5))
    for name, bands in zip(model_groups.names, model_groups.bands, strict=True):
        if same:
            lo, hi = min(bands), max(bands)
        else:
            wl = np.asarray(model_wavelengths, float)
            cw = np.asarray(cube_wavelengths, float)
            inside = np.nonzero((cw >= wl[min(bands)] - 1e-6) & (cw <= wl[max(bands)] + 1e-6))[0]
            if inside.size == 0:
                continue
            lo, hi = int(inside.min()), int(inside.max())
        out.append(SpectralGroup(str(name), int(lo), int(min(hi, n_cube_bands - 1))))
    return out


def curve_from_explanation(exp: Any, model: Any = None, good_bands: Any = None) -> SpectralCurve:
    groups = [] if model is None else groups_on_cube_bands(
        getattr(model, "groups", None), getattr(model, "wavelengths_nm", None), exp.wavelengths_nm, len(exp.B))
    return SpectralCurve(importance=np.asarray(exp.B, float), wavelengths_nm=exp.wavelengths_nm, groups=groups,
                         good_bands=good_bands, title=f"{curve_label(exp.method, exp.refined)} · {exp.class_name}")


def probability_text(exp: Any, classes: list[str]) -> str:
    """'bls 0.93 · healthy 0.07' (classification) or 'predicted 41.2' (regression)."""
    probs = np.ravel(exp.probabilities)
    if len(classes) != probs.size:
        return f"predicted {exp.predicted}"
    order = np.argsort(-probs)
    return " · ".join(f"{classes[i]} {probs[i]:.2f}" for i in order)
