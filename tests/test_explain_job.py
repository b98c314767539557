"""The embedded checkpoint is chosen by the cube's wavelengths (each checkpoint's config.json), not by name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_focus import explain_job
from napari_focus.cube import Cube
from napari_focus.cube_io import write_envi
from napari_focus.errors import FocusError


def _checkpoint(folder, lo, hi, n):
    folder.mkdir(parents=True)
    cfg = {"normalisation": {"band_mean": [0.0] * n}, "wavelengths_nm": list(np.linspace(lo, hi, n))}
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    """Two embedded checkpoints whose names say nothing about their range: only config.json does."""
    found = [_checkpoint(tmp_path / "model_a", 400, 1000, 60), _checkpoint(tmp_path / "model_b", 400, 2500, 200)]
    monkeypatch.setattr(explain_job, "embedded_checkpoints", lambda: found)
    return found


@pytest.mark.parametrize(("lo", "hi", "want"), [(397.3, 1003.6, 0), (378, 2504, 1), (400, 1100, 1), (450, 900, 0),
                                                (1000, 2400, 1)])
def test_the_checkpoint_follows_the_cubes_wavelengths(zoo, lo, hi, want):
    cube = Cube(np.zeros((20, 2, 2), np.float32), wavelengths_nm=np.linspace(lo, hi, 20))
    assert explain_job.default_checkpoint(cube) == zoo[want]


def test_without_wavelengths_the_first(zoo):
    assert explain_job.default_checkpoint(Cube(np.zeros((20, 2, 2), np.float32))) == zoo[0]
    assert explain_job.default_checkpoint() == zoo[0]


def test_a_batch_gets_the_checkpoint_its_cubes_need_or_a_refusal(zoo, tmp_path):
    def cube(name, hi):
        return write_envi(tmp_path / f"{name}.hdr", np.zeros((20, 3, 3), np.float32),
                          wavelengths_nm=np.linspace(400, hi, 20))

    vnir = [cube("a", 1000), cube("b", 990)]
    swir = cube("c", 2500)
    assert explain_job.checkpoint_for_cubes(vnir) == zoo[0]
    assert explain_job.checkpoint_for_cubes([swir]) == zoo[1]
    with pytest.raises(FocusError, match=r"a\.hdr needs model_a; c\.hdr needs model_b.*give --model"):
        explain_job.checkpoint_for_cubes([*vnir, swir])
