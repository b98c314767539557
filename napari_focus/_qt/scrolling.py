"""Dock contents in a vertical scroll area, so that docks stacked in one column fit a 1000-px-high screen.

A dock's minimum height is its contents' minimum height: two form-heavy docks and a plot in one column asked for
more than the screen had, and napari's band slider and status bar were pushed off it. In a scroll area a dock can
be squeezed to a few rows and scrolls instead.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, QObject, QSize, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

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
        return QSize(hint.width() + self.verticalScrollBar().sizeHint().width(), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        inner = self.widget()
        width = inner.minimumSizeHint().width() if inner is not None else 0
        return QSize(width + self.verticalScrollBar().sizeHint().width(), MIN_VISIBLE_HEIGHT)


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
