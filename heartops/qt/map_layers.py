"""Live layers of the map: units, open calls, the selection halo, the route and their labels.

Everything here is a small FIXED set of pyqtgraph items, whatever the number of units and
calls (``STACK.md``: pyqtgraph pays per item, not per point):

========================  =========================================================
``unit_item``             one ``ScatterPlotItem``: every unit, shape and colour by status
``heading_item``          one ``PlotCurveItem`` (``connect="pairs"``): a tick per unit
``flash_item``            one ring per flashing (emergency) unit, blinked by a timer
``call_item``             one ``ScatterPlotItem``: every open call, badge by priority
``halo_item``             one ring around the selected unit or call
``label_item``            one :class:`LabelLayer` painting every callsign and call label
``route_item``            the recommended route over ``route_casing_item``
========================  =========================================================

An AVL batch is ONE ``setData`` per item: positions are projected in one pyproj call, styles
are looked up in a per-status cache of pens, brushes and symbols, and pyqtgraph draws markers
from its symbol atlas (keyed by the identity of those objects, so they must be reused: a new
``QPen`` per update would render a new atlas entry per unit per update).

Status shape, colour and label come from the code tables (``unit_statuses.csv``) so an agency
can remap them; every status is shape + colour + text, never colour alone (PRODUCT.md).
Calls are drawn as badges with the priority knocked out of them (``P``, ``1``, ``2``, ``3``)
and a ring around the ones nobody is assigned to, so they never read as units.

Labels are one item that places them itself, most urgent first, and drops a label that would
overlap a marker or a label already placed. At city zoom only the ones that matter are labelled (the
selection, flashing units, priority-P calls); zoomed in past :data:`LABELS_ALL_BELOW_M_PER_PX`
every unit and call is, as far as they fit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg  # imported after PySide6 so that pyqtgraph binds to it

from heartops.core.codes import CodeTables, Priority, UnitStatus
from heartops.qt.map_legend import LegendEntry, LegendSwatch
from heartops.qt.theme import MapPalette

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
#: Projects WGS 84 ``(lon, lat)`` arrays to map metres ``(x, y)`` (the view's own transformer).
Projector = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]

#: Table shape name -> pyqtgraph symbol. Unknown shapes are drawn as circles (and logged).
SHAPE_SYMBOLS: dict[str, str] = {
    "circle": "o",
    "diamond": "d",
    "triangle": "t1",  # pyqtgraph's "t" points down
    "square": "s",
    "triangle_down": "t",
    "hexagon": "h",
    "cross": "x",  # an X reads as "out of service"; "plus" is there for agencies that want +
    "plus": "+",
    "star": "star",
    "pentagon": "p",
}

#: Below this many metres per screen pixel every unit and call is labelled (where labels fit);
#: above it (city zoom) only the selection, flashing units and priority-P calls are.
LABELS_ALL_BELOW_M_PER_PX = 6.0
#: Blink half-period of emergency rings: 250 ms on, 250 ms off (2 flashes a second, under
#: the 3 Hz photosensitivity limit).
FLASH_INTERVAL_MS = 250

# Stacking order above the static layers of map_view (roads 10-14, zones 20-21, posts 30,
# static labels 40): route above the streets it follows, calls under units, labels on top.
Z_ROUTE = 25.0
Z_HALO = 49.0
Z_CALLS = 50.0
Z_FLASH = 51.0
Z_HEADING = 52.0
Z_UNITS = 53.0
Z_LIVE_LABELS = 60.0

_UNIT_SIZE = 15
_STAR_SIZE = 21  # a star fills less of its box than a circle: drawn larger to weigh the same
_CALL_SIZE = 22
_CALL_P_SIZE = 26
_HALO_PAD = 12
_FLASH_SIZE = 34
_HEADING_PX = 18.0  # tick length from the unit's centre; the marker hides the first ~6 px
_LABEL_FONT_PT = 8
_LABEL_PAD = 2.0
_LABEL_GAP_PX = 3.0
_LABEL_CULL_PX = 200.0
_MAX_STATIC_TEXTS = 4000
_UNKNOWN_COLOUR = "#9e9e9e"


# -- markers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitMarker:
    """One unit as the map shows it.

    Attributes
    ----------
    unit_id
        Stable id; markers with the same id are moved, not recreated.
    lat, lon
        Last AVL position (WGS 84).
    heading_deg
        Course over ground, degrees clockwise from north; ``None`` when unknown (stopped).
    status_code
        A ``unit_statuses.csv`` code (``"en_route"``).
    label
        Callsign shown beside the marker and in its tooltip.
    stale
        No AVL fix for too long: drawn hollow, without heading, labelled ``stale``.
    """

    unit_id: str
    lat: float
    lon: float
    heading_deg: float | None
    status_code: str
    label: str
    stale: bool = False


@dataclass(frozen=True, slots=True)
class CallMarker:
    """One open call as the map shows it.

    Attributes
    ----------
    call_id
        Stable id; the label shows its short number (``#12``), the tooltip the whole id.
    lat, lon
        Call location (WGS 84).
    priority
        ``"P"``, ``"1"``, ``"2"`` or ``"3"`` (a :class:`~heartops.core.codes.Priority`).
    age_s
        Seconds since the call was received; the label shows whole minutes.
    assigned
        Whether a unit is assigned; unassigned calls get a ring.
    label
        What the call is (its type), for the tooltip.
    """

    call_id: str
    lat: float
    lon: float
    priority: str
    age_s: float
    assigned: bool
    label: str


def shape_symbol(shape: str) -> str:
    """Return the pyqtgraph symbol of a table shape name (a circle for unknown names)."""
    symbol = SHAPE_SYMBOLS.get(shape.strip().lower())
    if symbol is None:
        log.warning("unknown marker shape %r in the status table; drawing a circle", shape)
        return "o"
    return symbol


def format_age(age_s: float) -> str:
    """Return a call's age as the board shows it: ``"0m"``, ``"14m"``, ``"2h05"``."""
    minutes = max(int(age_s // 60), 0)
    if minutes < 100:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}"


def short_call_label(call_id: str) -> str:
    """Return the call number dispatchers say (``L1-20261129T1000-000012`` -> ``#12``).

    The same number as the queue and the command line (``short_call_id``).
    """
    # Imported here: heartops.qt.panels imports this module (through its controller), so a
    # module-level import would be circular whichever of the two is imported first.
    from heartops.qt.panels.style import short_call_id

    return f"#{short_call_id(call_id)}"


def call_label(call: CallMarker) -> str:
    """Return the map label of a call: its short number and age in minutes (``#12 · 5m``)."""
    return f"{short_call_label(call.call_id)} · {format_age(call.age_s)}"


def unit_label(unit: UnitMarker, status: UnitStatus | None) -> str:
    """Return the map label of a unit: its callsign, plus why it needs a look."""
    if status is not None and status.flashing:
        return f"{unit.label} · {status.label.upper()}"
    if unit.stale:
        return f"{unit.label} · stale"
    return unit.label


def heading_segments(x: FloatArray, y: FloatArray, heading_deg: FloatArray,
                     length: float) -> tuple[FloatArray, FloatArray]:
    """Return one segment per unit from its position along its heading (``connect="pairs"``).

    Parameters
    ----------
    x, y
        Unit positions in map metres (north is +y).
    heading_deg
        Headings, clockwise from north; rows with NaN get no segment.
    length
        Segment length in map metres.
    """
    keep = np.isfinite(heading_deg)
    radians = np.radians(heading_deg[keep])
    xs = np.empty(2 * radians.size)
    ys = np.empty(2 * radians.size)
    xs[0::2], ys[0::2] = x[keep], y[keep]
    xs[1::2] = x[keep] + length * np.sin(radians)
    ys[1::2] = y[keep] + length * np.cos(radians)
    return xs, ys


# -- symbols ------------------------------------------------------------------------------------


@cache
def call_symbol(priority: str, assigned: bool) -> QtGui.QPainterPath:
    """Return the marker of a call: a badge with its priority knocked out, ringed if unassigned.

    Priority P is an eight-point burst, the others a rounded square. The path fits the unit
    box (-0.5..0.5) that pyqtgraph scales by the symbol size. Built once per kind and reused:
    the symbol atlas keys custom symbols by object identity. Needs a ``QGuiApplication``
    (glyph outlines come from the font database).
    """
    badge = _burst(0.40, 0.29, 8) if priority == Priority.P else _rounded_square(0.31)
    shape = badge.subtracted(_glyph(priority, height=0.32 if priority == Priority.P else 0.38))
    if not assigned:
        ring = QtGui.QPainterPath()
        ring.addEllipse(QtCore.QPointF(0, 0), 0.49, 0.49)
        inner = QtGui.QPainterPath()
        inner.addEllipse(QtCore.QPointF(0, 0), 0.41, 0.41)
        shape = shape.united(ring.subtracted(inner))
    return shape


def _rounded_square(half: float) -> QtGui.QPainterPath:
    path = QtGui.QPainterPath()
    path.addRoundedRect(QtCore.QRectF(-half, -half, 2 * half, 2 * half), 0.3 * half, 0.3 * half)
    return path


def _burst(outer: float, inner: float, points: int) -> QtGui.QPainterPath:
    angles = np.arange(2 * points) * math.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    polygon = QtGui.QPolygonF([QtCore.QPointF(float(r * math.sin(a)), float(-r * math.cos(a)))
                               for a, r in zip(angles, radii, strict=True)])
    path = QtGui.QPainterPath()
    path.addPolygon(polygon)
    path.closeSubpath()
    return path


def _glyph(text: str, *, height: float) -> QtGui.QPainterPath:
    """Return ``text`` as an outline centred on (0, 0), ``height`` units tall."""
    font = QtGui.QFont()
    font.setPointSizeF(100.0)  # outlines at a real size, then scaled: tiny fonts hint badly
    font.setBold(True)
    path = QtGui.QPainterPath()
    path.addText(0.0, 0.0, font, text)
    box = path.boundingRect()
    scale = height / box.height()
    transform = QtGui.QTransform()
    transform.scale(scale, scale)
    transform.translate(-box.center().x(), -box.center().y())
    return transform.map(path)


# -- styles -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarkerStyle:
    """How one kind of marker is drawn: the exact objects handed to pyqtgraph (reused)."""

    symbol: Any
    size: float
    pen: QtGui.QPen
    brush: QtGui.QBrush


@dataclass(frozen=True, slots=True)
class LabelStyle:
    """Colours of one kind of label."""

    text: QtGui.QColor
    background: QtGui.QColor
    bold: bool = False


def unit_style(status: UnitStatus, palette: MapPalette, *, stale: bool) -> MarkerStyle:
    """Return how a unit in ``status`` is drawn: table shape and colour, a thin outline.

    A stale unit keeps its shape, and its status colour as the outline, but is hollow:
    the status still reads, and the marker visibly means "was here".
    """
    symbol = shape_symbol(status.shape)
    size = _STAR_SIZE if symbol == "star" else _UNIT_SIZE
    if stale:
        return MarkerStyle(symbol, size, pg.mkPen(status.colour, width=2),
                           pg.mkBrush(palette.stale_fill))
    return MarkerStyle(symbol, size, pg.mkPen(palette.marker_outline, width=1),
                       pg.mkBrush(status.colour))


def call_style(priority: str, palette: MapPalette, *, assigned: bool) -> MarkerStyle:
    """Return how an open call of ``priority`` is drawn."""
    size = _CALL_P_SIZE if priority == Priority.P else _CALL_SIZE
    return MarkerStyle(call_symbol(priority, assigned), size,
                       pg.mkPen(palette.marker_outline, width=1),
                       pg.mkBrush(palette.priority_fill[priority]))


def _unknown_status(code: str) -> UnitStatus:
    """Return a stand-in for a status missing from the table: a grey circle, labelled so."""
    from heartops.core.codes import CallLink

    return UnitStatus(code=code, label=f"unknown status {code!r}", apco_code="",
                      colour=_UNKNOWN_COLOUR, flashing=False, shape="circle", key="",
                      assignable=False, call=CallLink.NONE, call_step=None,
                      check_in_timer=False, emergency=False)


# -- labels -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _LabelGroup:
    """The labels of one layer (units or calls), as arrays in map metres."""

    x: FloatArray
    y: FloatArray
    texts: list[str]
    styles: list[str]
    ranks: FloatArray
    always: BoolArray
    forced: BoolArray
    offset_px: float
    marker_px: float
    visible: bool = True


_Box = tuple[float, float, float, float]


class _Candidate(NamedTuple):
    """A label that may be drawn, in screen pixels."""

    rank: float
    x: float
    y: float
    offset: float
    text: str
    style: str
    forced: bool


@dataclass(frozen=True, slots=True)
class _Placed:
    rect: QtCore.QRectF
    text: str
    style: str


class LabelLayer(pg.GraphicsObject):  # type: ignore[misc]
    """Every live label as ONE item that lays its labels out in screen pixels.

    Every marker on screen, and every overlay given to :meth:`set_keep_out` (the legends),
    is an obstacle first, so a label never hides a unit or a call nor hides under a legend.
    Labels are then placed most urgent first (lowest rank), right of their marker or else left
    of it, and dropped when both would overlap a marker or a label already placed, so a dense
    city never turns into a smear of text. The selection and flashing units are never
    dropped. The layout is computed once per data or view change and reused by every repaint
    in between (blinks, hovers, grabs).
    """

    def __init__(self) -> None:
        super().__init__()
        self._groups: dict[str, _LabelGroup] = {}
        self._styles: dict[str, LabelStyle] = {}
        self._selected: tuple[str, int] | None = None
        self._font = QtGui.QFont()
        self._font.setPointSize(_LABEL_FONT_PT)
        self._bold = QtGui.QFont(self._font)
        self._bold.setBold(True)
        self._static: dict[tuple[str, bool], QtGui.QStaticText] = {}
        self._boxes: dict[tuple[str, bool], tuple[float, float]] = {}
        self._layout_key: tuple[float, ...] | None = None
        self._layout: list[_Placed] = []
        self._version = 0
        self._show_all_below = LABELS_ALL_BELOW_M_PER_PX
        self._keep_out: Callable[[], list[QtCore.QRectF]] = list

    # -- data --

    def set_styles(self, styles: dict[str, LabelStyle]) -> None:
        """Set the colours of every label kind (theme switch)."""
        self._styles = dict(styles)
        self._changed()

    def set_group(self, name: str, group: _LabelGroup) -> None:
        """Replace the labels of one layer."""
        old = self._groups.get(name)
        if old is not None:
            group.visible = old.visible
        self._groups[name] = group
        self._changed()

    def set_keep_out(self, rects: Callable[[], list[QtCore.QRectF]]) -> None:
        """Keep labels out of ``rects()`` (scene coordinates): the legends, the scale bar.

        Call :meth:`keep_out_changed` when those rects move or resize.
        """
        self._keep_out = rects
        self._changed()

    def keep_out_changed(self) -> None:
        """Lay labels out again at the next paint (the keep-out rects changed)."""
        self._changed()

    def set_group_visible(self, name: str, visible: bool) -> None:
        """Show or hide the labels of one layer (follows the layer's own visibility)."""
        if name in self._groups:
            self._groups[name].visible = visible
            self._changed()

    def set_selected(self, selected: tuple[str, int] | None) -> None:
        """Label ``(group, index)`` first and highlighted, whatever the zoom."""
        self._selected = selected
        self._changed()

    @property
    def show_all_below_m_per_px(self) -> float:
        """Zoom (metres per pixel) below which every label is drawn, not only urgent ones."""
        return self._show_all_below

    @show_all_below_m_per_px.setter
    def show_all_below_m_per_px(self, value: float) -> None:
        self._show_all_below = float(value)
        self._changed()

    def placed(self) -> list[tuple[str, str]]:
        """Return ``(text, style)`` of the labels drawn by the last paint (for tests)."""
        return [(p.text, p.style) for p in self._layout]

    def placed_rects(self) -> list[QtCore.QRectF]:
        """Return where the last paint drew each label, in device pixels (for tests)."""
        return [QtCore.QRectF(p.rect) for p in self._layout]

    def _changed(self) -> None:
        self._version += 1
        self.update()

    # -- geometry --

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt's name
        """Return the visible part of the view: labels go anywhere on screen, in pixels."""
        rect = self.viewRect()
        return QtCore.QRectF() if rect is None else QtCore.QRectF(rect)

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph's name
        """Track the view: the bounding rect is the visible area."""
        super().viewTransformChanged()
        self.prepareGeometryChange()

    # -- painting --

    def paint(self, painter: QtGui.QPainter, *_args: Any) -> None:
        """Draw the placed labels in device pixels (layout cached per view and data)."""
        if not self._groups or not self._styles:
            return
        transform = painter.transform()
        device = painter.device()
        width = float(device.width()) if device is not None else 0.0
        height = float(device.height()) if device is not None else 0.0
        key = (transform.m11(), transform.m12(), transform.m21(), transform.m22(),
               transform.dx(), transform.dy(), width, height, float(self._version))
        if key != self._layout_key:
            self._layout = self._place(transform, width, height)
            self._layout_key = key
        painter.resetTransform()
        for placed in self._layout:
            style = self._styles[placed.style]
            painter.fillRect(placed.rect, style.background)
            painter.setPen(style.text)
            painter.drawStaticText(
                QtCore.QPointF(placed.rect.x() + _LABEL_PAD, placed.rect.y() + _LABEL_PAD / 2),
                self._static_text(placed.text, style.bold))

    def _static_text(self, text: str, bold: bool) -> QtGui.QStaticText:
        static = self._static.get((text, bold))
        if static is None:
            if len(self._static) > _MAX_STATIC_TEXTS:  # call ages change every minute
                self._static.clear()
                self._boxes.clear()
            static = QtGui.QStaticText(text)
            static.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            static.prepare(QtGui.QTransform(), self._bold if bold else self._font)
            self._static[(text, bold)] = static
        return static

    def _place(self, transform: QtGui.QTransform, width: float, height: float) -> list[_Placed]:
        """Lay labels out: markers first as obstacles, then labels most urgent first."""
        grid, overlays = _Grid(), _Grid()
        for rect in self._keep_out():
            # scene -> this item -> device pixels, where the labels are laid out
            mapped = transform.mapRect(self.mapRectFromScene(rect))
            overlay = (mapped.left(), mapped.top(), mapped.right(), mapped.bottom())
            grid.add(overlay)
            overlays.add(overlay)
        candidates: list[_Candidate] = []
        metres_per_px = 1.0 / max(math.hypot(transform.m11(), transform.m12()), 1e-12)
        show_all = metres_per_px <= self._show_all_below
        for name, group in self._groups.items():
            if group.visible and group.texts:
                candidates.extend(self._group_candidates(name, group, transform, width, height,
                                                         grid, show_all=show_all))
        candidates.sort(key=lambda c: c.rank)
        placed: list[_Placed] = []
        for candidate in candidates:
            box = self._fit(candidate, grid, overlays)
            if box is not None:
                grid.add(box)
                x0, y0, x1, y1 = box
                placed.append(_Placed(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0), candidate.text,
                                      candidate.style))
        return placed

    def _group_candidates(self, name: str, group: _LabelGroup, transform: QtGui.QTransform,
                          width: float, height: float, grid: _Grid, *,
                          show_all: bool) -> list[_Candidate]:
        """Add the group's on-screen markers to ``grid``; return its labels to place."""
        px = transform.m11() * group.x + transform.m21() * group.y + transform.dx()
        py = transform.m12() * group.x + transform.m22() * group.y + transform.dy()
        on_screen = ((px > -_LABEL_CULL_PX) & (px < width + _LABEL_CULL_PX)
                     & (py > -_LABEL_CULL_PX) & (py < height + _LABEL_CULL_PX))
        half = group.marker_px / 2
        for x, y in zip(px[on_screen].tolist(), py[on_screen].tolist(), strict=True):
            grid.add((x - half, y - half, x + half, y + half))  # a label must not hide a marker
        wanted = on_screen & (group.always | group.forced | show_all)
        selected = -1
        if self._selected is not None and self._selected[0] == name:
            selected = self._selected[1]
            if 0 <= selected < wanted.size:
                wanted[selected] = True
        return [_Candidate(rank=-1.0 if i == selected else float(group.ranks[i]),
                           x=float(px[i]), y=float(py[i]), offset=group.offset_px,
                           text=group.texts[i],
                           style="selected" if i == selected else group.styles[i],
                           forced=i == selected or bool(group.forced[i]))
                for i in np.flatnonzero(wanted).tolist()]

    def _fit(self, candidate: _Candidate, grid: _Grid, overlays: _Grid) -> _Box | None:
        """Return where the label goes: right of its marker, else left, else nowhere.

        A forced label (the selection, a flashing unit) is never dropped: when both sides are
        taken it goes over other labels and markers, on a side not under a legend if it can.
        """
        w, h = self._text_box(candidate.text, self._styles[candidate.style].bold)
        top = candidate.y - h / 2
        right = (candidate.x + candidate.offset, top, candidate.x + candidate.offset + w, top + h)
        left = (candidate.x - candidate.offset - w, top, candidate.x - candidate.offset, top + h)
        for box in (right, left):
            if not grid.collides(box):
                return box
        if not candidate.forced:
            return None
        return left if overlays.collides(right) and not overlays.collides(left) else right

    def _text_box(self, text: str, bold: bool) -> tuple[float, float]:
        """Return the padded pixel size of a label (cached with its static text)."""
        box = self._boxes.get((text, bold))
        if box is None:
            size = self._static_text(text, bold).size()
            box = self._boxes[(text, bold)] = (size.width() + 2 * _LABEL_PAD,
                                               size.height() + _LABEL_PAD)
        return box


class _Grid:
    """Placed label boxes bucketed by screen cell, so a new box is tested against neighbours.

    Cells are about a label wide and a label high: most boxes touch two to four cells.
    """

    cell_w = 96.0
    cell_h = 20.0

    def __init__(self) -> None:
        self._cells: dict[tuple[int, int], list[_Box]] = {}

    def _keys(self, box: _Box) -> list[tuple[int, int]]:
        x0, y0, x1, y1 = box
        cw, ch = self.cell_w, self.cell_h
        return [(i, j) for i in range(int(x0 // cw), int(x1 // cw) + 1)
                for j in range(int(y0 // ch), int(y1 // ch) + 1)]

    def collides(self, box: _Box) -> bool:
        """Whether ``box`` overlaps a box already added."""
        x0, y0, x1, y1 = box
        cells = self._cells
        for key in self._keys(box):
            for a0, b0, a1, b1 in cells.get(key, ()):
                if x0 < a1 and a0 < x1 and y0 < b1 and b0 < y1:
                    return True
        return False

    def add(self, box: _Box) -> None:
        """Add a placed box."""
        for key in self._keys(box):
            self._cells.setdefault(key, []).append(box)


# -- the layers ---------------------------------------------------------------------------------


class _PassiveScatter(pg.ScatterPlotItem):  # type: ignore[misc]
    """A scatter that only decorates (halo, flash ring): clicks and hovers go to what is under.

    A plain ScatterPlotItem accepts any click on one of its points, which would swallow the
    click meant for the marker the ring surrounds.
    """

    def mouseClickEvent(self, event: Any) -> None:  # noqa: N802 - pyqtgraph's name
        """Let the click through."""
        event.ignore()

    def hoverEvent(self, event: Any) -> None:  # noqa: N802 - pyqtgraph's name
        """Take no hover (so the marker underneath shows its tooltip)."""


class LiveLayers(QtCore.QObject):
    """Units, open calls, selection and route on a map's ViewBox (see the module docstring).

    Parameters
    ----------
    view_box
        The map's ViewBox (map metres).
    palette
        Map colours.
    tables
        The code tables (status shapes, colours, labels, flashing).
    parent
        Owner of the blink timer (the map widget).

    Notes
    -----
    Nothing is drawn until :meth:`set_projector` gives the map's projection; markers and the
    route are kept in WGS 84 and re-projected when it changes.
    """

    #: A unit marker was clicked (its id).
    unit_clicked = QtCore.Signal(str)
    #: A call marker was clicked (its id).
    call_clicked = QtCore.Signal(str)

    def __init__(self, view_box: pg.ViewBox, *, palette: MapPalette, tables: CodeTables,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._view = view_box
        self._project: Projector | None = None
        self._palette = palette
        self._tables = tables
        self._units: list[UnitMarker] = []
        self._unit_index: dict[str, int] = {}
        self._unit_xy = (np.empty(0), np.empty(0))
        self._unit_heading = np.empty(0)
        self._calls: list[CallMarker] = []
        self._call_index: dict[str, int] = {}
        self._call_xy = (np.empty(0), np.empty(0))
        self._selection: tuple[str, str] | None = None
        self._route: tuple[FloatArray, FloatArray] | None = None  # lon, lat
        self._heading_px_size = 0.0
        self._paused = True  # until the map is shown: nothing blinks in a hidden window
        self._unit_styles: dict[tuple[str, bool], MarkerStyle] = {}
        self._call_styles: dict[tuple[str, bool], MarkerStyle] = {}
        self._make_items()
        self._flash_timer = QtCore.QTimer(self)
        self._flash_timer.setInterval(FLASH_INTERVAL_MS)
        self._flash_timer.timeout.connect(self._blink)
        self._view.sigTransformChanged.connect(self._on_view_transform)
        self.set_palette(palette)

    # -- construction --

    def _make_items(self) -> None:
        self.route_casing_item = self._curve(Z_ROUTE - 0.1)
        self.route_item = self._curve(Z_ROUTE)
        self.call_item = self._scatter(pg.ScatterPlotItem, Z_CALLS, tip=self._call_tip)
        self.call_item.sigClicked.connect(self._on_call_click)
        self.halo_item = self._scatter(_PassiveScatter, Z_HALO)
        self.flash_item = self._scatter(_PassiveScatter, Z_FLASH)
        self.heading_item = self._curve(Z_HEADING)
        self.unit_item = self._scatter(pg.ScatterPlotItem, Z_UNITS, tip=self._unit_tip)
        self.unit_item.sigClicked.connect(self._on_unit_click)
        self.label_item = LabelLayer()
        self.label_item.setZValue(Z_LIVE_LABELS)
        # ignoreBounds: live markers never change what "the whole city" means.
        self._view.addItem(self.label_item, ignoreBounds=True)

    def _curve(self, z: float) -> pg.PlotCurveItem:
        item = pg.PlotCurveItem(skipFiniteCheck=True)
        item.setZValue(z)
        self._view.addItem(item, ignoreBounds=True)
        return item

    def _scatter(self, kind: type[pg.ScatterPlotItem], z: float,
                 tip: Callable[..., str] | None = None) -> pg.ScatterPlotItem:
        item = kind(hoverable=tip is not None, tip=tip)
        item.setZValue(z)
        self._view.addItem(item, ignoreBounds=True)
        return item

    @property
    def items(self) -> tuple[QtWidgets.QGraphicsItem, ...]:
        """Every item of the live layers (a fixed set, whatever the number of markers)."""
        return (self.route_casing_item, self.route_item, self.call_item, self.halo_item,
                self.flash_item, self.heading_item, self.unit_item, self.label_item)

    def set_projector(self, project: Projector | None) -> None:
        """Use a new projection (a new network): markers shown are re-projected."""
        self._project = project
        if project is not None:
            self.set_units(self._units)
            self.set_calls(self._calls)
            if self._route is not None:
                self.show_route(*self._route)

    # -- style --

    def set_palette(self, palette: MapPalette) -> None:
        """Recolour every live layer (theme switch); markers keep their places."""
        self._palette = palette
        self._unit_styles = {}
        self._call_styles = {}
        self.heading_item.setPen(pg.mkPen(palette.heading, width=1.5))
        self.halo_item.setData(symbol="o", pen=pg.mkPen(palette.selection, width=2.5),
                               brush=pg.mkBrush(_with_alpha(palette.selection, 0x40)))
        emergency = self._flash_colour()
        self.flash_item.setData(symbol="o", size=_FLASH_SIZE, pen=pg.mkPen(emergency, width=3),
                                brush=pg.mkBrush(_with_alpha(emergency, 0x60)))
        self.route_casing_item.setPen(pg.mkPen(palette.route_casing, width=8))
        self.route_item.setPen(pg.mkPen(palette.route, width=4))
        self.label_item.set_styles(self._label_styles())
        self.set_units(self._units)
        self.set_calls(self._calls)

    def _flash_colour(self) -> str:
        flashing = [s for s in self._tables.statuses.values() if s.flashing]
        return flashing[0].colour if flashing else "#ff1744"

    def _label_styles(self) -> dict[str, LabelStyle]:
        pal = self._palette
        text, background = QtGui.QColor(pal.live_label_text), QtGui.QColor(
            pal.live_label_background)
        stale_text = QtGui.QColor(text)
        stale_text.setAlphaF(0.6)
        styles = {
            "unit": LabelStyle(text, background),
            "stale": LabelStyle(stale_text, background),
            "flashing": LabelStyle(QtGui.QColor("#fff4f4"), QtGui.QColor(self._flash_colour()),
                                   bold=True),
            "selected": LabelStyle(QtGui.QColor(pal.background), QtGui.QColor(pal.selection),
                                   bold=True),
        }
        for priority in Priority:
            styles[f"call_{priority.value}"] = LabelStyle(
                QtGui.QColor(pal.priority_label[priority.value]), background,
                bold=priority is Priority.P)
        return styles

    def _status(self, code: str) -> UnitStatus:
        status = self._tables.statuses.get(code)
        return status if status is not None else _unknown_status(code)

    def _unit_style(self, status_code: str, stale: bool) -> MarkerStyle:
        key = (status_code, stale)
        style = self._unit_styles.get(key)
        if style is None:
            status = self._tables.statuses.get(status_code)
            if status is None:
                log.warning("unit status %r is not in the status table", status_code)
                status = _unknown_status(status_code)
            style = self._unit_styles[key] = unit_style(status, self._palette, stale=stale)
        return style

    def _call_style(self, priority: str, assigned: bool) -> MarkerStyle:
        key = (priority, assigned)
        style = self._call_styles.get(key)
        if style is None:
            style = self._call_styles[key] = call_style(priority, self._palette,
                                                        assigned=assigned)
        return style

    def legend_entries(self) -> list[LegendEntry]:
        """Return the live layers' legend rows: statuses (in the one-line key), then calls."""
        entries: list[LegendEntry] = []
        for status in self._tables.statuses.values():
            style = self._unit_style(status.code, False)
            entries.append(LegendEntry(status.label, (_swatch(style),), "Units", key=True))
        stale = unit_style(self._tables.statuses[next(iter(self._tables.statuses))],
                           self._palette, stale=True)
        entries.append(LegendEntry("Stale (no AVL)", (_swatch(stale),), "Units"))
        for priority in Priority:
            entries.append(LegendEntry(f"Call {priority.value}",
                                       (_swatch(self._call_style(priority.value, True)),),
                                       "Calls"))
        entries.append(LegendEntry("Unassigned call",
                                   (_swatch(self._call_style(Priority.TWO.value, False)),),
                                   "Calls", key=True))
        if self._route is not None:
            route = LegendSwatch("line", self.route_item.opts["pen"])
            entries.append(LegendEntry("Route", (route,), "Calls"))
        return entries

    def unit_position(self, unit_id: str) -> tuple[float, float] | None:
        """Return ``(lat, lon)`` of unit ``unit_id`` as last drawn, or ``None`` if not shown."""
        index = self._unit_index.get(unit_id)
        if index is None:
            return None
        unit = self._units[index]
        return unit.lat, unit.lon

    # -- units --

    def set_units(self, units: Sequence[UnitMarker]) -> None:
        """Show ``units``: ONE ``setData`` per item, whatever changed.

        Raises
        ------
        ValueError
            When two markers share an id.
        """
        self._units = list(units)
        self._unit_index = {unit.unit_id: i for i, unit in enumerate(self._units)}
        if len(self._unit_index) != len(self._units):
            raise ValueError("unit ids must be unique")
        if self._project is None:
            return
        count = len(self._units)
        lon = np.fromiter((u.lon for u in self._units), float, count)
        lat = np.fromiter((u.lat for u in self._units), float, count)
        x, y = self._project(lon, lat)
        self._unit_xy = (x, y)
        self._unit_heading = np.fromiter(
            (math.nan if u.heading_deg is None or u.stale else u.heading_deg
             for u in self._units), float, count)
        styles = [self._unit_style(u.status_code, u.stale) for u in self._units]
        self.unit_item.setData(x=x, y=y, data=[u.unit_id for u in self._units],
                               symbol=[s.symbol for s in styles],
                               size=np.fromiter((s.size for s in styles), float, count),
                               pen=[s.pen for s in styles], brush=[s.brush for s in styles])
        self._draw_headings(force=True)
        statuses = [self._status(u.status_code) for u in self._units]
        flashing = np.fromiter((s.flashing for s in statuses), bool, count)
        self.flash_item.setData(x=x[flashing], y=y[flashing])
        self._update_flash_timer()
        self._set_unit_labels(x, y, statuses, flashing)
        self._draw_selection()

    def _set_unit_labels(self, x: FloatArray, y: FloatArray, statuses: list[UnitStatus],
                         flashing: BoolArray) -> None:
        stale = np.fromiter((u.stale for u in self._units), bool, len(self._units))
        styles = ["flashing" if f else "stale" if s else "unit"
                  for f, s in zip(flashing.tolist(), stale.tolist(), strict=True)]
        # Flashing units first, moving units before stale ones.
        ranks = np.where(flashing, 1.0, np.where(stale, 7.0, 4.5))
        self.label_item.set_group("units", _LabelGroup(
            x=x, y=y, texts=[unit_label(u, s) for u, s in zip(self._units, statuses, strict=True)],
            styles=styles, ranks=ranks, always=flashing.copy(), forced=flashing.copy(),
            offset_px=_STAR_SIZE / 2 + _LABEL_GAP_PX, marker_px=_UNIT_SIZE))

    def _draw_headings(self, *, force: bool = False) -> None:
        # Ticks are a fixed number of pixels long, so their length in metres follows the zoom.
        pixel = float(self._view.viewPixelSize()[0])
        if not force and math.isclose(pixel, self._heading_px_size, rel_tol=1e-6):
            return  # a pan: the ticks are as long as before
        self._heading_px_size = pixel
        if not math.isfinite(pixel) or pixel <= 0:  # not laid out yet: ticks come on resize
            xs, ys = np.empty(0), np.empty(0)
        else:
            xs, ys = heading_segments(*self._unit_xy, self._unit_heading, _HEADING_PX * pixel)
        self.heading_item.setData(xs, ys, connect="pairs")

    def _on_view_transform(self, *_args: Any) -> None:
        if self._units:
            self._draw_headings()

    # -- flashing --

    @property
    def flash_timer(self) -> QtCore.QTimer:
        """The blink timer of flashing (emergency) units: runs only while one is shown."""
        return self._flash_timer

    def set_paused(self, paused: bool) -> None:
        """Stop blinking while the map is hidden or closed; resume when it is shown.

        Pausing touches only the timer, never an item: pyqtgraph's ``GraphicsView.close()``
        deletes every item of the scene before Qt sends the hide event.
        """
        self._paused = paused
        if paused:
            self._flash_timer.stop()
        else:
            self._update_flash_timer()

    def _update_flash_timer(self) -> None:
        wanted = not self._paused and self._visible_units and len(self.flash_item.data) > 0
        if wanted and not self._flash_timer.isActive():
            self._flash_timer.start()
        elif not wanted and self._flash_timer.isActive():
            self._flash_timer.stop()
        if not wanted:
            self.flash_item.setVisible(self._visible_units)

    def _blink(self) -> None:
        self.flash_item.setVisible(self._visible_units and not self.flash_item.isVisible())

    # -- calls --

    def set_calls(self, calls: Sequence[CallMarker]) -> None:
        """Show open ``calls``: ONE ``setData`` for the markers, one for their labels.

        Raises
        ------
        ValueError
            When two markers share an id.
        heartops.core.errors.UnknownCodeError
            For a priority other than P, 1, 2 or 3.
        """
        self._calls = [_normalised(call) for call in calls]
        self._call_index = {call.call_id: i for i, call in enumerate(self._calls)}
        if len(self._call_index) != len(self._calls):
            raise ValueError("call ids must be unique")
        if self._project is None:
            return
        count = len(self._calls)
        lon = np.fromiter((c.lon for c in self._calls), float, count)
        lat = np.fromiter((c.lat for c in self._calls), float, count)
        x, y = self._project(lon, lat)
        self._call_xy = (x, y)
        styles = [self._call_style(c.priority, c.assigned) for c in self._calls]
        self.call_item.setData(x=x, y=y, data=[c.call_id for c in self._calls],
                               symbol=[s.symbol for s in styles],
                               size=np.fromiter((s.size for s in styles), float, count),
                               pen=[s.pen for s in styles], brush=[s.brush for s in styles])
        self._set_call_labels(x, y)
        self._draw_selection()

    def _set_call_labels(self, x: FloatArray, y: FloatArray) -> None:
        count = len(self._calls)
        order = {p.value: p.rank for p in Priority}
        # Most urgent first; unassigned before assigned; then the oldest.
        ranks = np.fromiter((2.0 + order[c.priority] + (0.5 if c.assigned else 0.0)
                             - min(c.age_s, 86_400.0) / 1e6 for c in self._calls), float, count)
        always = np.fromiter((c.priority == Priority.P for c in self._calls), bool, count)
        self.label_item.set_group("calls", _LabelGroup(
            x=x, y=y, texts=[call_label(c) for c in self._calls],
            styles=[f"call_{c.priority}" for c in self._calls], ranks=ranks, always=always,
            forced=np.zeros(count, dtype=bool), offset_px=_CALL_SIZE / 2 + _LABEL_GAP_PX,
            marker_px=_CALL_SIZE - 4))

    # -- tooltips and clicks --

    def _unit_tip(self, *, x: float, y: float, data: Any) -> str:
        index = self._unit_index.get(str(data))
        if index is None:
            return ""
        unit = self._units[index]
        lines = [unit.label, self._status(unit.status_code).label]
        if unit.heading_deg is not None and not unit.stale:
            lines.append(f"heading {unit.heading_deg % 360:.0f}°")
        if unit.stale:
            lines.append("STALE: no recent AVL position")
        return "\n".join(lines)

    def _call_tip(self, *, x: float, y: float, data: Any) -> str:
        index = self._call_index.get(str(data))
        if index is None:
            return ""
        call = self._calls[index]
        assigned = "assigned" if call.assigned else "NOT ASSIGNED"
        return (f"{short_call_label(call.call_id)} — {call.label}\n{call.call_id}\n"
                f"Priority {call.priority} · {format_age(call.age_s)} old · {assigned}")

    def _on_unit_click(self, _item: Any, points: Any, _event: Any = None) -> None:
        if len(points):
            unit_id = str(points[0].data())
            self.select("unit", unit_id)
            self.unit_clicked.emit(unit_id)

    def _on_call_click(self, _item: Any, points: Any, _event: Any = None) -> None:
        if len(points):
            call_id = str(points[0].data())
            self.select("call", call_id)
            self.call_clicked.emit(call_id)

    # -- selection --

    @property
    def selection(self) -> tuple[str, str] | None:
        """``("unit" | "call", id)`` of the highlighted marker, or ``None``."""
        return self._selection

    def select(self, kind: str | None, marker_id: str | None) -> None:
        """Highlight one unit or call (``kind`` ``"unit"``/``"call"``); ``None`` clears.

        An id not (yet) on the map stays selected and is highlighted when it appears.
        """
        if kind is None or marker_id is None:
            self._selection = None
        elif kind in ("unit", "call"):
            self._selection = (kind, marker_id)
        else:
            raise ValueError(f"can select a 'unit' or a 'call', not {kind!r}")
        self._draw_selection()

    def selected_xy(self) -> tuple[float, float] | None:
        """Map position of the selected marker, if it is on the map."""
        if self._selection is None:
            return None
        kind, marker_id = self._selection
        index = (self._unit_index if kind == "unit" else self._call_index).get(marker_id)
        xs, ys = self._unit_xy if kind == "unit" else self._call_xy
        if index is None or index >= xs.size:
            return None
        return float(xs[index]), float(ys[index])

    def _draw_selection(self) -> None:
        where = self.selected_xy()
        if where is None or self._selection is None:
            self.halo_item.setData(x=[], y=[])
            self.label_item.set_selected(None)
            return
        kind, marker_id = self._selection
        index = (self._unit_index if kind == "unit" else self._call_index)[marker_id]
        if kind == "unit":
            size = self._unit_style(self._units[index].status_code, False).size
        else:
            call = self._calls[index]
            size = self._call_style(call.priority, call.assigned).size
        self.halo_item.setData(x=[where[0]], y=[where[1]], size=size + _HALO_PAD)
        self.label_item.set_selected(("units" if kind == "unit" else "calls", index))

    # -- route --

    def show_route(self, lon: FloatArray, lat: FloatArray) -> None:
        """Draw a route (WGS 84 vertices, in order) over the roads, replacing any shown."""
        self._route = (np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        if self._project is None:
            return
        x, y = self._project(*self._route)
        for item in (self.route_casing_item, self.route_item):
            item.setData(x, y)
            item.setVisible(True)

    def clear_route(self) -> None:
        """Remove the route."""
        self._route = None
        for item in (self.route_casing_item, self.route_item):
            item.setData([], [])
            item.setVisible(False)

    @property
    def has_route(self) -> bool:
        """Whether a route is shown."""
        return self._route is not None

    # -- visibility --

    @property
    def _visible_units(self) -> bool:
        return bool(self.unit_item.isVisible())

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        """Show or hide ``"units"`` (markers, ticks, rings, labels) or ``"calls"``."""
        if layer == "units":
            for item in (self.unit_item, self.heading_item, self.flash_item):
                item.setVisible(visible)
            self.label_item.set_group_visible("units", visible)
        elif layer == "calls":
            self.call_item.setVisible(visible)
            self.label_item.set_group_visible("calls", visible)
        else:
            raise ValueError(f"unknown live layer {layer!r}")
        self._update_flash_timer()


def _normalised(call: CallMarker) -> CallMarker:
    """Return the call with its priority spelled as the tables do (``"p"`` -> ``"P"``)."""
    priority = Priority.parse(call.priority).value
    if priority == call.priority:
        return call
    return CallMarker(call.call_id, call.lat, call.lon, priority, call.age_s, call.assigned,
                      call.label)


def _with_alpha(colour: str, alpha: int) -> QtGui.QColor:
    qcolour = QtGui.QColor(colour)
    qcolour.setAlpha(alpha)
    return qcolour


def _swatch(style: MarkerStyle) -> LegendSwatch:
    """Return the legend sample of a marker style (drawn by the legend at its own size)."""
    return LegendSwatch("marker", style.pen, style.brush, style.symbol)
