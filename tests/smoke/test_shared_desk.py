"""Several desks on one PostgreSQL store: the city desk and a desk that joins it.

Each desk has its own store connection, as two processes would. The city desk runs the
simulated shift (:class:`~heartops.live.LiveSession`); the joined desk
(:class:`~heartops.live.SharedDesk`) follows the store. "Within a second" is measured from the
commit to the moment the other desk's board shows it, with both desks' timers stepped as the
app steps them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from heartops.core.errors import AssignmentConflict, StoreError
from heartops.live import DeskSession, LiveSession, SharedDesk
from heartops.store import Store, open_store
from heartops.store.listen import try_city_lease

START = datetime(2025, 6, 4, 14, 0, tzinfo=UTC)  # Wednesday 10:00 in Durham: all open
SEED = 7
TICK_S = 0.25

pytestmark = pytest.mark.usefixtures("demo_city")


@pytest.fixture
def stores(pg_store_url: str) -> Iterator[Callable[[], Store]]:
    """Open stores on one fresh PostgreSQL database (one per desk); close them after."""
    opened: list[Store] = []

    def open_one() -> Store:
        opened.append(open_store(pg_store_url))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def desks(stores: Callable[[], Store]) -> Iterator[tuple[LiveSession, SharedDesk]]:
    """The city desk with a call waiting, and a second desk joined to it."""
    city = LiveSession.demo(seed=SEED, start=START, store=stores(), auto_dispatch_after=None)
    for _ in range(200):
        if city.board.queue():
            break
        city.advance(TICK_S)
    assert city.board.queue(), "the seeded shift should have a call waiting"
    joined = SharedDesk.demo(stores(), desk="desk-2", operator="jdoe")
    yield city, joined
    joined.close()
    city.close()


def step_until(condition: Callable[[], bool], *desks: DeskSession,
               timeout_s: float = 1.0) -> float:
    """Advance ``desks`` (as their timers would) until ``condition``; return the wait (s)."""
    started = time.monotonic()
    while not condition():
        waited = time.monotonic() - started
        if waited > timeout_s:
            raise AssertionError(f"not seen within {timeout_s} s")
        for desk in desks:
            desk.advance(0.0)
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_joined_desk_loads_the_city_board(desks: tuple[LiveSession, SharedDesk]) -> None:
    city, joined = desks
    assert joined.board.unit_ids == city.board.unit_ids
    assert [r.call_id for r in joined.board.queue()] == [r.call_id for r in city.board.queue()]
    for unit_id in city.board.unit_ids:
        assert joined.board.state(unit_id).status == city.board.state(unit_id).status
    assert joined.now <= city.now
    assert "joined desk" in joined.desk_mode and "desk-2" in joined.desk_mode
    assert "runs the city" in city.desk_mode
    assert not joined.controls_time and city.controls_time


def test_an_assignment_at_the_joined_desk_reaches_the_city_within_a_second(
    desks: tuple[LiveSession, SharedDesk],
) -> None:
    city, joined = desks
    call_id = joined.board.queue()[0].call_id
    top = joined.recommend(call_id).ranked[0].unit_id

    joined.assign(top, call_id)
    assert joined.board.state(top).call_id == call_id  # read back at once
    assert not joined.board.is_pending(call_id)

    waited = step_until(lambda: city.board.state(top).call_id == call_id, city)
    assert waited < 1.0
    # The simulated team obeys the other desk: it drives to the call.
    assert city.simulator.unit_states()[top].call_id == call_id
    stored = city.store.assignments(call_id=call_id)  # type: ignore[union-attr]
    assert [(a.unit_id, a.desk, a.operator) for a in stored] == [(top, "desk-2", "jdoe")]
    assert city.store_errors == []


def test_an_assignment_at_the_city_reaches_the_joined_desk_within_a_second(
    desks: tuple[LiveSession, SharedDesk],
) -> None:
    city, joined = desks
    call_id = city.board.queue()[0].call_id
    top = city.recommend(call_id).ranked[0].unit_id

    city.assign(top, call_id)

    waited = step_until(lambda: joined.board.state(top).call_id == call_id, joined)
    assert waited < 1.0
    assert not joined.board.is_pending(call_id)
    held = joined.board.assignment_of(top)
    assert held is not None and held.rank == 1  # the recommendation context came along
    assert (held.desk, held.operator) == ("desk-1", city.operator)  # and who decided


def test_the_store_decides_a_race_and_the_loser_is_told_who_won(
    desks: tuple[LiveSession, SharedDesk],
) -> None:
    city, joined = desks
    call_id = city.board.queue()[0].call_id
    top = city.recommend(call_id).ranked[0].unit_id
    ranking = joined.recommend(call_id)  # the joined desk decides on what it saw

    city.assign(top, call_id)  # the city desk commits first
    with pytest.raises(AssignmentConflict, match=rf"{top}.*{call_id}"):
        joined.assign(top, call_id, recommendation=ranking)

    active = city.store.assignments(unit_id=top, active_only=True)  # type: ignore[union-attr]
    assert [(a.call_id, a.desk) for a in active] == [(call_id, "desk-1")]  # not overwritten
    assert joined.board.state(top).call_id == call_id  # the loser now shows the winner's


def test_status_changes_and_closings_at_the_joined_desk_drive_the_simulated_city(
    desks: tuple[LiveSession, SharedDesk],
) -> None:
    city, joined = desks
    free = next(u for u in city.board.unit_ids
                if city.tables.status(city.board.state(u).status).assignable)
    joined.set_status(free, "out_of_service")
    step_until(lambda: city.simulator.unit_states()[free].status == "out_of_service", city)
    assert city.board.state(free).status == "out_of_service"

    call_id = city.board.queue()[0].call_id
    joined.add_note(call_id, "caller called back: all calm")
    joined.close_call(call_id, ["cancelled"])
    assert call_id not in joined.board.calls
    step_until(lambda: city.simulator.call(call_id) is None, city)
    assert call_id not in city.board.calls
    assert city.store_errors == []


def test_positions_and_the_clock_follow_the_city(
    desks: tuple[LiveSession, SharedDesk],
) -> None:
    city, joined = desks
    call_id = city.board.queue()[0].call_id
    city.assign(city.recommend(call_id).ranked[0].unit_id, call_id)
    before = {u: joined.board.state(u).last_avl_at for u in joined.board.unit_ids}
    for _ in range(8):  # two simulated minutes: teams report their positions
        city.advance(TICK_S)
    tracked = [u for u in city.board.unit_ids if city.board.state(u).last_avl_at is not None]

    def caught_up() -> bool:
        return all(joined.board.state(u).position == city.board.state(u).position
                   and joined.board.state(u).last_avl_at == city.board.state(u).last_avl_at
                   for u in tracked)

    step_until(caught_up, joined)
    assert tracked and any(joined.board.state(u).last_avl_at != before[u] for u in tracked)
    latest_fix = max(city.board.state(u).last_avl_at or START for u in tracked)
    assert latest_fix <= joined.now <= city.now


def test_only_one_desk_runs_the_city(pg_store_url: str) -> None:
    first = try_city_lease(pg_store_url)
    assert first is not None
    try:
        assert try_city_lease(pg_store_url) is None
    finally:
        first.release()
    again = try_city_lease(pg_store_url)
    assert again is not None
    again.release()


def test_a_sqlite_desk_is_a_single_desk_and_says_so(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'desk.db'}") as store:
        city = LiveSession.demo(seed=SEED, start=START, store=store, auto_dispatch_after=None)
        try:
            assert "single desk" in city.desk_mode and "sqlite" in city.desk_mode
        finally:
            city.close()
        with pytest.raises(StoreError, match="shared PostgreSQL"):
            SharedDesk.demo(store, desk="desk-2")
