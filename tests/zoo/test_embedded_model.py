"""The model shipped in `model/`: it loads with the network blocked, its frozen backbone is
not a uniform-attention random ViT (docs/method.md §3.9), and each embedded checkpoint explains a sample leaf."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch

from napari_focus.explain_job import EMBEDDED_CHECKPOINTS, embedded_checkpoints
from napari_focus.focus.backbone import sha256_file
from napari_focus.resources import model_dir, sample_data_dir


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test (timm/HF would try one for a hub download)."""

    def refuse(*_a, **_k):
        raise AssertionError("the embedded model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _leaf_bands(n: int = 8) -> torch.Tensor:
    """Single bands of the shipped sample leaf, standardised like the backbone's pretraining images."""
    from napari_focus.cube_io import read_cube
    from napari_focus.zoo.spot_objective import standardise

    cube = read_cube(sample_data_dir() / "bls_vnir204.hdr")
    data = np.asarray(cube.data, dtype=np.float32)
    idx = np.linspace(0, data.shape[0] - 1, n).astype(int)
    size = 96
    crop = data[idx, :size, :size]
    return torch.from_numpy(np.stack([standardise(b) for b in crop]))[:, None]


def test_shipped_backbone_hash_and_spread_entropies(no_network):
    from napari_focus.focus.factory import backbone_spec, new_model
    from napari_focus.zoo.pretrain_backbone import attention_entropies

    info = json.loads((model_dir() / "backbone" / "backbone.json").read_text())
    assert sha256_file(model_dir() / "backbone" / info["weights_file"]) == info["sha256"]
    spec = backbone_spec(weights_file=model_dir() / "backbone" / "backbone.json")
    vit = new_model(spec, 8, None, ["a", "b"]).backbone
    torch.manual_seed(0)
    ent = attention_entropies(vit, _leaf_bands())
    # a random frozen ViT attends uniformly: every normalised entropy ≈ 1 (runs/random_backbone: 0.9995)
    assert float(ent.min()) < 0.7, ent
    assert float(ent.max() - ent.min()) > 0.2, ent


def test_every_embedded_checkpoint_is_installed():
    assert [p.name for p in embedded_checkpoints()] == list(EMBEDDED_CHECKPOINTS)
    total = sum(f.stat().st_size for f in model_dir().rglob("*") if f.is_file())
    assert total < 25e6, f"model/ is {total / 1e6:.1f} MB (the limit: under 25 MB)"


@pytest.mark.parametrize("sample", ["bls_vnir204", "bls_vswir200"])
def test_embedded_default_explains_the_sample_leaf_offline(no_network, sample):
    from napari_focus.cube_io import read_cube
    from napari_focus.explain_job import default_checkpoint
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.explain import explain

    cube = read_cube(sample_data_dir() / f"{sample}.hdr")
    ckpt = default_checkpoint(cube)
    assert ckpt.name == f"focus_{sample}"
    model = load_checkpoint(ckpt)
    assert model.classes == ["healthy", "bls"]
    assert all(not p.requires_grad or n in model.TRAINABLE for n, p in model.named_parameters())
    exp = explain(model, cube, None)
    assert np.isclose(float(np.sum(exp.probabilities)), 1.0, atol=1e-4)
    T = np.asarray(exp.T)
    assert T.shape == tuple(np.asarray(cube.data).shape) and np.isfinite(T).all() and (T >= 0).all()
    assert float(exp.M.max()) > 0


@pytest.mark.parametrize("sensor", ["vnir204", "vswir200"])
def test_embedded_model_reads_the_leaf_whatever_lies_behind_it(no_network, tmp_path, sensor):
    """Outside the leaf set to 0 (a segmented file) or to a flat grey (a tray): without the stored training
    background every healthy leaf with a removed background read as diseased, and a tray moved the class. Through the
    same leaf mask the model's input, so its output, is the same; the vegetation mask itself can move by a few edge
    pixels when the background changes (40-60 on these leaves when it is removed), which may move the class's
    probability a little but not the class."""
    from napari_focus.cube import Cube
    from napari_focus.cube_io import read_cube
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.explain import explain
    from napari_focus.simulate.dataset import make_dataset
    from napari_focus.vegetation import leaf_mask

    model = load_checkpoint(model_dir() / f"focus_bls_{sensor}")
    assert model.background_fill is not None and model.background_fill.shape == (model.groups.n_bands,)
    assert model.canonical_background
    items = list(load_dataset(make_dataset(tmp_path / "leaves", "bls", sensor=sensor, n=4, size=96, seed=3)))
    assert {it.label for it in items} == {"healthy", "bls"}
    for it in items:
        cube = read_cube(it.path)
        data = np.array(cube.data, dtype=np.float32)
        outside = ~leaf_mask(data, cube.wavelengths_nm)
        as_is = explain(model, Cube(data, wavelengths_nm=cube.wavelengths_nm), leaf_mask=~outside)
        for value in (0.0, 0.5):
            data[:, outside] = value
            exp = explain(model, Cube(data, wavelengths_nm=cube.wavelengths_nm))  # its own vegetation mask
            assert exp.predicted == it.label, (it.path.name, value)
            assert any("hold no data" in note for note in exp.notes) == (value == 0.0)
            np.testing.assert_allclose(exp.probabilities, as_is.probabilities, atol=1e-3)
            same = explain(model, Cube(data, wavelengths_nm=cube.wavelengths_nm), leaf_mask=~outside)
            np.testing.assert_allclose(same.probabilities, as_is.probabilities, atol=1e-6)
