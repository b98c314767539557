"""The backbone pretraining script's data and objectives, on a tiny run."""

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


TINY = dict(img_size=32, patch_size=8, in_chans=3, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
            class_token=True, global_pool="token", num_classes=0)


def _tiny(monkeypatch, *outs):
    """Tiny architecture, one thread, and cached random images in each run's `.resume/` (no leaf simulation)."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(pb, "ARCH", TINY)
    torch.set_num_threads(1)
    for out in outs:
        (out / ".resume").mkdir(parents=True)
        np.save(out / ".resume" / "images.npy",
                np.random.default_rng(0).standard_normal((300, 32, 32)).astype(np.float16))
    return torch


def test_tiny_stage2_run_writes_a_loadable_backbone_with_its_chain(tmp_path, monkeypatch):
    _tiny(monkeypatch, tmp_path / "s1")
    assert pb.main(["--out", str(tmp_path / "s1"), "--minutes", "0.02", "--textures", "10", "--batch", "4",
                    "--leaves", "1", "--bands-per-leaf", "1"]) == 0
    s1 = tmp_path / "s1" / "backbone.json"
    assert pb.main(["--out", str(tmp_path / "s2"), "--minutes", "0.02", "--textures", "10", "--batch", "4",
                    "--init", str(s1), "--spot-weight", "1", "--cls-weight", "1", "--spot-images", "8",
                    "--leaves", "1", "--bands-per-leaf", "1"]) == 0
    info = json.loads((tmp_path / "s2" / "backbone.json").read_text())
    assert info["stage1"]["steps"] >= 1 and info["pretraining"]["steps"] >= 1
    assert 0.0 <= info["spot_objective"]["held_out_patch_auroc"] <= 1.0
    from napari_focus.focus.backbone import build_backbone
    from napari_focus.focus.factory import backbone_spec

    vit = build_backbone(backbone_spec(weights_file=tmp_path / "s2" / "backbone.json"))
    assert all(not p.requires_grad for p in vit.parameters())


class Killed(Exception):
    """Stands for the process dying between two resume points."""


def test_interrupted_pretraining_resumes_from_its_last_save_with_the_same_weights(tmp_path, monkeypatch):
    torch = _tiny(monkeypatch, tmp_path / "ref", tmp_path / "run")
    from safetensors.torch import load_file

    from napari_focus.focus import resume as rs

    args = ["--steps", "6", "--save-every", "0", "--textures", "10", "--batch", "4", "--lr", "3e-3"]
    assert pb.main(["--out", str(tmp_path / "ref"), *args]) == 0
    write, saves = rs.write_state, []

    def dying_write(folder, stem, tensors, meta):
        if len(saves) == 3:  # the 4th step is trained, then the process dies before its save
            raise Killed
        saves.append(meta["step"])
        return write(folder, stem, tensors, meta)

    monkeypatch.setattr(rs, "write_state", dying_write)
    with pytest.raises(Killed):
        pb.main(["--out", str(tmp_path / "run"), *args])
    res = tmp_path / "run" / ".resume"
    meta = json.loads((res / rs.STATE).read_text())
    assert saves == [1, 2, 3] and meta["step"] == 3 and meta["format"] == pb.STATE_FORMAT
    assert not any(p.suffix in (".pt", ".pkl") for p in res.iterdir())
    saved = load_file(str(res / meta["tensors"]))
    assert any(k.startswith("opt.") and k.endswith(".exp_avg_sq") for k in saved)  # AdamW's moments are kept

    monkeypatch.setattr(rs, "write_state", write)
    assert pb.main(["--out", str(tmp_path / "run"), *args]) == 0  # the same command continues
    assert "resumed at step 3" in (tmp_path / "run" / "pretrain.log").read_text()
    assert json.loads((tmp_path / "run" / "backbone.json").read_text())["pretraining"]["steps"] == 6
    got = load_file(str(tmp_path / "run" / "weights.safetensors"))
    want = load_file(str(tmp_path / "ref" / "weights.safetensors"))
    assert got.keys() == want.keys()
    assert not torch.equal(want["blocks.0.attn.qkv.weight"], saved["model.vit.blocks.0.attn.qkv.weight"])  # trained on
    for k in want:
        assert torch.equal(got[k], want[k]), k


def test_an_old_pickled_resume_state_is_refused_unread(tmp_path, monkeypatch):
    _tiny(monkeypatch, tmp_path / "old")
    old = tmp_path / "old" / ".resume" / "state.pt"
    old.write_bytes(b"not to be unpickled")
    with pytest.raises(SystemExit, match="older version .*delete that file to start over"):
        pb.main(["--out", str(tmp_path / "old"), "--steps", "1", "--textures", "10", "--batch", "4"])
    assert old.read_bytes() == b"not to be unpickled"
