"""User-facing error types.

Every failure a user can cause (a bad file, a wrong model folder, a bad argument) is raised as one
of these with a one-line message that names the file and the problem, so the CLI can print it and
exit non-zero and the napari layer can show it as a notification instead of a traceback.
"""

from __future__ import annotations


class FocusError(Exception):
    """Base class of every error napari-focus reports to a user."""


class CubeReadError(FocusError):
    """A file that this plugin claims could not be read as a hyperspectral cube."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CheckpointError(FocusError):
    """A model folder is not a valid, trusted FOCUS checkpoint."""


class Cancelled(FocusError):
    """The user cancelled a running job; nothing it made is kept."""


class InputRefused(FocusError):
    """A cube that was read but is no input a model can be trusted on: raw counts, values that are not
    reflectance, a constant or empty frame, a frame too small or a single scan line (`input_check`)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
