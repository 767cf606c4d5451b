"""File → Export…: the dialog, and the exporter that runs the export off the UI thread.

The dialog only collects an :class:`~heartops.qt.ports.ExportJob` (kinds, format, profile,
output path). :class:`Exporter` runs it through the injected
:class:`~heartops.qt.ports.ExportPort` on its own one-thread executor (a plain Python thread,
for the reason given in :mod:`heartops.qt.main_window`), and shows a ``QProgressDialog`` fed by
the export's progress reports. Those arrive on the worker thread; they are emitted as a Qt
signal of an object living on the main thread, so Qt queues them to it.

Cancelling sets a flag that the next progress report turns into :class:`ExportCancelledError`,
raised inside the export: its atomic writers then remove what they had started, so a cancelled
export, like a failed one, leaves nothing written. The result or the one-line reason of a
failure is shown in a window-modal message box opened with ``open()`` (never ``exec()``: the
board keeps running behind it).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from heartops.core.errors import HeartopsError
from heartops.qt.ports import (
    EXPORT_FORMATS,
    EXPORT_KINDS,
    EXPORT_PROFILES,
    ExportJob,
    ExportPort,
)

log = logging.getLogger(__name__)

#: Name prefix of the export thread (tests check none outlives its window).
EXPORT_THREAD_PREFIX = "heartops-worker-export"

_FORMAT_TITLES = {"gpkg": "GeoPackage (.gpkg)", "geojson": "GeoJSON (a folder)",
                  "csv": "CSV (a folder)", "html": "Interactive HTML map (.html)"}
_PROFILE_TITLES = {"internal": "Internal: exact points, every field",
                   "partner": "Partner: no names or notes, points on a 100 m grid",
                   "public": "Public: counts per zone only"}
# Kinds the public profile does not publish: they show where staff are.
_PUBLIC_KINDS = frozenset({"calls", "zones", "isochrones"})


class ExportCancelledError(HeartopsError):
    """Raised inside the export (from its progress callback) when the dispatcher cancels."""


class ExportDialog(QtWidgets.QDialog):
    """Asks what to export, in which format, for whom and where.

    Parameters
    ----------
    parent
        The main window.
    default_dir
        Where the output path starts.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None, *,
                 default_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export")
        self._default_dir = default_dir or Path.home()
        self.kind_boxes: dict[str, QtWidgets.QCheckBox] = {}
        kinds = QtWidgets.QHBoxLayout()
        for kind in EXPORT_KINDS:
            box = QtWidgets.QCheckBox(kind, self)
            box.setChecked(kind in ("calls", "zones"))
            box.toggled.connect(self._validate)
            self.kind_boxes[kind] = box
            kinds.addWidget(box)
        self.format_box = self._combo("formatBox", EXPORT_FORMATS, _FORMAT_TITLES)
        self.profile_box = self._combo("profileBox", EXPORT_PROFILES, _PROFILE_TITLES)
        self.path_edit = QtWidgets.QLineEdit(self)
        self.path_edit.setObjectName("exportPath")
        self.path_edit.textChanged.connect(self._validate)
        browse = QtWidgets.QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        path_row = QtWidgets.QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.problem_label = QtWidgets.QLabel(self)
        self.problem_label.setObjectName("exportProblem")
        self.problem_label.setWordWrap(True)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QtWidgets.QFormLayout(self)
        form.addRow("Layers", kinds)
        form.addRow("Format", self.format_box)
        form.addRow("For", self.profile_box)
        form.addRow("Save to", path_row)
        form.addRow(self.problem_label)
        form.addRow(self.buttons)
        self.format_box.currentIndexChanged.connect(self._suggest_path)
        self.profile_box.currentIndexChanged.connect(self._validate)
        self._suggest_path()

    def _combo(self, name: str, values: tuple[str, ...],
               titles: dict[str, str]) -> QtWidgets.QComboBox:
        box = QtWidgets.QComboBox(self)
        box.setObjectName(name)
        for value in values:
            box.addItem(titles.get(value, value), value)
        return box

    def job(self) -> ExportJob:
        """Return the export as currently filled in."""
        return ExportJob(kinds=tuple(k for k, box in self.kind_boxes.items() if box.isChecked()),
                         format=str(self.format_box.currentData()),
                         profile=str(self.profile_box.currentData()),
                         out=Path(self.path_edit.text().strip()).expanduser())

    def set_job(self, job: ExportJob) -> None:
        """Fill the dialog in from ``job`` (tests, a repeated export)."""
        for kind, box in self.kind_boxes.items():
            box.setChecked(kind in job.kinds)
        self.format_box.setCurrentIndex(self.format_box.findData(job.format))
        self.profile_box.setCurrentIndex(self.profile_box.findData(job.profile))
        self.path_edit.setText(str(job.out))

    def problem(self) -> str | None:
        """Return why the export cannot start as filled in, or ``None``."""
        job = self.job()
        if not job.kinds:
            return "Pick at least one layer."
        if not self.path_edit.text().strip():
            return "Choose where to save the export."
        if job.profile == "public":
            refused = [k for k in job.kinds if k not in _PUBLIC_KINDS]
            if refused:
                return (f"The public profile does not publish {', '.join(refused)}: they show "
                        "where staff are. Choose the partner profile.")
        return None

    def _validate(self) -> None:
        problem = self.problem()
        self.problem_label.setText(problem or "")
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setEnabled(
            problem is None)

    def _suggest_path(self) -> None:
        fmt = str(self.format_box.currentData())
        current = self.path_edit.text().strip()
        base = Path(current).parent if current else self._default_dir
        name = "heartops-export" + ("" if fmt in ("geojson", "csv") else f".{fmt}")
        self.path_edit.setText(str(base / name))
        self._validate()

    def _browse(self) -> None:
        fmt = str(self.format_box.currentData())
        if fmt in ("geojson", "csv"):
            path = QtWidgets.QFileDialog.getExistingDirectory(self, "Export to folder",
                                                              self.path_edit.text())
        else:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, "Export to", self.path_edit.text(), f"{_FORMAT_TITLES[fmt]} (*.{fmt})")
        if path:
            self.path_edit.setText(path)


