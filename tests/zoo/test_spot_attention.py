"""Stage 3's objective (zoo/spot_objective.py): −log of CLS attention mass on visible spot patches."""

from __future__ import annotations

import math

import torch
from timm.models.vision_transformer import VisionTransformer

from napari_focus.zoo.spot_objective import AttentionTap, spot_attention_loss


def test_loss_is_zero_when_all_mass_is_on_spots_and_log_fraction_when_uniform():
    cover = torch.zeros(2, 8)
    cover[0, :2] = 0.5  # image 0: two spot patches; image 1: none (ignored)
    visible = torch.ones(2, 8, dtype=torch.bool)
    on_spots = torch.zeros(2, 3, 8)
    on_spots[:, :, :2] = 0.5
    uniform = torch.full((2, 3, 8), 1 / 8)
    assert float(spot_attention_loss([on_spots], cover, visible)) < 1e-6
    assert math.isclose(float(spot_attention_loss([uniform, uniform], cover, visible)), math.log(4), rel_tol=1e-5)
    hidden = visible.clone()
    hidden[0, :2] = False  # masked spot patches do not count: no image shows a spot
    assert float(spot_attention_loss([uniform], cover, hidden)) == 0.0


def test_tap_rows_match_the_blocks_own_attention():
    torch.manual_seed(0)
    vit = VisionTransformer(img_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, num_classes=0).eval()
    tap = AttentionTap(vit, 1)
    seen = {}
    blk = vit.blocks[-1]
    blk.attn.fused_attn = False
    blk.attn.attn_drop.register_forward_hook(lambda _m, _i, out: seen.setdefault("a", out))
    with torch.no_grad():
        vit(torch.randn(3, 3, 16, 16))
        row = tap.rows()[0]
    assert row.shape == (3, 2, 16)
    torch.testing.assert_close(row, seen["a"][:, :, 0, vit.num_prefix_tokens:], atol=1e-5, rtol=1e-5)
