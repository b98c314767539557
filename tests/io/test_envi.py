"""ENVI reading and writing through `spectral`, in every interleave, byte order and data type."""

from __future__ import annotations

import numpy as np
import pytest
import spectral
import spectral.io.envi as envi

from napari_focus.cube_io import claims, read_cube, write_envi
from napari_focus.errors import CubeReadError

ENVI_DTYPES = ["uint8", "int16", "int32", "float32", "float64", "uint16", "uint32", "int64", "uint64", "complex64",
               "complex128"]


def _save(path, cube_chw, dtype="float32", interleave="bsq", byteorder=0, **md):
    data = np.transpose(cube_chw, (1, 2, 0)).astype(dtype)
    envi.save_image(str(path), data, dtype=dtype, interleave=interleave, byteorder=byteorder,
                    metadata=md, force=True, ext=".img")
    return path


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("byteorder", [0, 1])
def test_roundtrip_interleave_byteorder(tmp_path, cube_chw, wavelengths, interleave, byteorder):
    hdr = _save(tmp_path / "c.hdr", cube_chw, interleave=interleave, byteorder=byteorder,
                wavelength=list(wavelengths), **{"wavelength units": "nm"})
    cube = read_cube(hdr)
    assert cube.shape == cube_chw.shape
    np.testing.assert_array_equal(np.asarray(cube.data), cube_chw)
    np.testing.assert_allclose(cube.wavelengths_nm, wavelengths)
    assert cube.metadata["interleave"] == interleave
    assert cube.format == "envi"


@pytest.mark.parametrize("dtype", ENVI_DTYPES)
def test_every_envi_data_type(tmp_path, cube_chw, dtype):
    scaled = cube_chw * 100
    hdr = _save(tmp_path / "c.hdr", scaled, dtype=dtype)
    cube = read_cube(hdr)
    expected = np.abs(scaled.astype(dtype)) if np.dtype(dtype).kind == "c" else scaled.astype(dtype)
    np.testing.assert_array_equal(np.asarray(cube.data), expected)


def test_native_file_is_memory_mapped(tmp_path, cube_chw):
    cube = read_cube(_save(tmp_path / "c.hdr", cube_chw))
    assert isinstance(cube.data, np.memmap) or isinstance(getattr(cube.data, "base", None), np.memmap)


@pytest.mark.parametrize("units,factor", [("micrometers", 1000), ("um", 1000), ("Micrometers", 1000),
                                          ("nanometers", 1), ("nm", 1), ("µm", 1000)])
def test_wavelength_units(tmp_path, cube_chw, wavelengths, units, factor):
    wl = wavelengths / factor
    hdr = _save(tmp_path / "c.hdr", cube_chw, wavelength=list(wl), **{"wavelength units": units})
    np.testing.assert_allclose(read_cube(hdr).wavelengths_nm, wavelengths)


def test_scale_factor_ignore_value_fwhm_bbl_offset(tmp_path, cube_chw, wavelengths):
    raw = (cube_chw * 10000).astype(np.uint16)
    raw[0, 0, 0] = 65535
    bbl = [1] * 12
    bbl[3] = 0
    hdr = _save(tmp_path / "c.hdr", raw, dtype="uint16", wavelength=list(wavelengths / 1000),
                **{"wavelength units": "Micrometers", "reflectance scale factor": 10000,
                   "data ignore value": 65535, "fwhm": list(np.full(12, 0.006)), "bbl": bbl})
    cube = read_cube(hdr)
    assert np.isnan(cube.data[0, 0, 0])
    np.testing.assert_allclose(cube.data[1], raw[1] / 10000.0, rtol=1e-6)
    np.testing.assert_allclose(cube.fwhm_nm, 6.0)
    assert cube.good_bands.tolist() == [b == 1 for b in bbl]
    # a header offset: prepend bytes and declare them
    img = hdr.with_suffix(".img")
    payload = img.read_bytes()
    img.write_bytes(b"\0" * 64 + payload)
    text = hdr.read_text().replace("header offset = 0", "header offset = 64")
    hdr.write_text(text)
    np.testing.assert_allclose(read_cube(hdr).data[1], raw[1] / 10000.0, rtol=1e-6)


