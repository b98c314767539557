"""What a new layer's first draw costs on napari's canvas, against the window's steady repaint.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/gui_first_draw.py

Opens napari at 1600×1000 with a 204-band 512² cube, then adds, one at a time and with the window's repaints held
while each goes in (as the Explain dock adds its result), a band-wise overlay as the dock draws it, a second one of
the same kind, a 2-D map and a Labels mask. For each it times the first synchronous repaint of the whole window and
the three after it. The difference is the work of a layer's first draw (its visual's GL program and texture), which
the Explain dock's last repaint after a first result carries; the steady repaints are what every later frame costs.
Prints a markdown table; writes nothing.
"""

from __future__ import annotations

import time

import numpy as np


def main() -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    window = viewer.window._qt_window  # napari's private main window: the repaint a user waits for
    window.resize(1600, 1000)
    app = QApplication.instance()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((204, 512, 512), dtype=np.float32), name="cube")
    for _ in range(30):
        app.processEvents()
        time.sleep(0.01)

    def repaint_ms() -> float:
        t = time.perf_counter()
        window.repaint()
        app.processEvents()
        return 1000 * (time.perf_counter() - t)

    overlay = dict(colormap="inferno", blending="translucent", opacity=0.7)
    steps = [("band-wise overlay (204 × 512²)", lambda: viewer.add_image(
                 rng.random((204, 512, 512), dtype=np.float32), name="overlay", **overlay)),
             ("a second overlay of the same kind", lambda: viewer.add_image(
                 rng.random((204, 512, 512), dtype=np.float32), name="overlay 2", **overlay)),
             ("2-D map (512²)", lambda: viewer.add_image(
                 rng.random((512, 512), dtype=np.float32), name="map", colormap="viridis", blending="translucent")),
             ("Labels mask (512²)", lambda: viewer.add_labels(
                 (rng.random((512, 512)) > 0.3).astype(np.uint8), name="mask"))]
    rows = [("no layer added (steady)", None, [repaint_ms() for _ in range(3)])]
    for label, add in steps:
        window.setUpdatesEnabled(False)
        add()
        window.setUpdatesEnabled(True)
        rows.append((label, repaint_ms(), [repaint_ms() for _ in range(3)]))
    print("| layer added | first repaint (ms) | next three (ms) |\n| --- | --- | --- |")
    for label, first, after in rows:
        print(f"| {label} | {'–' if first is None else f'{first:.1f}'} | {' / '.join(f'{a:.1f}' for a in after)} |")
    viewer.close()


if __name__ == "__main__":
    main()
