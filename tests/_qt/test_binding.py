"""The GUI tests run on the Qt binding they were asked for (QT_API; PyQt5 by default), and on that one only."""

from __future__ import annotations

import os
import sys

BINDINGS = {"pyqt5": "PyQt5", "pyqt6": "PyQt6", "pyside2": "PySide2", "pyside6": "PySide6"}


def test_the_binding_asked_for_is_the_only_one_loaded(make_napari_viewer) -> None:
    import qtpy

    make_napari_viewer()  # napari, vispy and the plugin's Qt imports are all in
    import napari_focus._qt.spectral_plot  # noqa: F401  (pyqtgraph picks its binding on import)

    want = BINDINGS[os.environ.get("QT_API", "pyqt5").lower()]
    assert want == qtpy.API_NAME
    assert not [m for m in BINDINGS.values() if m != want and m in sys.modules]
