"""The repository the board, the simulator and the CLI use: :class:`Store`.

Every method takes and returns core values (``Unit``, ``UnitState``, ``Call``,
``FollowUpTask``, ``SafetyEvent``, ``LedgerEntry``, ``AvlFix``) or the small frozen records of
:mod:`heartops.store.records`; no ORM object leaves this package. Each method is one
transaction. Methods that change state take ``desk`` and ``operator`` (keyword-only) and write
audit rows in the same transaction as the change.

Rules the store enforces, beyond the core's own checks:

* A unit has at most one active assignment (also a partial unique index), and its
  ``call_id`` is the call of that assignment: any status change that drops or changes the
  unit's call releases the old assignment (and a status that gains one on view creates one).
* :meth:`Store.assign` refuses a unit that already has an active assignment, with
  :class:`~heartops.core.errors.AssignmentConflict` naming the call it is on. To divert a unit,
  release it first (or set it to the dispatch status with another call).
* A unit's status changes advance its call: the first unit en route / on scene / transporting
  records that step on the call (an on-view arrival records ``dispatched`` at the same time).
* A call with a unit in emergency cannot be closed (that would silently clear the emergency).

Concurrency (several desks on one PostgreSQL, or several processes on one SQLite file): writes
lock the call row, then change unit rows through their version column. On SQLite,
``BEGIN IMMEDIATE`` makes writers take turns, so the second desk reads the first desk's result
and is refused with a clear message. On PostgreSQL the second desk's unit update finds the
version moved (or the unique index taken) and the store reports the same conflict.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from heartops.core.avl import AvlFix
from heartops.core.calls import PREREQUISITE, Call
from heartops.core.care import FollowUpTask, follow_up_for
from heartops.core.clock import Clock, SystemClock, ensure_utc
from heartops.core.codes import CallLink, CallStep, CodeTables, Priority, default_tables
from heartops.core.eligibility import LedgerEntry
from heartops.core.errors import (
    AssignmentConflict,
    Conflict,
    InvalidTransition,
    NotFound,
    OverrideReasonRequired,
    VersionConflict,
)
from heartops.core.progress import Progress, no_progress
from heartops.core.recommend import Assignment
from heartops.core.safety import AlertLevel, SafetyEvent
from heartops.core.units import Unit, UnitState, check_unit
from heartops.gc_pause import gc_paused
from heartops.store import bulk, queries
from heartops.store.convert import (
    assignment_doc,
    assignment_from_row,
    call_doc,
    call_fields,
    fix_from_row,
    follow_up_doc,
    ledger_from_row,
    note_doc,
    roster_fields,
    safety_event_doc,
    safety_event_from_row,
    state_doc,
    state_from_row,
    unit_doc,
)
from heartops.store.engine import READ_ONLY, safe_url
from heartops.store.models import (
    AlertAckRow,
    AssignmentRow,
    AuditRow,
    AvlFixRow,
    CallNoteRow,
    CallRow,
    ChangeCounterRow,
    FollowUpAttemptRow,
    FollowUpRow,
    ImportBatchRow,
    LedgerRow,
    SafetyEventRow,
    UnitRow,
)
from heartops.store.records import (
    AlertAck,
    AssignmentRecord,
    AuditRecord,
    Changes,
    ClosedCall,
    Entity,
    ImportBatch,
    ImportResult,
    RecordedFixes,
    UnitRecord,
)
from heartops.store.tx import Actor, WriteTx, translated_errors

log = logging.getLogger(__name__)

DESK_SOURCE = "desk"
"""The ``source`` of calls created at a desk (imports name their own)."""

SYSTEM = Actor("heartops", "system")
"""Who writes derived data that is not audited (AVL fixes, ledger entries)."""

_STATUS_RETRIES = 3


@dataclass(frozen=True, slots=True)
class _Dispatch:
    """The recommendation context stored with a new assignment."""

    program: str | None = None
    rank: int | None = None
    recommended_unit_id: str | None = None
    override_reason: str | None = None
    eta_seconds: float | None = None
    explanation: str = ""


class Store:
    """The persistent store of one heartops database.

    Thread-safe: each call opens its own session on the shared engine. Open it with
    :func:`heartops.store.open_store`, which also migrates the schema.

    Parameters
    ----------
    engine
        An engine from :func:`heartops.store.engine.create_store_engine`.
    clock
        Stamps audit rows (the system clock by default; the simulator passes its own).
    tables
        Code tables for the core's checks (the packaged ones by default).
    """

    def __init__(self, engine: Engine, *, clock: Clock | None = None,
                 tables: CodeTables | None = None) -> None:
        self.engine = engine
        self._clock: Clock = clock or SystemClock()
        self._tables = tables or default_tables()
        self._writes = sessionmaker(engine, autoflush=False, expire_on_commit=False)
        self._reads = sessionmaker(engine.execution_options(**{READ_ONLY: True}),
                                   autoflush=False, expire_on_commit=False)
        self._available = next(s.code for s in self._tables.statuses.values() if s.assignable)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return safe_url(self.engine.url)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def _write(self, desk: str, operator: str) -> Iterator[WriteTx]:
        actor = Actor(desk, operator)
        with translated_errors(self.engine.url), self._writes() as session, session.begin():
            tx = WriteTx(session, actor, ensure_utc(self._clock.now(), what="store clock"))
            yield tx
            tx.finish()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with translated_errors(self.engine.url), self._reads() as session, session.begin():
            yield session

    # -- units ----------------------------------------------------------------------------------

    def add_units(self, units: Iterable[Unit], *, at: datetime, desk: str, operator: str,
                  status: str | None = None) -> list[UnitRecord]:
        """Put units on the roster; a unit already there has its roster entry updated.

        Parameters
        ----------
        units
            Roster entries (codes are checked against the tables).
        at
            When new units enter ``status``.
        desk, operator
            Who.
        status
            Initial status of new units (the first assignable one, "available", by default).
            Existing units keep their state.

        Returns
        -------
        list of UnitRecord
            The units as stored, in the order given.
        """
        at = ensure_utc(at, what="roster time")
        status = status or self._available
        self._tables.status(status)
        entries = [check_unit(unit, tables=self._tables) for unit in units]
        with self._write(desk, operator) as tx:
            rows = [self._put_unit(tx, unit, status, at) for unit in entries]
            tx.session.flush()
            return [queries.unit_record(row) for row in rows]

    def _put_unit(self, tx: WriteTx, unit: Unit, status: str, at: datetime) -> UnitRow:
        row = tx.session.get(UnitRow, unit.unit_id)
        fields = roster_fields(unit)
        if row is None:
            row = UnitRow(unit_id=unit.unit_id, status=status, status_since=at, **fields)
            tx.session.add(row)
            tx.audit(Entity.UNIT, unit.unit_id, "create", after={
                **unit_doc(unit), **state_doc(UnitState(unit.unit_id, status, at), 1)})
            return row
        before = {key: getattr(row, key) for key in fields}
        if before != fields:
            for key, value in fields.items():
                setattr(row, key, value)
            tx.audit(Entity.UNIT, unit.unit_id, "roster", before={"unit_id": unit.unit_id,
                                                                   **before},
                     after=unit_doc(unit))
        return row

    def units(self) -> list[UnitRecord]:
        """Return every unit with its state and version, by unit id."""
        with self._read() as session:
            rows = session.scalars(sa.select(UnitRow).order_by(UnitRow.unit_id))
            return [queries.unit_record(row) for row in rows]

    def unit(self, unit_id: str) -> UnitRecord:
        """Return one unit with its state and version.

        Raises
        ------
        NotFound
            If the unit is not on the roster.
        """
        with self._read() as session:
            return queries.unit_record(queries.unit_row(session, unit_id))

    def unit_state(self, unit_id: str) -> UnitState:
        """Return the live state of one unit (see :meth:`unit` for its version)."""
        return self.unit(unit_id).state

    def set_status(self, unit_id: str, to: str, at: datetime, *, desk: str, operator: str,
                   call_id: str | None = None,
                   expected_version: int | None = None) -> UnitRecord:
        """Change a unit's status (the status keys on the board, feeds, the simulator).

        Parameters
        ----------
        unit_id
            The unit.
        to
            Target status code; the transitions table decides whether it is allowed.
        at
            When it happened.
        desk, operator
            Who.
        call_id
            The call, for a status that needs one the unit lacks (on view) or a dispatch to
            another call; see :meth:`heartops.core.units.UnitState.transition`.
        expected_version
            The version the desk saw (:attr:`UnitRecord.version`). If the unit changed since,
            nothing is written and :class:`VersionConflict` is raised. Without it, a change
            racing another desk's is retried on fresh state (and may then be refused as an
            invalid transition).

        Raises
        ------
        VersionConflict
            The unit changed since ``expected_version``.
        InvalidTransition
            The transitions table or the call rules refuse the change.
        NotFound
            Unknown unit or call.
        """
        attempts = 1 if expected_version is not None else _STATUS_RETRIES
        for attempt in range(1, attempts + 1):
            try:
                return self._set_status(unit_id, to, at, desk=desk, operator=operator,
                                        call_id=call_id, expected_version=expected_version)
            except VersionConflict:
                if attempt == attempts:
                    raise
                log.info("unit %s changed under a status change; retrying", unit_id)
        raise AssertionError("unreachable")

    def _set_status(self, unit_id: str, to: str, at: datetime, *, desk: str, operator: str,
                    call_id: str | None, expected_version: int | None) -> UnitRecord:
        with self._write(desk, operator) as tx:
            row = queries.unit_row(tx.session, unit_id)
            before = state_from_row(row)
            if expected_version is not None and row.version != expected_version:
                raise VersionConflict(
                    f"unit {unit_id} changed since you read it (version {expected_version}, "
                    f"now {row.version}: {before.status}"
                    f"{f' on call {before.call_id}' if before.call_id else ''}); "
                    "reload and try again")
            # Lock order everywhere: calls (sorted by id), then the unit. A status may record a
            # step on the unit's call or move it to another; taking those locks before the
            # unit's UPDATE means a desk closing the call cannot deadlock with this one.
            for locked in sorted(c for c in {call_id, before.call_id} if c is not None):
                queries.call_row(tx.session, locked, for_update=True)
            after = before.transition(to, at, call_id=call_id, tables=self._tables)
            if after != before:
                self._apply_state(tx, row, before, after, _Dispatch(program=row.program),
                                  release_reason=f"status {to}")
                tx.session.flush()
            return queries.unit_record(row)

    def _apply_state(self, tx: WriteTx, row: UnitRow, before: UnitState, after: UnitState,
                     dispatch: _Dispatch, *, release_reason: str) -> AssignmentRow | None:
        """Write a unit's new state, keep its assignment in step, advance its call.

        Returns the assignment created, if the unit gained a call.
        """
        version = row.version
        row.status, row.status_since, row.call_id = after.status, after.since, after.call_id
        # The version-checked unit UPDATE goes first: a desk that lost a race fails here on
        # the version (PostgreSQL waits for the winner's row lock, then finds it moved)
        # before it touches assignments, where the partial unique index is the backstop.
        tx.session.flush()
        tx.audit(Entity.UNIT, row.unit_id, "status", before=state_doc(before, version),
                 after=state_doc(after, version + 1))
        created = None
        if after.call_id != before.call_id:
            current = queries.active_assignment(tx.session, row.unit_id)
            if current is not None:
                self._release_row(tx, current, after.since, release_reason)
            if after.call_id is not None:
                created = self._new_assignment(tx, row.unit_id, after.call_id, after.since,
                                               dispatch)
        step = self._tables.status(after.status).call_step
        if step is not None and after.call_id is not None and after.status != before.status:
            self._advance_call(tx, after.call_id, step, after.since)
        return created

    # -- assignments ----------------------------------------------------------------------------

    def assign(self, unit_id: str, call_id: str, *, at: datetime, desk: str, operator: str,
               override_reason: str | None = None, rank: int | None = None,
               recommended_unit: str | None = None, explanation: str = "",
               program: str | None = None, eta_seconds: float | None = None
               ) -> AssignmentRecord:
        """Dispatch a unit to a call.

        The unit takes the dispatch status and the call records ``dispatched`` (if it had not
        yet); the assignment keeps the recommendation it was chosen from.

        Parameters
        ----------
        unit_id, call_id
            Who goes where.
        at
            When the dispatcher assigned it.
        desk, operator
            Who.
        override_reason
            Why a unit other than the recommended one was chosen (required then).
        rank, recommended_unit, explanation, program, eta_seconds
            The recommendation it was chosen from (see
            :class:`heartops.core.recommend.Assignment`); ``program`` defaults to the unit's.

        Raises
        ------
        AssignmentConflict
            The unit already has an active assignment (another desk's, made first); the
            message names the call it is on.
        OverrideReasonRequired
            The unit is not the recommended one and no reason is given.
        InvalidTransition
            The call is cleared, or the unit's status cannot go to dispatched.
        NotFound
            Unknown unit or call.
        """
        reason = (override_reason or "").strip() or None
        overriding = (recommended_unit is not None and recommended_unit != unit_id) or \
            (rank is not None and rank != 1)
        if overriding and reason is None:
            raise OverrideReasonRequired(
                f"{unit_id} is not the recommended unit for call {call_id}"
                f"{f' ({recommended_unit} is)' if recommended_unit else ''}; give a reason "
                "to override")
        dispatch = _Dispatch(program=program, rank=rank, recommended_unit_id=recommended_unit,
                             override_reason=reason if overriding else None,
                             eta_seconds=eta_seconds, explanation=explanation)
        try:
            return self._assign(unit_id, call_id, at, dispatch, desk=desk, operator=operator)
        except AssignmentConflict as exc:
            if exc.call_id is not None:
                log.debug("assign %s to %s refused: already assigned (seen on read)",
                          unit_id, call_id)
                raise
            log.debug("assign %s to %s lost a race: one-active-assignment index", unit_id,
                      call_id)
            raise self._assignment_conflict(unit_id, call_id) from None
        except VersionConflict:
            # Another desk changed the unit between our read and our write (PostgreSQL).
            log.debug("assign %s to %s lost a race: unit version moved", unit_id, call_id)
            raise self._assignment_conflict(unit_id, call_id) from None

    def record_assignment(self, assignment: Assignment, *, desk: str,
                          operator: str) -> AssignmentRecord:
        """Store the core's :class:`~heartops.core.recommend.Assignment` (see :meth:`assign`)."""
        return self.assign(
            assignment.unit_id, assignment.call_id, at=assignment.at, desk=desk,
            operator=operator, override_reason=assignment.override_reason,
            rank=assignment.rank, recommended_unit=assignment.recommended_unit_id,
            explanation=assignment.explanation, program=assignment.program,
            eta_seconds=assignment.eta_seconds)

    def _assign(self, unit_id: str, call_id: str, at: datetime, dispatch: _Dispatch, *,
                desk: str, operator: str) -> AssignmentRecord:
        with self._write(desk, operator) as tx:
            call = queries.call_row(tx.session, call_id, for_update=True)
            if call.cleared_at is not None:
                raise InvalidTransition(f"call {call_id} is cleared; it cannot take units")
            row = queries.unit_row(tx.session, unit_id)
            current = queries.active_assignment(tx.session, unit_id)
            if current is not None:
                raise AssignmentConflict(_conflict_text(current, call_id),
                                         unit_id=unit_id, call_id=current.call_id)
            before = state_from_row(row)
            after = before.transition(self._tables.dispatch_status, at, call_id=call_id,
                                      tables=self._tables)
            if dispatch.program is None:
                dispatch = _Dispatch(row.program, dispatch.rank, dispatch.recommended_unit_id,
                                     dispatch.override_reason, dispatch.eta_seconds,
                                     dispatch.explanation)
            created = self._apply_state(tx, row, before, after, dispatch,
                                        release_reason="reassigned")
            assert created is not None  # the unit had no call and now has one
            tx.session.flush()
            return assignment_from_row(created)

    def _assignment_conflict(self, unit_id: str, call_id: str) -> AssignmentConflict:
        """Return the conflict to report after losing a race for ``unit_id``."""
        with self._read() as session:
            current = queries.active_assignment(session, unit_id)
            if current is None:
                return AssignmentConflict(
                    f"unit {unit_id} was changed by another desk while assigning it to call "
                    f"{call_id}; reload and try again", unit_id=unit_id)
            return AssignmentConflict(_conflict_text(current, call_id), unit_id=unit_id,
                                      call_id=current.call_id)

    def _new_assignment(self, tx: WriteTx, unit_id: str, call_id: str, at: datetime,
                        dispatch: _Dispatch) -> AssignmentRow:
        row = AssignmentRow(
            unit_id=unit_id, call_id=call_id, active=True, assigned_at=at, released_at=None,
            program=dispatch.program, rank=dispatch.rank,
            recommended_unit_id=dispatch.recommended_unit_id,
            override_reason=dispatch.override_reason, eta_seconds=dispatch.eta_seconds,
            explanation=dispatch.explanation, desk=tx.actor.desk, operator=tx.actor.operator)
        tx.session.add(row)
        tx.session.flush()  # the id names the assignment in the audit row
        tx.audit(Entity.ASSIGNMENT, str(row.id), "assign",
                 after=assignment_doc(assignment_from_row(row)))
        return row

    def _release_row(self, tx: WriteTx, row: AssignmentRow, at: datetime, reason: str) -> None:
        before = assignment_doc(assignment_from_row(row))
        row.active, row.released_at, row.release_reason = False, at, reason
        tx.audit(Entity.ASSIGNMENT, str(row.id), "release", before=before,
                 after=assignment_doc(assignment_from_row(row)))

    def release(self, unit_id: str, at: datetime, *, desk: str, operator: str,
                to_status: str | None = None, expected_version: int | None = None
                ) -> AssignmentRecord:
        """Take a unit off its call (cleared, cancelled, reassigned).

        Parameters
        ----------
        unit_id
            The unit.
        at
            When.
        desk, operator
            Who.
        to_status
            The unit's new status, one without a call ("available" by default, or
            "out_of_service").
        expected_version
            As for :meth:`set_status`.

        Returns
        -------
        AssignmentRecord
            The released assignment.

        Raises
        ------
        InvalidTransition
            If the unit has no active assignment, or cannot go to ``to_status``.
        """
        to_status = to_status or self._available
        if self._tables.status(to_status).call is not CallLink.NONE:
            raise InvalidTransition(f"unit {unit_id}: releasing needs a status without a call, "
                                    f"not {to_status}")
        with self._write(desk, operator) as tx:
            row = queries.unit_row(tx.session, unit_id)
            if expected_version is not None and row.version != expected_version:
                raise VersionConflict(f"unit {unit_id} changed since you read it; reload and "
                                      "try again")
            current = queries.active_assignment(tx.session, unit_id)
            if current is None:
                raise InvalidTransition(f"unit {unit_id} has no active assignment to release")
            before = state_from_row(row)
            after = before.transition(to_status, at, tables=self._tables)
            self._apply_state(tx, row, before, after, _Dispatch(),
                              release_reason=f"released to {to_status}")
            tx.session.flush()
            return assignment_from_row(current)

    def assignments(self, *, call_id: str | None = None, unit_id: str | None = None,
                    active_only: bool = False) -> list[AssignmentRecord]:
        """Return assignments (optionally of one call / one unit / active only), oldest first."""
        where: list[sa.ColumnElement[bool]] = []
        if call_id is not None:
            where.append(AssignmentRow.call_id == call_id)
        if unit_id is not None:
            where.append(AssignmentRow.unit_id == unit_id)
        if active_only:
            where.append(AssignmentRow.active.is_(True))
        with self._read() as session:
            rows = session.scalars(sa.select(AssignmentRow).where(*where)
                                   .order_by(AssignmentRow.assigned_at, AssignmentRow.id))
            return [assignment_from_row(row) for row in rows]

    def active_assignment(self, unit_id: str) -> AssignmentRecord | None:
        """Return the unit's active assignment, if any."""
        with self._read() as session:
            row = queries.active_assignment(session, unit_id)
            return None if row is None else assignment_from_row(row)

    # -- calls ----------------------------------------------------------------------------------

    def create_call(self, call: Call, *, desk: str, operator: str) -> Call:
        """Store a new call taken at a desk (its codes are checked against the tables).

        Raises
        ------
        Conflict
            If a call with that id exists.
        UnknownCodeError
            On an unknown call type, flag or capability.
        """
        self._check_codes(call)
        with self._write(desk, operator) as tx:
            if tx.session.get(CallRow, call.call_id) is not None:
                raise Conflict(f"call {call.call_id} already exists")
            tx.session.execute(sa.insert(CallRow), [bulk.call_values(
                call, source=DESK_SOURCE, external_id=call.call_id, batch_id=None)])
            notes = bulk.note_values(call, desk)
            if notes:
                tx.session.execute(sa.insert(CallNoteRow), notes)
            tx.audit(Entity.CALL, call.call_id, "create", after=call_doc(call))
            return queries.call_value(tx.session, queries.call_row(tx.session, call.call_id))

    def _check_codes(self, call: Call) -> None:
        self._tables.call_type(call.call_type)
        for flag in sorted(call.flags):
            self._tables.flag(flag)
        for need in sorted(call.needs):
            self._tables.capability(need)

    def call(self, call_id: str) -> Call:
        """Return one call with its steps, notes, dispositions and units.

        Raises
        ------
        NotFound
            If there is no such call.
        """
        with self._read() as session:
            return queries.call_value(session, queries.call_row(session, call_id))

    def open_calls(self) -> list[Call]:
        """Return the calls not yet cleared, most urgent first, then oldest first."""
        with self._read() as session:
            calls = queries.load_calls(session, [CallRow.cleared_at.is_(None)])
        return sorted(calls, key=lambda c: (c.priority.rank, c.received_at, c.call_id))

    def calls(self, *, received_from: datetime | None = None,
              received_before: datetime | None = None,
              source: str | None = None) -> list[Call]:
        """Return calls received in ``[received_from, received_before)``, oldest first."""
        where: list[sa.ColumnElement[bool]] = []
        if received_from is not None:
            where.append(CallRow.received_at >= ensure_utc(received_from))
        if received_before is not None:
            where.append(CallRow.received_at < ensure_utc(received_before))
        if source is not None:
            where.append(CallRow.source == source)
        with self._read() as session:
            return queries.load_calls(session, where)

    def count_calls(self, *, source: str | None = None) -> int:
        """Return how many calls are stored (of one source)."""
        stmt = sa.select(sa.func.count()).select_from(CallRow)
        if source is not None:
            stmt = stmt.where(CallRow.source == source)
        with self._read() as session:
            return int(session.execute(stmt).scalar_one())

    def record_step(self, call_id: str, step: CallStep | str, at: datetime, *, desk: str,
                    operator: str) -> Call:
        """Record a lifecycle step on a call (``cleared`` goes through :meth:`close_call`).

        Raises
        ------
        InvalidTransition
            If the core's lifecycle rules refuse the step.
        """
        with self._write(desk, operator) as tx:
            row = queries.call_row(tx.session, call_id, for_update=True)
            call = queries.call_value(tx.session, row)
            changed = call.record(CallStep(step), at)
            self._save_call(tx, row, call, changed, "step")
            return changed

    def reclassify_call(self, call_id: str, *, desk: str, operator: str,
                        call_type: str | None = None, priority: Priority | str | None = None,
                        flags: Iterable[str] | None = None,
                        needs: Iterable[str] | None = None) -> Call:
        """Update what triage learned about an open call (type, priority, flags, needs)."""
        with self._write(desk, operator) as tx:
            row = queries.call_row(tx.session, call_id, for_update=True)
            call = queries.call_value(tx.session, row)
            changed = call.reclassify(call_type=call_type, priority=priority, flags=flags,
                                      needs=needs, tables=self._tables)
            self._save_call(tx, row, call, changed, "reclassify")
            return changed

    def add_note(self, call_id: str, text: str, at: datetime, *, desk: str,
                 operator: str) -> Call:
        """Append a note to a call's narrative (the operator is its author)."""
        with self._write(desk, operator) as tx:
            row = queries.call_row(tx.session, call_id, for_update=True)
            call = queries.call_value(tx.session, row)
            changed = call.add_note(at, text, author=operator)
            note = changed.notes[-1]
            tx.session.add(CallNoteRow(call_id=call_id, at=note.at, author=note.author,
                                       text=note.text, desk=desk))
            tx.audit(Entity.CALL, call_id, "note", after=note_doc(note))
            return changed

    def close_call(self, call_id: str, at: datetime, *, dispositions: Collection[str],
                   desk: str, operator: str, destination: str | None = None,
                   care_needs: Iterable[str] = (),
                   follow_up_within: timedelta | None = None) -> ClosedCall:
        """Clear a call with its dispositions; release its units; open a follow-up if needed.

        Parameters
        ----------
        call_id
            The call.
        at
            When it cleared.
        dispositions
            Codes from ``dispositions.csv``.
        desk, operator
            Who.
        destination
            Where the person was taken (required by some dispositions).
        care_needs
            Care needs noted for a Care Navigation referral.
        follow_up_within
            Time allowed for the follow-up (the CN program's by default).

        Raises
        ------
        InvalidTransition
            If the call is already cleared, the time is before its last step, or a unit on
            it is in emergency.
        """
        with self._write(desk, operator) as tx:
            row = queries.call_row(tx.session, call_id, for_update=True)
            call = queries.call_value(tx.session, row)
            closed = call.close(at, dispositions=dispositions, destination=destination,
                                tables=self._tables)
            cleared = closed.time_of(CallStep.CLEARED)
            assert cleared is not None
            released = self._release_units_of(tx, call_id, cleared)
            self._save_call(tx, row, call, closed, "close")
            task = follow_up_for(closed, within=follow_up_within, needs=care_needs,
                                 tables=self._tables)
            if task is not None:
                tx.session.add(FollowUpRow(task_id=task.task_id, call_id=call_id,
                                           created_at=task.created_at, due_at=task.due_at,
                                           needs=sorted(task.needs), note=task.note))
                tx.audit(Entity.FOLLOW_UP, task.task_id, "create", after=follow_up_doc(task))
            return ClosedCall(call=closed, follow_up=task, released=released)

    def _release_units_of(self, tx: WriteTx, call_id: str,
                          at: datetime) -> tuple[AssignmentRecord, ...]:
        released = []
        for assignment in queries.active_on_call(tx.session, call_id):
            unit = queries.unit_row(tx.session, assignment.unit_id)
            if self._tables.status(unit.status).emergency:
                raise InvalidTransition(f"unit {unit.unit_id} is in emergency on call {call_id}; "
                                        "resolve the emergency before closing the call")
            before = state_from_row(unit)
            after = before.transition(self._available, max(at, before.since),
                                      tables=self._tables)
            self._apply_state(tx, unit, before, after, _Dispatch(),
                              release_reason="call closed")
            released.append(assignment_from_row(assignment))
        return tuple(released)

    def _save_call(self, tx: WriteTx, row: CallRow, before: Call, after: Call,
                   action: str) -> None:
        for key, value in call_fields(after).items():
            setattr(row, key, value)
        tx.audit(Entity.CALL, after.call_id, action, before=call_doc(before),
                 after=call_doc(after))

    def _advance_call(self, tx: WriteTx, call_id: str, step: CallStep, at: datetime) -> None:
        """Record ``step`` (and a missing ``dispatched`` before it) unless the call is past it.

        A unit's status must not fail because its call already moved on (a second unit
        arriving) or because a unit clock lags the call's; such steps are skipped.
        """
        row = queries.call_row(tx.session, call_id, for_update=True)
        call = queries.call_value(tx.session, row)
        if not call.is_open or call.time_of(step) is not None \
                or step.order <= call.last_step.order:
            return
        missing: list[CallStep] = []
        needed: CallStep | None = step
        while needed is not None and call.time_of(needed) is None:
            missing.insert(0, needed)
            needed = PREREQUISITE.get(needed)
        changed = call
        try:
            for each in missing:
                changed = changed.record(each, at)
        except InvalidTransition as exc:
            log.warning("call %s: %s not recorded from a unit status: %s", call_id, step, exc)
            return
        self._save_call(tx, row, call, changed, "step")

    # -- follow-ups -----------------------------------------------------------------------------

    def follow_ups(self, *, open_only: bool = False) -> list[FollowUpTask]:
        """Return follow-up tasks, soonest due first."""
        where = [FollowUpRow.completed_at.is_(None)] if open_only else []
        with self._read() as session:
            return queries.load_follow_ups(session, where)

    def follow_up(self, task_id: str) -> FollowUpTask:
        """Return one follow-up task.

        Raises
        ------
        NotFound
            If there is no such task.
        """
        with self._read() as session:
            return queries.follow_up_value(session, queries.follow_up_row(session, task_id))

    def record_follow_up_attempt(self, task_id: str, at: datetime, *, desk: str,
                                 operator: str) -> FollowUpTask:
        """Record a contact attempt on a follow-up task."""
        with self._write(desk, operator) as tx:
            row = queries.follow_up_row(tx.session, task_id)
            task = queries.follow_up_value(tx.session, row)
            changed = task.record_attempt(at)
            tx.session.add(FollowUpAttemptRow(task_id=task_id, at=changed.attempts[-1]))
            tx.audit(Entity.FOLLOW_UP, task_id, "attempt", before=follow_up_doc(task),
                     after=follow_up_doc(changed))
            return changed

    def complete_follow_up(self, task_id: str, at: datetime, *, connected: bool, desk: str,
                           operator: str, note: str = "") -> FollowUpTask:
        """Complete a follow-up task with its outcome."""
        with self._write(desk, operator) as tx:
            row = queries.follow_up_row(tx.session, task_id)
            task = queries.follow_up_value(tx.session, row)
            changed = task.complete(at, connected=connected, note=note)
            row.completed_at, row.connected, row.note = (changed.completed_at,
                                                         changed.connected, changed.note)
            tx.audit(Entity.FOLLOW_UP, task_id, "complete", before=follow_up_doc(task),
                     after=follow_up_doc(changed))
            return changed

    # -- safety ---------------------------------------------------------------------------------

    def record_safety_events(self, events: Iterable[SafetyEvent], *, desk: str,
                             operator: str) -> int:
        """Append safety events (what :attr:`SafetyMonitor.events` holds); return how many."""
        batch = list(events)
        with self._write(desk, operator) as tx:
            _check_known(tx.session, UnitRow, {e.unit_id for e in batch} - {None}, "unit")
            _check_known(tx.session, CallRow, {e.call_id for e in batch} - {None}, "call")
            for event in batch:
                row = SafetyEventRow(kind=event.kind.value, at=event.at, unit_id=event.unit_id,
                                     call_id=event.call_id, program=event.program)
                tx.session.add(row)
                tx.session.flush()
                tx.audit(Entity.SAFETY_EVENT, str(row.id), event.kind.value,
                         after=safety_event_doc(event))
        return len(batch)

    def safety_events(self, *, since: datetime | None = None) -> list[SafetyEvent]:
        """Return safety events in the order recorded (replay them into a SafetyMonitor)."""
        stmt = sa.select(SafetyEventRow).order_by(SafetyEventRow.id)
        if since is not None:
            stmt = stmt.where(SafetyEventRow.at >= ensure_utc(since))
        with self._read() as session:
            return [safety_event_from_row(row) for row in session.scalars(stmt)]

    def acknowledge_alert(self, unit_id: str, level: AlertLevel | int | str, at: datetime, *,
                          desk: str, operator: str, call_id: str | None = None,
                          note: str = "") -> AlertAck:
        """Record that a dispatcher saw and handled a safety alert."""
        alert_level = _alert_level(level)
        at = ensure_utc(at, what=f"acknowledgement time of unit {unit_id}'s alert")
        with self._write(desk, operator) as tx:
            queries.unit_row(tx.session, unit_id)
            row = AlertAckRow(unit_id=unit_id, call_id=call_id, level=alert_level.name, at=at,
                              desk=desk, operator=operator, note=note.strip())
            tx.session.add(row)
            tx.session.flush()
            ack = _ack_from_row(row)
            tx.audit(Entity.ALERT, unit_id, "acknowledge", after={
                "ack_id": ack.ack_id, "level": alert_level.name, "call_id": call_id,
                "at": ack.at.isoformat(), "note": ack.note})
            return ack

    def acknowledgements(self, *, unit_id: str | None = None) -> list[AlertAck]:
        """Return alert acknowledgements in the order made."""
        stmt = sa.select(AlertAckRow).order_by(AlertAckRow.id)
        if unit_id is not None:
            stmt = stmt.where(AlertAckRow.unit_id == unit_id)
        with self._read() as session:
            return [_ack_from_row(row) for row in session.scalars(stmt)]

    # -- ledger ---------------------------------------------------------------------------------

    def record_ledger(self, entries: Iterable[LedgerEntry]) -> int:
        """Insert or replace unmet-demand ledger entries (derived data: not audited)."""
        batch = list(entries)
        with self._write(SYSTEM.desk, SYSTEM.operator) as tx:
            return bulk.store_ledger(tx.session, batch)

    def ledger(self) -> list[LedgerEntry]:
        """Return the ledger, in screening order."""
        with self._read() as session:
            rows = session.scalars(sa.select(LedgerRow).order_by(LedgerRow.at, LedgerRow.call_id))
            return [ledger_from_row(row) for row in rows]

    # -- AVL ------------------------------------------------------------------------------------

    def record_fixes(self, fixes: Iterable[AvlFix]) -> RecordedFixes:
        """Store accepted AVL fixes in bulk and move units' last positions forward.

        Fixes of units not on the roster are dropped (and named in the result); a fix stored
        before (same unit and time) is skipped. Not audited: positions are not decisions.
        """
        batch = list(fixes)
        if not batch:
            return RecordedFixes(0, 0, frozenset())
        with self._write(SYSTEM.desk, SYSTEM.operator) as tx:
            return bulk.store_fixes(tx.session, batch)

    def fixes(self, unit_id: str, *, start: datetime | None = None,
              end: datetime | None = None) -> list[AvlFix]:
        """Return a unit's stored fixes in ``[start, end)``, oldest first."""
        stmt = sa.select(AvlFixRow).where(AvlFixRow.unit_id == unit_id).order_by(AvlFixRow.at)
        if start is not None:
            stmt = stmt.where(AvlFixRow.at >= ensure_utc(start))
        if end is not None:
            stmt = stmt.where(AvlFixRow.at < ensure_utc(end))
        with self._read() as session:
            return [fix_from_row(row) for row in session.scalars(stmt)]

    def latest_fix_id(self) -> int:
        """Return the id of the newest stored fix (0 when none); see :meth:`fixes_after`."""
        with self._read() as session:
            return int(session.execute(sa.select(sa.func.max(AvlFixRow.id))).scalar() or 0)

    def fixes_after(self, fix_id: int, *, limit: int = 10_000) -> tuple[int, list[AvlFix]]:
        """Return fixes stored after ``fix_id`` (oldest first) and the cursor for the next read.

        Fixes are not audited, so other desks follow them by id rather than by change id.
        """
        stmt = (sa.select(AvlFixRow).where(AvlFixRow.id > fix_id).order_by(AvlFixRow.id)
                .limit(limit))
        with self._read() as session:
            rows = session.scalars(stmt).all()
            fixes = [fix_from_row(row) for row in rows]
        return (rows[-1].id if rows else fix_id), fixes

    # -- imports --------------------------------------------------------------------------------

    def import_calls(self, calls: Iterable[Call], *, source: str, batch_size: int = 1000,
                     progress: Progress = no_progress, desk: str = "import",
                     operator: str = "system") -> ImportResult:
        """Import calls (CAD history, a feed), one transaction per batch, resumably.

        Calls are unique by ``(source, call_id)``: a call already stored from the same source
        is skipped, so re-running an interrupted import inserts exactly what is missing. Each
        batch is recorded in ``import_batches`` with the slice of the input it covered.

        Parameters
        ----------
        calls
            The calls, in a stable order (an interrupted import resumes by skipping).
        source
            Where they come from (``"durham-cad-2024"``); part of each call's identity.
        batch_size
            Calls per transaction.
        progress
            Told after each committed batch.
        desk, operator
            Recorded on the batches and their audit rows.

        Raises
        ------
        StoreError
            If a call id is already used by another source's call (nothing of that batch is
            written; earlier batches stay).
        """
        if not source or not source.strip():
            raise ValueError("an import needs a source name")
        total = len(calls) if isinstance(calls, Sized) else None
        inserted = skipped = batches = 0
        first_index = 0
        with gc_paused():
            for batch in bulk.chunks(calls, batch_size):
                started = ensure_utc(self._clock.now(), what="store clock")
                with self._write(desk, operator) as tx:
                    outcome = bulk.import_batch(tx, batch, source=source,
                                                first_index=first_index, started_at=started)
                inserted += outcome.inserted
                skipped += outcome.skipped
                batches += 1
                first_index += len(batch)
                progress(f"import {source}: batch {batches} committed ({first_index} calls "
                         f"read, {inserted} new)", None if not total else first_index / total)
        return ImportResult(inserted=inserted, skipped_existing=skipped, batches=batches)

    def import_history(self, *, safety_events: Sequence[SafetyEvent],
                       follow_ups: Sequence[FollowUpTask], source: str,
                       desk: str = "import", operator: str = "system") -> tuple[int, int]:
        """Import the safety events and follow-ups of calls imported from ``source``.

        For history made elsewhere (the shift simulator, another CAD): one transaction and
        one audit row for the lot instead of one per event. Returns the counts inserted.

        Raises
        ------
        StoreError
            If an event or task names a unit or call the store does not hold.
        """
        with self._write(desk, operator) as tx:
            _check_known(tx.session, UnitRow,
                         {e.unit_id for e in safety_events} - {None}, "unit")
            _check_known(tx.session, CallRow,
                         {e.call_id for e in safety_events} - {None}
                         | {t.call_id for t in follow_ups}, "call")
            events = bulk.store_history_events(tx.session, safety_events)
            tasks = bulk.store_history_follow_ups(tx.session, follow_ups)
            tx.audit(Entity.IMPORT_BATCH, source, "import history",
                     after={"safety_events": events, "follow_ups": tasks})
        return events, tasks

    def import_batches(self, *, source: str | None = None) -> list[ImportBatch]:
        """Return the committed import batches, oldest first."""
        stmt = sa.select(ImportBatchRow).order_by(ImportBatchRow.id)
        if source is not None:
            stmt = stmt.where(ImportBatchRow.source == source)
        with self._read() as session:
            return [ImportBatch(
                batch_id=r.id, source=r.source, started_at=r.started_at,
                finished_at=r.finished_at, first_index=r.first_index, last_index=r.last_index,
                first_external_id=r.first_external_id, last_external_id=r.last_external_id,
                rows=r.rows, inserted=r.inserted, skipped=r.skipped)
                for r in session.scalars(stmt)]

    # -- audit and change feed ------------------------------------------------------------------

    def audit(self, entity: str | None = None, entity_id: str | None = None, *,
              limit: int | None = None) -> list[AuditRecord]:
        """Return audit rows (optionally of one entity kind / one entity), oldest first."""
        stmt = sa.select(AuditRow).order_by(AuditRow.id)
        if entity is not None:
            stmt = stmt.where(AuditRow.entity == str(entity))
        if entity_id is not None:
            stmt = stmt.where(AuditRow.entity_id == entity_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as session:
            return [_audit_from_row(row) for row in session.scalars(stmt)]

    def current_change_id(self) -> int:
        """Return the id of the last committed change (a new desk starts polling from it)."""
        with self._read() as session:
            value = session.execute(sa.select(ChangeCounterRow.last_change_id)
                                    .where(ChangeCounterRow.id == 1)).scalar_one()
            return int(value)

    def changes_since(self, cursor: int) -> Changes:
        """Return every change committed after ``cursor`` (another desk's or this one's).

        Change ids are handed out in commit order, so polling with the returned cursor never
        misses a change.
        """
        with self._read() as session:
            rows = session.scalars(sa.select(AuditRow).where(AuditRow.change_id > cursor)
                                   .order_by(AuditRow.change_id, AuditRow.id)).all()
        records = tuple(_audit_from_row(row) for row in rows)
        return Changes(cursor=records[-1].change_id if records else cursor, records=records)


def _check_known(session: Session, model: type[UnitRow] | type[CallRow],
                 ids: Collection[str | None], what: str) -> None:
    """Raise NotFound naming the first of ``ids`` not in ``model``'s table."""
    key = UnitRow.unit_id if model is UnitRow else CallRow.call_id
    wanted = sorted(i for i in ids if i is not None)
    known = set(session.scalars(sa.select(key).where(key.in_(wanted))))
    missing = [i for i in wanted if i not in known]
    if missing:
        raise NotFound(f"no {what} {missing[0]!r} in the store")


def _conflict_text(current: AssignmentRow, wanted_call: str) -> str:
    return (f"unit {current.unit_id} is already assigned to call {current.call_id} "
            f"(by {current.operator} at desk {current.desk}, "
            f"{current.assigned_at:%H:%M:%S}Z); it was not assigned to call {wanted_call}")


def _alert_level(level: AlertLevel | int | str) -> AlertLevel:
    if isinstance(level, AlertLevel):
        return level
    if isinstance(level, int):
        return AlertLevel(level)
    try:
        return AlertLevel[level.strip().upper()]
    except KeyError:
        known = ", ".join(member.name for member in AlertLevel)
        raise NotFound(f"unknown alert level {level!r}; known: {known}") from None


def _ack_from_row(row: AlertAckRow) -> AlertAck:
    return AlertAck(ack_id=row.id, unit_id=row.unit_id, call_id=row.call_id,
                    level=AlertLevel[row.level], at=row.at, desk=row.desk,
                    operator=row.operator, note=row.note)


def _audit_from_row(row: AuditRow) -> AuditRecord:
    return AuditRecord(audit_id=row.id, change_id=row.change_id, at=row.at, desk=row.desk,
                       operator=row.operator, entity=row.entity, entity_id=row.entity_id,
                       action=row.action, before=row.before, after=row.after)
