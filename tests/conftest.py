"""Shared fixtures: isolated user dirs, and the real data in ../shared/data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from heartops.store import open_store

if TYPE_CHECKING:
    from heartops.analysis.live_coverage import LiveCoverage

# Before any QApplication exists (STACK.md: headless Qt).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Return where the real test data lives (``HEARTOPS_SHARED_DATA`` overrides)."""
    return Path(os.environ.get("HEARTOPS_SHARED_DATA") or REPO.parent / "shared" / "data")


def require_shared(relative: str) -> Path:
    """Return a file of the shared data; skip without it, except in CI where that fails."""
    path = shared_data_dir() / relative
    if not path.exists():
        reason = f"shared data file missing: {path}"
        if os.environ.get("HEARTOPS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason + " (HEARTOPS_REQUIRE_SHARED_DATA=1)")
        pytest.skip(reason)
    return path


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every test its own cache and data dirs, so no test sees another's files."""
    monkeypatch.setenv("HEARTOPS_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.setenv("HEARTOPS_DATA_DIR", str(tmp_path / "user-data"))


@pytest.fixture(scope="session")
def demo_city_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Build the demo city once per test session; return its (cache, data) dirs."""
    from heartops.routing.demo_setup import build_demo

    root = tmp_path_factory.mktemp("demo-city")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTOPS_CACHE_DIR", str(root / "cache"))
        patch.setenv("HEARTOPS_DATA_DIR", str(root / "data"))
        build_demo()
    return root / "cache", root / "data"


@pytest.fixture
def demo_city(demo_city_dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this test's user dirs at the session's demo city (treat them as read-only)."""
    cache, data = demo_city_dirs
    monkeypatch.setenv("HEARTOPS_CACHE_DIR", str(cache))
    monkeypatch.setenv("HEARTOPS_DATA_DIR", str(data))


# -- PostgreSQL (./run test starts a throwaway server) --------------------------------------------

PG_URL_ENV = "HEARTOPS_TEST_PG_URL"



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


@pytest.fixture
def pg_store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database with the schema (a clone of the template)."""
    admin: sa.Engine = request.getfixturevalue("pg_admin")
    name = _create_database(admin, template=request.getfixturevalue("pg_template"))
    try:
        yield _url_of(admin, name)
    finally:
        _drop_database(admin, name)



YEAR_SEED = 2025
YEAR_START_ISO = "2025-03-03T05:00:00+00:00"  # Monday 00:00 in Durham; DST starts Mar 9


@dataclass(frozen=True)
class YearRun:
    """A simulated year of the demo city (see :func:`simulated_year`)."""

    history: Any  # heartops.feeds.simulator.HistoryCollector
    roster: Any  # heartops.feeds.simulator.Roster
    start: datetime
    seconds: float
    days: float = 365.0


@pytest.fixture(scope="session")
def simulated_year(demo_city_dirs: tuple[Path, Path]) -> YearRun:
    """Run the shift simulator over 365 days of the demo city once per session (~100 s).

    Shared by the simulator's calibration test and the metrics' published-figures test, so
    the year is simulated only once per test run.
    """
    import time

    from heartops.feeds.simulator import HistoryCollector, Simulator, default_roster, load_profile
    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.network import load_network
    from heartops.routing.posts import load_posts
    from heartops.routing.zones import ZoneIndex

    cache, data = demo_city_dirs
    start = datetime.fromisoformat(YEAR_START_ISO)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTOPS_CACHE_DIR", str(cache))
        patch.setenv("HEARTOPS_DATA_DIR", str(data))
        profile = load_profile()
        roster = default_roster(load_posts("demo"), profile)
        sink = HistoryCollector()
        sim = Simulator(TravelTimeEngine(load_network("demo")), roster, profile, YEAR_SEED,
                        start, sink=sink, zones=ZoneIndex.from_layer("demo-beats"),
                        service_area=ZoneIndex.from_layer("demo-service-area"))
        began = time.perf_counter()
        sim.run_until(start + timedelta(days=365))
        seconds = time.perf_counter() - began
    return YearRun(history=sink, roster=roster, start=start, seconds=seconds)


# -- the live coverage service (tests/analysis and tests/gui share one) ---------------------------

COVERAGE_HISTORY_START = datetime(2025, 6, 2, 5, tzinfo=UTC)  # a Monday, 01:00 in Durham


@pytest.fixture(scope="session")
def live_coverage(demo_city_dirs: tuple[Path, Path]) -> LiveCoverage:
    """The live coverage service over a simulated week of the demo city (built once)."""
    from heartops.analysis.coverage import CoveragePlanner
    from heartops.analysis.demand_grid import HexGrid, calls_to_frame, expected_demand
    from heartops.analysis.live_coverage import LiveCoverage
    from heartops.feeds.simulator import (
        HistoryCollector,
        Simulator,
        default_roster,
        load_profile,
    )
    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.network import load_network
    from heartops.routing.posts import load_posts

    cache, data = demo_city_dirs
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTOPS_CACHE_DIR", str(cache))
        patch.setenv("HEARTOPS_DATA_DIR", str(data))
        engine = TravelTimeEngine(load_network("demo"))
        posts = load_posts("demo")
        profile = load_profile()
        sink = HistoryCollector()
        end = COVERAGE_HISTORY_START + timedelta(days=7)
        Simulator(engine, default_roster(posts, profile), profile, 3, COVERAGE_HISTORY_START,
                  sink=sink).run_until(end)
    planner = CoveragePlanner(engine, HexGrid.over(engine.network))
    demand = expected_demand(calls_to_frame(sink.received), engine, planner.grid,
                             start=COVERAGE_HISTORY_START, end=end)
    return LiveCoverage(planner, demand, posts)

