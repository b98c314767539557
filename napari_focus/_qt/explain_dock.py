"""The Explain (FOCUS) dock: pick a cube, a model, a class and a method; explain off the GUI thread.

Thin by design: it turns napari layers into a `Cube`, runs `explain_job.explain_steps` in a napari
worker (progress from its yields, Cancel at the next yield), and turns the `Explanation` into layers
and the Spectral importance dock. No torch here; no math here. What it reads from the viewer and the
inputs it refuses are `explain_inputs.py`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from qtpy.QtCore import QEvent, QObject, Qt, QTimer, Signal
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

from .._band_label import glyph_loads, install_band_label
from ..errors import FocusError
from .colour_scale import ColourScale
from .combo import select_or_add
from .explain_inputs import cube_layers, cube_or_refuse, model_offer, resolved_model, user_leaf_mask
from .explain_show import ResultShowing
from .explain_worker import REFINED, geometry, job, prefetch, prefetch_done
from .result_layers import LeafMaskOffer
from .scrolling import scrolling

METHODS = (("FOCUS (one forward pass)", "focus"), ("FOCUS, refined (more passes)", REFINED),
           ("gradient × input", "gradxinput"),
           ("Grad-CAM (band curve: gradient × input)", "gradcam"))
AUTO_CLASS = "predicted class"
EMBEDDED_LABEL = "embedded demonstration model"
JOB_STEPS = 4  # the worker's yields: loading, checking, explaining, done


class _TileRelay(QObject):
    """Carries a tiled explain's per-tile progress from the worker to the GUI thread (a queued signal)."""

    tile = Signal(object)