@pytest.mark.parametrize("ext", [".raw", ".dat", ".bsq", ".bil", ".bip", ""])
def test_data_file_extensions(tmp_path, cube_chw, ext):
    hdr = _save(tmp_path / "c.hdr", cube_chw)
    hdr.with_suffix(".img").rename(tmp_path / f"c{ext}")
    cube = read_cube(hdr)
    np.testing.assert_array_equal(np.asarray(cube.data), cube_chw)
    if ext:
        assert claims(tmp_path / f"c{ext}")
        np.testing.assert_array_equal(np.asarray(read_cube(tmp_path / f"c{ext}").data), cube_chw)


def test_write_envi_roundtrip_with_spectral(tmp_path, cube_chw, wavelengths):
    hdr = write_envi(tmp_path / "out.hdr", cube_chw, wavelengths_nm=wavelengths, fwhm_nm=np.full(12, 5.0))
    img = spectral.open_image(str(hdr))
    np.testing.assert_array_equal(img.load().transpose(2, 0, 1), cube_chw)
    np.testing.assert_allclose(img.bands.centers, wavelengths, rtol=1e-6)
    back = read_cube(hdr)
    np.testing.assert_array_equal(np.asarray(back.data), cube_chw)
    np.testing.assert_allclose(back.wavelengths_nm, wavelengths, rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.hdr", "out.img"]  # no temp files left


# ----------------------------------------------------------------------------- bad input
def _err(path) -> str:
    with pytest.raises(CubeReadError) as info:
        read_cube(path)
    return str(info.value)


def test_missing_data_file(tmp_path, cube_chw):
    hdr = _save(tmp_path / "c.hdr", cube_chw)
    hdr.with_suffix(".img").unlink()
    assert "data file" in _err(hdr) and "c.hdr" in _err(hdr)


def test_truncated_data_file(tmp_path, cube_chw):
    hdr = _save(tmp_path / "c.hdr", cube_chw)
    img = hdr.with_suffix(".img")
    img.write_bytes(img.read_bytes()[:100])
    assert "shorter than the header says" in _err(hdr)


@pytest.mark.parametrize("field", ["samples", "lines", "bands"])
def test_header_without_dimensions(tmp_path, cube_chw, field):
    hdr = _save(tmp_path / "c.hdr", cube_chw)
    hdr.write_text("\n".join(line for line in hdr.read_text().splitlines() if not line.startswith(field)))
    assert f"no '{field}'" in _err(hdr)


def test_non_numeric_wavelengths(tmp_path, cube_chw):
    hdr = _save(tmp_path / "c.hdr", cube_chw, wavelength=["a"] * 12)
    assert "not a number" in _err(hdr)


def test_wavelength_count_mismatch(tmp_path, cube_chw):
    hdr = _save(tmp_path / "c.hdr", cube_chw, wavelength=list(range(5)))
    assert "5 wavelengths for 12 bands" in _err(hdr)


def test_empty_and_garbage_headers(tmp_path):
    empty = tmp_path / "e.hdr"
    empty.write_bytes(b"")
    assert "empty" in _err(empty)
    garbage = tmp_path / "g.hdr"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n not a header")
    assert "not an ENVI header" in _err(garbage)


@pytest.mark.parametrize("scale", ["0", "1e300", "-1e-300", "inf", "nan"])
def test_an_unusable_scale_factor_is_refused_by_name(tmp_path, cube_chw, scale):
    """float32 cubes: a scale whose value or reciprocal leaves float32's range would make every value 0 or inf."""
    hdr = _save(tmp_path / "c.hdr", cube_chw, **{"reflectance scale factor": 10000})
    hdr.write_text(hdr.read_text().replace("reflectance scale factor = 10000", f"reflectance scale factor = {scale}"))
    with pytest.raises(CubeReadError, match="'reflectance scale factor' = .* is unusable"):
        read_cube(hdr)
