"""Where the importance plot's text goes: group names along the top, top-band labels beside their markers.

Placement only (a view box's geometry in, each label's anchor, position and visibility out), kept apart from
`spectral_plot.py` so that the widget reads as its items, its API and its input handling. Boxes are
(centre x, centre y, width, height) in scene pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from qtpy.QtCore import QPointF

if TYPE_CHECKING:  # pyqtgraph comes in with spectral_plot.py; this module needs none of it at run time
    import pyqtgraph as pg

    from napari_focus.spectral_curve import SpectralCurve

Box = tuple[float, float, float, float]


def place_group_labels(vb: pg.ViewBox, labels: Sequence[pg.TextItem], curve: SpectralCurve,
                       obstacles: Sequence[Box] = ()) -> list[Box]:
    """Group names at the top of the view, centred on the visible part of their group and kept inside, on the first
    of two rows where they touch no other name or `obstacles` (the top bands' labels, placed first: a top band's
    wavelength matters more than a group's name); widest groups first, and a name that fits on neither row is
    hidden (its shaded span stays): narrow neighbours ran together ("bluered").

    Returns their pixel boxes.
    """
    (x0, x1), (_, top) = vb.viewRange()
    box = vb.sceneBoundingRect()
    boxes: list[Box] = list(obstacles)
    spans = [curve.group_span(group) for group in curve.groups]
    order = sorted(range(len(spans)), key=lambda i: spans[i][0] - spans[i][1])  # widest first
    for i in order:
        label = labels[i]
        lo, hi = max(spans[i][0], x0), min(spans[i][1], x1)
        label.setVisible(False)
        if hi <= lo:
            continue
        rect = label.boundingRect()
        w, h = rect.width(), rect.height()
        mid = vb.mapViewToScene(QPointF((lo + hi) / 2, top)).x()
        if mid - w / 2 < box.left():
            x, ax = lo, 0.0
        elif mid + w / 2 > box.right():
            x, ax = hi, 1.0
        else:
            x, ax = (lo + hi) / 2, 0.5
        px = vb.mapViewToScene(QPointF(x, top))
        for ay in (0.0, -1.0):  # the top row, then the one below it
            mine = (px.x() + (0.5 - ax) * w, px.y() + (0.5 - ay) * h, w, h)
            if not any(abs(mine[0] - bx) < (w + bw) / 2 + 4 and abs(mine[1] - by) < (h + bh) / 2
                       for bx, by, bw, bh in boxes):
                label.setAnchor((ax, ay))
                label.setPos(x, top)
                label.setVisible(True)
                boxes.append(mine)
                break
    return boxes[len(obstacles):]


def place_top_labels(vb: pg.ViewBox, labels: Sequence[pg.TextItem], obstacles: Sequence[Box] = ()) -> list[Box]:
    """Keep marker labels apart and inside the plot: above, beside, higher, then below their marker.

    A label that fits nowhere is hidden (its marker stays; hovering names it): best bands are placed
    first, and overlapping text (close top bands on a narrow dock) was unreadable anyway. Returns the placed
    labels' pixel boxes.
    """
    box = vb.sceneBoundingRect()
    placed = list(obstacles)
    for label in labels:
        point = vb.mapViewToScene(label.pos())
        rect = label.boundingRect()
        w, h = rect.width(), rect.height()
        candidates = [(ax, 1.2 + row) for row in range(3) for ax in (0.5, 0.95, 0.05)]
        candidates += [(ax, -0.2) for ax in (0.5, 0.95, 0.05)]  # below the marker as a last resort
        fits = False
        for ax, ay in candidates:
            cx, cy = point.x() + (0.5 - ax) * w, point.y() - (ay - 0.5) * h
            inside = box.left() <= cx - w / 2 and cx + w / 2 <= box.right() and box.top() <= cy - h / 2
            fits = inside and not any(abs(cx - x) < (w + pw) / 2 + 2 and abs(cy - y) < (h + ph) / 2
                                      for x, y, pw, ph in placed)
            if fits:
                break
        label.setVisible(fits)
        if fits:
            label.setAnchor((ax, ay))
            placed.append((cx, cy, w, h))
    return placed[len(obstacles):]
