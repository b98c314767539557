"""Saliency readout rules (docs/method.md §3.8): from one recorded forward pass to T[b, p] on the model's bands.

T[b, p] = w_{c,g(b)} · a_{c,g(b)}(p) · s_{c,b}(p). Each named rule picks one variant of each factor
(or the last layer's direct path, which gives T in one go). A rule written "MAP+CURVE" takes the
spatial map from MAP and the band curve from CURVE (T is then their outer product). The registry
lets the GUI and the benchmark list them; the paper-literal rule is `paper`. The default,
`rollout_spectral`, was chosen on the planted-signal tuning seeds 100–109 (tests/focus/planted.py);
the held-out seeds 0–9 are the acceptance test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from napari_focus.errors import FocusError
from napari_focus.focus.direct_path import direct_T
from napari_focus.focus.groups import group_rows
from napari_focus.focus.model import FocusModel, FocusOutput


class RuleError(FocusError, ValueError):
    """An unknown saliency rule name (a user error: the CLI prints it on one line)."""


@dataclass(frozen=True)
class Rule:
    """One readout: where (attention), how much (group weight), which band (share)."""

    attention: str  # "last" | "rollout" | "contrast" | "rollout_spectral" | "rollout_contrast"
    weight: str  # "one" | "margin" | "calibrated" | "typical" | "blind"
    share: str  # "share" | "share_g" | "direct" | "input" | "input_where"
    doc: str
    even: float = 0.0  # share "input"/"input_where" only: this part of each group's weight spread over its bands
    pixel: bool = False  # as a map: weighed pixel by pixel by the input's deviation in the curve's groups
    windows: bool = False  # the heaviest groups' band shares from their windows' margin drops (window_share.py)


#: the part of a group's weight the `*_even` rules spread evenly over the group's bands: the band share is exact
#: only as a decomposition of the group token's deviation, and windows it leaves empty can still carry the margin
#: (docs/method.md, "The spectral curve"); the value was chosen on tuning leaves (docs/benchmarks.md, "Part of each
#: group's weight spread evenly")
EVEN_PART = 0.65

RULES: dict[str, Rule] = {
    "paper": Rule("last", "one", "share", "paper-literal: last-layer prompt attention × band share"),
    "paper_input": Rule("last", "one", "share", "as paper; its map weighed pixel by pixel by the input's deviation "
                        "in the groups the curve weighs (input_deviation.py)", pixel=True),
    "margin": Rule("last", "margin", "share_g", "last-layer attention × class margin w × share·|g|"),
    "rollout": Rule("rollout", "margin", "share_g", "prompt-row rollout over the last layers × w × share·|g|"),
    "contrastive": Rule("contrast", "margin", "share_g", "(a_c − mean_c' a_c')₊ × w × share·|g|"),
    "rollout_spectral": Rule("rollout_spectral", "margin", "share_g",
                             "group-contrastive rollout (r_g − mean_g' r_g')₊: attention common to every group "
                             "(brightness, edges) removed × w × share·|g|"),
    "rollout_contrast": Rule("rollout_contrast", "margin", "share_g",
                             "class-contrastive prompt rollout (r_c − mean_c' r_c')₊ × w × share·|g|"),
    "direct": Rule("last", "one", "direct", "class-contrastive contribution via the last layer's direct path"),
    "calibrated": Rule("last", "calibrated", "input_where",
                       "group weight: class margin above the stored reference; band: the band's part of its "
                       "group token's deviation from the leaf's typical patch (input × Φ) where the group's prompt "
                       "attends; attention: the map's shape, not its amplitude"),
    "calibrated_leaf": Rule("last", "calibrated", "input",
                            "as calibrated, the band's part summed over every leaf patch alike"),
    "calibrated_rollout": Rule("rollout_spectral", "calibrated", "input_where",
                               "as calibrated, with the group-contrastive rollout for where"),
    "calibrated_even": Rule("last", "calibrated", "input_where",
                            "as calibrated, with part of each group's weight spread evenly over its bands",
                            even=EVEN_PART),
    "calibrated_rollout_even": Rule("rollout_spectral", "calibrated", "input_where",
                                    "as calibrated_rollout, with part of each group's weight spread evenly over "
                                    "its bands", even=EVEN_PART),
    "typical": Rule("last", "typical", "input_where",
                    "as calibrated, the group weight measured against the same leaf with every leaf pixel at its "
                    "median spectrum (a second forward pass)"),
    "typical_rollout": Rule("rollout_spectral", "typical", "input_where",
                            "as typical, with the group-contrastive rollout for where (a second forward pass)"),
    "typical_even": Rule("last", "typical", "input_where",
                         "as typical, with part of each group's weight spread evenly over its bands", even=EVEN_PART),
    "typical_rollout_even": Rule("rollout_spectral", "typical", "input_where",
                                 "as typical_rollout, with part of each group's weight spread evenly over its bands",
                                 even=EVEN_PART),
    "blind": Rule("last", "blind", "input_where",
                  "as calibrated, the group weight measured against the margin the group's prompts give blind to "
                  "the leaf patches that deviate in the group (blind.py; the same forward pass)"),
    "blind_rollout": Rule("rollout_spectral", "blind", "input_where",
                          "as blind, with the group-contrastive rollout for where"),
    "blind_even": Rule("last", "blind", "input_where",
                       "as blind, with part of each group's weight spread evenly over its bands", even=EVEN_PART),
    "blind_rollout_even": Rule("rollout_spectral", "blind", "input_where",
                               "as blind_rollout, with part of each group's weight spread evenly over its bands",
                               even=EVEN_PART),
    "blind_windows": Rule("last", "blind", "input_where",
                          "as blind_even, the heaviest groups' bands shared by the margin each ~10 nm window loses "
                          "when healed on the leaf's deviating pixels (window_share.py; more passes of those groups)",
                          even=EVEN_PART, windows=True),
    "blind_rollout_windows": Rule("rollout_spectral", "blind", "input_where",
                                  "as blind_windows, with the group-contrastive rollout for where", even=EVEN_PART,
                                  windows=True),
}
#: rules whose group weight needs the checkpoint's stored margin reference (reference.py)
NEEDS_REFERENCE = frozenset(r for r, v in RULES.items() if v.weight == "calibrated")
#: rules whose group weight needs a second forward pass, on the typical leaf (inputs.typical_leaf): never a
#: checkpoint's default, which stays one pass; the refinement a user asks for (`refined_rule`)
NEEDS_SECOND_PASS = frozenset(r for r, v in RULES.items() if v.weight == "typical")
#: rules whose group weight reruns the prompts on the pass's keys and values, blind to deviating patches (blind.py)
NEEDS_BLIND = frozenset(r for r, v in RULES.items() if v.weight == "blind")
#: rules whose band share heals windows in the heaviest groups (window_share.py): more passes of those groups
NEEDS_WINDOWS = frozenset(r for r, v in RULES.items() if v.windows)
#: the refinements: more than one forward pass, never a checkpoint's default (`refined_rule` picks one)
REFINED_RULES = NEEDS_SECOND_PASS | NEEDS_WINDOWS
DEFAULT_RULE = "rollout_spectral"  # best band and map on the planted-signal tuning seeds 100–109 (tests/focus)


def available_rules() -> list[str]:
    """Every selectable rule name: the single rules and the useful map+curve pairs."""
    pairs = [f"{m}+{c}" for m in ("rollout_spectral", "rollout") for c in ("direct", "paper")]
    return list(RULES) + pairs


def choose_rule(scores: Mapping[str, Mapping[str, float | None]], curve_key: str = "bio5_tolerant") -> str:
    """The choice on tuning leaves (docs/method.md §3.8), from each single rule's scores there (in candidate order):
    the map from the best in-leaf AUPRC, the curve from the best `curve_key` (default tolerant BIO@5; ties: the better
    ρ(B, truth) when scored, then the earlier rule); "map+curve" when they differ. A pair's map and curve are
    exactly its two rules' (explain.py), so scoring each single rule once scores every pair. Missing or NaN scores
    never win."""
    def s(rule: str, key: str) -> float:
        v = scores[rule].get(key)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else -math.inf

    order = {r: -i for i, r in enumerate(scores)}
    best_map = max(scores, key=lambda r: (s(r, "auprc"), order[r]))
    best_curve = max(scores, key=lambda r: (s(r, curve_key), s(r, "rho_gt"), order[r]))
    return best_map if best_map == best_curve else f"{best_map}+{best_curve}"


#: the smooth curve metrics a readout choice adds up on diseased tuning leaves: one against the truth, two against
#: the model (docs/method.md, "Judging a curve")
CURVE_SCORE = ("rho_gt", "group_faithfulness", "window_faithfulness")


def curve_score(row: Mapping[str, float | None]) -> float:
    """Σ of CURVE_SCORE's diseased-leaf means (`<metric>_diseased`), each in [−1, 1]; NaN when any is missing, so a
    curve never scored against both the truth and the model never wins `choose_rule(…, curve_key="curve_score")`."""
    vals = [row.get(f"{m}_diseased") for m in CURVE_SCORE]
    ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals)
    return float(sum(vals)) if ok else float("nan")


def one_pass_rules() -> list[str]:
    """The single rules a checkpoint's default may be chosen from: every rule but the refinements."""
    return [r for r in RULES if r not in REFINED_RULES]


