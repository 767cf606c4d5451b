"""The Coverage dock: how much of this hour's expected demand the free teams can reach.

For the shift commander, in one narrow dock:

* **Coverage now**: the covered share of this hour's expected eligible demand within 8 and
  12 minutes to scene (big numbers, green at or above the target, amber below), with the
  target and the best share the same number of free teams could cover from the posts;
* **over the shift**: one line per threshold, a point per reading, the target dashed;
* **move-up**: when coverage is below target, which free unit to move to which post and what
  it gains (the map marks the post when "Show" is pressed);
* **Plan posts**: choose k posts for T minutes for the week's demand, exactly (MILP) and
  greedily, beside today's posts; the chosen posts go on the map and a chart shows coverage
  by hour of day before (today's posts) and after (the exact plan).

Everything is computed off the UI thread, on the dock's own one-thread executor, through the
:class:`~heartops.qt.ports.CoveragePort` that ``heartops/app.py`` injects. The first job
loads the history (seconds; the dock says "Loading…"). Then a timer takes a snapshot of the
board every :data:`REFRESH_MS` - the free in-person units and their positions, built on the
main thread from the board in well under a millisecond - and sends it to the worker; the
answer comes back as a queued signal and is dropped if a newer snapshot was sent meanwhile.
Readings are cheap (milliseconds), so a fixed period is simpler than following every AVL
batch, and keeps the map's coverage cells from being rebuilt more often than that.

What-if (team counts, hours, posts replayed through the simulator) is not in the dock yet: it
replays whole days of the simulator (tens of seconds per plan); ``heartops plan whatif`` does
it from the command line.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg  # imported after PySide6 so that pyqtgraph binds to it

from heartops.core.board import Board
from heartops.core.errors import HeartopsError
from heartops.qt.charts.style import ChartPalette, chart_palette
from heartops.qt.coverage_snapshot import coverage_snapshot
from heartops.qt.panels.style import DIM_TEXT, ERROR_TEXT, OK_TEXT
from heartops.qt.ports import (
    CoverageGrid,
    CoveragePort,
    CoverageReading,
    CoverageSnapshot,
    PlanChoice,
    PostsPlanResult,
)
from heartops.qt.theme import DEFAULT_THEME, Theme

__all__ = ["REFRESH_MS", "CoverageDock", "coverage_snapshot"]

#: How often (wall time) the free units' coverage is read again.
REFRESH_MS = 3000
#: Readings kept for the chart over the shift (at 60× a 10-hour shift is 200 readings).
HISTORY_POINTS = 2000
#: Colour of the number when coverage meets its target, and when it does not.
MEETS_COLOUR = OK_TEXT
BELOW_COLOUR = "#ffb74d"
_LINE_COLOURS = {8.0: "#4fc3f7", 12.0: "#81c784"}
_PLAN_COLOURS = {"current": "#90a4ae", "exact": "#ffd54f", "greedy": "#4fc3f7"}


class CoverageSignals(QtCore.QObject):
    """Carries worker answers to the main thread (lives there, so connections are queued)."""

    loaded = QtCore.Signal(object)
    load_failed = QtCore.Signal(str)
    read = QtCore.Signal(object)
    read_failed = QtCore.Signal(int, str)
    planned = QtCore.Signal(int, object)
    plan_failed = QtCore.Signal(int, str)


def _report(exc: BaseException) -> str:
    """One line for the dock; a bug also goes where slot errors go (a demo run fails)."""
    if not isinstance(exc, HeartopsError):
        sys.excepthook(type(exc), exc, exc.__traceback__)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _run_load(port: CoveragePort, signals: CoverageSignals) -> None:
    """Worker body: build the demand and the planner."""
    try:
        grid = port.load()
    except Exception as exc:
        signals.load_failed.emit(_report(exc))
        return
    signals.loaded.emit(grid)


def _run_reading(port: CoveragePort, snapshot: CoverageSnapshot, signals: CoverageSignals,
                 is_current: Callable[[int], bool]) -> None:
    """Worker body: read the coverage of a snapshot, unless a newer one was taken."""
    if not is_current(snapshot.serial):
        return
    try:
        reading = port.reading(snapshot)
    except Exception as exc:
        signals.read_failed.emit(snapshot.serial, _report(exc))
        return
    signals.read.emit(reading)


def _run_plan(port: CoveragePort, serial: int, k: int, minutes: float,
              signals: CoverageSignals) -> None:
    """Worker body: plan posts."""
    try:
        result = port.plan_posts(k, minutes)
    except Exception as exc:
        signals.plan_failed.emit(serial, _report(exc))
        return
    signals.planned.emit(serial, result)


@dataclass(slots=True)
class _Point:
    hours: float
    shares: dict[float, float]
    target: float


class _HourAxis(pg.AxisItem):  # type: ignore[misc]
    """Hours since a midnight written as clock times (``14:00``), wrapping at 24."""

    def tickStrings(self, values: Sequence[float], scale: float,  # noqa: N802
                    spacing: float) -> list[str]:
        """Return ``HH:MM`` for each tick."""
        out = []
        for value in values:
            minutes = round(value * 60) % (24 * 60)
            out.append(f"{minutes // 60:02d}:{minutes % 60:02d}")
        return out


class CoverageDock(QtWidgets.QWidget):
    """The Coverage dock's content (see the module docstring).

    Parameters
    ----------
    port
        The coverage service (called on the dock's worker thread only).
    board
        Returns the live board and its instant (read on the main thread only).
    thread_prefix
        Name prefix of the dock's worker thread.
    theme
        The starting theme (chart colours).
    refresh_ms
        The reading period; 0 reads only on :meth:`refresh`.
    parent
        The parent widget.
    """

    #: The service's cells are known (the :class:`CoverageGrid`).
    loaded = QtCore.Signal(object)
    #: A reading was shown (the :class:`CoverageReading`).
    reading_shown = QtCore.Signal(object)
    #: A post plan was shown (the :class:`PostsPlanResult`).
    plan_shown = QtCore.Signal(object)
    #: The dispatcher asked to see the move-up post on the map: ``(lat, lon, label)``.
    move_up_requested = QtCore.Signal(float, float, str)
    #: Feedback for the status bar.
    message = QtCore.Signal(str)

    def __init__(self, port: CoveragePort, board: Callable[[], tuple[Board, datetime]], *,
                 thread_prefix: str, theme: Theme = DEFAULT_THEME, refresh_ms: int = REFRESH_MS,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("coverageDock")
        self._port = port
        self._board = board
        self._thread_prefix = thread_prefix
        self._executor: ThreadPoolExecutor | None = None
        self._serial = 0
        self._plan_serial = 0
        self._closed = False
        self.grid: CoverageGrid | None = None
        self.reading: CoverageReading | None = None
        self.plan: PostsPlanResult | None = None
        self.history: list[_Point] = []
        self._curves: dict[float, pg.PlotDataItem] = {}  # minutes -> line; -1: the target
        self._origin: datetime | None = None
        self._palette = chart_palette(theme)
        self._signals = CoverageSignals(self)
        self._signals.loaded.connect(self._on_loaded)
        self._signals.load_failed.connect(self._on_load_failed)
        self._signals.read.connect(self._on_reading)
        self._signals.read_failed.connect(self._on_read_failed)
        self._signals.planned.connect(self._on_planned)
        self._signals.plan_failed.connect(self._on_plan_failed)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(max(refresh_ms, 1))
        self._timer.timeout.connect(self.refresh)
        self._refresh_ms = refresh_ms
        self._build()
        self.set_theme(theme)

    # -- construction ---------------------------------------------------------------------

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        self.header = QtWidgets.QLabel("Coverage: loading the call history…")
        self.header.setObjectName("coverageHeader")
        self.header.setWordWrap(True)
        layout.addWidget(self.header)
        numbers = QtWidgets.QHBoxLayout()
        self.share_labels: dict[float, QtWidgets.QLabel] = {}
        self.target_labels: dict[float, QtWidgets.QLabel] = {}
        for minutes in (8.0, 12.0):
            column = QtWidgets.QVBoxLayout()
            column.setSpacing(0)
            title = QtWidgets.QLabel(f"within {minutes:g} min")
            title.setAlignment(QtCore.Qt.AlignmentFlag.AlignHCenter)
            value = QtWidgets.QLabel("—")
            value.setObjectName(f"coverageShare{minutes:g}")
            value.setAlignment(QtCore.Qt.AlignmentFlag.AlignHCenter)
            font = value.font()
            font.setPointSize(24)
            font.setBold(True)
            value.setFont(font)
            target = QtWidgets.QLabel("")
            target.setObjectName(f"coverageTarget{minutes:g}")
            target.setAlignment(QtCore.Qt.AlignmentFlag.AlignHCenter)
            target.setStyleSheet(f"color: {DIM_TEXT};")
            for widget in (title, value, target):
                column.addWidget(widget)
            numbers.addLayout(column, 1)
            self.share_labels[minutes] = value
            self.target_labels[minutes] = target
        layout.addLayout(numbers)
        move_row = QtWidgets.QHBoxLayout()
        self.move_label = QtWidgets.QLabel("")
        self.move_label.setObjectName("moveUpLabel")
        self.move_label.setWordWrap(True)
        self.move_button = QtWidgets.QPushButton("Show")
        self.move_button.setObjectName("moveUpButton")
        self.move_button.setToolTip("Show the suggested post on the map")
        self.move_button.setVisible(False)
        self.move_button.clicked.connect(self._show_move_up)
        move_row.addWidget(self.move_label, 1)
        move_row.addWidget(self.move_button)
        layout.addLayout(move_row)
        # The numbers and the move-up always show; the charts and the planner share tabs so
        # the dock stays readable in the right-hand column of a 1280×800 screen.
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setObjectName("coverageTabs")
        self.tabs.setDocumentMode(True)
        self.shift_plot = self._plot("Covered share of this hour's demand (%)",
                                     _HourAxis("bottom"))
        self.tabs.addTab(self.shift_plot, "Over the shift")
        self.tabs.addTab(self._plan_box(), "Plan posts")
        self.tabs.addTab(self._whatif_note(), "What-if")
        layout.addWidget(self.tabs, 1)

    def _plot(self, title: str, bottom: pg.AxisItem | None = None) -> pg.PlotWidget:
        axes = {"bottom": bottom} if bottom is not None else None
        plot = pg.PlotWidget(axisItems=axes)
        item = plot.getPlotItem()
        item.setMenuEnabled(False)  # pyqtgraph's own menus: parentless, outlive the window
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        item.setTitle(title, size="8pt")
        item.setYRange(0, 100, padding=0.02)
        item.getViewBox().setLimits(yMin=0, yMax=100)
        plot.setMinimumHeight(110)
        plot.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding,
                           QtWidgets.QSizePolicy.Policy.Expanding)
        # Bottom right: the lines of a well-covered city run along the top.
        item.addLegend(offset=(-4, -4), labelTextSize="7pt", colCount=3)
        return plot

    def _plan_box(self) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(box)
        layout.setContentsMargins(2, 4, 2, 2)
        layout.setSpacing(3)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("k"))
        self.k_box = QtWidgets.QSpinBox()
        self.k_box.setObjectName("planK")
        self.k_box.setRange(1, 30)
        self.k_box.setValue(6)
        self.k_box.setToolTip("How many posts to choose")
        row.addWidget(self.k_box)
        row.addWidget(QtWidgets.QLabel("T"))
        self.t_box = QtWidgets.QComboBox()
        self.t_box.setObjectName("planMinutes")
        for minutes in (8.0, 10.0, 12.0, 15.0):
            self.t_box.addItem(f"{minutes:g} min", minutes)
        self.t_box.setCurrentIndex(2)
        self.t_box.setToolTip("Minutes to scene a post must reach a cell in")
        row.addWidget(self.t_box)
        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.setObjectName("planRun")
        self.run_button.setEnabled(False)
        self.run_button.setToolTip("Choose k posts covering the most of the week's expected "
                                   "demand: exact (MILP) and greedy, beside today's posts")
        self.run_button.clicked.connect(lambda _c=False: self.run_plan())
        row.addWidget(self.run_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.plan_state = QtWidgets.QLabel("Waiting for the history…")
        self.plan_state.setObjectName("planState")
        self.plan_state.setWordWrap(True)
        self.plan_state.setTextFormat(QtCore.Qt.TextFormat.RichText)
        layout.addWidget(self.plan_state)
        self.plan_plot = self._plot("Covered share by hour of day (%), week's demand")
        self.plan_plot.getPlotItem().setXRange(0, 23, padding=0.02)
        layout.addWidget(self.plan_plot, 1)
        return box

    @staticmethod
    def _whatif_note() -> QtWidgets.QWidget:
        note = QtWidgets.QLabel(
            "Not in the app yet. Changing teams per program, their hours or posts replays the "
            "shift simulator over days of history (tens of seconds per plan); run it from "
            "the command line for now:<br><br><tt>heartops plan whatif --add "
            "CRT:1@09:00-17:30@9</tt><br><br>It compares served share of eligible calls, "
            "minutes to scene (mean, p90) and coverage by hour with today's plan.")
        note.setObjectName("whatIfNote")
        note.setWordWrap(True)
        note.setTextFormat(QtCore.Qt.TextFormat.RichText)
        note.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        note.setStyleSheet(f"color: {DIM_TEXT}; padding: 6px;")
        return note

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Load the history on the worker; readings follow every :data:`REFRESH_MS`."""
        if self._closed or self.grid is not None:
            return
        self._submit(_run_load, self._port, self._signals)

    def _submit(self, fn: Callable[..., object], *args: object) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix=self._thread_prefix)
        self._executor.submit(fn, *args)

    def shutdown(self) -> None:
        """Stop reading, drop queued work and wait for the running job."""
        self._closed = True
        self._timer.stop()
        self._serial += 1
        self._plan_serial += 1
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    @property
    def busy_planning(self) -> bool:
        """Whether a post plan is being computed."""
        return not self.run_button.isEnabled() and self.grid is not None

    # -- readings -------------------------------------------------------------------------

    def refresh(self) -> CoverageSnapshot | None:
        """Send a snapshot of the board's free units to the worker (newest wins).

        Returns
        -------
        CoverageSnapshot or None
            The snapshot sent; ``None`` before the history is loaded.
        """
        if self._closed or self.grid is None:
            return None
        self._serial += 1
        board, at = self._board()
        snapshot = coverage_snapshot(board, at, self._serial)
        self._submit(_run_reading, self._port, snapshot, self._signals, self._is_current)
        return snapshot

    def _is_current(self, serial: int) -> bool:
        # Read from the worker thread: a plain int attribute read is atomic under the GIL.
        return serial == self._serial

    def _on_loaded(self, grid: CoverageGrid) -> None:
        if self._closed:
            return
        self.grid = grid
        self.header.setText(f"Coverage of this hour's expected demand · {grid.summary}")
        self.header.setToolTip(f"Target: {grid.target}. Minutes to scene = turnout + "
                               "urban factor × free-flow drive (heartops coverage).")
        self.run_button.setEnabled(True)
        self.plan_state.setText("Choose k and T, then Run")
        self.loaded.emit(grid)
        self.refresh()
        if self._refresh_ms > 0:
            self._timer.start()

    def _on_load_failed(self, message: str) -> None:
        if self._closed:
            return
        self.header.setText(f"Coverage unavailable: {message}")
        self.header.setStyleSheet(f"color: {ERROR_TEXT};")
        self.plan_state.setText("")
        self.message.emit(f"Coverage unavailable: {message}")

    def _on_reading(self, reading: CoverageReading) -> None:
        if self._closed or reading.serial != self._serial:
            return  # stale: a newer snapshot was taken meanwhile
        self.reading = reading
        grid = self.grid
        assert grid is not None
        local = reading.at.astimezone(self._board()[0].tables.timezone)
        self.header.setText(
            f"<b>{local:%a %H:%M}</b> · {reading.units} team(s) free in person · "
            f"{reading.expected_calls:.1f} eligible calls expected this hour "
            f"({reading.hour})")
        self.header.setStyleSheet("")
        for minutes, label in self.share_labels.items():
            share = reading.shares.get(minutes)
            target = reading.targets.get(minutes)
            if share is None or target is None:
                label.setText("—")
                continue
            label.setText(f"{100 * share:.0f}%")
            colour = MEETS_COLOUR if share >= target - 1e-9 else BELOW_COLOUR
            label.setStyleSheet(f"color: {colour};")
            label.setToolTip(f"{100 * share:.1f}% of this hour's expected eligible demand "
                             f"is within {minutes:g} min of a free in-person team")
            self.target_labels[minutes].setText(
                f"target {100 * target:.0f}% · best {100 * reading.best[minutes]:.0f}%")
            self.target_labels[minutes].setToolTip(
                f"Target: {grid.target}; best: what {reading.units} team(s) could cover "
                "from the staging posts")
        self._show_move_up_text(reading)
        self._add_history(reading, local)
        self.reading_shown.emit(reading)

    def _on_read_failed(self, serial: int, message: str) -> None:
        if self._closed or serial != self._serial:
            return
        self.move_label.setText(f"Coverage not read: {message}")
        self.move_label.setStyleSheet(f"color: {ERROR_TEXT};")

    def _show_move_up_text(self, reading: CoverageReading) -> None:
        move = reading.move_up
        self.move_button.setVisible(move is not None)
        if move is None:
            self.move_label.setText("No move-up needed: coverage meets the target"
                                    if reading.units else "No free in-person team")
            self.move_label.setStyleSheet(f"color: {DIM_TEXT};")
            return
        self.move_label.setText(
            f"Move up: <b>{move.unit_id} → post {move.post_id}</b> ({move.post_name}), "
            f"{move.drive_min:.0f} min drive: {move.minutes:g}-min coverage "
            f"{100 * move.before:.0f}% → {100 * move.after:.0f}% "
            f"(+{move.gain_calls:.2f} calls/h)")
        self.move_label.setStyleSheet(f"color: {BELOW_COLOUR};")

    def _show_move_up(self) -> None:
        move = None if self.reading is None else self.reading.move_up
        if move is not None:
            self.move_up_requested.emit(move.lat, move.lon,
                                        f"{move.unit_id} → post {move.post_id}")

    def _add_history(self, reading: CoverageReading, local: datetime) -> None:
        if self._origin is None:
            self._origin = local.replace(hour=0, minute=0, second=0, microsecond=0)
        hours = (local - self._origin).total_seconds() / 3600.0
        primary = max(reading.targets) if reading.targets else 12.0
        self.history.append(_Point(hours, {m: 100 * s for m, s in reading.shares.items()},
                                   100 * reading.targets.get(primary, 0.0)))
        del self.history[:-HISTORY_POINTS]
        self._draw_history()

    def _draw_history(self) -> None:
        # The curves are made once and then only get new data: a reading every few seconds
        # must not rebuild the plot on the UI thread.
        item = self.shift_plot.getPlotItem()
        if not self._curves:
            for minutes in sorted(self.share_labels):
                colour = _LINE_COLOURS.get(minutes, "#ffffff")
                self._curves[minutes] = item.plot(
                    [], [], pen=pg.mkPen(colour, width=2), name=f"{minutes:g} min",
                    symbol="o", symbolSize=4, symbolBrush=colour, symbolPen=None)
            self._curves[-1.0] = item.plot([], [], name="target")
        self._curves[-1.0].setPen(pg.mkPen(self._palette.target, width=1,
                                           style=QtCore.Qt.PenStyle.DashLine))
        if not self.history:
            return
        x = np.array([p.hours for p in self.history])
        for minutes, curve in self._curves.items():
            if minutes < 0:
                curve.setData(x, np.array([p.target for p in self.history]))
            else:
                curve.setData(x, np.array([p.shares.get(minutes, math.nan)
                                           for p in self.history]),
                              symbol="o" if len(x) < 3 else None)
        span = max(x[-1] - x[0], 0.25)  # at least a quarter hour: a first point is not a dot
        item.setXRange(x[-1] - span, x[-1] + span * 0.02, padding=0)

    # -- post plans -----------------------------------------------------------------------

    def run_plan(self, k: int | None = None, minutes: float | None = None) -> int | None:
        """Plan ``k`` posts for ``minutes`` (the dock's choices by default) on the worker.

        Returns
        -------
        int or None
            The plan's serial; ``None`` before the history is loaded.
        """
        if self._closed or self.grid is None:
            return None
        if k is not None:
            self.k_box.setValue(k)
        if minutes is not None:
            index = self.t_box.findData(minutes)
            if index < 0:
                self.t_box.addItem(f"{minutes:g} min", minutes)
                index = self.t_box.count() - 1
            self.t_box.setCurrentIndex(index)
        self._plan_serial += 1
        chosen_k, chosen_t = self.k_box.value(), float(self.t_box.currentData())
        self.run_button.setEnabled(False)
        self.plan_state.setText(f"<i>Computing {chosen_k} posts for {chosen_t:g} min… "
                                "(exact MILP and greedy, a few seconds)</i>")
        self._submit(_run_plan, self._port, self._plan_serial, chosen_k, chosen_t,
                     self._signals)
        return self._plan_serial

    def _on_planned(self, serial: int, result: PostsPlanResult) -> None:
        if self._closed or serial != self._plan_serial:
            return
        self.plan = result
        self.run_button.setEnabled(True)
        rows = [self._choice_line(result.current, f"Today ({len(result.current.posts)} posts)"),
                self._choice_line(result.exact, f"Exact, k={result.k}"),
                self._choice_line(result.greedy, f"Greedy, k={result.k}")]
        self.plan_state.setText(f"{result.candidates} candidate sites, "
                                f"{result.minutes:g} min to scene:<br>" + "<br>".join(rows))
        self._draw_plan(result)
        self.plan_shown.emit(result)

    @staticmethod
    def _choice_line(choice: PlanChoice, name: str) -> str:
        proof = " · optimal" if choice.optimal else ""
        timing = f" · {choice.seconds:.2f} s{proof}" if choice.method != "current" else ""
        colour = _PLAN_COLOURS[choice.method]
        return (f"<span style='color:{colour}'>■</span> {name}: "
                f"<b>{100 * choice.share:.1f}%</b>{timing}")

    def _on_plan_failed(self, serial: int, message: str) -> None:
        if self._closed or serial != self._plan_serial:
            return
        self.run_button.setEnabled(True)
        self.plan_state.setText(f"<span style='color:{ERROR_TEXT}'>{message}</span>")
        self.message.emit(f"Plan posts: {message}")

    def _draw_plan(self, result: PostsPlanResult) -> None:
        item = self.plan_plot.getPlotItem()
        item.clear()
        hours = np.arange(24, dtype=float)
        shown: list[float] = []
        for choice, name, style in ((result.current, "today", QtCore.Qt.PenStyle.DashLine),
                                    (result.greedy, "greedy", QtCore.Qt.PenStyle.DotLine),
                                    (result.exact, "exact", QtCore.Qt.PenStyle.SolidLine)):
            values = 100 * np.array(choice.by_hour, dtype=float)
            item.plot(hours, values, pen=pg.mkPen(_PLAN_COLOURS[choice.method], width=2,
                                                  style=style), name=name, connect="finite")
            shown.extend(v for v in values if math.isfinite(v))
        item.setXRange(0, 23, padding=0.02)
        # Plans differ by a few points near the top: a 0-100 axis would flatten them.
        low = max(0.0, math.floor((min(shown) if shown else 0.0) / 10.0) * 10.0 - 10.0)
        item.getViewBox().setLimits(yMin=low, yMax=100)
        item.setYRange(low, 100, padding=0.02)

    # -- theme ----------------------------------------------------------------------------

    def set_theme(self, theme: Theme) -> None:
        """Colour the charts for ``theme``."""
        self._palette = chart_palette(theme)
        for plot in (self.shift_plot, self.plan_plot):
            _style_plot(plot, self._palette)
        self._draw_history()


def _style_plot(plot: pg.PlotWidget, palette: ChartPalette) -> None:
    plot.setBackground(palette.background)
    item = plot.getPlotItem()
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(palette.axis))
        axis.setTextPen(pg.mkPen(palette.axis))
        font = QtGui.QFont()
        font.setPointSizeF(7.5)
        axis.setStyle(tickFont=font)
    item.titleLabel.setText(item.titleLabel.text, color=palette.title, size="8pt")
    item.showGrid(x=False, y=True, alpha=palette.grid_alpha / 255)

