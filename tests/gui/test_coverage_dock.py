"""The Coverage dock, the map's coverage cells and the "Cover −%" column, on the demo city.

A real live window at 1280×800 over a seeded demo shift (the live timer off, the simulated
dispatcher off so calls wait). The coverage port is a fake with fixed numbers, or the real
service (``heartops/app.py``'s adapter over :class:`LiveCoverage`, built from a simulated
week). The fixture fails on a leaked top-level window, a worker thread still running or a Qt
warning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from heartops.analysis.live_coverage import LiveCoverage, UnitPosition
from heartops.app import LiveCoverageAdapter
from heartops.core.geo import GeoPoint
from heartops.live import LiveSession
from heartops.qt.coverage_snapshot import coverage_snapshot
from heartops.qt.main_window import WORKER_THREAD_PREFIX, MainWindow
from heartops.qt.panels.models import COVER_TITLE
from heartops.qt.ports import (
    CoverageGrid,
    CoverageReading,
    CoverageSnapshot,
    MoveUpAdvice,
    PlanChoice,
    PlannedPost,
    PostsPlanResult,
)
from heartops.routing.posts import load_posts

START = datetime(2025, 6, 3, 10, 0, tzinfo=ZoneInfo("America/New_York"))
HISTORY_START = datetime(2025, 5, 19, 5, tzinfo=UTC)


@pytest.fixture
def service(live_coverage: LiveCoverage) -> LiveCoverage:
    """The shared live coverage service over a simulated week of the demo city."""
    return live_coverage


def _adapter(service: LiveCoverage, **options: Any) -> LiveCoverageAdapter:
    """The app's adapter over a ready service (its store is never opened)."""
    live = LiveCoverage(service.planner, service.demand, service.posts, **options) \
        if options else service

    def no_store() -> Any:
        raise AssertionError("the adapter opened the history store")

    adapter = LiveCoverageAdapter(no_store, service.planner.engine, list(service.posts))
    adapter._service = live
    return adapter


class FakeCoverage:
    """A coverage port with fixed numbers, recording what it was asked and on which thread."""

    def __init__(self, *, share12: float = 0.5, target12: float = 0.8) -> None:
        posts = load_posts("demo")
        self.lat = np.array([p.location.lat for p in posts])
        self.lon = np.array([p.location.lon for p in posts])
        self.share12, self.target12 = share12, target12
        self.snapshots: list[CoverageSnapshot] = []
        self.threads: list[str] = []

    def load(self) -> CoverageGrid:
        self.threads.append(threading.current_thread().name)
        return CoverageGrid(lon=self.lon, lat=self.lat, radius_m=230.0, minutes=(8.0, 12.0),
                            cost_minutes=12.0, target="0.9 × best from posts",
                            summary="42 eligible calls")

    def reading(self, snapshot: CoverageSnapshot) -> CoverageReading:
        self.snapshots.append(snapshot)
        self.threads.append(threading.current_thread().name)
        cells = self.lat.size
        covered = np.arange(cells) % 2 == 0
        move = None
        if self.share12 < self.target12 and snapshot.units:
            unit = snapshot.units[0]
            move = MoveUpAdvice(unit.unit_id, "9", "Post 9 — Library", float(self.lat[0]),
                                float(self.lon[0]), 12.0, self.share12, self.share12 + 0.125,
                                0.75, 4.2)
        return CoverageReading(serial=snapshot.serial, at=snapshot.at, hour="Tue 10:00",
                               expected_calls=3.5, demand=np.ones(cells),
                               shares={8.0: 0.25, 12.0: self.share12},
                               best={8.0: 0.3, 12.0: 0.9},
                               targets={8.0: 0.27, 12.0: self.target12},
                               covered={8.0: covered, 12.0: covered | (np.arange(cells) < 3)},
                               units=len(snapshot.units), move_up=move)

    def unit_costs(self, snapshot: CoverageSnapshot) -> Mapping[str, float] | None:
        self.threads.append(threading.current_thread().name)
        return {u.unit_id: 0.01 * (i + 1) for i, u in enumerate(snapshot.units)}

    def plan_posts(self, k: int, minutes: float) -> PostsPlanResult:
        post = PlannedPost("post 1", float(self.lat[0]), float(self.lon[0]), True)
        hours = tuple([0.5] * 24)
        return PostsPlanResult(k, minutes, 20, PlanChoice("current", 0.6, 0.0, False,
                                                          (post,), hours),
                               PlanChoice("exact", 0.7, 0.1, True, (post,) * k, hours),
                               PlanChoice("greedy", 0.65, 0.01, False, (post,) * k, hours))


def _wait_reading(qtbot: Any, window: MainWindow) -> CoverageReading:
    dock = window.coverage
    assert dock is not None
    qtbot.waitUntil(lambda: dock.reading is not None, timeout=60_000)
    assert dock.reading is not None
    return dock.reading


