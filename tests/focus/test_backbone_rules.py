"""A checkpoint's backbone description is data: only plain timm names and the ViT arguments napari-focus
writes, within bounds, reach timm; a hostile one is refused before timm, torch.load or the network is used."""

from __future__ import annotations

import json
import resource
import socket

import pytest

from napari_focus.errors import CheckpointError, FocusError
from napari_focus.focus.backbone import BackboneSpec, build_backbone
from napari_focus.focus.backbone_rules import MAX_PARAMS, check_backbone, estimated_params
from napari_focus.focus.checkpoint import load_checkpoint, save_checkpoint

from .conftest import TINY

GOOD = {"name": None, "kwargs": dict(TINY), "weights_file": None, "sha256": None, "img_size": 32,
        "timm_version": "1.0.31"}

HOSTILE = [
    ("name", "hf-hub:evil/vit_tiny_patch16_224"),
    ("name", "hf_hub:evil/vit_tiny_patch16_224"),
    ("name", "local-dir:/tmp/evil"),
    ("name", "timm/vit_tiny_patch16_224.augreg_in21k"),
    ("name", "../../vit_tiny_patch16_224"),
    ("name", "https://evil.example/vit"),
    ("name", ""),
    ("name", "x" * 200),
    ("name", 7),
    ("kwargs", {"checkpoint_path": "/tmp/evil.pth"}),
    ("kwargs", {"pretrained_cfg_overlay": {"hf_hub_id": "evil/x"}}),
    ("kwargs", {"pretrained_cfg": {"url": "https://evil.example"}}),
    ("kwargs", {"block_fn": "os.system"}),
    ("kwargs", {"embed_dim": 1 << 20, "num_heads": 1}),
    ("kwargs", {"depth": 100000}),
    ("kwargs", {"embed_dim": 2048, "depth": 48, "num_heads": 32}),
    ("kwargs", {"embed_dim": "64"}),
    ("kwargs", {"depth": True}),
    ("kwargs", {"mlp_ratio": float("nan")}),
    ("kwargs", {"mlp_ratio": 1e6}),
    ("kwargs", {"num_heads": 0}),
    ("kwargs", {"embed_dim": 66, "num_heads": 4}),
    ("kwargs", {"img_size": 1024, "patch_size": 1}),
    ("kwargs", {"num_classes": 10 ** 9}),
    ("kwargs", "depth=2"),
    ("img_size", 10 ** 7),
    ("img_size", -3),
    ("sha256", "not-a-hash"),
    ("extra", "field"),
]


def _spec(key, value):
    spec = json.loads(json.dumps(GOOD))
    if key == "kwargs" and isinstance(value, dict):
        spec["kwargs"].update(value)
        spec["img_size"] = value.get("img_size", spec["img_size"])  # the spec's own size wins when building
    else:
        spec[key] = value
    return spec


def test_what_the_project_writes_passes(tmp_path):
    check_backbone(GOOD, "config.json")
    check_backbone({**GOOD, "name": "vit_base_patch14_dinov2.lvd142m", "kwargs": {}}, "config.json")
    embedded = {"img_size": 96, "patch_size": 8, "in_chans": 3, "embed_dim": 192, "depth": 6, "num_heads": 6,
                "mlp_ratio": 4.0, "class_token": True, "global_pool": "token", "num_classes": 0}
    check_backbone({**GOOD, "kwargs": embedded, "img_size": 96}, "config.json")


@pytest.mark.parametrize(("key", "value"), HOSTILE, ids=[f"{k}={v!r}"[:50] for k, v in HOSTILE])
def test_hostile_descriptions_are_refused_in_one_line(key, value):
    with pytest.raises(CheckpointError) as info:
        check_backbone(_spec(key, value), "ck/config.json")
    msg = str(info.value)
    assert msg.startswith("ck/config.json: ") and "\n" not in msg and len(msg) < 300


