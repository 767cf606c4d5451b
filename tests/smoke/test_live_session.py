"""The live session on the demo city: queue, recommendation, assignment rules, store, commands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from heartops.core.board import BoardChange
from heartops.core.commands import (
    AckCommand,
    AssignCommand,
    CheckInCommand,
    CloseCommand,
    CommandError,
    NoteCommand,
    StatusCommand,
    complete,
    parse_command,
)
from heartops.core.errors import (
    AssignmentConflict,
    HeartopsError,
    InvalidTransition,
    NotFound,
    OverrideReasonRequired,
)
from heartops.live import LiveSession
from heartops.store import Store, open_store

START = datetime(2025, 6, 4, 14, 0, tzinfo=UTC)  # Wednesday 10:00 in Durham: all open
SEED = 7  # three calls in the first half hour, one of them a welfare check (CRT only)
TICK_S = 0.25  # the app's timer; at 60x a tick is 15 simulated seconds

pytestmark = pytest.mark.usefixtures("demo_city")


def session(*, store: Store | None = None,
            auto_dispatch_after: timedelta | None = None) -> LiveSession:
    return LiveSession.demo(seed=SEED, start=START, store=store,
                            auto_dispatch_after=auto_dispatch_after, speed=60,
                            desk="desk-1", operator="jdoe")


def advance(live: LiveSession, simulated: timedelta) -> list[BoardChange]:
    changes = []
    end = live.now + simulated
    while live.now < end:
        changes.append(live.advance(TICK_S))
    return changes


def welfare_check(live: LiveSession) -> str:
    return next(r.call_id for r in live.board.queue() if r.call.call_type == "welfare_check")


def board_matches_simulation(live: LiveSession) -> None:
    assert set(live.board.calls) == set(live.simulator.open_calls())
    for unit_id, state in live.simulator.unit_states().items():
        shown = live.board.state(unit_id)
        assert (shown.status, shown.call_id, shown.since) == \
            (state.status, state.call_id, state.since), unit_id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'live.db'}") as opened:
        yield opened


# -- the board fills and moves -------------------------------------------------------------------


def test_half_an_hour_fills_the_queue_with_one_notice_per_tick() -> None:
    live = session()
    heard: list[BoardChange] = []
    live.board.subscribe(heard.append)
    changes = advance(live, timedelta(minutes=30))
    assert live.now == START + timedelta(minutes=30) and len(changes) == 120
    assert len(heard) == sum(bool(c) for c in changes)  # at most one notice per advance
    queue = live.board.queue()
    assert len(queue) == 3
    assert [(r.priority.rank, r.call.received_at) for r in queue] == \
        sorted((r.priority.rank, r.call.received_at) for r in queue)
    assert all(r.eligible_programs for r in queue)
    rows = live.board.unit_rows()
    in_person = [r for r in rows if live.tables.program(r.unit.program).in_person
                 and r.status.assignable]
    assert in_person and all(r.avl_age_s is not None and not r.avl_stale for r in in_person)
    assert all(r.zone_id for r in in_person)  # the demo's beats
    board_matches_simulation(live)
    with pytest.raises(ValueError, match="speed"):
        live.speed = 61


def test_assigning_the_top_recommendation_dispatches_the_unit() -> None:
    live = session()
    advance(live, timedelta(minutes=30))
    call_id = welfare_check(live)
    top = live.recommend(call_id).top
    assert top is not None and top.eta is not None
    heard: list[BoardChange] = []
    live.board.subscribe(heard.append)
    assignment = live.assign(top.unit_id, call_id)
    assert (assignment.rank, assignment.override_reason) == (1, None)
    assert (assignment.desk, assignment.operator) == ("desk-1", "jdoe")  # who, for the log
    assert len(heard) == 1 and top.unit_id in heard[0].units and call_id in heard[0].calls
    row = live.board.unit_row(top.unit_id)
    assert (row.state.status, row.call_id) == ("dispatched", call_id)
    assert call_id not in {r.call_id for r in live.board.queue()}
    active = {r.call_id: r for r in live.board.active_calls()}
    assert active[call_id].unit_ids == (top.unit_id,)
    assert active[call_id].assignments == (assignment,)
    # On the way, the unit's marker moves with every tick.
    positions = []
    for _ in range(40):
        change = live.advance(TICK_S)
        if live.board.state(top.unit_id).status == "en_route":
            assert top.unit_id in change.units
            positions.append(live.board.state(top.unit_id).position)
    assert len(positions) > 3 and len(set(positions)) == len(positions)
    board_matches_simulation(live)


def test_a_recommendation_from_a_worker_is_dropped_when_a_newer_one_was_asked() -> None:
    from heartops.core.board import compute_recommendation

    live = session()
    advance(live, timedelta(minutes=30))
    call_id = welfare_check(live)
    older = compute_recommendation(live.recommendation_request(call_id), live.engine)
    newer = compute_recommendation(live.recommendation_request(call_id), live.engine)
    assert not live.is_current(older) and live.is_current(newer)
    assert newer.recommendation is not None and newer.recommendation.top is not None


# -- assignment rules and the store --------------------------------------------------------------


def test_a_non_top_unit_needs_a_reason_which_the_store_keeps(store: Store) -> None:
    live = session(store=store)
    advance(live, timedelta(minutes=30))
    call_id = welfare_check(live)
    ranking = live.recommend(call_id)
    top, second = ranking.ranked[0], ranking.ranked[1]
    with pytest.raises(OverrideReasonRequired, match=f"{top.unit_id} is recommended"):
        live.assign(second.unit_id, call_id)
    assert live.board.is_pending(call_id)
    assert live.board.state(second.unit_id).status == "available"
    assert store.assignments(call_id=call_id) == []
    reason = "CRT-team asked for by the caller's clinician"
    assignment = live.assign(second.unit_id, call_id, override_reason=reason,
                             desk="desk-2", operator="asmith")
    assert (assignment.rank, assignment.override_reason) == (second.rank, reason)
    stored = store.assignments(call_id=call_id)
    assert len(stored) == 1
    record = stored[0]
    assert (record.unit_id, record.override_reason, record.rank, record.recommended_unit_id,
            record.desk, record.operator, record.active) == \
        (second.unit_id, reason, second.rank, top.unit_id, "desk-2", "asmith", True)
    assert store.unit_state(second.unit_id).status == "dispatched"
    advance(live, timedelta(minutes=20))
    assert store.unit_state(second.unit_id).status == live.board.state(second.unit_id).status
    # A panic on the call: the store records the status and the acknowledgement of the alert.
    live.set_status(second.unit_id, "!")  # the emergency key
    assert store.unit_state(second.unit_id).status == "emergency"
    live.acknowledge(f"emergency:{second.unit_id}", operator="asmith")
    acks = store.acknowledgements(unit_id=second.unit_id)
    assert [(a.level.name, a.call_id, a.operator) for a in acks] == \
        [("EMERGENCY", call_id, "asmith")]
    live.set_status(second.unit_id, "available")
    advance(live, timedelta(minutes=5))
    assert store.unit_state(second.unit_id).status == live.board.state(second.unit_id).status
    assert live.store_errors == []


def test_an_assignment_another_desk_made_first_is_not_overwritten(store: Store) -> None:
    live = session(store=store)
    advance(live, timedelta(minutes=30))
    call_id = welfare_check(live)
    other_call = next(r.call_id for r in live.board.queue() if r.call_id != call_id)
    unit_id = live.recommend(call_id).ranked[0].unit_id
    store.assign(unit_id, other_call, at=live.now, desk="desk-2", operator="other")
    with pytest.raises(AssignmentConflict, match=f"already assigned to call {other_call}"):
        live.assign(unit_id, call_id)
    assert live.board.is_pending(call_id)
    assert live.simulator.unit_state(unit_id).status == "available"
    active = store.active_assignment(unit_id)
    assert active is not None and (active.call_id, active.desk) == (other_call, "desk-2")
    assert store.assignments(call_id=call_id) == []


def test_the_unattended_demo_keeps_moving_and_the_store_keeps_up(store: Store) -> None:
    live = session(store=store, auto_dispatch_after=timedelta(minutes=3))
    advance(live, timedelta(hours=2))
    assignments = store.assignments()
    assert len(assignments) >= 3
    assert {a.operator for a in assignments} == {"simulated dispatcher"}
    assert live.store_errors == []
    board_matches_simulation(live)
    stored = {record.unit.unit_id: record.state for record in store.units()}
    for unit_id, state in live.simulator.unit_states().items():
        assert (stored[unit_id].status, stored[unit_id].call_id) == (state.status, state.call_id)
    assert {c.call_id for c in store.open_calls()} == set(live.board.calls)
    assert store.safety_events() and store.ledger()


# -- the command line ----------------------------------------------------------------------------


def test_commands_parse_complete_and_name_what_is_wrong() -> None:
    live = session()
    advance(live, timedelta(minutes=30))
    board = live.board
    call_id = welfare_check(live)
    number = str(int(call_id.rsplit("-", 1)[1]))  # "3" for L7-...-000003
    assert parse_command(f"assign CRT-2 {call_id} closest team is at lunch", board) == \
        AssignCommand("CRT-2", call_id, "closest team is at lunch")
    assert parse_command(f"a crt2 {number}", board) == AssignCommand("CRT-2", call_id)
    assert parse_command(f"a {call_id} CRT-2", board) == AssignCommand("CRT-2", call_id)
    assert parse_command("st CRT-2 S", board) == StatusCommand("CRT-2", "on_scene")
    assert parse_command("status crt-2 out of service", board) == \
        StatusCommand("CRT-2", "out_of_service")
    assert parse_command(f"note {call_id}  caller  waits by the gate", board) == \
        NoteCommand(call_id, "caller  waits by the gate")
    assert parse_command(f"close {call_id} resolved_by_phone", board) == \
        CloseCommand(call_id, ("resolved_by_phone",))
    assert parse_command(f"cl {call_id} transported, referred_to_care_navigation to Duke ER",
                         board) == CloseCommand(
        call_id, ("transported", "referred_to_care_navigation"), "Duke ER")

    def error(text: str) -> str:
        result = parse_command(text, board)
        assert isinstance(result, CommandError), result
        assert "\n" not in result.message
        return result.message

    assert error("asign CRT-2 C-1") == "unknown command 'asign' — did you mean 'assign'?"
    assert error(f"a CRT-22 {call_id}") == "unknown unit 'CRT-22' — did you mean 'CRT-2'?"
    assert "unknown open call 'C-1041'" in error("a CRT-2 C-1041")
    assert error("a CRT-2") == "assign needs a unit and a call: assign UNIT CALL [reason...]"
    assert "unknown status 'onscene2'" in error("st CRT-2 onscene2")
    assert "did you mean 'resolved_by_phone'" in error(f"close {call_id} resolvd_by_phone")
    assert "unknown alert 'emergency:CRT-2'" in error("ack emergency:CRT-2")
    assert error("").startswith("empty command")

    assert complete("as", board) == ["assign "]
    assert complete("", board) == ["assign ", "status ", "note ", "close ", "checkin ",
                                   "ack "]
    free = complete("a ", board)
    assert free[0].startswith("a ") and all(c.endswith(" ") for c in free)
    assert complete(f"a CRT-2 {call_id[:4]}", board) == \
        [f"a CRT-2 {r.call_id} " for r in board.queue()]
    assert complete("st CRT-2 ", board) == ["st CRT-2 out_of_service ", "st CRT-2 emergency "]
    assert complete(f"close {call_id} resolved_by", board) == \
        [f"close {call_id} resolved_by_phone "]
    assert complete("bogus ", board) == []


def test_commands_run_through_the_session() -> None:
    live = session()
    advance(live, timedelta(minutes=30))
    board = live.board
    call_id = welfare_check(live)

    def run(text: str) -> str:
        command = parse_command(text, board)
        assert not isinstance(command, CommandError), command
        return live.execute(command)

    top = live.recommend(call_id).ranked[0].unit_id
    assert run(f"st {top} O") == f"{top} out of service"
    assert board.state(top).status == "out_of_service"
    with pytest.raises(InvalidTransition, match="not allowed"):
        live.set_status(top, "dispatched")
    assert run(f"st {top} A") == f"{top} available"
    with pytest.raises(InvalidTransition, match="reported by the simulated team"):
        live.set_status(top, "dispatched")  # a dispatch is an assignment
    assert run(f"a {top} {call_id}").startswith(f"{top} assigned to {call_id} (rank 1, ")
    assert run(f"note {call_id} gate code 1234") == f"note added to {call_id}"
    assert board.call(call_id).notes[-1].text == "gate code 1234"
    assert board.call(call_id).notes[-1].author == "jdoe"  # the session's operator
    advance(live, timedelta(minutes=5))
    pending = board.queue()[0].call_id
    key = f"waiting:{pending}"
    assert key in {a.key for a in board.alerts()}
    assert run(f"ack {key}") == f"acknowledged {key}"
    assert next(a for a in board.alerts() if a.key == key).acknowledged
    assert isinstance(parse_command(f"ack {pending}", board), AckCommand)
    assert run(f"close {pending} cancelled") == f"{pending} closed: Cancelled before arrival"
    assert pending not in board.calls
    with pytest.raises(NotFound, match="not open"):
        live.close_call(pending, ["cancelled"])
    board_matches_simulation(live)


def test_a_check_in_restarts_the_teams_timer() -> None:
    live = session()
    advance(live, timedelta(minutes=30))
    call_id = welfare_check(live)
    unit_id = live.recommend(call_id).ranked[0].unit_id
    assert live.run_command(f"assign {unit_id} {call_id}").startswith(f"{unit_id} assigned")
    key = f"check_in:{unit_id}"
    due = timedelta(minutes=20)  # CRT's check-in interval (programs.toml)

    def due_soon() -> bool:  # on scene, and due within half a minute of now
        return live.board.state(unit_id).status == "on_scene" and key in {
            a.key for a in live.board.alerts(live.now + due - timedelta(seconds=30))}

    for _ in range(240):  # the team drives there and works the scene, checking in now and then
        if due_soon():
            break
        live.advance(TICK_S)
    assert due_soon()
    live.board.tick()
    assert isinstance(parse_command(f"ci {unit_id.lower()}", live.board), CheckInCommand)
    assert complete("checkin ", live.board)[0].strip() == f"checkin {unit_id}"  # on a call

    assert live.run_command(f"ci {unit_id}") == f"{unit_id} checked in"
    soon = {a.key for a in live.board.alerts(live.now + due - timedelta(seconds=30))}
    later = {a.key for a in live.board.alerts(live.now + due + timedelta(seconds=30))}
    assert key not in soon and key in later  # the timer restarted now

    free = next(u for u in live.board.unit_ids if live.board.state(u).call_id is None)
    with pytest.raises(HeartopsError, match="not on a call"):
        live.run_command(f"checkin {free}")
