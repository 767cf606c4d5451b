"""The pending-call queue: priority, type, programs, zone and an ageing timer per call.

Sorted by the board's order (priority, then oldest) unless the dispatcher clicks another
header; filtered by words and by program. Whatever the sort, filter or scroll, the head of the
board order (the oldest call of the highest priority waiting) is pinned above the table, in
its timer's colour, one click (or Ctrl+1, in the window's Board menu) from being selected:
PRODUCT.md asks that it is always visible.

Enter or a double-click on a call assigns the unit chosen in the recommendation panel (the top
one unless the dispatcher picked another); a unit dragged from the unit board onto a call
assigns that unit. The panel only emits; the board controller decides.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from heartops.core.board import QueueRow
from heartops.core.codes import CodeTables
from heartops.qt.panels.models import KEY_ROLE, QueueModel, SortKeyProxy
from heartops.qt.panels.style import format_timer, level_style, set_style_sheet, short_call_id
from heartops.qt.panels.views import BoardTable

ALL_PROGRAMS = ""
NO_PROGRAM = "-"


class QueueProxy(SortKeyProxy):
    """Filters the queue by words and program; sorts by each column's sort key."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self._program = ALL_PROGRAMS

    def set_text(self, text: str) -> None:
        """Keep rows whose cells contain every word of ``text`` (any case)."""
        self.beginFilterChange()
        self._words = text.lower().split()
        self.endFilterChange(QtCore.QSortFilterProxyModel.Direction.Rows)

    def set_program(self, program: str) -> None:
        """Keep rows a program can take (:data:`ALL_PROGRAMS`; :data:`NO_PROGRAM`: none can)."""
        self.beginFilterChange()
        self._program = program
        self.endFilterChange(QtCore.QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int,  # noqa: N802 - Qt's name
                         source_parent: QtCore.QModelIndex | QtCore.QPersistentModelIndex
                         ) -> bool:
        """Apply the word and program filters."""
        model = self.sourceModel()
        if not isinstance(model, QueueModel) or source_row >= model.rowCount():
            return True
        row = model.row_at(source_row)
        if self._program == NO_PROGRAM and row.eligible_programs:
            return False
        if self._program not in (ALL_PROGRAMS, NO_PROGRAM) and \
                self._program not in row.eligible_programs:
            return False
        if not self._words:
            return True
        haystack = " ".join([row.call_id, *(model.cell_text(source_row, c)
                                            for c in range(model.columnCount()))]).lower()
        return all(word in haystack for word in self._words)


