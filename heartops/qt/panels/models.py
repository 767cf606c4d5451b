"""Table models of the board: pending calls, units, alerts, ranked and left-out units.

Every model is a :class:`RowTableModel`: rows are the board's immutable row objects, keyed by
a stable id, and each cell is rendered once per update into ``(text, style)``. An update
compares the rendered cells with the previous ones and announces only what a person would see
change:

* the same ids in the same order: ``dataChanged`` for the rows whose cells changed (or that
  the :class:`~heartops.core.board.BoardChange` names), in contiguous runs; a timer that
  ticks from ``4:59`` to ``5:00`` repaints that row, not the table;
* ids added, removed or reordered: one ``layoutChanged``, with persistent indexes moved to
  their rows' new places, so a selected call stays selected while others arrive and leave.

Never a model reset: a reset clears the selection, and a dispatcher's selected call must not
vanish because another call came in.

Drag and drop: unit rows drag as :data:`UNIT_MIME` (the unit id); queue rows accept it and
:class:`QueueModel` emits :attr:`QueueModel.unit_dropped` with the unit and the call. The view
never assigns by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from PySide6 import QtCore, QtGui

from heartops.core.board import AlertKind, BoardAlert, QueueRow, TimerLevel, UnitRow
from heartops.core.codes import CodeTables
from heartops.core.recommend import LeftOutUnit, RankedUnit
from heartops.qt.panels.style import (
    DIM_TEXT,
    FLASH_OFF,
    FLASH_ON,
    OK_TEXT,
    CellStyle,
    alert_text,
    contrast_text,
    format_avl_age,
    format_timer,
    level_style,
    short_call_id,
    short_call_mentions,
    status_style,
    status_text,
    team_text,
    unmet_text,
)

RowT = TypeVar("RowT")

#: MIME type of a dragged unit row (the payload is the unit id, UTF-8).
UNIT_MIME = "application/x-heartops-unit"
#: Role holding the row's key (unit id, call id, alert key).
KEY_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
#: Role holding the value the proxies sort by (numbers sort as numbers).
SORT_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2

_LEFT = QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter
_RIGHT = QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
_CENTER = QtCore.Qt.AlignmentFlag.AlignCenter

_NO_STYLE = CellStyle()


@dataclass(frozen=True)
class Column(Generic[RowT]):
    """One column of a :class:`RowTableModel`.

    Attributes
    ----------
    title
        Header text.
    text
        The cell's text.
    style
        The cell's colours; default colours when not given.
    sort_key
        What the column sorts by (the text when not given).
    tooltip
        The cell's tooltip (computed when asked, not per update).
    align
        Text alignment.
    header_tip
        The header's tooltip.
    """

    title: str
    text: Callable[[RowT], str]
    style: Callable[[RowT], CellStyle] | None = None
    sort_key: Callable[[RowT], Any] | None = None
    tooltip: Callable[[RowT], str] | None = None
    align: QtCore.Qt.AlignmentFlag = _LEFT
    header_tip: str = ""
    ticks: bool = False
    """The cell changes with time alone (a timer): rendered again on every update."""


_Cell = tuple[str, CellStyle]


@dataclass
class _Brushes:
    """QBrush/QFont objects per colour, reused across paints."""

    brushes: dict[str, QtGui.QBrush] = field(default_factory=dict)
    bold: QtGui.QFont | None = None

    def brush(self, colour: str) -> QtGui.QBrush:
        found = self.brushes.get(colour)
        if found is None:
            found = self.brushes[colour] = QtGui.QBrush(QtGui.QColor(colour))
        return found

    def bold_font(self) -> QtGui.QFont:
        if self.bold is None:
            self.bold = QtGui.QFont()
            self.bold.setBold(True)
        return self.bold


class RowTableModel(QtCore.QAbstractTableModel, Generic[RowT]):
    """A read-only table of keyed rows that announces only what changed (module docstring).

    Parameters
    ----------
    columns
        The columns.
    key
        The stable id of a row.
    parent
        The Qt parent.
    unchanged
        What a row's cells depend on besides time. A row whose value is the same as at the
        last update only renders its ``ticks`` columns again: 200 waiting calls change only
        their timers from one tick to the next.
    """

    def __init__(self, columns: Sequence[Column[RowT]], key: Callable[[RowT], str],
                 parent: QtCore.QObject | None = None, *,
                 unchanged: Callable[[RowT], object] | None = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._key = key
        self._unchanged = unchanged
        self._marks: dict[str, object] = {}
        self._rows: list[RowT] = []
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._cells: list[tuple[_Cell, ...]] = []
        self._paint = _Brushes()

    # -- reading -----------------------------------------------------------------------------

    @property
    def rows(self) -> list[RowT]:
        """The rows, in model order."""
        return list(self._rows)

    @property
    def keys(self) -> list[str]:
        """The row keys, in model order."""
        return list(self._keys)

    def row_of(self, key: str) -> int | None:
        """Return the model row of ``key``, or ``None``."""
        return self._index.get(key)

    def row_at(self, row: int) -> RowT:
        """Return the row object at model row ``row``."""
        return self._rows[row]

    def key_at(self, row: int) -> str:
        """Return the key of model row ``row``."""
        return self._keys[row]

    def cell_text(self, row: int, column: int) -> str:
        """Return the rendered text of a cell (what the view shows)."""
        return self._cells[row][column][0]

    def sort_key(self, row: int, column: int) -> Any:
        """Return what model row ``row`` sorts by in ``column`` (its :data:`SORT_ROLE`)."""
        sort_key = self._columns[column].sort_key
        return sort_key(self._rows[row]) if sort_key else self._cells[row][column][0]

    def column_of(self, title: str) -> int:
        """Return the index of the column titled ``title``."""
        return next(i for i, c in enumerate(self._columns) if c.title == title)

    # -- updating ----------------------------------------------------------------------------

    def update(self, rows: Sequence[RowT], changed: Collection[str] = ()) -> bool:
        """Show ``rows``; announce changed rows only (see the module docstring).

        Parameters
        ----------
        rows
            The new rows, in display order.
        changed
            Keys to repaint even if their rendered cells look the same (their tooltips or
            drag data may have changed).

        Returns
        -------
        bool
            Whether rows were added, removed or reordered (a ``layoutChanged``).
        """
        keys = [self._key(row) for row in rows]
        cells = self._render_rows(rows, keys)
        if keys == self._keys:
            dirty = [i for i, key in enumerate(keys)
                     if cells[i] != self._cells[i] or key in changed]
            self._rows, self._cells = list(rows), cells
            self._emit_rows(dirty)
            return False
        self._relayout(list(rows), keys, cells)
        return True

    def rerender(self, keys: Collection[str] | None = None) -> None:
        """Render rows again (a theme switch, a flash phase); ``None`` means every row."""
        rows = range(len(self._rows)) if keys is None else sorted(
            i for k in keys if (i := self._index.get(k)) is not None)
        dirty = []
        for i in rows:
            cells = self._render(self._rows[i])
            if cells != self._cells[i]:
                self._cells[i] = cells
                dirty.append(i)
        self._emit_rows(dirty)

    def _render_rows(self, rows: Sequence[RowT], keys: list[str]) -> list[tuple[_Cell, ...]]:
        if self._unchanged is None:
            return [self._render(row) for row in rows]
        marks = {key: self._unchanged(row) for key, row in zip(keys, rows, strict=True)}
        cells = []
        for key, row in zip(keys, rows, strict=True):
            i = self._index.get(key)
            if i is None or key not in self._marks or self._marks[key] != marks[key]:
                cells.append(self._render(row))
                continue
            old = self._cells[i]
            cells.append(tuple(self._render_cell(column, row) if column.ticks else old[j]
                               for j, column in enumerate(self._columns)))
        self._marks = marks
        return cells

    def _render_cell(self, column: Column[RowT], row: RowT) -> _Cell:
        return column.text(row), column.style(row) if column.style else _NO_STYLE

    def _render(self, row: RowT) -> tuple[_Cell, ...]:
        return tuple((column.text(row), column.style(row) if column.style else _NO_STYLE)
                     for column in self._columns)

    def _emit_rows(self, dirty: list[int]) -> None:
        last_column = len(self._columns) - 1
        for first, last in _runs(dirty):
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_column))

    def _relayout(self, rows: list[RowT], keys: list[str],
                  cells: list[tuple[_Cell, ...]]) -> None:
        self.layoutAboutToBeChanged.emit()
        old_keys = self._keys
        self._rows, self._keys, self._cells = rows, keys, cells
        self._index = {key: i for i, key in enumerate(keys)}
        moved_from = self.persistentIndexList()
        moved_to = []
        for index in moved_from:
            new_row = self._index.get(old_keys[index.row()]) if index.row() < len(
                old_keys) else None
            moved_to.append(QtCore.QModelIndex() if new_row is None
                            else self.index(new_row, index.column()))
        self.changePersistentIndexList(moved_from, moved_to)
        self.layoutChanged.emit()

    # -- Qt model interface ------------------------------------------------------------------

    def rowCount(self, parent: QtCore.QModelIndex | QtCore.QPersistentModelIndex  # noqa: N802
                 | None = None) -> int:
        """Return the number of rows (none under a valid parent: a flat table)."""
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def columnCount(self, parent: QtCore.QModelIndex  # noqa: N802
                    | QtCore.QPersistentModelIndex | None = None) -> int:
        """Return the number of columns."""
        return 0 if parent is not None and parent.isValid() else len(self._columns)

    def data(self, index: QtCore.QModelIndex | QtCore.QPersistentModelIndex,
             role: int = QtCore.Qt.ItemDataRole.DisplayRole) -> Any:
        """Return a cell's text, colours, font, tooltip, key or sort value."""
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        column = self._columns[index.column()]
        text, style = self._cells[index.row()][index.column()]
        roles = QtCore.Qt.ItemDataRole
        if role == roles.DisplayRole:
            return text
        if role == roles.BackgroundRole:
            return None if style.background is None else self._paint.brush(style.background)
        if role == roles.ForegroundRole:
            return None if style.foreground is None else self._paint.brush(style.foreground)
        if role == roles.FontRole:
            return self._paint.bold_font() if style.bold else None
        if role == roles.TextAlignmentRole:
            return column.align
        if role == roles.ToolTipRole:
            return column.tooltip(self._rows[index.row()]) if column.tooltip else text
        if role == KEY_ROLE:
            return self._keys[index.row()]
        if role == SORT_ROLE:
            return self.sort_key(index.row(), index.column())
        return None

    def headerData(self, section: int, orientation: QtCore.Qt.Orientation,  # noqa: N802
                   role: int = QtCore.Qt.ItemDataRole.DisplayRole) -> Any:
        """Return column titles and their tooltips."""
        if orientation != QtCore.Qt.Orientation.Horizontal or not \
                0 <= section < len(self._columns):
            return None
        if role == QtCore.Qt.ItemDataRole.DisplayRole:
            return self._columns[section].title
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            return self._columns[section].header_tip or None
        return None