# -- the dock ----------------------------------------------------------------------------------


def test_the_dock_shows_the_ports_shares_targets_and_move_up(
    qtbot: Any, demo_window: Callable[..., MainWindow],
) -> None:
    port = FakeCoverage(share12=0.5, target12=0.8)
    window = demo_window(coverage=port)
    dock = window.coverage
    assert dock is not None and "coverage" in window.docks
    reading = _wait_reading(qtbot, window)

    assert dock.share_labels[8.0].text() == "25%"
    assert dock.share_labels[12.0].text() == "50%"
    assert dock.target_labels[12.0].text() == "target 80% · best 90%"
    assert all(name.startswith(WORKER_THREAD_PREFIX) for name in port.threads)
    # The snapshot holds exactly the free, on-shift, in-person, dispatchable units.
    session = window.session
    assert session is not None
    tables = session.tables
    expected = coverage_snapshot(session.board, reading.at, 0).units
    assert port.snapshots[-1].units == expected and expected
    for unit in expected:
        program = tables.program(session.board.unit(unit.unit_id).program)
        assert program.in_person and program.dispatchable
    move = reading.move_up
    assert move is not None and dock.move_button.isVisible()
    assert f"{move.unit_id} → post 9" in dock.move_label.text()
    assert "50% → 62%" in dock.move_label.text()
    with qtbot.waitSignal(window.isochrones_shown, timeout=10_000):
        dock.move_button.click()  # shows the post's drive-time areas on the map
    assert dock.history and dock.history[-1].shares[12.0] == pytest.approx(50.0)


def test_no_move_up_when_coverage_meets_the_target(
    qtbot: Any, demo_window: Callable[..., MainWindow],
) -> None:
    window = demo_window(coverage=FakeCoverage(share12=0.85, target12=0.8))
    reading = _wait_reading(qtbot, window)
    dock = window.coverage
    assert dock is not None
    assert reading.move_up is None and not dock.move_button.isVisible()
    assert "meets the target" in dock.move_label.text()


def test_the_dock_matches_the_real_service_on_the_demo_city(
    qtbot: Any, demo_window: Callable[..., MainWindow], service: LiveCoverage,
) -> None:
    # A target of 100 %: the free teams never cover the whole city, so a move-up is due.
    window = demo_window(coverage=_adapter(service, target_share=1.0))
    dock = window.coverage
    assert dock is not None
    reading = _wait_reading(qtbot, window)
    session = window.session
    assert session is not None
    units = [UnitPosition(u.unit_id, GeoPoint(u.lat, u.lon))
             for u in coverage_snapshot(session.board, reading.at, 0).units]
    assert units
    direct = LiveCoverage(service.planner, service.demand, service.posts,
                          target_share=1.0).reading(units, reading.at)
    for minutes in (8.0, 12.0):
        assert reading.shares[minutes] == pytest.approx(direct.shares[minutes])
        assert dock.share_labels[minutes].text() == f"{100 * direct.shares[minutes]:.0f}%"
        assert np.array_equal(reading.covered[minutes], direct.covered[minutes])
    assert direct.move_up is not None and reading.move_up is not None
    assert reading.move_up.unit_id == direct.move_up.unit_id
    assert reading.move_up.post_id == direct.move_up.post_id
    assert dock.move_button.isVisible() and direct.move_up.unit_id in dock.move_label.text()


def test_plan_posts_runs_on_the_worker_and_exact_beats_greedy(
    qtbot: Any, demo_window: Callable[..., MainWindow], service: LiveCoverage,
) -> None:
    window = demo_window(coverage=_adapter(service))
    dock = window.coverage
    assert dock is not None
    _wait_reading(qtbot, window)
    with qtbot.waitSignal(dock.plan_shown, timeout=120_000) as shown:
        assert dock.run_plan(k=4, minutes=12.0) is not None
        assert not dock.run_button.isEnabled()
        assert "Computing 4 posts" in dock.plan_state.text()

    result: PostsPlanResult = shown.args[0]
    assert result.k == 4 and len(result.exact.posts) == len(result.greedy.posts) == 4
    assert result.exact.optimal
    assert result.exact.share >= result.greedy.share - 1e-12
    assert f"{100 * result.exact.share:.1f}%" in dock.plan_state.text()
    assert dock.run_button.isEnabled()
    assert len(window.map_view.plan_items["exact"].data) == 4
    assert "Planned post (exact)" in window.map_view.legend.texts()


def test_a_newer_plan_drops_the_older_answer(
    qtbot: Any, demo_window: Callable[..., MainWindow],
) -> None:
    window = demo_window(coverage=FakeCoverage())
    dock = window.coverage
    assert dock is not None
    _wait_reading(qtbot, window)
    first = dock.run_plan(k=2, minutes=12.0)
    with qtbot.waitSignal(dock.plan_shown, timeout=10_000) as shown:
        second = dock.run_plan(k=3, minutes=8.0)
    assert first is not None and second == first + 1
    assert shown.args[0].k == 3 and dock.plan is not None and dock.plan.k == 3


