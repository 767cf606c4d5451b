"""The values the store hands out besides the core ones (all frozen, no ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from heartops.core.calls import Call
from heartops.core.care import FollowUpTask
from heartops.core.safety import AlertLevel
from heartops.core.units import Unit, UnitState


class Entity(StrEnum):
    """What an audit row is about (``entity`` column)."""

    UNIT = "unit"
    CALL = "call"
    ASSIGNMENT = "assignment"
    FOLLOW_UP = "follow_up"
    SAFETY_EVENT = "safety_event"
    ALERT = "alert"
    IMPORT_BATCH = "import_batch"


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """A unit as stored: roster entry, live state and the version that guards the state.

    Attributes
    ----------
    unit, state
        The core values.
    version
        Incremented by every status/call change; pass it back as ``expected_version`` to
        refuse a change when another desk got there first.
    """

    unit: Unit
    state: UnitState
    version: int


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    """A unit's assignment to a call, as stored.

    Attributes
    ----------
    assignment_id
        Store id.
    unit_id, call_id
        Who went where.
    active
        Whether the unit is still on the call.
    assigned_at, released_at
        When the unit was dispatched, and released (``None`` while active).
    program, rank, recommended_unit_id, override_reason, eta_seconds, explanation
        The recommendation context (see :class:`heartops.core.recommend.Assignment`); ``None``
        for an on-view or a status-driven assignment.
    desk, operator
        Who assigned it.
    release_reason
        Why it was released (``"call closed"``, ...), once released.
    """

    assignment_id: int
    unit_id: str
    call_id: str
    active: bool
    assigned_at: datetime
    released_at: datetime | None
    program: str | None
    rank: int | None
    recommended_unit_id: str | None
    override_reason: str | None
    eta_seconds: float | None
    explanation: str
    desk: str
    operator: str
    release_reason: str | None

    @property
    def is_override(self) -> bool:
        """Whether the dispatcher chose a unit other than the recommended one."""
        return self.override_reason is not None


@dataclass(frozen=True, slots=True)
class ClosedCall:
    """What closing a call did.

    Attributes
    ----------
    call
        The cleared call.
    follow_up
        The Care Navigation task it opened, if a disposition needs one.
    released
        Assignments that were still active and were released by the closing.
    """

    call: Call
    follow_up: FollowUpTask | None
    released: tuple[AssignmentRecord, ...]


@dataclass(frozen=True, slots=True)
class AlertAck:
    """A dispatcher's acknowledgement of a safety alert."""

    ack_id: int
    unit_id: str
    call_id: str | None
    level: AlertLevel
    at: datetime
    desk: str
    operator: str
    note: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the audit log.

    Attributes
    ----------
    audit_id
        Row id (insertion order).
    change_id
        The write transaction it belongs to (the change feed's cursor).
    at
        When the store made the change (aware UTC, from the store's clock).
    desk, operator
        Who made it.
    entity, entity_id, action
        What changed (``"unit"``, ``"CRT-2"``, ``"status"``).
    before, after
        JSON documents of the thing before and after (``None`` when created / removed).
    """

    audit_id: int
    change_id: int
    at: datetime
    desk: str
    operator: str
    entity: str
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since a cursor (multi-desk polling).

    Attributes
    ----------
    cursor
        Pass this to the next :meth:`~heartops.store.Store.changes_since`.
    records
        The audit rows of every change after the old cursor, in change order.
    """

    cursor: int
    records: tuple[AuditRecord, ...]

    def touched(self, entity: str) -> frozenset[str]:
        """Return the ids of ``entity`` (``"unit"``, ``"call"``, ...) that changed."""
        return frozenset(r.entity_id for r in self.records if r.entity == entity)


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did.

    Attributes
    ----------
    inserted
        Calls added.
    skipped_existing
        Calls already in the store (same source and external id), left as they were.
    batches
        Transactions committed.
    """

    inserted: int
    skipped_existing: int
    batches: int


@dataclass(frozen=True, slots=True)
class ImportBatch:
    """A committed import batch: the slice ``first_index..last_index`` of the input."""

    batch_id: int
    source: str
    started_at: datetime
    finished_at: datetime
    first_index: int
    last_index: int
    first_external_id: str
    last_external_id: str
    rows: int
    inserted: int
    skipped: int


@dataclass(frozen=True, slots=True)
class RecordedFixes:
    """What :meth:`~heartops.store.Store.record_fixes` stored.

    Attributes
    ----------
    stored
        New fixes written.
    duplicates
        Fixes already stored (same unit and time).
    unknown_units
        Units not on the roster, whose fixes were dropped.
    """

    stored: int
    duplicates: int
    unknown_units: frozenset[str]
