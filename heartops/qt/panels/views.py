"""The table view every board panel uses: compact, row-selecting, keyboard first.

Why a subclass: Qt's ``activated`` signal means a single click on some platforms (KDE's
single-click activation), and a stray click must never dispatch a team. Enter/Return and a
double-click are reported here as their own signals, and typed letters (the status keys of
the unit board) are offered to the panel before the view's type-ahead search takes them.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from heartops.qt.panels.models import KEY_ROLE

ROW_HEIGHT = 22
#: The line drawn over a selected cell that keeps its own colour (a status, a timer).
SELECTION_MARK = "#4aa3ff"


class ColourKeepingDelegate(QtWidgets.QStyledItemDelegate):
    """Paints a coloured cell (status, priority, timer) in its colour even when selected.

    The selection colour would otherwise hide exactly the cells that carry meaning; a
    selected coloured cell gets a bright line above and below instead, so the row still
    reads as selected.
    """

    def paint(self, painter: QtGui.QPainter, option: QtWidgets.QStyleOptionViewItem,
              index: QtCore.QModelIndex | QtCore.QPersistentModelIndex) -> None:
        """Paint the cell; keep its background when selected."""
        selected = bool(option.state & QtWidgets.QStyle.StateFlag.State_Selected)
        if not selected or index.data(QtCore.Qt.ItemDataRole.BackgroundRole) is None:
            super().paint(painter, option, index)
            return
        plain = QtWidgets.QStyleOptionViewItem(option)
        plain.state &= ~QtWidgets.QStyle.StateFlag.State_Selected
        super().paint(painter, plain, index)
        rect = option.rect
        painter.save()
        painter.setPen(QtGui.QPen(QtGui.QColor(SELECTION_MARK), 2))
        painter.drawLine(rect.left(), rect.top() + 1, rect.right(), rect.top() + 1)
        painter.drawLine(rect.left(), rect.bottom(), rect.right(), rect.bottom())
        painter.restore()


class BoardTable(QtWidgets.QTableView):
    """A read-only, single-row-selection table with Enter and typed-key signals.

    Parameters
    ----------
    name
        Object name (tests and style sheets find the view by it).
    parent
        The parent widget.
    """

    #: The current row's index when Enter or Return is pressed.
    enter_pressed = QtCore.Signal(QtCore.QModelIndex)

    def __init__(self, name: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(QtCore.Qt.TextElideMode.ElideRight)
        self.setHorizontalScrollMode(QtWidgets.QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollMode(QtWidgets.QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setShowGrid(False)
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(ROW_HEIGHT)
        horizontal = self.horizontalHeader()
        horizontal.setHighlightSections(False)
        horizontal.setStretchLastSection(True)
        horizontal.setMinimumSectionSize(24)
        self._delegate = ColourKeepingDelegate(self)
        self.setItemDelegate(self._delegate)
        self.key_handler: Callable[[str], bool] | None = None
        """Offered each typed character first; returns True when it used it."""

    def set_column_widths(self, widths: dict[int, int]) -> None:
        """Fix column widths in pixels (the last column stretches)."""
        for column, width in widths.items():
            self.setColumnWidth(column, width)

    def set_stretch_column(self, column: int) -> None:
        """Let ``column`` take the spare width (instead of the last column)."""
        header = self.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(column, QtWidgets.QHeaderView.ResizeMode.Stretch)

    def selected_key(self) -> str | None:
        """Return the key of the selected row, if a row is selected."""
        rows = self.selectionModel().selectedRows(0)
        if not rows:
            return None
        key = rows[0].data(KEY_ROLE)
        return None if key is None else str(key)

    def select_key(self, key: str | None) -> bool:
        """Select the row whose key is ``key`` (``None`` clears); return whether it is shown."""
        model = self.model()
        if key is None or model is None:
            self.clearSelection()
            return False
        for row in range(model.rowCount()):
            index = model.index(row, 0)
            if index.data(KEY_ROLE) == key:
                flags = (QtCore.QItemSelectionModel.SelectionFlag.ClearAndSelect
                         | QtCore.QItemSelectionModel.SelectionFlag.Rows)
                self.selectionModel().setCurrentIndex(index, flags)
                self.scrollTo(index)
                return True
        self.clearSelection()
        return False

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 - Qt's name
        """Report Enter/Return; offer typed characters to :attr:`key_handler`."""
        keys = QtCore.Qt.Key
        if event.key() in (keys.Key_Return, keys.Key_Enter):
            if self.currentIndex().isValid():
                self.enter_pressed.emit(self.currentIndex())
            event.accept()
            return
        modifiers = event.modifiers() & ~QtCore.Qt.KeyboardModifier.ShiftModifier
        text = event.text()
        if (self.key_handler is not None and text and text.isprintable() and not text.isspace()
                and modifiers == QtCore.Qt.KeyboardModifier.NoModifier
                and self.key_handler(text)):
            event.accept()
            return
        super().keyPressEvent(event)
