"""Store fixtures: a fresh database per test on SQLite and on PostgreSQL.

PostgreSQL tests run against ``HEARTOPS_TEST_PG_URL`` (``./run test`` starts a throwaway
server and sets it). Without it they skip, except in CI (``HEARTOPS_REQUIRE_SHARED_DATA=1``)
where they fail: a store that was never tested on PostgreSQL must not pass CI.

Each PostgreSQL test gets its own database, created on the server's ``postgres`` database with
AUTOCOMMIT (CREATE DATABASE cannot run in a transaction) and dropped ``WITH (FORCE)`` after, so
a connection a test forgot cannot keep it alive.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from store_helpers import T0

from heartops.core.clock import ManualClock
from heartops.store import Store, open_store

PG_URL_ENV = "HEARTOPS_TEST_PG_URL"

DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def pg_server_url() -> str:
    """Return the test server's URL; skip (or fail in CI) without one."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        reason = f"no PostgreSQL test server ({PG_URL_ENV} unset)"
        if os.environ.get("HEARTOPS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason + "; ./run test starts one in CI")
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An AUTOCOMMIT engine on the server's ``postgres`` database (creates/drops databases)."""
    url = sa.make_url(pg_server_url()).set(database="postgres")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _create_database(admin: sa.Engine, *, template: str | None = None) -> str:
    name = f"heartops_test_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"{clause}')
    return name


def _drop_database(admin: sa.Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url_of(admin: sa.Engine, name: str) -> str:
    return admin.url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def new_pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """Return the URL of a new empty PostgreSQL database, dropped after the test."""
    admin: sa.Engine = request.getfixturevalue("pg_admin")
    name = _create_database(admin)
    try:
        yield _url_of(admin, name)
    finally:
        _drop_database(admin, name)


@pytest.fixture(scope="session")
def pg_template(pg_admin: sa.Engine) -> Iterator[str]:
    """A database migrated once, cloned by tests that only need a working store.

    Cloning (``CREATE DATABASE ... TEMPLATE``) skips about 0.4 s of DDL per test; migrations
    themselves are tested on empty databases (``db_url``).
    """
    name = _create_database(pg_admin)
    open_store(_url_of(pg_admin, name)).close()  # disposes: a template must have no sessions
    yield name
    _drop_database(pg_admin, name)


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """Run the test on SQLite, then on PostgreSQL."""
    return str(request.param)


@pytest.fixture
def db_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty database: a SQLite file, or a new PostgreSQL database."""
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("new_pg_database"))


@pytest.fixture
def store_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database with the schema (a new file, or a PostgreSQL clone)."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    admin: sa.Engine = request.getfixturevalue("pg_admin")
    name = _create_database(admin, template=request.getfixturevalue("pg_template"))
    try:
        yield _url_of(admin, name)
    finally:
        _drop_database(admin, name)


@pytest.fixture
def clock() -> ManualClock:
    """The store's clock (audit times)."""
    return ManualClock(T0)


@pytest.fixture
def store(store_url: str, clock: ManualClock) -> Iterator[Store]:
    """An open store on a fresh database."""
    opened = open_store(store_url, clock=clock)
    yield opened
    opened.close()
