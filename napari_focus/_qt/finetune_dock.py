"""The Fine-tune dock: teach FOCUS the user's own leaves without leaving napari.

Thin by design: the editor turns layers into a `TrainingSet`; `finetune_job.run_finetune` runs in a
napari worker (torch is imported there, never on a click); its per-batch progress and per-epoch
scores cross to the GUI thread through a small Qt relay and feed the progress bars, the ETA and the
live plot. The starting model is trained as a private copy, so Cancel (or an error) leaves the model
the user had bit-identical. At the end the Explain dock switches to the new model; Save writes it
as a checkpoint folder (atomically).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from qtpy.QtCore import QEvent, QObject, Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..errors import FocusError
from .explain_dock import ExplainDock
from .explain_worker import _avoid_triton_without_gpu, wait_for_prefetch
from .train_plot import TrainPlot
from .training_set_editor import TrainingSetEditor

STARTS = (("embedded default model", "default"),
          ("the Explain dock's model", "explain"),
          ("fresh prompts on the embedded backbone", "backbone"),
          ("fresh prompts on another backbone…", "other"))
CHECKPOINT = "checkpoint:"  # item data of a start from a checkpoint folder: the prefix and the folder
TRAINED = (("prompts + head (fast)", True), ("prompts + adapter + sink", False))
HINT = ("Regions: each connected patch of one label value is a sample, cropped to its box; pixels outside "
        "the patch are set to 0. Held-out images are never trained on.")


class _Relay(QObject):
    """Carries the worker's callbacks to the GUI thread (queued signals)."""

    progress = Signal(object)
    epoch = Signal(object)


def _job(ts: Any, start: Any, settings: Any, relay: _Relay, stop: threading.Event) -> Any:
    """Worker body: leave the GUI a core, then fine-tune (torch is first imported here)."""
    wait_for_prefetch()  # an Explain dock may be importing torch in the background: never two at once
    _avoid_triton_without_gpu()
    import torch

    from ..finetune_job import run_finetune

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    return run_finetune(ts, start, settings, progress=lambda s, t, i: relay.progress.emit((s, t, dict(i))),
                        should_stop=stop.is_set, on_epoch=lambda e, loss, v: relay.epoch.emit((e, loss, v)))


def explain_docks(viewer: Any) -> list[ExplainDock]:
    """The Explain docks open in this viewer."""
    try:
        widgets = list(viewer.window.dock_widgets.values())
    except AttributeError:
        return []
    return [w for w in widgets if isinstance(w, ExplainDock)]


