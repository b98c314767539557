"""The package installs as a napari plugin: light imports, a manifest that ships, data inside the wheel."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_is_spdx_and_its_text_ships():
    assert PROJECT["license"] == "BSD-3-Clause"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "Neither the name of the copyright holder" in text
    # PEP 639: an SPDX expression replaces the License :: classifiers (PyPI refuses both)
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])


def test_hub_metadata_points_at_one_repository():
    """The hub, PyPI, the citation and the README's Issues link must not drift apart."""
    urls = PROJECT["urls"]
    repo = urls["Source Code"]
    assert urls["Bug Tracker"] == urls["User Support"] == f"{repo}/issues"
    assert urls["Documentation"].startswith(repo)
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["repository-code"] == repo
    assert citation["version"] == PROJECT["version"]
    assert f"[file an issue]: {repo}/issues" in (ROOT / "README.md").read_text()
    assert "Framework :: napari" in PROJECT["classifiers"]


def test_citation_cites_the_focus_paper():
    paper = yaml.safe_load((ROOT / "CITATION.cff").read_text())["preferred-citation"]
    assert paper["title"] == "FOCUS: Fused Observation of Channels for Unveiling Spectra"
    assert paper["authors"][0]["family-names"] == "Xiao"
    assert {i["value"] for i in paper["identifiers"]} >= {"arXiv:2507.14787", "10.48550/arXiv.2507.14787"}


def test_declared_python_matches_the_classifiers():
    """requires-python and the Python classifiers state the same, tested, versions."""
    low = re.fullmatch(r">=3\.(\d+)", PROJECT["requires-python"])
    assert low, PROJECT["requires-python"]
    minors = sorted(int(c.rsplit(".", 1)[1]) for c in PROJECT["classifiers"]
                    if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    assert minors and minors[0] == int(low.group(1))
    assert sys.version_info >= (3, minors[0])


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


def test_manifest_ships_as_a_file_and_the_top_level_copy_matches():
    """The package holds the real manifest (a symlink breaks Windows checkouts); the top-level copy says the same."""
    packaged = ROOT / "napari_focus" / "napari.yaml"
    assert packaged.is_file() and not packaged.is_symlink()
    top = ROOT / "napari.yaml"
    assert not top.is_symlink()
    header, _, body = top.read_text().partition("\nname: ")
    assert all(line.startswith("#") for line in header.splitlines())
    assert "name: " + body == packaged.read_text(), "copy napari_focus/napari.yaml over napari.yaml (after its header)"


@pytest.mark.slow
def test_wheel_ships_manifest_model_and_samples(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not available")
    res = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation",
                          "--outdir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    with tarfile.open(next(tmp_path.glob("napari_focus-*.tar.gz"))) as sdist:
        members = sdist.getmembers()
    assert not [m.name for m in members if m.issym() or m.islnk()]  # links break Windows checkouts and unpacks
    assert {m.name.split("/", 1)[1] for m in members if m.isfile()} >= {"napari.yaml", "napari_focus/napari.yaml",
                                                                         "LICENSE", "CITATION.cff"}
    wheel = next(tmp_path.glob("napari_focus-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        manifest_text = zf.read("napari_focus/napari.yaml").decode()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: BSD-3-Clause" in metadata and "Requires-Python: >=3.11" in metadata
    assert "Project-URL: Source Code, https://" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
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


def test_lowest_napari_tested_is_the_declared_lower_bound():
    """`make test-napari-min` installs requirements/napari-min.txt: its napari is the one pyproject.toml promises."""
    declared = next(d for d in PROJECT["dependencies"] if re.match(r"napari\b", d))
    pinned = next(line for line in (ROOT / "requirements" / "napari-min.txt").read_text().splitlines()
                  if line.startswith("napari=="))
    assert declared.replace(">=", "==") == pinned


def test_overlay_venv_sees_the_base_and_shadows_it(tmp_path):
    """scripts/overlay_venv.sh: the overlay imports the base venv's packages, its own come first."""
    overlay = tmp_path / "overlay"
    base = Path(sys.prefix)
    res = subprocess.run(["bash", str(ROOT / "scripts" / "overlay_venv.sh"), str(base), str(overlay)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    python = str(overlay / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "yaml.py").write_text("SHADOW = True\n")
    code = "import yaml, numpy, sys; print(getattr(yaml, 'SHADOW', False), sys.prefix)"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", str(overlay)]