def _runs(rows: list[int]) -> Iterator[tuple[int, int]]:
    """Yield ``(first, last)`` of each run of consecutive row numbers."""
    start = previous = None
    for row in sorted(rows):
        if start is None or previous is None:
            start = previous = row
        elif row == previous + 1:
            previous = row
        else:
            yield start, previous
            start = previous = row
    if start is not None and previous is not None:
        yield start, previous


# -- pending calls ---------------------------------------------------------------------------


class QueueModel(RowTableModel[QueueRow]):
    """Pending calls in board order (priority, then oldest); accepts dropped units.

    Parameters
    ----------
    tables
        Code tables (call type labels, flags).
    priority_colours
        Badge colour per priority (``"P"``, ``"1"``...): the map's, so both read alike.
    """

    #: ``(unit_id, call_id)``: a unit row was dropped on a call row.
    unit_dropped = QtCore.Signal(str, str)

    def __init__(self, tables: CodeTables, priority_colours: dict[str, str],
                 parent: QtCore.QObject | None = None) -> None:
        self._tables = tables
        self._priority_colours = dict(priority_colours)
        super().__init__([
            Column("P", lambda r: r.priority.value, self._priority_style,
                   sort_key=lambda r: (r.priority.rank, -r.age_s), align=_CENTER,
                   header_tip="Priority (P, 1, 2, 3); sorting by it is the board order"),
            Column("Call", lambda r: short_call_id(r.call_id), sort_key=_call_number,
                   tooltip=self._call_tip, align=_RIGHT),
            Column("Type", self._type_text, tooltip=self._type_tip),
            Column("Programs", self._programs_text, self._programs_style,
                   header_tip="Programs that can take the call now"),
            Column("Zone", lambda r: r.call.zone_id or "—"),
            Column("Waiting", lambda r: format_timer(r.age_s), lambda r: level_style(r.level),
                   sort_key=lambda r: r.age_s, align=_RIGHT, ticks=True,
                   header_tip="Time since the call was received (amber: warning, red: alert)"),
        ], key=lambda r: r.call_id, parent=parent,
            unchanged=lambda r: (r.call, r.eligible_programs, r.unmet, self._priority_colours))

    def set_priority_colours(self, colours: dict[str, str]) -> None:
        """Recolour the priority badges (theme switch)."""
        self._priority_colours = dict(colours)
        self.rerender()

    def _priority_style(self, row: QueueRow) -> CellStyle:
        colour = self._priority_colours.get(row.priority.value, "#888888")
        return CellStyle(colour, contrast_text(colour), bold=True)

    def _type_text(self, row: QueueRow) -> str:
        label = self._tables.call_type(row.call.call_type).label
        return f"⚠ {label}" if row.call.flags else label

    def _type_tip(self, row: QueueRow) -> str:
        call_type = self._tables.call_type(row.call.call_type)
        lines = [call_type.label, call_type.description]
        lines += [f"⚠ {self._tables.flag(f).label}" for f in sorted(row.call.flags)]
        return "\n".join(line for line in lines if line)

    def _call_tip(self, row: QueueRow) -> str:
        call = row.call
        return "\n".join(x for x in (call.call_id, call.address) if x)

    def _programs_text(self, row: QueueRow) -> str:
        if row.eligible_programs:
            return " ".join(row.eligible_programs)
        return unmet_text(row.unmet, self._tables) if row.unmet else "police/EMS"

    def _programs_style(self, row: QueueRow) -> CellStyle:
        return _NO_STYLE if row.eligible_programs else CellStyle(foreground=DIM_TEXT)

    # -- dropping units on calls --

    def flags(self, index: QtCore.QModelIndex | QtCore.QPersistentModelIndex
              ) -> QtCore.Qt.ItemFlag:
        """Rows are selectable and accept dropped units."""
        base = super().flags(index)
        if index.isValid():
            return base | QtCore.Qt.ItemFlag.ItemIsDropEnabled
        return base

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt's name
        """Accept unit rows."""
        return [UNIT_MIME]

    def supportedDropActions(self) -> QtCore.Qt.DropAction:  # noqa: N802 - Qt's name
        """Accept copies (the unit board keeps its row)."""
        return QtCore.Qt.DropAction.CopyAction | QtCore.Qt.DropAction.MoveAction

    def canDropMimeData(self, data: QtCore.QMimeData, action: QtCore.Qt.DropAction,  # noqa: N802
                        row: int, column: int,
                        parent: QtCore.QModelIndex | QtCore.QPersistentModelIndex) -> bool:
        """Accept a unit dropped onto a call row."""
        return data.hasFormat(UNIT_MIME) and self._target_row(row, parent) is not None

    def dropMimeData(self, data: QtCore.QMimeData, action: QtCore.Qt.DropAction,  # noqa: N802
                     row: int, column: int,
                     parent: QtCore.QModelIndex | QtCore.QPersistentModelIndex) -> bool:
        """Emit :attr:`unit_dropped` for a unit dropped on a call; the model is unchanged.

        Returns False so that a view never removes the dragged unit row.
        """
        target = self._target_row(row, parent)
        if not data.hasFormat(UNIT_MIME) or target is None:
            return False
        unit_id = bytes(data.data(UNIT_MIME).data()).decode("utf-8")
        self.unit_dropped.emit(unit_id, self._keys[target])
        return False

    def _target_row(self, row: int,
                    parent: QtCore.QModelIndex | QtCore.QPersistentModelIndex) -> int | None:
        # Dropped onto a row: the parent is that cell. Dropped between rows: the row after.
        target = parent.row() if parent.isValid() else row
        return target if 0 <= target < len(self._rows) else None


