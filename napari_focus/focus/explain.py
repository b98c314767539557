"""`explain` and `predict`: a Cube in, an `Explanation` (T, M, B, probabilities, metrics) out.

One forward pass under `torch.inference_mode` for FOCUS (docs/method.md §3.8); gradient × input and Grad-CAM
(baselines.py) return the same type, so the GUI and the benchmark treat all methods alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from napari_focus.cube import Cube
from napari_focus.focus.blind import deviation_and_blind_pass, needs_kv
from napari_focus.focus.device import autocast
from napari_focus.focus.factored import (
    Deferred,
    LeafRows,
    band_max,
    leaf_rows,
    one_torch_thread,
    render,
    saliency_map,
)
from napari_focus.focus.input_deviation import combine, group_mass
from napari_focus.focus.inputs import PreparedCube, default_leaf_mask, prepare_cube, typical_leaf
from napari_focus.focus.model import FocusModel
from napari_focus.focus.readout import (
    NEEDS_BLIND,
    NEEDS_SECOND_PASS,
    REFINED_RULES,
    RULES,
    layer_maps,
    parse_rule,
    patch_saliency,
)

METHODS = ("focus", "gradxinput", "gradcam")


@dataclass
class Explanation:
    """Saliency of one cube for one class, on the cube's own bands and pixels."""

    T: np.ndarray  # (C, H, W) float32, non-negative, zero outside the leaf; may be given as a `Deferred`
    M: np.ndarray  # (H, W) = Σ_b T[b]
    B: np.ndarray  # (C,) = max over leaf pixels of T[b]
    probabilities: np.ndarray  # (K,); regression: the predicted trait value, shape (1,)
    predicted: str | float
    class_index: int
    class_name: str
    method: str
    rule: str
    wavelengths_nm: np.ndarray | None
    leaf_mask: np.ndarray
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    model_sha256: str | None = None
    seconds: float = 0.0
    refined: bool = False  # the curve took more than one forward pass (readout.refined_rule)

    @property
    def T_ready(self) -> bool:
        """Whether T is already computed (False while it is still a `Deferred` rendered on first read)."""
        return not isinstance(self.__dict__.get("_T"), Deferred)


def _get_T(self: Explanation) -> np.ndarray:
    t = self.__dict__["_T"]
    if isinstance(t, Deferred):
        t = self.__dict__["_T"] = t.render()
    return t


def _set_T(self: Explanation, value: Any) -> None:
    self.__dict__["_T"] = value


# a property over the dataclass field: __init__ stores a Deferred as it is, the first read renders it
Explanation.T = property(_get_T, _set_T, doc="(C, H, W) saliency, rendered on first read when deferred")  # type: ignore


def _device(model: FocusModel) -> torch.device:
    return next(model.parameters()).device


def resolve_class(model: FocusModel, class_index: int | str | None, probs: np.ndarray) -> int:
    if class_index is None:
        return int(np.argmax(probs)) if model.task == "classification" else 0
    if isinstance(class_index, str):
        if class_index not in model.classes:
            from napari_focus.errors import FocusError

            raise FocusError(f"class {class_index!r} is not one of {model.classes}")
        return model.classes.index(class_index)
    if not 0 <= int(class_index) < model.n_classes:
        raise IndexError(f"class index {class_index} out of range for {model.n_classes} classes")
    return int(class_index)


def predict(model: FocusModel, cube: Cube) -> dict[str, Any]:
    """Probabilities (or the trait value) and the predicted class of one cube."""
    prep = prepare_cube(model, cube)
    dev = _device(model)
    model.eval()
    with torch.inference_mode(), autocast(dev):
        vals = model.predict_values(model(prep.x[None].to(dev)).logits)[0].cpu().numpy()
    return _prediction(model, vals) | {"notes": prep.notes}


def _prediction(model: FocusModel, vals: np.ndarray) -> dict[str, Any]:
    if model.task == "classification":
        k = int(np.argmax(vals))
        return {"probabilities": vals, "predicted": model.classes[k], "class_index": k}
    return {"probabilities": vals, "predicted": float(vals[0]), "class_index": 0}


