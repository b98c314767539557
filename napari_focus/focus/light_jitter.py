"""Training under jittered light (docs/method.md §3.7): each training leaf is seen under its own light level and
spectral tilt, the kind a reflectance calibration against another lamp leaves in the data.

Why: without it the embedded model read its class partly from the light's spectral slope across the near infrared,
so its class broke under a 10 % tilt and its faithful curve pointed away from the pigments. Varying the light per
leaf takes that cue away and leaves the ones that belong to the leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_focus.errors import FocusError
from napari_focus.light import tilt_ramp

if TYPE_CHECKING:
    import torch

#: the generator's seed is offset from the training seed so that the jitter and the batch order are not one stream
_SEED_OFFSET = 7919


@dataclass(frozen=True)
class LightJitter:
    """Light level drawn uniformly in [`lowest_level`, 1] and tilt uniformly in ±`tilt`, once per leaf.

    Once per leaf, not per epoch: the fast path caches each leaf's backbone keys and values once."""

    lowest_level: float = 0.6
    tilt: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.lowest_level <= 1:
            raise FocusError(f"light jitter: the lowest level must lie in (0, 1]; got {self.lowest_level}")
        if not 0 <= self.tilt < 1.5:
            raise FocusError(f"light jitter: the tilt must lie in [0, 1.5) (the light stays positive); got {self.tilt}")

    def factors(self, n: int, wavelengths_nm: Any, seed: int) -> torch.Tensor:
        """(n, C) float32 per-leaf, per-band light factors, the same for the same seed."""
        import torch  # here, so that the CLI checks its arguments before torch loads

        gen = torch.Generator().manual_seed(int(seed) + _SEED_OFFSET)
        tilt = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * self.tilt
        level = self.lowest_level + (1 - self.lowest_level) * torch.rand(n, generator=gen, dtype=torch.float64)
        ramp = torch.as_tensor(tilt_ramp(np.asarray(wavelengths_nm)))
        return (level[:, None] * (1 + tilt[:, None] * ramp[None])).float()

    def apply_(self, x: torch.Tensor, wavelengths_nm: Any, seed: int) -> torch.Tensor:
        """Scale `x` (n, C, H, W) in place by each leaf's light; returns it."""
        wl = np.arange(x.shape[1]) if wavelengths_nm is None else wavelengths_nm  # no wavelengths: band positions
        f = self.factors(len(x), wl, seed).to(x.device, x.dtype)
        return x.mul_(f[:, :, None, None])

    @classmethod
    def from_options(cls, lowest_level: float | None, tilt: float | None) -> LightJitter | None:
        """The jitter two optional settings ask for (a missing one: no change of that kind); None when neither is
        given, so that the CLI and the benchmark's recipes read their options one way."""
        if lowest_level is None and tilt is None:
            return None
        return cls(1.0 if lowest_level is None else lowest_level, tilt or 0.0)

    def to_dict(self) -> dict[str, float]:
        return {"lowest_level": self.lowest_level, "tilt": self.tilt}
