"""The "Spectral importance" widget: a band-importance curve B over wavelength, and a pixel's spectra.

Knows only `SpectralCurve` (no napari, no model): it draws the curve, the named groups, the top-k
bands and a draggable line at the current band, and asks for a band with `band_requested`. The
link to napari's slider lives in `band_link.py`; where the plot's text goes, in `spectral_label_layout.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QPointF, QSignalBlocker, QSize, Qt, Signal
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from napari_focus.spectral_curve import SpectralCurve

from .spectral_label_layout import place_group_labels, place_top_labels

BACKGROUND = "#262930"  # napari's dark canvas, so the dock does not glare next to the viewer
CURVE_PEN = pg.mkPen("#e8e8e8", width=2)
LINE_PEN = pg.mkPen("#ffd33d", width=2)
LINE_HOVER_PEN = pg.mkPen("#ffd33d", width=4)
TOP_BRUSH = pg.mkBrush("#ff6e3a")
GROUP_BRUSHES = (pg.mkBrush(120, 160, 255, 40), pg.mkBrush(255, 255, 255, 14))
GROUP_TEXT = "#b8c4d6"
REFLECTANCE_PEN = pg.mkPen("#5ec8f2", width=2)
SALIENCY_PEN = pg.mkPen("#ff6e3a", width=2)
EMPTY = "No explanation yet: Explain a cube to see its curve"
HINT = "Drag the yellow line or click the plot to choose a band · Shift-click a pixel in the viewer for its spectra"
AXIS_WIDTH = 56  # both plots get equal axis widths so that their x-linked view boxes line up
HEADROOM = 0.32  # fraction of the y-range kept free above the curve for group names and marker labels


def _sorted_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


class SpectralPlotWidget(QWidget):
    """Band importance over wavelength (top) and one pixel's reflectance and saliency spectra (bottom).

    `band_requested(int)` is emitted when the user drags the line to another band or clicks on
    either plot (the click's x maps through the view box to the nearest good band). `set_band`
    moves the line without emitting, so a slider ↔ line link cannot ping-pong.
    """

    band_requested = Signal(int)

    def __init__(self, curve: SpectralCurve | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.curve: SpectralCurve | None = None
        self._band = 0
        self._group_regions: list[pg.LinearRegionItem] = []
        self._group_labels: list[pg.TextItem] = []
        self.pixel: tuple[int, int] | None = None  # the pixel whose spectra the lower plot shows
        self.curve_item: pg.PlotDataItem | None = None
        self.top_bands = np.zeros(0, dtype=np.int64)  # the marked bands, best first
        self.top_item: pg.ScatterPlotItem | None = None
        self.top_labels: list[pg.TextItem] = []

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.plot_item: pg.PlotItem = self.graphics.addPlot(row=0, col=0)
        self.pixel_item: pg.PlotItem = self.graphics.addPlot(row=1, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)
        self._setup_importance_plot()
        self._setup_pixel_plot()

        self.status = QLabel(EMPTY)  # until a curve is set (the dock is docked, hidden, before the first result)
        self.status.setObjectName("spectral_status")
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #9aa4b2; font-size: 11px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.hint)
        self.setMinimumSize(380, 440)

        scene = self.graphics.scene()
        scene.sigMouseClicked.connect(self._on_click)
        scene.sigMouseMoved.connect(self._on_hover)
        if curve is not None:
            self.set_curve(curve)
        else:
            for line in (self.line, self.pixel_line):
                line.setVisible(False)  # no band to mark yet

    # ------------------------------------------------------------------ setup
    def _setup_importance_plot(self) -> None:
        p = self.plot_item
        p.setMouseEnabled(x=True, y=False)
        p.hideButtons()
        p.setMenuEnabled(False)
        p.showGrid(x=True, y=False, alpha=0.15)
        p.setLabel("left", "importance")
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=LINE_PEN, hoverPen=LINE_HOVER_PEN,
                                    label="", labelOpts={"position": 0.04, "color": "#ffd33d",
                                                         "anchors": [(0, 1), (0, 1)],
                                                         # opaque: drawn over a top band's label, never mixed with it
                                                         "fill": pg.mkBrush(38, 41, 48, 235)})
        self.line.setZValue(20)
        self.line.sigPositionChanged.connect(self._on_line_moved)
        self.line.sigPositionChangeFinished.connect(self._on_line_released)
        p.addItem(self.line, ignoreBounds=True)
        p.getViewBox().sigRangeChanged.connect(self._layout_labels)
        p.getViewBox().sigResized.connect(self._layout_labels)
        p.showAxis("right")
        p.getAxis("right").setStyle(showValues=False)
        p.getAxis("right").setPen(pg.mkPen(None))
        self._fix_axis_widths(p)

    def _setup_pixel_plot(self) -> None:
        p = self.pixel_item
        p.setXLink(self.plot_item)
        p.setMouseEnabled(x=True, y=False)
        p.hideButtons()
        p.setMenuEnabled(False)
        p.setLabel("left", "reflectance", color="#5ec8f2")
        p.showAxis("right")
        p.setLabel("right", "saliency T", color="#ff6e3a")
        p.setTitle("Shift-click a pixel to plot its spectra", color="#9aa4b2", size="9pt")
        self._fix_axis_widths(p)
        self.saliency_view = pg.ViewBox()
        self.saliency_view.setMouseEnabled(x=False, y=False)
        self.saliency_view.setMenuEnabled(False)
        p.scene().addItem(self.saliency_view)
        p.getAxis("right").linkToView(self.saliency_view)
        self.saliency_view.setXLink(p)
        p.getViewBox().sigResized.connect(self._sync_saliency_view)
        self.reflectance_item = pg.PlotDataItem(pen=REFLECTANCE_PEN, connect="finite", name="reflectance")
        self.saliency_item = pg.PlotDataItem(pen=SALIENCY_PEN, connect="finite", name="saliency T")
        p.addItem(self.reflectance_item)
        self.saliency_view.addItem(self.saliency_item)
        self.pixel_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#ffd33d", width=1,
                                                                                style=Qt.PenStyle.DashLine))
        p.addItem(self.pixel_line, ignoreBounds=True)

    @staticmethod
    def _fix_axis_widths(p: pg.PlotItem) -> None:
        for side in ("left", "right"):
            p.getAxis(side).setWidth(AXIS_WIDTH)
            p.getAxis(side).enableAutoSIPrefix(False)

    def _sync_saliency_view(self) -> None:
        self.saliency_view.setGeometry(self.pixel_item.getViewBox().sceneBoundingRect())
        self.saliency_view.linkedViewChanged(self.pixel_item.getViewBox(), self.saliency_view.XAxis)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(470, 620)  # leaves napari's canvas most of the window

    # ------------------------------------------------------------------ public API
    @property
    def band(self) -> int:
        """The band the line marks."""
        return self._band

    def set_curve(self, curve: SpectralCurve) -> None:
        """Show a new curve (keeps the current band when it still exists).

        The plot's items are made once and updated in place (setData, setRegion, setText): removing and re-adding
        ~25 pyqtgraph items cost 40-125 ms of GUI time per re-run in benchmarks/gui_latency.py.
        """
        for _ in self.curve_steps(curve):
            pass

    def curve_steps(self, curve: SpectralCurve) -> Iterator[None]:
        """`set_curve` in three parts (the groups; the curve and top bands; ranges, labels and line), for a caller
        that spreads them over event-loop turns: making the items the first time is 60-120 ms of GUI time."""
        n_before = None if self.curve is None else self.curve.n_bands
        self.curve = curve
        p = self.plot_item
        p.setTitle(curve.title or None, color="#e8e8e8", size="10pt")
        for axis in (p, self.pixel_item):
            axis.setLabel("bottom", curve.x_label)
        self._show_groups(curve)
        yield
        x, y = _sorted_xy(curve.x, curve.plotted())
        symbol = "o" if curve.n_bands <= 80 else None
        if self.curve_item is None:
            self.curve_item = pg.PlotDataItem(x, y, pen=CURVE_PEN, connect="finite", symbol=symbol, symbolSize=4,
                                              symbolPen=None, symbolBrush="#e8e8e8")
            p.addItem(self.curve_item)
        else:
            self.curve_item.setSymbol(symbol)
            self.curve_item.setData(x, y)
        self._show_top_bands(curve)
        yield
        self._set_ranges(curve)
        self._layout_labels()
        if n_before != curve.n_bands:
            self.clear_pixel()
        band = self._band if self._band < curve.n_bands else 0
        if not curve.good[band]:
            band = curve.nearest_band(curve.x[band]) or 0
        self._band = band
        self._place_line()

    def set_band(self, band: int) -> None:
        """Move the line to `band` without emitting `band_requested` (for the viewer → plot direction)."""
        if self.curve is None:
            return
        band = int(np.clip(band, 0, self.curve.n_bands - 1))
        if band == self._band and self.line.moving:
            return  # the user is dragging: snapping the line under the cursor would make it jitter
        self._band = band
        self._place_line()

    def show_pixel(self, y: int, x: int, reflectance: Any, saliency: Any = None) -> None:
        """Plot one pixel's reflectance spectrum (left axis) and its saliency spectrum T[:, y, x] (right axis)."""
        if self.curve is None:
            return
        good = self.curve.good
        refl = np.where(good, np.asarray(reflectance, dtype=np.float64).ravel(), np.nan)
        xs, ys = _sorted_xy(self.curve.x, refl)
        self.reflectance_item.setData(xs, ys)
        if saliency is None:
            self.saliency_item.setData([], [])
        else:
            sal = np.where(good, np.asarray(saliency, dtype=np.float64).ravel(), np.nan)
            self.saliency_item.setData(*_sorted_xy(self.curve.x, sal))
            finite = sal[np.isfinite(sal)]
            if finite.size:
                lo, hi = float(min(0.0, finite.min())), float(finite.max())
                self.saliency_view.setYRange(lo, hi if hi > lo else lo + 1.0, padding=0.05)
        self.pixel = (int(y), int(x))
        self.pixel_item.setTitle(f"pixel (y={y}, x={x}): reflectance and saliency", color="#e8e8e8", size="9pt")
        self.pixel_item.getViewBox().enableAutoRange(y=True)
        self._sync_saliency_view()

    def clear_pixel(self) -> None:
        self.reflectance_item.setData([], [])
        self.saliency_item.setData([], [])
        self.pixel = None
        self.pixel_item.setTitle("Shift-click a pixel to plot its spectra", color="#9aa4b2", size="9pt")

    def band_position(self, band: int) -> float:
        """The x (nm or band index) at which `band` is drawn."""
        assert self.curve is not None
        return float(self.curve.x[band])

    def scene_point(self, x: float, y: float | None = None) -> QPointF:
        """The scene point of data (x, y) in the importance plot (y defaults to mid-height); for tests."""
        vb = self.plot_item.getViewBox()
        if y is None:
            y = float(np.mean(vb.viewRange()[1]))
        return vb.mapViewToScene(QPointF(float(x), float(y)))

    # ------------------------------------------------------------------ drawing
    def _resize(self, items: list[Any], n: int, make: Any) -> list[Any]:
        """`items` grown with `make(i)` or shrunk (removed from the plot) to n; the kept ones are reused."""
        for item in items[n:]:
            self.plot_item.removeItem(item)
        items = items[:n]
        for i in range(len(items), n):
            item = make(i)
            self.plot_item.addItem(item, ignoreBounds=True)
            items.append(item)
        return items

    def _show_groups(self, curve: SpectralCurve) -> None:
        def region(i: int) -> pg.LinearRegionItem:
            item = pg.LinearRegionItem((0.0, 1.0), movable=False, brush=GROUP_BRUSHES[i % 2], pen=pg.mkPen(None))
            item.setZValue(-10)
            return item

        def label(_: int) -> pg.TextItem:  # its row is chosen where it is placed (spectral_label_layout.py)
            return pg.TextItem("", color=GROUP_TEXT, anchor=(0.5, 0.0))

        n = len(curve.groups)
        self._group_regions = self._resize(self._group_regions, n, region)
        self._group_labels = self._resize(self._group_labels, n, label)
        for item, text, group in zip(self._group_regions, self._group_labels, curve.groups, strict=True):
            span = curve.group_span(group)
            item.setRegion(span)
            text.setText(group.name)
            text.setPos(float(np.mean(span)), 0.0)

    def _show_top_bands(self, curve: SpectralCurve) -> None:
        top = curve.top_bands()
        self.top_bands = top
        if self.top_item is None:
            self.top_item = pg.ScatterPlotItem(size=10, brush=TOP_BRUSH, pen=pg.mkPen("#1b1e24", width=1), symbol="o")
            self.top_item.setZValue(10)
            self.plot_item.addItem(self.top_item)
        self.top_item.setData(curve.x[top], curve.importance[top])

        def label(_: int) -> pg.TextItem:
            item = pg.TextItem("", color="#ffb08f", anchor=(0.5, 1.2), fill=pg.mkBrush(38, 41, 48, 190))
            item.setZValue(11)
            return item

        self.top_labels = self._resize(self.top_labels, len(top), label)
        for item, b in zip(self.top_labels, top, strict=True):
            item.setText(curve.band_text(int(b)))
            item.setPos(float(curve.x[b]), float(curve.importance[b]))

    def _set_ranges(self, curve: SpectralCurve) -> None:
        edges = curve.band_edges()
        self.plot_item.setXRange(float(edges.min()), float(edges.max()), padding=0.0)
        v = curve.plotted()
        v = v[np.isfinite(v)]
        lo = float(min(0.0, v.min())) if v.size else 0.0
        hi = float(v.max()) if v.size else 1.0
        hi = hi if hi > lo else lo + 1.0
        self.plot_item.setYRange(lo, hi + HEADROOM * (hi - lo), padding=0.02)

    def _layout_labels(self, *_: Any) -> None:
        """Re-place the text after a zoom, pan or resize: the top bands' labels first, then the group names
        around them (spectral_label_layout.py)."""
        vb = self.plot_item.getViewBox()
        tops = place_top_labels(vb, self.top_labels)
        if self.curve is not None:
            place_group_labels(vb, self._group_labels, self.curve, tops)

    def _place_line(self) -> None:
        """Put both lines on the current band without emitting (QSignalBlocker), then refresh the label."""
        if self.curve is None:
            return
        x = self.band_position(self._band)
        with QSignalBlocker(self.line):
            self.line.setValue(x)
        self.pixel_line.setValue(x)
        for line in (self.line, self.pixel_line):
            line.setVisible(True)
        self.line.label.setFormat(self.curve.band_text(self._band, decimals=1))
        self.line.label.valueChanged()
        self.status.setText(self._status_text(self._band))

    # ------------------------------------------------------------------ user input
    def _request(self, band: int | None) -> None:
        if band is None or band == self._band:
            return
        self._band = band
        self.band_requested.emit(band)

    def _on_line_moved(self) -> None:
        """While dragging the line follows the cursor; the band changes when the nearest good band does."""
        if self.curve is None:
            return
        self._request(self.curve.nearest_band(self.line.value()))
        self.pixel_line.setValue(self.line.value())

    def _on_line_released(self) -> None:
        self._place_line()  # snap onto the band

    def _on_click(self, event: Any) -> None:
        if self.curve is None or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.scenePos()
        for item in (self.plot_item, self.pixel_item):
            vb = item.getViewBox()
            if vb.sceneBoundingRect().contains(pos):
                self._request(self.curve.nearest_band(vb.mapSceneToView(pos).x()))
                self._place_line()
                return

    def _on_hover(self, pos: QPointF) -> None:
        """Show the hovered band's wavelength and importance; the current band's when off the plots."""
        if self.curve is None:
            return
        band = self._band
        for item in (self.plot_item, self.pixel_item):
            vb = item.getViewBox()
            if vb.sceneBoundingRect().contains(pos):
                band = self.curve.nearest_band(vb.mapSceneToView(pos).x(), good_only=False)
                break
        if band is not None:
            self.status.setText(self._status_text(band))

    def _status_text(self, band: int) -> str:
        """ "band 97 · 742.3 nm · importance 0.41" (no repeated "band 97" when wavelengths are unknown)."""
        assert self.curve is not None
        text = self.curve.describe(band)
        return f"band {band} · {text}" if self.curve.has_wavelengths else text