def _call_number(row: QueueRow) -> int:
    text = short_call_id(row.call_id)
    return int(text) if text.isdigit() else 0


# -- units -----------------------------------------------------------------------------------


class UnitModel(RowTableModel[UnitRow]):
    """Every unit in roster order: status, timers, team, call, zone, AVL age; drags unit ids.

    Parameters
    ----------
    tables
        Code tables (statuses, capabilities).
    """

    def __init__(self, tables: CodeTables, parent: QtCore.QObject | None = None) -> None:
        self._tables = tables
        self._flash_on = True
        super().__init__([
            Column("Unit", lambda r: r.unit_id, self._unit_style, tooltip=self._unit_tip),
            Column("Status", lambda r: status_text(r.status), self._status_style,
                   sort_key=lambda r: list(tables.statuses).index(r.status.code)
                   if r.status.code in tables.statuses else 99,
                   header_tip="Status (shape, colour and words from the status table)"),
            Column("Time", lambda r: format_timer(r.time_in_status_s), self._time_style,
                   sort_key=lambda r: r.time_in_status_s, align=_RIGHT, ticks=True,
                   header_tip="Time in status (amber: warning, red: alert)"),
            Column("Prog", lambda r: r.unit.program, self._dim),
            Column("Team", lambda r: team_text(r.unit.team), self._dim,
                   tooltip=self._team_tip),
            Column("Call", lambda r: short_call_id(r.call_id), self._dim,
                   tooltip=lambda r: r.call_id or "No call", align=_RIGHT),
            Column("Zone", lambda r: r.zone_id or "—", self._dim),
            Column("AVL", self._avl_text, self._avl_style,
                   sort_key=lambda r: -1.0 if r.avl_age_s is None else r.avl_age_s,
                   tooltip=self._avl_tip, align=_RIGHT, ticks=True,
                   header_tip="Age of the last AVL position (⚠ amber: stale)"),
        ], key=lambda r: r.unit_id, parent=parent,
            unchanged=lambda r: (r.unit, r.state.status, r.state.call_id, r.zone_id,
                                 r.on_shift, r.status_level, r.avl_stale, self._flash_on))

    @property
    def flash_on(self) -> bool:
        """The phase of flashing (emergency) status cells."""
        return self._flash_on

    def set_flash(self, on: bool) -> None:
        """Set the flash phase; repaints the flashing rows only."""
        self._flash_on = on
        self.rerender([r.unit_id for r in self._rows if r.status.flashing])

    def flashing_units(self) -> list[str]:
        """Units whose status flashes (emergency)."""
        return [r.unit_id for r in self._rows if r.status.flashing]

    def _dim(self, row: UnitRow) -> CellStyle:
        return _NO_STYLE if row.on_shift or row.call_id else CellStyle(foreground=DIM_TEXT)

    def _unit_style(self, row: UnitRow) -> CellStyle:
        if row.status.flashing:
            return FLASH_ON if self._flash_on else FLASH_OFF
        dim = self._dim(row)
        return CellStyle(foreground=dim.foreground, bold=True)

    def _status_style(self, row: UnitRow) -> CellStyle:
        return status_style(row.status, flash_on=self._flash_on)

    def _time_style(self, row: UnitRow) -> CellStyle:
        style = level_style(row.status_level)
        return style if row.status_level is not TimerLevel.NORMAL else self._dim(row)

    def _avl_text(self, row: UnitRow) -> str:
        text = format_avl_age(row.avl_age_s)
        return f"⚠ {text}" if row.avl_stale else text

    def _avl_tip(self, row: UnitRow) -> str:
        if row.avl_age_s is None:
            return "No AVL position yet (phone programs do not report one)"
        stale = "STALE: no recent position. " if row.avl_stale else ""
        return f"{stale}Last AVL fix {format_avl_age(row.avl_age_s)} ago"

    def _avl_style(self, row: UnitRow) -> CellStyle:
        return level_style(TimerLevel.WARNING) if row.avl_stale else self._dim(row)

    def _unit_tip(self, row: UnitRow) -> str:
        unit = row.unit
        lines = [f"{unit.unit_id} — {unit.name}" if unit.name else unit.unit_id,
                 f"Program {unit.program}" + ("" if row.on_shift else " · off shift")]
        extras = sorted(unit.capabilities)
        if extras:
            lines.append(", ".join(self._capability(c) for c in extras))
        if unit.home_post_id:
            lines.append(f"Home post {unit.home_post_id}")
        return "\n".join(lines)

    def _team_tip(self, row: UnitRow) -> str:
        return "\n".join(self._capability(role) for role in row.unit.team) or "No team roles"

    def _capability(self, code: str) -> str:
        found = self._tables.capabilities.get(code)
        return found.label if found is not None else code

    # -- dragging units onto calls --

    def flags(self, index: QtCore.QModelIndex | QtCore.QPersistentModelIndex
              ) -> QtCore.Qt.ItemFlag:
        """Rows are selectable and draggable."""
        base = super().flags(index)
        if index.isValid():
            return base | QtCore.Qt.ItemFlag.ItemIsDragEnabled
        return base

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt's name
        """Drag unit rows as :data:`UNIT_MIME`."""
        return [UNIT_MIME]

    def mimeData(self, indexes: Sequence[QtCore.QModelIndex]) -> QtCore.QMimeData:  # noqa: N802
        """Return the unit id of the first dragged row."""
        data = QtCore.QMimeData()
        rows = [i.row() for i in indexes if i.isValid()]
        if rows:
            unit_id = self._keys[rows[0]]
            data.setData(UNIT_MIME, QtCore.QByteArray(unit_id.encode("utf-8")))
            data.setText(unit_id)
        return data

    def supportedDragActions(self) -> QtCore.Qt.DropAction:  # noqa: N802 - Qt's name
        """Dragging a unit copies its id; its row stays."""
        return QtCore.Qt.DropAction.CopyAction


