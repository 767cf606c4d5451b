"""Mapping between rows and the core values, and the JSON documents the audit log keeps.

Everything here is a pure function of its arguments, so the mapping is tested by round trips
without caring how the rows were fetched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time
from typing import Any

from heartops.core.avl import AvlFix
from heartops.core.calls import Call, CallNote
from heartops.core.care import FollowUpTask
from heartops.core.clock import DailyWindow, ensure_utc
from heartops.core.codes import CallStep, Priority
from heartops.core.eligibility import LedgerEntry, LedgerOutcome, ScreenReason
from heartops.core.geo import GeoPoint
from heartops.core.recommend import Assignment
from heartops.core.safety import SafetyEvent, SafetyEventKind
from heartops.core.units import Unit, UnitState
from heartops.store.models import (
    AssignmentRow,
    AvlFixRow,
    CallNoteRow,
    CallRow,
    FollowUpRow,
    LedgerRow,
    SafetyEventRow,
    UnitRow,
)
from heartops.store.records import AssignmentRecord

STEP_COLUMNS: Mapping[CallStep, str] = {
    CallStep.RECEIVED: "received_at",
    CallStep.TRIAGED: "triaged_at",
    CallStep.DISPATCHED: "dispatched_at",
    CallStep.EN_ROUTE: "en_route_at",
    CallStep.ON_SCENE: "on_scene_at",
    CallStep.TRANSPORT: "transport_at",
    CallStep.CLEARED: "cleared_at",
}
"""The ``calls`` column holding each lifecycle step's time."""


def iso(when: datetime | None) -> str | None:
    """Return ``when`` as ISO 8601 in UTC (for JSON documents), or ``None``."""
    return None if when is None else ensure_utc(when).isoformat()


def from_iso(text: str | None) -> datetime | None:
    """Return the instant of an :func:`iso` string, or ``None``."""
    return None if text is None else datetime.fromisoformat(text)


def fix_from_row(row: AvlFixRow) -> AvlFix:
    """Return the core fix of an ``avl_fixes`` row."""
    return AvlFix(unit_id=row.unit_id, position=GeoPoint(row.lat, row.lon), time=row.at,
                  speed_mps=row.speed_mps, heading_deg=row.heading_deg, source=row.source)


# -- units ---------------------------------------------------------------------------------------

def roster_fields(unit: Unit) -> dict[str, Any]:
    """Return the ``units`` columns of the roster entry (the state is not touched)."""
    return {
        "program": unit.program,
        "name": unit.name,
        "team": list(unit.team),
        "capabilities": sorted(unit.capabilities),
        "home_post_id": unit.home_post_id,
        "shift_start": unit.shift.start.isoformat(),
        "shift_end": unit.shift.end.isoformat(),
        "shift_days": sorted(unit.shift.days),
    }


def state_fields(state: UnitState) -> dict[str, Any]:
    """Return the ``units`` columns of the live state (position excluded: the AVL path owns it)."""
    return {"status": state.status, "status_since": state.since, "call_id": state.call_id}


def unit_from_row(row: UnitRow) -> Unit:
    """Return the roster entry of a ``units`` row."""
    shift = DailyWindow(time.fromisoformat(row.shift_start), time.fromisoformat(row.shift_end),
                        frozenset(row.shift_days))
    return Unit(unit_id=row.unit_id, program=row.program, team=tuple(row.team),
                capabilities=frozenset(row.capabilities), home_post_id=row.home_post_id,
                shift=shift, name=row.name)


def state_from_row(row: UnitRow) -> UnitState:
    """Return the live state of a ``units`` row."""
    position = None if row.lat is None or row.lon is None else GeoPoint(row.lat, row.lon)
    return UnitState(unit_id=row.unit_id, status=row.status, since=row.status_since,
                     call_id=row.call_id, position=position, last_avl_at=row.last_avl_at)


def state_doc(state: UnitState, version: int) -> dict[str, Any]:
    """Return the audit document of a unit's state."""
    return {"status": state.status, "since": iso(state.since), "call_id": state.call_id,
            "version": version}


def unit_doc(unit: Unit) -> dict[str, Any]:
    """Return the audit document of a roster entry."""
    fields = roster_fields(unit)
    return {"unit_id": unit.unit_id, **fields}


# -- calls ---------------------------------------------------------------------------------------

def call_fields(call: Call) -> dict[str, Any]:
    """Return the ``calls`` columns describing ``call`` (not its source or batch)."""
    fields: dict[str, Any] = {
        "call_type": call.call_type,
        "priority": call.priority.value,
        "lat": call.location.lat,
        "lon": call.location.lon,
        "zone_id": call.zone_id,
        "address": call.address,
        "flags": sorted(call.flags),
        "needs": sorted(call.needs),
        "dispositions": list(call.dispositions),
        "destination": call.destination,
    }
    recorded = dict(call.steps)
    for step, column in STEP_COLUMNS.items():
        fields[column] = recorded.get(step)
    return fields


def call_from_row(row: CallRow, notes: Iterable[CallNoteRow] = (),
                  assigned: Iterable[str] = ()) -> Call:
    """Return the core call of a ``calls`` row.

    Parameters
    ----------
    row
        The call.
    notes
        Its notes, in order.
    assigned
        Units of its assignments, in the order assigned (duplicates are dropped; units named by
        the imported record come first).
    """
    steps = tuple((step, at) for step, column in STEP_COLUMNS.items()
                  if (at := getattr(row, column)) is not None)
    unit_ids = tuple(dict.fromkeys([*row.source_unit_ids, *assigned]))
    return Call(
        call_id=row.call_id, call_type=row.call_type, priority=Priority.parse(row.priority),
        location=GeoPoint(row.lat, row.lon), received_at=row.received_at, zone_id=row.zone_id,
        flags=frozenset(row.flags), needs=frozenset(row.needs), address=row.address,
        steps=steps, dispositions=tuple(row.dispositions), destination=row.destination,
        unit_ids=unit_ids,
        notes=tuple(CallNote(note.at, note.text, note.author) for note in notes))


