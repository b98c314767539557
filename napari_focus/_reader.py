"""npe2 reader: hyperspectral cubes → one (C, H, W) image layer (+ a hidden RGB composite).

Returns None for paths it does not claim (npe2 convention). For paths it claims but cannot read it
shows one notification naming the file and the problem and returns npe2's "nothing to add"
sentinel, so napari neither crashes nor shows a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cube_io import claims, read_cube
from .errors import FocusError
from .layers import cube_layer_data

PathOrPaths = str | os.PathLike | list


def get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list] | None:
    paths = path if isinstance(path, list) else [path]
    if not paths or not all(claims(p) for p in paths):
        return None
    return read_cubes


def read_cubes(path: PathOrPaths) -> list:
    from napari.utils.notifications import show_error, show_info

    paths = path if isinstance(path, list) else [path]
    layers: list[tuple] = []
    for p in paths:
        try:
            cube = read_cube(p)
            layers.extend(cube_layer_data(cube))
        except FocusError as exc:
            show_error(f"napari-focus could not open {Path(p).name}: {exc}")
            continue
        except Exception as exc:  # a reader must never take napari down
            show_error(f"napari-focus could not open {Path(p).name}: {type(exc).__name__}: {exc}")
            continue
        for note in cube.notes:
            show_info(f"{Path(p).name}: {note}")
    _install_band_label()
    return layers or [(None,)]


def _install_band_label() -> None:
    import napari

    from ._band_label import install_band_label

    install_band_label(napari.current_viewer())


def open_cube(viewer: Any, path: str | os.PathLike) -> list:
    """Open a cube into `viewer` through this plugin (used by the launcher and tests)."""
    return viewer.open(str(path), plugin="napari-focus")
