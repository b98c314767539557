"""The reader as a user meets it: File > Open through the manifest, bad files, the band label."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from napari_focus._band_label import text_overlay, update_band_label


def test_open_through_manifest(make_napari_viewer, envi_cube, cube_chw, wavelengths):
    viewer = make_napari_viewer()
    layers = viewer.open(str(envi_cube), plugin="napari-focus")
    cube = layers[0]
    assert cube.name == "leaf" and cube.data.shape == cube_chw.shape
    np.testing.assert_allclose(cube.metadata["wavelengths_nm"], wavelengths)
    np.testing.assert_array_equal(np.asarray(cube.data), cube_chw)
    assert tuple(cube.axis_labels) == ("band", "y", "x")
    lo, hi = cube.contrast_limits
    assert cube_chw.min() - 1e-6 <= lo < hi <= cube_chw.max() + 1e-6
    rgb = viewer.layers["leaf · RGB"]
    assert rgb.rgb and not rgb.visible and rgb.data.shape == (9, 7, 3)
    # the band slider (first axis) scrubs bands, and the label follows it
    viewer.dims.set_current_step(0, 5)
    assert text_overlay(viewer).visible
    assert text_overlay(viewer).text == f"band 5 · {wavelengths[5]:.1f} nm"


def test_band_label_without_wavelengths(make_napari_viewer, tmp_path, cube_chw):
    np.save(tmp_path / "anon.npy", np.concatenate([cube_chw] * 3))  # 36 bands: enough to be a cube without them
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "anon.npy"), plugin="napari-focus")
    viewer.dims.set_current_step(0, 2)
    assert update_band_label(viewer) == "band 2"
    assert "wavelengths_nm" not in viewer.layers["anon"].metadata


@pytest.mark.parametrize("problem", ["truncated", "no_data", "garbage", "two_d"])
def test_bad_file_gives_one_clear_notification(make_napari_viewer, tmp_path, envi_cube, notifications, problem):
    viewer = make_napari_viewer()
    path = envi_cube
    if problem == "truncated":
        img = envi_cube.with_suffix(".img")
        img.write_bytes(img.read_bytes()[:10])
    elif problem == "no_data":
        envi_cube.with_suffix(".img").unlink()
    elif problem == "garbage":
        path = tmp_path / "photo.npy"
        path.write_text("not numpy")
    else:  # a 2-D TIFF or .npy is left to napari's own reader; a 2-D HDF5 is claimed and refused clearly
        path = tmp_path / "flat.h5"
        with h5py.File(path, "w") as f:
            f["data"] = np.zeros((4, 4))
    viewer.open(str(path), plugin="napari-focus")  # must not raise
    assert len(viewer.layers) == 0
    errors = [n for n in notifications if n.severity == "error"]
    assert len(errors) == 1
    assert path.name in errors[0].message and "napari-focus could not open" in errors[0].message
    assert "Traceback" not in errors[0].message


def test_reader_refuses_what_it_does_not_claim(tmp_path):
    from napari_focus._reader import get_reader

    (tmp_path / "a.png").write_bytes(b"x")
    assert get_reader(str(tmp_path / "a.png")) is None
    assert get_reader([str(tmp_path / "a.png")]) is None
    assert get_reader(str(tmp_path / "a.hdr")) is not None


def test_writer_roundtrip(make_napari_viewer, tmp_path, envi_cube, cube_chw, wavelengths):
    import spectral

    viewer = make_napari_viewer()
    viewer.open(str(envi_cube), plugin="napari-focus")
    out = tmp_path / "saved.hdr"
    written = viewer.layers["leaf"].save(str(out), plugin="napari-focus")
    assert written and out.is_file()
    img = spectral.open_image(str(out))
    np.testing.assert_array_equal(img.load().transpose(2, 0, 1), cube_chw)
    np.testing.assert_allclose(img.bands.centers, wavelengths, rtol=1e-6)
    back = viewer.open(str(out), plugin="napari-focus")[0]
    np.testing.assert_allclose(back.metadata["wavelengths_nm"], wavelengths, rtol=1e-6)


def test_screenshot_shows_the_displayed_band(make_napari_viewer, tmp_path):
    """The rendered canvas must correlate with the band on the slider, not just be non-blank."""
    from scipy.ndimage import gaussian_filter
    from skimage.transform import resize

    rng = np.random.default_rng(3)
    c, h, w = 6, 48, 64  # independent smooth fields: each band looks unlike every other band
    cube = np.stack([gaussian_filter(rng.standard_normal((h, w)), 3) for _ in range(c)]).astype(np.float32)
    np.save(tmp_path / "pattern.npy", cube)
    np.savetxt(tmp_path / "pattern.wavelengths.txt", np.linspace(450.0, 900.0, c))  # 6 planes: a cube by its sidecar
    viewer = make_napari_viewer(show=True)
    layer = viewer.open(str(tmp_path / "pattern.npy"), plugin="napari-focus")[0]
    lo, hi = float(cube.min()), float(cube.max())
    layer.contrast_limits = (lo - (hi - lo), hi)  # data maps to mid-grey..white: never the black background
    for band in (1, 4):
        viewer.dims.set_current_step(0, band)
        text_overlay(viewer).visible = False  # the band label would sit inside the crop
        viewer.reset_view()
        grey = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(float).mean(axis=-1)
        ys, xs = np.nonzero(grey > 60)
        crop = grey[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
        small = resize(crop, (h, w), anti_aliasing=True)
        corr = [np.corrcoef(small.ravel(), p.ravel())[0, 1] for p in cube]
        assert int(np.argmax(corr)) == band, corr
        runner_up = max(v for i, v in enumerate(corr) if i != band)
        assert corr[band] > 0.9 and corr[band] - runner_up > 0.5, corr


def test_ordinary_pictures_open_with_napari_own_reader(make_napari_viewer, tmp_path):
    """With the plugin installed, a photo, a z-stack or a 2-D array opens as napari would open it, no question asked."""
    import tifffile

    tifffile.imwrite(tmp_path / "photo.tif", np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((30, 16, 16), np.uint16), imagej=True, metadata={"axes": "ZYX"})
    np.save(tmp_path / "flat.npy", np.zeros((16, 16), np.float32))
    viewer = make_napari_viewer()
    for name in ("photo.tif", "stack.tif", "flat.npy"):
        layer = viewer.open(str(tmp_path / name))[0]
        assert layer.source.reader_plugin == "napari", name
        assert "wavelengths_nm" not in layer.metadata
