"""The live board: messages, change notices, queue order, timers, alerts, recommendation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from heartops.core.avl import AvlFix
from heartops.core.board import (
    AlertKind,
    Board,
    BoardChange,
    BoardThresholds,
    TimerLevel,
    TimerThreshold,
    compute_recommendation,
    minutes,
)
from heartops.core.calls import Call, new_call
from heartops.core.care import FollowUpTask
from heartops.core.clock import ManualClock
from heartops.core.codes import CallStep, Priority, default_tables
from heartops.core.errors import NotFound
from heartops.core.geo import GeoPoint
from heartops.core.ports import Eta
from heartops.core.recommend import Assignment
from heartops.core.safety import AlertLevel, SafetyEvent, SafetyEventKind
from heartops.core.units import Unit, UnitState

TABLES = default_tables()
NY = ZoneInfo("America/New_York")
T0 = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)  # 11:00 in Durham: every program is open
HERE = GeoPoint(35.994, -78.899)
THERE = GeoPoint(36.001, -78.910)
CRT_TEAM = ("clinician", "peer_support", "emt")


def crt(unit_id: str) -> Unit:
    return Unit(unit_id, "CRT", CRT_TEAM, home_post_id="P1")


def state(unit_id: str, status: str = "available", since: datetime = T0,
          call_id: str | None = None, position: GeoPoint | None = HERE) -> UnitState:
    return UnitState(unit_id, status, since, call_id=call_id, position=position)


def call(call_id: str, received: datetime = T0, *, priority: str | None = None,
         call_type: str = "welfare_check") -> Call:
    return new_call(call_id, call_type=call_type, location=HERE, received_at=received,
                    priority=priority)


def fix(unit_id: str, at: datetime, where: GeoPoint = THERE) -> AvlFix:
    return AvlFix(unit_id, where, at.astimezone(UTC))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


QUIET_AVL = BoardThresholds(avl_stale_after=timedelta(days=7))  # keeps AVL out of the way


def new_board(clock: ManualClock, thresholds: BoardThresholds = QUIET_AVL) -> Board:
    board = Board(TABLES, clock, thresholds=thresholds)
    board.load([(crt(f"CRT-{n}"), state(f"CRT-{n}", since=clock.now())) for n in (1, 2, 3)])
    return board


@pytest.fixture
def board(clock: ManualClock) -> Board:
    return new_board(clock)


def record(board: Board) -> list[BoardChange]:
    heard: list[BoardChange] = []
    board.subscribe(heard.append)
    return heard


def keys(board: Board) -> list[str]:
    return [alert.key for alert in board.alerts()]


# -- queue ---------------------------------------------------------------------------------------


def test_queue_says_why_no_program_can_take_a_heart_call(clock: ManualClock) -> None:
    from heartops.core.eligibility import LedgerOutcome

    board = Board(TABLES, clock, service_area=lambda point: point != THERE)
    board.load([(crt("CRT-1"), state("CRT-1", since=clock.now()))])
    board.apply_call(new_call("C-out", call_type="welfare_check", location=THERE,
                              received_at=T0))
    board.apply_call(call("C-in"))
    rows = {r.call_id: r for r in board.queue()}
    assert rows["C-in"].eligible_programs and rows["C-in"].unmet is None
    outside = rows["C-out"]
    assert outside.eligible_programs == () and outside.heart_eligible
    assert outside.unmet is not None
    assert outside.unmet.outcome is LedgerOutcome.OUTSIDE_SERVICE_AREA


def test_queue_orders_by_priority_then_age_across_a_dst_change() -> None:
    # 2025-11-02: clocks go back at 02:00 EDT, so 01:10 EST comes *after* 01:50 EDT.
    first = datetime(2025, 11, 2, 1, 50, tzinfo=NY)                # 05:50Z, EDT
    second = datetime(2025, 11, 2, 1, 10, fold=1, tzinfo=NY)       # 06:10Z, EST
    # The trap: Python compares two datetimes of the same zone by wall clock, ignoring fold.
    assert first > second and first.astimezone(UTC) < second.astimezone(UTC)
    clock = ManualClock(datetime(2025, 11, 2, 7, 0, tzinfo=UTC))
    board = Board(TABLES, clock)
    board.load([(crt("CRT-1"), state("CRT-1", since=clock.now()))], [
        call("C-late-2", second, priority="2"),
        call("C-early-2", first, priority="2"),
        call("C-3", first - timedelta(hours=1), priority="3"),
        call("C-1", second, priority="1"),
        call("C-P", second + timedelta(minutes=5), priority="P"),
    ])
    rows = board.queue()
    assert [r.call_id for r in rows] == ["C-P", "C-1", "C-early-2", "C-late-2", "C-3"]
    assert rows[2].age_s == pytest.approx(70 * 60)
    assert rows[3].age_s == pytest.approx(50 * 60)


def test_queue_shows_eligible_programs_and_only_pending_calls(board: Board) -> None:
    board.apply_call(call("C-1"))
    board.apply_call(call("C-2", call_type="crisis_call_diversion"))
    rows = {r.call_id: r for r in board.queue()}
    assert rows["C-1"].eligible_programs == ("CRT",)
    assert rows["C-2"].eligible_programs == ("CCD",)
    assert board.eligibility("C-1").eligible_programs == ("CRT",)
    change = board.apply_unit_state(state("CRT-1", "dispatched", T0, "C-1"))
    assert change.calls == {"C-1"} and change.units == {"CRT-1"}
    assert [r.call_id for r in board.queue()] == ["C-2"]
    assert [(r.call_id, r.unit_ids) for r in board.active_calls()] == [("C-1", ("CRT-1",))]
    cleared = board.call("C-1").record(CallStep.DISPATCHED, T0).close(
        T0, dispositions=["resolved_on_scene"])
    assert board.apply_call(cleared).calls == {"C-1"}
    assert board.active_calls() == [] and "C-1" not in board.calls
    with pytest.raises(NotFound, match="C-1"):
        board.call("C-1")


def test_call_wait_levels_cross_thresholds_as_the_clock_advances(board: Board,
                                                                 clock: ManualClock) -> None:
    board.apply_call(call("C-1", priority="1"))
    board.apply_call(call("C-2", priority="2"))
    levels = {r.call_id: r.level for r in board.queue()}
    assert levels == {"C-1": TimerLevel.NORMAL, "C-2": TimerLevel.NORMAL}
    clock.advance(minutes=2)
    assert board.tick() == BoardChange(calls=frozenset({"C-1"}))  # P1 warns at 2 min
    clock.advance(minutes=1)
    assert board.tick() == BoardChange()  # nothing crossed
    clock.advance(minutes=2)
    change = board.tick()
    assert change.calls == {"C-1", "C-2"} and change.alerts_changed  # P1 alert, P2 warning
    assert {r.call_id: r.level for r in board.queue()} == {"C-1": TimerLevel.ALERT,
                                                             "C-2": TimerLevel.WARNING}
    assert keys(board) == ["waiting:C-1"]
    assert "waiting 5 min (alert at 5 min)" in board.alerts()[0].text


# -- units ---------------------------------------------------------------------------------------


def test_time_in_status_levels_per_status(board: Board, clock: ManualClock) -> None:
    board.apply_call(call("C-1"))
    board.apply_unit_state(state("CRT-1", "dispatched", T0, "C-1"))
    clock.advance(minutes=2)
    assert board.tick().units == {"CRT-1"}  # dispatched warns after 2 min
    row = board.unit_row("CRT-1")
    assert (row.status.label, row.status_level, row.time_in_status_s) == \
        ("Dispatched", TimerLevel.WARNING, 120.0)
    clock.advance(minutes=3)
    board.tick()
    assert board.unit_row("CRT-1").status_level is TimerLevel.ALERT
    assert "status:CRT-1" in keys(board)
    board.apply_unit_state(state("CRT-1", "en_route", clock.now(), "C-1"))
    assert board.unit_row("CRT-1").status_level is TimerLevel.NORMAL
    assert "status:CRT-1" not in keys(board)
    assert board.unit_row("CRT-2").status_level is TimerLevel.NORMAL  # available: no timer


def test_a_stale_state_message_is_ignored_and_positions_merge(board: Board,
                                                              clock: ManualClock) -> None:
    clock.advance(minutes=1)
    board.apply_fixes([fix("CRT-1", clock.now())])
    board.apply_unit_state(state("CRT-1", "out_of_service", clock.now(), position=HERE))
    assert board.state("CRT-1").position == THERE  # the fix is newer than the message's
    assert board.apply_unit_state(state("CRT-1", "available", T0)) == BoardChange()
    assert board.state("CRT-1").status == "out_of_service"
    with pytest.raises(NotFound, match="CRT-9"):
        board.apply_unit_state(state("CRT-9"))
    added = board.apply_unit_state(state("CRT-9", since=clock.now()), unit=crt("CRT-9"))
    assert added.units == {"CRT-9"} and board.unit_ids[-1] == "CRT-9"


def test_fixes_apply_as_one_batch_with_exactly_the_moved_units(board: Board,
                                                               clock: ManualClock) -> None:
    heard = record(board)
    clock.advance(seconds=10)
    t = clock.now()
    change = board.apply_fixes([
        fix("CRT-1", t - timedelta(seconds=2), GeoPoint(35.995, -78.9)),
        fix("CRT-1", t, THERE),                       # the latest of CRT-1 wins
        fix("CRT-2", t, HERE),                        # reported, did not move
        fix("CRT-7", t, THERE),                       # not on the board
        fix("CRT-3", t - timedelta(seconds=1), THERE),
    ])
    assert change == BoardChange(units=frozenset({"CRT-1", "CRT-3"}))
    assert heard == [change]
    assert board.state("CRT-1").position == THERE
    assert board.state("CRT-2").last_avl_at == t
    assert board.apply_fixes([fix("CRT-1", t - timedelta(seconds=5), HERE)]) == BoardChange()
    assert board.state("CRT-1").position == THERE  # an old fix does not pull it back
    assert board.available_units() == {"CRT-1": THERE, "CRT-2": HERE, "CRT-3": THERE}


def test_avl_goes_stale_after_sixty_seconds_and_a_fix_clears_it(clock: ManualClock) -> None:
    board = new_board(clock, BoardThresholds())
    board.apply_unit_state(state("CRT-3", "out_of_service"))  # not expected to report
    clock.advance(seconds=60)
    assert board.tick() == BoardChange()
    assert not board.unit_row("CRT-1").avl_stale
    clock.advance(seconds=1)
    change = board.tick()
    assert change.units == {"CRT-1", "CRT-2"} and change.alerts_changed
    row = board.unit_row("CRT-1")
    assert row.avl_stale and row.avl_age_s is None
    assert keys(board) == ["avl:CRT-1", "avl:CRT-2"]
    change = board.apply_fixes([fix("CRT-1", clock.now(), HERE)])
    assert change.units == {"CRT-1"} and change.alerts_changed  # same place, fresh again
    assert keys(board) == ["avl:CRT-2"]
    clock.advance(seconds=30)
    assert board.unit_row("CRT-1").avl_age_s == 30.0
    stricter = Board(TABLES, clock, thresholds=BoardThresholds(
        avl_stale_after=timedelta(seconds=10)))
    stricter.load([(crt("CRT-1"), state("CRT-1", since=clock.now()))])
    clock.advance(seconds=11)
    assert stricter.unit_row("CRT-1").avl_stale


# -- alerts --------------------------------------------------------------------------------------


def test_emergency_is_the_top_alert_and_stays_until_the_status_changes(
        board: Board, clock: ManualClock) -> None:
    board = new_board(clock, BoardThresholds())
    board.apply_call(call("C-1", priority="1"))
    clock.advance(minutes=10)  # C-1 is waiting past its alert, CRT units are stale
    board.apply_unit_state(state("CRT-2", "emergency", clock.now()))
    alerts = board.alerts()
    assert alerts[0].key == "emergency:CRT-2"
    assert (alerts[0].kind, alerts[0].level, alerts[0].safety_level) == \
        (AlertKind.EMERGENCY, TimerLevel.ALERT, AlertLevel.EMERGENCY)
    assert [a.kind for a in alerts] == sorted((a.kind for a in alerts), key=lambda k: k.rank)
    board.acknowledge("emergency:CRT-2", clock.now(), "desk-1", "jdoe")
    clock.advance(hours=5)
    board.tick()
    top = board.alerts()[0]
    assert top.key == "emergency:CRT-2" and top.acknowledged  # acknowledged, never cleared
    top_unacknowledged = board.top_alert()
    assert top_unacknowledged is not None and top_unacknowledged.key != "emergency:CRT-2"
    change = board.apply_unit_state(state("CRT-2", "available", clock.now()))
    assert change.alerts_changed and "emergency:CRT-2" not in keys(board)


def test_check_in_ladder_escalates_with_silence(board: Board, clock: ManualClock) -> None:
    board.apply_call(call("C-1"))
    board.apply_unit_state(state("CRT-1", "on_scene", T0, "C-1"))
    board.apply_safety(SafetyEvent(SafetyEventKind.ON_SCENE, T0, "CRT-1", "C-1", "CRT"))
    board.apply_fixes([fix(f"CRT-{n}", T0) for n in (1, 2, 3)])

    def check_in() -> tuple[TimerLevel, AlertLevel | None] | None:
        for alert in board.alerts():
            if alert.key == "check_in:CRT-1":
                return alert.level, alert.safety_level
        return None

    seen = []
    for minute in (19, 20, 30, 40):  # CRT: due at 20, supervisor at 30, backup at 40
        clock.set(T0 + timedelta(minutes=minute))
        board.apply_fixes([fix(f"CRT-{n}", clock.now()) for n in (1, 2, 3)])
        seen.append(check_in())
    assert seen == [None, (TimerLevel.WARNING, AlertLevel.CHECK_IN_DUE),
                    (TimerLevel.ALERT, AlertLevel.SUPERVISOR),
                    (TimerLevel.ALERT, AlertLevel.BACKUP_RECOMMENDED)]
    board.apply_safety(SafetyEvent(SafetyEventKind.CHECK_IN, clock.now(), "CRT-1"))
    assert check_in() is None


def test_acknowledgement_is_recorded_and_an_escalation_needs_a_new_one(
        board: Board, clock: ManualClock) -> None:
    board.apply_unit_state(state("CRT-1", "on_scene", T0, "C-9"))
    board.apply_safety(SafetyEvent(SafetyEventKind.ON_SCENE, T0, "CRT-1", "C-9", "CRT"))
    clock.set(T0 + timedelta(minutes=21))
    board.apply_fixes([fix("CRT-1", clock.now())])
    heard = record(board)
    change = board.acknowledge("check_in:CRT-1", clock.now(), "desk-2", "asmith",
                               note="called the team")
    assert change.alerts_changed and heard == [change]
    alert = next(a for a in board.alerts() if a.key == "check_in:CRT-1")
    assert alert.acknowledged and alert.acknowledgement is not None
    assert (alert.acknowledgement.desk, alert.acknowledgement.operator) == ("desk-2", "asmith")
    assert board.acknowledgements[-1].note == "called the team"
    clock.set(T0 + timedelta(minutes=31))
    board.apply_fixes([fix("CRT-1", clock.now())])
    alert = next(a for a in board.alerts() if a.key == "check_in:CRT-1")
    assert alert.safety_level is AlertLevel.SUPERVISOR and not alert.acknowledged
    with pytest.raises(NotFound, match="no alert 'avl:CRT-3'"):
        board.acknowledge("avl:CRT-3", clock.now(), "desk-2", "asmith")  # AVL is quiet here
    # The alert ends; a new silence is a new occurrence that must be seen again.
    board.apply_safety(SafetyEvent(SafetyEventKind.CHECK_IN, clock.now(), "CRT-1"))
    assert "check_in:CRT-1" not in keys(board)
    clock.set(T0 + timedelta(minutes=52))
    board.apply_fixes([fix("CRT-1", clock.now())])
    alert = next(a for a in board.alerts() if a.key == "check_in:CRT-1")
    assert not alert.acknowledged and len(board.acknowledgements) == 1


def test_follow_up_turns_to_warning_then_overdue(board: Board, clock: ManualClock) -> None:
    task = FollowUpTask("C-1-FU", "C-1", T0, T0 + timedelta(hours=72))
    assert board.apply_follow_up(task).follow_ups == {"C-1-FU"}
    board.apply_fixes([fix(f"CRT-{n}", T0) for n in (1, 2, 3)])
    assert board.follow_ups()[0].level is TimerLevel.NORMAL
    clock.set(T0 + timedelta(hours=60))
    assert board.tick().follow_ups == {"C-1-FU"}
    assert board.follow_ups()[0].level is TimerLevel.WARNING
    clock.set(T0 + timedelta(hours=73))
    change = board.tick()
    assert change.follow_ups == {"C-1-FU"} and change.alerts_changed
    assert board.follow_ups()[0].time_left_s == -3600
    overdue = next(a for a in board.alerts() if a.kind is AlertKind.FOLLOW_UP)
    assert overdue.key == "follow_up:C-1-FU" and "overdue by 1 h 00 min" in overdue.text
    done = task.complete(clock.now(), connected=True)
    assert board.apply_follow_up(done).follow_ups == {"C-1-FU"}
    assert board.follow_ups() == [] and "follow_up:C-1-FU" not in keys(board)


# -- change notices ------------------------------------------------------------------------------


def test_subscribers_hear_once_per_message_and_once_per_batch(board: Board) -> None:
    heard = record(board)
    board.apply_call(call("C-1"))
    board.apply_unit_state(state("CRT-1", "dispatched", T0, "C-1"))
    assert [c.calls for c in heard] == [{"C-1"}, {"C-1"}]
    assert board.apply_call(board.call("C-1")) == BoardChange()  # nothing new: not announced
    assert len(heard) == 2
    with board.batch() as batch:
        board.apply_call(call("C-2"))
        board.apply_unit_state(state("CRT-2", "out_of_service"))
        with board.batch():
            board.apply_call(call("C-3"))
        assert len(heard) == 2  # nothing until the outermost batch ends
    assert len(heard) == 3
    assert heard[-1] == batch.change
    assert batch.change.calls == {"C-2", "C-3"} and batch.change.units == {"CRT-2"}
    stop = board.subscribe(heard.append)
    stop()
    stop()  # twice is harmless
    board.apply_call(call("C-4"))
    assert len(heard) == 4  # the first subscription only


def test_assignment_context_is_kept_while_the_unit_is_on_the_call(board: Board) -> None:
    board.apply_call(call("C-1"))
    assignment = Assignment("C-1", "CRT-2", "CRT", T0, 2, "CRT-1", "CRT-1 is low on fuel",
                            300.0, "CRT-2 · 5.0 min")
    board.apply_assignment(assignment)
    board.apply_unit_state(state("CRT-2", "dispatched", T0, "C-1"))
    assert board.active_calls()[0].assignments == (assignment,)
    assert board.assignment_of("CRT-2") == assignment
    board.apply_unit_state(state("CRT-2", "available", T0 + timedelta(minutes=1)))
    assert board.assignment_of("CRT-2") is None
    assert board.queue()[0].call_id == "C-1"  # back in the queue


# -- recommendation ------------------------------------------------------------------------------


class FakeTravelTimes:
    def __init__(self, minutes_by_unit: Mapping[str, float]) -> None:
        self.minutes = minutes_by_unit
        self.asked: list[set[str]] = []

    def etas_to(self, call: GeoPoint, units: Mapping[str, GeoPoint]) -> dict[str, Eta]:
        self.asked.append(set(units))
        return {u: Eta(u, self.minutes[u] * 60, 1000.0, 5.0) for u in units}


def test_recommendation_request_and_result(board: Board, clock: ManualClock) -> None:
    board.apply_call(call("C-1"))
    board.apply_unit_state(state("CRT-3", "out_of_service"))
    request = board.recommendation_request("C-1", serial=7)
    assert request.serial == 7 and request.eligibility.eligible_programs == ("CRT",)
    assert set(request.positions) == {"CRT-1", "CRT-2"}  # only free units need drive times
    with pytest.raises(AttributeError):
        request.serial = 8  # type: ignore[misc]
    travel = FakeTravelTimes({"CRT-1": 9.0, "CRT-2": 4.0})
    result = compute_recommendation(request, travel)
    assert travel.asked == [{"CRT-1", "CRT-2"}]
    assert result.recommendation is not None and result.error is None
    assert [r.unit_id for r in result.recommendation.ranked] == ["CRT-2", "CRT-1"]
    assert result.recommendation.left_out_unit("CRT-3") is not None
    assert result.stale_reason(BoardChange(units=frozenset({"CRT-9"})), board) is None
    assert result.stale_reason(BoardChange(units=frozenset({"CRT-1"})), board) == "CRT-1 moved"
    # CRT-3 was left out as out of service; its move alone changes nothing ...
    assert result.stale_reason(BoardChange(units=frozenset({"CRT-3"})), board) is None
    # ... its return to service does: a new candidate.
    board.apply_unit_state(state("CRT-3", "available", T0 + timedelta(minutes=1)))
    assert result.stale_reason(BoardChange(units=frozenset({"CRT-3"})),
                               board) == "CRT-3 now free"


def test_a_travel_time_failure_comes_back_as_an_error(board: Board) -> None:
    from heartops.core.errors import SnapError

    class Failing:
        def etas_to(self, call: GeoPoint, units: Mapping[str, GeoPoint]) -> dict[str, Eta]:
            raise SnapError("call at (1, 1) is 9,000 m from the nearest road")

    board.apply_call(call("C-1"))
    result = compute_recommendation(board.recommendation_request("C-1", 1), Failing())
    assert result.recommendation is None and "nearest road" in (result.error or "")


# -- thresholds ----------------------------------------------------------------------------------


def test_thresholds_have_documented_defaults_and_refuse_nonsense() -> None:
    defaults = BoardThresholds()
    assert defaults.call_wait[Priority.ONE] == minutes(2, 5)
    assert defaults.call_wait[Priority.TWO] == minutes(5, 10)
    assert defaults.call_wait[Priority.THREE] == minutes(10, 20)
    assert defaults.avl_stale_after == timedelta(seconds=60)
    assert defaults.status_level("available", timedelta(days=3)) is TimerLevel.NORMAL
    assert defaults.status_level("emergency", timedelta()) is TimerLevel.ALERT
    with pytest.raises(ValueError, match="warning <= alert"):
        TimerThreshold(timedelta(minutes=5), timedelta(minutes=2))
    with pytest.raises(ValueError, match="avl_stale_after"):
        BoardThresholds(avl_stale_after=timedelta())
    custom = BoardThresholds(call_wait={Priority.ONE: minutes(1, 2)})
    assert custom.wait_level(Priority.ONE, timedelta(minutes=1)) is TimerLevel.WARNING
    assert custom.wait_level(Priority.TWO, timedelta(hours=9)) is TimerLevel.NORMAL
