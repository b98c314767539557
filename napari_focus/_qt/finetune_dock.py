"""The Fine-tune dock: teach FOCUS the user's own leaves without leaving napari.

Thin by design: the editor turns layers into a `TrainingSet`; `finetune_job.run_finetune` runs in a
napari worker (torch is imported there, never on a click); its per-batch progress and per-epoch
scores cross to the GUI thread through a small Qt relay and feed the progress bars, the ETA and the
live plot. The starting model is trained as a private copy, so Cancel (or an error) leaves the model
the user had bit-identical. At the end the Explain dock switches to the new model; Save writes it
as a checkpoint folder (atomically). The start point and settings form is `finetune_form.py`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from qtpy.QtCore import QEvent, QObject, Qt, Signal
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..errors import FocusError
from .explain_worker import torch_imports, wait_for_prefetch
from .finetune_form import FinetuneForm, explain_docks
from .scrolling import scrolling
from .train_plot import TrainPlot
from .training_set_editor import TrainingSetEditor

HINT = ("Regions: each connected patch of one label value is a sample, cropped to its box; pixels outside "
        "the patch are set to 0. Held-out images are never trained on.")


class _Relay(QObject):
    """Carries the worker's callbacks to the GUI thread (queued signals)."""

    progress = Signal(object)
    epoch = Signal(object)


def _job(ts: Any, start: Any, settings: Any, relay: _Relay, stop: threading.Event) -> Any:
    """Worker body: leave the GUI a core, then fine-tune (torch is first imported here)."""
    wait_for_prefetch()  # an Explain dock may be importing torch in the background: never two at once
    with torch_imports():
        import torch

        from ..finetune_job import run_finetune

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    return run_finetune(ts, start, settings, progress=lambda s, t, i: relay.progress.emit((s, t, dict(i))),
                        should_stop=stop.is_set, on_epoch=lambda e, loss, v: relay.epoch.emit((e, loss, v)))


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
        self._returned = False
        self._pbar: Any = None
        self._relay = _Relay(self)
        self._relay.progress.connect(self._on_progress, Qt.QueuedConnection)
        self._relay.epoch.connect(self._on_epoch, Qt.QueuedConnection)

        self.editor = TrainingSetEditor(napari_viewer)
        self.form = FinetuneForm(napari_viewer, self.editor)
        f = self.form  # its widgets, under the names the dock has always had
        self.start_box, self.open_checkpoint, self.backbone_row = f.start_box, f.open_checkpoint, f.backbone_row
        self.backbone_name, self.backbone_file, self.download = f.backbone_name, f.backbone_file, f.download
        self.backbone_browse = f.backbone_browse
        self.epochs, self.lr, self.sink_weight, self.held_out, self.trained = (f.epochs, f.lr, f.sink_weight,
                                                                                f.held_out, f.trained)
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

        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.save_button)
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addWidget(self.editor, 3)
        layout.addWidget(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 2)
        layout.addWidget(self.notes)
        layout.addWidget(hint)
        scrolling(self, inner)  # its form, table and plot are ~1000 px tall: it scrolls in a shared column

        self.train_button.clicked.connect(self._on_train_clicked)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.editor.changed.connect(self._update_train_button)
        self._update_train_button()

    # ------------------------------------------------------------------ choices (finetune_form.py)
    def set_start_checkpoint(self, folder: str | os.PathLike) -> None:
        """Start from a checkpoint folder (its classes join the class list)."""
        self.form.set_start_checkpoint(folder)

    def start_point(self) -> Any:
        """The `StartPoint` the choices describe (FocusError when the Explain dock has no model)."""
        return self.form.start_point()

    def settings(self) -> Any:
        return self.form.settings()

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
        self._returned = False
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
        if self.worker is None or self._returned:  # a relayed step can arrive after the worker's result
            return
        step, total, info = item
        stage = info.get("stage") or "training"
        if "done" in info:  # a sub-stage counting its own steps (caching the backbone's keys and values)
            step, total = int(info["done"]), int(info["of"])
        if stage != self._stage[0]:
            self._stage = (stage, time.monotonic())
        elapsed = time.monotonic() - self._stage[1]
        # per stage, and named so: loading and caching can take longer than training, whose ETA read 0:00 meanwhile
        eta = (f" · {stage} ETA {_eta(elapsed / step * (total - step))}" if step > 0 and total > step
               else f" · {_eta(elapsed)} so far")
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(step, total))
        if stage == "training" and "loss" in info:
            epochs = self._settings.epochs
            per_epoch = max(1.0, total / max(epochs, 1))
            self.plot.add_batch(step / per_epoch, float(info["loss"]))
            text = f"epoch {info.get('epoch', '?')}/{epochs} · loss {float(info['loss']):.3f}{eta}"
        else:
            text = f"{stage} {step}/{total}{eta}"
        if not self._stop.is_set():
            self.status.setText(text)
        pbar = self._pbar  # a local: napari's progress may process events, and `finished` closes it
        if pbar is not None:  # last: its refresh may run the next steps and the result, which must come after this
            pbar.total = max(total, 1)
            pbar.n = min(step, total)
            pbar.set_description(f"fine-tuning: {stage}")
            pbar.refresh()

    def _on_epoch(self, item: tuple[int, float, float | None]) -> None:
        if self.worker is not None:
            self.plot.add_epoch(*item)

    def _on_result(self, result: Any) -> None:
        self.result = result
        self._returned = True
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
        fell = result.score_fell
        for dock in explain_docks(self.viewer):
            (dock.offer_model if fell else dock.use_model)(self.model_key, label)
        self.save_button.setEnabled(True)
        self._done = True
        done = f"done in {h.seconds:.1f} s · {result.n_train} training, {result.n_held} held-out samples · " \
               f"loss {h.loss[-1]:.3f}{score}."
        if fell:
            from napari.utils.notifications import show_warning

            worse = (f"The held-out score fell from {result.score_before:.2f} (the starting model) to "
                     f"{h.val_score[-1]:.2f}: the Explain dock keeps its model. Pick '{label}' there to use it anyway.")
            show_warning(f"napari-focus: {worse}")
            self.status.setText(f"{done} {worse}")
        else:
            self.status.setText(f"{done} The Explain dock now uses this model.")
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
        except FocusError as exc:  # e.g. a folder holding the user's own files: refused, nothing written
            show_error(f"napari-focus: {exc}")
            return None
        except OSError as exc:
            show_error(f"napari-focus could not save to {folder}: {exc}")
            return None
        show_info(f"napari-focus: saved the fine-tuned model to {out}")
        return out
