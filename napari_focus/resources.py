"""Where the shipped artefacts live, in an editable checkout or an installed wheel.

The repository keeps `model/` and `sample_data/` at its top level; the wheel maps them to
`napari_focus/_data/`. Both layouts are searched, the wheel's first.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder of a shipped artefact: ``"model"`` or ``"sample_data"``."""
    for cand in (_PKG / "_data" / name, _PKG.parent / name):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"napari-focus: shipped folder {name!r} not found next to {_PKG}")


def model_dir() -> Path:
    return data_dir("model")


def sample_data_dir() -> Path:
    return data_dir("sample_data")