# -- map layer ---------------------------------------------------------------------------------


def test_coverage_cells_toggle_from_the_view_menu(
    qtbot: Any, demo_window: Callable[..., MainWindow],
) -> None:
    port = FakeCoverage()
    window = demo_window(coverage=port)
    reading = _wait_reading(qtbot, window)
    view = window.map_view
    assert view.coverage_cell_count == port.lat.size
    assert view.coverage_items == {}

    window.coverage_cell_actions[12.0].trigger()

    assert set(view.coverage_items) == {"covered", "uncovered"}  # two items, not one per cell
    covered = int(reading.covered[12.0].sum())
    assert view.coverage_items["covered"].data(0) == covered
    assert view.coverage_items["uncovered"].data(0) == port.lat.size - covered
    assert "Demand covered ≤ 12 min" in view.legend.texts()
    # The same reading again redraws nothing.
    assert not view.show_coverage(reading.covered[12.0], reading.demand, 12.0)

    window.coverage_cell_actions[8.0].trigger()
    assert view.coverage_items["covered"].data(0) == int(reading.covered[8.0].sum())

    window.coverage_cell_actions[None].trigger()
    assert view.coverage_items == {} and window.coverage_cells_minutes is None
    assert "Demand covered ≤ 12 min" not in view.legend.texts()


# -- the recommendation's coverage cost ----------------------------------------------------------


def _select_in_person_call(qtbot: Any, window: MainWindow) -> list[str]:
    """Select a waiting call some in-person unit can take; return its ranked units."""
    session, board = window.session, window.board
    assert isinstance(session, LiveSession) and board is not None
    for _ in range(120):
        calls = [r.call_id for r in session.board.queue()
                 if any(u.eta is not None for u in session.recommend(r.call_id).ranked)]
        if calls:
            break
        board.step(1.0)
    else:
        pytest.fail("no waiting call an in-person unit can take")
    with qtbot.waitSignal(board.recommendation_shown, timeout=10_000):
        board.select_call(calls[0], origin="test")
    return board.recommendation.ranked_units()


def test_cover_column_shows_the_ports_costs_and_a_dash_for_phone_units(
    qtbot: Any, demo_window: Callable[..., MainWindow],
) -> None:
    port = FakeCoverage()
    window = demo_window(coverage=port)
    _wait_reading(qtbot, window)
    board = window.board
    assert board is not None
    ranked = _select_in_person_call(qtbot, window)
    model = board.recommendation.ranked_model
    qtbot.waitUntil(lambda: model.costs is not None, timeout=10_000)
    column = model.column_of(COVER_TITLE)
    assert not board.recommendation.ranked_view.isColumnHidden(column)
    assert model.costs is not None
    for row, unit_id in enumerate(ranked):
        text = model.cell_text(row, column)
        if model.row_at(row).eta is None:
            assert text == "—"
        else:
            assert text == f"{100 * model.costs[unit_id]:.1f}"


def test_cover_column_equals_the_services_coverage_costs(
    qtbot: Any, demo_window: Callable[..., MainWindow], service: LiveCoverage,
) -> None:
    window = demo_window(coverage=_adapter(service))
    reading = _wait_reading(qtbot, window)
    board, session = window.board, window.session
    assert board is not None and session is not None
    ranked = _select_in_person_call(qtbot, window)
    model = board.recommendation.ranked_model
    qtbot.waitUntil(lambda: model.costs is not None, timeout=10_000)
    snapshot = coverage_snapshot(session.board, session.now, 0)
    nodes, ids = service.nodes([UnitPosition(u.unit_id, GeoPoint(u.lat, u.lon))
                                for u in snapshot.units])
    hour = service.hour_of_week(reading.at)
    costs = service.planner.coverage_costs(nodes, service.weights(hour), 12.0).cost_share
    expected = dict(zip(ids, costs, strict=True))
    column = model.column_of(COVER_TITLE)
    checked = 0
    for row, unit_id in enumerate(ranked):
        if model.row_at(row).eta is None:
            assert model.cell_text(row, column) == "—"
        elif unit_id in expected:
            assert model.cell_text(row, column) == f"{100 * expected[unit_id]:.1f}"
            checked += 1
    assert checked >= 1


def test_without_a_coverage_port_the_cover_column_and_dock_stay_out(
    qtbot: Any, demo_window: Callable[..., MainWindow],
) -> None:
    window = demo_window()
    board = window.board
    assert board is not None and window.coverage is None and "coverage" not in window.docks
    column = board.recommendation.ranked_model.column_of(COVER_TITLE)
    assert board.recommendation.ranked_view.isColumnHidden(column)
    assert window.coverage_cell_actions == {}
