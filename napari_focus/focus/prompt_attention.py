"""One timm block with FOCUS's prompt rows (docs/method.md §3.4–3.6): the backbone rows run fused attention and never
see a prompt; the prompt rows are computed explicitly so their attention weights (the saliency) come for free.
Also the SINK column's mass (from each row's log-sum-exp) and per-head row statistics, both in chunks of query
rows so that no full attention matrix is kept."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _ln_sigma(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    eps = getattr(norm, "eps", 1e-6)
    return torch.sqrt(x.float().var(-1, unbiased=False) + eps)


def _block_step(
    blk: nn.Module, x: torch.Tensor, p: torch.Tensor, want_full: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor],
           torch.Tensor | None]:
    """One timm pre-norm block over backbone tokens x (B,L,d) and prompt queries p (B,K,d).

    Backbone rows: SDPA over the sequence (prompts invisible). Prompt rows: explicit softmax over
    [sequence, itself]. Token-wise modules run once on the concatenation (one hook call each).
    Returns the tokens, the prompts, the prompts' attention, the sequence's (scaled queries, keys, values) and,
    with `want_full`, the sequence's own attention.
    """
    attn = blk.attn
    B, L, _ = x.shape
    K = p.shape[1]
    H, hd = attn.num_heads, attn.head_dim
    xp = torch.cat([x, p], 1)
    h = blk.norm1(xp)
    q, k, v = attn.qkv(h).reshape(B, L + K, 3, H, hd).permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    qb, kb, vb = q[:, :, :L], k[:, :, :L], v[:, :, :L]
    if not torch.is_grad_enabled():  # an explain: contiguous once, as the prompt rows and a kept cache read them again
        kb, vb = kb.contiguous(), vb.contiguous()  # (in training the copies would be kept for the backward pass)
    ob = F.scaled_dot_product_attention(qb, kb, vb)
    op, a = _prompt_attention(attn, q[:, :, L:], k[:, :, L:], v[:, :, L:], kb, vb)
    o = torch.cat([ob, op], 2).transpose(1, 2).reshape(B, L + K, attn.attn_dim)
    o = attn.norm(o)
    gate = getattr(attn, "gate", None)
    if gate is not None:
        o = o * gate(h).sigmoid()
    xp = xp + blk.ls1(attn.proj(o))
    xp = xp + blk.ls2(blk.mlp(blk.norm2(xp)))
    full = None
    if want_full:
        with torch.no_grad():
            full = ((qb * attn.scale) @ kb.transpose(-2, -1)).float().softmax(-1)
    return xp[:, :L], xp[:, L:], a, (qb * attn.scale, kb, vb), full


def _prompt_attention(attn: nn.Module, qp: torch.Tensor, kp: torch.Tensor, vp: torch.Tensor, kb: torch.Tensor,
                      vb: torch.Tensor, bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt rows: softmax over [sequence keys, own key]; returns outputs (B,H,K,hd) and weights (B,H,K,L+1).
    `bias` (broadcastable to (B,H,K,L)) is added to the sequence keys' logits: -inf hides a key."""
    qp = qp * attn.scale
    seq = qp @ kb.transpose(-2, -1)
    if bias is not None:
        seq = seq + bias.to(seq.dtype)
    logits = torch.cat([seq, (qp * kp).sum(-1, keepdim=True)], -1)
    a = logits.float().softmax(-1)
    ap = a.to(vb.dtype)
    return ap[..., :-1] @ vb + ap[..., -1:] * vp, a


def prompt_step(blk: nn.Module, p: torch.Tensor, kb: torch.Tensor, vb: torch.Tensor,
                bias: torch.Tensor | None = None) -> torch.Tensor:
    """One block for the prompts alone, against cached backbone keys/values (the cached fast path, and the blind
    group weight's pass); `bias` as in `_prompt_attention`."""
    attn = blk.attn
    B, K, _ = p.shape
    h = blk.norm1(p)
    q, k, v = attn.qkv(h).reshape(B, K, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    o, _ = _prompt_attention(attn, q, k, v, kb, vb, bias)
    o = attn.norm(o.transpose(1, 2).reshape(B, K, attn.attn_dim))
    gate = getattr(attn, "gate", None)
    if gate is not None:
        o = o * gate(h).sigmoid()
    p = p + blk.ls1(attn.proj(o))
    return p + blk.ls2(blk.mlp(blk.norm2(p)))


def _sink_column_mass(q: torch.Tensor, k: torch.Tensor, p0: int, chunk: int) -> torch.Tensor:
    """mean over heads and patch queries of A[i, SINK] (column 0), via the row log-sum-exp, chunked."""
    L = q.shape[2]
    total = q.new_zeros((), dtype=torch.float32)
    for s in range(p0, L, chunk):
        lg = (q[:, :, s : s + chunk] @ k.transpose(-2, -1)).float()
        total = total + (lg[..., 0] - lg.logsumexp(-1)).exp().sum()
    return total / (q.shape[0] * q.shape[1] * (L - p0))


def _patch_row_stats(q: torch.Tensor, k: torch.Tensor, n_sink: int, p0: int, chunk: int) -> dict[str, torch.Tensor]:
    """Per-head means over sequences and patch queries: sink mass, prefix (CLS+reg) mass, entropy/ln(L)."""
    L = q.shape[2]
    acc = {n: q.new_zeros(q.shape[1], dtype=torch.float32) for n in ("sink", "prefix", "entropy")}
    for s in range(p0, L, chunk):
        lg = (q[:, :, s : s + chunk] @ k.transpose(-2, -1)).float()
        logp = lg - lg.logsumexp(-1, keepdim=True)
        pr = logp.exp()
        if n_sink:
            acc["sink"] += pr[..., 0].sum((0, 2))
        acc["prefix"] += pr[..., n_sink:p0].sum((0, 2, 3))
        acc["entropy"] += -(pr * logp).sum(-1).sum((0, 2))
    n = q.shape[0] * (L - p0)
    acc = {kk: v / n for kk, v in acc.items()}
    acc["entropy"] = acc["entropy"] / math.log(L)
    return acc
