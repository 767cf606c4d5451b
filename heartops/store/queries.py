"""Loading rows and core values inside a session (shared by reads and write transactions)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from heartops.core.calls import Call
from heartops.core.care import FollowUpTask
from heartops.core.errors import NotFound
from heartops.store.convert import (
    call_from_row,
    follow_up_from_row,
    state_from_row,
    unit_from_row,
)
from heartops.store.models import (
    AssignmentRow,
    CallNoteRow,
    CallRow,
    FollowUpAttemptRow,
    FollowUpRow,
    UnitRow,
)
from heartops.store.records import UnitRecord


def unit_row(session: Session, unit_id: str) -> UnitRow:
    """Return the ``units`` row of ``unit_id``.

    Raises
    ------
    NotFound
        If there is no such unit.
    """
    row = session.get(UnitRow, unit_id)
    if row is None:
        raise NotFound(f"no unit {unit_id!r} in the store")
    return row


def unit_record(row: UnitRow) -> UnitRecord:
    """Return the record of a ``units`` row."""
    return UnitRecord(unit=unit_from_row(row), state=state_from_row(row), version=row.version)


def call_row(session: Session, call_id: str, *, for_update: bool = False) -> CallRow:
    """Return the ``calls`` row of ``call_id``.

    Parameters
    ----------
    session
        The session.
    call_id
        The call.
    for_update
        Lock the row until the transaction ends (PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
        already serialises writers). Write paths lock the call before they touch a unit, in
        that order everywhere, so two desks cannot deadlock.

    Raises
    ------
    NotFound
        If there is no such call.
    """
    stmt = sa.select(CallRow).where(CallRow.call_id == call_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound(f"no call {call_id!r} in the store")
    return row


def call_value(session: Session, row: CallRow) -> Call:
    """Return the full core call of ``row`` (with its notes and units)."""
    return load_calls(session, [CallRow.call_id == row.call_id], rows=[row])[0]


def load_calls(session: Session, where: Sequence[sa.ColumnElement[bool]], *,
               rows: Sequence[CallRow] | None = None) -> list[Call]:
    """Return the calls matching ``where`` (received order), with notes and assigned units.

    Three queries whatever the number of calls: the calls, then their notes and their
    assignments through a subquery of the same filter (no giant IN lists).
    """
    if rows is None:
        rows = session.scalars(sa.select(CallRow).where(*where)
                               .order_by(CallRow.received_at, CallRow.call_id)).all()
    if not rows:
        return []
    chosen = sa.select(CallRow.call_id).where(*where).scalar_subquery()
    notes: defaultdict[str, list[CallNoteRow]] = defaultdict(list)
    for note in session.scalars(sa.select(CallNoteRow).where(CallNoteRow.call_id.in_(chosen))
                                .order_by(CallNoteRow.at, CallNoteRow.id)):
        notes[note.call_id].append(note)
    units: defaultdict[str, list[str]] = defaultdict(list)
    for call_id, unit_id in session.execute(
            sa.select(AssignmentRow.call_id, AssignmentRow.unit_id)
            .where(AssignmentRow.call_id.in_(chosen))
            .order_by(AssignmentRow.assigned_at, AssignmentRow.id)):
        units[call_id].append(unit_id)
    return [call_from_row(row, notes[row.call_id], units[row.call_id]) for row in rows]


def active_assignment(session: Session, unit_id: str) -> AssignmentRow | None:
    """Return the unit's active assignment row, if it has one."""
    return session.scalars(sa.select(AssignmentRow).where(
        AssignmentRow.unit_id == unit_id, AssignmentRow.active)).one_or_none()


def active_on_call(session: Session, call_id: str) -> list[AssignmentRow]:
    """Return the active assignment rows of a call, in the order assigned."""
    return list(session.scalars(sa.select(AssignmentRow).where(
        AssignmentRow.call_id == call_id, AssignmentRow.active)
        .order_by(AssignmentRow.assigned_at, AssignmentRow.id)))


def follow_up_row(session: Session, task_id: str) -> FollowUpRow:
    """Return the ``follow_up_tasks`` row of ``task_id``.

    Raises
    ------
    NotFound
        If there is no such task.
    """
    row = session.get(FollowUpRow, task_id)
    if row is None:
        raise NotFound(f"no follow-up task {task_id!r} in the store")
    return row


def follow_up_value(session: Session, row: FollowUpRow) -> FollowUpTask:
    """Return the core task of ``row`` with its attempts."""
    attempts = session.scalars(sa.select(FollowUpAttemptRow.at)
                               .where(FollowUpAttemptRow.task_id == row.task_id)
                               .order_by(FollowUpAttemptRow.at, FollowUpAttemptRow.id)).all()
    return follow_up_from_row(row, attempts)


def load_follow_ups(session: Session, where: Sequence[sa.ColumnElement[bool]]
                    ) -> list[FollowUpTask]:
    """Return the tasks matching ``where``, soonest due first, with their attempts."""
    rows = session.scalars(sa.select(FollowUpRow).where(*where)
                           .order_by(FollowUpRow.due_at, FollowUpRow.task_id)).all()
    chosen = sa.select(FollowUpRow.task_id).where(*where).scalar_subquery()
    attempts: defaultdict[str, list[datetime]] = defaultdict(list)
    for task_id, at in session.execute(
            sa.select(FollowUpAttemptRow.task_id, FollowUpAttemptRow.at)
            .where(FollowUpAttemptRow.task_id.in_(chosen))
            .order_by(FollowUpAttemptRow.at, FollowUpAttemptRow.id)):
        attempts[task_id].append(at)
    return [follow_up_from_row(row, attempts[row.task_id]) for row in rows]
