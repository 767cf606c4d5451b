"""The unit board: status, time in status, program, team, call, zone and AVL age per unit.

Status changes are one key away: with the board focused, the status table's keys
(``unit_statuses.csv``: ``A`` available, ``O`` out of service, ``!`` emergency, ...) change the
selected unit's status; the context menu lists the statuses the transitions table allows from
the current one, each with its key. A unit row can be dragged onto a call in the queue to
assign it. Units off shift and off calls are hidden unless asked for: they are the schedule,
not the situation.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from heartops.core.board import UnitRow
from heartops.core.codes import CodeTables
from heartops.core.errors import UnknownCodeError
from heartops.qt.panels.models import KEY_ROLE, SortKeyProxy, UnitModel
from heartops.qt.panels.style import SHAPE_GLYPHS
from heartops.qt.panels.views import BoardTable


class UnitProxy(SortKeyProxy):
    """Hides units that are off shift with no call (unless asked); sorts by sort keys."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._show_off_shift = False

    @property
    def show_off_shift(self) -> bool:
        """Whether units off shift (and not on a call) are listed."""
        return self._show_off_shift

    def set_show_off_shift(self, show: bool) -> None:
        """List units off shift too, or not."""
        self.beginFilterChange()
        self._show_off_shift = show
        self.endFilterChange(QtCore.QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int,  # noqa: N802 - Qt's name
                         source_parent: QtCore.QModelIndex | QtCore.QPersistentModelIndex
                         ) -> bool:
        """Keep on-shift units, units on a call and units in a flashing status."""
        model = self.sourceModel()
        if self._show_off_shift or not isinstance(model, UnitModel) or \
                source_row >= model.rowCount():
            return True
        return _listed(model.row_at(source_row))


def _listed(row: UnitRow) -> bool:
    return row.on_shift or row.call_id is not None or row.status.flashing


