"""Write transactions: the change, its audit rows and its change id commit together.

A :class:`WriteTx` wraps one ORM session in a write transaction. Operations record their audit
rows with :meth:`WriteTx.audit` as they go; :meth:`WriteTx.finish` then flushes the changes,
takes the next change id from ``change_counter`` (last, so its row lock is held only for the
few statements before COMMIT), writes the audit rows under that id and, on PostgreSQL, queues
``NOTIFY heartops_changes`` with the id as payload. PostgreSQL delivers a notification only
when its transaction commits, so listeners never hear of a change that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from heartops.core.errors import (
    AssignmentConflict,
    Conflict,
    HeartopsError,
    StoreError,
    VersionConflict,
)
from heartops.store.engine import describe_db_error
from heartops.store.models import ACTIVE_ASSIGNMENT_INDEX, AuditRow, ChangeCounterRow, table_of

log = logging.getLogger(__name__)

_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock

CHANGES_CHANNEL = "heartops_changes"
"""The PostgreSQL NOTIFY channel announcing committed changes (payload: the change id)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: the desk (workstation) and the operator signed in at it."""

    desk: str
    operator: str

    def __post_init__(self) -> None:
        for what, value in (("desk", self.desk), ("operator", self.operator)):
            if not value or not value.strip():
                raise ValueError(f"every change must name its {what} (got {value!r})")


@dataclass(slots=True)
class WriteTx:
    """One write transaction in progress.

    Attributes
    ----------
    session
        The ORM session. Autoflush is off: the store flushes where it chooses, so a unit row
        is updated once per change and its version moves by exactly one.
    actor
        Who is making the change.
    now
        When (the store's clock), stamped on every audit row.
    change_id
        Set by :meth:`finish` when the transaction changed state.
    """

    session: Session
    actor: Actor
    now: datetime
    change_id: int | None = None
    _pending: list[dict[str, Any]] = field(default_factory=list)

    def audit(self, entity: str, entity_id: str, action: str, *,
              before: dict[str, Any] | None = None,
              after: dict[str, Any] | None = None) -> None:
        """Queue an audit row describing one change."""
        self._pending.append({
            "at": self.now, "desk": self.actor.desk, "operator": self.actor.operator,
            "entity": str(entity), "entity_id": entity_id, "action": action,
            "before": before, "after": after})

    def finish(self) -> None:
        """Flush, then write the audit rows under a new change id (if anything changed)."""
        self.session.flush()
        if not self._pending:
            return
        self.change_id = next_change_id(self.session)
        rows = [{**row, "change_id": self.change_id} for row in self._pending]
        self.session.execute(sa.insert(AuditRow), rows)
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(sa.select(sa.func.pg_notify(CHANGES_CHANNEL,
                                                             str(self.change_id))))


def next_change_id(session: Session) -> int:
    """Take the next change id; its row lock orders concurrent writers until they commit."""
    counter = table_of(ChangeCounterRow)
    new_id = session.execute(
        sa.update(counter).where(counter.c.id == 1)
        .values(last_change_id=counter.c.last_change_id + 1)
        .returning(counter.c.last_change_id)).scalar_one()
    return int(new_id)


@contextmanager
def translated_errors(url: sa.URL) -> Iterator[None]:
    """Turn SQLAlchemy/driver errors into the domain's one-line errors.

    * a stale unit version -> :class:`VersionConflict`;
    * the one-active-assignment index -> :class:`AssignmentConflict` (the caller names the
      winning call);
    * a domain error raised inside a column type (a naive datetime) -> that error itself;
    * anything else from the driver -> :class:`StoreError`.
    """
    try:
        yield
    except StaleDataError:
        raise VersionConflict("another desk changed this unit first; reload it and try again") \
            from None
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            raise Conflict("another desk was changing the same records; try again") from None
        raise StoreError(describe_db_error(exc, url)) from None
    except sa.exc.IntegrityError as exc:
        if ACTIVE_ASSIGNMENT_INDEX in str(exc.orig) or "assignments.unit_id" in str(exc.orig):
            raise AssignmentConflict("the unit already has an active assignment") from None
        raise StoreError(describe_db_error(exc, url)) from None
    except sa.exc.StatementError as exc:
        if isinstance(exc.orig, HeartopsError):
            raise exc.orig from None
        if isinstance(exc, sa.exc.DBAPIError):
            raise StoreError(describe_db_error(exc, url)) from None
        raise
