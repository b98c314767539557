"""GUI responsiveness of the Explain dock: event-loop stalls while explain runs, slider → line latency.

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python benchmarks/gui_latency.py [--model CHECKPOINT_FOLDER] [--size 512] [--note "what else ran"]

Opens napari with the sample leaf (or, with `--size N`, one simulated N×N×204 leaf written to a temporary
folder first) through the plugin's reader, then, in one process:

(a) a QTimer heartbeat fires every 10 ms on the GUI thread and records the gaps between its ticks:
    over an idle baseline first, then while the Explain dock opens (through the manifest; it imports
    torch & co. in a background thread), then from each click on **Explain** (a real mouse click on
    the button) until the result is fully added, plus a short settle so that first draws count.
    A faulthandler watchdog dumps every thread's stack whenever the heartbeat is 100 ms late, to say
    where a stall comes from (it needs no GIL, so it also sees C code that holds it).
(b) with the spectral importance dock showing the result, moves the band slider N times with
    `viewer.dims.set_current_step` and measures the time until the dock's InfiniteLine holds the new
    band and until the window has repainted with it (also with napari's canvas hidden).

The model: `--model PATH`, else the embedded default; when none is installed, an untrained model on
the embedded backbone is built in a separate process (scripts/fallback_model.py), so that this process
imports torch only through the dock, as for a user. Prints a markdown table and writes it to
docs/benchmarks.md under "GUI responsiveness" (with `--size N`: "GUI responsiveness: an N² cube"), replacing
that section and keeping the rest.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # the sibling modules, when run as a script
from gui_heartbeat import Heartbeat, run_loop, summarise_gaps, where_stalls  # noqa: E402
from gui_latency_report import SECTION, render  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "bls_vnir204.hdr"
DOC = ROOT / "docs" / "benchmarks.md"

warnings.filterwarnings("ignore", message="napari support for the PyQt5")  # not this benchmark's subject


# ---------------------------------------------------------------------------------------------- model
def pick_model(arg: str | None) -> tuple[Path, str]:
    """(checkpoint folder, how it was chosen) without importing torch in this process."""
    if arg:
        return Path(arg), f"`--model {arg}`"
    from napari_focus.errors import FocusError
    from napari_focus.explain_job import default_checkpoint

    try:
        folder = default_checkpoint()
        return folder, f"embedded default `{folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder}`"
    except FocusError:
        out = Path(tempfile.mkdtemp(prefix="gui_latency_")) / "untrained"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "fallback_model.py"), str(out)], check=True,
                       stdout=subprocess.DEVNULL)
        return out, ("**untrained** FOCUS model on the embedded backbone, calibrated on the cube "
                     "(scripts/fallback_model.py; no embedded checkpoint was installed; the stall "
                     "measurement does not depend on training)")



def simulated_leaf(size: int) -> Path:
    """One simulated bls leaf, size × size × 204 (VNIR), written by the CLI's simulator to a temporary folder."""
    out = Path(tempfile.mkdtemp(prefix="gui_latency_leaf_")) / "leaf"
    subprocess.run([sys.executable, "-m", "napari_focus.cli", "simulate", "--task", "bls", "--sensor", "vnir204",
                    "--n", "1", "--size", str(size), "--seed", "3", "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    return out / "leaf_00000.hdr"


# ----------------------------------------------------------------------------------------- the viewer
def open_viewer(path: Path):
    """napari with a cube opened through the plugin's reader, shown at 1600×1000."""
    import napari

    viewer = napari.Viewer(title="napari-focus · gui latency", show=True)
    viewer.window._qt_window.resize(1600, 1000)
    layers = viewer.open(str(path), plugin="napari-focus")
    viewer.layers.selection.active = layers[0]
    return viewer, layers[0]


def open_dock(viewer):
    """The Explain dock through the manifest, as Plugins > napari-focus > Explain (FOCUS) does."""
    _, dock = viewer.window.add_plugin_dock_widget("napari-focus", "Explain (FOCUS)")
    return dock


def measure(viewer, layer, model: Path, idle_s: float, settle_s: float, runs: int) -> tuple[Any, dict]:
    """Idle baseline; the dock opening (it imports torch & co. in a background thread); `runs` clicks on Explain."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    from napari_focus._qt import explain_worker

    run_loop(2.0)  # let the window and the first frame settle
    beat = Heartbeat(dump_to=Path(tempfile.mkstemp(prefix="gui_latency_", suffix=".stacks")[1]))
    beat.start()
    t_idle0 = time.perf_counter()
    run_loop(idle_s)
    t_idle1 = time.perf_counter()

    t_open = time.perf_counter()
    dock = open_dock(viewer)
    t_opened = time.perf_counter()
    run_loop(until=lambda: not any(t.is_alive() for t in explain_worker._prefetch))
    t_imported = time.perf_counter()
    run_loop(settle_s)
    opening = {"gaps": summarise_gaps(beat.gaps_ms(t_open, t_imported + settle_s)),
               "events": [(t_opened - t_open, "dock shown"), (t_imported - t_open, "background import done")],
               "where": (t_open, t_imported + settle_s)}

    dock.set_model_folder(model)
    dock.cube_box.setCurrentText(layer.name)
    events: list[tuple[float, str]] = []
    on_step, on_result = dock._on_step, dock._on_result

    def step(s):  # wrap the dock's own slots: the worker connects to them when the click starts it
        events.append((time.perf_counter(), f"step: {s[2]}"))
        on_step(s)

    def result(r):
        events.append((time.perf_counter(), "result received"))
        on_result(r)

    dock._on_step, dock._on_result = step, result
    viewer.layers.events.inserted.connect(lambda e: events.append((time.perf_counter(), f"added {e.value.name}")))
    out = []
    for _ in range(runs):
        events.clear()
        run_loop(0.5)
        dock.run_button.setFocus()
        t_click = time.perf_counter()
        QTest.mouseClick(dock.run_button, Qt.MouseButton.LeftButton)
        events.append((time.perf_counter(), "click handled (worker started)"))
        run_loop(until=lambda: not dock.running)  # running: until the result is fully added (or failed)
        t_done = time.perf_counter()
        events.append((t_done, "result shown"))
        run_loop(settle_s)
        if dock.result is None:
            raise SystemExit(f"explain failed: {dock.status.text()}")
        out.append({"gaps": summarise_gaps(beat.gaps_ms(t_click, t_done + settle_s)),
                    "events": [(t - t_click, e) for t, e in events], "where": (t_click, t_done + settle_s),
                    "status": dock.status.text()})
    beat.stop()
    for run in [opening, *out]:
        run["where"] = where_stalls(beat, *run["where"])
    longest = max(run["gaps"]["seconds"] for run in [opening, *out])
    return dock, {"idle": summarise_gaps(beat.gaps_ms(t_idle0, t_idle0 + min(idle_s, longest))),
                  "idle_shorter": idle_s < longest, "where_idle": where_stalls(beat, t_idle0, t_idle1),
                  "opening": opening, "runs": out}


def measure_slider(viewer, dock, layer, n: int) -> dict:
    """Slider → line: when the line holds the new band, and when the window has repainted (all of it, and with
    napari's canvas hidden, i.e. without the canvas' draw)."""
    from qtpy.QtCore import QEvent, QObject
    from qtpy.QtWidgets import QApplication

    from napari_focus._qt.band_link import band_axis

    plot = dock.spectral[0]
    app = QApplication.instance()
    set_band = plot.set_band
    stamp = {"line": 0.0, "own": 0.0}

    def timed_set_band(band):  # the dock's handler of dims.current_step calls this
        t = time.perf_counter()
        set_band(band)
        stamp["line"] = time.perf_counter()
        stamp["own"] = stamp["line"] - t

    plot.set_band = timed_set_band

    class PaintCounter(QObject):
        count = 0

        def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
            if event.type() == QEvent.Type.Paint:
                PaintCounter.count += 1
            return False

    counter = PaintCounter()
    plot.graphics.viewport().installEventFilter(counter)
    axis = band_axis(viewer, layer)
    n_bands = layer.data.shape[0]
    canvas = viewer.window._qt_viewer.canvas.native

    def one_pass() -> tuple[list[float], list[float], int]:
        run_loop(0.5)
        line, own, painted, timeouts = [], [], [], 0
        start = plot.band
        for i in range(n):
            band = (start + 1 + i) % n_bands  # as if the slider were played band after band
            x = plot.band_position(band)
            p0 = PaintCounter.count
            t0 = time.perf_counter()
            viewer.dims.set_current_step(axis, band)
            if plot.line.value() == x:
                line.append(stamp["line"] - t0)
                own.append(stamp["own"])
            while not (plot.line.value() == x and PaintCounter.count > p0):
                app.processEvents()
                if time.perf_counter() - t0 > 2.0:
                    timeouts += 1
                    break
            painted.append(time.perf_counter() - t0)
        return line, own, painted, timeouts

    line, own, painted, timeouts = one_pass()
    canvas.hide()
    _, _, painted_nocanvas, timeouts2 = one_pass()
    canvas.show()
    plot.graphics.viewport().removeEventFilter(counter)
    plot.set_band = set_band

    def stats(v):
        a = np.asarray(v) * 1000.0
        return {"n": int(a.size), "median": float(np.median(a)), "p95": float(np.percentile(a, 95)),
                "max": float(a.max())} if a.size else None

    return {"line": stats(line), "own": stats(own), "painted": stats(painted),
            "painted_nocanvas": stats(painted_nocanvas), "timeouts": timeouts + timeouts2, "n": n}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="FOCUS checkpoint folder (default: the embedded one, else an untrained one)")
    ap.add_argument("--idle-seconds", type=float, default=40.0, help="idle baseline (trimmed to the run's length)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds after the layers are added still counted")
    ap.add_argument("-n", "--slider-steps", type=int, default=200)
    ap.add_argument("--runs", type=int, default=2, help="clicks on Explain (the first imports torch)")
    ap.add_argument("--size", type=int, help="explain one simulated size × size × 204 leaf, not the sample leaf")
    ap.add_argument("--note", default="", help="what else ran on the machine (goes into the section's header)")
    ap.add_argument("--no-write", action="store_true", help=f"print only; do not touch {DOC.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        print("gui_latency: no DISPLAY; run it under xvfb-run (see the docstring)", file=sys.stderr)
        return 1
    load0 = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    model, model_note = pick_model(args.model)
    import napari
    import qtpy

    cube = SAMPLE if args.size is None else simulated_leaf(args.size)
    viewer, layer = open_viewer(cube)
    c, h, w = layer.data.shape
    cube_note = (f"`{SAMPLE.relative_to(ROOT)}`" if args.size is None else "one simulated bls leaf "
                 f"(`napari-focus simulate --size {args.size} --seed 3`, in a temporary folder)")
    cube_note += f" ({c} bands, {h}×{w})"
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    dock, res = measure(viewer, layer, model, args.idle_seconds, args.settle, args.runs)
    sl = measure_slider(viewer, dock, layer, args.slider_steps)
    torch = sys.modules.get("torch")
    header = {
        "command": ("QT_QPA_PLATFORM=xcb xvfb-run -a -s \"-screen 0 1600x1000x24\" "
                    + (f"nice -n {os.nice(0)} " if os.nice(0) else "")
                    + ".venv/bin/python benchmarks/gui_latency.py "
                    + shlex.join(argv)).rstrip(),
        "note": args.note,
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cores": os.cpu_count(),
        "load0": load0,
        "load1": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
        "versions": f"napari {napari.__version__}, {qtpy.API_NAME}, torch {getattr(torch, '__version__', '?')}",
        "model": model_note,
        "settle": args.settle,
        "cube": cube_note,
        "section": SECTION if args.size is None else f"{SECTION}: a {args.size}² cube",
    }
    section = render(res, sl, header)
    print(section)
    if res["where_idle"]:
        print("gaps > 100 ms during the idle baseline:", *res["where_idle"], sep="\n  ")
    print("dock status:", res["runs"][-1]["status"])
    if not args.no_write:
        from benchmarks_doc import write_section

        write_section(DOC, header["section"], section)
        print("wrote", DOC)
    viewer.close()
    if args.size is not None:  # the simulated leaf (~100 MB at 512²) was this run's alone
        shutil.rmtree(cube.parent.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
