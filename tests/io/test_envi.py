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


# ----------------------------------------------------------------------------- what real captures do
def _no_byte_order(hdr):
    hdr.write_text("\n".join(line for line in hdr.read_text().splitlines() if not line.startswith("byte order")))
    return hdr


def test_a_bin_data_file_is_found_and_opens_directly(tmp_path, cube_chw):
    hdr = _save(tmp_path / "c.hdr", cube_chw)
    hdr.with_suffix(".img").rename(tmp_path / "c.bin")
    np.testing.assert_array_equal(np.asarray(read_cube(hdr).data), cube_chw)
    assert claims(tmp_path / "c.bin")
    np.testing.assert_array_equal(np.asarray(read_cube(tmp_path / "c.bin").data), cube_chw)


def test_a_data_file_without_its_header_says_so(tmp_path):
    (tmp_path / "scan.bin").write_bytes(b"\0" * 64)
    assert not claims(tmp_path / "scan.bin")
    assert "scan.bin: a raw data file without its ENVI header (looked for scan.hdr and scan.bin.hdr)" in _err(
        tmp_path / "scan.bin")


def test_resonon_naming_without_byte_order_is_read_little_endian(tmp_path, cube_chw):
    """Spectronon writes NAME.bil + NAME.bil.hdr, and (like PlantCV) no byte order line."""
    data = (cube_chw * 4000).astype(np.uint16)
    hdr = _no_byte_order(_save(tmp_path / "scan.bil.hdr", data, dtype="uint16", interleave="bil"))
    hdr.with_suffix(".img").rename(tmp_path / "scan.bil")
    for path in (hdr, tmp_path / "scan.bil"):
        cube = read_cube(path)
        np.testing.assert_array_equal(np.asarray(cube.data), data)
        assert cube.notes == ["the header has no 'byte order': read as little-endian (byte order = 0)"]


@pytest.mark.parametrize("dtype,scale", [("uint16", 4000), ("int16", 4000), ("float32", 1)])
def test_a_wrong_guess_of_byte_order_is_noted(tmp_path, cube_chw, dtype, scale):
    """Big-endian data under a header with no byte order: read little-endian, and said to look byte-swapped."""
    data = (cube_chw * scale).astype(dtype)
    big = read_cube(_no_byte_order(_save(tmp_path / "big.hdr", data, dtype=dtype, byteorder=1)))
    assert any("look byte-swapped" in n for n in big.notes), big.notes
    little = read_cube(_no_byte_order(_save(tmp_path / "little.hdr", data, dtype=dtype, byteorder=0)))
    assert not any("byte-swapped" in n for n in little.notes), little.notes


def test_noise_and_single_bytes_raise_no_byte_order_alarm(tmp_path):
    """A dark frame is noise in either order, and a byte has no order: neither is called byte-swapped."""
    dark = np.random.default_rng(1).normal(100, 5, (12, 9, 7)).astype(np.uint16)
    assert not any("swapped" in n for n in read_cube(_no_byte_order(_save(tmp_path / "d.hdr", dark, "uint16"))).notes)
    assert read_cube(_no_byte_order(_save(tmp_path / "u8.hdr", dark // 2, dtype="uint8"))).notes == []


@pytest.mark.parametrize("edit,reason", [
    (("byte order = 0", "byte order = 2"), "'byte order' = '2' is not 0 or 1"),
    (("interleave = bsq", ""), "has no 'interleave'"),
    (("data type = 4", ""), "has no 'data type'"),
    (("file type = ENVI Standard", "file type = ENVI Spectral Library"), "an ENVI spectral library"),
    (("header offset = 0", "header offset = 0\nmajor frame offsets = {1, 1}"), "unsupported ENVI feature"),
])
def test_header_fields_real_files_get_wrong(tmp_path, cube_chw, edit, reason):
    hdr = _save(tmp_path / "c.hdr", cube_chw)
    assert edit[0] in hdr.read_text()
    hdr.write_text(hdr.read_text().replace(*edit))
    message = _err(hdr)
    assert reason in message and "c.hdr" in message


def test_one_band_needs_no_interleave(tmp_path, cube_chw):
    hdr = _save(tmp_path / "c.hdr", cube_chw[:1])
    hdr.write_text(hdr.read_text().replace("interleave = bsq", ""))
    np.testing.assert_array_equal(np.asarray(read_cube(hdr).data), cube_chw[:1])


def test_links_that_lead_nowhere_are_named_for_what_they_are(tmp_path, cube_chw):
    (tmp_path / "a.hdr").symlink_to(tmp_path / "b.hdr")
    (tmp_path / "b.hdr").symlink_to(tmp_path / "a.hdr")
    assert "a.hdr: a symbolic link loop" in _err(tmp_path / "a.hdr")
    (tmp_path / "gone.hdr").symlink_to(tmp_path / "nowhere.hdr")
    assert "gone.hdr: a broken symbolic link (to " in _err(tmp_path / "gone.hdr")
    assert "missing.hdr: file not found" in _err(tmp_path / "missing.hdr")
    hdr = _save(tmp_path / "c.hdr", cube_chw)
    hdr.with_suffix(".img").unlink()
    hdr.with_suffix(".img").symlink_to(hdr.with_suffix(".img"))
    assert "the data file c.img is a symbolic link loop" in _err(hdr)
