"""The package installs as a napari plugin: light imports, a manifest that ships, data inside the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_core_imports_neither_qt_nor_torch():
    code = (
        "import sys, napari_focus, napari_focus._reader, napari_focus.cube_io, napari_focus.cli, "
        "napari_focus.dataset, napari_focus.metrics, napari_focus.vegetation\n"
        "heavy = sorted(m for m in ('torch', 'qtpy', 'PyQt5', 'PyQt6', 'PySide6', 'napari', 'timm', 'pyqtgraph') "
        "if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"heavy modules imported: {res.stdout}"


def test_manifest_is_valid_and_found_by_npe2():
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-focus")
    assert manifest.contributions.readers and manifest.contributions.writers
    assert (ROOT / "napari_focus" / "napari.yaml").resolve() == (ROOT / "napari.yaml").resolve()


@pytest.mark.slow
def test_wheel_ships_manifest_model_and_samples(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not available")
    res = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    wheel = next(tmp_path.glob("napari_focus-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        manifest_text = zf.read("napari_focus/napari.yaml").decode()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "name: napari-focus" in manifest_text and "napari-focus.get_reader" in manifest_text
    assert "napari_focus:napari.yaml" in entry_points
    assert any(n.startswith("napari_focus/_data/model/") for n in names)
    samples = {Path(n).name for n in names if n.startswith("napari_focus/_data/sample_data/")}
    expected = {p.name for p in (ROOT / "sample_data").iterdir() if p.is_file()}
    assert expected and expected <= samples
    # the manifest inside the wheel parses as an npe2 manifest
    from npe2 import PluginManifest

    (tmp_path / "napari.yaml").write_text(manifest_text)
    assert PluginManifest.from_file(tmp_path / "napari.yaml").name == "napari-focus"