class UnitBoardPanel(QtWidgets.QWidget):
    """The unit board.

    Parameters
    ----------
    tables
        Code tables (statuses, keys, transitions).
    parent
        The parent widget.
    """

    #: The dispatcher selected a unit.
    unit_selected = QtCore.Signal(str)
    #: ``(unit_id, status_code)``: change a unit's status (key or context menu).
    status_requested = QtCore.Signal(str, str)
    #: A unit's call was asked for (double-click on a unit with a call).
    call_requested = QtCore.Signal(str)
    #: ``unit_id``: assign this unit to the selected call (context menu).
    assign_requested = QtCore.Signal(str)
    #: ``unit_id``: the team on a call reported all is well (context menu).
    check_in_requested = QtCore.Signal(str)

    def __init__(self, tables: CodeTables, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("unitPanel")
        self._tables = tables
        self._quiet = False
        self.model = UnitModel(tables, self)
        self.proxy = UnitProxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = self._build_view()
        self.off_shift_box = QtWidgets.QCheckBox("Show off shift", self)
        self.off_shift_box.setObjectName("showOffShift")
        self.off_shift_box.toggled.connect(self.proxy.set_show_off_shift)
        self.count_label = QtWidgets.QLabel("")
        self.keys_label = QtWidgets.QLabel(self._keys_hint())
        self.keys_label.setObjectName("statusKeys")
        self.keys_label.setToolTip("Status keys: select a unit and press the key")
        self.keys_label.setWordWrap(True)  # else its one long line sets the dock's width
        top = QtWidgets.QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.count_label)
        top.addStretch(1)
        top.addWidget(self.off_shift_box)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.keys_label)

    def _build_view(self) -> BoardTable:
        view = BoardTable("unitView", self)
        view.setModel(self.proxy)
        view.setSortingEnabled(True)
        view.sortByColumn(-1, QtCore.Qt.SortOrder.AscendingOrder)  # roster order
        view.set_column_widths({0: 54, 1: 108, 2: 44, 3: 40, 5: 36, 6: 36, 7: 50})
        view.set_stretch_column(4)  # the team takes what is left; the timers never scroll away
        view.setDragEnabled(True)
        view.setDragDropMode(QtWidgets.QAbstractItemView.DragDropMode.DragOnly)
        view.setDefaultDropAction(QtCore.Qt.DropAction.CopyAction)
        view.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._show_menu)
        view.key_handler = self._on_key
        view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        view.doubleClicked.connect(self._on_double_click)
        return view

    def _keys_hint(self) -> str:
        return "  ".join(f"{s.key} {s.label}" for s in self._tables.statuses.values() if s.key)

    # -- data --

    def update_rows(self, rows: list[UnitRow], changed: frozenset[str] = frozenset()) -> None:
        """Show every unit; repaint only what changed."""
        self._quiet = True
        try:
            self.proxy.refresh(self.model.update(rows, changed))
        finally:
            self._quiet = False
        available = sum(1 for r in rows if r.status.assignable and r.on_shift)
        hidden = sum(1 for r in rows if not _listed(r))
        self.count_label.setText(f"{available} available · {len(rows)} units")
        self.off_shift_box.setText(f"Show off shift ({hidden})")

    # -- selection --

    def selected_unit(self) -> str | None:
        """Return the selected unit, if any."""
        return self.view.selected_key()

    def select_unit(self, unit_id: str | None) -> bool:
        """Select ``unit_id`` without emitting; lists off-shift units if it is one of them."""
        self._quiet = True
        try:
            if self.view.select_key(unit_id):
                return True
            if unit_id is not None and self.model.row_of(unit_id) is not None and \
                    not self.proxy.show_off_shift:
                self.off_shift_box.setChecked(True)
                return self.view.select_key(unit_id)
            return False
        finally:
            self._quiet = False

    def _on_selection_changed(self, *_args: object) -> None:
        # Selection, not the current row: a click on the current but unselected row counts.
        key = None if self._quiet else self.view.selected_key()
        if key is not None:
            self.unit_selected.emit(key)

    def _on_double_click(self, index: QtCore.QModelIndex) -> None:
        key = index.siblingAtColumn(0).data(KEY_ROLE)
        row = None if key is None else self.model.row_of(str(key))
        if row is not None and self.model.row_at(row).call_id:
            self.call_requested.emit(str(self.model.row_at(row).call_id))

    # -- status changes --

    def _on_key(self, text: str) -> bool:
        unit_id = self.selected_unit()
        if unit_id is None:
            return False
        try:
            status = self._tables.status_for_key(text)
        except UnknownCodeError:
            return False
        self.status_requested.emit(unit_id, status.code)
        return True

    def _show_menu(self, pos: QtCore.QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        unit_id = str(index.siblingAtColumn(0).data(KEY_ROLE))
        self.select_unit(unit_id)
        self.unit_selected.emit(unit_id)
        menu = self.status_menu(unit_id)
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def status_menu(self, unit_id: str) -> QtWidgets.QMenu:
        """Return the context menu of ``unit_id``: allowed statuses (with keys), then assign."""
        menu = QtWidgets.QMenu(self)
        menu.setObjectName("unitMenu")
        row_index = self.model.row_of(unit_id)
        current = None if row_index is None else self.model.row_at(row_index).status.code
        codes = self._tables.next_statuses(current) if current else tuple(self._tables.statuses)
        for code in codes:
            status = self._tables.status(code)
            glyph = SHAPE_GLYPHS.get(status.shape, "●")
            action = menu.addAction(f"{glyph} {status.label}")
            action.setObjectName(f"status_{code}")
            if status.key:
                action.setShortcut(QtGui.QKeySequence(status.key))
                action.setShortcutVisibleInContextMenu(True)
            action.triggered.connect(
                lambda _checked=False, c=code: self.status_requested.emit(unit_id, c))
        menu.addSeparator()
        if row_index is not None and self.model.row_at(row_index).call_id is not None:
            check_in = menu.addAction("Checked in: all well")
            check_in.setObjectName("checkInUnit")
            check_in.setToolTip("The team reported in; its check-in timer starts again")
            check_in.triggered.connect(
                lambda _checked=False: self.check_in_requested.emit(unit_id))
        assign = menu.addAction("Assign to the selected call")
        assign.setObjectName("assignUnit")
        assign.triggered.connect(lambda _checked=False: self.assign_requested.emit(unit_id))
        return menu
