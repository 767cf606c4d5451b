"""Care Navigation follow-ups and the on-scene safety ladder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from heartops.core.calls import Call, CallStep, new_call
from heartops.core.care import FollowUpTask, follow_up_for, follow_up_window, overdue
from heartops.core.codes import default_tables, load_tables, packaged_tables_dir
from heartops.core.errors import InvalidTransition, UnknownCodeError
from heartops.core.geo import GeoPoint
from heartops.core.programs import CheckInThresholds
from heartops.core.safety import AlertLevel, SafetyEvent, SafetyEventKind, SafetyMonitor
from heartops.core.units import Unit, UnitState

T0 = datetime(2024, 6, 3, 18, 0, tzinfo=UTC)
HERE = GeoPoint(35.994, -78.899)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def closed_call(call_id: str, *dispositions: str, cleared: datetime = T0) -> Call:
    call = new_call(call_id, call_type="welfare_check", location=HERE,
                    received_at=cleared - timedelta(hours=1))
    return call.close(cleared, dispositions=dispositions)


# -- care navigation -----------------------------------------------------------------------------

def test_referral_opens_a_follow_up_due_in_72_hours() -> None:
    task = follow_up_for(closed_call("C-1", "referred_to_care_navigation"),
                         needs={"housing", "food_security"})
    assert task is not None
    assert (task.task_id, task.call_id) == ("C-1-FU", "C-1")
    assert task.created_at == T0
    assert task.due_at == T0 + timedelta(hours=72)
    assert task.needs == {"housing", "food_security"}
    assert follow_up_window() == timedelta(hours=72)


def test_calls_without_referral_open_nothing_and_open_calls_refuse() -> None:
    assert follow_up_for(closed_call("C-2", "resolved_on_scene")) is None
    still_open = new_call("C-3", call_type="welfare_check", location=HERE, received_at=T0)
    with pytest.raises(InvalidTransition, match="is open"):
        follow_up_for(still_open)
    with pytest.raises(UnknownCodeError, match="care need"):
        follow_up_for(closed_call("C-4", "referred_to_care_navigation"), needs={"yacht"})


def test_overdue_lists_open_tasks_past_due_most_overdue_first() -> None:
    early = follow_up_for(closed_call("C-1", "referred_to_care_navigation", cleared=at(0)))
    later = follow_up_for(closed_call("C-2", "referred_to_care_navigation", cleared=at(60)))
    short = follow_up_for(closed_call("C-3", "referred_to_care_navigation", cleared=at(0)),
                          within=timedelta(hours=48))
    assert early and later and short
    due = T0 + timedelta(hours=72)
    assert overdue([early, later, short], due - timedelta(minutes=1)) == [short]
    assert overdue([early, later, short], due) == [short]  # due exactly is not yet overdue
    assert overdue([later, early, short], due + timedelta(minutes=1)) == [short, early]
    assert overdue([early, later, short], due + timedelta(hours=2)) == [short, early, later]
    done = early.complete(due - timedelta(hours=1), connected=True, note="enrolled at clinic")
    assert overdue([done, later], due + timedelta(hours=2)) == [later]
    assert short.time_left(at(0)) == timedelta(hours=48)


def test_completing_and_attempts() -> None:
    task = follow_up_for(closed_call("C-1", "referred_to_care_navigation"))
    assert task is not None
    tried = task.record_attempt(at(60 * 30)).record_attempt(at(60 * 50))
    done = tried.complete(at(60 * 70), connected=False, note="declined services")
    assert not done.is_open and done.connected is False
    assert done.first_contact_at == at(60 * 30)
    assert task.complete(at(60), connected=True).first_contact_at == at(60)
    with pytest.raises(InvalidTransition, match="already completed"):
        done.complete(at(60 * 71), connected=True)
    with pytest.raises(InvalidTransition, match="before the referral"):
        task.record_attempt(at(-5))
    with pytest.raises(ValueError, match="positive"):
        follow_up_for(closed_call("C-5", "referred_to_care_navigation"), within=timedelta(0))


def test_follow_up_hours_come_from_the_programs_table(tmp_path: Path) -> None:
    text = (packaged_tables_dir() / "programs.toml").read_text(encoding="utf-8")
    (tmp_path / "programs.toml").write_text(
        text.replace("follow_up_hours = 72", "follow_up_hours = 48"), encoding="utf-8")
    tables = load_tables(tmp_path)
    task = follow_up_for(closed_call("C-1", "referred_to_care_navigation"), tables=tables)
    assert task is not None and task.due_at == T0 + timedelta(hours=48)


def test_task_values_are_checked() -> None:
    with pytest.raises(ValueError, match="due before"):
        FollowUpTask("T", "C", T0, T0 - timedelta(hours=1))


# -- safety ladder -------------------------------------------------------------------------------

def crt_monitor() -> SafetyMonitor:
    monitor = SafetyMonitor()
    monitor.on_scene("CRT-1", at(0), call_id="C-1", program="CRT")
    return monitor


def levels(monitor: SafetyMonitor, minute: float) -> list[tuple[str, AlertLevel]]:
    return [(a.unit_id, a.level) for a in monitor.alerts(at(minute))]


def test_escalation_ladder_timing_for_crt() -> None:
    monitor = crt_monitor()  # CRT: due 20, supervisor 30, backup 40 minutes
    assert levels(monitor, 19.99) == []
    due = monitor.alerts(at(20))
    assert [(a.level, a.next_level_at) for a in due] == [(AlertLevel.CHECK_IN_DUE, at(30))]
    assert due[0].message == "CRT-1 no check-in for 20 min on call C-1: check-in due"
    assert levels(monitor, 29) == [("CRT-1", AlertLevel.CHECK_IN_DUE)]
    assert levels(monitor, 30) == [("CRT-1", AlertLevel.SUPERVISOR)]
    top = monitor.alerts(at(41))[0]
    assert (top.level, top.next_level_at, top.elapsed) == (
        AlertLevel.BACKUP_RECOMMENDED, None, timedelta(minutes=41))


def test_check_in_restarts_the_ladder_and_is_recorded() -> None:
    monitor = crt_monitor()
    monitor.check_in("CRT-1", at(25))
    assert levels(monitor, 44) == []
    assert levels(monitor, 45) == [("CRT-1", AlertLevel.CHECK_IN_DUE)]
    record = monitor.record("C-1")
    assert record.check_ins == 1
    assert record.highest_level is AlertLevel.CHECK_IN_DUE  # 25 min of silence before it


def test_thresholds_are_per_program_and_configurable() -> None:
    monitor = SafetyMonitor()
    monitor.on_scene("COR-1", at(0), call_id="C-2", program="COR")
    assert levels(monitor, 20) == []
    assert levels(monitor, 30) == [("COR-1", AlertLevel.CHECK_IN_DUE)]
    tight = SafetyMonitor({"CRT": CheckInThresholds(timedelta(minutes=5), timedelta(minutes=8),
                                                    timedelta(minutes=10))})
    tight.on_scene("CRT-1", at(0), call_id="C-1", program="CRT")
    assert levels(tight, 8) == [("CRT-1", AlertLevel.SUPERVISOR)]
    phone = SafetyMonitor()
    phone.on_scene("CCD-1", at(0), call_id="C-3", program="CCD")
    assert levels(phone, 600) == []
    with pytest.raises(ValueError, match="increasing"):
        CheckInThresholds(timedelta(minutes=10), timedelta(minutes=5), timedelta(minutes=20))


def test_emergency_is_the_highest_alert_and_listed_first() -> None:
    monitor = crt_monitor()
    monitor.on_scene("CRT-2", at(0), call_id="C-2", program="CRT")
    monitor.emergency("CRT-2", at(3))
    alerts = monitor.alerts(at(35))
    assert [(a.unit_id, a.level) for a in alerts] == [("CRT-2", AlertLevel.EMERGENCY),
                                                      ("CRT-1", AlertLevel.SUPERVISOR)]
    assert alerts[0].message == "CRT-2 EMERGENCY on call C-2 (32 min ago)"
    assert monitor.record("C-2").emergency_at == at(3)
    assert monitor.record("C-2").highest_level is AlertLevel.EMERGENCY
    monitor.emergency_cleared("CRT-2", at(36))
    assert levels(monitor, 55) == [("CRT-1", AlertLevel.BACKUP_RECOMMENDED)]
    assert levels(monitor, 56) == [("CRT-1", AlertLevel.BACKUP_RECOMMENDED),
                                   ("CRT-2", AlertLevel.CHECK_IN_DUE)]


def test_cleared_units_raise_nothing() -> None:
    monitor = crt_monitor()
    monitor.cleared("CRT-1", at(35))
    assert levels(monitor, 90) == []
    assert monitor.record("C-1").highest_level is AlertLevel.SUPERVISOR


def test_backup_and_ems_requests_per_call() -> None:
    monitor = crt_monitor()
    monitor.pd_backup_requested("C-1", at(12), unit_id="CRT-1")
    monitor.pd_backup_requested("C-1", at(14))
    monitor.ems_requested("C-7", at(20))
    one, seven = monitor.record("C-1"), monitor.record("C-7")
    assert one.pd_backup and one.pd_backup_requested_at == at(12) and not one.ems
    assert seven.ems and not seven.pd_backup
    assert [r.call_id for r in monitor.records()] == ["C-1", "C-7"]
    assert not monitor.record("C-99").pd_backup


def test_events_out_of_order_are_refused_and_replay_restores() -> None:
    monitor = crt_monitor()
    monitor.check_in("CRT-1", at(10))
    with pytest.raises(InvalidTransition, match="earlier than its last safety event"):
        monitor.check_in("CRT-1", at(5))
    copy = SafetyMonitor.replay(monitor.events)
    assert copy.alerts(at(33)) == monitor.alerts(at(33))
    assert copy.records() == monitor.records()
    with pytest.raises(ValueError, match="needs a call"):
        SafetyEvent(SafetyEventKind.ON_SCENE, at(0), "CRT-1", program="CRT")


def test_observe_derives_events_from_status_changes() -> None:
    unit = Unit("CRT-1", "CRT", ("clinician", "peer_support", "emt"))
    monitor = SafetyMonitor()
    dispatched = UnitState("CRT-1", "dispatched", at(-10), call_id="C-1")
    on_scene = dispatched.transition("on_scene", at(0))
    kinds = [e.kind for e in monitor.observe(unit, dispatched, on_scene)]
    assert kinds == [SafetyEventKind.ON_SCENE]
    panic = on_scene.transition("emergency", at(5))
    assert [e.kind for e in monitor.observe(unit, on_scene, panic)] == [SafetyEventKind.EMERGENCY]
    assert levels(monitor, 6) == [("CRT-1", AlertLevel.EMERGENCY)]
    back = panic.transition("on_scene", at(7))
    assert [e.kind for e in monitor.observe(unit, panic, back)] == [
        SafetyEventKind.EMERGENCY_CLEARED]
    assert levels(monitor, 26) == []
    assert levels(monitor, 27) == [("CRT-1", AlertLevel.CHECK_IN_DUE)]
    done = back.transition("available", at(30))
    assert [e.kind for e in monitor.observe(unit, back, done)] == [SafetyEventKind.CLEARED]
    assert levels(monitor, 100) == []
    assert monitor.record("C-1").highest_level is AlertLevel.EMERGENCY
    assert back.call_id == "C-1"


def test_call_step_marks_of_unit_statuses() -> None:
    # The board advances a call when a unit's status marks a lifecycle step.
    marks = {s.code: s.call_step for s in default_tables().statuses.values() if s.call_step}
    assert marks == {"dispatched": CallStep.DISPATCHED, "en_route": CallStep.EN_ROUTE,
                     "on_scene": CallStep.ON_SCENE, "transporting": CallStep.TRANSPORT}
