"""napari-focus: explain hyperspectral Vision Transformers in space and wavelength.

Importing the package is cheap: it loads neither Qt, napari nor torch. Use
`napari_focus.cube_io.read_cube` to read a cube and `napari_focus.focus` for the model.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