class _HeadLabel(QtWidgets.QLabel):
    """The pinned head of the queue; a click selects it."""

    clicked = QtCore.Signal()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802 - Qt's name
        """Select the head call."""
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class QueuePanel(QtWidgets.QWidget):
    """The pending-call queue with its filter and the pinned oldest top-priority call.

    Parameters
    ----------
    tables
        Code tables (programs for the filter, call types).
    priority_colours
        Priority badge colours (the map palette's).
    parent
        The parent widget.
    """

    #: The dispatcher selected a call (by click, keys or the pinned head).
    call_selected = QtCore.Signal(str)
    #: Enter or double-click on a call: assign the chosen unit to it.
    assign_requested = QtCore.Signal(str)

    def __init__(self, tables: CodeTables, priority_colours: dict[str, str],
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queuePanel")
        self.model = QueueModel(tables, priority_colours, self)
        self.proxy = QueueProxy(self)
        self.proxy.setSourceModel(self.model)
        self._head: QueueRow | None = None
        self._quiet = False
        self.head_label = self._build_head()
        self.filter_edit, self.program_box = self._build_filters(tables)
        self.count_label = QtWidgets.QLabel("")
        self.count_label.setObjectName("queueCount")
        self.view = self._build_view()
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved,
                       self.proxy.layoutChanged, self.proxy.modelReset):
            signal.connect(self._show_count)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.head_label)
        filters = QtWidgets.QHBoxLayout()
        filters.setSpacing(4)
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.program_box)
        filters.addWidget(self.count_label)
        layout.addLayout(filters)
        layout.addWidget(self.view, 1)
        self._show_head()

    # -- construction --

    def _build_head(self) -> _HeadLabel:
        label = _HeadLabel(self)
        label.setObjectName("queueHead")
        label.setToolTip("The oldest call of the highest priority waiting (Ctrl+1 selects it)")
        label.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        label.setMinimumHeight(26)
        label.clicked.connect(self.select_head)
        return label

    def _build_filters(self, tables: CodeTables
                       ) -> tuple[QtWidgets.QLineEdit, QtWidgets.QComboBox]:
        edit = QtWidgets.QLineEdit(self)
        edit.setObjectName("queueFilter")
        edit.setPlaceholderText("Filter calls (type, zone, number)…")
        edit.setClearButtonEnabled(True)
        edit.textChanged.connect(self.proxy.set_text)
        box = QtWidgets.QComboBox(self)
        box.setObjectName("queueProgram")
        box.addItem("All programs", ALL_PROGRAMS)
        for program in tables.dispatchable_programs:
            box.addItem(program.code, program.code)
        box.addItem("No program now", NO_PROGRAM)
        box.currentIndexChanged.connect(
            lambda _i: self.proxy.set_program(str(box.currentData())))
        return edit, box

    def _build_view(self) -> BoardTable:
        view = BoardTable("queueView", self)
        view.setModel(self.proxy)
        view.setSortingEnabled(True)
        view.sortByColumn(0, QtCore.Qt.SortOrder.AscendingOrder)  # the board order
        view.set_column_widths({0: 28, 1: 40, 3: 96, 4: 40, 5: 58})
        view.set_stretch_column(2)  # the call type takes what is left
        view.setAcceptDrops(True)
        view.setDragDropMode(QtWidgets.QAbstractItemView.DragDropMode.DropOnly)
        view.setDropIndicatorShown(True)
        view.setDragDropOverwriteMode(True)  # drop onto a call, not between calls
        view.setDefaultDropAction(QtCore.Qt.DropAction.CopyAction)
        view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        view.enter_pressed.connect(self._on_enter)
        view.doubleClicked.connect(self._on_enter)
        return view

    # -- data --

    def update_rows(self, rows: list[QueueRow], changed: frozenset[str] = frozenset()) -> None:
        """Show the pending calls (in board order); repaint only what changed."""
        self._quiet = True  # a re-sort moving the current row is not the user's selection
        try:
            self.proxy.refresh(self.model.update(rows, changed))
        finally:
            self._quiet = False
        self._head = rows[0] if rows else None
        self._show_head()
        self._show_count()

    def _show_count(self, *_args: object) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{total} waiting" if shown == total
                                 else f"{shown} of {total}")

    def _show_head(self) -> None:
        head = self._head
        if head is None:
            self.head_label.setText("No calls waiting")
            set_style_sheet(self.head_label, "QLabel#queueHead { padding: 3px 6px; }")
            return
        style = level_style(head.level)
        colours = ("" if style.background is None else
                   f"background-color: {style.background}; color: {style.foreground};")
        set_style_sheet(
            self.head_label, f"QLabel#queueHead {{ padding: 3px 6px; font-weight: bold; "
            f"border: 1px solid #3b4a5c; {colours} }}")
        label = self.model.cell_text(0, 2) if self.model.rowCount() else head.call.call_type
        self.head_label.setText(
            f"Oldest: P{head.priority.value}  #{short_call_id(head.call_id)}  {label}  "
            f"· waiting {format_timer(head.age_s)}")

    # -- selection --

    def selected_call(self) -> str | None:
        """Return the selected call, if any."""
        return self.view.selected_key()

    def select_call(self, call_id: str | None) -> bool:
        """Select ``call_id`` without emitting :attr:`call_selected`; False if not listed."""
        self._quiet = True
        try:
            return self.view.select_key(call_id)
        finally:
            self._quiet = False

    def select_head(self) -> None:
        """Select the pinned head call (clearing a filter that hides it)."""
        if self._head is None:
            return
        call_id = self._head.call_id
        if not self.select_call(call_id):
            self.filter_edit.clear()
            self.program_box.setCurrentIndex(0)
            self.select_call(call_id)
        self.view.setFocus()
        self.call_selected.emit(call_id)

    def _on_selection_changed(self, *_args: object) -> None:
        # Selection, not the current row: a click on the current but unselected row counts.
        key = None if self._quiet else self.view.selected_key()
        if key is not None:
            self.call_selected.emit(key)

    def _on_enter(self, index: QtCore.QModelIndex) -> None:
        key = index.siblingAtColumn(0).data(KEY_ROLE)
        if key is not None:
            self.assign_requested.emit(str(key))
