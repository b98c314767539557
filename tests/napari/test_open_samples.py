"""File > Open Sample: each simulated leaf loads with wavelengths and its ground-truth masks."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("key,mask,max_nm", [("bls_vnir204", "lesions (ground truth)", 1000),
                                             ("bls_vswir200", "lesions (ground truth)", 2500),
                                             ("genotypes_vnir204", "genotypes (ground truth)", 1000)])
def test_open_sample(make_napari_viewer, key, mask, max_nm):
    viewer = make_napari_viewer()
    layers = viewer.open_sample("napari-focus", key)
    cube = viewer.layers[key]
    c, h, w = cube.data.shape
    assert c in (200, 204) and h >= 64 and w >= 64
    wl = np.asarray(cube.metadata["wavelengths_nm"])
    assert wl.size == c and wl[0] == pytest.approx(400, abs=5) and wl[-1] == pytest.approx(max_nm, abs=5)
    reflectance = np.asarray(cube.data[c // 2])
    assert np.nanmin(reflectance) >= 0 and np.nanmax(reflectance) < 1.0  # scaled to reflectance
    labels = viewer.layers[f"{key} · {mask}"]
    assert labels.data.shape == (h, w) and labels.data.max() >= 1 and labels.visible
    assert len(layers) >= 3
