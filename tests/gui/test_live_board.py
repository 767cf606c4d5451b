"""The live dispatch board on the demo city: a real window over a real simulated shift.

Each test builds its own :class:`~heartops.live.LiveSession` (seeded, starting at a fixed
10:00) and a real main window around it. The live timer is off unless a test starts it: the
tests step the shift themselves (``window.board.step``), so what they see is deterministic.
Every window is closed at the end of its test, and the test fails on a leaked top-level
window, a worker thread still running, a board timer still ticking or a Qt warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shiboken6
from gui_helpers import close_windows
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from heartops.app import warm_up
from heartops.core.avl import AvlFix
from heartops.core.board import AlertKind, TimerLevel, alert_key
from heartops.core.calls import new_call
from heartops.core.geo import GeoPoint
from heartops.live import LiveSession, SharedDesk
from heartops.qt.main_window import MainWindow
from heartops.qt.panels import BoardController, OverrideRequest
from heartops.qt.panels.models import UNIT_MIME
from heartops.qt.panels.style import short_call_id
from heartops.store import open_store

pytestmark = pytest.mark.usefixtures("demo_city")

START = datetime(2025, 6, 3, 10, 0, tzinfo=ZoneInfo("America/New_York"))

# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def make_session() -> Iterator[Callable[..., LiveSession]]:
    """Build seeded demo sessions at 10:00; close them at the end."""
    sessions: list[LiveSession] = []

    def make(*, auto_dispatch_after: timedelta | None = None, calls: int = 2,
             speed: float = 60.0) -> LiveSession:
        session = LiveSession.demo(seed=1, start=START, speed=speed,
                                   auto_dispatch_after=auto_dispatch_after)
        sessions.append(session)
        for _ in range(60):  # a minute at a time until enough calls wait
            if len(session.board.queue()) >= calls:
                break
            warm_up(session, 1)
        return session

    yield make
    for session in sessions:
        session.close()


class Reasons:
    """An injected override-reason provider that records what it was asked."""

    def __init__(self) -> None:
        self.answer: str | None = "closer to the caller"
        self.asked: list[OverrideRequest] = []

    def __call__(self, request: OverrideRequest) -> str | None:
        self.asked.append(request)
        return self.answer


@pytest.fixture
def reasons() -> Reasons:
    return Reasons()




@pytest.fixture
def make_board(clean_qt: None, qtbot: Any, tmp_path: Path, reasons: Reasons,
               ) -> Iterator[Callable[..., MainWindow]]:
    """Build shown board windows; on teardown close them and check nothing still runs."""
    windows: list[MainWindow] = []
    timers: list[QtCore.QTimer] = []

    def make(session: LiveSession, **overrides: Any) -> MainWindow:
        options: dict[str, Any] = {
            "network": session.engine.network, "engine": session.engine,
            "city_name": "Demo city", "session": session,
            "commands": session, "reason_provider": reasons,
            "start_live": False,
            "settings": QtCore.QSettings(str(tmp_path / "settings.ini"),
                                         QtCore.QSettings.Format.IniFormat),
        }
        options.update(overrides)
        window = MainWindow(**options)
        window.resize(1280, 800)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        assert window.board is not None
        timers.extend([window.board.flash_timer, window.map_view.flash_timer])
        return window

    yield make

    close_windows(windows)
    assert not any(shiboken6.isValid(t) and t.isActive() for t in timers), "a timer outlived"


OpenBoard = Callable[..., tuple[LiveSession, MainWindow, BoardController]]


@pytest.fixture
def open_board(make_session: Callable[..., LiveSession],
               make_board: Callable[..., MainWindow]) -> OpenBoard:
    """Open a board window over a new seeded session: ``session, window, board``."""
    def open_(**session_options: Any) -> tuple[LiveSession, MainWindow, BoardController]:
        session = make_session(**session_options)
        window = make_board(session)
        assert window.board is not None
        return session, window, window.board

    return open_


# -- helpers ---------------------------------------------------------------------------------


def _click_row(qtbot: Any, view: QtWidgets.QTableView, key: str, column: int = 1) -> None:
    """Click the row of ``key`` as a person would."""
    model = view.model()
    row = next(r for r in range(model.rowCount())
               if model.index(r, 0).data(QtCore.Qt.ItemDataRole.UserRole + 1) == key)
    index = model.index(row, column)
    view.scrollTo(index)
    rect = view.visualRect(index)
    QTest.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     QtCore.Qt.KeyboardModifier.NoModifier, rect.center())


def _select_call_and_wait(qtbot: Any, window: MainWindow, call_id: str) -> None:
    board = window.board
    assert board is not None
    _click_row(qtbot, board.queue.view, call_id)
    qtbot.waitUntil(lambda: board.recommendation.result is not None
                    and board.recommendation.result.call_id == call_id, timeout=5000)


def _busy(session: LiveSession, unit_id: str) -> bool:
    return session.board.state(unit_id).call_id is not None


# -- the shift runs --------------------------------------------------------------------------


def test_the_shift_runs_live_calls_arrive_and_units_drive(
    qtbot: Any, make_board: Callable[..., MainWindow],
    make_session: Callable[..., LiveSession],
) -> None:
    session = make_session(auto_dispatch_after=timedelta(minutes=1), calls=0)
    warm_up(session, 4.5, step_s=30)  # the first call of the day has just come in
    window = make_board(session, start_live=True)
    board = window.board
    assert board is not None and board.running
    start = session.now
    first = {m.unit_id: (m.lat, m.lon) for m in window.map_view.live._units}
    seen_calls: set[str] = set()

    def busy_board() -> bool:
        seen_calls.update(board.queue.model.keys)
        moved = any((m.lat, m.lon) != first.get(m.unit_id) for m in window.map_view.live._units)
        return bool(seen_calls) and moved

    qtbot.waitUntil(busy_board, timeout=20_000)

    assert session.now > start + timedelta(seconds=30)
    assert window.sim_clock.text().endswith(session.now.astimezone(
        session.tables.timezone).strftime("%H:%M:%S"))
    assert board.map_updates["units"] >= 1 and board.map_updates["calls"] >= 1
    assert set(board.units.model.keys) == set(session.board.unit_ids)


def test_the_speed_box_and_pause_drive_the_session(
    make_board: Callable[..., MainWindow], make_session: Callable[..., LiveSession],
) -> None:
    session = make_session(calls=0, speed=1.0)
    window = make_board(session, start_live=True)
    board = window.board
    assert board is not None

    assert window.speed_box.currentText() == "1×"
    window.speed_box.setCurrentIndex(window.speed_box.findData(60.0))
    assert session.speed == 60.0
    window.pause_action.trigger()
    assert not board.running
    window.pause_action.trigger()
    assert board.running


# -- recommendation and assignment -----------------------------------------------------------


def test_selecting_a_call_shows_its_ranked_units_within_200_ms(
    qtbot: Any,
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board()
    # A call whose best unit drives (a phone program has no route to draw).
    call_id = next(r.call_id for r in session.board.queue()
                   if session.recommend(r.call_id).ranked[0].eta is not None)

    _select_call_and_wait(qtbot, window, call_id)

    assert board.last_latency_ms is not None and board.last_latency_ms < 200, (
        f"ranking shown {board.last_latency_ms:.0f} ms after the selection")
    expected = session.recommend(call_id)
    panel = board.recommendation
    assert panel.ranked_units() == [r.unit_id for r in expected.ranked]
    assert len(expected.ranked) >= 2
    top = expected.ranked[0]
    assert top.eta is not None
    model = panel.ranked_model
    assert model.cell_text(0, model.column_of("Unit")) == top.unit_id
    eta = model.cell_text(0, model.column_of("ETA"))
    assert eta == f"{top.eta.minutes:.1f}"
    assert model.cell_text(0, model.column_of("km")) == f"{top.eta.meters / 1000:.1f}"
    assert panel.left_out_model.rowCount() == len(expected.left_out) > 0
    reasons = [panel.left_out_model.cell_text(r, 1)
               for r in range(panel.left_out_model.rowCount())]
    assert all(reasons) and not any("L1-" in why for why in reasons)  # calls said as #N
    for program in expected.eligible_programs:
        assert f"✓ <b>{program}</b>" in panel.eligibility.text()
    assert panel.assign_button.text().startswith(f"Assign {top.unit_id}")
    assert window.map_view.selection == ("call", call_id)
    qtbot.waitUntil(lambda: window.map_view.live.has_route, timeout=5000)


def test_older_answers_are_dropped_and_a_moved_candidate_makes_the_ranking_stale(
    qtbot: Any,
    open_board: OpenBoard,
) -> None:
    session, _window, board = open_board()
    first, second = (r.call_id for r in session.board.queue()[:2])
    shown: list[str] = []
    board.recommendation_shown.connect(lambda result: shown.append(result.call_id))

    board.select_call(first)
    board.select_call(second)  # before the first answer can arrive: it must be dropped
    panel = board.recommendation
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.call_id == second,
                    timeout=5000)
    qtbot.wait(50)
    assert shown == [second]

    assert panel.result is not None and panel.result.recommendation is not None
    serial = panel.result.serial
    mover = next(r.unit_id for r in panel.result.recommendation.ranked if r.eta is not None)
    held = session.board.state(mover).position
    assert held is not None
    session.board.apply_fixes([AvlFix(mover, GeoPoint(held.lat + 0.002, held.lon),
                                      session.now + timedelta(seconds=1))])

    assert panel.stale and f"{mover} moved" in panel.state_label.text()
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.serial > serial
                    and not panel.stale, timeout=5000)
    assert shown == [second, second]


def test_the_queue_filters_and_sorts_and_the_oldest_top_call_stays_pinned(
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board()
    queue = board.queue
    rows = session.board.queue()
    head = rows[0]
    assert queue.proxy.index(0, 0).data(QtCore.Qt.ItemDataRole.UserRole + 1) == head.call_id

    queue.filter_edit.setText("no such call")
    assert queue.proxy.rowCount() == 0
    assert f"#{short_call_id(head.call_id)}" in queue.head_label.text()
    assert queue.count_label.text() == f"0 of {len(rows)}"

    window.board_actions["Ctrl+1"].trigger()  # the pinned head: the filter gives way
    assert queue.filter_edit.text() == ""
    assert queue.selected_call() == head.call_id == board.selected_call

    program = head.eligible_programs[-1]
    queue.program_box.setCurrentIndex(queue.program_box.findData(program))
    listed = [queue.proxy.index(r, 0).data(QtCore.Qt.ItemDataRole.UserRole + 1)
              for r in range(queue.proxy.rowCount())]
    assert listed == [r.call_id for r in rows if program in r.eligible_programs]
    queue.program_box.setCurrentIndex(0)

    queue.view.sortByColumn(queue.model.column_of("Waiting"),
                            QtCore.Qt.SortOrder.AscendingOrder)
    newest = queue.proxy.index(0, 0).data(QtCore.Qt.ItemDataRole.UserRole + 1)
    assert newest == min(rows, key=lambda r: r.age_s).call_id


def test_enter_assigns_the_top_unit_and_the_call_leaves_the_queue(
    qtbot: Any, reasons: Reasons,
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board()
    call_id = session.board.queue()[0].call_id
    _select_call_and_wait(qtbot, window, call_id)
    top = board.recommendation.ranked_units()[0]

    QTest.keyClick(board.queue.view, QtCore.Qt.Key.Key_Return)

    assert session.board.state(top).status == session.tables.dispatch_status
    assert call_id not in board.queue.model.keys
    assignment = session.board.assignment_of(top)
    assert assignment is not None and assignment.rank == 1 and not assignment.is_override
    assert reasons.asked == []
    status = board.units.model.cell_text(board.units.model.row_of(top) or 0, 1)
    assert session.tables.status(session.tables.dispatch_status).label in status
    assert "assigned" in board.recommendation.state_label.text().lower()


def test_the_assign_button_assigns_the_chosen_unit(
    qtbot: Any,
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board()
    call_id = session.board.queue()[1].call_id
    _select_call_and_wait(qtbot, window, call_id)
    top = board.recommendation.ranked_units()[0]

    QTest.mouseClick(board.recommendation.assign_button, QtCore.Qt.MouseButton.LeftButton)

    assert session.board.state(top).call_id == call_id
    assert call_id not in board.queue.model.keys


def test_assigning_another_unit_asks_for_a_reason_and_stores_it(
    qtbot: Any, reasons: Reasons,
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board()
    call_id = session.board.queue()[0].call_id
    _select_call_and_wait(qtbot, window, call_id)
    top, second = board.recommendation.ranked_units()[:2]
    _click_row(qtbot, board.recommendation.ranked_view, second)

    reasons.answer = None  # the dispatcher cancels the dialog
    QTest.keyClick(board.recommendation.ranked_view, QtCore.Qt.Key.Key_Return)
    assert not _busy(session, second) and call_id in board.queue.model.keys
    assert "no reason" in window.status_text()

    reasons.answer = "  CRT-2 knows the family  "
    QTest.mouseDClick(board.recommendation.ranked_view.viewport(),
                      QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier,
                      board.recommendation.ranked_view.visualRect(
                          board.recommendation.ranked_model.index(1, 1)).center())

    assert [(r.unit_id, r.call_id, r.recommended_unit_id) for r in reasons.asked] == [
        (second, call_id, top), (second, call_id, top)]
    assignment = session.board.assignment_of(second)
    assert assignment is not None and assignment.call_id == call_id
    assert assignment.rank == 2 and assignment.recommended_unit_id == top
    assert assignment.override_reason == "CRT-2 knows the family"
    assert not _busy(session, top)
    assert "override: CRT-2 knows the family" in window.status_text()


def test_dragging_a_unit_onto_a_call_assigns_it(
    open_board: OpenBoard,
) -> None:
    session, _window, board = open_board()
    call_id = session.board.queue()[1].call_id
    unit_id = session.recommend(call_id).ranked[0].unit_id
    units, queue = board.units, board.queue
    unit_index = units.model.index(units.model.row_of(unit_id) or 0, 0)
    data = units.model.mimeData([unit_index])
    target = next(queue.proxy.index(r, 2) for r in range(queue.proxy.rowCount())
                  if queue.proxy.index(r, 0).data(QtCore.Qt.ItemDataRole.UserRole + 1)
                  == call_id)
    copy = QtCore.Qt.DropAction.CopyAction

    assert data.hasFormat(UNIT_MIME)
    assert queue.proxy.canDropMimeData(data, copy, -1, -1, target)
    queue.proxy.dropMimeData(data, copy, -1, -1, target)  # what the view does on a drop

    assert session.board.state(unit_id).call_id == call_id
    assert call_id not in queue.model.keys
    assert unit_id in units.model.keys  # the dragged row stays on the board


# -- status changes --------------------------------------------------------------------------


def test_status_keys_and_the_context_menu_change_a_units_status(
    qtbot: Any,
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board(calls=0)
    unit_id = next(u for u in session.board.unit_ids
                   if session.board.state(u).status == "available")
    _click_row(qtbot, board.units.view, unit_id, column=0)
    assert window.map_view.selection == ("unit", unit_id)

    QTest.keyClick(board.units.view, "O")
    assert session.board.state(unit_id).status == "out_of_service"

    menu = board.units.status_menu(unit_id)
    actions = {a.objectName(): a for a in menu.actions()}
    assert "status_available" in actions and "status_emergency" in actions
    assert actions["status_available"].shortcut().toString() == "A"
    actions["status_available"].trigger()
    menu.deleteLater()
    assert session.board.state(unit_id).status == "available"

    QTest.keyClick(board.units.view, "S")  # on scene is the team's to report, not ours
    assert session.board.state(unit_id).status == "available"
    assert "reported by the simulated team" in window.status_text()


def test_an_emergency_flashes_the_banner_until_acknowledged_and_stays_red(
    qtbot: Any,
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board(calls=0)
    unit_id = next(u for u in session.board.unit_ids
                   if session.board.state(u).status == "available")
    _click_row(qtbot, board.units.view, unit_id, column=0)

    QTest.keyClick(board.units.view, "!")

    key = alert_key(AlertKind.EMERGENCY, unit_id)
    assert board.alerts.model.keys[0] == key
    assert board.banner.isVisible() and board.banner.flashing
    assert unit_id in board.banner.text() and "EMERGENCY" in board.banner.text()
    assert board.flash_timer.isActive() and window.map_view.flash_timer.isActive()
    assert window.docks["alerts"].isVisible()
    assert board.alerts.selected_key() == key
    phase = board.banner.styleSheet()
    qtbot.waitUntil(lambda: board.banner.styleSheet() != phase, timeout=2000)  # it blinks

    window.board_actions["Ctrl+K"].trigger()  # acknowledge the banner's alert

    ack = session.board.acknowledgements[-1]
    assert (ack.key, ack.desk, ack.operator) == (key, session.desk, session.operator)
    assert not board.banner.flashing and board.banner.emergency
    assert "#ff1744" in board.banner.styleSheet()  # steady red while the emergency stands
    assert board.alerts.model.cell_text(0, 2).startswith("✓")

    QTest.keyClick(board.units.view, "A")  # the team is safe: back to available
    assert key not in board.alerts.model.keys
    assert not board.flash_timer.isActive()


# -- alerts ----------------------------------------------------------------------------------


def test_a_waiting_call_raises_an_alert_at_its_threshold_and_acknowledging_marks_it(
    qtbot: Any,
    open_board: OpenBoard,
) -> None:
    session, _window, board = open_board()
    row = min(session.board.queue(), key=lambda r: r.age_s)  # the newest call
    assert row.level is TimerLevel.NORMAL
    key = alert_key(AlertKind.CALL_WAITING, row.call_id)
    assert key not in board.alerts.model.keys
    threshold = session.board.thresholds.call_wait[row.priority]

    # Jump the simulated clock to just before, then just past, the alert threshold.
    board.step((threshold.alert.total_seconds() - row.age_s - 20) / session.speed)
    assert key not in board.alerts.model.keys
    queue = board.queue.model
    waiting = queue.column_of("Waiting")
    assert queue.cell_text(queue.row_of(row.call_id) or 0, waiting)  # still listed
    board.step(40 / session.speed)

    assert key in board.alerts.model.keys
    assert board.banner.isVisible()
    cell = queue.data(queue.index(queue.row_of(row.call_id) or 0, waiting),
                      QtCore.Qt.ItemDataRole.BackgroundRole)
    assert cell is not None and cell.color().name() == "#c62828"  # the alert red

    board.alerts.select_alert(key)
    QTest.mouseClick(board.alerts.ack_button, QtCore.Qt.MouseButton.LeftButton)

    ack = session.board.acknowledgements[-1]
    assert (ack.key, ack.operator, ack.desk) == (key, session.operator, session.desk)
    alerts = board.alerts.model
    row_index = alerts.index(alerts.row_of(key) or 0, 2)
    assert alerts.cell_text(row_index.row(), 2).startswith("✓ ")
    assert session.operator in row_index.data(QtCore.Qt.ItemDataRole.ToolTipRole)
    assert board.banner.alert is None or board.banner.alert.key != key


# -- command line ----------------------------------------------------------------------------


def test_the_command_line_assigns_sets_status_adds_notes_and_explains_errors(
    qtbot: Any, make_board: Callable[..., MainWindow],
    make_session: Callable[..., LiveSession],
) -> None:
    session = make_session()
    window = make_board(session)
    board = window.board
    assert board is not None and board.command_line is not None
    line = board.command_line
    window.board_actions["Ctrl+L"].trigger()
    assert window.focusWidget() is line.edit

    qtbot.keyClicks(line.edit, "as")
    assert "assign " in line.completions.stringList()
    line.edit.clear()

    first, second = (r.call_id for r in session.board.queue()[:2])
    top = session.recommend(first).ranked[0].unit_id
    number = first.rsplit("-", 1)[1].lstrip("0")
    qtbot.keyClicks(line.edit, f"assign {top} {number}")
    QTest.keyClick(line.edit, QtCore.Qt.Key.Key_Return)
    assert line.result_ok, line.result_text()
    assert session.board.state(top).call_id == first
    assert first not in board.queue.model.keys
    assert line.edit.text() == ""

    free = next(u for u in session.board.unit_ids
                if session.board.state(u).status == "available")
    assert line.run_line(f"st {free} O")
    assert session.board.state(free).status == "out_of_service"

    assert line.run_line(f"note {second} caller waiting on the porch")
    notes = session.board.call(second).notes
    assert notes and notes[-1].text == "caller waiting on the porch"

    assert not line.run_line("assign CRT-99 1")
    assert not line.result_ok
    assert "unknown unit 'CRT-99'" in line.result_text()
    assert line.result_text().startswith("✗")


# -- call detail -----------------------------------------------------------------------------


def test_call_detail_shows_the_timeline_takes_notes_and_closes_the_call(
    qtbot: Any,
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board()
    call_id = session.board.queue()[0].call_id
    _select_call_and_wait(qtbot, window, call_id)
    unit_id = board.recommendation.ranked_units()[0]
    assert board.assign(unit_id, call_id)
    board.step(60 / session.speed)
    detail = board.call_detail

    texts = detail.timeline_texts()
    assert texts[0] == "Call received"
    assert "Unit dispatched" in texts
    assert any(t.startswith(f"{unit_id} assigned (rank 1") for t in texts)
    assert f"Units: {unit_id}" in detail.header.text()

    qtbot.keyClicks(detail.note_edit, "neighbour says he went toward the park")
    QTest.keyClick(detail.note_edit, QtCore.Qt.Key.Key_Return)
    assert "Note: neighbour says he went toward the park" in detail.timeline_texts()
    assert detail.note_edit.text() == ""

    detail.close_toggle.setChecked(True)
    QTest.mouseClick(detail.close_button, QtCore.Qt.MouseButton.LeftButton)
    assert "disposition" in detail.feedback.text()  # nothing ticked: refused, said why
    assert call_id in session.board.calls

    detail.set_dispositions(["cancelled"])
    QTest.mouseClick(detail.close_button, QtCore.Qt.MouseButton.LeftButton)

    assert call_id not in session.board.calls
    assert detail.closed and "closed" in detail.header.text()
    assert "Closed: Cancelled before arrival" in detail.timeline_texts()
    assert not _busy(session, unit_id)


# -- live data flow --------------------------------------------------------------------------


def test_ticks_repaint_changed_rows_only_and_the_map_once(
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board(speed=1.0)
    queue = session.board.queue()
    board.select_call(queue[0].call_id)
    board.assign(session.recommend(queue[1].call_id).ranked[0].unit_id, queue[1].call_id)
    model = board.units.model
    signals: dict[str, list[Any]] = {"data": [], "layout": [], "reset": []}
    model.dataChanged.connect(lambda a, b, *_: signals["data"].append((a.row(), b.row())))
    model.layoutChanged.connect(lambda *_: signals["layout"].append(1))
    model.modelReset.connect(lambda: signals["reset"].append(1))
    map_calls = {"units": 0, "calls": 0}
    map_view = window.map_view
    set_units, set_calls = map_view.set_units, map_view.set_calls

    def count_units(markers: Any) -> None:
        map_calls["units"] += 1
        set_units(markers)

    def count_calls(markers: Any) -> None:
        map_calls["calls"] += 1
        set_calls(markers)

    map_view.set_units = count_units  # type: ignore[method-assign]
    map_view.set_calls = count_calls  # type: ignore[method-assign]

    for _ in range(8):
        before = [model.cell_text(r, c) for r in range(model.rowCount())
                  for c in range(model.columnCount())]
        signals["data"].clear()
        map_calls.update(units=0, calls=0)
        change = board.step(0.25)
        repainted = {r for first, last in signals["data"] for r in range(first, last + 1)}
        columns = model.columnCount()
        changed_rows = {i // columns for i, text in enumerate(before)
                        if text != model.cell_text(i // columns, i % columns)}
        expected = changed_rows | {model.row_of(u) for u in change.units}
        assert repainted == expected
        assert map_calls["units"] == (1 if change.units else 0)
        assert map_calls["calls"] <= 1
    assert signals["layout"] == [] and signals["reset"] == []

    # A new call is a structural change: one layoutChanged; the selected call stays selected.
    selected = board.queue.selected_call()
    layouts: list[int] = []
    board.queue.model.layoutChanged.connect(lambda *_: layouts.append(1))
    board.queue.model.modelReset.connect(lambda: layouts.append(-1))
    call = new_call("T-1", call_type="welfare_check",
                    location=session.board.call(queue[0].call_id).location,
                    received_at=session.now)
    session.board.apply_call(call)
    assert layouts == [1]
    assert "T-1" in board.queue.model.keys
    assert board.queue.selected_call() == selected


def test_selection_follows_between_the_map_and_the_tables(
    qtbot: Any,
    open_board: OpenBoard,
) -> None:
    session, window, board = open_board()
    first, second = (r.call_id for r in session.board.queue()[:2])

    window.map_view.call_selected.emit(second)  # as a click on the call's marker does
    assert board.queue.selected_call() == second
    assert board.recommendation.call_id == second
    assert board.call_detail.call is not None and board.call_detail.call.call_id == second

    _click_row(qtbot, board.queue.view, first)
    assert window.map_view.selection == ("call", first)

    unit_id = session.board.unit_ids[0]
    window.map_view.unit_selected.emit(unit_id)
    assert board.units.selected_unit() == unit_id
    other = next(u for u in session.board.unit_ids[1:]
                 if board.units.model.row_of(u) is not None and board.units.select_unit(u))
    board.units.select_unit(None)
    _click_row(qtbot, board.units.view, other, column=0)
    assert window.map_view.selection == ("unit", other)


# -- layout ----------------------------------------------------------------------------------


def test_panels_are_named_docks_and_the_layout_persists(
    make_board: Callable[..., MainWindow], make_session: Callable[..., LiveSession],
) -> None:
    session = make_session(calls=0)
    first = make_board(session)
    names = [dock.objectName() for dock in first.findChildren(QtWidgets.QDockWidget)]
    assert {"queueDock", "unitsDock", "recommendationDock", "alertsDock", "callDetailDock",
            "commandDock", "postsDock"} <= set(names)
    assert len(names) == len(set(names))
    assert first.shift_bar.objectName() == "shiftToolbar"
    map_width = first.map_view.width()
    assert map_width >= 380, f"the map is only {map_width} px wide at 1280×800"
    left = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
    first.addDockWidget(left, first.docks["alerts"])
    first.close()

    second = make_board(session)

    assert second.dockWidgetArea(second.docks["alerts"]) == left


# -- two desks on one PostgreSQL database ----------------------------------------------------


@pytest.fixture
def two_desks(pg_store_url: str) -> Iterator[tuple[LiveSession, SharedDesk]]:
    """The desk running the city (a call waiting) and a desk joined to it, each with its own
    connection as two processes would have. Request it before ``make_board``: the windows
    must close before the desks do."""
    city = LiveSession.demo(seed=1, start=START, speed=1.0, store=open_store(pg_store_url),
                            auto_dispatch_after=None)
    for _ in range(60):
        if city.board.queue():
            break
        warm_up(city, 1)
    joined = SharedDesk.demo(open_store(pg_store_url), desk="desk-2", operator="jdoe")
    yield city, joined
    for desk in (joined, city):
        desk.close()
        assert desk.store is not None
        desk.store.close()


def _unit_status_text(window: MainWindow, unit_id: str) -> str:
    units = window.board.units.model  # type: ignore[union-attr]
    return units.cell_text(units.row_of(unit_id) or 0, 1)


def test_two_desks_on_postgresql_see_each_others_changes_and_the_loser_is_told(
    qtbot: Any, two_desks: tuple[LiveSession, SharedDesk],
    make_board: Callable[..., MainWindow],
) -> None:
    city, joined = two_desks
    city_window, desk_window = make_board(city), make_board(joined)
    assert city_window.board is not None and desk_window.board is not None
    assert "runs the city" in city_window.desk_label.text()
    assert "joined desk" in desk_window.desk_label.text()
    assert not desk_window.speed_box.isEnabled() and city_window.speed_box.isEnabled()
    city_window.board.start()
    desk_window.board.start()
    dispatched = city.tables.status(city.tables.dispatch_status).label

    # Desk 2 assigns the top unit with Enter; the city desk shows it within a second.
    call_id = joined.board.queue()[0].call_id
    _select_call_and_wait(qtbot, desk_window, call_id)
    top = desk_window.board.recommendation.ranked_units()[0]
    QTest.keyClick(desk_window.board.queue.view, QtCore.Qt.Key.Key_Return)
    assert call_id not in desk_window.board.queue.model.keys
    qtbot.waitUntil(lambda: call_id not in city_window.board.queue.model.keys  # type: ignore
                    and dispatched in _unit_status_text(city_window, top), timeout=1000)

    # The city desk takes a unit out of service; desk 2 sees it within a second.
    free = next(u for u in city.board.unit_ids
                if city.tables.status(city.board.state(u).status).assignable)
    assert city_window.board.set_status(free, "out_of_service")
    out = city.tables.status("out_of_service").label
    qtbot.waitUntil(lambda: out in _unit_status_text(desk_window, free), timeout=1000)

    # A race: desk 2 has not heard yet (its timer is paused) when the city desk assigns the
    # unit desk 2 is about to send. The database decides; desk 2 is told who won.
    warm_up(city, 30)  # more calls arrive
    pending = [r.call_id for r in city.board.queue()]
    assert pending, "the seeded shift should have another call waiting"
    race_call = pending[0]
    desk_window.board.pause()
    qtbot.waitUntil(lambda: race_call in desk_window.board.queue.model.keys, timeout=1000)
    ranking = joined.recommend(race_call)
    winner = ranking.ranked[0].unit_id
    assert city_window.board.assign(winner, race_call)
    assert not desk_window.board.assign(winner, race_call)
    assert winner in desk_window.status_text() and race_call in desk_window.status_text()
    active = city.store.assignments(unit_id=winner, active_only=True)  # type: ignore
    assert [(a.call_id, a.desk) for a in active] == [(race_call, "desk-1")]



def test_the_charts_dock_reads_the_database_off_the_ui_thread(
    qtbot: Any, make_board: Callable[..., MainWindow],
    make_session: Callable[..., LiveSession], tmp_path: Path,
) -> None:
    from heartops.app import charts_widget
    from heartops.history import simulate_history

    url = f"sqlite:///{tmp_path / 'history.db'}"
    with open_store(url) as store:
        simulate_history(store, network="demo", days=2, seed=3,
                         start=datetime(2025, 6, 2, 5, tzinfo=ZoneInfo("UTC")))
    charts = charts_widget(url)
    window = make_board(make_session(), charts=charts)
    dock = window.docks["charts"]
    assert dock.isFloating() and not dock.isVisible()  # an analyst opens it from View
    dock.toggleViewAction().trigger()
    assert dock.isVisible()
    qtbot.waitUntil(lambda: charts.series is not None, timeout=20_000)
    assert charts.series is not None and charts.series.calls > 0