def refined_rule(name: str | None) -> str:
    """The refinement of a rule: its map as it is, its curve from more forward passes. A `blind` curve keeps its
    group weight and gets its heaviest groups' bands from their windows' heals (`blind_windows`, or
    `blind_rollout_windows` for rollout attention; the other groups get the `_even` share); any other curve keeps
    its attention and band share with the group weight measured against the typical leaf (`typical` /
    `typical_rollout`, their `_even` twins for an `_even` rule)."""
    map_rule, curve_rule = parse_rule(name)
    if curve_rule in REFINED_RULES:
        return map_rule if map_rule == curve_rule else f"{map_rule}+{curve_rule}"
    last = RULES[curve_rule].attention == "last"
    if RULES[curve_rule].weight == "blind":
        refined = "blind_windows" if last else "blind_rollout_windows"
    else:
        refined = ("typical" if last else "typical_rollout") + ("_even" if RULES[curve_rule].even else "")
    return f"{map_rule}+{refined}"


def parse_rule(name: str | None) -> tuple[str, str]:
    """(map rule, curve rule) for a rule name; None means the default."""
    name = name or DEFAULT_RULE
    parts = name.split("+")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or any(p not in RULES for p in parts):
        raise RuleError(f"unknown saliency rule {name!r}; choose one of {', '.join(available_rules())}")
    return parts[0], parts[1]