def cube_patches(t_model: torch.Tensor, model: FocusModel, prep: PreparedCube) -> torch.Tensor:
    """(Cu or C_model, h, w) on the model's bands → (C_cube, h, w) on the cube's bands, still at patch level."""
    t = t_model.float()
    if t.shape[0] != model.groups.n_bands:
        full = t.new_zeros(model.groups.n_bands, *t.shape[1:])
        full[model.used_bands.to(t.device)] = t
        t = full
    if prep.back is not None:
        t = torch.einsum("cm,mhw->chw", torch.as_tensor(prep.back, dtype=t.dtype, device=t.device), t)
    return t


def to_cube_saliency(t_model: torch.Tensor, model: FocusModel, prep: PreparedCube, leaf: np.ndarray) -> np.ndarray:
    """(Cu or C_model, h, w) on the model's bands → (C_cube, H, W) on the cube's bands and pixels."""
    return render(cube_patches(t_model, model, prep), prep.hw, leaf)


def finish(
    T: np.ndarray, leaf: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """M = Σ_b T[b]; B_b = max over leaf pixels of T[b] (= over all pixels: T ≥ 0 and zero off the leaf)."""
    M = T.sum(0)
    B = T.reshape(T.shape[0], -1).max(1) if leaf.any() else np.zeros(T.shape[0], np.float32)
    return M, B


def outer(M: np.ndarray, B_curve: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """T for a map from one rule and a curve from another: M(x)·β_b with Σ_b β_b = 1."""
    beta = B_curve / max(float(B_curve.sum()), 1e-30)
    return (beta[:, None, None] * M[None]).astype(np.float32) * leaf[None]


def explain(
    model: FocusModel,
    cube: Cube,
    class_index: int | str | None = None,
    method: str = "focus",
    rule: str | None = None,
    leaf_mask: np.ndarray | None = None,
    ground_truth: dict[str, Any] | None = None,
) -> Explanation:
    """Explain one cube for one class (default: the predicted one).

    `rule`: a FOCUS readout name (readout.available_rules(); None = the model's or the default).
    `ground_truth`: optional {"lesion_mask": (H, W), "leaf_mask": (H, W), "sensitivity": (C,), "top_bands": [ints]}
    on the cube's bands; when given, the docs/method.md §4 metrics are filled in (inside its leaf mask, if any).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    t0 = time.perf_counter()
    notes: list[str] = []
    if leaf_mask is None:
        leaf, note = default_leaf_mask(cube)
        notes += [note] if note else []
    else:
        leaf = np.asarray(leaf_mask, dtype=bool)
    prep = prepare_cube(model, cube, leaf=leaf)
    notes += prep.notes
    model.eval()
    if method != "focus":
        from napari_focus.focus.baselines import explain_baseline

        exp = explain_baseline(model, prep, class_index, method, leaf)
    else:
        exp = _explain_focus(model, prep, [class_index], rule, leaf, want_diag=ground_truth is not None)[0]
    _finalise(exp, notes, cube, model, ground_truth, t0)
    return exp


def explain_classes(
    model: FocusModel,
    cube: Cube,
    classes: list[int | str] | None = None,
    rule: str | None = None,
    leaf_mask: np.ndarray | None = None,
) -> list[Explanation]:
    """FOCUS explanations of several classes (default: all) from one forward pass."""
    t0 = time.perf_counter()
    leaf, note = default_leaf_mask(cube) if leaf_mask is None else (np.asarray(leaf_mask, bool), None)
    prep = prepare_cube(model, cube, leaf=leaf)
    model.eval()
    todo = list(range(model.n_classes)) if classes is None else list(classes)
    exps = _explain_focus(model, prep, todo, rule, leaf, want_diag=False)
    for e in exps:
        _finalise(e, ([note] if note else []) + prep.notes, cube, model, None, t0)
    return exps


def _finalise(exp: Explanation, notes: list[str], cube: Cube, model: FocusModel, gt: dict[str, Any] | None,
              t0: float) -> None:
    exp.notes = notes + exp.notes
    exp.wavelengths_nm = cube.wavelengths_nm
    exp.model_sha256 = model.checkpoint_sha256
    if gt is not None:
        exp.metrics.update(saliency_metrics(exp, gt))
    exp.seconds = time.perf_counter() - t0


def _explain_focus(model, prep, classes, rule, leaf, want_diag: bool) -> list[Explanation]:
    map_rule, curve_rule = parse_rule(rule or model.saliency_rule)
    name = map_rule if map_rule == curve_rule else f"{map_rule}+{curve_rule}"
    dev = _device(model)
    gh, gw = model.grid
    exps = []
    rows = leaf_rows(leaf, (gh, gw))
    notes = reference_notes(model, map_rule, curve_rule)
    with torch.inference_mode(), autocast(dev):
        out = model(prep.x[None].to(dev), record=True, diagnostics=want_diag, keep_kv=needs_kv(map_rule, curve_rule))
        out.leaf_patches = leaf_patches(leaf, (gh, gw))
        typical_pass(model, out, prep.x, leaf, map_rule, curve_rule)
        vals = model.predict_values(out.logits)[0].cpu().numpy()
        pred = _prediction(model, vals)
        with one_torch_thread():  # the readout is many small ops, which a busy thread pool slows several-fold
            deviation = deviation_and_blind_pass(model, out, prep.x, leaf, map_rule, curve_rule)
            for class_index in classes:
                c = resolve_class(model, class_index, vals)
                T, M, B = _readout(model, out, c, map_rule, curve_rule, prep, leaf, rows, deviation)
                metrics = _attention_diagnostics(model, out, c, prep, leaf) if want_diag else {}
                exps.append(Explanation(T=T, M=M, B=B, probabilities=vals, predicted=pred["predicted"], class_index=c,
                                        class_name=model.classes[c], method="focus", rule=name, wavelengths_nm=None,
                                        leaf_mask=leaf, metrics=metrics, notes=list(notes),
                                        refined=curve_rule in REFINED_RULES))
    return exps


def typical_pass(model: FocusModel, out: Any, x: torch.Tensor, leaf: np.ndarray, *rules: str) -> None:
    """When a rule weighs groups against the typical leaf, run its second forward pass and keep the group logits on
    `out` (readout.group_weight reads them); nothing otherwise. Call inside inference mode."""
    if set(rules) & NEEDS_SECOND_PASS:
        out.typical_group_logits = model(typical_leaf(x, leaf)[None].to(_device(model))).group_logits[0]


def leaf_patches(leaf: np.ndarray, grid: tuple[int, int]) -> torch.Tensor:
    """(gh·gw,) bool: the model's patches at least half on the leaf (the input is the whole cube resized)."""
    t = torch.from_numpy(np.ascontiguousarray(leaf, dtype=np.float32))[None, None]
    return (F.adaptive_avg_pool2d(t, grid)[0, 0] >= 0.5).flatten()


def reference_notes(model: FocusModel, *rules: str) -> list[str]:
    """A note when a checkpoint was saved before readouts had a stored reference: its curve is the old readout
    (none when the curve's group weight has a reference of its own, the typical leaf's or the blind pass's)."""
    from napari_focus.focus.readout import NEEDS_REFERENCE

    if model.margin_ref is not None or (rules and (rules[-1] in NEEDS_BLIND or rules[-1] in NEEDS_SECOND_PASS)):
        return []
    how = ("weighs groups by their raw class margins" if any(r in NEEDS_REFERENCE for r in rules) else
           f"is the old readout ({'+'.join(dict.fromkeys(rules))})")
    return [f"this checkpoint stores no group-margin reference (saved by an older napari-focus): its curve {how}; "
            "retrain, or add one with `python -m napari_focus.zoo.add_reference`"]


def _readout(model: FocusModel, out: Any, c: int, map_rule: str, curve_rule: str, prep: PreparedCube,
             leaf: np.ndarray, rows: LeafRows, deviation: Any = None) -> tuple[Any, np.ndarray, np.ndarray]:
    """(T, M, B) of class c; T deferred (rendered on first read) unless a factor forbids it. `deviation`: the input's
    group deviation (input_deviation.py) when the map rule is a pixel-level one."""
    gh, gw = model.grid
    P = cube_patches(patch_saliency(model, out, c, map_rule).reshape(-1, gh, gw), model, prep)
    pixel = RULES[map_rule].pixel
    if curve_rule == map_rule and not pixel:
        return _factored(P, prep.hw, leaf, rows)
    Pc = P if curve_rule == map_rule else cube_patches(patch_saliency(model, out, c, curve_rule).reshape(-1, gh, gw),
                                                       model, prep)
    M_map = _factored(P, prep.hw, leaf, rows, want="M")[1]
    curve = _factored(Pc, prep.hw, leaf, rows, want="B")[2]
    if pixel:  # the map at pixel level (input_deviation.py); the curve's shape is unchanged
        M_map = M_map * combine(deviation, group_mass(model, curve, prep.back), prep.hw)
    # outer's M and B without building it: Σ_b β_b·M and β_b·max_leaf M (T ≥ 0 and zero off the leaf)
    beta = curve / max(float(curve.sum()), 1e-30)
    M = (M_map * beta.sum(dtype=np.float32)).astype(np.float32)
    B = (beta * M_map.max()).astype(np.float32) if leaf.any() else np.zeros_like(beta)
    return Deferred(lambda: outer(M_map, curve, leaf)), M, B


def _factored(
    P: torch.Tensor, hw: tuple[int, int], leaf: np.ndarray, rows: LeafRows, want: str = "MB"
) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """(deferred T, M, B) from the patch-level saliency P (C_cube, gh, gw) (factored.py); T is built at once
    only if P has a negative entry (then the clamp after upsampling matters and M, B need the real T).
    `want` names the factors to compute ("M", "B" or both); the other comes back as None."""
    P = P.detach().float()
    if bool((P < 0).any()):
        T = render(P, hw, leaf)
        return (T, *finish(T, leaf))
    return (Deferred(lambda: render(P, hw, leaf)), saliency_map(P, hw, leaf) if "M" in want else None,
            band_max(P, rows) if "B" in want else None)


def _attention_diagnostics(model, out, c: int, prep: PreparedCube, leaf: np.ndarray) -> dict[str, float]:
    """Collapse rate, over-filtering, sink mass (docs/method.md §4) and layer consistency of the prompt maps."""
    from napari_focus.metrics import layer_consistency

    diag = out.diagnostics
    last = len(out.prompt_attn) - 1
    star = model.star_heads(last)
    res = {"collapse_rate": float(diag["prefix"][last, star].mean())}
    if model.use_sink:
        res["over_filtering"] = float(out.prompt_attn[last][0, :, :, star.to(out.prompt_attn[last].device), 0].mean())
        aux = model.head_aux.to(diag["sink"].device)
        res["sink_mass"] = float((diag["sink"] * aux).sum() / aux.sum())
    gh, gw = model.grid
    maps = layer_maps(model, out, c).reshape(-1, 1, gh, gw).float()
    maps = F.interpolate(maps, size=prep.hw, mode="bilinear", align_corners=False)[:, 0].cpu().numpy()
    res["consistency"] = float(layer_consistency(maps, leaf))
    return res


def saliency_metrics(exp: Explanation, gt: dict[str, Any]) -> dict[str, float]:
    """BIO@5 (strict, tolerant), ρ, mass lift and top-5 in region against the truth's curve, spatial IoU and AUPRC
    with floors, for whatever ground truth is given."""
    from napari_focus import metrics as mt

    wl = exp.wavelengths_nm
    res: dict[str, float] = {}
    true_bands = gt.get("top_bands")
    if true_bands is None and gt.get("sensitivity") is not None:
        true_bands = mt.top_k_bands(np.asarray(gt["sensitivity"]), wl, k=5)
    sens = gt.get("sensitivity")
    if sens is not None and np.size(sens) == np.size(exp.B):
        res["rho_gt"] = mt.spearman(exp.B, sens)
        res["mass_lift"] = mt.mass_lift(exp.B, sens)
        res["top5_in_region"] = mt.top_k_in_region(exp.B, sens, k=5)
    if true_bands is not None:
        pred = mt.top_k_bands(exp.B, wl, k=5)
        res["bio5_strict"] = mt.bio_from_bands(pred, true_bands, wl, tolerant=False)
        res["bio5_tolerant"] = mt.bio_from_bands(pred, true_bands, wl, tolerant=True)
    lesion = gt.get("lesion_mask")
    leaf = gt.get("leaf_mask", exp.leaf_mask)  # the true leaf when known: a lesion the mask missed counts as missed
    if lesion is not None and np.asarray(lesion).any():
        res["iou"] = mt.spatial_iou(exp.M, lesion, leaf)
        res["auprc"] = mt.auprc(exp.M, lesion, leaf)
        floors = mt.auprc_floors(lesion, leaf)
        res["auprc_floor_random"] = floors["random"]
        res["auprc_floor_leaf"] = floors["whole_leaf"]
    return res
