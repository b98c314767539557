"""`napari-focus info`: JSON on success; a one-line reason and a non-zero exit on failure."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import spectral.io.envi as envi

CLI = [sys.executable, "-m", "napari_focus.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_info_envi(tmp_path, cube_chw, wavelengths):
    hdr = tmp_path / "c.hdr"
    envi.save_image(str(hdr), np.transpose(cube_chw, (1, 2, 0)), interleave="bip", force=True, ext=".img",
                    metadata={"wavelength": list(wavelengths), "wavelength units": "nm"})
    res = run("info", str(hdr))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["format"] == "envi" and out["shape"] == list(cube_chw.shape) and out["dtype"] == "float32"
    assert out["interleave"] == "bip"
    np.testing.assert_allclose(out["wavelengths_nm"], wavelengths, atol=1e-3)


def test_info_without_wavelengths(tmp_path, cube_chw):
    np.save(tmp_path / "c.npy", cube_chw)
    out = json.loads(run("info", str(tmp_path / "c.npy")).stdout)
    assert out["wavelengths_nm"] is None and out["shape"] == list(cube_chw.shape)


def test_info_on_a_real_fenix_header_is_quiet_and_in_nanometres(tmp_path):
    """Specim's Lumo writes capitalised keys (spectral warned on stderr) and fwhm without units (read as µm)."""
    src = Path(__file__).parent / "data" / "real_headers" / "specim_fenix_radiometric.hdr"
    hdr = Path(shutil.copy(src, tmp_path))
    np.zeros((1, 624, 384), "<f4").tofile(hdr.with_suffix(".dat"))
    res = run("info", str(hdr))
    assert res.returncode == 0 and res.stderr == "", res.stderr
    out = json.loads(res.stdout)
    assert out["shape"] == [624, 1, 384] and "notes" not in out
    assert min(out["fwhm_nm"]) == 1.68 and max(out["fwhm_nm"]) == 5.63


def test_info_refuses_identical_wavelengths(tmp_path, cube_chw):
    hdr = tmp_path / "c.hdr"
    envi.save_image(str(hdr), np.transpose(cube_chw, (1, 2, 0)), force=True, ext=".img",
                    metadata={"wavelength": [500.0] * 12, "wavelength units": "nm"})
    res = run("info", str(hdr))
    assert res.returncode == 2 and "c.hdr: wavelengths must be distinct, but 12 of 12 bands" in res.stderr


def test_info_bad_file_one_line(tmp_path):
    bad = tmp_path / "bad.hdr"
    bad.write_text("nonsense")
    res = run("info", str(bad))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.hdr" in lines[0] and lines[0].startswith("napari-focus: error:")
    assert "Traceback" not in res.stderr


def test_no_command_prints_help():
    res = run()
    assert res.returncode == 2 and "info" in res.stdout
