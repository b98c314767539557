"""Screenshot of the Fine-tune dock after a short training on sample and simulated leaves (README image).

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshot_finetune.py

Opens the three sample cubes, adds six simulated leaves (the project's PROSPECT-D simulator, same
sensor as the VNIR sample), gives each a class in the dock, trains with the dock's defaults from the
embedded starting point, and saves the whole window to docs/img/finetune_dock.png.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="napari support for the PyQt5")  # not this screenshot's subject

import napari  # noqa: E402
from qtpy.QtWidgets import QApplication  # noqa: E402

from napari_focus.layers import cube_layer_data  # noqa: E402
from napari_focus.simulate import simulate_leaf  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "img" / "finetune_dock.png"


def main() -> int:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    for key in ("bls_vnir204", "bls_vswir200", "genotypes_vnir204"):
        viewer.open_sample("napari-focus", key)
    labels = {"bls_vnir204": "bacterial spot", "bls_vswir200": "bacterial spot"}
    for i, lab in enumerate(["healthy", "healthy", "bls", "healthy", "bls", "healthy"]):
        leaf = simulate_leaf("bls", "vnir204", 112, seed=100 + i, label=lab)
        name = f"simulated {'spot' if lab == 'bls' else 'healthy'} leaf {i + 1}"
        for data, kwargs, _ in cube_layer_data(leaf.cube, name, with_rgb=False):
            viewer.add_image(data, **kwargs)
        labels[name] = "bacterial spot" if lab == "bls" else "healthy"
    for layer in viewer.layers:
        layer.visible = layer.name == "bls_vnir204" or "lesions" in layer.name and "vnir" in layer.name
    viewer.layers.selection.active = viewer.layers["bls_vnir204"]
    viewer.dims.set_current_step(0, 97)
    _, dock = viewer.window.add_plugin_dock_widget("napari-focus", "Fine-tune")
    dock.editor.rename_class("diseased", "bacterial spot")
    for name, cls in labels.items():
        dock.editor.set_label(name, cls)
    t0 = time.perf_counter()
    worker = dock.start()
    if worker is None:
        print("refused:", dock.editor.summary.text())
        return 1
    app = QApplication.instance()
    while dock.running:
        app.processEvents()
        time.sleep(0.02)
    print(f"trained in {time.perf_counter() - t0:.1f} s: {dock.status.text()}")
    print("notes:", dock.notes.text())
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # napari's own PyQt5 deprecation toast would cover the canvas
    viewer.reset_view()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(OUT), canvas_only=False)
    dock.grab().save("/tmp/finetune_dock_only.png")  # the dock alone, to inspect at full size
    print("wrote", OUT)
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
