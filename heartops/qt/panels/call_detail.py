"""Call detail: what the call is, everything that happened to it, notes, and closing it.

The timeline merges what the board knows of a call, in time order: its lifecycle steps
(received, dispatched, en route, on scene, transport, cleared), the assignment with its rank,
ETA and any override reason, the dispatchers' notes, the safety events of its units (check-ins,
emergencies, backup requests) and the acknowledgements of its alerts (who, at which desk).
A call that leaves the board (closed) keeps its last timeline, marked closed.

Notes are added with Enter; a call is closed with its dispositions (from the dispositions
table; a destination when one of them needs it). The panel only emits; the controller runs
the commands through the session.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6 import QtCore, QtWidgets

from heartops.core.board import Board
from heartops.core.calls import Call
from heartops.core.codes import CallStep, CodeTables
from heartops.core.safety import SafetyEventKind
from heartops.qt.panels.style import DIM_TEXT, ERROR_TEXT, OK_TEXT, short_call_id

_STEP_LABELS = {
    CallStep.RECEIVED: "Call received",
    CallStep.TRIAGED: "Triaged",
    CallStep.DISPATCHED: "Unit dispatched",
    CallStep.EN_ROUTE: "En route",
    CallStep.ON_SCENE: "On scene",
    CallStep.TRANSPORT: "Transport started",
    CallStep.CLEARED: "Cleared",
}


# Safety events that repeat a lifecycle step already in the timeline.
_STEP_ECHOES = frozenset({SafetyEventKind.ON_SCENE, SafetyEventKind.CLEARED})


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a call's timeline."""

    at: datetime
    text: str
    by: str = ""


def call_timeline(call: Call, board: Board) -> list[TimelineEntry]:
    """Return every event of ``call`` the board knows, oldest first."""
    tables = board.tables
    entries = [TimelineEntry(at, _STEP_LABELS.get(step, str(step))) for step, at in call.steps]
    units = set(call.unit_ids)
    if call.call_id in board.calls:
        units.update(board.units_on(call.call_id))
        for unit_id in sorted(units):
            assignment = board.assignment_of(unit_id)
            if assignment is None or assignment.call_id != call.call_id:
                continue
            eta = ("" if assignment.eta_seconds is None
                   else f", {assignment.eta_seconds / 60:.1f} min away")
            why = (f" — override of {assignment.recommended_unit_id}: "
                   f"{assignment.override_reason}" if assignment.override_reason else "")
            by = f"{assignment.operator} @ {assignment.desk}" if assignment.desk else ""
            entries.append(TimelineEntry(
                assignment.at, f"{unit_id} assigned (rank {assignment.rank}{eta}){why}", by))
    for note in call.notes:
        entries.append(TimelineEntry(note.at, f"Note: {note.text}", note.author))
    for event in board.safety.events:
        if event.kind in _STEP_ECHOES:
            continue
        if event.call_id == call.call_id or (
                event.call_id is None and event.unit_id in units
                and event.at >= call.received_at):
            who = f"{event.unit_id} " if event.unit_id else ""
            entries.append(TimelineEntry(event.at, f"{who}{event.kind.replace('_', ' ')}"))
    for ack in board.acknowledgements:
        if ack.call_id == call.call_id:
            entries.append(TimelineEntry(ack.at, f"Alert acknowledged: {ack.key}",
                                         f"{ack.operator} @ {ack.desk}"))
    if call.dispositions:
        labels = ", ".join(tables.disposition(d).label for d in call.dispositions)
        where = f" to {call.destination}" if call.destination else ""
        closed = call.time_of(CallStep.CLEARED) or call.received_at
        entries.append(TimelineEntry(closed, f"Closed: {labels}{where}"))
    return sorted(entries, key=lambda e: e.at)


