"""The Fine-tune dock's training-set editor: which open layers are samples, and what each one is.

Two modes (tabs): whole cubes, each image layer with a class drop-down (or a target); or painted
regions, each Labels layer paired with the image it was painted on and a legend from label value to
class (or target). An editable class list feeds every drop-down. The editor turns layers into a core
`TrainingSet` (through `training_set_layers.py`) and says, live, how many samples each class has and whether
training is possible.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..errors import FocusError
from ..training_set import TrainingSet, check_labels, count_labels
from .explain_inputs import cube_layers
from .training_set_layers import build_training_set, cube_labels, region_labels

NOT_USED = "— not used —"
MODES = ("cubes", "regions")
OK_STYLE, BAD_STYLE = "color: #9fd3a0;", "color: #ff8a80;"
TRAINING_LABELS = "training labels"  # metadata tag of the Labels layers this editor creates


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
    for i in range(1, len(headers)):
        t.horizontalHeader().setSectionResizeMode(i, QHeaderView.ResizeToContents)
    t.setMinimumHeight(90)
    return t


def _name_item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemIsEditable)
    return item


class TrainingSetEditor(QWidget):
    """Layers → samples. `changed` fires whenever the summary (counts, readiness) may have changed."""

    changed = Signal()

    def __init__(self, viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.task = "classification"
        self.classes: list[str] = ["healthy", "diseased"]
        self.cube_assign: dict[str, dict[str, str]] = {"classification": {}, "regression": {}}
        self.legend: dict[str, dict[int, str]] = {"classification": {}, "regression": {}}
        self.pairs: dict[str, str] = {}  # labels layer -> image layer
        self.ready = False
        self._values: dict[int, int] = {}  # label value -> regions, over every used pair

        self.task_box = QComboBox()
        self.task_box.addItem("classes", "classification")
        self.task_box.addItem("a numeric trait (regression)", "regression")
        self.trait_edit = QLineEdit("trait")
        self.trait_edit.setToolTip("name of the trait the model predicts (e.g. chlorophyll)")
        self.class_list = QListWidget()
        self.class_list.setMaximumHeight(66)
        self.add_button, self.rename_button, self.remove_button = (QPushButton(t) for t in ("Add", "Rename", "Remove"))
        self.cubes_table = _table(["image layer", "class"])
        self.labels_table = _table(["labels layer", "painted on"])
        self.legend_table = _table(["label", "regions", "class"])
        self.new_labels_button = QPushButton("New labels layer on the selected image")
        self.tabs = QTabWidget()
        cubes_page, regions_page = QWidget(), QWidget()
        QVBoxLayout(cubes_page).addWidget(self.cubes_table)
        rl = QVBoxLayout(regions_page)
        for w in (self.labels_table, self.new_labels_button, QLabel("legend: label value → class"), self.legend_table):
            rl.addWidget(w)
        self.tabs.addTab(cubes_page, "Whole cubes")
        self.tabs.addTab(regions_page, "Painted regions")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)

        task_row = QHBoxLayout()
        task_row.addWidget(QLabel("learn"))
        task_row.addWidget(self.task_box, 1)
        task_row.addWidget(self.trait_edit)
        self.class_row = QWidget()
        cl = QHBoxLayout(self.class_row)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.class_list, 1)
        buttons = QVBoxLayout()
        for b in (self.add_button, self.rename_button, self.remove_button):
            buttons.addWidget(b)
        cl.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(task_row)
        layout.addWidget(self.class_row)
        layout.addWidget(self.tabs)
        layout.addWidget(self.summary)

        self._recount_timer = QTimer(self)
        self._recount_timer.setSingleShot(True)
        self._recount_timer.setInterval(250)
        self._recount_timer.timeout.connect(self._update_summary)
        self.task_box.currentIndexChanged.connect(lambda _: self.set_task(self.task_box.currentData()))
        self.trait_edit.setVisible(False)
        self.add_button.clicked.connect(self._on_add)
        self.rename_button.clicked.connect(self._on_rename)
        self.remove_button.clicked.connect(self._on_remove)
        self.class_list.itemChanged.connect(self._on_item_renamed)
        self.tabs.currentChanged.connect(lambda _: self._update_summary())
        self.new_labels_button.clicked.connect(self.new_labels_layer)
        for ev in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            ev.connect(self._on_layers_changed)
        for layer in self.viewer.layers:
            self._watch(layer)
        self._fill_class_list()
        self.refresh()

    # ------------------------------------------------------------------ state changes (also the test API)
    @property
    def mode(self) -> str:
        return MODES[self.tabs.currentIndex()]

    def set_mode(self, mode: str) -> None:
        self.tabs.setCurrentIndex(MODES.index(mode))

    def set_task(self, task: str) -> None:
        self.task = task
        self.task_box.blockSignals(True)
        self.task_box.setCurrentIndex(self.task_box.findData(task))
        self.task_box.blockSignals(False)
        self.class_row.setVisible(task == "classification")
        self.trait_edit.setVisible(task == "regression")
        what = "class" if task == "classification" else "target"
        self.cubes_table.setHorizontalHeaderLabels(["image layer", what])
        self.legend_table.setHorizontalHeaderLabels(["label", "regions", what])
        self.refresh()

    def add_class(self, name: str | None = None) -> str:
        if name is None:
            i = len(self.classes) + 1
            while f"class {i}" in self.classes:
                i += 1
            name = f"class {i}"
        name = name.strip()
        if name and name not in self.classes:
            self.classes.append(name)
            self._fill_class_list()
            self.refresh()
        return name

    def rename_class(self, old: str, new: str) -> bool:
        new = new.strip()
        if old not in self.classes or not new or (new in self.classes and new != old):
            return False
        self.classes[self.classes.index(old)] = new
        for table in (self.cube_assign["classification"], self.legend["classification"]):
            for k, v in list(table.items()):
                if v == old:
                    table[k] = new
        self._fill_class_list()
        self.refresh()
        return True

    def remove_class(self, name: str) -> None:
        if name not in self.classes:
            return
        self.classes.remove(name)
        for table in (self.cube_assign["classification"], self.legend["classification"]):
            for k in [k for k, v in table.items() if v == name]:
                del table[k]
        self._fill_class_list()
        self.refresh()

    def set_label(self, layer_name: str, value: Any) -> None:
        """A whole cube's class (or target); None or NOT_USED leaves it out."""
        self._assign(self.cube_assign[self.task], layer_name, value)
        self.refresh()

    def pair(self, labels_name: str, image_name: str | None) -> None:
        """Use a Labels layer's regions as samples of `image_name` (None: not used)."""
        self._assign(self.pairs, labels_name, image_name)
        self.refresh()

    def set_legend(self, value: int, label: Any) -> None:
        """What label value `value` means: a class name (or a target); None leaves its regions out."""
        self._assign(self.legend[self.task], int(value), label)
        self.refresh()

    def _assign(self, table: dict, key: Any, value: Any) -> None:
        if value is None or str(value).strip() in ("", NOT_USED):
            table.pop(key, None)
        else:
            table[key] = str(value).strip()

    def _edited(self, table: dict, key: Any, value: Any) -> None:
        """A drop-down or field changed: its own widget already shows it, so only the summary is redone."""
        self._assign(table, key, value)
        self._update_summary()

    def new_labels_layer(self) -> Any:
        """A 2-D Labels layer on the selected (or first) image, paired with it, ready to paint."""
        from napari.utils.notifications import show_error

        images = cube_layers(self.viewer)
        active = self.viewer.layers.selection.active
        image = active if active in images else (images[0] if images else None)
        if image is None:
            show_error("napari-focus: open a hyperspectral image first, then paint labels on it")
            return None
        import numpy as np

        h, w = image.data.shape[-2:]
        layer = self.viewer.add_labels(np.zeros((h, w), np.int32), name=f"{image.name} · training labels",
                                       scale=tuple(image.scale)[-2:], translate=tuple(image.translate)[-2:],
                                       metadata={"napari_focus": TRAINING_LABELS, "image": image.name})
        self.pair(layer.name, image.name)
        self.set_mode("regions")
        layer.mode = "paint"
        return layer

    # ------------------------------------------------------------------ building (training_set_layers.py)
    def sample_labels(self) -> list[Any]:
        """The label of every sample the current choices make, without cropping anything."""
        if self.mode == "cubes":
            return cube_labels(self.viewer, self.task, self.cube_assign[self.task])
        self._values = {}
        return region_labels(self.viewer, self.task, self.pairs, self.legend[self.task], self._values)

    def build(self) -> TrainingSet:
        """The training set the current choices make (crops read only their windows); FocusError if refused."""
        return build_training_set(self.viewer, self.task, self.mode, self.cube_assign[self.task], self.pairs,
                                  self.legend[self.task])

    @property
    def trait(self) -> str:
        return self.trait_edit.text().strip() or "trait"

    # ------------------------------------------------------------------ view
    def refresh(self, *_: Any) -> None:
        self._fill_cubes()
        self._fill_labels()
        self._update_summary()

    def _update_summary(self) -> None:
        labels: list[Any] = []
        try:
            labels = self.sample_labels()
            check_labels(self.task, labels)
            text, style, self.ready = "ready to train", OK_STYLE, True
        except FocusError as exc:
            text, style, self.ready = str(exc), BAD_STYLE, False
        if self.mode == "regions":
            self._fill_legend()
        parts = [f"{c}: {n}" for c, n in count_labels(self.task, labels).items()]
        self.summary.setText(f"{' · '.join(parts) if parts else 'no samples yet'}\n{text}")
        self.summary.setStyleSheet(style)
        self.changed.emit()

    def _fill_class_list(self) -> None:
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for c in self.classes:
            item = QListWidgetItem(c)
            item.setFlags(item.flags() | Qt.ItemIsEditable)
            item.setData(Qt.UserRole, c)  # the name before an in-place edit
            self.class_list.addItem(item)
        self.class_list.blockSignals(False)

    def _choice(self, current: str | None, on_change: Any) -> QWidget:
        if self.task == "regression":
            edit = QLineEdit(current or "")
            edit.setPlaceholderText("number")
            edit.editingFinished.connect(lambda: on_change(edit.text()))
            return edit
        box = QComboBox()
        box.addItems([NOT_USED, *self.classes])
        box.setCurrentText(current if current in self.classes else NOT_USED)
        box.currentTextChanged.connect(on_change)
        return box

    def _fill_cubes(self) -> None:
        names = [lyr.name for lyr in cube_layers(self.viewer)]
        t = self.cubes_table
        t.setRowCount(len(names))
        for row, name in enumerate(names):
            t.setItem(row, 0, _name_item(name))
            table = self.cube_assign[self.task]
            t.setCellWidget(row, 1, self._choice(table.get(name), lambda v, n=name, d=table: self._edited(d, n, v)))

    def _fill_labels(self) -> None:
        labels = [lyr for lyr in self.viewer.layers if lyr._type_string == "labels"]
        t = self.labels_table
        t.setRowCount(len(labels))
        for row, lab in enumerate(labels):
            t.setItem(row, 0, _name_item(lab.name))
            box = QComboBox()
            hw = tuple(lab.data.shape[-2:])
            box.addItems([NOT_USED] + [c.name for c in cube_layers(self.viewer) if tuple(c.data.shape[-2:]) == hw])
            box.setCurrentText(self.pairs.get(lab.name, NOT_USED))
            box.currentTextChanged.connect(lambda v, n=lab.name: self._edited(self.pairs, n, v))
            t.setCellWidget(row, 1, box)

    def _fill_legend(self) -> None:
        values = sorted(set(self._values) | set(self.legend[self.task]))
        t = self.legend_table
        t.setRowCount(len(values))
        for row, value in enumerate(values):
            t.setItem(row, 0, _name_item(str(value)))
            t.setItem(row, 1, _name_item(str(self._values.get(value, 0))))
            table = self.legend[self.task]
            t.setCellWidget(row, 2, self._choice(table.get(value), lambda v, k=value, d=table: self._edited(d, k, v)))

    # ------------------------------------------------------------------ events
    def _watch(self, layer: Any) -> None:
        layer.events.name.connect(self._on_layers_changed)
        if layer._type_string == "labels":
            layer.events.paint.connect(self._schedule_recount)
            layer.events.data.connect(self._schedule_recount)

    def _schedule_recount(self, *_: Any) -> None:
        """Painting emits per stroke: count regions once the brush rests."""
        self._recount_timer.start()

    def _on_layers_changed(self, event: Any = None) -> None:
        if event is not None and getattr(event, "type", None) == "inserted":
            self._watch(event.value)
        self.refresh()

    def _on_add(self) -> None:
        name = self.add_class()
        items = self.class_list.findItems(name, 0)
        if items:
            self.class_list.setCurrentItem(items[0])
            self.class_list.editItem(items[0])

    def _on_rename(self) -> None:
        item = self.class_list.currentItem()
        if item is not None:
            self.class_list.editItem(item)

    def _on_remove(self) -> None:
        item = self.class_list.currentItem()
        if item is not None:
            self.remove_class(item.data(Qt.UserRole))

    def _on_item_renamed(self, item: QListWidgetItem) -> None:
        old, new = item.data(Qt.UserRole), item.text()
        if not self.rename_class(old, new):
            QTimer.singleShot(0, self._fill_class_list)  # refused (empty or taken): put the old name back
