"""Combo-box helper the docks share: models and checkpoints are chosen by their data, added once."""

from __future__ import annotations

from qtpy.QtWidgets import QComboBox


def select_or_add(box: QComboBox, data: str, label: str) -> None:
    """Select the item holding `data`, adding it as `label` first when the box has none (no duplicates)."""
    idx = box.findData(data)
    if idx < 0:
        box.addItem(label, data)
        idx = box.count() - 1
    box.setCurrentIndex(idx)
