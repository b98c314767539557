"""Shared fixtures: tiny synthetic cubes made in memory (no files shipped for tests)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

# napari needs Qt's xcb platform under pytest-xvfb; "offscreen" cannot draw image layers.
if os.environ.get("QT_QPA_PLATFORM") in (None, "", "offscreen"):
    os.environ["QT_QPA_PLATFORM"] = "xcb"


# Loading triton (torch._dynamo pulls it in via torchvision/timm/grad-cam) after an OpenGL context exists
# segfaults under Mesa llvmpipe (two LLVMs in one process; seen on Xvfb): load it before any viewer exists.
if importlib.util.find_spec("triton") is not None:
    import triton  # noqa: F401


@pytest.fixture
def wavelengths() -> np.ndarray:
    return np.linspace(400.0, 1000.0, 12)


@pytest.fixture
def cube_chw(wavelengths: np.ndarray) -> np.ndarray:
    """A (12, 9, 7) float32 cube whose spectrum changes smoothly with position (distinct per band)."""
    rng = np.random.default_rng(0)
    c, h, w = wavelengths.size, 9, 7
    base = np.linspace(0.05, 0.5, c)[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w]
    return (base * (1 + 0.1 * yy + 0.05 * xx)[None] + 0.01 * rng.standard_normal((c, h, w))).astype(np.float32)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny FOCUS checkpoint (random frozen ViT, 2 classes) on the 12-band test wavelengths.

    Enough to exercise loading, explaining and the GUI; not a model that explains anything well.
    """
    torch = pytest.importorskip("torch")
    from timm.models.vision_transformer import VisionTransformer

    from napari_focus.focus.backbone import BackboneSpec, freeze
    from napari_focus.focus.checkpoint import save_checkpoint
    from napari_focus.focus.groups import make_groups
    from napari_focus.focus.model import FocusModel

    torch.manual_seed(0)
    kwargs = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=0)
    wl = np.linspace(400.0, 1000.0, 12)
    model = FocusModel(freeze(VisionTransformer(**kwargs)), BackboneSpec(kwargs=kwargs), make_groups(12, wl, 4),
                       ["healthy", "bls"], wavelengths_nm=wl)
    model.calibrate(torch.rand(3, 12, 32, 32))
    return save_checkpoint(model.eval(), tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture
def users_files(tmp_path):
    """A folder holding a user's file and a user's plain file, which no output may ever replace: (folder, file)."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    afile = tmp_path / "afile.txt"
    afile.write_text("mine too")
    return mine, afile
