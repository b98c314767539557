"""The input check on files built to reproduce each case: raw counts, reflectance × 10 000, values that are not
reflectance, blank, tiny and line-scan frames; a large cube is only sampled; refusals come before torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import spectral.io.envi as envi

from napari_focus.cube import Cube
from napari_focus.cube_io import read_cube, write_envi
from napari_focus.errors import InputRefused
from napari_focus.input_check import check_input, input_notes

ROOT = Path(__file__).resolve().parents[1]
WL = np.linspace(400.0, 1000.0, 12)  # the tiny checkpoint's bands: red at 673 nm, NIR at 782 nm


def leaf_reflectance(h: int = 24, w: int = 24, wl: np.ndarray = WL, seed: int = 0) -> np.ndarray:
    """(C, H, W) reflectance: an elliptic leaf (red 0.05, NIR 0.5) on a dark tray, with noise."""
    yy, xx = np.mgrid[:h, :w]
    leaf = ((yy - h / 2) / (0.4 * h)) ** 2 + ((xx - w / 2) / (0.3 * w)) ** 2 <= 1
    spectrum = 0.05 + 0.45 / (1 + np.exp(-(wl - 715) / 15))
    tray = np.full(wl.size, 0.03)
    cube = np.where(leaf[None], spectrum[:, None, None], tray[:, None, None])
    cube = cube + np.random.default_rng(seed).normal(0, 0.003, cube.shape)
    return np.clip(cube, 0, None).astype(np.float32)


def raw_counts(refl: np.ndarray, wl: np.ndarray = WL) -> np.ndarray:
    """What a camera records of that scene: reflectance × light × sensor response, plus a dark offset (12-bit)."""
    response = np.exp(-0.5 * ((wl - 600) / 150) ** 2)
    return np.clip(refl * response[:, None, None] * 2800 + 60, 0, 4095).astype(np.uint16)


def envi_file(path: Path, data: np.ndarray, wl: np.ndarray | None = WL, **meta: object) -> Path:
    """An ENVI cube (BSQ) as a camera or a tool would write it, without a reflectance scale factor."""
    return write_envi(path, data, wavelengths_nm=wl, metadata=meta or None)


def refused(cube: Cube, name: str = "c.hdr") -> str:
    with pytest.raises(InputRefused) as info:
        check_input(cube, name)
    msg = str(info.value)
    assert msg.startswith(f"{name}: ") and "\n" not in msg
    return msg


# ---------------------------------------------------------------- raw counts and reflectance × 10 000
def test_raw_counts_are_refused_and_named(tmp_path):
    hdr = envi_file(tmp_path / "raw.hdr", raw_counts(leaf_reflectance()))
    cube = read_cube(hdr)
    assert cube.data.dtype == np.uint16
    msg = refused(cube, str(hdr))
    assert "raw counts, not reflectance" in msg and "uint16" in msg and "no reflectance scale factor" in msg
    assert "do not look like vegetation" in msg and "reflectance scale factor = N" in msg


def test_raw_counts_beside_references_point_to_the_calibration(tmp_path):
    refl = leaf_reflectance()
    hdr = envi_file(tmp_path / "scan.hdr", raw_counts(refl))
    white = envi_file(tmp_path / "white_ref.hdr", raw_counts(np.full((12, 3, 24), 0.98, np.float32)))
    dark = envi_file(tmp_path / "dark_ref.hdr", np.full((12, 3, 24), 60, np.uint16))
    msg = refused(read_cube(hdr), str(hdr))
    assert f"--white {white} --dark {dark}" in msg and "WHITEREF_<name>.hdr" in msg
    calibrated = check_input(read_cube(hdr, white=white, dark=dark), str(hdr))  # what the message offers
    leaf = np.asarray(calibrated.data)
    assert input_notes(calibrated) == [] and np.allclose(leaf, refl, atol=0.02)


def test_reflectance_times_10000_is_read_as_reflectance_with_a_note(tmp_path):
    refl = leaf_reflectance()
    hdr = envi_file(tmp_path / "x10k.hdr", np.rint(refl * 10_000).astype(np.uint16))
    cube = read_cube(hdr)
    checked = check_input(cube, str(hdr))
    notes = input_notes(checked)
    assert len(notes) == 1 and "reflectance × 10 000" in notes[0] and "divided by 10 000" in notes[0]
    np.testing.assert_allclose(np.asarray(checked.data), refl, atol=1e-4)
    assert cube.data.dtype == np.uint16 and "input_check" not in cube.metadata  # the caller's cube is unchanged
    assert check_input(checked) is checked  # checked once


def test_reflectance_times_10000_needs_red_and_nir_to_be_told_from_counts(tmp_path):
    wl = np.linspace(400.0, 600.0, 12)  # no red, no NIR: cannot look for vegetation
    cube = Cube(np.rint(leaf_reflectance(wl=wl) * 10_000).astype(np.uint16), wavelengths_nm=wl)
    assert "without red and NIR bands" in refused(cube)


def test_counts_above_10000_are_counts(tmp_path):
    cube = Cube((leaf_reflectance() * 40_000).astype(np.uint16), wavelengths_nm=WL)
    msg = refused(cube)
    assert "raw counts" in msg and "above reflectance × 10 000" in msg and "byte order" in msg


def test_integral_floats_are_counts_too():
    """int16 × 10⁴ products with a `data ignore value` come out of the reader as float32 whole numbers."""
    checked = check_input(Cube(np.rint(leaf_reflectance() * 10_000), wavelengths_nm=WL))
    assert "reflectance × 10 000" in input_notes(checked)[0]
    assert "raw counts" in refused(Cube(raw_counts(leaf_reflectance()).astype(np.float32), wavelengths_nm=WL))


# ---------------------------------------------------------------- values that are not reflectance
def test_wrong_byte_order_is_refused(tmp_path):
    """A big-endian float file whose header says little-endian: values up to 1e38, tiny ones, negatives."""
    refl = leaf_reflectance()
    hdr = tmp_path / "swapped.hdr"
    envi.save_image(str(hdr), np.transpose(refl, (1, 2, 0)), interleave="bsq", byteorder=1, force=True, ext=".img",
                    metadata={"wavelength": list(WL)})
    hdr.write_text(hdr.read_text().replace("byte order = 1", "byte order = 0"))
    msg = refused(read_cube(hdr), str(hdr))
    assert "not reflectance" in msg and "wrong byte order" in msg


@pytest.mark.parametrize(("data", "why"), [
    (leaf_reflectance() * 100, "reflectance in percent"),
    (leaf_reflectance() * 13, "a wrong byte order or a missing reflectance scale factor"),  # up to 6.5
    (-leaf_reflectance() - 0.6, "negative values"),
])
def test_values_that_are_not_reflectance_are_refused(data, why):
    assert why in refused(Cube(data.astype(np.float32), wavelengths_nm=WL))


def test_a_few_outliers_are_a_note_not_a_refusal():
    data = leaf_reflectance()
    data[:, 0, :3] = 6.5  # a few hot pixels
    checked = check_input(Cube(data, wavelengths_nm=WL))
    assert len(input_notes(checked)) == 1 and "explained as they are" in input_notes(checked)[0]
    assert checked.data is data


def test_a_cube_without_vegetation_is_explained_with_a_note_that_its_class_means_nothing():
    rng = np.random.default_rng(3)
    rock = (0.25 + 0.0003 * (WL - 400)[:, None, None] + rng.normal(0, 0.004, (WL.size, 24, 24))).astype(np.float32)
    panel = np.full((WL.size, 24, 24), 0.97, np.float32) + rng.normal(0, 0.003, (WL.size, 24, 24)).astype(np.float32)
    for data in (rock, panel):
        notes = input_notes(check_input(Cube(data, wavelengths_nm=WL)))
        assert len(notes) == 1 and "no pixel looks like a leaf" in notes[0] and "means nothing" in notes[0]
    assert input_notes(check_input(Cube(leaf_reflectance(), wavelengths_nm=WL))) == []  # a leaf: no note
    no_ndvi = Cube(rock[:4], wavelengths_nm=WL[:4])  # 400–564 nm: no red and NIR to tell
    assert input_notes(check_input(no_ndvi)) == []


# ---------------------------------------------------------------- blank, tiny and line-scan frames
@pytest.mark.parametrize(("shape", "value", "why"), [
    ((12, 16, 16), 0.0, "every value is 0: an empty (all-zero) frame"),
    ((12, 16, 16), 0.3, "every value is 0.3: a constant frame"),
    ((12, 16, 16), np.nan, "no finite values"),
])
def test_blank_frames_are_refused(shape, value, why):
    assert why in refused(Cube(np.full(shape, value, np.float32), wavelengths_nm=WL))


def test_an_all_zero_file_is_refused(tmp_path):
    hdr = envi_file(tmp_path / "zeros.hdr", np.zeros((12, 16, 16), np.uint16))
    assert "all-zero" in refused(read_cube(hdr), str(hdr))


@pytest.mark.parametrize(("h", "w", "why"), [
    (2, 2, "2 × 2 pixels is too small"),
    (1, 384, "one line of a line-scan (push-broom) camera"),
    (1024, 1, "one line of a line-scan (push-broom) camera"),
    (3, 3, "too small"),
])
def test_tiny_and_line_scan_frames_are_refused(tmp_path, h, w, why):
    hdr = envi_file(tmp_path / "frame.hdr", leaf_reflectance(h, w))
    assert why in refused(read_cube(hdr), str(hdr))


def test_the_smallest_frame_passes():
    checked = check_input(Cube(leaf_reflectance(4, 4), wavelengths_nm=WL))
    assert input_notes(checked) == []


# ---------------------------------------------------------------- cost: a large cube is sampled, never read whole
class _Counting:
    """A (C, H, W) array that counts the values read through it (as a memory map's pages would be)."""

    def __init__(self, data: np.ndarray) -> None:
        self._data, self.shape, self.ndim, self.dtype = data, data.shape, data.ndim, data.dtype
        self.read = 0

    def __getitem__(self, key):
        out = self._data[key]
        self.read += np.size(out)
        return out


def test_a_large_cube_is_sampled_not_read_whole():
    from napari_focus.cube_io.envi import lazy_bands

    refl = leaf_reflectance(512, 512)
    counting = _Counting(np.rint(refl * 10_000).astype(np.uint16))
    cube = Cube(lazy_bands(counting), wavelengths_nm=WL)  # how the reader serves a memory-mapped scan
    checked = check_input(cube)
    assert "reflectance × 10 000" in input_notes(checked)[0]
    assert counting.read < 0.15 * refl.size, counting.read  # the sample and a few bands of a strided view
    assert hasattr(checked.data, "dask")  # divided lazily: still nothing read beyond the check
    np.testing.assert_allclose(np.asarray(checked.data[:, 100:110, 200:210]), refl[:, 100:110, 200:210], atol=1e-4)
    counting.read = 0
    check_input(Cube(lazy_bands(counting), wavelengths_nm=WL))
    assert counting.read < 0.15 * refl.size


def test_a_memory_map_is_divided_lazily(tmp_path):
    refl = leaf_reflectance(64, 64)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint16, shape=refl.shape)
    mm[:] = np.rint(refl * 10_000)
    mm.flush()
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    checked = check_input(Cube(ro, wavelengths_nm=WL))
    assert hasattr(checked.data, "dask")
    np.testing.assert_allclose(np.asarray(checked.data), refl, atol=1e-4)


