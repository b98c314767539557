"""Header text as real files have it: Latin-1 bytes, a BOM, CR line ends, ESRI headers, binary files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_focus.cube_io import read_cube
from napari_focus.cube_io.envi_header import decode_header, read_header
from napari_focus.errors import CubeReadError

HEADER = ("ENVI\ndescription = {{{desc}}}\nsamples = 4\nlines = 3\nbands = 2\nheader offset = 0\n"
          "data type = 4\ninterleave = bsq\nbyte order = 0\nwavelength = {{500, 600}}\n")


def _cube(tmp_path, header: bytes, name: str = "c"):
    hdr = tmp_path / f"{name}.hdr"
    hdr.write_bytes(header)
    np.arange(24, dtype="<f4").tofile(tmp_path / f"{name}.img")
    return hdr


@pytest.mark.parametrize("codec,desc,name", [("latin-1", "Feuille bless\u00e9e, r\u00e9f\u00e9rence", "Windows-1252"),
                                             ("cp1252", "Blatt \u201eGerste\u201c \u2013 Messung", "Windows-1252"),
                                             ("latin-1", "caf\u00e9 \u0081", "Latin-1")])
def test_a_header_that_is_not_utf8_is_read_with_a_note(tmp_path, codec, desc, name):
    hdr = _cube(tmp_path, HEADER.format(desc=desc).encode(codec))
    cube = read_cube(hdr)
    assert cube.shape == (2, 3, 4)
    np.testing.assert_array_equal(cube.wavelengths_nm, [500, 600])
    assert cube.metadata["description"] == desc
    assert any("not UTF-8" in n and name in n for n in cube.notes), cube.notes


def test_utf8_with_a_bom_and_old_mac_line_ends_read_as_is(tmp_path):
    text = HEADER.format(desc="Blatt \u00fc").replace("\n", "\r")
    cube = read_cube(_cube(tmp_path, b"\xef\xbb\xbf" + text.encode()))
    assert cube.shape == (2, 3, 4) and cube.metadata["description"] == "Blatt \u00fc" and cube.notes == []


def test_decode_prefers_utf8():
    assert decode_header("\u00e9".encode()) == ("\u00e9", None)


@pytest.mark.parametrize("content,reason", [
    (b"BYTEORDER I\nLAYOUT BIL\nNROWS 5\nNCOLS 4\nNBANDS 3\nNBITS 16\n", "an ESRI/ArcGIS raster header"),
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "a binary file"),
    (b"hello\nworld\n", "first line is not 'ENVI'"),
    (b"ENVI\nsamples = 4\nwavelength = {1, 2,\n3\n", "'wavelength' opens '{' and never closes it"),
])
def test_what_is_not_an_envi_header_is_named(tmp_path, content, reason):
    hdr = tmp_path / "x.hdr"
    hdr.write_bytes(content)
    with pytest.raises(CubeReadError, match=reason) as info:
        read_cube(hdr)
    assert "x.hdr" in str(info.value) and "\n" not in str(info.value)


def test_capitalised_keys_are_read_without_a_warning(tmp_path):
    """Specim's Lumo writes 'Start Time'; spectral warns about it, which reached the CLI user."""
    hdr = _cube(tmp_path, HEADER.format(desc="x").replace("samples", "Samples").encode() + b"Start Time = 12:00\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cube = read_cube(hdr)
    assert cube.shape == (2, 3, 4)
    assert read_header(hdr)[0]["start time"] == "12:00"
