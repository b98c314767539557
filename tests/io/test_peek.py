"""Ordinary pictures are left to napari's own reader; cubes, and files too damaged to tell, are claimed."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_focus._reader import get_reader
from napari_focus.cube_io import claims
from napari_focus.cube_io.peek import MIN_CUBE_BANDS, why_not_a_cube


def _tiff(path, data, **kwargs):
    tifffile.imwrite(path, data, **kwargs)
    return path


@pytest.mark.parametrize(("name", "make", "reason"), [
    ("flat.npy", lambda p: np.save(p, np.zeros((16, 16))), "2-D image"),
    ("flat.tif", lambda p: _tiff(p, np.zeros((16, 16), np.uint8)), "2-D image"),
    ("photo.tif", lambda p: _tiff(p, np.zeros((16, 16, 3), np.uint8), photometric="rgb"), "RGB"),
    ("logo.tif", lambda p: _tiff(p, np.zeros((16, 16, 4), np.uint8), photometric="rgb", extrasamples=[2]), "RGB"),
    ("photo.npy", lambda p: np.save(p, np.zeros((16, 16, 3), np.uint8)), "RGB"),
    ("stack.tif", lambda p: _tiff(p, np.zeros((30, 16, 16), np.uint16), imagej=True, metadata={"axes": "ZYX"}),
     "z-stack"),
    ("movie.npy", lambda p: np.save(p, np.zeros((5, 3, 16, 16), np.uint16)), "4-D"),
    ("few.npy", lambda p: np.save(p, np.zeros((12, 16, 16), np.float32)), "12 planes"),
    ("few.tif", lambda p: _tiff(p, np.zeros((12, 16, 16), np.float32)), "12 planes"),
])
def test_pictures_are_left_to_napari(tmp_path, name, make, reason):
    path = tmp_path / name
    make(path)
    assert reason in (why_not_a_cube(path) or "")
    assert not claims(path)
    assert get_reader(str(path)) is None


@pytest.mark.parametrize(("name", "make"), [
    ("many.npy", lambda p: np.save(p, np.zeros((MIN_CUBE_BANDS, 8, 8), np.float32))),
    ("specim.tif", lambda p: _tiff(p, np.zeros((204, 8, 8), np.uint16))),  # a sensor's known band count
    ("bandlast.npy", lambda p: np.save(p, np.zeros((8, 8, 40), np.float32))),
    ("garbage.npy", lambda p: p.write_text("not numpy")),  # the reader says what is wrong with it
])
def test_cubes_and_damaged_files_are_claimed(tmp_path, name, make):
    path = tmp_path / name
    make(path)
    assert why_not_a_cube(path) is None
    assert claims(path) and get_reader(str(path)) is not None


def test_a_sidecar_makes_a_few_planes_a_cube(tmp_path, cube_chw, wavelengths):
    path = tmp_path / "leaf.npy"
    np.save(path, cube_chw)
    assert not claims(path)
    np.savetxt(tmp_path / "leaf.wavelengths.txt", wavelengths)
    assert claims(path) and why_not_a_cube(path) is None