def call_doc(call: Call) -> dict[str, Any]:
    """Return the audit document of a call (its notes are audited one by one)."""
    return {
        "call_type": call.call_type,
        "priority": call.priority.value,
        "location": [call.location.lat, call.location.lon],
        "zone_id": call.zone_id,
        "flags": sorted(call.flags),
        "needs": sorted(call.needs),
        "steps": {step.value: iso(at) for step, at in call.steps},
        "dispositions": list(call.dispositions),
        "destination": call.destination,
    }


def note_doc(note: CallNote) -> dict[str, Any]:
    """Return the audit document of a note."""
    return {"at": iso(note.at), "author": note.author, "text": note.text}


# -- assignments ---------------------------------------------------------------------------------

def assignment_from_row(row: AssignmentRow) -> AssignmentRecord:
    """Return the record of an ``assignments`` row."""
    return AssignmentRecord(
        assignment_id=row.id, unit_id=row.unit_id, call_id=row.call_id, active=row.active,
        assigned_at=row.assigned_at, released_at=row.released_at, program=row.program,
        rank=row.rank, recommended_unit_id=row.recommended_unit_id,
        override_reason=row.override_reason, eta_seconds=row.eta_seconds,
        explanation=row.explanation, desk=row.desk, operator=row.operator,
        release_reason=row.release_reason)


def assignment_doc(record: AssignmentRecord) -> dict[str, Any]:
    """Return the audit document of an assignment."""
    return {
        "unit_id": record.unit_id, "call_id": record.call_id, "active": record.active,
        "assigned_at": iso(record.assigned_at), "released_at": iso(record.released_at),
        "program": record.program, "rank": record.rank,
        "recommended_unit_id": record.recommended_unit_id,
        "override_reason": record.override_reason, "eta_seconds": record.eta_seconds,
        "explanation": record.explanation, "release_reason": record.release_reason,
        "desk": record.desk, "operator": record.operator,
    }


def assignment_from_doc(doc: Mapping[str, Any]) -> Assignment | None:
    """Return the core assignment of an :func:`assignment_doc`, if it has a ranking.

    On-view and status-driven assignments have no recommendation behind them: ``None``.
    """
    at = from_iso(doc["assigned_at"])
    if doc["rank"] is None or doc["recommended_unit_id"] is None or at is None:
        return None
    return Assignment(call_id=doc["call_id"], unit_id=doc["unit_id"], program=doc["program"],
                      at=at, rank=int(doc["rank"]),
                      recommended_unit_id=doc["recommended_unit_id"],
                      override_reason=doc["override_reason"], eta_seconds=doc["eta_seconds"],
                      explanation=doc["explanation"] or "", desk=doc.get("desk") or "",
                      operator=doc.get("operator") or "")


# -- follow-ups, safety, ledger ------------------------------------------------------------------

def follow_up_from_row(row: FollowUpRow, attempts: Iterable[datetime]) -> FollowUpTask:
    """Return the task of a ``follow_up_tasks`` row and its attempt times."""
    return FollowUpTask(task_id=row.task_id, call_id=row.call_id, created_at=row.created_at,
                        due_at=row.due_at, needs=frozenset(row.needs),
                        attempts=tuple(attempts), completed_at=row.completed_at,
                        connected=row.connected, note=row.note)


def follow_up_doc(task: FollowUpTask) -> dict[str, Any]:
    """Return the audit document of a follow-up task."""
    return {
        "call_id": task.call_id, "created_at": iso(task.created_at), "due_at": iso(task.due_at),
        "needs": sorted(task.needs), "attempts": [iso(at) for at in task.attempts],
        "completed_at": iso(task.completed_at), "connected": task.connected, "note": task.note,
    }


def safety_event_from_row(row: SafetyEventRow) -> SafetyEvent:
    """Return the core event of a ``safety_events`` row."""
    return SafetyEvent(kind=SafetyEventKind(row.kind), at=row.at, unit_id=row.unit_id,
                       call_id=row.call_id, program=row.program)


def safety_event_doc(event: SafetyEvent) -> dict[str, Any]:
    """Return the audit document of a safety event."""
    return {"kind": event.kind.value, "at": iso(event.at), "unit_id": event.unit_id,
            "call_id": event.call_id, "program": event.program}


def safety_event_from_doc(doc: Mapping[str, Any]) -> SafetyEvent:
    """Return the core event of a :func:`safety_event_doc`."""
    at = from_iso(doc["at"])
    assert at is not None
    return SafetyEvent(kind=SafetyEventKind(doc["kind"]), at=at, unit_id=doc["unit_id"],
                       call_id=doc["call_id"], program=doc["program"])


def ledger_fields(entry: LedgerEntry) -> dict[str, Any]:
    """Return the ``ledger_entries`` columns of an entry."""
    return {"call_id": entry.call_id, "at": entry.at, "outcome": entry.outcome.value,
            "reason": None if entry.reason is None else entry.reason.value,
            "programs": list(entry.programs)}


def ledger_from_row(row: LedgerRow) -> LedgerEntry:
    """Return the core entry of a ``ledger_entries`` row."""
    return LedgerEntry(call_id=row.call_id, at=row.at, outcome=LedgerOutcome(row.outcome),
                       reason=None if row.reason is None else ScreenReason(row.reason),
                       programs=tuple(row.programs))
