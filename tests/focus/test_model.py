"""Mask semantics and trainability of the FOCUS model (docs/method.md §3.4, §3.5, §3.7)."""

import numpy as np
import pytest
import torch

from napari_focus.focus.model import _block_step
from napari_focus.focus.train import train

from .conftest import tiny_model


def _x(seed=0, n=2, c=24):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, 32, 32, generator=g)


def test_backbone_rows_match_timm_block(model):
    seq = model._sequences(model.embed_bands(_x()) * model.phi[model.used_bands][None, :, None])
    p = torch.randn(seq.shape[0], 3, 64)
    for blk in model.backbone.blocks:
        ours, _, a, _, _ = _block_step(blk, seq, p, False)
        assert torch.allclose(ours, blk(seq), atol=1e-5)
        assert torch.allclose(a.sum(-1), torch.ones(()), atol=1e-5)
        seq = ours


def test_prompt_rows_match_eager_masked_attention(model):
    """Prompt rows = eager attention over [sequence + prompts] with a 0/−inf mask (prompt sees itself only)."""
    blk = model.backbone.blocks[0]
    seq = model._sequences(model.embed_bands(_x()) * model.phi[model.used_bands][None, :, None])
    p = torch.randn(seq.shape[0], 3, 64)
    _, p_ours, _, _, _ = _block_step(blk, seq, p, False)
    L, K = seq.shape[1], 3
    mask = torch.zeros(L + K, L + K)
    mask[:L, L:] = float("-inf")
    mask[L:, L:] = float("-inf")
    mask[L + torch.arange(K), L + torch.arange(K)] = 0.0
    blk.attn.fused_attn = False
    try:
        ref = blk(torch.cat([seq, p], 1), attn_mask=mask)
    finally:
        blk.attn.fused_attn = True
    assert torch.allclose(p_ours, ref[:, L:], atol=1e-5)


def test_prompt_of_a_group_ignores_other_groups_bands(model):
    x = _x()
    x2 = x.clone()
    other = [b for b in range(24) if model.band_group[b] != 0]
    x2[:, other] = torch.rand(2, len(other), 32, 32)
    with torch.no_grad():
        a, b = model(x, record=True), model(x2, record=True)
    assert torch.equal(a.group_logits[..., 0], b.group_logits[..., 0])
    assert torch.equal(a.prompt_final[:, 0], b.prompt_final[:, 0])
    assert not torch.allclose(a.group_logits[..., 1:], b.group_logits[..., 1:])


def test_backbone_tokens_do_not_depend_on_prompts(model):
    x = _x()
    with torch.no_grad():
        a = model(x, record=True, diagnostics=True)
        model.prompts.add_(torch.randn_like(model.prompts))
        b = model(x, record=True, diagnostics=True)
    for k in a.diagnostics:
        assert torch.equal(a.diagnostics[k], b.diagnostics[k])
    assert torch.equal(a.last_sigma, b.last_sigma)
    for li in a.backbone_attn:
        assert torch.equal(a.backbone_attn[li], b.backbone_attn[li])
    assert not torch.allclose(a.logits, b.logits)


def test_adding_a_class_keeps_other_logits(model):
    x = _x()
    with torch.no_grad():
        before = model(x).group_logits
        model.add_classes(["d", "e"])
        after = model(x).group_logits
    assert model.classes == ["a", "b", "c", "d", "e"] and after.shape[1] == 5
    assert torch.allclose(before, after[:, :3], atol=1e-6)


def test_h_aux_counts_and_entropy_spread(model):
    aux = model.head_aux
    assert aux.shape == (2, 4)
    assert (aux.sum(1) == max(1, round(0.3 * 4))).all()
    assert bool(model.calibrated)
    assert all(model.star_heads(i).numel() == 3 for i in range(2))


def test_one_head_model_keeps_star_heads():
    m = tiny_model(num_heads=1, embed_dim=32)
    m.calibrate(_x())
    assert m.head_aux.sum() == 2 and m.star_heads(0).numel() == 1


def test_sink_loss_has_grad_only_for_trainables(model):
    out = model(_x(), sink_loss=True)
    assert 0 < float(out.sink_mass.detach()) < 2
    model.sink.requires_grad_(True)
    out = model(_x(), sink_loss=True)
    out.sink_mass.backward()
    assert model.sink.grad is not None and model.sink.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.backbone.parameters())


def test_no_sink_model_runs():
    m = tiny_model(use_sink=False)
    m.calibrate(_x())
    out = m(_x(), sink_loss=True, diagnostics=True, record=True)
    assert out.sink_mass is None and out.logits.shape == (2, 3)
    assert (out.diagnostics["sink"] == 0).all()


def _xy(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 24, 32, 32, generator=g)
    y = torch.arange(n) % 3
    x[y == 1, 5:8] += 0.5
    return x, y