class _ExportSignals(QtCore.QObject):
    """Carries the worker's reports to the main thread (lives there: connections queue)."""

    progress = QtCore.Signal(int, str, object)
    done = QtCore.Signal(int, str)
    failed = QtCore.Signal(int, str, bool)


class Exporter(QtCore.QObject):
    """Runs exports on a worker thread with a progress dialog (see the module docstring).

    Parameters
    ----------
    port
        Runs the export.
    parent
        The main window (owns the dialogs).
    """

    #: ``(text, ok)``: the export ended (a summary, or why it failed or was cancelled).
    finished = QtCore.Signal(str, bool)

    def __init__(self, port: ExportPort, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self._port = port
        self._window = parent
        self._executor: ThreadPoolExecutor | None = None
        self._serial = 0
        self._cancel = threading.Event()
        self._signals = _ExportSignals(self)
        self._signals.progress.connect(self._on_progress)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self.progress_dialog: QtWidgets.QProgressDialog | None = None
        self.message_box: QtWidgets.QMessageBox | None = None
        self.progress_values: list[int] = []
        self.running = False

    def start(self, job: ExportJob) -> None:
        """Run ``job`` on the worker thread and show its progress."""
        if self.running:
            raise RuntimeError("an export is already running")
        self._serial += 1
        self._cancel.clear()
        self.running = True
        self.progress_values = []
        self._show_progress(job)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix=EXPORT_THREAD_PREFIX)
        self._executor.submit(self._work, self._serial, job)

    def cancel(self) -> None:
        """Ask the running export to stop at its next progress report."""
        self._cancel.set()

    def shutdown(self) -> None:
        """Cancel any running export and wait for the worker (the window is closing)."""
        self._cancel.set()
        self._serial += 1  # whatever it reports now is dropped
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self.running = False
        self._close_progress()

    # -- worker side --

    def _work(self, serial: int, job: ExportJob) -> None:
        """Worker body: run the export, report through the signals."""
        def progress(step: str, fraction: float | None = None) -> None:
            # The last report comes after the files are in place: too late to undo them.
            if self._cancel.is_set() and (fraction is None or fraction < 1.0):
                raise ExportCancelledError("export cancelled")
            self._signals.progress.emit(serial, step, fraction)

        try:
            summary = self._port.run(job, progress)
        except ExportCancelledError:
            self._signals.failed.emit(serial, "Export cancelled; nothing was written.", True)
            return
        except HeartopsError as exc:
            self._signals.failed.emit(serial, _one_line(exc), False)
            return
        except Exception as exc:
            # A bug, not a user error: report it where slot errors go (the demo run fails).
            sys.excepthook(*sys.exc_info())
            self._signals.failed.emit(serial, f"the export failed: {_one_line(exc)}", False)
            return
        self._signals.done.emit(serial, summary)

    # -- main-thread side --

    def _show_progress(self, job: ExportJob) -> None:
        dialog = QtWidgets.QProgressDialog(f"Exporting {', '.join(job.kinds)}…", "Cancel",
                                           0, 100, self._window)
        dialog.setObjectName("exportProgress")
        dialog.setWindowTitle("Export")
        dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        dialog.setAutoClose(False)  # closed by the result, not by reaching 100 %
        dialog.setAutoReset(False)
        dialog.setMinimumDuration(0)
        dialog.setValue(0)
        dialog.canceled.connect(self._on_cancel_clicked)
        dialog.show()
        self.progress_dialog = dialog

    def _on_cancel_clicked(self) -> None:
        self.cancel()
        if self.progress_dialog is not None:
            self.progress_dialog.setLabelText("Cancelling…")

    def _on_progress(self, serial: int, step: str, fraction: float | None) -> None:
        if serial != self._serial or self.progress_dialog is None:
            return
        self.progress_dialog.setLabelText(step)
        if fraction is not None:
            value = max(0, min(100, round(100 * float(fraction))))
            self.progress_values.append(value)
            self.progress_dialog.setValue(value)

    def _on_done(self, serial: int, summary: str) -> None:
        if serial != self._serial:
            return
        self.running = False
        self._close_progress()
        self._show_message(QtWidgets.QMessageBox.Icon.Information, "Export written", summary)
        self.finished.emit(summary, True)

    def _on_failed(self, serial: int, reason: str, cancelled: bool) -> None:
        if serial != self._serial:
            return
        self.running = False
        self._close_progress()
        if not cancelled:
            self._show_message(QtWidgets.QMessageBox.Icon.Warning, "Export failed", reason)
        self.finished.emit(reason, False)

    def _close_progress(self) -> None:
        dialog, self.progress_dialog = self.progress_dialog, None
        if dialog is not None:
            dialog.canceled.disconnect(self._on_cancel_clicked)
            dialog.close()
            dialog.deleteLater()

    def _show_message(self, icon: QtWidgets.QMessageBox.Icon, title: str, text: str) -> None:
        if self.message_box is not None:
            self.message_box.close()
            self.message_box.deleteLater()
        box = QtWidgets.QMessageBox(icon, title, text, QtWidgets.QMessageBox.StandardButton.Ok,
                                    self._window)
        box.setObjectName("exportMessage")
        box.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        box.open()
        self.message_box = box


def _one_line(exc: BaseException) -> str:
    """Return the first line of an exception's message (or its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


AskJob = Callable[[QtWidgets.QWidget], "ExportJob | None"]
"""Shows the dialog and returns the job, or ``None`` when the dispatcher cancels."""


def ask_export_job(parent: QtWidgets.QWidget) -> ExportJob | None:
    """Show :class:`ExportDialog` modally; return its job, or ``None`` if cancelled."""
    dialog = ExportDialog(parent)
    try:
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        return dialog.job()
    finally:
        dialog.deleteLater()