# -- alerts ----------------------------------------------------------------------------------

_KIND_LABELS: dict[AlertKind, str] = {
    AlertKind.EMERGENCY: "EMERGENCY",
    AlertKind.CHECK_IN: "Check-in",
    AlertKind.CALL_WAITING: "Waiting",
    AlertKind.UNIT_STATUS: "Status",
    AlertKind.AVL_STALE: "AVL",
    AlertKind.FOLLOW_UP: "Follow-up",
}


class AlertModel(RowTableModel[BoardAlert]):
    """The standing alerts, most urgent first; emergencies flash, acknowledged ones go quiet.

    Parameters
    ----------
    zone
        Time zone of the acknowledgement times shown.
    """

    def __init__(self, zone: Any, parent: QtCore.QObject | None = None) -> None:
        self._zone = zone
        self._flash_on = True
        super().__init__([
            Column("Kind", lambda a: _KIND_LABELS.get(a.kind, a.kind.value), self._kind_style,
                   sort_key=lambda a: a.sort_key()),
            Column("Alert", lambda a: alert_text(a.text, a.call_id), self._text_style,
                   tooltip=self._tip),
            Column("Ack", self._ack_text, self._ack_style, tooltip=self._tip,
                   header_tip="Acknowledged when (who: in the tooltip); an escalation "
                              "needs a new acknowledgement"),
        ], key=lambda a: a.key, parent=parent)

    def set_flash(self, on: bool) -> None:
        """Set the flash phase; repaints the emergency rows only."""
        self._flash_on = on
        self.rerender([a.key for a in self._rows if a.kind is AlertKind.EMERGENCY])

    def _kind_style(self, alert: BoardAlert) -> CellStyle:
        if alert.kind is AlertKind.EMERGENCY:
            return FLASH_ON if self._flash_on or alert.acknowledged else FLASH_OFF
        return level_style(alert.level)

    def _text_style(self, alert: BoardAlert) -> CellStyle:
        return CellStyle(foreground=DIM_TEXT) if alert.acknowledged else CellStyle(bold=True)

    def _ack_text(self, alert: BoardAlert) -> str:
        ack = alert.acknowledgement
        if ack is None:
            return "—"
        return f"✓ {_local(ack.at, self._zone):%H:%M}"

    def _ack_style(self, alert: BoardAlert) -> CellStyle:
        return CellStyle(foreground=OK_TEXT) if alert.acknowledged else _NO_STYLE

    def _tip(self, alert: BoardAlert) -> str:
        lines = [alert.text, f"since {_local(alert.since, self._zone):%H:%M:%S}",
                 f"key: {alert.key}"]
        ack = alert.acknowledgement
        if ack is not None:
            lines.append(f"acknowledged {_local(ack.at, self._zone):%H:%M:%S} by "
                         f"{ack.operator} at {ack.desk}")
        return "\n".join(lines)


