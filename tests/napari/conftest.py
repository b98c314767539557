from __future__ import annotations

import numpy as np
import pytest
import spectral.io.envi as envi


@pytest.fixture
def envi_cube(tmp_path, cube_chw, wavelengths):
    """An ENVI cube on disk (header path) with wavelengths in micrometres, as many cameras write them."""
    hdr = tmp_path / "leaf.hdr"
    envi.save_image(str(hdr), np.transpose(cube_chw, (1, 2, 0)), interleave="bil", force=True, ext=".img",
                    metadata={"wavelength": list(wavelengths / 1000), "wavelength units": "Micrometers"})
    return hdr


@pytest.fixture
def notifications():
    """Collect napari notifications dispatched during a test."""
    from napari.utils.notifications import notification_manager

    seen: list = []
    notification_manager.notification_ready.connect(seen.append)
    yield seen
    notification_manager.notification_ready.disconnect(seen.append)
