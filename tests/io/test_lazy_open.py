"""Opening a large ENVI cube lazily reads nothing whole: dask 2026 copies `from_array` inputs that
have a `.copy()`, which once read a whole memory-mapped scan into memory on open."""

import tracemalloc

import numpy as np
import pytest

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


def test_opening_a_scaled_scan_reads_samples_not_bands(tmp_path, monkeypatch):
    """Contrast limits come from a strided sample in reflectance units, and a lazy read fetches only the rows
    it asks for: the scale runs inside the memory-map read, so dask slices the file, not whole bands."""
    import spectral.io.envi as sp

    from napari_focus.layers import cube_layer_data, rgb_composite

    c, h, w = 16, 512, 512  # above the 2M values robust_limits samples
    img = sp.create_image(str(tmp_path / "scan.hdr"), shape=(h, w, c), dtype=np.uint16, interleave="bil",
                          metadata={"reflectance scale factor": 10000, "wavelength": list(np.linspace(400, 900, c))},
                          force=True, ext=".img")
    mm = img.open_memmap(writable=True)
    mm[:] = np.arange(c, dtype=np.uint16)[None, None] * 100 + 1  # reflectance 0.0001 ... 0.1501
    del mm, img
    monkeypatch.setattr(envi, "EAGER_BYTES", 1024)
    cube = read_cube(tmp_path / "scan.hdr")
    read = []
    plain = envi._Uncopied.__getitem__
    monkeypatch.setattr(envi._Uncopied, "__getitem__", lambda self, key: read.append(plain(self, key)) or read[-1])

    (data, kwargs, _), = cube_layer_data(cube, with_rgb=False)
    assert data is cube.data and hasattr(data, "dask")  # still lazy, still reflectance
    assert 0 < sum(r.size for r in read) <= c * h * w // 4  # every other band and row, not 8 whole bands
    rgb = rgb_composite(cube)
    assert hasattr(rgb, "dask") and rgb.shape == (h, w, 3)  # the hidden composite is read only when shown
    lo, hi = kwargs["contrast_limits"]
    assert 0 <= lo < hi <= 0.1501 and hi > 0.1, (lo, hi)  # reflectance, not raw counts
    read.clear()
    tile = np.asarray(data[:, 10:20, 30:40])
    assert sum(r.size for r in read) == c * 10 * 10 and np.allclose(tile[3], 301 / 10000)


def _sparse_envi(path, c, h, w, scale):
    """A sparse BIL uint16 file (only a few pages are ever written) with VNIR wavelengths."""
    wl = ", ".join(f"{x:.2f}" for x in np.linspace(400, 1000, c))
    path.with_suffix(".hdr").write_text(
        f"ENVI\nsamples = {w}\nlines = {h}\nbands = {c}\nheader offset = 0\ndata type = 12\ninterleave = bil\n"
        f"byte order = 0\nwavelength units = nm\nwavelength = {{{wl}}}\n"
        + (f"reflectance scale factor = {scale}\n" if scale else ""))
    with open(path.with_suffix(".img"), "wb") as f:
        f.truncate(c * h * w * 2)
        f.seek(0)  # row 0 of band 0 … 3 (BIL): something non-zero for the stretch to find
        f.write(np.full(4 * w, 500, np.uint16).tobytes())
    return path.with_suffix(".hdr")


@pytest.mark.parametrize("scale", [None, 10000], ids=["memory-mapped", "scaled (dask)"])
def test_composite_of_a_huge_scan_allocates_nothing_big(tmp_path, scale):
    """The reader's layers of a 6000²×204 scan (4.9 GB on disk, sparse): the cube stays a memory map or a dask
    array and the true-colour composite is lazy; three eager float32 bands would be 432 MB."""
    from napari_focus.layers import cube_layer_data

    hdr = _sparse_envi(tmp_path / "scan", 204, 6000, 6000, scale)
    cube = read_cube(hdr)
    tracemalloc.start()
    layers = cube_layer_data(cube)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64e6, peak  # the contrast limits' 2M-value samples (float64 copies), whatever the size
    (data, _, _), (rgb, kwargs, _) = layers
    assert data is cube.data and kwargs["rgb"] and hasattr(rgb, "dask") and rgb.shape == (6000, 6000, 3)
    corner = np.asarray(rgb[:2, :2])  # reading a window reads only its rows
    assert corner.dtype == np.float32 and (corner[1] == 0).all() and (corner[0] >= 0).all()