def _local(when: datetime, zone: Any) -> datetime:
    return when.astimezone(zone)


# -- recommendation --------------------------------------------------------------------------


COVER_TITLE = "Cover −%"
"""Title of the ranked units' coverage-cost column."""


class RankedModel(RowTableModel[RankedUnit]):
    """Units that can take the selected call, best first.

    The "Cover −%" column shows, per in-person unit, the share of this hour's expected demand
    that would lose 12-minute coverage if that unit went (:meth:`set_costs`; blank until the
    costs arrive, "—" for phone units, which cover nothing by driving).
    """

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        self.costs: dict[str, float] | None = None
        self._costs_available = False
        super().__init__([
            Column("#", lambda r: str(r.rank), lambda r: _TOP if r.rank == 1 else _NO_STYLE,
                   sort_key=lambda r: r.rank, align=_CENTER),
            Column("Unit", lambda r: r.unit_id, lambda r: CellStyle(bold=True)),
            Column("ETA", _eta_text, sort_key=lambda r: r.seconds, align=_RIGHT,
                   header_tip="Drive time in minutes"),
            Column("km", _km_text, align=_RIGHT, header_tip="Drive distance"),
            Column(COVER_TITLE, self._cover_text, align=_RIGHT, tooltip=self._cover_tip,
                   header_tip="Share of this hour's expected eligible demand that loses "
                              "12-minute coverage if this unit goes"),
            Column("Why", _why_text, tooltip=lambda r: r.explanation),
        ], key=lambda r: r.unit_id, parent=parent)

    def set_costs(self, costs: dict[str, float] | None, *, available: bool = True) -> None:
        """Show coverage costs (``unit_id -> share``); ``None`` blanks the column."""
        self.costs = None if costs is None else dict(costs)
        self._costs_available = available
        self.rerender()

    def update(self, rows: Sequence[RankedUnit], changed: Collection[str] = ()) -> bool:
        """Show ``rows``; costs of another set of units are dropped (a new call)."""
        if self.costs is not None and {r.unit_id for r in rows} != set(self._keys):
            self.costs = None
        return super().update(rows, changed)

    def _cover_text(self, row: RankedUnit) -> str:
        if row.eta is None:
            return "—"  # a phone unit: it covers no area by driving
        cost = None if self.costs is None else self.costs.get(row.unit_id)
        return "" if cost is None else f"{100 * cost:.1f}"

    def _cover_tip(self, row: RankedUnit) -> str:
        if row.eta is None:
            return "Phone unit: no drive-time coverage to lose"
        if not self._costs_available:
            return "No coverage service on this desk"
        cost = None if self.costs is None else self.costs.get(row.unit_id)
        if cost is None:
            return "Coverage cost: computing (or the history is still loading)"
        return (f"If {row.unit_id} goes, {100 * cost:.1f}% of this hour's expected demand "
                "is no longer within 12 minutes of a free team")


