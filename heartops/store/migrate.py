"""Schema migrations, run in code: no ``alembic.ini`` at runtime.

:func:`upgrade` brings a database to the newest schema this heartops knows, inside one
transaction that also holds a lock (SQLite's write lock via ``BEGIN IMMEDIATE``; a PostgreSQL
advisory lock), so two desks starting at once do not both try to create the tables. Before
touching anything it checks that the database is a heartops database, or empty, and not newer
than this program.

The revision history is kept in ``heartops_schema_version`` rather than Alembic's default
``alembic_version``, so a PostgreSQL database shared with another Alembic-managed application
cannot confuse the two.

To write a new revision from a checkout::

    from alembic import command
    from heartops.store.migrate import alembic_config
    command.revision(alembic_config(), message="...", rev_id="0002")
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from heartops.core.errors import StoreError
from heartops.store.engine import describe_db_error, safe_url
from heartops.store.models import Base

VERSION_TABLE = "heartops_schema_version"
"""The table in which Alembic records the schema revision."""

APPLICATION = "heartops"
"""Value of ``heartops_meta.application`` in every heartops database."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory (``env.py`` and ``versions/``), shipped inside the package."""

_ADVISORY_LOCK_KEY = 0x4845_4152  # "HEAR": any constant shared by every heartops process


def alembic_config(connection: Connection | None = None) -> Config:
    """Return the Alembic configuration of the packaged migrations.

    Parameters
    ----------
    connection
        The connection ``env.py`` runs the migrations on (inside its transaction).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """Return the newest schema revision this heartops knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the packaged migrations have no head"
    return head


def current_revision(connection: Connection) -> str | None:
    """Return the database's schema revision (``None`` if it has no heartops schema yet)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the database to the newest schema; return the revision it is at.

    Idempotent: a database already at head is only checked.

    Raises
    ------
    StoreError
        If the database holds something else (tables but no heartops schema), or was
        upgraded by a newer heartops.
    """
    try:
        with engine.connect() as connection, connection.begin():
            _lock(connection)
            revision = check_schema(connection)
            head = head_revision()
            if revision != head:
                command.upgrade(alembic_config(connection), "head")
            return head
    except sa.exc.DBAPIError as exc:
        raise StoreError(describe_db_error(exc, engine.url)) from None


def check_schema(connection: Connection) -> str | None:
    """Return the database's revision after checking heartops can use it.

    Raises
    ------
    StoreError
        If the database is not a heartops database or is newer than this program.
    """
    where = safe_url(connection.engine.url)
    tables = set(sa.inspect(connection).get_table_names())
    if VERSION_TABLE not in tables:
        foreign = _foreign_tables(connection, tables)
        if foreign:
            listed = ", ".join(sorted(foreign)[:5])
            raise StoreError(f"{where} is not a heartops database (it has tables {listed} "
                             "but no heartops schema); give another --db")
        return None
    revision = current_revision(connection)
    known = {script.revision for script in
             ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision is not None and revision not in known:
        raise StoreError(f"{where} has schema revision {revision}, newer than this heartops "
                         f"knows (up to {head_revision()}); upgrade heartops")
    if "heartops_meta" in tables:
        application = connection.execute(
            sa.text("SELECT value FROM heartops_meta WHERE key = 'application'")).scalar()
        if application != APPLICATION:
            raise StoreError(f"{where} is not a heartops database "
                             f"(heartops_meta says {application!r})")
    return revision


def _foreign_tables(connection: Connection, tables: Collection[str]) -> set[str]:
    """Return the tables that make an unversioned database unusable for heartops."""
    if connection.dialect.name == "sqlite":
        # A SQLite file is one application's: any table at all means someone else's file.
        return {t for t in tables if not t.startswith("sqlite_")}
    # A PostgreSQL database may be shared (PostGIS adds spatial_ref_sys): only a clash with
    # heartops' own table names is a problem.
    return set(tables) & set(Base.metadata.tables)


def _lock(connection: Connection) -> None:
    """Serialise migrations between processes (SQLite: BEGIN IMMEDIATE already did)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": _ADVISORY_LOCK_KEY})
