"""Store fixtures: a fresh database per test on SQLite and on PostgreSQL.

PostgreSQL tests run against ``HEARTOPS_TEST_PG_URL`` (``./run test`` starts a throwaway
server and sets it). Without it they skip, except in CI (``HEARTOPS_REQUIRE_SHARED_DATA=1``)
where they fail: a store that was never tested on PostgreSQL must not pass CI.

Each PostgreSQL test gets its own database, created on the server's ``postgres`` database with
AUTOCOMMIT (CREATE DATABASE cannot run in a transaction) and dropped ``WITH (FORCE)`` after, so
a connection a test forgot cannot keep it alive.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import T0

from heartops.core.clock import ManualClock
from heartops.store import Store, open_store

DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


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
    yield str(request.getfixturevalue("pg_store_url"))


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
