"""The saliency overlay's colour scale in the Explain dock: the colours from 0 to the top of the range, its numbers,
and what they mean in plain words.

In the dock rather than napari's colour-bar overlay: that overlay's first draw (its axis, text and shaders) held the
GUI thread 150-350 ms per result layer with software OpenGL (benchmarks/gui_latency.py); a painted gradient costs
nothing measurable.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent
from qtpy.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

_UNDER = QColor(110, 110, 110)  # what the overlay lies on, so that its transparent low end reads as "see-through"


class _Bar(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.colormap: dict | None = None
        self.setMinimumHeight(14)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        if not self.colormap:
            return
        painter = QPainter(self)
        rect = self.rect().adjusted(0, 0, -1, -1)
        painter.fillRect(rect, _UNDER)
        gradient = QLinearGradient(QPointF(rect.left(), 0), QPointF(rect.right(), 0))
        for at, rgba in zip(self.colormap["controls"], self.colormap["colors"], strict=True):
            gradient.setColorAt(float(at), QColor.fromRgbF(*(float(c) for c in rgba)))
        painter.fillRect(rect, gradient)
        painter.setPen(QColor(200, 200, 200))
        painter.drawRect(rect)
        painter.end()


class ColourScale(QWidget):
    """Hidden until a result sets it; `text()` is its plain-words meaning."""

    def __init__(self) -> None:
        super().__init__()
        self.bar = _Bar()
        self.low, self.mid, self.high = QLabel("0"), QLabel(""), QLabel("")
        self.mid.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.high.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.words = QLabel("")
        self.words.setWordWrap(True)
        for label in (self.low, self.mid, self.high, self.words):
            label.setStyleSheet("color: #9aa4b2; font-size: 11px;")
        ticks = QHBoxLayout()
        ticks.setContentsMargins(0, 0, 0, 0)
        for label in (self.low, self.mid, self.high):
            ticks.addWidget(label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.bar)
        layout.addLayout(ticks)
        layout.addWidget(self.words)
        self.setVisible(False)

    def set_scale(self, colormap: dict, limits: tuple[float, float], words: str) -> None:
        lo, hi = (float(v) for v in limits)
        self.bar.colormap = colormap
        self.low.setText(f"{lo:.3g} (see-through)")
        self.mid.setText(f"{(lo + hi) / 2:.3g}")
        self.high.setText(f"{hi:.3g} or more")
        self.words.setText(words)
        self.bar.update()
        self.setVisible(True)

    def text(self) -> str:
        return self.words.text()

    def limits_text(self) -> Any:
        return self.low.text(), self.mid.text(), self.high.text()