def _eta(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return f"{s // 60}:{s % 60:02d}"


class FinetuneDock(QWidget):
    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: Any = None
        self.model: Any = None  # the last fine-tuned model (also handed to the Explain dock)
        self.model_key: str | None = None
        self.result: Any = None
        self._stop = threading.Event()
        self._done = False
        self._pbar: Any = None
        self._relay = _Relay(self)
        self._relay.progress.connect(self._on_progress, Qt.QueuedConnection)
        self._relay.epoch.connect(self._on_epoch, Qt.QueuedConnection)

        self.editor = TrainingSetEditor(napari_viewer)
        self.start_box = QComboBox()
        for label, data in STARTS:
            self.start_box.addItem(label, data)
        self.open_checkpoint = QPushButton("Checkpoint…")
        self.backbone_name = QLineEdit()
        self.backbone_name.setPlaceholderText("timm name, e.g. vit_small_patch14_dinov2.lvd142m")
        self.backbone_file = QLineEdit()
        self.backbone_file.setPlaceholderText("local weights file (.safetensors or backbone.json)")
        self.backbone_browse = QPushButton("…")
        self.download = QCheckBox("download the weights (needs internet)")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-3)
        self.sink_weight = QDoubleSpinBox()
        self.sink_weight.setDecimals(4)
        self.sink_weight.setRange(0.0, 10.0)
        self.sink_weight.setSingleStep(1e-3)
        self.held_out = QDoubleSpinBox()
        self.held_out.setRange(0.0, 0.9)
        self.held_out.setSingleStep(0.05)
        self.trained = QComboBox()
        for label, fast in TRAINED:
            self.trained.addItem(label, fast)
        self._set_defaults()
        self.train_button = QPushButton("Train")
        self.save_button = QPushButton("Save…")
        self.save_button.setEnabled(False)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.notes = QLabel("")
        for lab in (self.status, self.notes):
            lab.setWordWrap(True)
        self.notes.setStyleSheet("color: #9aa4b2; font-size: 11px;")
        self.plot = TrainPlot()
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #9aa4b2; font-size: 11px;")

        start_row = QHBoxLayout()
        start_row.addWidget(self.start_box, 1)
        start_row.addWidget(self.open_checkpoint)
        self.backbone_row = QWidget()
        bl = QFormLayout(self.backbone_row)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addRow("timm name", self.backbone_name)
        file_row = QHBoxLayout()
        file_row.addWidget(self.backbone_file, 1)
        file_row.addWidget(self.backbone_browse)
        bl.addRow("weights", file_row)
        bl.addRow("", self.download)
        form = QFormLayout()
        form.addRow("start from", start_row)
        form.addRow(self.backbone_row)
        form.addRow("epochs", self.epochs)
        form.addRow("learning rate", self.lr)
        form.addRow("λ (sink weight)", self.sink_weight)
        form.addRow("held-out fraction", self.held_out)
        form.addRow("train", self.trained)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor, 3)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 2)
        layout.addWidget(self.notes)
        layout.addWidget(hint)

        self.train_button.clicked.connect(self._on_train_clicked)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.open_checkpoint.clicked.connect(self._on_open_checkpoint)
        self.backbone_browse.clicked.connect(self._on_browse_backbone)
        self.start_box.currentIndexChanged.connect(self._on_start_changed)
        self.editor.changed.connect(self._update_train_button)
        self._on_start_changed()
        self._update_train_button()

    def _set_defaults(self) -> None:
        from ..finetune_job import Settings

        d = Settings()
        self.epochs.setValue(d.epochs)
        self.lr.setValue(d.lr)
        self.sink_weight.setValue(d.sink_weight)
        self.held_out.setValue(d.held_out)
        self.trained.setCurrentIndex(self.trained.findData(d.fast))

    # ------------------------------------------------------------------ choices
    def set_start_checkpoint(self, folder: str | os.PathLike) -> None:
        """Start from a checkpoint folder (its classes join the class list)."""
        folder = str(Path(folder))
        idx = self.start_box.findData(CHECKPOINT + folder)
        if idx < 0:
            self.start_box.addItem(f"checkpoint {Path(folder).name}", CHECKPOINT + folder)
            idx = self.start_box.count() - 1
        self.start_box.setCurrentIndex(idx)

    def _on_open_checkpoint(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Start from a FOCUS checkpoint folder")
        if folder:
            self.set_start_checkpoint(folder)

    def _on_browse_backbone(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Backbone weights", "", "weights (*.safetensors *.json)")
        if path:
            self.backbone_file.setText(path)

    def _start(self) -> tuple[str, str | None]:
        data = str(self.start_box.currentData())
        return ("checkpoint", data[len(CHECKPOINT):]) if data.startswith(CHECKPOINT) else (data, None)

    def _on_start_changed(self, *_: Any) -> None:
        kind, ref = self._start()
        self.backbone_row.setVisible(kind == "other")
        if kind == "checkpoint":  # a class list that matches the model's saves renaming
            try:
                for c in json.loads((Path(ref) / "config.json").read_text()).get("classes", []):
                    self.editor.add_class(c)
            except (OSError, ValueError):
                pass

    def start_point(self) -> Any:
        """The `StartPoint` the choices describe (FocusError when the Explain dock has no model)."""
        from ..finetune_job import StartPoint

        kind, ref = self._start()
        if kind == "checkpoint":
            return StartPoint("checkpoint", ref)
        if kind == "explain":
            docks = explain_docks(self.viewer)
            if not docks:
                raise FocusError("no Explain dock is open: open Plugins > napari-focus > Explain (FOCUS) first, "
                                 "or start from another model")
            ref = docks[0].model_box.currentData() or docks[0]._resolved_model()
            if ref is None:
                raise FocusError("the Explain dock has no model selected")
            return StartPoint("model", str(ref))
        if kind == "other":
            name = self.backbone_name.text().strip() or None
            file = self.backbone_file.text().strip() or None
            if name is None and file is None:
                raise FocusError("give a timm backbone name or a local weights file")
            return StartPoint("backbone", backbone_name=name, backbone_file=file, download=self.download.isChecked())
        return StartPoint(kind)

    def settings(self) -> Any:
        from ..finetune_job import Settings

        return Settings(epochs=self.epochs.value(), lr=self.lr.value(), sink_weight=self.sink_weight.value(),
                        held_out=self.held_out.value(), fast=bool(self.trained.currentData()),
                        trait=self.editor.trait)

    # ------------------------------------------------------------------ running
    @property
    def running(self) -> bool:
        return self.worker is not None

    def _update_train_button(self) -> None:
        if not self.running:
            self.train_button.setEnabled(self.editor.ready)

    def _on_train_clicked(self) -> None:
        if self.running:
            self.cancel()
        else:
            self.start()

    def start(self) -> Any:
        """Start fine-tuning; returns the worker (None when the input was refused, with a notification)."""
        from napari.qt.threading import create_worker
        from napari.utils import progress
        from napari.utils.notifications import show_error

        if self.running:
            return self.worker
        try:
            ts = self.editor.build()
            start, settings = self.start_point(), self.settings()
        except FocusError as exc:
            show_error(f"napari-focus cannot fine-tune: {exc}")
            return None
        self._stop = threading.Event()
        self._done = False
        self._settings = settings
        self._stage: tuple[str, float] = ("", time.monotonic())
        self.plot.reset(settings.epochs, ts.task)
        self._pbar = progress(total=0, desc="fine-tuning FOCUS")
        connect = {"returned": self._on_result, "errored": self._on_error, "finished": self._on_finished}
        self.worker = create_worker(_job, ts, start, settings, self._relay, self._stop, _start_thread=False,
                                    _connect=connect)
        self.train_button.setText("Cancel")
        self.train_button.setEnabled(True)
        self.save_button.setEnabled(False)
        self.status.setText(f"starting: {len(ts)} samples from {len(ts.images)} images…")
        self.notes.setText("")
        self.progress.setRange(0, 0)
        self.worker.start()
        return self.worker

    def cancel(self) -> None:
        """Stop at the next batch; the model that was there before stays. Harmless when repeated or idle."""
        if self.worker is not None and not self._stop.is_set():
            self._stop.set()
            self.status.setText("cancelling…")

    def _on_progress(self, item: tuple[int, int, dict]) -> None:
        if self.worker is None:
            return
        step, total, info = item
        stage = info.get("stage") or "training"
        if "done" in info:  # a sub-stage counting its own steps (caching the backbone's keys and values)
            step, total = int(info["done"]), int(info["of"])
        if stage != self._stage[0]:
            self._stage = (stage, time.monotonic())
        elapsed = time.monotonic() - self._stage[1]
        eta = f" · ETA {_eta(elapsed / step * (total - step))}" if step > 0 and total > step else ""
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(step, total))
        pbar = self._pbar  # a local: napari's progress may process events, and `finished` closes it
        if pbar is not None:
            pbar.total = max(total, 1)
            pbar.n = min(step, total)
            pbar.set_description(f"fine-tuning: {stage}")
            pbar.refresh()
        if stage == "training" and "loss" in info:
            epochs = self._settings.epochs
            per_epoch = max(1.0, total / max(epochs, 1))
            self.plot.add_batch(step / per_epoch, float(info["loss"]))
            text = f"epoch {info.get('epoch', '?')}/{epochs} · loss {float(info['loss']):.3f}{eta}"
        else:
            text = f"{stage} {step}/{total}{eta}"
        if not self._stop.is_set():
            self.status.setText(text)

    def _on_epoch(self, item: tuple[int, float, float | None]) -> None:
        if self.worker is not None:
            self.plot.add_epoch(*item)

    def _on_result(self, result: Any) -> None:
        self.result = result
        if result.cancelled:
            self.status.setText("cancelled; the previous model is unchanged")
            return
        from ..explain_job import remember_model

        h = result.history
        score = f" · held-out {'accuracy' if result.model.task == 'classification' else 'R²'} {h.val_score[-1]:.2f}" \
            if h.val_score else " · no held-out images"
        label = f"fine-tuned: {', '.join(result.model.classes)}"
        self.model = result.model
        self.model_key = remember_model(result.model, label)
        for dock in explain_docks(self.viewer):
            dock.use_model(self.model_key, label)
        self.save_button.setEnabled(True)
        self._done = True
        self.status.setText(f"done in {h.seconds:.1f} s · {result.n_train} training, {result.n_held} held-out "
                            f"samples · loss {h.loss[-1]:.3f}{score}. The Explain dock now uses this model.")
        self.notes.setText("\n".join(result.notes))

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        msg = str(exc) if isinstance(exc, FocusError) else f"{type(exc).__name__}: {exc}"
        show_error(f"napari-focus could not fine-tune: {msg}")
        self.status.setText("failed; the previous model is unchanged")

    def _on_finished(self) -> None:
        self.worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        self.train_button.setText("Train")
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self._done else 0)  # full after success, empty after cancel or error
        self._update_train_button()

    # ------------------------------------------------------------------ closing
    def event(self, e: QEvent) -> bool:
        # napari removes a closed dock by taking its widget out of the window: stop training then
        if e.type() == QEvent.ParentChange and self.parent() is None:
            self.cancel()
        return super().event(e)

    def closeEvent(self, e: Any) -> None:
        self.cancel()
        super().closeEvent(e)

    # ------------------------------------------------------------------ saving
    def _on_save_clicked(self) -> None:
        folder, _ = QFileDialog.getSaveFileName(self, "Save the fine-tuned model as a checkpoint folder",
                                                "focus_finetuned")
        if folder:
            self.save(folder)

    def save(self, folder: str | os.PathLike) -> Path | None:
        """Write the fine-tuned model as a checkpoint folder (atomically: a temp folder renamed into place)."""
        from napari.utils.notifications import show_error, show_info

        if self.model is None:
            show_error("napari-focus: nothing to save yet: fine-tune a model first")
            return None
        from ..focus.checkpoint import save_checkpoint

        try:
            out = save_checkpoint(self.model, folder)
        except (OSError, FocusError) as exc:
            show_error(f"napari-focus could not save to {folder}: {exc}")
            return None
        show_info(f"napari-focus: saved the fine-tuned model to {out}")
        return out
