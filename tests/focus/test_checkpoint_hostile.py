"""Hostile checkpoints (docs/robustness.md): truncated safetensors, pickles named weights, JSON with wrong types.

Each is refused with CheckpointError and nothing in it runs: the pickles below would create a marker
file if anything unpickled them. (test_checkpoint.py covers flipped bytes, foreign and invalid JSON.)
"""

import json
import pickle
import struct

import pytest

from napari_focus.errors import CheckpointError
from napari_focus.focus.backbone import sha256_file
from napari_focus.focus.checkpoint import load_checkpoint, save_checkpoint


class _Payload:
    """Unpickling this creates a file: proof that something executed."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _rehash(folder):
    """Make config.json's weights hash match whatever weights.safetensors now holds (so the parser is reached)."""
    cfg = json.loads((folder / "config.json").read_text())
    cfg["weights_sha256"] = sha256_file(folder / "weights.safetensors")
    (folder / "config.json").write_text(json.dumps(cfg))


@pytest.fixture
def ckpt(model, tmp_path):
    return save_checkpoint(model, tmp_path / "ck")


def test_truncated_safetensors_refused(ckpt):
    w = ckpt / "weights.safetensors"
    data = w.read_bytes()
    for cut in (4, 8 + 10, len(data) // 2, len(data) - 1):
        w.write_bytes(data[:cut])
        _rehash(ckpt)
        with pytest.raises(CheckpointError, match="unreadable"):
            load_checkpoint(ckpt)


def test_safetensors_header_claiming_petabytes_refused(ckpt):
    (ckpt / "weights.safetensors").write_bytes(struct.pack("<Q", 1 << 50) + b"{}")
    _rehash(ckpt)
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(ckpt)


@pytest.mark.parametrize("protocol", [2, 5])
def test_pickle_named_weights_is_never_unpickled(ckpt, tmp_path, protocol):
    marker = tmp_path / "pwned"
    (ckpt / "weights.safetensors").write_bytes(pickle.dumps({"phi": _Payload(marker)}, protocol=protocol))
    _rehash(ckpt)
    with pytest.raises(CheckpointError):
        load_checkpoint(ckpt)
    assert not marker.exists()


def test_pickle_as_backbone_weights_is_never_loaded(ckpt, tmp_path):
    """A config may point its backbone at any file: a .pt pickle is refused before timm could torch.load it."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "backbone.pt"
    evil.write_bytes(pickle.dumps({"w": _Payload(marker)}))
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["backbone"].update(name="vit_tiny_patch16_224", weights_file=str(evil), sha256=sha256_file(evil))
    (ckpt / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(ckpt)
    assert not marker.exists()


WRONG_TYPES = [
    ("version", "1; rm -rf /"),
    ("version", [1]),
    ("classes", 5),
    ("classes", "ab"),
    ("classes", [1, 2, 3]),
    ("task", ["classification"]),
    ("backbone", "vit"),
    ("backbone", {"kwargs": "depth=2"}),
    ("backbone", {"kwargs": {"depth": "2"}}),
    ("groups", [1, 2]),
    ("use_sink", "no"),
    ("rollout_depth", "three"),
    ("normalisation", {"band_mean": "x", "band_std": [1.0]}),
    ("normalisation", [0.0, 1.0]),
    ("head_aux", "all"),
    ("head_aux", [[True, "x"]]),
    ("target", {"mean": "zero"}),
    ("wavelengths_nm", {"a": 1}),
    ("saliency_rule", 3),
    ("weights_sha256", 12),
    ("calibrated", "yes"),
]


@pytest.mark.parametrize(("key", "value"), WRONG_TYPES, ids=[f"{k}={v!r}"[:40] for k, v in WRONG_TYPES])
def test_json_with_wrong_types_refused(ckpt, key, value):
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg[key] = value
    (ckpt / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError):
        load_checkpoint(ckpt)


def test_json_root_and_huge_numbers_refused(ckpt):
    for text in ("[]", '"napari-focus-checkpoint"', "null", '{"format": "napari-focus-checkpoint", "version": 1e999}'):
        (ckpt / "config.json").write_text(text)
        with pytest.raises(CheckpointError):
            load_checkpoint(ckpt)
