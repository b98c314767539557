"""Checkpoints: round trip, refusals, DINOv2-architecture backbone from a file, wavelength resampling."""

import json

import numpy as np
import pytest
import torch

from napari_focus.cube import Cube
from napari_focus.errors import CheckpointError, FocusError
from napari_focus.focus.backbone import backbone_from_file
from napari_focus.focus.checkpoint import load_checkpoint, save_checkpoint, set_readout_reference, set_saliency_rule
from napari_focus.focus.explain import explain
from napari_focus.focus.groups import make_groups
from napari_focus.focus.model import FocusModel
from napari_focus.focus.train import train


def _perturb(model):
    with torch.no_grad():
        for p in model.trainable_named().values():
            p.add_(0.05 * torch.randn_like(p))


def _cube(c=24, wl=None, seed=0):
    rng = np.random.default_rng(seed)
    wl = np.linspace(400, 1000, c) if wl is None else wl
    return Cube(rng.random((c, 32, 32)).astype(np.float32), wavelengths_nm=wl)



def _flip_byte(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))

def test_round_trip_gives_identical_outputs(model, tmp_path):
    _perturb(model)
    model.saliency_rule = "rollout"
    x = torch.rand(2, 24, 32, 32)
    with torch.no_grad():
        ref = model(x, record=True)
    folder = save_checkpoint(model, tmp_path / "ckpt")
    assert sorted(p.name for p in folder.iterdir()) == ["backbone.safetensors", "config.json", "weights.safetensors"]
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["head_aux"] == model.head_aux.int().tolist()
    loaded = load_checkpoint(folder)
    assert loaded.head_aux.any(1).all() and torch.equal(loaded.head_aux, model.head_aux)
    assert torch.equal(loaded.band_mean, model.band_mean) and loaded.saliency_rule == "rollout"
    with torch.no_grad():
        out = loaded(x, record=True)
    assert torch.equal(out.logits, ref.logits)
    e1, e2 = explain(model, _cube()), explain(loaded, _cube())
    np.testing.assert_array_equal(e1.T, e2.T)
    assert e2.model_sha256 == loaded.checkpoint_sha256 and len(e2.model_sha256) == 64
    # overwriting an existing checkpoint is atomic and leaves no temp folders behind
    save_checkpoint(loaded, folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_set_saliency_rule_rewrites_only_the_config(model, tmp_path):
    folder = save_checkpoint(model, tmp_path / "ckpt")
    weights = (folder / "weights.safetensors").read_bytes()
    new_sha = set_saliency_rule(folder, "rollout+direct")
    loaded = load_checkpoint(folder)
    assert loaded.saliency_rule == "rollout+direct" and loaded.checkpoint_sha256 == new_sha
    assert (folder / "weights.safetensors").read_bytes() == weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temp file left beside it
    with pytest.raises(FocusError):
        set_saliency_rule(folder, "no-such-rule")
    assert load_checkpoint(folder).saliency_rule == "rollout+direct"


def test_only_trainable_tensors_are_saved(model, tmp_path):
    from safetensors.torch import load_file

    from napari_focus.focus.readout import DEFAULT_RULE

    folder = save_checkpoint(model, tmp_path / "c")
    assert set(load_file(str(folder / "weights.safetensors"))) == set(model.TRAINABLE)
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["saliency_rule"] == DEFAULT_RULE and cfg["input_size"] == 32 and cfg["backbone"]["sha256"]
    # a checkpoint whose H_aux leaves a layer without heads is refused
    cfg["head_aux"] = [[0, 0, 0, 0], [1, 0, 0, 0]]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="head_aux"):
        load_checkpoint(folder)


def test_refusals(model, tmp_path):
    folder = save_checkpoint(model, tmp_path / "c")
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        load_checkpoint(tmp_path / "missing")
    # foreign
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (foreign / "weights.safetensors").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="not a napari-focus checkpoint"):
        load_checkpoint(foreign)
    # corrupted weights
    _flip_byte(folder / "weights.safetensors", -5)
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(folder)
    # corrupted json
    folder = save_checkpoint(model, tmp_path / "c2")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(folder)
    # backbone hash mismatch
    folder = save_checkpoint(model, tmp_path / "c3")
    _flip_byte(folder / "backbone.safetensors", -3)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(folder)


def test_save_refuses_a_users_folder_or_file_and_replaces_a_checkpoint(model, tmp_path, users_files):
    mine, afile = users_files
    for target in (mine, afile):
        with pytest.raises(FocusError, match="refusing"):
            save_checkpoint(model, target)
    assert (mine / "keep.txt").read_text() == "mine" and afile.read_text() == "mine too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "mine"]  # no hidden copies either
    ck = save_checkpoint(model, tmp_path / "ck")
    _perturb(model)
    assert save_checkpoint(model, ck) == ck  # an earlier checkpoint is replaced, as before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "ck", "mine"]


def test_the_next_save_removes_what_killed_saves_left(model, tmp_path):
    ck = save_checkpoint(model, tmp_path / "ck")
    for name in (".ck.old-0123abcd", ".ck.tmp-89abcdef"):  # a kill after the swap, a kill while writing
        (tmp_path / name).mkdir()
        (tmp_path / name / "weights.safetensors").write_bytes(b"a full copy")
    (tmp_path / ".ck.tmp-notes").mkdir()  # not a name a save makes: not ours to delete
    (tmp_path / ".other.old-0123abcd").mkdir()  # another checkpoint's
    save_checkpoint(model, ck)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck.tmp-notes", ".other.old-0123abcd", "ck"]


