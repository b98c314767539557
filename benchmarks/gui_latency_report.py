"""The markdown section benchmarks/gui_latency.py writes to docs/benchmarks.md ("GUI responsiveness")."""

from __future__ import annotations

SECTION = "## GUI responsiveness"
FRAME_MS = 1000.0 / 60.0
WHAT_THE_DOCK_DOES = """
What the dock does for this (each found with this script): torch's C++ libraries (and through them the CUDA ones) are
dlopened by a ctypes call that releases the GIL (`napari_focus/native_preload.py`), then torch, timm, scipy.stats,
pyqtgraph and what napari's first layers need (pandas, skimage.color.colorconv, vispy's dash patterns and
interpolation kernels) are imported or built in a background thread when the dock opens
(`napari_focus/_qt/explain_worker.py`), with the cyclic GC paused and one full collection at the end; once that is
done, the Spectral importance widget is made and docked, empty and hidden (so napari's synchronous write of its
settings file on docking happens now, not on the first result), and the picked cube's leaf mask is computed in a
thread and shown, so a first explain inserts no Labels layer; the worker renders a tiled saliency cube up to 1 GiB
(`explain_layers.render_ahead`, so napari's first slice of it on the GUI thread does not wait for its tiles) and
prepares contrast limits, the curve and the result's napari layer objects; the GUI thread then adds the result one
step per event-loop turn (single-shot timer steps 40 ms apart, so that the relayout and repaint each step posts run
before the next), each layer without making it the active one, with the whole main window's repaints held until the
last one is in and its one repaint in a turn of its own, and the curve in three turns before its dock is shown; a
re-run for the same class refills its layers and updates the plot's items in place; the band link's handlers are plain
functions on `dims.point`. What is left: extension modules' imports, napari's synchronous write of its settings file
when a dock is docked, and the one full collection, while the dock opens; napari's own work to insert an Image layer
(vispy nodes, layer controls, scene-graph overlays, event wiring: 60–97 ms on this CPU, quiet) with the relayout it
posts, which Qt runs before any timer; and the window's repaint (software OpenGL composes the canvas into every
repaint at 1600×1000: the "window repainted" rows of (b) show one frame costs ~70–100 ms here). napari keeps its own
dims handlers ahead of any plugin's, so the line moves after napari has sliced the layers. Of a stall, *GUI-thread
CPU* is what the GUI thread computed and *waiting for a core* its time runnable on a loaded machine; the rest it was
blocked (the GIL, the dynamic linker's lock, the GL driver's threads, the X server). """


def _gap_row(label: str, g: dict) -> str:
    return f"| {label} | {g['seconds']:.1f} | {g['ticks']} | {g['max']:.1f} | {g['p99']:.1f} | {g['over']} |"


def render(res: dict, sl: dict, header: dict) -> str:
    runs = res["runs"]
    idle_note = " (shorter than the longest window: raise --idle-seconds)" if res["idle_shorter"] else ""
    names = ["first click (loads the model)"] + [f"click {k + 2} (model loaded)" for k in range(len(runs) - 1)]
    windows = [("dock opened (imports torch & co. in a background thread)", res["opening"])]
    windows += list(zip(names, runs, strict=True))
    lines = [
        header.get("section", SECTION),
        f"`{header['command']}`",
        "",
        f"{header['date']} · {header['cores']} cores · load average at start {header['load0']} (end {header['load1']})"
        f"{' · ' + header['note'] if header.get('note') else ''}"
        f" · {header['versions']}. Model: {header['model']}. Cube: {header['cube']} opened through the plugin's "
        "reader; the Explain dock opened through the manifest; real mouse clicks on **Explain**.",
        "",
        "**(a) Event-loop stalls.** A 10 ms QTimer heartbeat on the GUI thread; the gaps between its ticks. The idle "
        f"baseline comes first, in the same process, as long as the longest window below{idle_note}. A run window "
        "is the click → the result fully added (layers, leaf mask, spectral dock); every window ends "
        f"{header['settle']:.1f} s later, so that first draws count.",
        "",
        "| window | length (s) | ticks | max gap (ms) | p99 gap (ms) | gaps > 100 ms |",
        "| --- | --- | --- | --- | --- | --- |",
        _gap_row("idle baseline", res["idle"]),
        *(_gap_row(name, w["gaps"]) for name, w in windows),
        "",
    ]
    lines += [" ".join(WHAT_THE_DOCK_DOES.split()), ""]
    for name, w in windows:
        lines += [f"*{name[0].upper() + name[1:]}*, s from its start: "
                  + "; ".join(f"{t:.2f} {e}" for t, e in w["events"]) + "."]
        if w["where"]:
            lines += ["Gaps > 100 ms, with the busy threads' stacks once the GUI thread had missed 100 ms "
                      "(faulthandler watchdog; innermost frame first, after the product's own frame):", ""]
            lines += [f"- {x}" for x in w["where"]]
        else:
            lines += ["No gap > 100 ms."]
        lines.append("")
    lines += [
        f"**(b) Slider → line.** `viewer.dims.set_current_step(band_axis, b)` {sl['n']} times, one band further each "
        "time (as if played), with the result in the spectral dock: the time until the dock's InfiniteLine holds band "
        "b (its handler of the dims event has run; napari slices its layers in the same call; the next row is the "
        "handler alone), and until the window "
        "has repainted with it (Qt events processed until the plot's viewport got its paint). The last row repeats "
        "the repaint with napari's canvas hidden: what the dock costs without the canvas' OpenGL draw (software "
        f"llvmpipe under Xvfb here). Timeouts (> 2 s): {sl['timeouts']}.",
        "",
        "| slider → line | median ms (frames) | p95 ms (frames) | max ms (frames) |",
        "| --- | --- | --- | --- |",
    ]
    for label, st in (("line at the new band", sl["line"]), ("… of which the dock's own handler", sl["own"]),
                      ("window repainted with it", sl["painted"]),
                      ("window repainted, napari canvas hidden", sl["painted_nocanvas"])):
        if st is None:
            lines.append(f"| {label} | never | | |")
            continue
        cells = [f"{st[k]:.1f} ({st[k] / FRAME_MS:.2f})" for k in ("median", "p95", "max")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "A frame is 16.7 ms (60 Hz). The floors: no stall > 100 ms while explain runs; the line "
              "follows the slider within one frame."]
    return "\n".join(lines) + "\n"
