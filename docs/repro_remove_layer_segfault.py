"""Plain napari (no plugin): removing a layer segfaults under Mesa's software OpenGL (SIGSEGV in glDrawArrays).

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb python docs/repro_remove_layer_segfault.py

Each case runs in a fresh process: a (204, 112, 112) image, a second layer, one draw, then the change; the event
loop then runs for 1.5 s. Prints one line per case: "survived" or the signal that killed it. `CASE` alone runs one
case in this process (what the driver calls).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

CASES = {
    "2-D labels beside, remove the image": "labels2d",
    "2-D image beside, remove the image": "image2d",
    "2-D points beside, remove the image": "points2d",
    "2-D labels beside, never shown, remove the image": "labels2d-hidden",
    "3-D labels beside (broadcast view), remove the image": "labels3d",
    "3-D labels beside, remove the image and resize the window": "labels3d-resize",
    "2-D labels beside, remove the labels first, then the image": "labels-first",
    "2-D labels beside, make the image 2-D instead of removing it": "data2d",
    "2-D labels beside, resize the window, remove nothing": "resize-only",
}


def run_case(case: str) -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    cube = np.random.default_rng(0).random((204, 112, 112), dtype=np.float32)
    viewer.add_image(cube, name="cube")
    mask = np.zeros((112, 112), np.uint8)
    mask[30:60, 30:60] = 1
    if case == "image2d":
        viewer.add_image(mask.astype(np.float32), name="other")
    elif case == "points2d":
        viewer.add_points([[50, 50]], name="other")
    elif case.startswith("labels3d"):
        viewer.add_labels(np.broadcast_to(mask, cube.shape), name="other")
    else:
        viewer.add_labels(mask, name="other", visible=case != "labels2d-hidden")
    app = QApplication.instance()

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)

    spin(0.5)
    if case == "labels-first":
        viewer.layers.remove("other")
    if case == "resize-only":
        viewer.window._qt_window.resize(1200, 900)
    elif case == "data2d":
        viewer.layers["cube"].data = cube[0]
    else:
        viewer.layers.remove("cube")
    if case == "labels3d-resize":  # as the dims slider's disappearance resizes the canvas in the 2-D cases
        viewer.window._qt_window.resize(1200, 900)
    spin(1.5)
    viewer.close()


def main() -> int:
    if len(sys.argv) > 1:
        run_case(sys.argv[1])
        return 0
    import napari

    print(f"napari {napari.__version__}; QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM', '')}")
    for label, case in CASES.items():
        proc = subprocess.run([sys.executable, __file__, case], capture_output=True, timeout=300)
        rc = proc.returncode
        print(f"{label}: " + ("survived" if rc == 0 else
                               signal.Signals(-rc).name if rc < 0 else f"exit {rc}"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
