"""The Charts dock: filters over four response-metric charts, computed off the UI thread.

Work flows the way ARCHITECTURE.md asks of background work: a filter change makes an
immutable request (serial + :class:`ChartFilters`), ONE named worker thread asks the injected
:class:`~heartops.qt.charts.ports.ChartData` port for the series (which may read a database),
and the answer comes back to the UI thread through a queued Qt signal; an answer to anything
but the newest request is dropped. Filter edits are coalesced for a moment so typing a date
does not queue a computation per keystroke. While a request is out the dock says
"computing…" and keeps the previous charts.

Nothing raised in a slot escapes: a failing port or export turns into a message under the
filters (and :attr:`ChartsWidget.message` for a status bar).

Call :meth:`ChartsWidget.shutdown` (``closeEvent`` does) before dropping the widget: it stops
the coalescing timer and joins the worker thread.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from heartops.qt.charts.export import ExportError, ExportFormat, default_file_name, export_chart
from heartops.qt.charts.plots import (
    CHART_TITLES,
    ChartView,
    HeatmapChart,
    HistogramChart,
    MetricsChart,
    WeeklyChart,
)
from heartops.qt.charts.ports import ChartChoices, ChartData, ChartFilters, ChartSeries
from heartops.qt.charts.style import chart_palette
from heartops.qt.theme import DEFAULT_THEME, Theme

__all__ = ["CHART_THREAD_PREFIX", "ChartsWidget", "PathProvider"]

log = logging.getLogger(__name__)

CHART_THREAD_PREFIX = "heartops-worker-charts"
"""Name prefix of the worker thread; shares the main window's worker prefix so its leak
checks cover the charts too."""

COALESCE_MS = 200

PathProvider = Callable[[str, ExportFormat], Path | None]
"""Asks where to export chart ``key`` as a format; ``None`` cancels."""

_ALL = "__all__"


@dataclass(frozen=True, slots=True)
class _Request:
    serial: int
    filters: ChartFilters
    want_choices: bool


@dataclass(frozen=True, slots=True)
class _Answer:
    serial: int
    choices: ChartChoices | None
    series: ChartSeries | None
    error: str | None


def _compute(port: ChartData, request: _Request) -> _Answer:
    """Run one request on the worker thread; never raises (the error travels as text)."""
    try:
        choices = port.choices() if request.want_choices else None
        return _Answer(request.serial, choices, port.series(request.filters), None)
    except Exception as error:
        _log_failure("computing the charts failed", error)
        return _Answer(request.serial, None, None, f"Could not compute the charts: {error}")


def _log_failure(what: str, error: BaseException) -> None:
    """Log a failure with its traceback as text.

    Not ``log.exception``: a record holding the live traceback keeps every frame on it alive
    (the worker's frames reach the widget through the future's callbacks), so a log handler
    that keeps records would keep a closed widget and its pyqtgraph menus alive.
    """
    log.error("%s:\n%s", what, "".join(traceback.format_exception(error)))


def _qdate(day: date) -> QtCore.QDate:
    return QtCore.QDate(day.year, day.month, day.day)


class _Relay(QtCore.QObject):
    """Carries answers from the worker thread to the UI thread (queued connection)."""

    answered = QtCore.Signal(object)


class ChartsWidget(QtWidgets.QWidget):
    """Filters (program, zone, from/to day) over four charts, each exportable.

    Parameters
    ----------
    data
        The injected chart data (called on the worker thread only).
    theme
        Colours of the charts (the style sheet comes from the window).
    ask_path
        Asks where to save an export; a save dialog by default (tests inject one).
    parent
        Parent widget (the dock).

    Attributes
    ----------
    charts
        Chart key (``metrics``, ``weekly``, ``heatmap``, ``histogram``) -> its view.
    series
        The series drawn now (``None`` before the first answer).
    """

    message = QtCore.Signal(str)
    """A one-line message for the status bar (exports done, errors)."""

    series_shown = QtCore.Signal(object)
    """Emitted with the :class:`ChartSeries` just drawn."""

    def __init__(self, data: ChartData, *, theme: Theme = DEFAULT_THEME,
                 ask_path: PathProvider | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chartsWidget")
        self._data = data
        self._palette = chart_palette(theme)
        self._ask_path = ask_path or self._dialog_path
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=CHART_THREAD_PREFIX)
        self._serial = 0
        self._future: Future[_Answer] | None = None
        self._lock = threading.Lock()
        self.series: ChartSeries | None = None
        self.choices: ChartChoices | None = None
        self.computing = False
        self._relay = _Relay(self)
        self._relay.answered.connect(self._on_answer)
        self._coalesce = QtCore.QTimer(self)
        self._coalesce.setSingleShot(True)
        self._coalesce.setInterval(COALESCE_MS)
        self._coalesce.timeout.connect(self._submit_current)
        self._build()
        self._submit(ChartFilters(), want_choices=True)

    # -- layout --------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(self._filter_bar())
        self._charts_host = self._chart_grid()
        layout.addWidget(self._charts_host, stretch=1)

    def _chart_grid(self) -> QtWidgets.QWidget:
        """Build the four charts in the current palette (a theme switch builds them again)."""
        host = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(host)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(8)
        palette = self._palette
        views: list[ChartView] = [MetricsChart(palette), WeeklyChart(palette),
                                  HeatmapChart(palette), HistogramChart(palette)]
        self.charts: dict[str, ChartView] = {view.key: view for view in views}
        for index, view in enumerate(views):
            grid.addWidget(self._frame(view), index // 2, index % 2)
        return host

    def set_theme(self, theme: Theme) -> None:
        """Draw the charts in ``theme``'s colours (the plots are rebuilt, the data kept)."""
        if chart_palette(theme) is self._palette:
            return
        self._palette = chart_palette(theme)
        old, self._charts_host = self._charts_host, self._chart_grid()
        layout = self.layout()
        assert layout is not None
        layout.replaceWidget(old, self._charts_host)
        old.deleteLater()
        if self.series is not None:
            for view in self.charts.values():
                view.show_series(self.series)

    def _filter_bar(self) -> QtWidgets.QHBoxLayout:
        bar = QtWidgets.QHBoxLayout()
        self.program_box = QtWidgets.QComboBox()
        self.program_box.setAccessibleName("Program filter")
        self.program_box.addItem("All programs", _ALL)
        self.zone_box = QtWidgets.QComboBox()
        self.zone_box.setAccessibleName("Zone filter")
        self.zone_box.addItem("All zones", _ALL)
        self.from_edit = QtWidgets.QDateEdit()
        self.to_edit = QtWidgets.QDateEdit()
        for edit in (self.from_edit, self.to_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)  # until the data's span is known
        self.reset_button = QtWidgets.QPushButton("Reset")
        self.reset_button.setToolTip("All programs, all zones, every day")
        self.status_label = QtWidgets.QLabel("computing…")
        self.status_label.setObjectName("chartsStatus")
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        for text, widget in (("Program", self.program_box), ("Zone", self.zone_box),
                             ("From", self.from_edit), ("To", self.to_edit)):
            label = QtWidgets.QLabel(text)
            label.setBuddy(widget)
            bar.addWidget(label)
            bar.addWidget(widget)
        bar.addWidget(self.reset_button)
        bar.addSpacing(12)
        bar.addWidget(self.status_label, stretch=1)
        self.program_box.currentIndexChanged.connect(self._filters_edited)
        self.zone_box.currentIndexChanged.connect(self._filters_edited)
        self.from_edit.dateChanged.connect(self._filters_edited)
        self.to_edit.dateChanged.connect(self._filters_edited)
        self.reset_button.clicked.connect(self.reset_filters)
        return bar

    def _frame(self, view: ChartView) -> QtWidgets.QWidget:
        frame = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(frame)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        header = QtWidgets.QHBoxLayout()
        title = QtWidgets.QLabel(CHART_TITLES[view.key])
        title.setStyleSheet(f"color: {self._palette.title}; font-weight: bold;")
        title.setToolTip(CHART_TITLES[view.key])
        # Let a narrow dock clip the title instead of forcing the whole grid wider.
        title.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                            QtWidgets.QSizePolicy.Policy.Preferred)
        header.addWidget(title, stretch=1)
        for fmt in ExportFormat:
            button = QtWidgets.QToolButton()
            button.setText(fmt.value.upper())
            button.setToolTip(f"Export this chart {'data ' if fmt is ExportFormat.CSV else ''}"
                              f"as {fmt.value.upper()}…")
            button.setObjectName(f"export-{view.key}-{fmt.value}")
            button.clicked.connect(self._export_slot(view.key, fmt))
            header.addWidget(button)
        column.addLayout(header)
        column.addWidget(view, stretch=1)
        view.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._menu_slot(view.key))
        return frame

    def _export_slot(self, key: str, fmt: ExportFormat) -> Callable[[], None]:
        return lambda: self.export_interactively(key, fmt)

    def _menu_slot(self, key: str) -> Callable[[QtCore.QPoint], None]:
        return lambda point: self._show_menu(key, point)

    def _show_menu(self, key: str, point: QtCore.QPoint) -> None:
        menu = self.export_menu(key)
        menu.exec(self.charts[key].mapToGlobal(point))
        menu.deleteLater()

    def export_menu(self, key: str) -> QtWidgets.QMenu:
        """Return the context menu of chart ``key`` (export as PNG, SVG, CSV)."""
        menu = QtWidgets.QMenu(self)
        for fmt in ExportFormat:
            what = "data as CSV" if fmt is ExportFormat.CSV else f"as {fmt.value.upper()}"
            action = menu.addAction(f"Export {what}…")
            action.triggered.connect(self._export_slot(key, fmt))
        return menu

    # -- filters and requests ----------------------------------------------------------

    def current_filters(self) -> ChartFilters:
        """Return the filters the controls show."""
        program = self.program_box.currentData()
        zone = self.zone_box.currentData()
        first: date | None = None
        last: date | None = None
        if self.from_edit.isEnabled():
            first, last = self._day(self.from_edit), self._day(self.to_edit)
            if last < first:
                first, last = last, first  # a reversed range means the same days
        return ChartFilters(program=None if program == _ALL else str(program),
                            zone=None if zone == _ALL else str(zone),
                            first_day=first, last_day=last)

    def set_filters(self, filters: ChartFilters) -> None:
        """Show ``filters`` in the controls and recompute now (no coalescing delay)."""
        with QtCore.QSignalBlocker(self.program_box), QtCore.QSignalBlocker(self.zone_box), \
                QtCore.QSignalBlocker(self.from_edit), QtCore.QSignalBlocker(self.to_edit):
            self._select(self.program_box, filters.program)
            self._select(self.zone_box, filters.zone)
            if filters.first_day is not None:
                self.from_edit.setDate(_qdate(filters.first_day))
            if filters.last_day is not None:
                self.to_edit.setDate(_qdate(filters.last_day))
        self._coalesce.stop()
        self._submit(filters, want_choices=False)

    def reset_filters(self) -> None:
        """Go back to every program, zone and day."""
        choices = self.choices
        self.set_filters(ChartFilters(
            first_day=None if choices is None else choices.first_day,
            last_day=None if choices is None else choices.last_day))

    @staticmethod
    def _day(edit: QtWidgets.QDateEdit) -> date:
        value = edit.date()
        return date(value.year(), value.month(), value.day())

    @staticmethod
    def _select(box: QtWidgets.QComboBox, value: str | None) -> None:
        index = box.findData(_ALL if value is None else value)
        if index < 0:  # a value the data does not offer yet: add it rather than drop it
            box.addItem(str(value), value)
            index = box.count() - 1
        box.setCurrentIndex(index)

    def _filters_edited(self) -> None:
        self.status_label.setText("computing…")
        self._coalesce.start()

    def _submit_current(self) -> None:
        self._submit(self.current_filters(), want_choices=False)

    def _submit(self, filters: ChartFilters, *, want_choices: bool) -> None:
        executor = self._executor
        if executor is None:
            return
        self._serial += 1
        request = _Request(self._serial, filters, want_choices)
        if self._future is not None:
            self._future.cancel()  # not started yet: skip it; started: its answer is dropped
        self.computing = True
        self._set_status("computing…")
        self.setCursor(QtCore.Qt.CursorShape.BusyCursor)
        future = executor.submit(_compute, self._data, request)
        future.add_done_callback(self._deliver)
        self._future = future

    def _deliver(self, future: Future[_Answer]) -> None:
        """Hand a finished answer to the UI thread (runs on the worker thread)."""
        if future.cancelled():
            return
        with self._lock:  # the relay may be going away with the widget
            relay = self._relay if self._executor is not None else None
            if relay is not None:
                relay.answered.emit(future.result())

    @QtCore.Slot(object)
    def _on_answer(self, answer: _Answer) -> None:
        if answer.serial != self._serial or self._executor is None:
            return  # stale: a newer request is out (or the dock is closing)
        self.computing = False
        self.unsetCursor()
        if answer.error is not None:
            self._set_status(answer.error, error=True)
            self.message.emit(answer.error)
            return
        if answer.choices is not None:
            self._offer(answer.choices)
        if answer.series is not None:
            self._draw(answer.series)

    def _offer(self, choices: ChartChoices) -> None:
        """Fill the filter controls with what the data offers (without recomputing)."""
        self.choices = choices
        with QtCore.QSignalBlocker(self.program_box), QtCore.QSignalBlocker(self.zone_box), \
                QtCore.QSignalBlocker(self.from_edit), QtCore.QSignalBlocker(self.to_edit):
            for box, values in ((self.program_box, choices.programs),
                                (self.zone_box, choices.zones)):
                current = box.currentData()
                while box.count() > 1:
                    box.removeItem(1)
                for value in values:
                    box.addItem(value, value)
                box.setCurrentIndex(max(box.findData(current), 0))
            if choices.first_day is not None and choices.last_day is not None:
                for edit in (self.from_edit, self.to_edit):
                    edit.setEnabled(True)
                    edit.setDateRange(_qdate(choices.first_day),
                                      _qdate(choices.last_day))
                self.from_edit.setDate(_qdate(choices.first_day))
                self.to_edit.setDate(_qdate(choices.last_day))

    def _draw(self, series: ChartSeries) -> None:
        for view in self.charts.values():
            view.show_series(series)
        self.series = series
        self._set_status(f"{series.calls:,} calls answered by HEART")
        self.series_shown.emit(series)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        colour = self._palette.message if error else self._palette.title
        self.status_label.setStyleSheet(f"color: {colour};")
        self.status_label.setText(text)

    # -- exports ---------------------------------------------------------------------------

    def export_chart(self, key: str, fmt: ExportFormat, path: Path) -> bool:
        """Export chart ``key`` to ``path``; show the outcome; return whether it worked.

        Never raises: a failure (unwritable folder, full disk) is shown as a message and
        leaves no partial file behind.
        """
        view = self.charts[key]
        try:
            export_chart(view.scene(), view.table(), path, fmt)
        except ExportError as error:
            self._set_status(str(error), error=True)
            self.message.emit(str(error))
            return False
        except Exception as error:  # a slot must not raise: say so instead
            _log_failure(f"exporting {key} failed", error)
            text = f"Could not export {path.name}: {error}"
            self._set_status(text, error=True)
            self.message.emit(text)
            return False
        text = f"Saved {path.name}"
        self._set_status(text)
        self.message.emit(text)
        return True

    def export_interactively(self, key: str, fmt: ExportFormat) -> None:
        """Ask where to save chart ``key`` as ``fmt``, then export it."""
        path = self._ask_path(key, fmt)
        if path is not None:
            self.export_chart(key, fmt, path)

    def _dialog_path(self, key: str, fmt: ExportFormat) -> Path | None:
        name, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, f"Export {CHART_TITLES[key].lower()}", default_file_name(key, fmt),
            f"{fmt.value.upper()} (*.{fmt.value})")
        if not name:
            return None
        path = Path(name)
        return path if path.suffix.lower() == f".{fmt.value}" else path.with_suffix(
            f".{fmt.value}")

    # -- lifetime --------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the timer and the worker thread (waits for a running computation)."""
        self._coalesce.stop()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self.unsetCursor()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Shut the worker down with the widget."""
        self.shutdown()
        super().closeEvent(event)
