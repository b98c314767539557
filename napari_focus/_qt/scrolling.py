"""Dock contents in a vertical scroll area, so that docks stacked in one column fit a 1000-px-high screen.

A dock's minimum height is its contents' minimum height: two form-heavy docks and a plot in one column asked for
more than the screen had, and napari's band slider and status bar were pushed off it. In a scroll area a dock can
be squeezed to a few rows and scrolls instead.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, QObject, QSize, Qt
from qtpy.QtGui import QResizeEvent
from qtpy.QtWidgets import QFrame, QScrollArea, QStyle, QVBoxLayout, QWidget

MIN_VISIBLE_HEIGHT = 160  # a dock squeezed further than this would show too little to work with


class _FitArea(QScrollArea):
    """Asks for its contents' whole height (Qt's scroll area asks for at most 24 lines): it scrolls only when the
    window cannot give that much. Qt's scroll area keeps its size hints when its contents' change (a combo box
    filled, a label rewritten): it passes the contents' layout requests on, so the dock is never narrower than
    its contents (they would be cut off on the right: it scrolls only vertically)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
        return super().eventFilter(watched, event)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        inner = self.widget()
        if inner is None:
            return super().sizeHint()
        hint = inner.sizeHint()
        height = hint.height()
        if inner.hasHeightForWidth() and self.isVisible():  # wrapped text is taller in a narrower dock
            height = max(height, inner.heightForWidth(self.viewport().width()))
        return QSize(hint.width() + self._bar_width(), height)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.updateGeometry()  # the height it asks for depends on its width

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        inner = self.widget()
        width = inner.minimumSizeHint().width() if inner is not None else 0
        return QSize(width + self._bar_width(), MIN_VISIBLE_HEIGHT)

    def _bar_width(self) -> int:
        """Room for the vertical scroll bar as the style draws it (its size hint fell 2 px short), and the frame."""
        extent = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        return max(extent, self.verticalScrollBar().sizeHint().width()) + 2 * self.frameWidth() + 4


def scrolling(outer: QWidget, inner: QWidget) -> QScrollArea:
    """Put `inner` into a vertical scroll area that fills `outer` (which keeps its own size policy)."""
    area = _FitArea(outer)
    area.setWidget(inner)
    inner.installEventFilter(area)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumHeight(MIN_VISIBLE_HEIGHT)
    layout = QVBoxLayout(outer)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(area)
    return area
