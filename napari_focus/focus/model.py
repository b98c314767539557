"""The FOCUS model (docs/method.md §3.2–3.7): per-band embedding through a frozen ViT, one backbone sequence per
spectral group, class prompts as extra queries at every layer, a [SINK] token and a shared head.

The backbone rows run with fused attention (SDPA); only the prompt rows are computed explicitly, so
their attention weights (the saliency) come for free, and no backbone token ever sees a prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from napari_focus.errors import FocusError
from napari_focus.focus.backbone import BackboneSpec
from napari_focus.focus.groups import SpectralGroups
from napari_focus.focus.prompt_attention import (
    _block_step,
    _ln_sigma,
    _patch_row_stats,
    _sink_column_mass,
    prompt_step,
)

TASKS = ("classification", "regression")


@dataclass
class FocusOutput:
    """What one forward pass returns; the optional parts are filled only when asked for."""

    logits: torch.Tensor  # (B, K); regression: standardised prediction
    group_logits: torch.Tensor  # (B, K, G)
    prompt_attn: list[torch.Tensor] | None = None  # per layer (B, G, K, H, L+1); last column = self
    backbone_attn: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> (B, G, H, L, L); joint: G=1
    band_tokens: torch.Tensor | None = None  # (B, Cu, N, d): Φ_b ⊙ E(X_b)_p for the grouped bands
    band_patch_mean: torch.Tensor | None = None  # (B, Cu, N): each patch's mean of the normalised band
    normalised: torch.Tensor | None = None  # (B, Cu, S, S): the normalised bands the pass embedded
    last_sigma: torch.Tensor | None = None  # (B, G, L): norm1 scale of backbone tokens, last block
    prompt_final: torch.Tensor | None = None  # (B, G, K, d)
    sink_mass: torch.Tensor | None = None  # Σ_l mean_{h∈H_aux, i∈patches} A[i, SINK] (docs/method.md §3.6)
    diagnostics: dict[str, torch.Tensor] | None = None  # per layer (L_layers, H) stats, mean over B·G
    leaf_patches: torch.Tensor | None = None  # (N,) bool: patches mostly on the leaf (set by the explainer)
    block_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per layer (B·G, H, L, hd) keys, values
    blind_group_logits: torch.Tensor | None = None  # (K, G) item 0's, its prompts blind (blind.py)


class FocusModel(nn.Module):
    """FOCUS on a frozen timm ViT. Trainable: prompts, SINK, Φ, group embeddings, head (docs/method.md §3.7)."""

    TRAINABLE = ("prompts", "sink", "phi", "group_embed", "head_norm.weight", "head_norm.bias",
                 "head.weight", "head.bias")
    joint = False  # one sequence per group (docs/method.md §3.4); joint.py's ablation overrides the layout hooks

    def __init__(
        self,
        backbone: nn.Module,
        backbone_spec: BackboneSpec,
        groups: SpectralGroups,
        classes: Sequence[str],
        task: str = "classification",
        wavelengths_nm: Sequence[float] | np.ndarray | None = None,
        use_sink: bool = True,
        seed: int = 0,
        rollout_depth: int = 3,
        prompt_std: float = 0.02,
    ) -> None:
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}")
        if task == "regression" and len(classes) != 1:
            raise ValueError("regression has exactly one output (the trait name)")
        self.backbone = backbone
        self.backbone_spec = backbone_spec
        self.groups = groups
        self.classes = [str(c) for c in classes]
        self.task = task
        self.wavelengths_nm = None if wavelengths_nm is None else np.asarray(wavelengths_nm, float)
        self.use_sink = bool(use_sink)
        self.rollout_depth = int(rollout_depth)
        self.prompt_std = float(prompt_std)  # spread of new prompts around CLS: breaks the classes' symmetry
        self.saliency_rule: str | None = None
        self.checkpoint_sha256: str | None = None
        self.checkpoint_path: str | None = None  # the folder it was loaded from or saved to
        self.backbone_spec_dir: str | None = None  # folder relative backbone paths are resolved against
        self.sink_chunk = 512
        vit = backbone
        d = vit.embed_dim
        depth, heads = len(vit.blocks), vit.blocks[0].attn.num_heads
        C, G = groups.n_bands, groups.n_groups
        self._gen = torch.Generator().manual_seed(int(seed))

        b2g = torch.as_tensor(groups.band_to_group())
        self.register_buffer("band_group", b2g)
        self.register_buffer("used_bands", torch.nonzero(b2g >= 0).flatten())
        self.register_buffer("band_mean", torch.zeros(C))
        self.register_buffer("band_std", torch.ones(C))
        n_aux = max(1, round(0.3 * heads))
        aux = torch.zeros(depth, heads, dtype=torch.bool)
        aux[:, :n_aux] = True
        self.register_buffer("head_aux", aux)
        self.register_buffer("calibrated", torch.tensor(False))
        self.register_buffer("target_mean", torch.tensor(0.0))
        self.register_buffer("target_std", torch.tensor(1.0))
        # (K, G) per-group class margins of leaves not of each class (training leaves; reference.py): what the
        # calibrated readout subtracts so that no group weight comes from offsets every class shares
        self.register_buffer("margin_ref", None)
        # (C,) the training leaves' median background spectrum: what pixels without data are filled with (background.py)
        self.register_buffer("background_fill", None)
        # whether every pixel outside the leaf mask is shown as `background_fill`, not only pixels without data
        self.canonical_background = False

        sizes = torch.as_tensor(groups.sizes, dtype=torch.float32)
        phi = torch.zeros(C, d)
        used = b2g >= 0
        phi[used] = (1.0 / sizes[b2g[used]]).unsqueeze(1).expand(-1, d)
        self.phi = nn.Parameter(phi)
        self.group_embed = nn.Parameter(torch.zeros(G, d))
        self.prompts = nn.Parameter(self._new_prompts(len(self.classes), G))
        if use_sink:
            self.sink = nn.Parameter(self._token_base() + 0.02 * torch.randn(d, generator=self._gen))
        else:
            self.register_parameter("sink", None)
        self.head_norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 1)
        nn.init.normal_(self.head.weight, std=0.02, generator=self._gen)
        nn.init.zeros_(self.head.bias)

    # ----------------------------------------------------------------------------------- layout
    @property
    def n_sink(self) -> int:
        return 1 if self.use_sink else 0

    @property
    def patch_start(self) -> int:
        return self.n_sink + int(self.backbone.num_prefix_tokens)

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(int(g) for g in self.backbone.patch_embed.grid_size)  # type: ignore[return-value]

    @property
    def img_size(self) -> int:
        return int(self.backbone.patch_embed.img_size[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def seq_patches(self) -> int:
        """Patch tokens in one backbone sequence: N here (G·N in the joint ablation)."""
        return self.grid[0] * self.grid[1]

    def own_patches(self, t: torch.Tensor, group_axis: int = 0) -> torch.Tensor:
        """A group's own patch columns from a tensor whose last axis holds one sequence's patch keys.

        Here each sequence is one group, so this is the identity; the joint ablation picks group g's
        block of its G·N patches (readouts call this wherever they slice the patches)."""
        return t

    def _token_base(self) -> torch.Tensor:
        """CLS (+ its position) so that new prompts and SINK start inside the backbone's distribution."""
        vit = self.backbone
        base = torch.zeros(vit.embed_dim)
        if getattr(vit, "cls_token", None) is not None:
            base = vit.cls_token.detach().reshape(-1).clone()
            if vit.pos_embed is not None and not vit.no_embed_class:
                base = base + vit.pos_embed.detach()[0, 0]
        return base

    def _new_prompts(self, k: int, g: int) -> torch.Tensor:
        d = self.backbone.embed_dim
        return self._token_base().expand(k, g, d) + self.prompt_std * torch.randn(k, g, d, generator=self._gen)

    def add_classes(self, names: Sequence[str]) -> None:
        """New classes get new prompts; existing prompts (and so their logits) are kept."""
        if self.task != "classification":
            raise ValueError("cannot add classes to a regression model")
        new = [n for n in names if n not in self.classes]
        if not new:
            return
        extra = self._new_prompts(len(new), self.groups.n_groups).to(self.prompts)
        self.prompts = nn.Parameter(torch.cat([self.prompts.detach(), extra], 0))
        self.classes += [str(n) for n in new]
        self.margin_ref = None  # the margins of every class change: training refits the reference

    def trainable_named(self, fast: bool = False) -> dict[str, nn.Parameter]:
        """The trainable tensors (docs/method.md §3.7); `fast` = prompts + head only (the cached fast path)."""
        keep = ("prompts", "head_norm.weight", "head_norm.bias", "head.weight", "head.bias") if fast else self.TRAINABLE
        return {n: p for n, p in self.named_parameters() if n in keep}

    def train(self, mode: bool = True) -> FocusModel:
        super().train(mode)
        self.backbone.eval()  # frozen: no dropout/drop-path, ever
        return self

    # ---------------------------------------------------------------------------------- forward
    def normalise_bands(self, x: torch.Tensor, bands: torch.Tensor | None = None) -> torch.Tensor:
        """The grouped bands (or `bands`) of raw cubes (B, C, S, S), normalised by the saved per-band statistics:
        (B, Cu, S, S)."""
        bands = self.used_bands if bands is None else bands
        xb = (x[:, bands] - self.band_mean[bands, None, None]) / self.band_std[bands, None, None]
        return torch.nan_to_num(xb, nan=0.0, posinf=0.0, neginf=0.0)

    def embed_bands(self, x: torch.Tensor, bands: torch.Tensor | None = None) -> torch.Tensor:
        """E(X_b) for the grouped bands (or `bands`): the frozen patch conv summed over its RGB inputs.
        (B, Cu, N, d)."""
        return self._embed_normalised(self.normalise_bands(x, bands))

    def _embed_normalised(self, xb: torch.Tensor) -> torch.Tensor:
        """`embed_bands` of bands already normalised (B, Cu, S, S)."""
        proj = self.backbone.patch_embed.proj
        B, _, S, _ = xb.shape
        w = proj.weight.sum(1, keepdim=True)
        e = F.conv2d(xb.reshape(-1, 1, S, S).to(w.dtype), w, proj.bias, stride=proj.stride, padding=proj.padding)
        # contiguous in d: every reader of the band tokens reduces over d (norms, the groups' sums)
        return e.flatten(2).transpose(1, 2).contiguous().reshape(B, xb.shape[1], -1, e.shape[1])

    def band_patch_mean(self, x: torch.Tensor, normalised: torch.Tensor | None = None) -> torch.Tensor:
        """(B, Cu, N): the mean of each normalised band over each patch (the readout's leaf reference);
        `normalised`: `normalise_bands(x)` when the caller has it."""
        p = self.backbone.patch_embed.proj.stride
        return F.avg_pool2d(self.normalise_bands(x) if normalised is None else normalised, p).flatten(2)

    def flat_band_tokens(self, level: torch.Tensor) -> torch.Tensor:
        """(…, Cu, d): Φ_b ⊙ E of a flat patch whose normalised band b is `level[…, b]`: the conv of a constant is
        the constant times the kernel's sum, plus the bias."""
        proj = self.backbone.patch_embed.proj
        wsum = proj.weight.float().sum((1, 2, 3))
        bias = proj.bias.float() if proj.bias is not None else torch.zeros_like(wsum)
        return self.phi[self.used_bands].float() * (level[..., None].float() * wsum + bias)

    def _sequences(self, band_tokens: torch.Tensor) -> torch.Tensor:
        """From Φ_b ⊙ E(X_b) (B, Cu, N, d): per-group sequences [SINK][CLS][regs][patches]: (B·G, L, d)."""
        G = self.groups.n_groups
        gidx = self.band_group[self.used_bands]
        onehot = (gidx[None, :] == torch.arange(G, device=gidx.device)[:, None]).to(band_tokens.dtype)
        tok = torch.einsum("gc,bcnd->bgnd", onehot, band_tokens)  # a GEMM; index_add is slow on CPU
        return self._group_sequences(tok, self.group_embed)

    def _group_sequences(self, tok: torch.Tensor, group_embed: torch.Tensor) -> torch.Tensor:
        """Summed group tokens (B, G', N, d) and their e_g (G', d) → sequences [SINK][CLS][regs][patches]."""
        vit = self.backbone
        B, G, N, d = tok.shape
        tok = tok + group_embed[None, :, None, :].to(tok.dtype)
        tok = vit.patch_embed.norm(tok).reshape(B * G, N, d)
        if vit.dynamic_img_size:
            tok = tok.reshape(B * G, *self.grid, d)
        seq = vit.norm_pre(vit.patch_drop(vit._pos_embed(tok)))
        if self.use_sink:
            seq = torch.cat([self.sink.to(seq.dtype).expand(B * G, 1, d), seq], 1)
        return seq

    def forward(
        self, x: torch.Tensor, *, record: bool = False, sink_loss: bool = False, diagnostics: bool = False,
        keep_kv: bool = False,
    ) -> FocusOutput:
        """Run FOCUS on raw (un-normalised) cubes resized to the backbone input, x: (B, C, S, S).

        `record`: keep the prompt rows of every layer, the backbone rows the rollout needs and the
        band tokens (for the readout). `sink_loss`: the SINK mass of H_aux heads (with grad).
        `diagnostics`: per-layer patch-query statistics (sink/prefix mass, normalised entropy).
        `keep_kv`: keep every layer's sequence keys and values (`prompt_logits` reruns the prompts on them).
        """
        B = x.shape[0]
        G, K = self.groups.n_groups, self.n_classes
        xb = self.normalise_bands(x)
        band_tokens = self._embed_normalised(xb)
        normalised = xb if record else None  # kept for the readout only; otherwise freed before the blocks run
        del xb
        band_tokens = band_tokens * self.phi[self.used_bands][None, :, None, :].to(band_tokens.dtype)
        seq = self._sequences(band_tokens)  # (B·G, L, d); (B, L, d) in the joint ablation
        p = self.prompts.transpose(0, 1).to(seq.dtype).unsqueeze(0).expand(B, G, K, -1).reshape(seq.shape[0], -1,
                                                                                               seq.shape[-1])
        depth = len(self.backbone.blocks)
        first_rollout = max(0, depth - self.rollout_depth)
        prompt_attn, backbone_attn, stats = [], {}, []
        sink_mass = seq.new_zeros(()) if sink_loss and self.use_sink else None
        last_sigma = None
        kv = [] if keep_kv else None
        for li, blk in enumerate(self.backbone.blocks):
            if record and li == depth - 1:
                last_sigma = _ln_sigma(blk.norm1, seq).reshape(B, -1, seq.shape[1]).expand(B, G, -1)
            want_full = record and first_rollout <= li < depth - 1
            seq, p, a, qk, full = _block_step(blk, seq, p, want_full)
            if kv is not None:
                kv.append((qk[1], qk[2]))
            if record:
                prompt_attn.append(a.transpose(1, 2).reshape(B, G, K, *a.shape[1:2], a.shape[-1]))
                if full is not None:
                    backbone_attn[li] = full.reshape(B, -1, *full.shape[1:])  # (B, G or 1, H, L, L)
            if sink_mass is not None:
                heads = torch.nonzero(self.head_aux[li]).flatten()
                sink_mass = sink_mass + _sink_column_mass(qk[0][:, heads], qk[1][:, heads],
                                                          self.patch_start, self.sink_chunk)
            if diagnostics:
                with torch.no_grad():
                    stats.append(_patch_row_stats(qk[0], qk[1], self.n_sink, self.patch_start, self.sink_chunk))
        z = self.head(self.head_norm(p)).squeeze(-1).float()  # (B·G, K); joint: (B, G·K)
        group_logits = z.reshape(B, G, K).transpose(1, 2)
        out = FocusOutput(logits=group_logits.mean(-1), group_logits=group_logits, sink_mass=sink_mass, block_kv=kv)
        if record:
            out.prompt_attn = prompt_attn
            out.backbone_attn = backbone_attn
            out.band_tokens = band_tokens
            out.band_patch_mean = self.band_patch_mean(x, normalised)
            out.normalised = normalised
            out.last_sigma = last_sigma
            out.prompt_final = p.reshape(B, G, K, -1)
        if diagnostics:
            out.diagnostics = {k: torch.stack([s[k] for s in stats]) for k in stats[0]}
        return out

    @torch.no_grad()
    def group_logits(self, x: torch.Tensor, g: int) -> torch.Tensor:
        """(B, K) z_{·,g} from group g's sequence alone (x as in `forward`).

        Each group is its own sequence (docs/method.md §3.4), so changing group g's bands changes only these
        logits, and the class logit by 1/G of their change: a counterfactual inside one group costs 1/G of a
        forward (the faithfulness measurements use this)."""
        if self.joint:
            raise FocusError("the joint ablation has no per-group sequences")
        bands = self.used_bands[self.band_group[self.used_bands] == g]
        tok = (self.embed_bands(x, bands) * self.phi[bands][None, :, None, :]).sum(1, keepdim=True)
        seq = self._group_sequences(tok, self.group_embed[g : g + 1])
        p = self.prompts[:, g].to(seq.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
        for blk in self.backbone.blocks:
            seq, p, *_ = _block_step(blk, seq, p, False)
        return self.head(self.head_norm(p)).squeeze(-1).float()

    # ------------------------------------------------------------------------ cached fast path
    @torch.no_grad()
    def backbone_cache(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer backbone keys and values (B·G, H, L, hd). With Φ, e_g and SINK frozen they do not
        change while prompts and head train, so they can be computed once."""
        band_tokens = self.embed_bands(x) * self.phi[self.used_bands][None, :, None, :]
        seq = self._sequences(band_tokens)
        cache = []
        for blk in self.backbone.blocks:
            attn = blk.attn
            BG, L, _ = seq.shape
            qkv = attn.qkv(blk.norm1(seq)).reshape(BG, L, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
            cache.append((attn.k_norm(qkv[1]), qkv[2]))
            seq = blk(seq)
        return cache

    def forward_cached(self, cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Logits (B, K) of the prompts against a `backbone_cache` (same values as `forward`)."""
        return self.prompt_logits(cache).mean(-1)

    def prompt_logits(self, cache: list[tuple[torch.Tensor, torch.Tensor]], bias: torch.Tensor | None = None,
                      as_forward: bool = False) -> torch.Tensor:
        """Group logits (B, K, G) of the prompts alone against per-layer sequence keys and values (a
        `backbone_cache`, or `forward(keep_kv=True)`'s), the sequence keys' logits offset by `bias` ((B·G, 1, 1, L),
        -inf hides a key from that group's prompts). `as_forward`: keys and values in their own dtype, as `forward`
        attends to them (under autocast the same logits as the pass); else cast to the prompts' (an fp16 training
        cache)."""
        G, K = self.groups.n_groups, self.n_classes
        BG = cache[0][0].shape[0]
        p = self.prompts.transpose(0, 1).unsqueeze(0).expand(BG // G, G, K, -1).reshape(BG, K, -1)
        for blk, (kb, vb) in zip(self.backbone.blocks, cache, strict=True):
            if not as_forward:
                kb, vb = kb.to(p.dtype), vb.to(p.dtype)  # an fp16 cache is fine
            p = prompt_step(blk, p, kb, vb, bias)
        z = self.head(self.head_norm(p)).squeeze(-1).float()
        return z.reshape(BG // G, G, K).transpose(1, 2)

    # ------------------------------------------------------------------------------ calibration
    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Per-band normalisation statistics and H_aux (lowest normalised entropy heads), then fixed."""
        xb = x.transpose(0, 1).reshape(x.shape[1], -1).float()
        mean = torch.nan_to_num(xb.nanmean(1))
        std = torch.sqrt(torch.nan_to_num(((xb - mean[:, None]) ** 2).nanmean(1)))
        self.band_mean.copy_(mean)
        self.band_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))
        ent = self.forward(x, diagnostics=True).diagnostics["entropy"]  # (layers, H)
        heads = ent.shape[1]
        n_aux = max(1, round(0.3 * heads))
        aux = torch.zeros_like(self.head_aux)
        order = torch.argsort(ent, dim=1, stable=True)
        aux.scatter_(1, order[:, :n_aux], True)
        self.head_aux.copy_(aux)
        self.calibrated.fill_(True)

    def star_heads(self, layer: int) -> torch.Tensor:
        """Indices of H_⋆ in a layer; all heads when H_aux would leave none (one-head models)."""
        star = torch.nonzero(~self.head_aux[layer]).flatten()
        return star if star.numel() else torch.arange(self.head_aux.shape[1], device=self.head_aux.device)

    def predict_values(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities (classification) or the trait in its own units (regression)."""
        if self.task == "classification":
            return logits.float().softmax(-1)
        return logits.float() * self.target_std + self.target_mean