def test_the_size_estimate_matches_timm():
    from timm.models.vision_transformer import VisionTransformer

    for kw in (dict(TINY), dict(img_size=96, patch_size=8, embed_dim=192, depth=6, num_heads=6, num_classes=0)):
        real = sum(p.numel() for p in VisionTransformer(**kw).parameters())
        assert abs(estimated_params(kw) - real) / real < 0.05
    assert estimated_params(dict(embed_dim=2048, depth=48, num_heads=32)) > MAX_PARAMS


def test_a_named_model_too_large_or_not_a_vit_is_refused_without_allocating(monkeypatch):
    """Named models are sized by timm's registry: built on the meta device first, never for real."""
    import timm
    import torch

    real_create = timm.create_model

    def meta_only(*args, **kwargs):
        if torch.empty(0).device.type != "meta":
            raise AssertionError("a refused backbone was built for real")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(timm, "create_model", meta_only)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="billion parameters"):
        build_backbone(BackboneSpec(name="vit_gigantic_patch14_clip_224"))
    with pytest.raises(FocusError, match="not a timm VisionTransformer"):
        build_backbone(BackboneSpec(name="vit_7b_patch16_dinov3"))
    with pytest.raises(CheckpointError, match="not a timm model"):
        build_backbone(BackboneSpec(name="no_such_model_anywhere"))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB on Linux


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve a host or open a connection fails the test."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.fixture
def builders(monkeypatch):
    """timm.create_model, VisionTransformer and torch.load replaced by mocks that record any call."""
    from unittest import mock

    import timm
    import timm.models.vision_transformer as vt
    import torch

    mocks = {"create_model": mock.Mock(side_effect=AssertionError("timm.create_model called")),
             "VisionTransformer": mock.Mock(side_effect=AssertionError("VisionTransformer called")),
             "torch.load": mock.Mock(side_effect=AssertionError("torch.load called"))}
    monkeypatch.setattr(timm, "create_model", mocks["create_model"])
    monkeypatch.setattr(vt, "VisionTransformer", mocks["VisionTransformer"])
    monkeypatch.setattr(torch, "load", mocks["torch.load"])
    return mocks


@pytest.mark.parametrize(("key", "value"), [("name", "hf-hub:evil/vit_tiny_patch16_224"),
                                            ("kwargs", {"checkpoint_path": "evil.pth"}),
                                            ("kwargs", {"embed_dim": 98304, "depth": 48, "num_heads": 8})])
def test_hostile_checkpoint_makes_no_connection_no_build_no_allocation(model, tmp_path, no_network, builders,
                                                                       key, value):
    ck = save_checkpoint(model, tmp_path / "ck")
    cfg = json.loads((ck / "config.json").read_text())
    if isinstance(value, dict):
        cfg["backbone"]["kwargs"].update(value)
    else:
        cfg["backbone"][key] = value
    (ck / "config.json").write_text(json.dumps(cfg))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="backbone"):
        load_checkpoint(ck)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024
    assert not no_network
    assert all(not m.called for m in builders.values())


def test_cli_refuses_a_hub_named_checkpoint_in_one_line(model, tmp_path, no_network, builders, capsys):
    from napari_focus.cli import main
    from napari_focus.cube_io import write_envi

    ck = save_checkpoint(model, tmp_path / "ck")
    cfg = json.loads((ck / "config.json").read_text())
    cfg["backbone"]["name"] = "hf-hub:evil/vit_tiny_patch16_224"
    (ck / "config.json").write_text(json.dumps(cfg))
    import numpy as np

    write_envi(tmp_path / "c.hdr", np.random.default_rng(0).random((24, 32, 32)).astype(np.float32),
               wavelengths_nm=np.linspace(400, 1000, 24))
    rc = main(["explain", str(tmp_path / "c.hdr"), "--model", str(ck), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "hf-hub" in err and str(ck) in err
    assert not no_network and not builders["create_model"].called
    assert not (tmp_path / "out").exists()
