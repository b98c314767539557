"""Screenshot of an explained leaf: saliency over the cube, the Explain dock and the spectral importance curve.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshot_explain.py

Opens the sample leaf (Plugins > napari-focus sample), runs Explain through the dock with the embedded
default model (or `--model PATH`) for the disease class, waits for the result, moves the band slider to
the curve's red-edge peak (680–750 nm) and saves the whole window to docs/img/explain.png. While no embedded FOCUS
checkpoint is installed it uses an untrained model on the embedded backbone (scripts/fallback_model.py)
and says so: such a screenshot shows the layout, not an explanation.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message="napari support for the PyQt5")  # not this screenshot's subject

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "explain.png"


def red_edge_peak(curve, wavelengths_nm) -> int:
    """The most important band in the red edge (680–750 nm), where a scientist clicks first; the top band
    of the whole curve when the cube has no wavelengths there or the model gives the red edge no weight."""
    b = np.asarray(curve, dtype=float)
    if wavelengths_nm is not None:
        wl = np.asarray(wavelengths_nm, dtype=float)
        inside = np.flatnonzero((wl >= 680) & (wl <= 750))
        if inside.size and b[inside].max() > 0:
            return int(inside[np.argmax(b[inside])])
    return int(np.argmax(b))


def pick_model(arg: str | None) -> tuple[Path, bool]:
    """(checkpoint folder, trained?): `--model`, the embedded default, else an untrained stand-in."""
    if arg:
        return Path(arg), True
    from napari_focus.errors import FocusError
    from napari_focus.explain_job import default_checkpoint

    try:
        return default_checkpoint(), True
    except FocusError:
        out = Path(tempfile.mkdtemp(prefix="screenshot_explain_")) / "untrained"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "fallback_model.py"), str(out)], check=True,
                       stdout=subprocess.DEVNULL)
        print("no embedded FOCUS checkpoint: using an UNTRAINED model on the embedded backbone", file=sys.stderr)
        return out, False


def settle(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="FOCUS checkpoint folder (default: the embedded one)")
    ap.add_argument("--class", dest="class_name", default="bls", help="class to explain (default: bls)")
    ap.add_argument("--method", default="focus", help="the dock's method key (focus, focus_refined, gradxinput, ...)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cube", type=Path, default=None, help="a cube file to open instead of the sample leaf")
    args = ap.parse_args(argv)
    model, trained = pick_model(args.model)

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_focus._qt.band_link import band_axis

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    if args.cube is None:
        viewer.open_sample("napari-focus", "bls_vnir204")
        cube = viewer.layers["bls_vnir204"]
    else:
        cube = viewer.open(str(args.cube), plugin="napari-focus")[0]
    for layer in viewer.layers:
        layer.visible = layer is cube  # the lesion truth would hide the overlay; the user can toggle it
    viewer.layers.selection.active = cube
    _, dock = viewer.window.add_plugin_dock_widget("napari-focus", "Explain (FOCUS)")
    dock.set_model_folder(model)
    if args.class_name in [dock.class_box.itemText(i) for i in range(dock.class_box.count())]:
        dock.class_box.setCurrentText(args.class_name)
    dock.method_box.setCurrentIndex(dock.method_box.findData(args.method))
    app = QApplication.instance()
    t0 = time.perf_counter()
    if dock.start() is None:
        print("refused:", dock.status.text(), file=sys.stderr)
        return 1
    while dock.running:
        app.processEvents()
        time.sleep(0.02)
    if dock.result is None:
        print("explain failed:", dock.status.text(), file=sys.stderr)
        return 1
    print(f"explained in {time.perf_counter() - t0:.1f} s: {dock.status.text()} · {dock.probabilities.text()}")
    plot, link = dock.spectral
    m = dock.result.M  # the lower plot: the spectra of the most salient pixel (what a Shift-click shows)
    y, x = (int(v) for v in np.unravel_index(int(np.argmax(m)), m.shape))
    link.pixels.show(y, x)
    link.pixels.mark(y, x)  # the cross a Shift-click leaves on the pixel
    top = red_edge_peak(dock.result.B, dock.result.wavelengths_nm)
    viewer.dims.set_current_step(band_axis(viewer, cube), top)
    print(f"slider on band {top} (the red-edge peak, else the top band): {plot.status.text()}")
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # napari's own PyQt5 deprecation toast would cover the canvas
    viewer.reset_view()
    settle(app, 1.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False)
    plot.grab().save("/tmp/explain_spectral_only.png")  # the docks alone, to inspect at full size
    dock.grab().save("/tmp/explain_dock_only.png")
    print("wrote", args.out, "" if trained else "(UNTRAINED model: retake with the embedded one)")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
