"""PyQt6 is a supported binding: the napari GUI tests run again under it (PyQt5 stays the default).

`make test` builds the PyQt6 venv (a small overlay on .venv, scripts/overlay_venv.sh) and names its python in
NAPARI_FOCUS_PYQT6_PYTHON; there the test must run. A bare `pytest` uses .venv-pyqt6 when it exists.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUI_TESTS = ("tests/napari", "tests/_qt")
PYQT6_ENV = {"QT_API": "pyqt6", "PYTEST_QT_API": "pyqt6", "PYQTGRAPH_QT_LIB": "PyQt6", "QT_QPA_PLATFORM": "xcb"}


def _pyqt6_python() -> str:
    given = os.environ.get("NAPARI_FOCUS_PYQT6_PYTHON")
    if given:
        return given  # asked for: a missing venv fails below instead of skipping
    default = ROOT / ".venv-pyqt6" / "bin" / "python"
    if not default.exists():
        pytest.skip("no PyQt6 venv here: `make test` builds .venv-pyqt6")
    return str(default)


@pytest.mark.slow
def test_gui_tests_pass_under_pyqt6() -> None:
    python = _pyqt6_python()
    assert Path(python).exists(), f"{python} is missing: `make test` builds it"
    res = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *GUI_TESTS], cwd=ROOT,
                         env=os.environ | PYQT6_ENV, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert " passed" in res.stdout.splitlines()[-1]
