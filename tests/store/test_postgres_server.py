"""The PostgreSQL server the store tests run against is really there in CI."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa


def test_postgres_15_answers_on_loopback() -> None:
    url = os.environ.get("HEARTOPS_TEST_PG_URL")
    if not url:
        if os.environ.get("HEARTOPS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail("HEARTOPS_TEST_PG_URL is not set: ./run test starts PostgreSQL in CI")
        pytest.skip("no PostgreSQL test server (HEARTOPS_TEST_PG_URL unset)")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            version = connection.execute(sa.text("select version()")).scalar_one()
            host = connection.execute(sa.text("select inet_server_addr()::text")).scalar_one()
    finally:
        engine.dispose()
    assert version.startswith("PostgreSQL 15")
    assert host.startswith("127.0.0.1")
