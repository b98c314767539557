"""Opening a large ENVI cube lazily reads nothing whole (issue 9): dask 2026 copies `from_array` inputs that
have a `.copy()`, which once read a whole memory-mapped scan into memory on open."""

import tracemalloc

import numpy as np

from napari_focus.cube_io import envi, read_cube


def test_lazy_envi_open_does_not_copy_the_cube(tmp_path, monkeypatch):
    import spectral.io.envi as sp

    c, h, w = 16, 512, 512  # 8 MiB of uint16, read lazily because EAGER_BYTES is lowered below it
    img = sp.create_image(str(tmp_path / "scan.hdr"), shape=(h, w, c), dtype=np.uint16, interleave="bil",
                          metadata={"reflectance scale factor": 10000, "wavelength": list(np.linspace(400, 900, c))},
                          force=True, ext=".img")
    mm = img.open_memmap(writable=True)
    mm[:] = np.arange(c, dtype=np.uint16)[None, None] * 100 + 1
    del mm, img
    monkeypatch.setattr(envi, "EAGER_BYTES", 1024)
    read_cube(tmp_path / "scan.hdr")  # first read imports dask and spectral's parsers: not what is measured
    tracemalloc.start()
    cube = read_cube(tmp_path / "scan.hdr")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert hasattr(cube.data, "dask") and cube.data.chunks[0] == (1,) * c
    assert peak < c * h * w * 2, peak  # less than one copy of the cube (the open-time value check samples it)
    band = np.asarray(cube.data[5])
    assert band.shape == (h, w) and np.allclose(band, 501 / 10000)