def test_a_save_killed_between_renames_is_restored_then_cleaned(model, tmp_path):
    ck = save_checkpoint(model, tmp_path / "ck")
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    ck.rename(tmp_path / ".ck.old-0123abcd")  # the moment between the two renames
    (tmp_path / ".ck.tmp-89abcdef").mkdir()  # the newer model, never renamed in
    load_checkpoint(ck)  # puts the previous checkpoint back
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before
    _perturb(model)
    save_checkpoint(model, ck)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_dinov2_architecture_backbone_from_a_weights_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    kw = dict(embed_dim=64, depth=2, num_heads=4, reg_tokens=4, img_size=28, num_classes=0)
    torch.manual_seed(0)
    src = timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, **kw)
    f = tmp_path / "dino_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(f))
    kw.pop("img_size")
    vit, spec = backbone_from_file(f, name="vit_small_patch14_reg4_dinov2", kwargs=kw, img_size=28)
    assert vit.num_prefix_tokens == 5 and vit.patch_embed.patch_size == (14, 14)
    for (n, a), b in zip(src.state_dict().items(), vit.state_dict().values(), strict=True):
        assert torch.equal(a, b), n
    wl = np.linspace(400, 1000, 12)
    m = FocusModel(vit, spec, make_groups(12, wl, 3), ["x", "y"], wavelengths_nm=wl)
    m.calibrate(torch.rand(2, 12, 28, 28))
    folder = save_checkpoint(m, tmp_path / "ck")
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["backbone"]["sha256"] == spec.sha256 and cfg["backbone"]["name"] == "vit_small_patch14_reg4_dinov2"
    loaded = load_checkpoint(folder)
    x = torch.rand(1, 12, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x).logits, m(x).logits)
    f.write_bytes(f.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(folder)


def test_wavelength_resampling_and_refusal(model):
    cube = _cube(c=40, wl=np.linspace(390, 1010, 40))
    exp = explain(model, cube, rule="rollout+direct")
    assert any("resampled" in n for n in exp.notes)
    assert exp.T.shape == (40, 32, 32) and np.isfinite(exp.T).all() and exp.B.max() > 0
    with pytest.raises(FocusError, match="cannot be filled|covers"):
        explain(model, _cube(c=20, wl=np.linspace(400, 700, 20)))
    with pytest.raises(FocusError, match="cannot be mapped"):
        explain(model, Cube(np.random.rand(10, 32, 32).astype(np.float32)))


def test_training_after_reload_works(model, tmp_path):
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "c"))
    x, y = torch.rand(6, 24, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    hist = train(loaded, (x, y), epochs=1, batch_size=3)
    assert len(hist.loss) == 1


def test_the_readout_reference_round_trips_and_a_wrong_shape_is_refused(model, tmp_path):
    folder = save_checkpoint(model, tmp_path / "old")
    assert load_checkpoint(folder).margin_ref is None  # saved without one: loads, the explainer says so
    model.margin_ref = torch.arange(3.0 * model.groups.n_groups).reshape(3, -1)
    sha = set_readout_reference(folder, model)
    loaded = load_checkpoint(folder)
    assert torch.equal(loaded.margin_ref, model.margin_ref) and loaded.checkpoint_sha256 == sha
    assert torch.equal(load_checkpoint(save_checkpoint(loaded, tmp_path / "new")).margin_ref, model.margin_ref)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["readout_reference"]["group_margin"] = [[1.0, 2.0]]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="readout_reference"):
        load_checkpoint(folder)


def test_the_background_round_trips_and_a_wrong_length_a_nan_or_a_bad_flag_is_refused(model, tmp_path):
    from napari_focus.focus.checkpoint import set_background_fill

    folder = save_checkpoint(model, tmp_path / "old")
    assert load_checkpoint(folder).background_fill is None  # saved without one: loads, fills nothing
    model.background_fill = torch.linspace(0.02, 0.3, model.groups.n_bands)
    sha = set_background_fill(folder, model)
    loaded = load_checkpoint(folder)
    assert torch.equal(loaded.background_fill, model.background_fill) and loaded.checkpoint_sha256 == sha
    assert not loaded.canonical_background  # stored fill, flag off: only pixels without data are filled
    model.canonical_background = True
    set_background_fill(folder, model)
    again = load_checkpoint(save_checkpoint(load_checkpoint(folder), tmp_path / "new"))
    assert torch.equal(again.background_fill, model.background_fill) and again.canonical_background
    cfg = json.loads((folder / "config.json").read_text())
    nan = [float("nan")] * model.groups.n_bands
    for key, bad, why in (("background_fill", [0.1, 0.2], "one per band"), ("background_fill", nan, "background_fill"),
                          ("canonical_background", "yes", "canonical_background")):
        (folder / "config.json").write_text(json.dumps(cfg | {key: bad}))
        with pytest.raises(CheckpointError, match=why):
            load_checkpoint(folder)
