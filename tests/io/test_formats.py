"""TIFF, NumPy, HDF5, MATLAB and Specim captures; sidecar wavelengths and sensor presets."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io
import spectral.io.envi as envi
import tifffile

from napari_focus.cube_io import claims, read_cube
from napari_focus.errors import CubeReadError


def test_tiff_one_page_per_band(tmp_path, cube_chw):
    path = tmp_path / "leaf.tif"
    with tifffile.TiffWriter(path) as tw:
        for band in (cube_chw * 1000).astype(np.uint16):
            tw.write(band, contiguous=True)
    cube = read_cube(path)
    assert cube.shape == cube_chw.shape
    np.testing.assert_array_equal(np.asarray(cube.data), (cube_chw * 1000).astype(np.uint16))
    assert cube.wavelengths_nm is None


def test_tiff_band_last_stack(tmp_path, cube_chw):
    path = tmp_path / "stack.tiff"
    tifffile.imwrite(path, np.transpose(cube_chw, (1, 2, 0)), planarconfig="contig", photometric="minisblack")
    cube = read_cube(path)
    np.testing.assert_array_equal(np.asarray(cube.data), cube_chw)


def test_tiff_204_pages_gets_specim_preset(tmp_path):
    path = tmp_path / "hyperleaf.tif"
    tifffile.imwrite(path, np.ones((204, 8, 6), np.uint16))
    cube = read_cube(path)
    assert cube.shape == (204, 8, 6)
    assert cube.wavelengths_nm[0] == pytest.approx(397.32) and cube.wavelengths_nm[-1] == pytest.approx(1003.58)
    assert any("Specim IQ" in n for n in cube.notes)


def test_npy_memmap_and_sidecar(tmp_path, cube_chw, wavelengths):
    path = tmp_path / "c.npy"
    np.save(path, cube_chw)
    (tmp_path / "c.wavelengths.txt").write_text("\n".join(f"{w:.3f}" for w in wavelengths))
    cube = read_cube(path)
    assert isinstance(cube.data, np.memmap)
    np.testing.assert_allclose(cube.wavelengths_nm, wavelengths, atol=1e-3)
    assert any("c.wavelengths.txt" in n for n in cube.notes)


def test_csv_sidecar_with_header_and_units(tmp_path, cube_chw, wavelengths):
    np.save(tmp_path / "c.npy", cube_chw)
    rows = "\n".join(f"{i},{w / 1000:.6f}" for i, w in enumerate(wavelengths))
    (tmp_path / "c.wavelengths.csv").write_text("band,wavelength (um)\n" + rows)
    np.testing.assert_allclose(read_cube(tmp_path / "c.npy").wavelengths_nm, wavelengths, atol=1e-3)


def test_npz_named_arrays_band_last(tmp_path, cube_chw, wavelengths):
    path = tmp_path / "c.npz"
    np.savez(path, reflectance=np.transpose(cube_chw, (1, 2, 0)), wavelengths=wavelengths, other=np.zeros(3))
    cube = read_cube(path)
    np.testing.assert_array_equal(np.asarray(cube.data), cube_chw)  # axis found from the wavelength count
    np.testing.assert_allclose(cube.wavelengths_nm, wavelengths)


def test_h5_nested_and_user_named(tmp_path, cube_chw, wavelengths):
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("scan/cube", data=cube_chw)
        f.create_dataset("scan/wavelength", data=wavelengths)
        f.create_dataset("junk3d", data=np.zeros((2, 2, 2)))
    cube = read_cube(path)
    np.testing.assert_array_equal(np.asarray(cube.data), cube_chw)
    np.testing.assert_allclose(cube.wavelengths_nm, wavelengths)
    with pytest.raises(CubeReadError, match="no array named 'nope'"):
        read_cube(path, array_name="nope")


def test_mat_v5_and_v73(tmp_path, cube_chw, wavelengths):
    hwc = np.transpose(cube_chw, (1, 2, 0))
    v5 = tmp_path / "v5.mat"
    scipy.io.savemat(v5, {"hsi": hwc, "wavelengths": wavelengths})
    cube = read_cube(v5)
    np.testing.assert_array_equal(np.asarray(cube.data), cube_chw)
    np.testing.assert_allclose(cube.wavelengths_nm, wavelengths)
    # v7.3 = HDF5 with a MATLAB header block; MATLAB writes arrays column-major (reversed axes)
    v73 = tmp_path / "v73.mat"
    with h5py.File(v73, "w", userblock_size=512) as f:
        f.create_dataset("hsi", data=hwc.T)
        f.create_dataset("wavelengths", data=wavelengths[None, :].T)
    with open(v73, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .")
    cube = read_cube(v73)
    np.testing.assert_array_equal(np.asarray(cube.data), cube_chw)


def _envi(path, chw, **md):
    envi.save_image(str(path), np.transpose(chw, (1, 2, 0)), dtype=chw.dtype, metadata=md, force=True, ext=".raw")


def test_specim_capture_calibration(tmp_path, wavelengths):
    rng = np.random.default_rng(1)
    c, h, w = 12, 10, 8
    dark = np.full((c, 3, w), 100, np.uint16)
    white = (1100 + rng.integers(0, 50, (c, 1, w))).astype(np.uint16).repeat(4, axis=1)
    refl = rng.uniform(0.05, 0.6, (c, h, w))
    raw = (dark[:, :1] + refl * (white[:, :1].astype(float) - dark[:, :1])).round().astype(np.uint16)
    cap = tmp_path / "2026-11-22_001" / "capture"
    cap.mkdir(parents=True)
    md = {"wavelength": list(wavelengths), "wavelength units": "nm"}
    _envi(cap / "2026-11-22_001.hdr", raw, **md)
    _envi(cap / "WHITEREF_2026-11-22_001.hdr", white, **md)
    _envi(cap / "DARKREF_2026-11-22_001.hdr", dark, **md)
    folder = cap.parent
    assert claims(folder)
    cube = read_cube(folder)
    assert cube.format == "specim" and any("(raw − dark) / (white − dark)" in n for n in cube.notes)
    np.testing.assert_allclose(cube.data, refl, atol=2e-3)
    # the raw header alone finds its references too
    np.testing.assert_allclose(read_cube(cap / "2026-11-22_001.hdr").data, refl, atol=2e-3)


def test_specim_white_with_wrong_width_is_refused(tmp_path, wavelengths):
    cap = tmp_path / "cap" / "capture"
    cap.mkdir(parents=True)
    _envi(cap / "x.hdr", np.ones((12, 4, 5), np.uint16))
    _envi(cap / "WHITEREF_x.hdr", np.ones((12, 2, 3), np.uint16))
    _envi(cap / "DARKREF_x.hdr", np.zeros((12, 2, 5), np.uint16))
    with pytest.raises(CubeReadError, match="white reference"):
        read_cube(cap.parent)


# ----------------------------------------------------------------------------- bad input
def test_two_d_image_is_refused(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((5, 5)))
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros((5, 5), np.uint8))
    for name in ("flat.npy", "flat.tif"):
        with pytest.raises(CubeReadError, match="2-D image"):
            read_cube(tmp_path / name)


def test_nan_and_inf(tmp_path, cube_chw):
    bad = cube_chw.copy()
    bad[0, 0, 0], bad[1, 1, 1] = np.inf, np.nan
    np.save(tmp_path / "inf.npy", bad)
    cube = read_cube(tmp_path / "inf.npy")
    assert np.isnan(cube.data[0, 0, 0]) and np.isnan(cube.data[1, 1, 1]) and np.isfinite(cube.data[2]).all()
    assert any("infinite" in n for n in cube.notes)
    np.save(tmp_path / "allnan.npy", np.full((3, 4, 4), np.nan, np.float32))
    with pytest.raises(CubeReadError, match="no finite values"):
        read_cube(tmp_path / "allnan.npy")


@pytest.mark.parametrize("name", ["empty.npy", "empty.tif", "empty.hdr", "empty.h5", "empty.mat", "empty.npz"])
def test_empty_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(CubeReadError, match="empty"):
        read_cube(tmp_path / name)


@pytest.mark.parametrize("name", ["fake.npy", "fake.tif", "fake.h5", "fake.mat", "fake.npz", "fake.hdr"])
def test_file_that_is_not_what_its_extension_says(tmp_path, name):
    (tmp_path / name).write_text("hello, I am a text file\n" * 20)
    with pytest.raises(CubeReadError) as info:
        read_cube(tmp_path / name)
    assert name in str(info.value)


def test_claims_only_what_it_can_read(tmp_path, cube_chw):
    (tmp_path / "photo.png").write_bytes(b"x")
    (tmp_path / "orphan.raw").write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    assert not claims(tmp_path / "photo.png")
    assert not claims(tmp_path / "orphan.raw")  # no header beside it
    assert not claims(tmp_path / "folder")  # not a capture
    assert claims(tmp_path / "anything.hdr")


def test_missing_file(tmp_path):
    with pytest.raises(CubeReadError, match="file not found"):
        read_cube(tmp_path / "nope.hdr")
