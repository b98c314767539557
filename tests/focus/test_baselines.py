"""Gradient × input and Grad-CAM on the same FocusModel return consistent Explanations."""

import numpy as np
import pytest
import torch

from napari_focus.cube import Cube
from napari_focus.focus.explain import explain


def _cube():
    rng = np.random.default_rng(1)
    return Cube(rng.random((24, 40, 36)).astype(np.float32), wavelengths_nm=np.linspace(400, 1000, 24))


@pytest.mark.parametrize("method", ["gradxinput", "gradcam"])
def test_baseline_explanations(model, method):
    leaf = np.ones((40, 36), bool)
    leaf[:3] = False
    exp = explain(model, _cube(), class_index=2, method=method, leaf_mask=leaf)
    assert exp.method == method and exp.class_index == 2
    assert exp.T.shape == (24, 40, 36) and np.isfinite(exp.T).all() and (exp.T >= 0).all()
    assert exp.T.sum() > 0 and (exp.T[:, ~leaf] == 0).all()
    np.testing.assert_allclose(exp.M, exp.T.sum(0), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(exp.B, exp.T[:, leaf].max(1), rtol=1e-6)
    assert all(p.grad is None for p in model.backbone.parameters())
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_gradxinput_matches_autograd(model):
    """The band curve is max over pixels of |∂z_c/∂X ⊙ X| (cube at model size, same bands)."""
    cube = Cube(np.random.default_rng(2).random((24, 32, 32)).astype(np.float32),
                wavelengths_nm=np.linspace(400, 1000, 24))
    exp = explain(model, cube, class_index=0, method="gradxinput", leaf_mask=np.ones((32, 32), bool))
    x = torch.as_tensor(cube.data)[None].clone().requires_grad_(True)
    model(x).logits[0, 0].backward()
    ref = (x.grad * x).abs()[0].amax((1, 2)).detach().numpy()
    np.testing.assert_allclose(exp.B, ref, rtol=1e-4, atol=1e-8)