# ---------------------------------------------------------------- the CLI: exit 2, one line, before torch
def in_subprocess(argv: list[str]) -> subprocess.CompletedProcess:
    code = ("import sys; from napari_focus.cli import main; rc = main(sys.argv[1:]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_cli_refuses_raw_counts_in_one_line_before_torch(tmp_path):
    hdr = envi_file(tmp_path / "raw.hdr", raw_counts(leaf_reflectance()))
    res = in_subprocess(["explain", str(hdr), "--out", str(tmp_path / "out")])
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert lines[-1] == "NO-TORCH" and len(lines) == 2, res.stderr
    assert lines[0].startswith(f"napari-focus: error: {hdr}: raw counts, not reflectance")
    assert not (tmp_path / "out").exists()


def test_cli_explains_reflectance_times_10000_with_the_note(tmp_path, tiny_checkpoint, capsys):
    pytest.importorskip("torch")
    from napari_focus.cli import main

    hdr = envi_file(tmp_path / "x10k.hdr", np.rint(leaf_reflectance(32, 32) * 10_000).astype(np.uint16))
    assert main(["explain", str(hdr), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"napari-focus: note: {hdr}: read as reflectance × 10 000" in err
    notes = json.loads((tmp_path / "out" / "prediction.json").read_text())["notes"]
    assert notes[0].startswith("read as reflectance × 10 000")


def test_cli_calibrates_with_white_and_dark(tmp_path, tiny_checkpoint, capsys):
    pytest.importorskip("torch")
    from napari_focus.cli import main

    hdr = envi_file(tmp_path / "scan.hdr", raw_counts(leaf_reflectance(32, 32)))
    white = envi_file(tmp_path / "w.hdr", raw_counts(np.full((12, 3, 32), 0.98, np.float32)))
    dark = envi_file(tmp_path / "d.hdr", np.full((12, 3, 32), 60, np.uint16))
    argv = ["explain", str(hdr), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "out")]
    assert main(argv + ["--white", str(white)]) == 2  # the two go together
    assert "--white and --dark go together" in capsys.readouterr().err
    assert main(argv + ["--white", str(white), "--dark", str(dark)]) == 0
    notes = json.loads((tmp_path / "out" / "prediction.json").read_text())["notes"]
    assert not any("× 10 000" in n for n in notes)


def test_batch_refuses_bad_cubes_in_their_rows_and_loads_no_model_for_them(tmp_path, tiny_checkpoint, monkeypatch):
    pytest.importorskip("torch")
    import napari_focus.explain_job as ej
    from napari_focus.batch import make_job, run_batch

    loads = []
    real = ej.load_model
    monkeypatch.setattr(ej, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    cubes = tmp_path / "cubes"
    cubes.mkdir()
    envi_file(cubes / "a_raw.hdr", raw_counts(leaf_reflectance()))
    envi_file(cubes / "b_zero.hdr", np.zeros((12, 16, 16), np.float32))
    job = make_job(tiny_checkpoint)
    res = run_batch(cubes, tmp_path / "out", job)
    assert res["failed"] == 2 and res["explained"] == 0 and not loads  # refused before any model work
    summary = (tmp_path / "out" / "summary.csv").read_text()
    assert "raw counts, not reflectance" in summary and "all-zero" in summary
    envi_file(cubes / "c_leaf.hdr", leaf_reflectance())
    res = run_batch(cubes, tmp_path / "out", job)
    assert res["explained"] == 1 and len(loads) == 1


def test_reflectance_times_10000_with_fill_values_keeps_the_out_of_range_note():
    """An int16 × 10⁴ product whose no-data pixels hold −9999 (no `data ignore value` line): read ÷ 10 000, the
    fill values are out of range and said to be."""
    data = np.rint(leaf_reflectance() * 10_000).astype(np.int16)
    data[:, 0, :4] = -9999
    checked = check_input(Cube(data, wavelengths_nm=WL))
    notes = input_notes(checked)
    assert "reflectance × 10 000" in notes[0] and "outside -0.5…1.5 (from -1" in notes[1]