def _star_mean(model: FocusModel, layer: int, a: torch.Tensor) -> torch.Tensor:
    """Mean over H_⋆ of an attention tensor whose head axis is -2 (…, H, keys)."""
    return a.index_select(-2, model.star_heads(layer).to(a.device)).mean(-2)


def attention_map(model: FocusModel, out: FocusOutput, c: int, kind: str) -> torch.Tensor:
    """a_{c,g}(p) for item 0: (G, N) patch weights (of group g's own patches, `FocusModel.own_patches`)."""
    p0 = model.patch_start
    last = len(out.prompt_attn) - 1
    own = model.own_patches
    if kind == "last":
        return own(_star_mean(model, last, out.prompt_attn[last][0, :, c])[:, p0:-1])
    if kind == "contrast":
        a = own(_star_mean(model, last, out.prompt_attn[last][0])[..., p0:-1])  # (G, K, N)
        return (a[:, c] - a.mean(1)).clamp_min(0) if a.shape[1] > 1 else a[:, c]
    if kind == "rollout":
        return own(_rollout(model, out, c)[:, p0:])
    if kind == "rollout_spectral":
        r = own(_rollout(model, out, c)[:, p0:])  # (G, N)
        return (r - r.mean(0, keepdim=True)).clamp_min(0) if r.shape[0] > 1 else r
    if kind == "rollout_contrast":
        r = torch.stack([own(_rollout(model, out, k)[:, p0:]) for k in range(model.n_classes)], 1)  # (G, K, N)
        return (r[:, c] - r.mean(1)).clamp_min(0) if r.shape[1] > 1 else r[:, c]
    raise ValueError(f"unknown attention kind {kind!r}")


