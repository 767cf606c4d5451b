"""Follow a shared store: what other desks changed, read as core values a board can apply.

A desk on a shared PostgreSQL database hears each commit through
:class:`~heartops.store.listen.ChangeListener` (``NOTIFY heartops_changes``) and then reads what
changed with :func:`read_changes`: the audit records after its cursor plus the current state of
every unit, call and follow-up they touched, the assignments and safety events they made, and
the AVL fixes stored since its fix cursor (fixes are not audited, so they are polled by id).

:class:`StoreFollower` does that on its own thread, so the desk's UI thread never waits for
the database: it wakes on each notification (and every :data:`POLL_INTERVAL_S` for fixes),
reads, and queues a :class:`StoreChanges`; the desk drains the queue from its timer. Reading
the current state rather than replaying the audit documents means a lost or coalesced
notification costs nothing: the next read catches up.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from heartops.core.avl import AvlFix
from heartops.core.calls import Call
from heartops.core.care import FollowUpTask
from heartops.core.errors import HeartopsError, NotFound
from heartops.core.recommend import Assignment
from heartops.core.safety import SafetyEvent
from heartops.core.units import UnitState
from heartops.store.convert import assignment_from_doc, safety_event_from_doc
from heartops.store.listen import ChangeListener
from heartops.store.records import AuditRecord, Entity
from heartops.store.store import Store

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.25
"""How often the follower reads new AVL fixes when no change is announced."""


@dataclass(frozen=True, slots=True)
class StoreChanges:
    """What the store holds that a desk has not seen yet.

    Attributes
    ----------
    cursor
        The last change id covered (pass it to the next :func:`read_changes`).
    records
        The audit records after the old cursor, in change order (every desk's).
    units, calls, follow_ups
        The current state of each unit, call and follow-up task those records touched.
    assignments
        Assignments made in those changes that carry a recommendation (rank, reason).
    safety_events
        Safety events recorded in those changes, in order.
    fix_cursor
        The last AVL fix id covered.
    fixes
        AVL fixes stored after the old fix cursor, oldest first.
    """

    cursor: int
    records: tuple[AuditRecord, ...] = ()
    units: Mapping[str, UnitState] = field(default_factory=dict)
    calls: Mapping[str, Call] = field(default_factory=dict)
    follow_ups: Mapping[str, FollowUpTask] = field(default_factory=dict)
    assignments: tuple[Assignment, ...] = ()
    safety_events: tuple[SafetyEvent, ...] = ()
    fix_cursor: int = 0
    fixes: tuple[AvlFix, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Whether nothing changed and no fix arrived."""
        return not self.records and not self.fixes


def read_changes(store: Store, cursor: int, *, fix_cursor: int | None = None) -> StoreChanges:
    """Read everything committed after ``cursor`` (and fixes after ``fix_cursor``, if given).

    Raises
    ------
    StoreError
        If the database cannot be read.
    """
    changes = store.changes_since(cursor)
    fixes: list[AvlFix] = []
    next_fix_cursor = fix_cursor or 0
    if fix_cursor is not None:
        next_fix_cursor, fixes = store.fixes_after(fix_cursor)
    records = changes.records
    units = {unit_id: store.unit_state(unit_id) for unit_id in changes.touched(Entity.UNIT)}
    calls = {call_id: store.call(call_id) for call_id in changes.touched(Entity.CALL)}
    follow_ups = {}
    for task_id in changes.touched(Entity.FOLLOW_UP):
        try:
            follow_ups[task_id] = store.follow_up(task_id)
        except NotFound:  # pragma: no cover - tasks are never deleted
            log.warning("follow-up %s vanished", task_id)
    assignments = tuple(a for r in records
                        if r.entity == Entity.ASSIGNMENT and r.action == "assign"
                        and r.after is not None
                        and (a := assignment_from_doc(r.after)) is not None)
    events = tuple(safety_event_from_doc(r.after) for r in records
                   if r.entity == Entity.SAFETY_EVENT and r.after is not None)
    return StoreChanges(cursor=changes.cursor, records=records, units=units, calls=calls,
                        follow_ups=follow_ups, assignments=assignments, safety_events=events,
                        fix_cursor=next_fix_cursor, fixes=tuple(fixes))


class StoreFollower:
    """Reads other desks' changes on a background thread and queues them for the desk.

    Parameters
    ----------
    store
        The shared store (PostgreSQL: the follower listens for its notifications).
    cursor, fix_cursor
        Where to start: the change id and fix id the desk's board was loaded at.
    follow_fixes
        Also poll AVL fixes (a desk without its own AVL feed).
    """

    def __init__(self, store: Store, *, cursor: int, fix_cursor: int,
                 follow_fixes: bool = True) -> None:
        self._store = store
        self._cursor = cursor
        self._fix_cursor = fix_cursor
        self._follow_fixes = follow_fixes
        self._queue: queue.SimpleQueue[StoreChanges] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        url = store.engine.url.render_as_string(hide_password=False)  # store.url is masked
        self._listener = ChangeListener(url, lambda _change_id: self._wake.set())
        self._thread = threading.Thread(target=self._run, name="heartops-store-follower",
                                        daemon=True)
        self.last_error: str | None = None
        """The last read that failed (the follower keeps trying), or ``None``."""

    def start(self) -> StoreFollower:
        """Start listening and reading; returns once notifications are heard.

        Raises
        ------
        StoreError
            If the database is not PostgreSQL or cannot be reached.
        """
        self._listener.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading and listening (within about :data:`POLL_INTERVAL_S`)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        self._listener.stop()

    def wake(self) -> None:
        """Read now rather than at the next notification or poll."""
        self._wake.set()

    def drain(self) -> list[StoreChanges]:
        """Return what was read since the last drain, oldest first (never blocks)."""
        drained = []
        while True:
            try:
                drained.append(self._queue.get_nowait())
            except queue.Empty:
                return drained

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_INTERVAL_S)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                changes = read_changes(self._store, self._cursor, fix_cursor=(
                    self._fix_cursor if self._follow_fixes else None))
            except HeartopsError as exc:
                self.last_error = str(exc).splitlines()[0]
                log.error("reading other desks' changes failed: %s", self.last_error)
                continue
            self.last_error = None
            self._cursor = changes.cursor
            self._fix_cursor = changes.fix_cursor
            if not changes.is_empty:
                self._queue.put(changes)
