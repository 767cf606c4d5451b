"""Care Navigation follow-up: the tasks a referral opens, their 48–72 h timers, their outcomes.

Closing a call with a disposition that has ``follow_up`` set (``referred_to_care_navigation``)
opens a :class:`FollowUpTask` due a fixed time after the call cleared: the CN program's
``follow_up_hours`` in ``programs.toml`` (72 h), or whatever the caller passes. Tasks are
immutable values; :meth:`FollowUpTask.record_attempt` and :meth:`FollowUpTask.complete` return
the next version. :func:`overdue` is the queue's alarm list.

Published CN figures this feeds: share of neighbours connected to care (``connected``), and
days to first follow-up (:attr:`FollowUpTask.first_contact_at` minus the call's clearing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from heartops.core.calls import Call
from heartops.core.clock import ensure_utc
from heartops.core.codes import CallStep, CodeTables, default_tables
from heartops.core.errors import InvalidTransition

CARE_PROGRAM = "CN"
"""The program whose ``follow_up_hours`` set the default due time."""

DEFAULT_FOLLOW_UP = timedelta(hours=72)
"""Used when the tables give no follow-up time (PRODUCT.md: within 48–72 h)."""


@dataclass(frozen=True, slots=True)
class FollowUpTask:
    """A Care Navigation follow-up owed to the person from one call.

    Attributes
    ----------
    task_id
        Id of the task (``"<call_id>-FU"`` by default).
    call_id
        The call that referred the person.
    created_at
        When the referral was made (the call's clearing time).
    due_at
        When the first follow-up is due.
    needs
        Care needs noted at referral (codes from ``care_needs.csv``).
    attempts
        Times of contact attempts so far.
    completed_at
        When the task was completed; ``None`` while open.
    connected
        Whether the person was connected to care (``None`` while open).
    note
        Outcome note.
    """

    task_id: str
    call_id: str
    created_at: datetime
    due_at: datetime
    needs: frozenset[str] = field(default_factory=frozenset)
    attempts: tuple[datetime, ...] = ()
    completed_at: datetime | None = None
    connected: bool | None = None
    note: str = ""

    def __post_init__(self) -> None:
        what = f"follow-up {self.task_id}"
        object.__setattr__(self, "created_at", ensure_utc(self.created_at, what=what))
        object.__setattr__(self, "due_at", ensure_utc(self.due_at, what=what))
        if self.due_at < self.created_at:
            raise ValueError(f"{what}: due before it was created")
        object.__setattr__(self, "needs", frozenset(self.needs))

    @property
    def is_open(self) -> bool:
        """Whether the task still waits for an outcome."""
        return self.completed_at is None

    def is_overdue(self, at: datetime) -> bool:
        """Return whether the task is open past its due time at ``at``."""
        return self.is_open and ensure_utc(at) > self.due_at

    def time_left(self, at: datetime) -> timedelta:
        """Return the time until due at ``at`` (negative once overdue)."""
        return self.due_at - ensure_utc(at)

    @property
    def first_contact_at(self) -> datetime | None:
        """The first attempt, or the completion if there was no separate attempt."""
        times = [*self.attempts, *([self.completed_at] if self.completed_at else [])]
        return min(times, default=None)

    def record_attempt(self, at: datetime) -> FollowUpTask:
        """Return the task with a contact attempt at ``at`` (phone or in person).

        Raises
        ------
        InvalidTransition
            If the task is completed, or ``at`` is before the referral.
        """
        at = self._checked_time(at, "attempt")
        return replace(self, attempts=(*self.attempts, at))

    def complete(self, at: datetime, *, connected: bool, note: str = "") -> FollowUpTask:
        """Return the task completed at ``at``.

        Parameters
        ----------
        at
            When the outcome was reached.
        connected
            Whether the person was connected to care.
        note
            What happened.

        Raises
        ------
        InvalidTransition
            If the task is already completed, or ``at`` is before the referral.
        """
        at = self._checked_time(at, "completion")
        return replace(self, completed_at=at, connected=connected, note=note.strip())

    def _checked_time(self, at: datetime, what: str) -> datetime:
        at = ensure_utc(at, what=f"{what} time of follow-up {self.task_id}")
        if not self.is_open:
            raise InvalidTransition(f"follow-up {self.task_id} is already completed")
        if at < self.created_at:
            raise InvalidTransition(f"follow-up {self.task_id}: {what} at {at:%Y-%m-%d %H:%M}Z "
                                    "is before the referral")
        return at


def follow_up_window(*, tables: CodeTables | None = None) -> timedelta:
    """Return the configured time to first follow-up (CN's ``follow_up_hours``, else 72 h)."""
    tables = tables or default_tables()
    program = tables.programs.get(CARE_PROGRAM)
    return program.follow_up if program is not None and program.follow_up else DEFAULT_FOLLOW_UP


def follow_up_for(call: Call, *, within: timedelta | None = None, needs: Iterable[str] = (),
                  task_id: str | None = None,
                  tables: CodeTables | None = None) -> FollowUpTask | None:
    """Return the follow-up task a closed call opens, or ``None`` if it needs none.

    Parameters
    ----------
    call
        A cleared call.
    within
        Time allowed after clearing; defaults to :func:`follow_up_window`.
    needs
        Care needs noted at referral (codes from ``care_needs.csv``).
    task_id
        Defaults to ``"<call_id>-FU"``.
    tables
        Code tables (the packaged ones by default).

    Raises
    ------
    InvalidTransition
        If the call is still open.
    ValueError
        If ``within`` is not positive.
    UnknownCodeError
        On an unknown care need.
    """
    tables = tables or default_tables()
    cleared = call.time_of(CallStep.CLEARED)
    if cleared is None:
        raise InvalidTransition(f"call {call.call_id} is open; follow-ups start when it clears")
    if not any(tables.disposition(code).follow_up for code in call.dispositions):
        return None
    window = follow_up_window(tables=tables) if within is None else within
    if window <= timedelta():
        raise ValueError(f"follow-up window must be positive, got {window}")
    codes = frozenset(needs)
    for code in sorted(codes):
        tables.care_need(code)
    return FollowUpTask(task_id=task_id or f"{call.call_id}-FU", call_id=call.call_id,
                        created_at=cleared, due_at=cleared + window, needs=codes)


def overdue(tasks: Iterable[FollowUpTask], at: datetime) -> list[FollowUpTask]:
    """Return the open tasks past due at ``at``, most overdue first (then by task id)."""
    at = ensure_utc(at, what="overdue check time")
    return sorted((t for t in tasks if t.is_overdue(at)), key=lambda t: (t.due_at, t.task_id))
