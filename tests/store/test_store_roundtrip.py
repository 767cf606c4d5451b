"""Core values in, the same core values out: units, calls, steps, notes, dispositions, care."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from store_helpers import DESK, T0, call, crt, minutes

from heartops.core.avl import AvlFix
from heartops.core.calls import CallStep
from heartops.core.clock import DailyWindow
from heartops.core.eligibility import LedgerEntry, LedgerOutcome, ScreenReason
from heartops.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    OverrideReasonRequired,
    UnknownCodeError,
)
from heartops.core.geo import GeoPoint
from heartops.core.safety import AlertLevel, SafetyEvent, SafetyEventKind, SafetyMonitor
from heartops.core.units import Unit, UnitState
from heartops.store import Store


def test_units_round_trip(store: Store) -> None:
    night = Unit("COR-7", "COR", team=("police_officer", "clinician"),
                 capabilities=frozenset({"spanish", "naloxone"}), home_post_id="P-3",
                 shift=DailyWindow(time(20), time(4), frozenset({4, 5})), name="Night COR")
    day = crt("CRT-2", capabilities=frozenset({"transport"}))
    records = store.add_units([night, day], at=T0, **DESK)
    assert [r.version for r in records] == [1, 1]
    stored = {r.unit.unit_id: r for r in store.units()}
    assert stored["COR-7"].unit == night
    assert stored["CRT-2"].unit == day
    assert stored["COR-7"].state == UnitState("COR-7", "available", T0)
    assert store.unit_state("CRT-2") == UnitState("CRT-2", "available", T0)


def test_adding_a_unit_again_updates_its_roster_not_its_state(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.set_status("CRT-1", "out_of_service", minutes(5), **DESK)
    store.add_units([crt(name="Team One")], at=minutes(9), **DESK)
    record = store.unit("CRT-1")
    assert record.unit.name == "Team One"
    assert record.state.status == "out_of_service"
    assert [a.action for a in store.audit("unit", "CRT-1")] == ["create", "status", "roster"]


def test_unknown_codes_and_ids_are_refused(store: Store) -> None:
    with pytest.raises(UnknownCodeError):
        store.add_units([Unit("X-1", "NOPE")], at=T0, **DESK)
    with pytest.raises(NotFound, match="no unit 'X-9'"):
        store.unit("X-9")
    with pytest.raises(NotFound, match="no call 'C-404'"):
        store.call("C-404")
    with pytest.raises(UnknownCodeError):
        store.create_call(call(call_type="haunting"), **DESK)


def test_call_lifecycle_round_trip(store: Store) -> None:
    store.add_units([crt("CRT-1"), crt("CRT-2")], at=T0, **DESK)
    new = call("C-1", flags=["intoxication", "repeat_location"], needs=["spanish"],
               zone_id="D2-B5", address="101 City Hall Plaza")
    assert store.create_call(new, **DESK) == new
    store.record_step("C-1", CallStep.TRIAGED, minutes(1), **DESK)
    store.assign("CRT-1", "C-1", at=minutes(2), rank=1, recommended_unit="CRT-1",
                 explanation="CRT-1 · 6.4 min · 3.1 km", eta_seconds=384.0, **DESK)
    store.set_status("CRT-1", "en_route", minutes(3), **DESK)
    store.set_status("CRT-1", "on_scene", minutes(9), **DESK)
    store.assign("CRT-2", "C-1", at=minutes(10), rank=2, recommended_unit="CRT-1",
                 override_reason="second team for a large scene", **DESK)
    store.add_note("C-1", "  neighbour says he has not eaten in days  ", minutes(11), **DESK)
    store.set_status("CRT-1", "transporting", minutes(30), **DESK)
    closed = store.close_call("C-1", minutes(50), dispositions=["transported", "connected_to_care"],
                              destination="Durham Recovery Response Center", **DESK)
    got = store.call("C-1")
    assert got == closed.call
    assert [step for step, _ in got.steps] == [
        CallStep.RECEIVED, CallStep.TRIAGED, CallStep.DISPATCHED, CallStep.EN_ROUTE,
        CallStep.ON_SCENE, CallStep.TRANSPORT, CallStep.CLEARED]
    assert got.time_of(CallStep.DISPATCHED) == minutes(2)
    assert got.to_scene == timedelta(minutes=7)
    assert got.flags == frozenset({"intoxication", "repeat_location"})
    assert got.needs == frozenset({"spanish"})
    assert (got.zone_id, got.address) == ("D2-B5", "101 City Hall Plaza")
    assert got.dispositions == ("transported", "connected_to_care")
    assert got.destination == "Durham Recovery Response Center"
    assert got.unit_ids == ("CRT-1", "CRT-2")
    assert [(n.text, n.author) for n in got.notes] == [
        ("neighbour says he has not eaten in days", "dispatcher-a")]
    assert closed.follow_up is None
    assert {r.unit_id for r in closed.released} == {"CRT-1", "CRT-2"}
    assert store.open_calls() == []
    assert [u.state.status for u in store.units()] == ["available", "available"]
    second = store.assignments(call_id="C-1")[1]
    assert (second.rank, second.override_reason, second.is_override) == (
        2, "second team for a large scene", True)


def test_open_calls_most_urgent_first(store: Store) -> None:
    store.create_call(call("C-1", minutes=0), **DESK)
    store.create_call(call("C-2", minutes=1, call_type="suicide_threat"), **DESK)
    store.create_call(call("C-3", minutes=2, priority="P", call_type="assault_in_progress"),
                      **DESK)
    assert [c.call_id for c in store.open_calls()] == ["C-3", "C-2", "C-1"]
    assert [c.call_id for c in store.calls(received_from=minutes(1))] == ["C-2", "C-3"]
    with pytest.raises(Conflict, match="call C-1 already exists"):
        store.create_call(call("C-1"), **DESK)


def test_lifecycle_rules_still_hold_in_the_store(store: Store) -> None:
    store.create_call(call("C-1"), **DESK)
    with pytest.raises(InvalidTransition, match="en_route needs dispatched"):
        store.record_step("C-1", "en_route", minutes(1), **DESK)
    with pytest.raises(InvalidTransition, match="close"):
        store.record_step("C-1", "cleared", minutes(1), **DESK)
    with pytest.raises(ValueError, match="needs a destination"):
        store.close_call("C-1", minutes(5), dispositions=["transported"], **DESK)
    store.close_call("C-1", minutes(5), dispositions=["resolved_by_phone"], **DESK)
    store.add_note("C-1", "called back, doing fine", minutes(60), **DESK)  # after clearing: ok
    with pytest.raises(InvalidTransition, match="already recorded"):
        store.close_call("C-1", minutes(70), dispositions=["cancelled"], **DESK)
    assert store.call("C-1").dispositions == ("resolved_by_phone",)


def test_referral_opens_a_follow_up_that_round_trips(store: Store) -> None:
    store.create_call(call("C-7"), **DESK)
    closed = store.close_call("C-7", minutes(40), dispositions=["referred_to_care_navigation"],
                              care_needs=["housing", "food_security"], **DESK)
    task = closed.follow_up
    assert task is not None
    assert (task.task_id, task.due_at) == ("C-7-FU", minutes(40) + timedelta(hours=72))
    assert store.follow_ups(open_only=True) == [task]
    store.record_follow_up_attempt("C-7-FU", minutes(60 * 24), **DESK)
    done = store.complete_follow_up("C-7-FU", minutes(60 * 26), connected=True,
                                    note="housing intake booked", **DESK)
    assert store.follow_up("C-7-FU") == done
    assert done.attempts == (minutes(60 * 24),)
    assert done.first_contact_at == minutes(60 * 24)
    assert (done.connected, done.note) == (True, "housing intake booked")
    assert store.follow_ups(open_only=True) == []
    with pytest.raises(InvalidTransition, match="already completed"):
        store.complete_follow_up("C-7-FU", minutes(60 * 27), connected=False, **DESK)
    actions = [r.action for r in store.audit("follow_up", "C-7-FU")]
    assert actions == ["create", "attempt", "complete"]


def test_on_view_arrival_creates_an_assignment_and_dispatched_step(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.create_call(call("C-1", minutes=5), **DESK)
    store.set_status("CRT-1", "on_scene", minutes(6), call_id="C-1", **DESK)
    got = store.call("C-1")
    assert got.time_of(CallStep.DISPATCHED) == got.time_of(CallStep.ON_SCENE) == minutes(6)
    active = store.active_assignment("CRT-1")
    assert active is not None and active.call_id == "C-1"


def test_status_without_a_call_releases_the_assignment(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    store.assign("CRT-1", "C-1", at=minutes(1), **DESK)
    store.set_status("CRT-1", "available", minutes(2), **DESK)  # cancelled en route
    (record,) = store.assignments(unit_id="CRT-1")
    assert (record.active, record.released_at, record.release_reason) == (
        False, minutes(2), "status available")
    assert store.call("C-1").is_open


def test_divert_moves_the_assignment_to_the_new_call(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    store.create_call(call("C-2", minutes=3, call_type="suicide_threat"), **DESK)
    store.assign("CRT-1", "C-1", at=minutes(1), **DESK)
    store.set_status("CRT-1", "en_route", minutes(2), **DESK)
    record = store.set_status("CRT-1", "dispatched", minutes(4), call_id="C-2", **DESK)
    assert record.state.call_id == "C-2"
    history = store.assignments(unit_id="CRT-1")
    assert [(a.call_id, a.active) for a in history] == [("C-1", False), ("C-2", True)]


def test_release_frees_the_unit(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    store.assign("CRT-1", "C-1", at=minutes(1), **DESK)
    store.set_status("CRT-1", "on_scene", minutes(1.5), **DESK)
    released = store.release("CRT-1", minutes(2), to_status="out_of_service", **DESK)
    assert (released.active, released.release_reason) == (False, "released to out_of_service")
    assert store.unit_state("CRT-1").status == "out_of_service"
    with pytest.raises(InvalidTransition, match="no active assignment"):
        store.release("CRT-1", minutes(3), **DESK)
    with pytest.raises(InvalidTransition, match="without a call"):
        store.release("CRT-1", minutes(3), to_status="on_scene", **DESK)


def test_assign_refuses_overrides_without_reason_and_cleared_calls(store: Store) -> None:
    store.add_units([crt("CRT-1"), crt("CRT-2")], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    with pytest.raises(OverrideReasonRequired, match="CRT-1 is"):
        store.assign("CRT-2", "C-1", at=minutes(1), rank=2, recommended_unit="CRT-1", **DESK)
    store.close_call("C-1", minutes(2), dispositions=["cancelled"], **DESK)
    with pytest.raises(InvalidTransition, match="cleared"):
        store.assign("CRT-1", "C-1", at=minutes(3), **DESK)
    assert store.assignments() == []


def test_a_call_with_a_unit_in_emergency_cannot_be_closed(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    store.assign("CRT-1", "C-1", at=minutes(1), **DESK)
    store.set_status("CRT-1", "on_scene", minutes(5), **DESK)
    store.set_status("CRT-1", "emergency", minutes(6), **DESK)
    with pytest.raises(InvalidTransition, match="CRT-1 is in emergency on call C-1"):
        store.close_call("C-1", minutes(7), dispositions=["pd_backup_requested"], **DESK)
    assert store.call("C-1").is_open
    assert store.unit_state("CRT-1").status == "emergency"


def test_reclassify(store: Store) -> None:
    store.create_call(call("C-1"), **DESK)
    changed = store.reclassify_call("C-1", priority="1", flags=["weapon"], **DESK)
    assert store.call("C-1") == changed
    assert changed.flags == frozenset({"weapon"})
    last = store.audit("call", "C-1")[-1]
    assert last.action == "reclassify"
    assert last.before is not None and last.after is not None
    assert (last.before["priority"], last.before["flags"]) == ("2", [])
    assert (last.after["priority"], last.after["flags"]) == ("1", ["weapon"])


def test_safety_events_replay_into_the_same_monitor(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    monitor = SafetyMonitor()
    monitor.on_scene("CRT-1", minutes(10), call_id="C-1", program="CRT")
    monitor.check_in("CRT-1", minutes(25))
    monitor.pd_backup_requested("C-1", minutes(30), unit_id="CRT-1")
    monitor.emergency("CRT-1", minutes(31))
    assert store.record_safety_events(monitor.events, **DESK) == 4
    events = store.safety_events()
    assert tuple(events) == monitor.events
    replayed = SafetyMonitor.replay(events)
    assert replayed.alerts(minutes(40)) == monitor.alerts(minutes(40))
    assert replayed.records() == monitor.records()
    assert store.safety_events(since=minutes(30)) == list(monitor.events[2:])
    with pytest.raises(NotFound, match="no unit 'CRT-404'"):
        store.record_safety_events([SafetyEvent(SafetyEventKind.CHECK_IN, minutes(32),
                                                "CRT-404")], **DESK)


def test_alert_acknowledgement_is_stored_and_audited(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    ack = store.acknowledge_alert("CRT-1", AlertLevel.SUPERVISOR, minutes(30), call_id="C-1",
                                  note="radioed, team fine", **DESK)
    assert store.acknowledgements() == [ack]
    assert (ack.level, ack.note, ack.desk) == (AlertLevel.SUPERVISOR, "radioed, team fine",
                                               "desk-1")
    (row,) = store.audit("alert", "CRT-1")
    assert row.action == "acknowledge" and row.after is not None
    assert row.after["level"] == "SUPERVISOR"
    with pytest.raises(NotFound, match="unknown alert level"):
        store.acknowledge_alert("CRT-1", "sleepy", minutes(31), **DESK)


def test_ledger_entries_are_replaced_per_call(store: Store) -> None:
    store.create_call(call("C-1"), **DESK)
    first = LedgerEntry("C-1", minutes(1), LedgerOutcome.NO_TEAM_AVAILABLE, None, ("CRT",))
    again = LedgerEntry("C-1", minutes(2), LedgerOutcome.OUTSIDE_HOURS,
                        ScreenReason.OUTSIDE_PROGRAM_HOURS, ("CRT", "COR"))
    assert store.record_ledger([first]) == 1
    assert store.ledger() == [first]
    store.record_ledger([again])
    assert store.ledger() == [again]


def test_avl_fixes_bulk_and_positions_only_move_forward(store: Store) -> None:
    store.add_units([crt("CRT-1"), crt("CRT-2")], at=T0, **DESK)
    version = store.unit("CRT-1").version

    def fix(unit: str, minute: float, lat: float) -> AvlFix:
        return AvlFix(unit, GeoPoint(lat, -78.9), minutes(minute), speed_mps=11.0,
                      heading_deg=90.0, source="test")

    batch = [fix("CRT-1", m, 35.90 + m / 1000) for m in range(10)] + [fix("CRT-2", 5, 36.0),
                                                                      fix("GHOST", 5, 36.0)]
    result = store.record_fixes(batch)
    assert (result.stored, result.duplicates, result.unknown_units) == (11, 0, frozenset({"GHOST"}))
    again = store.record_fixes([fix("CRT-1", 9, 35.909), fix("CRT-1", 3, 35.0)])
    assert (again.stored, again.duplicates) == (0, 2)
    late = store.record_fixes([fix("CRT-1", 2.5, 35.5)])  # older than the last: stored only
    assert late.stored == 1
    state = store.unit_state("CRT-1")
    assert (state.position, state.last_avl_at) == (GeoPoint(35.909, -78.9), minutes(9))
    assert store.unit("CRT-1").version == version  # moving is not a state change
    track = store.fixes("CRT-1", start=minutes(2), end=minutes(4))
    assert [f.time for f in track] == [minutes(2), minutes(2.5), minutes(3)]
    assert track[0] == batch[2]
    assert store.audit("unit", "CRT-1")[-1].action == "create"
