"""The Fine-tune dock's choices: where training starts (a model, a checkpoint, a backbone) and its settings.

A form only: it turns its widgets into the core's `StartPoint` and `Settings` (finetune_job) and raises
`FocusError` for choices that cannot work; running, progress and saving stay in `finetune_dock.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ..errors import FocusError
from .band_link import docked_widgets
from .combo import select_or_add
from .explain_dock import ExplainDock

STARTS = (("embedded default model", "default"),
          ("the Explain dock's model", "explain"),
          ("fresh prompts on the embedded backbone", "backbone"),
          ("fresh prompts on another backbone…", "other"))
CHECKPOINT = "checkpoint:"  # item data of a start from a checkpoint folder: the prefix and the folder
TRAINED = (("prompts + head (fast)", True), ("prompts + adapter + sink", False))


def explain_docks(viewer: Any) -> list[ExplainDock]:
    """The Explain docks open in this viewer."""
    return [w for w in docked_widgets(viewer).values() if isinstance(w, ExplainDock)]


class FinetuneForm(QWidget):
    """Start point and settings. `editor` (the training-set editor) gets a checkpoint's classes and gives the
    trait; `viewer` is asked for the Explain dock's model."""

    def __init__(self, viewer: Any, editor: Any) -> None:
        super().__init__()
        self.viewer = viewer
        self.editor = editor
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
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)  # laid out as the dock's own rows were
        form.addRow("start from", start_row)
        form.addRow(self.backbone_row)
        form.addRow("epochs", self.epochs)
        form.addRow("learning rate", self.lr)
        form.addRow("λ (sink weight)", self.sink_weight)
        form.addRow("held-out fraction", self.held_out)
        form.addRow("train", self.trained)

        self.open_checkpoint.clicked.connect(self._on_open_checkpoint)
        self.backbone_browse.clicked.connect(self._on_browse_backbone)
        self.start_box.currentIndexChanged.connect(self._on_start_changed)
        self._on_start_changed()

    def _set_defaults(self) -> None:
        from ..finetune_job import Settings

        d = Settings()
        self.epochs.setValue(d.epochs)
        self.lr.setValue(d.lr)
        self.sink_weight.setValue(d.sink_weight)
        self.held_out.setValue(d.held_out)
        self.trained.setCurrentIndex(self.trained.findData(d.fast))

    def set_start_checkpoint(self, folder: str | os.PathLike) -> None:
        """Start from a checkpoint folder (its classes join the class list)."""
        select_or_add(self.start_box, CHECKPOINT + str(Path(folder)), f"checkpoint {Path(folder).name}")

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
            except (OSError, ValueError, AttributeError, RecursionError):  # not ours: loading it says why
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
