"""Capture conditions of simulated scenes beyond the leaf itself: lesion sizes and light.

Why: a model and its explanation should be checked on leaves made differently from the ones it was trained and
tuned on before anyone trusts them on a new camera or a new outbreak (docs/method.md §5). The defaults are the
training distribution, and they draw the same random numbers, so default datasets do not change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from napari_focus.errors import FocusError
from napari_focus.light import tilt_ramp
from napari_focus.simulate import tasks
from napari_focus.simulate.scene import LIGHT_LEVEL


@dataclass(frozen=True)
class Conditions:
    """How a scene is captured.

    `lesion_fraction`: the range of a diseased leaf's lesion area (a fraction of the leaf, drawn log-uniform).
    `light_level`: the range of the illumination level (1 = the white reference's light).
    `light_tilt`: the light's relative change from the first to the last band that the reflectance calibration
    left in the data (a lamp other than the white reference's; 0.3 = 30 % more light at the last band than at the
    first, linear in wavelength, 1 at the middle).
    `midrib_contrast`: the range of how much paler the midrib is than the blade, as a multiple of the default,
    drawn per leaf (0: a midrib like the blade; a single number: every leaf alike). Why: a paler midrib looks like
    a chlorotic halo in the visible and the red edge, so it decides where a model can find lesion-specific evidence,
    and species differ in it.
    """

    lesion_fraction: tuple[float, float] = tasks.LESION_FRACTION
    light_level: tuple[float, float] = LIGHT_LEVEL
    light_tilt: float = 0.0
    midrib_contrast: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        lo, hi = self.lesion_fraction
        if not 0 < lo <= hi < 1:
            raise FocusError(f"lesion fraction must satisfy 0 < low <= high < 1; got {lo}, {hi}")
        lo, hi = self.light_level
        if not 0 < lo <= hi <= 10:
            raise FocusError(f"light level must satisfy 0 < low <= high <= 10; got {lo}, {hi}")
        if not -1.5 < self.light_tilt < 1.5:
            raise FocusError(f"light tilt must lie between -1.5 and 1.5 (the light stays positive); got "
                             f"{self.light_tilt}")
        object.__setattr__(self, "midrib_contrast", _midrib_range(self.midrib_contrast))

    def draw_midrib_contrast(self, rng: np.random.Generator) -> float:
        """One leaf's midrib contrast. A range is drawn from a stream spawned off `rng`, which leaves `rng`'s own
        draws (background, light, noise) as they were; a fixed value draws nothing."""
        lo, hi = self.midrib_contrast
        return lo if lo == hi else float(rng.spawn(1)[0].uniform(lo, hi))

    def spectral_light(self, wavelengths_nm: np.ndarray) -> np.ndarray:
        """(C,) the light's relative level per band: 1 everywhere without tilt."""
        return (1.0 + self.light_tilt * tilt_ramp(wavelengths_nm)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """The record a dataset keeps; the midrib only when it is not the default (older records stay as they were)."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if self.midrib_contrast == (1.0, 1.0):
            del out["midrib_contrast"]
        return out


def _midrib_range(value: Any) -> tuple[float, float]:
    """(low, high) from one number or two; one clear FocusError line for anything else."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim > 1:
        raise FocusError(f"midrib contrast must be one number or two (low, high); got {value!r}")
    values = [float(v) for v in np.atleast_1d(arr)]
    if len(values) not in (1, 2):
        raise FocusError(f"midrib contrast must be one number or two (low, high); got {len(values)} numbers")
    lo, hi = (values[0], values[0]) if len(values) == 1 else values
    if not 0 <= lo <= hi <= 2:
        shown = f"{lo:g}" if len(values) == 1 else f"{lo:g}, {hi:g}"
        raise FocusError(f"midrib contrast must satisfy 0 <= low <= high <= 2 (1: the default midrib); got {shown}")
    return (lo + 0.0, hi + 0.0)  # + 0.0: no -0.0 in the records


DEFAULT = Conditions()
