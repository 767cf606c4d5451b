"""Migrations, engine set-up, URL resolution and the one-line errors of opening a store."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from heartops.core.errors import StoreError
from heartops.store import open_store, resolve_db_url
from heartops.store.engine import READ_ONLY, create_store_engine, parse_db_url
from heartops.store.migrate import VERSION_TABLE, current_revision, head_revision
from heartops.store.models import Base

TABLES = {"units", "calls", "call_notes", "assignments", "follow_up_tasks",
          "follow_up_attempts", "safety_events", "alert_acknowledgements", "ledger_entries",
          "import_batches", "avl_fixes", "audit_log", "change_counter", "heartops_meta",
          VERSION_TABLE}


def test_open_creates_the_schema_at_head_and_reopening_changes_nothing(db_url: str) -> None:
    first = open_store(db_url)
    with first.engine.connect() as connection:
        assert set(sa.inspect(connection).get_table_names()) >= TABLES
        assert current_revision(connection) == head_revision()
    first.close()
    second = open_store(db_url)  # idempotent: checks, finds head, does nothing
    with second.engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert connection.execute(sa.text("SELECT count(*) FROM change_counter")).scalar() == 1
        assert connection.execute(sa.text("SELECT value FROM heartops_meta "
                                          "WHERE key = 'application'")).scalar() == "heartops"
        indexes = {ix["name"]: ix for ix in sa.inspect(connection).get_indexes("assignments")}
        assert indexes["uq_assignments_active_unit"]["unique"]
    second.close()


def test_migrations_create_exactly_the_models_schema(db_url: str) -> None:
    store = open_store(db_url)
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []
    store.close()


def test_sqlite_pragmas_are_really_set(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}", busy_timeout_s=7)
    with store.engine.connect() as connection:
        def pragma(name: str) -> object:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("busy_timeout") == 7000
    store.close()


def test_sqlite_write_transactions_take_the_lock_at_begin(tmp_path: Path) -> None:
    path = tmp_path / "lock.db"
    store = open_store(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with store.engine.begin() as connection:  # BEGIN IMMEDIATE, before any statement
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        read_only = store.engine.execution_options(**{READ_ONLY: True})
        with read_only.begin() as connection:  # deferred: readers never block writers
            connection.exec_driver_sql("SELECT count(*) FROM units").scalar()
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()
        store.close()


def test_resolve_db_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEARTOPS_DB_URL", raising=False)
    default = resolve_db_url(None)
    assert default == f"sqlite:///{(tmp_path / 'user-data' / 'heartops.db').resolve()}"
    monkeypatch.setenv("HEARTOPS_DB_URL", "postgresql+psycopg://desk@db.example/heartops")
    assert resolve_db_url(None) == "postgresql+psycopg://desk@db.example/heartops"
    assert resolve_db_url("sqlite:////srv/x.db") == "sqlite:////srv/x.db"
    assert resolve_db_url(str(tmp_path / "plain.db")) == f"sqlite:///{tmp_path / 'plain.db'}"
    monkeypatch.setenv("HEARTOPS_DB_URL", "  ")
    assert resolve_db_url("") == default


def test_default_store_is_the_user_sqlite_file(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEARTOPS_DB_URL", raising=False)
    store = open_store()
    assert store.dialect == "sqlite"
    store.close()
    assert (tmp_path / "user-data" / "heartops.db").is_file()


def test_postgres_scheme_aliases_use_psycopg() -> None:
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert parse_db_url(url).drivername == "postgresql+psycopg"


@pytest.mark.parametrize(("url", "expected"), [
    ("nonsense://", "bad database URL"),
    ("http://example.org/heartops", "database 'http' is not supported"),
    ("postgresql://desk:secret@db:notaport/heartops", "bad database URL"),
    ("mysql://desk@db/heartops", "database 'mysql' is not supported"),
    ("postgresql+psycopg2://desk@db/heartops", "driver 'postgresql+psycopg2' is not supported"),
    ("postgresql://desk@db", "no database name"),
])
def test_bad_urls_give_one_line_errors(url: str, expected: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "secret" not in message


def test_unreachable_server_is_one_line(unused_port: int) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(f"postgresql+psycopg://desk:secret@127.0.0.1:{unused_port}/heartops")
    message = str(caught.value)
    assert message.startswith("cannot reach the database server postgresql+psycopg://desk:***@")
    assert "refused" in message.lower()
    assert "\n" not in message and "secret" not in message


@pytest.mark.postgres
def test_missing_postgres_database_is_one_line(pg_admin: sa.Engine) -> None:
    url = pg_admin.url.set(database="no_such_heartops_db").render_as_string(hide_password=False)
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert str(caught.value).endswith('refused postgresql+psycopg://'
                                      f'{pg_admin.url.username}@{pg_admin.url.host}:'
                                      f'{pg_admin.url.port}/no_such_heartops_db: '
                                      'database "no_such_heartops_db" does not exist')


@pytest.mark.postgres
def test_postgres_url_options_are_kept_and_sessions_run_in_utc(
        request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("new_pg_database")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE SCHEMA dispatch"))
    engine.dispose()
    store = open_store(f"{url}?options=-csearch_path%3Ddispatch")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW search_path").scalar() == "dispatch"
        assert connection.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
        tables = sa.inspect(connection).get_table_names(schema="dispatch")
    store.close()
    assert "units" in tables


def test_two_desks_opening_a_new_database_at_once_both_succeed(db_url: str) -> None:
    barrier = threading.Barrier(2)
    opened: list[object] = []

    def start_desk() -> None:
        barrier.wait()
        try:
            store = open_store(db_url)
            opened.append(store.current_change_id())
            store.close()
        except Exception as exc:  # the outcome is what the test inspects
            opened.append(exc)

    threads = [threading.Thread(target=start_desk) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert opened == [0, 0]


def test_missing_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"directory .*nowhere does not exist$"):
        open_store(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my meeting notes, not a database\n" * 100)
    with pytest.raises(StoreError) as caught:
        open_store(str(path))
    assert "is not a SQLite database" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert path.read_bytes().startswith(b"these are my meeting notes")


def test_another_applications_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE recipes (name TEXT)")
    with pytest.raises(StoreError, match=r"is not a heartops database .*recipes"):
        open_store(str(path))
    with sqlite3.connect(path) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert [name for (name,) in tables] == ["recipes"]


def test_a_database_from_a_newer_heartops_is_refused(db_url: str) -> None:
    open_store(db_url).close()
    engine = create_store_engine(db_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9001'"))
    engine.dispose()
    with pytest.raises(StoreError, match="schema revision 9001, newer than this heartops"):
        open_store(db_url)


@pytest.mark.postgres
def test_postgres_tables_of_another_schema_are_refused(request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("new_pg_database")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE units (id int)"))
        connection.execute(sa.text("CREATE TABLE spatial_ref_sys (srid int)"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"is not a heartops database \(it has tables units"):
        open_store(url)


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
