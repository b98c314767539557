"""Real headers from eight cameras and tools (tests/data/real_headers), each read with synthetic data of the size
it declares: the right shape, values, wavelengths and fwhm in nm, or a one-line refusal naming the file."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import spectral.io.envi as spy_envi

from napari_focus.cube_io import read_cube
from napari_focus.cube_io.envi_header import parse_fields, read_header
from napari_focus.errors import CubeReadError

CORPUS = Path(__file__).parents[1] / "data" / "real_headers"
ENTRIES = json.loads((CORPUS / "corpus.json").read_text())["headers"]
BY_FILE = {e["file"]: e for e in ENTRIES}


def _cube_of(meta: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic values for a header: the (C, H, W) cube and the bytes' array in file order."""
    c, h, w = (int(meta[k]) for k in ("bands", "lines", "samples"))
    dtype = np.dtype(spy_envi.envi_to_dtype[meta["data type"]])
    if dtype.kind == "f":
        cube = (0.05 + 0.8 * rng.random((c, h, w))).astype(dtype)
    else:
        cube = rng.integers(0, min(4096, np.iinfo(dtype).max), (c, h, w)).astype(dtype)
    orders = {"bil": (1, 0, 2), "bip": (1, 2, 0)}  # band-sequential otherwise (and for a misspelt interleave)
    order = orders.get(meta.get("interleave", "bsq").lower(), (0, 1, 2))
    stored = np.ascontiguousarray(cube.transpose(order))
    if meta.get("byte order", "0").strip() == "1":
        stored = stored.astype(dtype.newbyteorder(">"))
    return cube, stored


@pytest.fixture
def real_header(tmp_path):
    """A real header copied to tmp_path with synthetic data of its declared size beside it."""
    def make(name: str) -> tuple[Path, np.ndarray | None]:
        entry = BY_FILE[name]
        hdr = tmp_path / name
        shutil.copyfile(CORPUS / name, hdr)
        if entry["data_ext"] is None:
            return hdr, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spectral's capitalised-key warning: the header is read as is
            meta = spy_envi.read_envi_header(str(hdr))
        cube, stored = _cube_of(meta, np.random.default_rng(len(name)))
        stored.tofile(hdr.with_suffix(entry["data_ext"]) if entry["data_ext"] else hdr.with_suffix(""))
        return hdr, cube
    return make


def test_the_corpus_is_complete_and_varied():
    on_disk = sorted(p.name for p in CORPUS.glob("*.hdr"))
    assert on_disk == sorted(BY_FILE), "every header is listed in corpus.json, and every listed one is there"
    assert len(on_disk) >= 12
    assert len({e["maker"].split(" ")[0].split("-")[0] for e in ENTRIES}) >= 6
    assert all(e["repo"] and e["path"] and len(e["commit"]) == 40 and e["licence"] for e in ENTRIES)
    assert max(p.stat().st_size for p in CORPUS.iterdir()) < 1 << 20


@pytest.mark.parametrize("name", [e["file"] for e in ENTRIES if "shape" in e["expect"]])
def test_a_real_header_is_read_right(real_header, name):
    hdr, written = real_header(name)
    expect = BY_FILE[name]["expect"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no library warning reaches the user (spectral's capitalised keys)
        cube = read_cube(hdr)
    assert list(cube.shape) == expect["shape"]
    values = np.asarray(cube.data)
    meta = read_header(hdr)[0]
    if "reflectance scale factor" in meta:  # napari-hippo's uint16 × 65535 with 0 as "no data"
        scale, ignore = float(meta["reflectance scale factor"]), float(meta["data ignore value"])
        expected = np.where(written == ignore, np.nan, written / scale)
        np.testing.assert_allclose(values, expected, rtol=1e-6)
    else:
        np.testing.assert_array_equal(values, written)
    for field in ("wavelengths_nm", "fwhm_nm"):
        got = getattr(cube, field)
        if expect[field] is None:
            assert got is None, field
        else:
            assert got.size == expect["shape"][0]
            np.testing.assert_allclose([got.min(), got.max()], expect[field], rtol=1e-9)
    if "note" in expect:
        assert any(expect["note"] in n for n in cube.notes), cube.notes
    assert not any("byte-swapped" in n or "micrometres" in n for n in cube.notes), cube.notes


@pytest.mark.parametrize("name", [e["file"] for e in ENTRIES if "refused" in e["expect"]])
def test_an_unreadable_real_header_is_refused_in_one_line(real_header, name):
    hdr, _ = real_header(name)
    with pytest.raises(CubeReadError) as info:
        read_cube(hdr)
    message = str(info.value)
    assert "\n" not in message and name in message
    assert BY_FILE[name]["expect"]["refused"] in message


@pytest.mark.parametrize("name", [e["file"] for e in ENTRIES if not e["file"].startswith("arcgis")])
def test_the_header_parser_agrees_with_spectral(name):
    """Tolerant decoding must not change what a UTF-8 header says: same fields, values, lists as spectral."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = spy_envi.read_envi_header(str(CORPUS / name))
    ours, notes = read_header(CORPUS / name)
    assert ours == theirs and notes == []


def test_fenix_fwhm_are_nanometres_like_its_wavelengths(real_header):
    """No 'wavelength units' line: the wavelengths (377-2504) say nm, so the fwhm (1.68-5.63) are nm too."""
    cube = read_cube(real_header("specim_fenix_radiometric.hdr")[0])
    assert cube.fwhm_nm.min() > 1.6 and cube.fwhm_nm.max() < 6.0
    assert np.all(cube.fwhm_nm < np.diff(cube.wavelengths_nm).max() * 2)
    assert cube.notes == []


def test_spectral_still_reads_every_header_the_same_way(tmp_path):
    """parse_fields follows spectral's rules, including ';' lines inside a list and a brace on its own line."""
    lines = ["description = {", "two, words}", "wavelength = {", "; a comment", "1,", "2", "}", "Start Time = 3"]
    (tmp_path / "h.hdr").write_text("ENVI\n" + "\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = spy_envi.read_envi_header(str(tmp_path / "h.hdr"))
    assert parse_fields(lines, tmp_path / "h.hdr") == theirs
