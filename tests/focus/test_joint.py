"""The joint-sequence ablation (docs/method.md §3.4, bench Table IV): every prompt sees every group's tokens."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import tiny_vit

torch = pytest.importorskip("torch")

from napari_focus.focus.groups import make_groups  # noqa: E402
from napari_focus.focus.joint import JointFocusModel  # noqa: E402
from napari_focus.focus.model import FocusModel  # noqa: E402


def _pair(n_bands: int = 16, n_groups: int = 4):
    """A per-group and a joint model with the same backbone and the same trainable tensors."""
    models = []
    for cls in (FocusModel, JointFocusModel):
        vit, spec = tiny_vit(0)
        wl = np.linspace(400, 1000, n_bands)
        models.append(cls(vit, spec, make_groups(n_bands, wl, n_groups), ["a", "b", "c"], wavelengths_nm=wl, seed=0))
    per, joint = models
    joint.load_state_dict(per.state_dict())
    per.calibrate(torch.rand(4, n_bands, 32, 32))
    joint.load_state_dict(per.state_dict())  # same normalisation and H_aux: only the layout differs
    return per.eval(), joint.eval()


def _group_bands(model, g: int) -> list[int]:
    return [b for b in range(model.groups.n_bands) if int(model.band_group[b]) == g]


def test_joint_prompts_see_every_group_per_group_prompts_do_not():
    per, joint = _pair()
    torch.manual_seed(1)
    x = torch.rand(2, 16, 32, 32)
    x2 = x.clone()
    g2 = _group_bands(per, 1)  # the second group's bands change; the first group's prompts are watched
    x2[:, g2] = torch.rand(2, len(g2), 32, 32)
    with torch.no_grad():
        pa, pb = per(x, record=True), per(x2, record=True)
        ja, jb = joint(x, record=True), joint(x2, record=True)
    assert torch.equal(pa.prompt_final[:, 0], pb.prompt_final[:, 0])  # per-group: group 1 is blind to group 2
    assert not torch.allclose(ja.prompt_final[:, 0], jb.prompt_final[:, 0], atol=1e-6)
    assert not torch.allclose(ja.group_logits[..., 0], jb.group_logits[..., 0], atol=1e-6)
    # one sequence of G·N patches behind one prefix; every prompt row covers all of it
    n, G = per.grid[0] * per.grid[1], per.groups.n_groups
    assert ja.prompt_attn[-1].shape == (2, G, 3, 4, per.patch_start + G * n + 1)
    assert ja.backbone_attn and all(a.shape[1] == 1 for a in ja.backbone_attn.values())
    assert float(ja.prompt_attn[0][0, 0, 0, :, per.patch_start + n:-1].sum()) > 0  # group 1's prompt reads group 2+


def test_joint_readout_keeps_each_groups_own_patches():
    per, joint = _pair()
    t = torch.arange(4 * 3 * 4 * 16, dtype=torch.float32).reshape(4, 3, 4 * 16)  # (G, K, G·N), N = 16
    own = joint.own_patches(t)
    assert own.shape == (4, 3, 16)
    for g in range(4):
        assert torch.equal(own[g], t[g, :, g * 16:(g + 1) * 16])
    assert per.own_patches(t) is t


def test_joint_model_trains_a_step_and_explains(tmp_path):
    from napari_focus.cube import Cube
    from napari_focus.focus.checkpoint import load_checkpoint, save_checkpoint
    from napari_focus.focus.explain import explain
    from napari_focus.focus.train import train

    _, joint = _pair()
    torch.manual_seed(2)
    x, y = torch.rand(4, 16, 32, 32), torch.tensor([0, 1, 2, 0])
    before = {n: p.detach().clone() for n, p in joint.trainable_named().items()}
    backbone = {n: p.detach().clone() for n, p in joint.backbone.named_parameters()}
    hist = train(joint, (x, y), epochs=1, batch_size=4, sink_weight=0.1)
    assert len(hist.loss) == 1 and np.isfinite(hist.loss[0])
    assert all(not torch.equal(before[n], p) for n, p in joint.trainable_named().items() if n != "group_embed")
    assert all(torch.equal(backbone[n], p) for n, p in joint.backbone.named_parameters())
    folder = save_checkpoint(joint, tmp_path / "joint")
    again = load_checkpoint(folder)
    assert isinstance(again, JointFocusModel)
    cube = Cube(np.random.default_rng(0).random((16, 32, 32)).astype(np.float32),
                wavelengths_nm=np.linspace(400, 1000, 16))
    for rule in ("rollout_spectral", "paper", "direct"):
        exp = explain(again, cube, rule=rule, leaf_mask=np.ones((32, 32), bool))  # predicted class: w > 0 somewhere
        assert exp.T.shape == (16, 32, 32) and np.isfinite(exp.B).all() and exp.M.max() > 0
    assert explain(again, cube, 1, method="gradcam", leaf_mask=np.ones((32, 32), bool)).M.shape == (32, 32)
