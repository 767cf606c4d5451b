"""heartops.store: the persistent store (SQLAlchemy 2 ORM, Alembic migrations).

SQLite in the user data dir by default (one desk), PostgreSQL by URL (several desks)::

    from heartops.store import open_store, resolve_db_url

    store = open_store(resolve_db_url(args.db))   # --db URL, else $HEARTOPS_DB_URL, else file
    store.assign("CRT-2", "C-1041", at=now, desk="desk-1", operator="jdoe")

Modules: :mod:`~heartops.store.engine` (URLs, engines, SQLite pragmas),
:mod:`~heartops.store.migrate` (Alembic in code), :mod:`~heartops.store.models` (schema),
:mod:`~heartops.store.store` (the :class:`Store` repository), :mod:`~heartops.store.records`
(the values it returns besides core ones).
"""

from __future__ import annotations

from heartops.core.clock import Clock
from heartops.core.codes import CodeTables
from heartops.core.errors import StoreError
from heartops.store.engine import (
    DB_URL_ENV,
    DEFAULT_BUSY_TIMEOUT_S,
    create_store_engine,
    resolve_db_url,
)
from heartops.store.migrate import upgrade
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
from heartops.store.store import DESK_SOURCE, Store
from heartops.store.tx import CHANGES_CHANNEL

__all__ = [
    "CHANGES_CHANNEL",
    "DB_URL_ENV",
    "DESK_SOURCE",
    "AlertAck",
    "AssignmentRecord",
    "AuditRecord",
    "Changes",
    "ClosedCall",
    "Entity",
    "ImportBatch",
    "ImportResult",
    "RecordedFixes",
    "Store",
    "StoreError",
    "UnitRecord",
    "open_store",
    "resolve_db_url",
]


def open_store(url: str | None = None, *, clock: Clock | None = None,
               tables: CodeTables | None = None,
               busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Store:
    """Open the store at ``url``, creating or upgrading its schema to the newest revision.

    Parameters
    ----------
    url
        A database URL or SQLite file path; ``None`` resolves as :func:`resolve_db_url` does.
    clock
        Stamps audit rows (system clock by default).
    tables
        Code tables (the packaged ones by default).
    busy_timeout_s
        How long a SQLite writer waits for another's lock.

    Raises
    ------
    StoreError
        One line, when the URL is bad, the server unreachable, or the database is not a
        heartops database or is newer than this program.
    """
    engine = create_store_engine(resolve_db_url(url), busy_timeout_s=busy_timeout_s)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, clock=clock, tables=tables)