class CallDetailPanel(QtWidgets.QWidget):
    """The selected call: header, eligibility, timeline, notes and the close form.

    Parameters
    ----------
    tables
        Code tables (call types, flags, needs, dispositions).
    zone
        Time zone of the times shown.
    parent
        The parent widget.
    """

    #: ``(call_id, text)``: add a note.
    note_requested = QtCore.Signal(str, str)
    #: ``(call_id, dispositions, destination or None)``: close the call.
    close_requested = QtCore.Signal(str, list, object)

    def __init__(self, tables: CodeTables, zone: Any,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("callDetailPanel")
        self._tables = tables
        self._zone = zone
        self.call: Call | None = None
        self.closed = False
        self._entries: list[TimelineEntry] = []
        self.header = QtWidgets.QLabel("No call selected")
        self.header.setObjectName("callHeader")
        self.header.setWordWrap(True)
        self.header.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.timeline = self._build_timeline()
        self.note_edit = QtWidgets.QLineEdit(self)
        self.note_edit.setObjectName("noteEdit")
        self.note_edit.setPlaceholderText("Add a note (Enter)…")
        self.note_edit.returnPressed.connect(self._add_note)
        self.close_toggle = QtWidgets.QPushButton("Close call…")
        self.close_toggle.setObjectName("closeToggle")
        self.close_toggle.setCheckable(True)
        self.close_form, self.dispositions, self.destination, self.close_button = \
            self._build_close_form()
        self.destination.setEnabled(False)
        self.close_toggle.toggled.connect(self.close_form.setVisible)
        self.feedback = QtWidgets.QLabel("")
        self.feedback.setObjectName("callFeedback")
        self.feedback.setWordWrap(True)
        self._layout()
        self.show_call(None)

    def _build_timeline(self) -> QtWidgets.QTableWidget:
        # A table, not a tree: a table sizes wrapped rows to its columns' widths, so an
        # override reason or a note is read whole.
        table = QtWidgets.QTableWidget(0, 3, self)
        table.setObjectName("timeline")
        table.setHorizontalHeaderLabels(["Time", "Event", "By"])
        table.setAlternatingRowColors(True)
        table.setWordWrap(True)
        table.setShowGrid(False)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        table.setVerticalScrollMode(QtWidgets.QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = table.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        table.setColumnWidth(0, 62)
        table.setColumnWidth(2, 80)
        return table

    def _build_close_form(self) -> tuple[QtWidgets.QWidget, dict[str, QtWidgets.QCheckBox],
                                         QtWidgets.QLineEdit, QtWidgets.QPushButton]:
        form = QtWidgets.QWidget(self)
        form.setObjectName("closeForm")
        # Check boxes in two columns: every disposition visible at once, no scrolling.
        grid = QtWidgets.QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        boxes: dict[str, QtWidgets.QCheckBox] = {}
        for i, disposition in enumerate(self._tables.dispositions.values()):
            box = QtWidgets.QCheckBox(disposition.label, form)
            box.setObjectName(f"disposition_{disposition.code}")
            box.toggled.connect(lambda _on: self._sync_destination())
            grid.addWidget(box, i // 2, i % 2)
            boxes[disposition.code] = box
        destination = QtWidgets.QLineEdit(form)
        destination.setObjectName("destinationEdit")
        destination.setPlaceholderText("Destination (for a transport)")
        button = QtWidgets.QPushButton("Close call", form)
        button.setObjectName("closeButton")
        button.clicked.connect(self._close)
        layout = QtWidgets.QVBoxLayout(form)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(grid)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(destination, 1)
        row.addWidget(button)
        layout.addLayout(row)
        form.setVisible(False)
        return form, boxes, destination, button

    def _layout(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addWidget(self.timeline, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.note_edit, 1)
        row.addWidget(self.close_toggle)
        layout.addLayout(row)
        layout.addWidget(self.close_form)
        layout.addWidget(self.feedback)

    # -- showing --

    def show_call(self, call: Call | None, *, board: Board | None = None,
                  status: str = "", closed: bool = False) -> None:
        """Show ``call`` (``None``: nothing) with its timeline read from ``board``."""
        changed = call is None or self.call is None or call.call_id != self.call.call_id
        self.call = call
        self.closed = closed
        if changed:
            self.feedback.setText("")
            self.close_toggle.setChecked(False)
            self.set_dispositions([])
            self.destination.clear()
        if call is None:
            self.header.setText(f"<span style='color:{DIM_TEXT}'>No call selected</span>")
            self.timeline.setRowCount(0)
            self._entries = []
            self._enable(False)
            return
        self.header.setText(self._header_html(call, status, closed))
        if board is not None:
            self._fill_timeline(call_timeline(call, board))
        self._enable(not closed)

    def mark_closed(self, call: Call | None = None) -> None:
        """Keep the last view of the shown call, which left the board, and mark it closed."""
        if self.call is None:
            return
        shown = call or self.call
        self.closed = True
        self.header.setText(self._header_html(shown, "closed", True))
        if call is not None and call.dispositions:
            labels = ", ".join(self._tables.disposition(d).label for d in call.dispositions)
            self._append(TimelineEntry(call.time_of(CallStep.CLEARED) or call.received_at,
                                       f"Closed: {labels}"))
        self._enable(False)

    def set_feedback(self, text: str, *, error: bool) -> None:
        """Show the result of the last note or close."""
        self.feedback.setText(text)
        colour = ERROR_TEXT if error else OK_TEXT
        self.feedback.setStyleSheet(f"QLabel#callFeedback {{ color: {colour}; }}")

    def timeline_texts(self) -> list[str]:
        """Return the timeline's event texts, in order (for tests and screen readers)."""
        items = (self.timeline.item(row, 1) for row in range(self.timeline.rowCount()))
        return [item.text() for item in items if item is not None]

    def _header_html(self, call: Call, status: str, closed: bool) -> str:
        tables = self._tables
        kind = tables.call_type(call.call_type).label
        received = call.received_at.astimezone(self._zone)
        lines = [f"<b>#{html.escape(short_call_id(call.call_id))} · P{call.priority.value} · "
                 f"{html.escape(kind)}</b>"
                 + (f" <span style='color:{DIM_TEXT}'>(closed)</span>" if closed else "")]
        where = ", ".join(x for x in (call.address, f"zone {call.zone_id}" if call.zone_id
                                      else "") if x)
        lines.append(html.escape(f"{where} · received {received:%H:%M:%S}".lstrip(" ·")))
        if call.flags:
            lines.append("<span style='color:#f2b233'>⚠ " + html.escape(
                ", ".join(tables.flag(f).label for f in sorted(call.flags))) + "</span>")
        if call.needs:
            needs = ", ".join(tables.care_need(n).label if n in tables.care_needs else n
                              for n in sorted(call.needs))
            lines.append(html.escape(f"Needs: {needs}"))
        if status:
            lines.append(html.escape(status))
        lines.append(f"<span style='color:{DIM_TEXT}'>{html.escape(call.call_id)}</span>")
        return "<br>".join(lines)

    def _fill_timeline(self, entries: list[TimelineEntry]) -> None:
        if entries == self._entries:
            return  # nothing new: leave the list (and its scroll position) alone
        self.timeline.setRowCount(0)
        self._entries = []
        for entry in entries:
            self._append(entry)

    def _append(self, entry: TimelineEntry) -> None:
        row = self.timeline.rowCount()
        self.timeline.insertRow(row)
        cells = (f"{entry.at.astimezone(self._zone):%H:%M:%S}", entry.text, entry.by)
        for column, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(text)
            item.setToolTip(entry.text)
            self.timeline.setItem(row, column, item)
        self._entries.append(entry)

    def _enable(self, on: bool) -> None:
        for widget in (self.note_edit, self.close_toggle, self.close_button):
            widget.setEnabled(on)
        if not on:
            self.close_toggle.setChecked(False)

    # -- acting --

    def checked_dispositions(self) -> list[str]:
        """Return the ticked disposition codes, in table order."""
        return [code for code, box in self.dispositions.items() if box.isChecked()]

    def set_dispositions(self, codes: list[str]) -> None:
        """Tick exactly ``codes`` (keyboard users and tests)."""
        for code, box in self.dispositions.items():
            box.setChecked(code in codes)

    def _sync_destination(self) -> None:
        # The destination is asked for only when a ticked disposition needs one.
        self.destination.setEnabled(any(self._tables.disposition(code).needs_destination
                                        for code in self.checked_dispositions()))

    def _add_note(self) -> None:
        text = self.note_edit.text().strip()
        if self.call is None or not text:
            return
        self.note_requested.emit(self.call.call_id, text)

    def note_added(self) -> None:
        """Clear the note field after the note was stored."""
        self.note_edit.clear()

    def _close(self) -> None:
        if self.call is None:
            return
        destination = self.destination.text().strip() or None
        self.close_requested.emit(self.call.call_id, self.checked_dispositions(), destination)
