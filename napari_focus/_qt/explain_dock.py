"""The Explain (FOCUS) dock: pick a cube, a model, a class and a method; explain off the GUI thread.

Thin by design: it turns napari layers into a `Cube`, runs `explain_job.explain_steps` in a napari
worker (progress from its yields, Cancel at the next yield), and turns the `Explanation` into layers
and the Spectral importance dock. No torch here; no math here. What it reads from the viewer and the
inputs it refuses are `explain_inputs.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..errors import FocusError
from .combo import select_or_add
from .explain_inputs import cube_layers, cube_or_refuse, model_offer, resolved_model, user_leaf_mask
from .explain_worker import geometry, job, prefetch, prefetch_done
from .result_layers import LeafMaskOffer, add_result_layers

METHODS = (("FOCUS (one forward pass)", "focus"), ("gradient × input", "gradxinput"), ("Grad-CAM", "gradcam"))
AUTO_CLASS = "predicted class"
EMBEDDED_LABEL = "embedded demonstration model"
_STEP_INTERVAL_MS = 40  # between the steps that add a result (see `_show_in_turns`)


class ExplainDock(QWidget):
    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: Any = None
        self._showing: QTimer | None = None  # adding a result to the viewer, one step per event-loop turn
        self._shown = False  # the last run's result is in the viewer
        self.result: Any = None
        self.model_folder: Path | None = None  # None: the embedded default
        self.spectral: tuple[Any, Any] | None = None
        self._leaf_masks = LeafMaskOffer(self.viewer, self.cube_layer)

        self.cube_box = QComboBox()
        self.model_box = QComboBox()
        self.model_box.addItem(EMBEDDED_LABEL, None)
        from ..explain_job import remembered_models

        for key, label in remembered_models():  # models fine-tuned earlier in this session
            self.model_box.addItem(label, key)
        self.browse = QPushButton("Open checkpoint…")
        self.class_box = QComboBox()
        self.method_box = QComboBox()
        for label, key in METHODS:
            self.method_box.addItem(label, key)
        self.run_button = QPushButton("Explain")
        self.export_button = QPushButton("Export…")
        self.export_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 3)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.probabilities = QLabel("")
        self.demo_note = QLabel()
        for lab in (self.status, self.probabilities, self.demo_note):
            lab.setWordWrap(True)
        self.demo_note.setStyleSheet("color: #f0c674;")
        hint = QLabel("The 'leaf mask' layer is the leaf a run explains: paint on it to correct it. "
                      "Shift-click a pixel to plot its spectrum. Drag the line or click the curve to jump to a band.")
        hint.setWordWrap(True)

        form = QFormLayout()
        form.addRow("cube", self.cube_box)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_box, 1)
        model_row.addWidget(self.browse)
        form.addRow("model", model_row)
        form.addRow("class", self.class_box)
        form.addRow("method", self.method_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.demo_note)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.probabilities)
        layout.addWidget(hint)
        layout.addStretch(1)
        # as tall as its contents, no taller (the Spectral importance dock below it gets the rest of the column) and
        # no shorter: napari docks a new widget with resizeDocks favouring the lower one, which could squeeze the
        # form rows below their height when the plot widget had been made ahead of time
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        self.run_button.clicked.connect(self._on_run_clicked)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.browse.clicked.connect(self._on_browse)
        self.model_box.currentIndexChanged.connect(self._on_model_changed)
        self.cube_box.currentIndexChanged.connect(self._on_model_changed)
        for ev in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            ev.connect(self._refresh_cubes)
        from .._band_label import install_band_label

        install_band_label(self.viewer)
        prefetch()  # torch & co. import in the background now, not while the viewer should stay interactive
        self._refresh_cubes()  # (after: the leaf mask waits for the prefetch, which warms its Labels layer's costs)
        self._plot_timer = QTimer(self)
        self._plot_timer.setInterval(200)
        self._plot_timer.timeout.connect(self._dock_plot_ahead)
        self._plot_timer.start()

    def _dock_plot_ahead(self) -> None:
        """Once the prefetch has imported pyqtgraph, dock the Spectral importance widget, empty and hidden, ahead of
        the first result (`band_link.dock_hidden_plot`): making and docking it is 250-450 ms of GUI time, paid while
        the user sets up the run rather than while the result is added (benchmarks/gui_latency.py). Not when a
        Spectral importance dock is there already."""
        if not prefetch_done():
            return
        self._plot_timer.stop()
        from .band_link import DOCK_NAME, _find_dock, dock_hidden_plot

        if _find_dock(self.viewer, DOCK_NAME) is None:
            dock_hidden_plot(self.viewer)
        self._offer_leaf_mask()

    def _offer_leaf_mask(self, *_: Any) -> None:
        """Show the picked cube's leaf mask (docs/method.md §2) before explaining, once the prefetch imported what the
        mask and napari's first Labels layer need (`result_layers.LeafMaskOffer`)."""
        if prefetch_done():
            self._leaf_masks.offer()

    # ------------------------------------------------------------------ choices
    def _refresh_cubes(self, *_: Any) -> None:
        current = self.cube_box.currentText()
        names = [lyr.name for lyr in cube_layers(self.viewer)]
        self.cube_box.blockSignals(True)
        self.cube_box.clear()
        self.cube_box.addItems(names)
        active = self.viewer.layers.selection.active
        pick = current if current in names else (active.name if active is not None and active.name in names else "")
        if pick:
            self.cube_box.setCurrentText(pick)
        self.cube_box.blockSignals(False)
        self._on_model_changed()

    def cube_layer(self) -> Any:
        name = self.cube_box.currentText()
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def set_model_folder(self, folder: str | os.PathLike | None) -> None:
        """Use a checkpoint folder (None: the embedded default)."""
        if folder is None:
            self.model_box.setCurrentIndex(0)
            return
        select_or_add(self.model_box, str(Path(folder)), Path(folder).name)

    def use_model(self, key: str, label: str) -> None:
        """Select an in-memory model (`explain_job.remember_model` key): the Fine-tune dock's hand-over."""
        select_or_add(self.model_box, key, label)

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "FOCUS checkpoint folder")
        if folder:
            self.set_model_folder(folder)

    def _resolved_model(self) -> Path | None:
        return resolved_model(self.model_box.currentData(), self.cube_layer())

    def _on_model_changed(self, *_: Any) -> None:
        self._offer_leaf_mask()
        classes, note = model_offer(self.model_box.currentData(), self.cube_layer())
        self.demo_note.setText(note)
        current = self.class_box.currentText()
        self.class_box.clear()
        self.class_box.addItem(AUTO_CLASS, None)
        for c in classes:
            self.class_box.addItem(c, c)
        if current in classes:
            self.class_box.setCurrentText(current)

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        """From the click until the result is shown (or the run failed or was cancelled)."""
        return self.worker is not None or self._showing is not None

    def _on_run_clicked(self) -> None:
        if self.running:
            self.cancel()
        else:
            self.start()

    def start(self) -> Any:
        """Start an explain run; returns the worker (None when the input was refused)."""
        from napari.qt.threading import create_worker

        if self.running:
            return self.worker
        layer = self.cube_layer()
        cube = cube_or_refuse(layer)
        if cube is None:
            return None
        model = self.model_box.currentData()
        leaf = user_leaf_mask(self.viewer, layer)
        self._explained_layer = layer
        # `errored` must be connected here: otherwise superqt re-raises the error on the GUI thread
        connect = {"yielded": self._on_step, "returned": self._on_result, "errored": self._on_error,
                   "finished": self._on_finished}
        self.worker = create_worker(job, cube, model, self.class_box.currentData(),
                                    self.method_box.currentData(), leaf, geometry(layer),
                                    _start_thread=False, _connect=connect)
        self.run_button.setText("Cancel")
        self._shown = False
        self.export_button.setEnabled(False)
        self.status.setText("starting…")
        self.progress.setValue(0)
        self.worker.start()
        return self.worker

    def cancel(self) -> None:
        if self.worker is not None:
            self.status.setText("cancelling…")
            self.worker.quit()

    def _on_step(self, step: tuple[int, int, str]) -> None:
        done, total, message = step
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(message)

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        msg = str(exc) if isinstance(exc, FocusError) else f"{type(exc).__name__}: {exc}"
        show_error(f"napari-focus could not explain: {msg}")
        self.status.setText("failed; nothing was added")

    def _on_finished(self) -> None:
        if self.worker is not None and self.status.text() == "cancelling…":
            self.status.setText("cancelled; nothing was added")
        self.worker = None
        if self._showing is None:
            self._ready()

    def _ready(self) -> None:
        self.run_button.setText("Explain")
        self.run_button.setEnabled(True)
        self.progress.setValue(self.progress.maximum() if self._shown else 0)  # full after a result, not 0%

    def _on_result(self, result: tuple[Any, Any, Any]) -> None:
        from napari.utils.notifications import show_warning

        layer = self._explained_layer
        if layer not in self.viewer.layers:
            show_warning("napari-focus: the cube layer was removed while explaining; the result was discarded")
            self.status.setText("cube removed; nothing was added")
            return
        exp, model, (prepared_for, layer_data, curve, built) = result
        same = prepared_for == geometry(layer)  # moved or rescaled while explaining: recompute
        self._show_in_turns(layer, self._show_steps(layer, exp, model, (layer_data, curve, built) if same else None))

    def show_result(self, layer: Any, exp: Any, model: Any, prepared: tuple[Any, Any] | None = None) -> None:
        """Add (or replace) the saliency layers, the leaf mask and the spectral dock, all at once.

        `prepared`: (saliency layer data, curve[, layers built from them]) computed off the GUI thread for this
        layer's geometry.
        """
        for _ in self._show_steps(layer, exp, model, prepared):
            pass

    def _show_in_turns(self, layer: Any, steps: Any) -> None:
        """Run `steps` one per event-loop turn: each napari layer add (and its first draw) and the spectral dock
        cost 50–250 ms of GUI time; one turn for all of them stalled the viewer ~1 s (benchmarks/gui_latency.py).
        A cube removed meanwhile discards what was added, so nothing is left half-added."""
        from napari.utils.notifications import show_error, show_warning

        added: list[str] = []
        timer = QTimer(self)
        # single-shot, restarted after each step: a repeating 0 ms timer ran the next step before the paint and the
        # timers that were due (two steps and a draw in one 0.4-0.6 s stall, benchmarks/gui_latency.py). A step's
        # layer insertion posts the window's relayout and repaint (20-70 ms each with software OpenGL); after 1 ms
        # the next step often ran in the same event-loop pass as them, after 40 ms it mostly waits for them
        # (first click, alternating quiet runs, 4 and 3: p99 gap 75-79 ms against 96-109 ms)
        timer.setSingleShot(True)
        timer.setInterval(_STEP_INTERVAL_MS)
        self._showing = timer
        self.run_button.setEnabled(False)
        self.status.setText("adding the result…")

        def abandon(why: str) -> None:
            timer.stop()
            steps.close()  # its `finally`s run: e.g. the window, paused while layers go in, repaints
            for name in added:
                if name in self.viewer.layers:
                    self.viewer.layers.remove(name)
            self.status.setText(why)
            self._done_showing()

        def turn() -> None:
            if layer not in self.viewer.layers:
                show_warning("napari-focus: the cube layer was removed while the result was added; it was discarded")
                abandon("cube removed; nothing was added")
                return
            try:
                name = next(steps)
            except StopIteration:
                timer.stop()
                self._done_showing()
            except Exception as exc:  # noqa: BLE001 (a notification, never a traceback dump)
                show_error(f"napari-focus could not show the result: {type(exc).__name__}: {exc}")
                abandon("failed; nothing was added")
            else:
                if name:
                    added.append(name)
                timer.start()

        timer.timeout.connect(turn)
        timer.start()

    def _done_showing(self) -> None:
        self._showing = None
        if self.worker is None:
            self._ready()

    def _show_steps(self, layer: Any, exp: Any, model: Any, prepared: tuple[Any, Any] | None) -> Any:
        """The result as steps; each yields the name of the layer it added ("" for other steps)."""
        from ..explain_layers import curve_from_explanation, probability_text, saliency_layer_data

        if prepared is None:
            prepared = (saliency_layer_data(exp, layer.scale, layer.translate),
                        curve_from_explanation(exp, model, layer.metadata.get("bbl")))
        layer_data, curve, *built = prepared
        yield from add_result_layers(self.viewer, layer, exp.leaf_mask, layer_data, built[0] if built else None)
        yield ""  # the window, paused while the layers went in, repaints (~70 ms) in its own turn, not with the dock
        # pyqtgraph: imported by the prefetch thread when the dock opened (the worker waited for it), never here
        from .band_link import DOCK_NAME, _find_dock, dock_hidden_plot, spectral_dock_steps

        if _find_dock(self.viewer, DOCK_NAME) is None:  # the first result came before the timer, or the user closed it
            dock_hidden_plot(self.viewer)  # a turn of its own
            yield ""
        self.spectral = yield from spectral_dock_steps(self.viewer, curve, layer, saliency=exp.T)
        classes = list(getattr(model, "classes", []))
        self._classes = classes
        self.result = exp
        self.viewer.layers.selection.active = layer
        self.probabilities.setText(f"predicted: {exp.predicted}  ({probability_text(exp, classes)})")
        notes = "; ".join(exp.notes)
        self.status.setText(f"{exp.method} · {exp.rule} · {exp.seconds:.2f} s" + (f" · {notes}" if notes else ""))
        self.export_button.setEnabled(True)
        self._shown = True
        yield ""

    # ------------------------------------------------------------------ export
    def _on_export_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the explanation to a folder")
        if folder:
            self.export(folder)

    def export(self, folder: str | os.PathLike) -> list[Path]:
        from napari.utils.notifications import show_error, show_info

        from ..export import export_explanation

        if self.result is None:
            show_error("napari-focus: nothing to export yet: explain a cube first")
            return []
        try:
            paths = export_explanation(self.result, folder, getattr(self, "_classes", None))
        except FocusError as exc:  # a folder holding the user's own files: refused, nothing written
            show_error(f"napari-focus: {exc}")
            return []
        except OSError as exc:
            show_error(f"napari-focus could not export to {folder}: {exc}")
            return []
        show_info(f"napari-focus: wrote {len(paths)} files to {folder}")
        return paths
