"""Database URLs and engines: which database, and how each dialect is set up.

SQLite (the default, one desk) is tuned the way STACK.md measured it: WAL journal,
``synchronous=NORMAL``, foreign keys on, a busy timeout, and SQLAlchemy's pysqlite recipe for
transactions (the driver's own BEGIN handling is switched off and the ``begin`` event emits
``BEGIN IMMEDIATE``). Taking the write lock at BEGIN, rather than at the first write, is what
keeps a read-then-write transaction from failing with "database is locked" when another desk
wrote in between: the second writer waits for the first and then reads fresh data. Read-only
sessions use :data:`READ_ONLY` and a deferred BEGIN, so readers never wait for writers (WAL).

PostgreSQL (several desks) is used when a ``postgresql://`` URL is given; only the psycopg 3
driver is shipped, so ``postgresql://`` and ``postgres://`` are mapped to it. Sessions run in
UTC so stored instants read naturally in psql.

Every failure to open or reach a database becomes a one-line :class:`StoreError`, without the
password.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from heartops import paths
from heartops.core.errors import StoreError

log = logging.getLogger(__name__)

DB_URL_ENV = "HEARTOPS_DB_URL"
"""Environment variable naming the database (used when no ``--db`` is given)."""

DB_FILE_NAME = "heartops.db"
"""The default SQLite file in the user data dir."""

READ_ONLY = "heartops_read_only"
"""Execution option marking a connection whose transactions only read (deferred BEGIN)."""

DEFAULT_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another's write lock before giving up."""

DEFAULT_CONNECT_TIMEOUT_S = 10
"""How long to wait for a PostgreSQL server to answer."""

_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def resolve_db_url(cli_value: str | None) -> str:
    """Return the database URL a command should use.

    Parameters
    ----------
    cli_value
        The ``--db`` option: a SQLAlchemy URL (``sqlite:///path``,
        ``postgresql+psycopg://user@host/db``) or a plain file path (taken as a SQLite file).

    Returns
    -------
    str
        ``cli_value`` if given, else ``$HEARTOPS_DB_URL`` if set, else the user's SQLite file
        (``heartops.paths.data_dir() / "heartops.db"``).
    """
    for value in (cli_value, os.environ.get(DB_URL_ENV)):
        if value and value.strip():
            return _as_url(value.strip())
    return sqlite_url(paths.data_dir() / DB_FILE_NAME)


def sqlite_url(path: Path) -> str:
    """Return the SQLAlchemy URL of the SQLite file ``path``."""
    return URL.create("sqlite", database=str(Path(path).expanduser().resolve())).render_as_string()


def _as_url(value: str) -> str:
    # A bare path is the natural thing to type for a file database; anything with a scheme is
    # left for parse_db_url to judge.
    return value if "://" in value else sqlite_url(Path(value))


def safe_url(url: URL | str) -> str:
    """Return ``url`` as text with any password masked, for messages and logs."""
    try:
        parsed = url if isinstance(url, URL) else sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def parse_db_url(url: str) -> URL:
    """Parse and normalise a database URL.

    Raises
    ------
    StoreError
        If the URL cannot be parsed or names a database heartops does not support.
    """
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StoreError(f"bad database URL {_mask_password(url)!r}: {_first_line(exc)}; use "
                         "sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB") from None
    backend = parsed.get_backend_name()
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite")
    if parsed.drivername in _POSTGRES_SCHEMES:
        if not parsed.database:
            raise StoreError(f"bad database URL {safe_url(parsed)}: no database name")
        return parsed.set(drivername="postgresql+psycopg")
    what = f"driver {parsed.drivername!r}" if backend in ("sqlite", "postgresql") \
        else f"database {backend!r}"
    raise StoreError(f"bad database URL {safe_url(parsed)}: {what} is not supported; use "
                     "sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB")


def create_store_engine(url: str, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Engine:
    """Return an engine for ``url``, set up for the store, after checking it connects.

    Raises
    ------
    StoreError
        On a bad URL, a missing directory, a file that is not SQLite, or a server that cannot
        be reached or refuses the login.
    """
    parsed = parse_db_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed, busy_timeout_s)
    else:
        engine = _postgres_engine(parsed)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise StoreError(describe_db_error(exc, engine.url)) from None
    return engine


def _sqlite_engine(url: URL, busy_timeout_s: float) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory:
        assert url.database is not None
        folder = Path(url.database).parent
        if not folder.is_dir():
            raise StoreError(f"cannot open {url.database}: directory {folder} does not exist")
    options: dict[str, Any] = {}
    if memory:
        # One shared connection, or every checkout would see its own empty database.
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = sa.create_engine(url, **options)
    timeout_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Take transaction control away from the driver (SQLAlchemy's pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL may itself have to wait for a lock.
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        mode = "DEFERRED" if connection.get_execution_options().get(READ_ONLY) else "IMMEDIATE"
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: URL) -> Engine:
    # Keyword arguments replace URL parameters of the same name in libpq, so server options
    # given in the URL (?options=-csearch_path%3Ddispatch) are kept by merging them in.
    given = url.query.get("options")
    extra = " ".join([given] if isinstance(given, str) else list(given or ()))
    connect_args = {
        "connect_timeout": DEFAULT_CONNECT_TIMEOUT_S,
        "options": f"-c timezone=UTC {extra}".strip(),
        "application_name": "heartops",
    }
    return sa.create_engine(url.difference_update_query(["options"]), pool_pre_ping=True,
                            connect_args=connect_args)


def describe_db_error(exc: BaseException, url: URL | str | None = None) -> str:
    """Return a one-line description of a driver error (no traceback, no password)."""
    where = f" {safe_url(url)}" if url is not None else ""
    orig = getattr(exc, "orig", None) or exc
    text = _first_line(orig)
    lowered = text.lower()
    if "file is not a database" in lowered or "not a database" in lowered:
        return f"cannot open{where}: the file is not a SQLite database"
    if "unable to open database file" in lowered:
        return f"cannot open{where}: unable to open the database file (check the path and " \
               "permissions)"
    if "database is locked" in lowered:
        return f"database{where} is busy: another program held its write lock too long"
    if "fatal:" in lowered:
        # The server answered and said no (unknown database or role, bad password).
        reason = " ".join(text[lowered.index("fatal:") + len("fatal:"):].split())
        return f"the database server refused{where}: {reason}"
    if "connection" in lowered and ("refused" in lowered or "failed" in lowered
                                   or "timeout" in lowered):
        return f"cannot reach the database server{where}: {text}"
    return f"database error{where}: {text}"


def _mask_password(url: str) -> str:
    """Mask ``user:password@`` in a URL SQLAlchemy cannot parse (so cannot mask itself)."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
