"""The backbone pretraining script's data and objectives (issue 5), on a tiny run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_focus.zoo import pretrain_backbone as pb


def test_spot_images_cover_is_the_share_of_spot_pixels_per_patch():
    imgs, cover = pb.make_spot_images(12, 32, 8, seed=3)
    assert imgs.shape == (12, 32, 32) and cover.shape == (12, 16)
    assert np.isfinite(imgs.astype(np.float32)).all()
    assert (cover >= 0).all() and (cover <= 1).all()
    assert (cover.reshape(12, -1).max(1) > 0).sum() >= 6  # most images hold spots
    img, mask = pb.spot_image(np.random.default_rng(0), 32)
    if mask.any():  # spots differ from their surroundings
        assert abs(float(img[mask].mean()) - float(img[~mask].mean())) > 0.05


def test_tiny_stage2_run_writes_a_loadable_backbone_with_its_chain(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(pb, "ARCH", dict(img_size=32, patch_size=8, in_chans=3, embed_dim=32, depth=2, num_heads=2,
                                         mlp_ratio=2.0, class_token=True, global_pool="token", num_classes=0))
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    res = tmp_path / "s1" / ".resume"
    res.mkdir(parents=True)
    np.save(res / "images.npy", rng.standard_normal((300, 32, 32)).astype(np.float16))
    assert pb.main(["--out", str(tmp_path / "s1"), "--minutes", "0.02", "--textures", "10", "--batch", "4",
                    "--leaves", "1", "--bands-per-leaf", "1"]) == 0
    s1 = tmp_path / "s1" / "backbone.json"
    assert pb.main(["--out", str(tmp_path / "s2"), "--minutes", "0.02", "--textures", "10", "--batch", "4",
                    "--init", str(s1), "--spot-weight", "1", "--cls-weight", "1", "--spot-images", "8"]) == 0
    info = json.loads((tmp_path / "s2" / "backbone.json").read_text())
    assert info["stage1"]["steps"] >= 1 and info["pretraining"]["steps"] >= 1
    assert 0.0 <= info["spot_objective"]["held_out_patch_auroc"] <= 1.0
    from napari_focus.focus.backbone import build_backbone
    from napari_focus.focus.factory import backbone_spec

    vit = build_backbone(backbone_spec(weights_file=tmp_path / "s2" / "backbone.json"))
    assert all(not p.requires_grad for p in vit.parameters())
