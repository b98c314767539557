"""Tiny ViTs and FOCUS models built in the test (no network, no files unless a test writes them)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from napari_focus.focus.backbone import BackboneSpec, freeze  # noqa: E402
from napari_focus.focus.groups import make_groups  # noqa: E402
from napari_focus.focus.model import FocusModel  # noqa: E402

TINY = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, num_classes=0)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


def tiny_vit(seed: int = 0, **kw):
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    args = dict(TINY, **kw)
    return freeze(VisionTransformer(**args)), BackboneSpec(kwargs=args)


def tiny_model(n_bands: int = 24, classes=("a", "b", "c"), n_groups: int = 4, seed: int = 0, task="classification",
               use_sink: bool = True, **vit_kw) -> FocusModel:
    vit, spec = tiny_vit(seed, **vit_kw)
    wl = np.linspace(400, 1000, n_bands)
    groups = make_groups(n_bands, wl, n_groups)
    return FocusModel(vit, spec, groups, list(classes), task=task, wavelengths_nm=wl, use_sink=use_sink, seed=seed)


@pytest.fixture
def model():
    m = tiny_model(reg_tokens=2, init_values=1e-5, no_embed_class=True)
    m.calibrate(torch.rand(4, 24, 32, 32))
    return m.eval()
