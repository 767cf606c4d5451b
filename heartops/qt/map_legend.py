"""The map's one legend: a collapsible key painted by a single item in a corner of the map.

Why not pyqtgraph's ``LegendItem``: it lays out one grid cell (and one sample item) per entry,
sizes itself from the heights its labels have before any layout (too tall), and has no
collapsed state; two of them, one column each, covered about 40 % of the map at 1280×800.
This item paints every entry itself, in device pixels, so its size is exactly what it draws:

* collapsed (the default): one line, a ``Legend`` toggle and the unit status symbols, plus
  one line with the colour scale while beats are coloured by a metric;
* expanded: one column per section (the map, units, calls) in a small font on a translucent
  background; the colour scale, when shown, goes under the shortest column.

A click on the legend toggles it (and is not a map click); hovering an entry shows its
tooltip. Every entry's text is always available through :meth:`MapLegend.texts`, collapsed
or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtGui

# isort: split
import pyqtgraph as pg  # imported after PySide6 so that pyqtgraph binds to it
from pyqtgraph.graphicsItems.ScatterPlotItem import drawSymbol

__all__ = ["ColourScale", "LegendEntry", "LegendSwatch", "MapLegend"]

#: Section names, in column order.
SECTIONS = ("Map", "Units", "Calls")

_FONT_PT = 7
_PAD = 4.0
_SWATCH_W = 16.0
_MARKER_PX = 11.0
_GAP = 4.0
_COLUMN_GAP = 8.0
_RAMP_BOX = 12.0


@dataclass(frozen=True, slots=True)
class LegendSwatch:
    """How one sample is drawn: a line, a filled area or a marker symbol.

    Attributes
    ----------
    kind
        ``"line"``, ``"area"`` or ``"marker"``.
    pen
        Outline (or the line itself).
    brush
        Fill of areas and markers.
    symbol
        A pyqtgraph symbol name or a ``QPainterPath`` (markers).
    """

    kind: str
    pen: QtGui.QPen
    brush: QtGui.QBrush | None = None
    symbol: Any = None


@dataclass(frozen=True, slots=True)
class LegendEntry:
    """One row of the legend: samples, then a text.

    Attributes
    ----------
    text
        What the samples mean.
    swatches
        One or more samples drawn before the text.
    section
        One of :data:`SECTIONS`; decides the column.
    key
        Whether the entry's samples also show in the collapsed one-line key.
    """

    text: str
    swatches: tuple[LegendSwatch, ...]
    section: str
    key: bool = False


@dataclass(frozen=True, slots=True)
class ColourScale:
    """The key of a choropleth: a title and one colour per class with its range.

    Attributes
    ----------
    title
        The metric (``"Calls"``, ``"Median min to scene"``).
    colours
        One fill colour per class, low to high.
    labels
        One range text per class (``"3–9"``).
    """

    title: str
    colours: tuple[str, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Row:
    """Where one painted row went, for hover tooltips and tests."""

    rect: QtCore.QRectF
    tip: str


class MapLegend(pg.GraphicsObject):  # type: ignore[misc]
    """A collapsible legend anchored to the top-left corner of a ViewBox (see module doc).

    Parameters
    ----------
    view_box
        The map's ViewBox; the legend is its child, in pixels.
    offset
        Distance from the view's top-left corner, in pixels.
    """

    #: The legend was expanded (True) or collapsed (False) by a click.
    toggled = QtCore.Signal(bool)

    def __init__(self, view_box: pg.ViewBox, *, offset: float = 12.0) -> None:
        super().__init__()
        self._entries: list[LegendEntry] = []
        self._scale: ColourScale | None = None
        self._expanded = False
        self._font = QtGui.QFont()
        self._font.setPointSize(_FONT_PT)
        self._bold = QtGui.QFont(self._font)
        self._bold.setBold(True)
        self._text = QtGui.QColor("#b8c5d3")
        self._background = QtGui.QColor("#10161ec0")
        self._border = QtGui.QColor("#2c3847")
        self._size = QtCore.QSizeF(0.0, 0.0)
        self._rows: list[_Row] = []
        self._scale_at = QtCore.QPointF(_PAD, _PAD)
        self.setParentItem(view_box)
        self.setPos(offset, offset)
        self.setZValue(100)
        self.setAcceptHoverEvents(True)
        self._relayout()

    # -- content --

    def set_entries(self, entries: Sequence[LegendEntry]) -> None:
        """Replace every entry (theme switch, a route shown or cleared)."""
        self._entries = list(entries)
        self._relayout()

    def set_scale(self, scale: ColourScale | None) -> None:
        """Show the colour scale of a choropleth, or none."""
        self._scale = scale
        self._relayout()

    def set_colours(self, *, text: str | QtGui.QColor, background: str | QtGui.QColor,
                    border: str | QtGui.QColor) -> None:
        """Set the legend's own colours (the background is meant to be translucent).

        Strings are pyqtgraph colours: ``#rrggbbaa`` keeps its alpha last.
        """
        self._text = pg.mkColor(text)
        self._background = pg.mkColor(background)
        self._border = pg.mkColor(border)
        self.update()

    @property
    def expanded(self) -> bool:
        """Whether every entry is shown (else the one-line key)."""
        return self._expanded

    def set_expanded(self, expanded: bool) -> None:
        """Show every entry, or only the one-line key."""
        if expanded != self._expanded:
            self._expanded = expanded
            self._relayout()

    @property
    def scale(self) -> ColourScale | None:
        """The colour scale shown, if any."""
        return self._scale

    def texts(self) -> list[str]:
        """Return the text of every entry, shown or folded away (for tests and tooltips)."""
        return [entry.text for entry in self._entries]

    # -- geometry --

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt's name
        """Return the painted area, in the legend's pixels."""
        return QtCore.QRectF(QtCore.QPointF(0.0, 0.0), self._size)

    def _metrics(self, *, bold: bool = False) -> QtGui.QFontMetricsF:
        return QtGui.QFontMetricsF(self._bold if bold else self._font)

    def _row_h(self) -> float:
        return max(self._metrics().height(), _MARKER_PX) + 1.0

    def _header(self) -> str:
        return "▾ Legend" if self._expanded else "▸ Legend"

    def _relayout(self) -> None:
        """Compute the size (and the rows' places) of what :meth:`paint` will draw."""
        self.prepareGeometryChange()
        self._rows = []
        if self._expanded:
            width, height = self._layout_expanded()
        else:
            width, height = self._layout_collapsed()
        self._size = QtCore.QSizeF(width, height)
        self.update()

    def _layout_collapsed(self) -> tuple[float, float]:
        row_h = self._row_h()
        header_w = self._metrics(bold=True).horizontalAdvance(self._header())
        keys = [s for e in self._entries if e.key for s in e.swatches]
        width = _PAD + header_w + (_GAP * 2 + len(keys) * (_MARKER_PX + 3) if keys else 0)
        height = _PAD + row_h
        self._rows.append(_Row(QtCore.QRectF(0, 0, width + _PAD, height),
                               "Click for the full legend: " + ", ".join(
                                   e.text for e in self._entries if e.key)))
        if self._scale is not None:
            scale_w = self._scale_width(one_line=True)
            self._rows.append(_Row(QtCore.QRectF(0, height, scale_w + 2 * _PAD, row_h),
                                   self._scale_tip()))
            width = max(width, _PAD + scale_w)
            height += row_h
        return width + _PAD, height + _PAD

    def _columns(self) -> list[list[LegendEntry]]:
        return [[e for e in self._entries if e.section == section] for section in SECTIONS]

    def _column_width(self, entries: list[LegendEntry]) -> float:
        metrics = self._metrics()
        return max((len(e.swatches) * (_SWATCH_W + 2) + _GAP + metrics.horizontalAdvance(e.text)
                    for e in entries), default=0.0)

    def _layout_expanded(self) -> tuple[float, float]:
        row_h = self._row_h()
        top = _PAD + row_h
        columns = [c for c in self._columns() if c]
        widths = [self._column_width(c) for c in columns]
        heights = [len(c) for c in columns]
        scale_rows = shortest = 0
        if self._scale is not None and columns:
            # Under the shortest column, where rows are free anyway.
            shortest = heights.index(min(heights))
            scale_rows = 2
            heights[shortest] += scale_rows
            widths[shortest] = max(widths[shortest], self._scale_width())
        x = _PAD
        self._scale_at = QtCore.QPointF(_PAD, top)
        for index, (column, width) in enumerate(zip(columns, widths, strict=True)):
            for i, entry in enumerate(column):
                self._rows.append(_Row(QtCore.QRectF(x, top + i * row_h, width, row_h),
                                       entry.text))
            if scale_rows and index == shortest:
                self._scale_at = QtCore.QPointF(x, top + len(column) * row_h)
                self._rows.append(_Row(QtCore.QRectF(x, top + len(column) * row_h, width,
                                                     scale_rows * row_h), self._scale_tip()))
            x += width + _COLUMN_GAP
        width = x - _COLUMN_GAP + _PAD if columns else 2 * _PAD + self._metrics(
            bold=True).horizontalAdvance(self._header())
        height = top + max(heights, default=0) * row_h + _PAD
        if self._scale is not None and not columns:
            height += 2 * row_h
        return width, height

    def _scale_width(self, *, one_line: bool = False) -> float:
        assert self._scale is not None
        metrics = self._metrics()
        ramp = len(self._scale.colours) * _RAMP_BOX + _GAP
        if one_line:
            return ramp + metrics.horizontalAdvance(f"{self._scale_range()}  {self._scale.title}")
        return max(metrics.horizontalAdvance(self._scale.title),
                   ramp + metrics.horizontalAdvance(self._scale_range()))

    def _scale_range(self) -> str:
        assert self._scale is not None
        labels = self._scale.labels
        if not labels:
            return ""
        low = labels[0].split("–")[0]
        high = labels[-1].split("–")[-1]
        return f"{low} – {high}"

    def _scale_tip(self) -> str:
        assert self._scale is not None
        return self._scale.title + "\n" + "\n".join(self._scale.labels)

    def row_tips(self) -> list[str]:
        """Return the tooltip of every painted row (for tests)."""
        return [row.tip for row in self._rows]

    # -- painting --

    def paint(self, painter: QtGui.QPainter, *_args: Any) -> None:
        """Draw the background, the header and the entries."""
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QtGui.QPen(self._border, 1))
        painter.setBrush(QtGui.QBrush(self._background))
        painter.drawRoundedRect(self.boundingRect().adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)
        row_h = self._row_h()
        painter.setFont(self._bold)
        painter.setPen(self._text)
        header = QtCore.QRectF(_PAD, _PAD / 2, self._size.width(), row_h)
        painter.drawText(header, QtCore.Qt.AlignmentFlag.AlignVCenter, self._header())
        if self._expanded:
            self._paint_expanded(painter, row_h)
        else:
            self._paint_collapsed(painter, row_h)

    def _paint_collapsed(self, painter: QtGui.QPainter, row_h: float) -> None:
        x = _PAD + self._metrics(bold=True).horizontalAdvance(self._header()) + 2 * _GAP
        y = _PAD / 2 + row_h / 2
        for entry in self._entries:
            if entry.key:
                for swatch in entry.swatches:
                    self._paint_swatch(painter, swatch, QtCore.QRectF(x, y - row_h / 2,
                                                                      _MARKER_PX, row_h))
                    x += _MARKER_PX + 3
        if self._scale is not None:
            self._paint_scale(painter, _PAD, _PAD / 2 + row_h, row_h, one_line=True)

    def _paint_expanded(self, painter: QtGui.QPainter, row_h: float) -> None:
        painter.setFont(self._font)
        entries = [e for column in self._columns() for e in column]
        rows = [r for r in self._rows if r.tip != (self._scale_tip() if self._scale else None)]
        for entry, row in zip(entries, rows, strict=False):
            x = row.rect.x()
            for swatch in entry.swatches:
                self._paint_swatch(painter, swatch, QtCore.QRectF(x, row.rect.y(), _SWATCH_W,
                                                                  row_h))
                x += _SWATCH_W + 2
            painter.setPen(self._text)
            painter.drawText(QtCore.QRectF(x + _GAP - 2, row.rect.y(), row.rect.width(), row_h),
                             QtCore.Qt.AlignmentFlag.AlignVCenter, entry.text)
        if self._scale is not None:
            self._paint_scale(painter, self._scale_at.x(), self._scale_at.y(), row_h,
                              one_line=False)

    def _paint_scale(self, painter: QtGui.QPainter, x: float, y: float, row_h: float, *,
                     one_line: bool) -> None:
        scale = self._scale
        assert scale is not None
        painter.setFont(self._font)
        painter.setPen(self._text)
        metrics = self._metrics()
        ramp_x = x
        if not one_line:
            painter.drawText(QtCore.QRectF(x, y, metrics.horizontalAdvance(scale.title) + 2,
                                           row_h),
                             QtCore.Qt.AlignmentFlag.AlignVCenter, scale.title)
            y += row_h
        box = min(_RAMP_BOX, row_h - 2)
        for i, colour in enumerate(scale.colours):
            painter.fillRect(QtCore.QRectF(ramp_x + i * _RAMP_BOX, y + (row_h - box) / 2,
                                           _RAMP_BOX, box), pg.mkColor(colour))
        text_x = ramp_x + len(scale.colours) * _RAMP_BOX + _GAP
        text = self._scale_range() + (f"  {scale.title}" if one_line else "")
        painter.setPen(self._text)
        painter.drawText(QtCore.QRectF(text_x, y, metrics.horizontalAdvance(text) + 4, row_h),
                         QtCore.Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_swatch(self, painter: QtGui.QPainter, swatch: LegendSwatch,
                      rect: QtCore.QRectF) -> None:
        painter.save()
        centre = rect.center()
        if swatch.kind == "line":
            painter.setPen(swatch.pen)
            painter.drawLine(QtCore.QPointF(rect.left() + 1, centre.y()),
                             QtCore.QPointF(rect.right() - 1, centre.y()))
        elif swatch.kind == "area":
            painter.setPen(swatch.pen)
            painter.setBrush(swatch.brush or QtGui.QBrush())
            painter.drawRect(QtCore.QRectF(rect.left() + 1, centre.y() - 4, rect.width() - 2, 8))
        else:
            painter.translate(centre)
            drawSymbol(painter, swatch.symbol, _MARKER_PX, swatch.pen,
                       swatch.brush or QtGui.QBrush())
        painter.restore()

    # -- mouse --

    def mouseClickEvent(self, event: Any) -> None:  # noqa: N802 - pyqtgraph's name
        """Toggle between the one-line key and the full legend."""
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            event.accept()
            self.set_expanded(not self._expanded)
            self.toggled.emit(self._expanded)

    def hoverEvent(self, event: Any) -> None:  # noqa: N802 - pyqtgraph's name
        """Show the tooltip of the row under the pointer."""
        if event.isExit():
            return
        pos = event.pos()
        tip = next((row.tip for row in self._rows if row.rect.contains(pos)),
                   "Click to show or hide the full legend")
        if tip != self.toolTip():
            self.setToolTip(tip)