_TOP = CellStyle("#2e7d32", "#f4f7fa", bold=True)


def _eta_text(row: RankedUnit) -> str:
    if row.eta is None:
        return "phone"
    return f"{row.eta.minutes:.1f}" if row.eta.reachable else "—"


def _km_text(row: RankedUnit) -> str:
    if row.eta is None or not row.eta.reachable or row.eta.meters != row.eta.meters:
        return ""
    return f"{row.eta.meters / 1000:.1f}"


def _why_text(row: RankedUnit) -> str:
    # The unit, its minutes and kilometres have their own columns: keep the reasons.
    parts = [p.strip() for p in row.explanation.split("·")]
    kept = [p for p in parts if p and p != row.unit_id
            and not p.endswith((" min", " km")) and p != "phone"]
    return " · ".join(kept)


class LeftOutModel(RowTableModel[LeftOutUnit]):
    """Units that cannot take the selected call, each with its reasons."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__([
            Column("Unit", lambda u: u.unit_id, lambda u: CellStyle(foreground=DIM_TEXT)),
            Column("Why not", lambda u: short_call_mentions(" · ".join(c.detail
                                                                for c in u.causes)),
                   lambda u: CellStyle(foreground=DIM_TEXT),
                   tooltip=lambda u: u.explanation),
        ], key=lambda u: u.unit_id, parent=parent)


class SortKeyProxy(QtCore.QSortFilterProxyModel):
    """A sort/filter proxy that sorts by :data:`SORT_ROLE` values compared as Python values.

    Sort keys are tuples and numbers, which Qt cannot compare inside QVariants. Sorting calls
    :meth:`lessThan` in Python for every comparison, so the proxy does not re-sort on every
    ``dataChanged`` (a tick changes every waiting call's age): the panel calls
    :meth:`refresh` after each update, and it re-sorts only when the order would change.
    """

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(False)
        self._arranged: list[int] | None = None  # source rows shown, in order, when last set

    def sort(self, column: int,  # noqa: D102 - Qt's method; the header's click
             order: QtCore.Qt.SortOrder = QtCore.Qt.SortOrder.AscendingOrder) -> None:
        self._arranged = None
        super().sort(column, order)

    def endFilterChange(self,  # noqa: N802, D102 - Qt's name; the panel's filters changed
                        direction: QtCore.QSortFilterProxyModel.Direction
                        = QtCore.QSortFilterProxyModel.Direction.Both) -> None:
        self._arranged = None
        super().endFilterChange(direction)

    def lessThan(self, left: QtCore.QModelIndex | QtCore.QPersistentModelIndex,  # noqa: N802
                 right: QtCore.QModelIndex | QtCore.QPersistentModelIndex) -> bool:
        """Compare the two cells' sort keys."""
        return _less(left.data(SORT_ROLE), right.data(SORT_ROLE))

    def refresh(self, relayout: bool) -> None:
        """Filter and sort again after the source model was updated, if that changes anything.

        Parameters
        ----------
        relayout
            Rows were added, removed or reordered (``RowTableModel.update`` said so).
        """
        wanted = self._arrangement()
        if relayout or wanted != self._arranged:
            self.invalidate()
            self._arranged = wanted

    def _arrangement(self) -> list[int]:
        """Return the source rows that filtering and sorting now would show, in order."""
        root = QtCore.QModelIndex()
        rows = [row for row in range(self.sourceModel().rowCount())
                if self.filterAcceptsRow(row, root)]
        column = self.sortColumn()
        source = self.sourceModel()
        if column < 0 or not isinstance(source, RowTableModel):
            return rows
        keys = {row: _SortKey(source.sort_key(row, column)) for row in rows}
        # Qt's sort is stable, like Python's: rows with equal keys keep the source order.
        return sorted(rows, key=keys.__getitem__,
                      reverse=self.sortOrder() == QtCore.Qt.SortOrder.DescendingOrder)


def _less(a: Any, b: Any) -> bool:
    try:
        return bool(a < b)
    except TypeError:
        return str(a) < str(b)


class _SortKey:
    """A sort key ordered as :meth:`SortKeyProxy.lessThan` orders it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _SortKey) -> bool:
        return _less(self.value, other.value)