def _shared(out: FocusOutput, key: tuple, make: Callable[[], torch.Tensor]) -> torch.Tensor:
    """A class-independent part of the readout, computed once per forward pass (kept on `out`), so that
    explaining every class repeats only what depends on the class."""
    cache = out.__dict__.setdefault("_readout_shared", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _backbone_rollout_step(model: FocusModel, out: FocusOutput, layer: int) -> torch.Tensor:
    """0.5·A + 0.5·I of a recorded backbone layer, mean over H_⋆, transposed: (G, L, L) ((1, L, L) joint)."""
    ab = _star_mean(model, layer, out.backbone_attn[layer][0].transpose(1, 2))
    return 0.5 * ab + 0.5 * torch.eye(ab.shape[-1], device=ab.device)


def _rollout(model: FocusModel, out: FocusOutput, c: int) -> torch.Tensor:
    """Prompt-row attention rollout (0.5·I + 0.5·A, mean over H_⋆) over the recorded last layers."""
    last = len(out.prompt_attn) - 1
    ap = _star_mean(model, last, out.prompt_attn[last][0, :, c])  # (G, L+1)
    u_seq, u_self = 0.5 * ap[:, :-1], 0.5 + 0.5 * ap[:, -1]
    for layer in sorted(out.backbone_attn, reverse=True):
        ab = _shared(out, ("rollout_step", layer), lambda layer=layer: _backbone_rollout_step(model, out, layer))
        ap = _star_mean(model, layer, out.prompt_attn[layer][0, :, c])
        u_seq = torch.einsum("gi,gij->gj", u_seq, ab) + u_self[:, None] * 0.5 * ap[:, :-1]  # joint: ab broadcast
        u_self = u_self * (0.5 + 0.5 * ap[:, -1])
    return u_seq


def group_weight(model: FocusModel, out: FocusOutput, c: int, kind: str) -> torch.Tensor:
    """w_{c,g} for item 0: (G,). "calibrated" without a stored reference falls back to "margin"; "typical" needs
    `out.typical_group_logits` (K, G), the typical leaf's, and "blind" `out.blind_group_logits` (explain.py sets
    both)."""
    z = out.group_logits[0].float()  # (K, G)
    if kind == "one":
        return torch.ones(z.shape[1], device=z.device)
    reference = _reference_margins(model, out, kind, z)
    if reference is not None:  # the margin above a reference: the stored one, or the typical leaf's
        from napari_focus.focus.reference import group_margins

        dev = group_margins(model, z[None])[0] - reference
        if model.task == "regression" or z.shape[0] == 1:
            return dev[0].abs()
        return dev[c].clamp_min(0)
    if model.task == "regression" or z.shape[0] == 1:
        if z.shape[1] == 1:  # one group: no other group's prediction to deviate from (|z − mean z| would be 0)
            return torch.ones(1, device=z.device)
        return (z[0] - z[0].mean()).abs()
    return (z[c] - z.mean(0)).clamp_min(0)


#: weights measured against another set of group logits of the same leaf: the attribute explain.py sets, and the
#: pass that makes it
_PER_LEAF_REFERENCE = {"typical": ("typical_group_logits", "the typical leaf's forward pass"),
                       "blind": ("blind_group_logits", "the prompts' blind pass (blind.py)")}


def _reference_margins(model: FocusModel, out: FocusOutput, kind: str, z: torch.Tensor) -> torch.Tensor | None:
    """(K, G) margins a weight of `kind` is measured against; None for the raw margin (and for "calibrated" without a
    stored reference)."""
    if kind in _PER_LEAF_REFERENCE:
        from napari_focus.focus.reference import group_margins

        attr, made_by = _PER_LEAF_REFERENCE[kind]
        base = getattr(out, attr, None)
        if base is None:
            raise FocusError(f"this readout needs {made_by} (explain sets it)")
        return group_margins(model, base[None].float().to(z))[0]
    if kind == "calibrated" and model.margin_ref is not None:
        return model.margin_ref.to(z)
    return None


def band_share(model: FocusModel, out: FocusOutput, scaled: bool) -> torch.Tensor:
    """s_b(p) = ‖Φ_b ⊙ E(X_b)_p‖ / Σ_{b'∈g} ‖·‖ (× |g| when `scaled`): (Cu, N), the same for every class."""
    return _shared(out, ("band_share", scaled), lambda: _band_share(model, out, scaled))


def _band_share(model: FocusModel, out: FocusOutput, scaled: bool) -> torch.Tensor:
    norms = out.band_tokens[0].float().norm(dim=-1)  # (Cu, N)
    gidx = model.band_group[model.used_bands]
    tot = norms.new_zeros(model.groups.n_groups, norms.shape[1]).index_add(0, gidx, norms)
    share = norms / tot[gidx].clamp_min(1e-12)
    if scaled:
        share = share * torch.as_tensor(model.groups.sizes, device=share.device, dtype=share.dtype)[gidx, None]
    return share


def _leaf_patch_index(out: FocusOutput, n: int, device: torch.device) -> torch.Tensor:
    """Indices of the patches the explainer marked as leaf (all patches when none is marked)."""
    lp = out.leaf_patches
    idx = torch.nonzero(lp.to(device)).flatten() if lp is not None else torch.arange(n, device=device)
    return idx if idx.numel() else torch.arange(n, device=device)


def input_share(model: FocusModel, out: FocusOutput, where: torch.Tensor | None = None) -> torch.Tensor:
    """(Cu,) each band's part in its group token's deviation from the leaf's typical patch, the same for every class.

    Why: a group's token is Σ_b Φ_b ⊙ E(X_b), so what the prompts see change between patches is the sum of the
    bands' parts u_b(p) = Φ_b ⊙ (E(X_b)_p − E(flat patch at the band's median level on the leaf)), the leaf's
    typical patch being a flat one (cheap: the conv of a constant). A band's share is its part's projection on
    the group's whole deviation Δt_g(p) = Σ_b u_b(p), summed over the leaf's patches (deviating patches such as
    lesions weigh most), clamped at 0 and normalised within the group: input × weight, gradient-free, from what
    the model actually multiplies, not from Φ's values alone (a flat leaf gives no band any share).
    """
    if where is not None:
        return _input_share(model, out, where)
    return _shared(out, ("input_share",), lambda: _input_share(model, out, None))


def _input_share(model: FocusModel, out: FocusOutput, where: torch.Tensor | None) -> torch.Tensor:
    bt = out.band_tokens[0].float()  # (Cu, N, d)
    leaf = _leaf_patch_index(out, bt.shape[1], bt.device)
    typical = out.band_patch_mean[0][:, leaf].float().median(1).values  # (Cu,) the leaf's median level per band
    u = bt[:, leaf] - model.flat_band_tokens(typical.to(bt.device))[:, None]  # (Cu, n_leaf, d)
    gidx = model.band_group[model.used_bands].cpu()
    share = u.new_zeros(u.shape[0])
    for g, rows in enumerate(group_rows(gidx, model.groups.n_groups)):
        if rows is None:
            continue
        ug = u[rows]
        s = torch.einsum("cnd,nd->cn", ug, ug.sum(0))  # each band's part projected on Δt_g(p) = Σ_b u_b(p)
        if where is not None:
            s = s * where[g, leaf].float()
        s = s.sum(1).clamp_min(0)
        share[rows] = s / s.sum().clamp_min(1e-30)
    return share


def _peak_normalised(a: torch.Tensor, out: FocusOutput) -> torch.Tensor:
    """Each group's map divided by its largest value on the leaf's patches: the map's shape, not its amplitude
    (a group's attention amplitude is not its evidence: that is the weight's job)."""
    leaf = _leaf_patch_index(out, a.shape[-1], a.device)
    return a / a[:, leaf].amax(-1, keepdim=True).clamp_min(1e-30)


def patch_saliency(model: FocusModel, out: FocusOutput, c: int, rule: str) -> torch.Tensor:
    """T at patch resolution on the grouped bands: (Cu, N), non-negative."""
    r = RULES[rule]
    if r.share == "direct":
        return direct_T(model, out, c)
    gidx = model.band_group[model.used_bands]
    a = attention_map(model, out, c, r.attention).float().clamp_min(0)  # (G, N)
    w = group_weight(model, out, c, r.weight)  # (G,)
    if r.share in ("input", "input_where"):
        a = _peak_normalised(a, out)
        share = raw = input_share(model, out, a if r.share == "input_where" else None)
        if r.even:  # the group's share total (1, or 0 when nothing in it deviates) spread evenly over its bands
            sizes = torch.as_tensor(model.groups.sizes, device=share.device, dtype=share.dtype)
            total = share.new_zeros(len(sizes)).index_add(0, gidx, share)
            share = (1 - r.even) * share + r.even * (total / sizes)[gidx]
        if r.windows:
            from napari_focus.focus.window_share import refine_share

            share = refine_share(model, out, c, share, raw, w)
        return w[gidx, None] * a[gidx] * share[:, None]
    s = band_share(model, out, scaled=r.share == "share_g")  # (Cu, N)
    return w[gidx, None] * a[gidx] * s


def layer_maps(model: FocusModel, out: FocusOutput, c: int) -> torch.Tensor:
    """Per-layer prompt-to-patch maps (H_⋆ mean, summed over groups) for the consistency metric: (L, N)."""
    p0 = model.patch_start
    own = model.own_patches
    return torch.stack([own(_star_mean(model, li, a[0, :, c])[:, p0:-1]).sum(0)
                        for li, a in enumerate(out.prompt_attn)])
