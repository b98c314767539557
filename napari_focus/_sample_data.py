"""npe2 sample data: simulated leaves shipped in `sample_data/` (see its README for how they were made).

Each sample is an ENVI cube plus `<stem>_<what>.npy` masks; every mask becomes a Labels layer
(the lesion ground truth visible, the leaf mask hidden), aligned with the cube's spatial axes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cube_io import read_cube
from .layers import cube_layer_data
from .resources import sample_data_dir

MASK_NAMES = {"lesion": "lesions (ground truth)", "leaf": "leaf mask", "classes": "genotypes (ground truth)"}


def sample_layers(stem: str) -> list[tuple]:
    """Layer data for the sample cube `stem` and its masks."""
    folder = sample_data_dir()
    hdr = folder / f"{stem}.hdr"
    cube = read_cube(hdr)
    layers = cube_layer_data(cube, name=stem)
    for mask_path in sorted(folder.glob(f"{stem}_*.npy")):
        what = mask_path.stem[len(stem) + 1:]
        mask = np.load(mask_path, allow_pickle=False)
        if mask.ndim != 2 or mask.shape != cube.shape[1:]:
            continue
        layers.append((mask.astype(np.uint8 if mask.max() < 256 else np.int32),
                       {"name": f"{stem} · {MASK_NAMES.get(what, what)}", "visible": what != "leaf",
                        "opacity": 0.5, "metadata": {"source": str(mask_path)}}, "labels"))
    _install_band_label()
    return layers


def _install_band_label() -> None:
    import napari

    from ._band_label import install_band_label

    install_band_label(napari.current_viewer())


def bls_vnir204() -> list[tuple]:
    return sample_layers("bls_vnir204")


def bls_vswir200() -> list[tuple]:
    return sample_layers("bls_vswir200")


def genotypes_vnir204() -> list[tuple]:
    return sample_layers("genotypes_vnir204")


def sample_paths() -> list[Path]:
    return sorted(sample_data_dir().glob("*.hdr"))