class ExplainDock(ResultShowing, QWidget):
    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: Any = None
        self._showing: QTimer | None = None  # adding a result to the viewer, one step per event-loop turn
        self._shown = False  # the last run's result is in the viewer
        self._discard = ""  # why the running job's result must not be added (cancelled, dock closed)
        self._stop = threading.Event()  # a tiled explain stops at its next tile once set
        self._relay = _TileRelay(self)
        self._relay.tile.connect(self._on_tile, Qt.ConnectionType.QueuedConnection)
        self.result: Any = None
        self.model_folder: Path | None = None  # None: the embedded default
        self.spectral: tuple[Any, Any] | None = None
        self._leaf_masks = LeafMaskOffer(self.viewer, self.cube_layer)

        self.cube_box = QComboBox()
        self.model_box = QComboBox()
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)  # never "embedded demonstr"
        self.model_box.addItem(EMBEDDED_LABEL, None)
        from ..explain_job import remembered_models

        for key, label in remembered_models():  # models fine-tuned earlier in this session
            self.model_box.addItem(label, key)
        self.browse = QPushButton("Open checkpoint…")
        self.class_box = QComboBox()
        self.method_box = QComboBox()
        for label, key in METHODS:
            self.method_box.addItem(label, key)
        for box in (self.cube_box, self.class_box, self.method_box):  # long names elide; the dock stays narrow
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(14)
        self.run_button = QPushButton("Explain")
        self.cancel_button = QPushButton("Cancel")  # its own button: a double-click on Explain never cancels
        self.cancel_button.setEnabled(False)
        self.export_button = QPushButton("Export…")
        self.export_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 3)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.probabilities = QLabel("")
        self.colour_scale = ColourScale()
        self.demo_note = QLabel()
        for lab in (self.status, self.probabilities, self.demo_note):
            lab.setWordWrap(True)
        self.demo_note.setStyleSheet("color: #f0c674;")
        hint = QLabel("The 'leaf mask' layer is the leaf a run explains: paint on it to correct it. "
                      "Shift-click a pixel to plot its spectrum. Drag the line or click the curve to jump to a band.")
        hint.setWordWrap(True)

        form = QFormLayout()
        form.addRow("cube", self.cube_box)
        form.addRow("model", self.model_box)
        form.addRow("", self.browse)
        form.addRow("class", self.class_box)
        form.addRow("method", self.method_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addLayout(form)
        layout.addWidget(self.demo_note)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.probabilities)
        layout.addWidget(self.colour_scale)
        layout.addWidget(hint)
        layout.addStretch(1)
        scrolling(self, inner)
        # as tall as its contents when the column has room (the Spectral importance dock below it, which expands,
        # gets the rest); it scrolls when a shorter screen or another dock leaves it less
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

        self.run_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(lambda: self.cancel())
        self.export_button.clicked.connect(self._on_export_clicked)
        self.browse.clicked.connect(self._on_browse)
        self.model_box.currentIndexChanged.connect(self._on_model_changed)
        self.cube_box.currentIndexChanged.connect(self._on_model_changed)
        for ev in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            ev.connect(self._refresh_cubes)
        self.viewer.layers.selection.events.active.connect(self._follow_active)
        install_band_label(self.viewer)
        prefetch()  # torch & co. import in the background now, not while the viewer should stay interactive
        self._refresh_cubes()  # (after: the leaf mask waits for the prefetch, which warms its Labels layer's costs)
        self._plot_timer = QTimer(self)
        self._plot_timer.setInterval(200)
        self._plot_timer.timeout.connect(self._dock_plot_ahead)
        self._plot_timer.start()
        self._glyph_loads: list = []
        self._glyph_timer = QTimer(self)
        self._glyph_timer.setInterval(20)
        self._glyph_timer.timeout.connect(self._load_a_glyph)

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
        self._glyph_loads = glyph_loads(self.viewer)
        self._glyph_timer.start()

    def _load_a_glyph(self) -> None:
        """Render one of the band label's glyphs ahead of the first result, one per event-loop turn
        (`_band_label.glyph_loads`)."""
        if self._glyph_loads:
            self._glyph_loads.pop(0)()
        if not self._glyph_loads:
            self._glyph_timer.stop()

    def _offer_leaf_mask(self, *_: Any) -> None:
        """Show the picked cube's leaf mask (docs/method.md §2) before explaining, once the prefetch imported what the
        mask and napari's first Labels layer need (`result_layers.LeafMaskOffer`)."""
        if prefetch_done():
            self._leaf_masks.offer()

    # ------------------------------------------------------------------ choices
    def _refresh_cubes(self, event: Any = None) -> None:
        """List the cube layers; a cube just opened becomes the pick (the one a user means to explain next)."""
        current = self.cube_box.currentText()
        names = [lyr.name for lyr in cube_layers(self.viewer)]
        self.cube_box.blockSignals(True)
        self.cube_box.clear()
        self.cube_box.addItems(names)
        active = self.viewer.layers.selection.active
        opened = getattr(event, "value", None) if getattr(event, "type", "") == "inserted" else None
        if opened is not None and opened.name in names:
            current = opened.name
        pick = current if current in names else (active.name if active is not None and active.name in names else "")
        if pick:
            self.cube_box.setCurrentText(pick)
        self.cube_box.blockSignals(False)
        self._on_model_changed()

    def _follow_active(self, *_: Any) -> None:
        """A cube selected in the layer list becomes the dock's pick."""
        active = self.viewer.layers.selection.active
        if active is not None and self.cube_box.findText(active.name) >= 0:
            self.cube_box.setCurrentText(active.name)

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

    def offer_model(self, key: str, label: str) -> None:
        """List an in-memory model without switching to it (a fine-tuned model that scored worse than the start)."""
        if self.model_box.findData(key) < 0:
            self.model_box.addItem(label, key)

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
        self._stop = threading.Event()
        relay = self._relay
        self.worker = create_worker(job, cube, model, self.class_box.currentData(),
                                    self.method_box.currentData(), leaf, geometry(layer),
                                    lambda done, of: relay.tile.emit((done, of)), self._stop.is_set,
                                    _start_thread=False, _connect=connect,
                                    _progress={"total": JOB_STEPS, "desc": "Explain (FOCUS)"})
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._discard = ""
        self._shown = False
        self.export_button.setEnabled(False)
        self.status.setText("starting…")
        self.progress.setValue(0)
        self.worker.start()
        return self.worker

    def cancel(self, why: str = "cancelled; nothing was added") -> None:
        """Stop the run at its next step; whatever it returns meanwhile is not added."""
        if self.worker is not None:
            self._discard = why
            self._stop.set()
            self.cancel_button.setEnabled(False)
            self.status.setText("cancelling…")
            self.worker.quit()

    def showEvent(self, e: Any) -> None:  # noqa: N802 (Qt's name)
        """The first time the dock shows, refit the view: napari fitted the cube to the canvas before the dock took
        a third of its width, and the leaf's edges were cut off."""
        super().showEvent(e)
        if not getattr(self, "_refitted", False):
            self._refitted = True
            QTimer.singleShot(0, self.viewer.reset_view)

    def event(self, e: QEvent) -> bool:
        # napari removes a closed dock by taking its widget out of the window: the run's result must not appear
        if e.type() == QEvent.Type.ParentChange and self.parent() is None and self.running:
            self.cancel("the Explain dock was closed; nothing was added")
            if self._showing is not None and not self._discard:
                self._discard = "the Explain dock was closed; nothing was added"
        return super().event(e)

    def _on_step(self, step: tuple[int, int, str]) -> None:
        if self._discard:
            return  # a step that was under way when Cancel was pressed: "done" would be a lie
        done, total, message = step
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(message)

    def _on_tile(self, item: tuple[int, int]) -> None:
        if self.worker is None or self._discard:
            return
        done, of = item
        self.progress.setRange(0, max(of, 1))
        self.progress.setValue(done)
        self.status.setText(f"explaining: tile {done} of {of}")

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        if self._discard:  # cancelled between two tiles: said by the status line, not an error
            return
        msg = str(exc) if isinstance(exc, FocusError) else f"{type(exc).__name__}: {exc}"
        show_error(f"napari-focus could not explain: {msg}")
        self.status.setText("failed; nothing was added")

    def _on_finished(self) -> None:
        if self._discard and self._showing is None:
            self.status.setText(self._discard)
        self.worker = None
        if self._showing is None:
            self._ready()

    def _ready(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setValue(self.progress.maximum() if self._shown else 0)  # full after a result, not 0%

    def _on_result(self, result: tuple[Any, Any, Any]) -> None:
        from napari.utils.notifications import show_warning

        layer = self._explained_layer
        if self._discard:  # cancelled or closed after the worker had finished its last step
            return
        if layer not in self.viewer.layers:
            show_warning("napari-focus: the cube layer was removed while explaining; the result was discarded")
            self.status.setText("cube removed; nothing was added")
            return
        exp, model, (prepared_for, layer_data, curve, built) = result
        same = prepared_for == geometry(layer)  # moved or rescaled while explaining: recompute
        self._show_in_turns(layer, self._show_steps(layer, exp, model, (layer_data, curve, built) if same else None))

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
            paths = export_explanation(self.result, folder, getattr(self, "_classes", None),
                                       model=getattr(self, "result_model", None))
        except FocusError as exc:  # a folder holding the user's own files: refused, nothing written
            show_error(f"napari-focus: {exc}")
            return []
        except OSError as exc:
            show_error(f"napari-focus could not export to {folder}: {exc}")
            return []
        show_info(f"napari-focus: wrote {len(paths)} files to {folder}")
        return paths