def test_training_changes_only_trainables_and_backbone_is_bit_identical(model):
    bb = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    tr = {n: p.detach().clone() for n, p in model.trainable_named().items()}
    hist = train(model, _xy(), epochs=2, lr=1e-2, batch_size=4, sink_weight=1e-2)
    assert len(hist.loss) == 2 and np.isfinite(hist.loss).all()
    for n, p in model.backbone.named_parameters():
        assert not p.requires_grad
        assert torch.equal(p, bb[n]), n
    changed = {n for n, p in model.trainable_named().items() if not torch.equal(p, tr[n])}
    assert changed == set(tr), set(tr) - changed
    names = {n for n, _ in model.named_parameters() if not n.startswith("backbone.")}
    assert names == set(model.TRAINABLE)


def test_fast_path_trains_prompts_and_head_only(model):
    tr = {n: p.detach().clone() for n, p in model.trainable_named().items()}
    train(model, _xy(), epochs=1, lr=1e-2, batch_size=4, fast=True)
    changed = {n for n, p in model.trainable_named().items() if not torch.equal(p, tr[n])}
    assert changed == {"prompts", "head_norm.weight", "head_norm.bias", "head.weight", "head.bias"}


def test_cancel_keeps_previous_state(model):
    before = {n: t.detach().clone() for n, t in model.state_dict().items()}
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    hist = train(model, _xy(), epochs=3, lr=1e-1, batch_size=4, should_stop=stop)
    assert hist.cancelled
    for n, t in model.state_dict().items():
        assert torch.equal(t, before[n]), n


def test_progress_is_reported_and_regression_trains():
    m = tiny_model(classes=["chl"], task="regression")
    x, _ = _xy()
    y = x[:, 5:8].mean((1, 2, 3)) * 40
    seen = []
    hist = train(m, (x, y), epochs=2, lr=1e-2, batch_size=6, progress=lambda s, t, i: seen.append((s, t)))
    assert seen[-1] == (4, 4) and len(hist.loss) == 2
    assert float(m.target_std) > 0 and abs(float(m.target_mean) - float(y.mean())) < 1e-4
    with torch.no_grad():
        v = m.predict_values(m(x[:2]).logits)
    assert v.shape == (2, 1) and torch.isfinite(v).all()


def test_group_token_starts_as_embedding_of_mean_band(model):
    x = _x()
    with torch.no_grad():
        e = model.embed_bands(x)  # (B, Cu, N, d) incl. conv bias
        tok = (e * model.phi[model.used_bands][None, :, None]).sum(1)  # all in one group → compare group 0
        g0 = [i for i, b in enumerate(model.used_bands.tolist()) if model.band_group[b] == 0]
        mean_band = e[:, g0].mean(1)
        got = (e[:, g0] * model.phi[model.used_bands][g0][None, :, None]).sum(1)
    assert torch.allclose(got, mean_band, atol=1e-5)
    assert tok.shape == mean_band.shape


def test_cached_fast_path_matches_full_forward(model):
    x = _x()
    with torch.no_grad():
        model.prompts.add_(0.1 * torch.randn_like(model.prompts))
        full = model(x).logits
        cache = model.backbone_cache(x)
        assert torch.allclose(model.forward_cached(cache), full, atol=1e-5)
        half = [(k.half(), v.half()) for k, v in cache]
        assert torch.allclose(model.forward_cached(half).float(), full, atol=5e-2)


@pytest.mark.parametrize("kw", [dict(qk_norm=True), dict(reg_tokens=4, init_values=1e-5, no_embed_class=True),
                                dict(class_token=False, global_pool="avg")])
def test_plain_vit_variants(kw):
    m = tiny_model(**kw)
    m.calibrate(_x())
    seq = m._sequences(m.embed_bands(_x()) * m.phi[m.used_bands][None, :, None])
    p = torch.randn(seq.shape[0], 3, 64)
    ours = _block_step(m.backbone.blocks[0], seq, p, False)[0]
    assert torch.allclose(ours, m.backbone.blocks[0](seq), atol=1e-5)
    assert m.patch_start == 1 + m.backbone.num_prefix_tokens
    with torch.no_grad():
        out = m(_x(), record=True)
    assert torch.isfinite(out.logits).all() and out.prompt_attn[-1].shape[-1] == seq.shape[1] + 1


def test_non_plain_backbone_is_refused():
    from timm.models.vision_transformer import ResPostBlock, VisionTransformer

    from napari_focus.errors import FocusError
    from napari_focus.focus.backbone import check_plain_vit

    vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=64, depth=1, num_heads=4, block_fn=ResPostBlock)
    with pytest.raises(FocusError, match="plain"):
        check_plain_vit(vit)
