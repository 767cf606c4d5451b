"""The command line: the fast way to assign, change a status, add a note, close or acknowledge.

``assign CRT-2 13 closer to the scene``, ``st CRT-2 O``, ``note 13 caller on the porch``,
``close 13 resolved_on_scene``, ``ack check_in:CRT-2``. Completion comes from the session's
completer (units free first for ``assign``, pending calls in queue order, statuses the unit can
take next, ...) through a ``QCompleter``; the result of every line is shown under it, a
confirmation in green or the one-line error in red. Up and Down walk the history when the
completion list is closed. Ctrl+L (anywhere in the window) puts the cursor here.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from heartops.core.errors import HeartopsError
from heartops.qt.panels.ports import CommandPort
from heartops.qt.panels.style import ERROR_TEXT, OK_TEXT

MAX_HISTORY = 200


class _CommandEdit(QtWidgets.QLineEdit):
    """A line edit with history on Up/Down (when the completion list is closed)."""

    history_step = QtCore.Signal(int)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 - Qt's name
        """Walk the history with Up/Down."""
        completer = self.completer()
        popup = None if completer is None else completer.popup()
        popup_open = popup is not None and popup.isVisible()
        if not popup_open and event.key() in (QtCore.Qt.Key.Key_Up, QtCore.Qt.Key.Key_Down):
            self.history_step.emit(-1 if event.key() == QtCore.Qt.Key.Key_Up else 1)
            event.accept()
            return
        super().keyPressEvent(event)


class CommandLinePanel(QtWidgets.QWidget):
    """A command line with completion, history and a result line.

    Parameters
    ----------
    commands
        Completes and runs lines (built by the app around the session).
    parent
        The parent widget.
    """

    #: ``(line, message, ok)`` after every line run.
    ran = QtCore.Signal(str, str, bool)

    def __init__(self, commands: CommandPort, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("commandLinePanel")
        self._commands = commands
        self._history: list[str] = []
        self._history_at = 0
        self.edit = _CommandEdit(self)
        self.edit.setObjectName("commandEdit")
        self.edit.setPlaceholderText(
            "assign UNIT CALL [reason] · st UNIT STATUS · note CALL text · close CALL "
            "DISPOSITION · ack KEY   (Ctrl+L)")
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.edit.setFont(font)
        self.completions = QtCore.QStringListModel(self)
        self.completer = QtWidgets.QCompleter(self.completions, self)
        self.completer.setCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QtWidgets.QCompleter.CompletionMode.PopupCompletion)
        self.completer.setMaxVisibleItems(12)
        self.edit.setCompleter(self.completer)
        self.edit.textEdited.connect(self._refresh_completions)
        self.edit.returnPressed.connect(self._run_typed)
        self.edit.history_step.connect(self._walk_history)
        self.result = QtWidgets.QLabel("")
        self.result.setObjectName("commandResult")
        self.result.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.result.setMinimumWidth(1)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(8)
        prompt = QtWidgets.QLabel("›")
        prompt.setStyleSheet("font-weight: bold;")
        layout.addWidget(prompt)
        layout.addWidget(self.edit, 3)
        layout.addWidget(self.result, 2)

    def focus(self) -> None:
        """Put the cursor on the command line."""
        self.edit.setFocus(QtCore.Qt.FocusReason.ShortcutFocusReason)
        self.edit.selectAll()

    def _refresh_completions(self, text: str) -> None:
        try:
            options = self._commands.complete(text)
        except HeartopsError:
            options = []
        self.completions.setStringList(options)
        self.completer.setCompletionPrefix(text)
        if options and text:
            self.completer.complete()

    def _run_typed(self) -> None:
        popup = self.completer.popup()
        if popup is not None and popup.isVisible():
            popup.hide()
        self.run_line(self.edit.text())

    def run_line(self, line: str) -> bool:
        """Run ``line``; show the confirmation or the error; return whether it worked."""
        line = line.strip()
        if not line:
            return False
        if not self._history or self._history[-1] != line:
            self._history.append(line)
            del self._history[:-MAX_HISTORY]
        self._history_at = len(self._history)
        try:
            message = self._commands.run_command(line)
        except HeartopsError as exc:
            self._show(str(exc).splitlines()[0], ok=False)
            self.ran.emit(line, str(exc), False)
            return False
        self.edit.clear()
        self.completions.setStringList([])
        self._show(message, ok=True)
        self.ran.emit(line, message, True)
        return True

    def result_text(self) -> str:
        """Return the shown result line."""
        return self.result.text()

    @property
    def result_ok(self) -> bool:
        """Whether the last line worked."""
        return bool(self.result.property("ok"))

    def _show(self, text: str, *, ok: bool) -> None:
        self.result.setText(("✓ " if ok else "✗ ") + text)
        self.result.setToolTip(text)
        self.result.setProperty("ok", ok)
        colour = OK_TEXT if ok else ERROR_TEXT
        self.result.setStyleSheet(f"QLabel#commandResult {{ color: {colour}; "
                                  f"font-weight: bold; }}")

    def _walk_history(self, step: int) -> None:
        if not self._history:
            return
        self._history_at = min(max(self._history_at + step, 0), len(self._history))
        self.edit.setText(self._history[self._history_at]
                          if self._history_at < len(self._history) else "")
