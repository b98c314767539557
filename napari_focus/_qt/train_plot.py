"""The Fine-tune dock's live plot: training loss (every batch and per epoch) over the held-out score.

Two stacked pyqtgraph plots sharing the epoch axis, so a falling loss and a rising held-out accuracy
(or R²) read together. Knows nothing of napari or torch; the dock feeds it numbers.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from qtpy.QtWidgets import QVBoxLayout, QWidget

from .spectral_plot import BACKGROUND

BATCH_PEN = pg.mkPen(150, 160, 175, 140, width=1)
EPOCH_PEN = pg.mkPen("#e8e8e8", width=2)
SCORE_PEN = pg.mkPen("#5ec8f2", width=2)


class TrainPlot(QWidget):
    """Loss per batch (thin) and per epoch (thick) on top; held-out accuracy or R² per epoch below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.loss_plot: pg.PlotItem = self.graphics.addPlot(row=0, col=0)
        self.score_plot: pg.PlotItem = self.graphics.addPlot(row=1, col=0)
        self.score_plot.setXLink(self.loss_plot)
        for plot in (self.loss_plot, self.score_plot):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setMenuEnabled(False)
            plot.getAxis("left").setWidth(48)
            plot.getAxis("left").enableAutoSIPrefix(False)  # a loss of 0.6 reads 0.6, not 600 (×1e-3)
        self.loss_plot.setLabel("left", "training loss")
        self.score_plot.setLabel("bottom", "epoch")
        self.batch_item = self.loss_plot.plot(pen=BATCH_PEN)
        self.epoch_item = self.loss_plot.plot(pen=EPOCH_PEN, symbol="o", symbolSize=5, symbolBrush="#e8e8e8")
        self.score_item = self.score_plot.plot(pen=SCORE_PEN, symbol="o", symbolSize=5, symbolBrush="#5ec8f2")
        self.graphics.ci.layout.setRowStretchFactor(0, 1)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.setMinimumHeight(240)
        self.reset()

    def reset(self, epochs: int = 1, task: str = "classification") -> None:
        """Empty the plot for a run of `epochs` epochs; the lower axis says accuracy or R²."""
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.epochs: list[int] = []
        self.epoch_loss: list[float] = []
        self.score_epochs: list[int] = []
        self.scores: list[float] = []
        self.score_plot.setLabel("left", "held-out accuracy" if task == "classification" else "held-out R²")
        self.loss_plot.setXRange(0, max(1, epochs), padding=0.02)
        if task == "classification":
            self.score_plot.setYRange(0.0, 1.0, padding=0.05)
        else:
            self.score_plot.enableAutoRange(axis="y")
        self._redraw()

    def add_batch(self, epoch_x: float, loss: float) -> None:
        """One batch's loss at a fractional epoch (1.5 = half-way through epoch 2)."""
        self.batch_x.append(float(epoch_x))
        self.batch_loss.append(float(loss))
        self.batch_item.setData(np.asarray(self.batch_x), np.asarray(self.batch_loss))

    def add_epoch(self, epoch: int, loss: float, score: float | None) -> None:
        """An epoch's mean loss and (when there is a held-out set) its held-out score."""
        self.epochs.append(int(epoch))
        self.epoch_loss.append(float(loss))
        if score is not None and np.isfinite(score):
            self.score_epochs.append(int(epoch))
            self.scores.append(float(score))
        self._redraw()

    def _redraw(self) -> None:
        self.batch_item.setData(np.asarray(self.batch_x, float), np.asarray(self.batch_loss, float))
        self.epoch_item.setData(np.asarray(self.epochs, float), np.asarray(self.epoch_loss, float))
        self.score_item.setData(np.asarray(self.score_epochs, float), np.asarray(self.scores, float))
