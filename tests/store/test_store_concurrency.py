"""Two desks, one unit: the database lets exactly one of them win, every time."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa
from store_helpers import DESK, T0, call, crt, minutes, synthetic_calls

from heartops.core.errors import AssignmentConflict, VersionConflict
from heartops.store import AssignmentRecord, Store, UnitRecord, open_store

ROUNDS = 200


@pytest.fixture
def desks(store_url: str) -> Iterator[tuple[Store, Store, Store]]:
    """A supervisor store for set-up and checks, and two desks, each with its own engine."""
    opened = [open_store(store_url) for _ in range(3)]
    yield opened[0], opened[1], opened[2]
    for each in opened:
        each.close()


def _race(first: Callable[[], object], second: Callable[[], object]) -> list[object]:
    """Run both at the same moment (a barrier releases two threads); return their outcomes."""
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def run(index: int, action: Callable[[], object]) -> None:
        barrier.wait()
        try:
            outcomes[index] = action()
        except Exception as exc:  # the outcome is what the test inspects
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _active_rows(store: Store, unit_id: str) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(
            sa.text("SELECT count(*) FROM assignments WHERE unit_id = :u AND active"),
            {"u": unit_id}).scalar_one())


def test_two_desks_assigning_one_unit_at_once_exactly_one_wins(
        desks: tuple[Store, Store, Store], caplog: pytest.LogCaptureFixture,
        dialect: str) -> None:
    supervisor, desk_a, desk_b = desks
    supervisor.add_units([crt("CRT-1")], at=T0, **DESK)
    supervisor.import_calls(synthetic_calls(2 * ROUNDS), source="race", batch_size=500)
    caplog.set_level(logging.DEBUG, logger="heartops.store.store")
    wins: Counter[str] = Counter()
    version = supervisor.unit("CRT-1").version
    for round_ in range(ROUNDS):
        at = T0 + timedelta(days=1, minutes=round_)
        call_a, call_b = f"CAD-{2 * round_:07d}", f"CAD-{2 * round_ + 1:07d}"
        outcomes = _race(
            partial(desk_a.assign, "CRT-1", call_a, at=at, desk="desk-A", operator="alice"),
            partial(desk_b.assign, "CRT-1", call_b, at=at, desk="desk-B", operator="bob"))
        won = [o for o in outcomes if isinstance(o, AssignmentRecord)]
        lost = [o for o in outcomes if isinstance(o, AssignmentConflict)]
        assert len(won) == 1 and len(lost) == 1, f"round {round_}: {outcomes}"
        winner, conflict = won[0], lost[0]
        wins[winner.desk] += 1
        assert conflict.unit_id == "CRT-1" and conflict.call_id == winner.call_id
        assert f"unit CRT-1 is already assigned to call {winner.call_id}" in str(conflict)
        assert "\n" not in str(conflict)
        assert _active_rows(supervisor, "CRT-1") == 1  # never a double assignment
        state = supervisor.unit("CRT-1")
        assert state.version == version + 1  # one update, by the winner only
        assert state.state.call_id == winner.call_id
        supervisor.release("CRT-1", at + timedelta(seconds=30), **DESK)
        version += 2
    assert sum(wins.values()) == ROUNDS
    assert len(supervisor.audit("assignment")) == 2 * ROUNDS  # assign + release per round
    assert sum(r.action == "assign" for r in supervisor.audit("assignment")) == ROUNDS
    assert len(supervisor.assignments(unit_id="CRT-1")) == ROUNDS
    assert supervisor.unit("CRT-1").version == 1 + 2 * ROUNDS
    detected = Counter(r.getMessage().split(": ", 1)[1] for r in caplog.records
                       if "refused" in r.getMessage() or "lost a race" in r.getMessage())
    print(f"\n{dialect}: wins {dict(wins)}; loser detected by {dict(detected)}")


def test_second_desk_with_a_stale_read_gets_a_conflict_not_an_overwrite(
        desks: tuple[Store, Store, Store]) -> None:
    supervisor, desk_a, desk_b = desks
    supervisor.add_units([crt("CRT-1")], at=T0, **DESK)
    supervisor.create_call(call("C-1"), **DESK)
    seen_by_a, seen_by_b = desk_a.unit("CRT-1"), desk_b.unit("CRT-1")
    assert seen_by_a.version == seen_by_b.version == 1
    desk_a.set_status("CRT-1", "out_of_service", minutes(1), desk="desk-A", operator="alice",
                      expected_version=seen_by_a.version)
    with pytest.raises(VersionConflict, match=r"unit CRT-1 changed since you read it "
                                              r"\(version 1, now 2: out_of_service\)"):
        desk_b.set_status("CRT-1", "on_scene", minutes(1), call_id="C-1", desk="desk-B",
                          operator="bob", expected_version=seen_by_b.version)
    final = supervisor.unit("CRT-1")
    assert (final.state.status, final.version) == ("out_of_service", 2)
    assert [r.desk for r in supervisor.audit("unit", "CRT-1")] == ["desk-1", "desk-A"]
    assert supervisor.assignments() == []


def test_simultaneous_status_changes_on_one_version_one_wins(
        desks: tuple[Store, Store, Store]) -> None:
    supervisor, desk_a, desk_b = desks
    supervisor.add_units([crt("CRT-1")], at=T0, **DESK)
    for round_ in range(50):
        seen = supervisor.unit("CRT-1")
        going = "out_of_service" if seen.state.status == "available" else "available"
        at = minutes(round_ + 1)
        outcomes = _race(
            partial(desk_a.set_status, "CRT-1", going, at, desk="desk-A", operator="alice",
                    expected_version=seen.version),
            partial(desk_b.set_status, "CRT-1", going, at, desk="desk-B", operator="bob",
                    expected_version=seen.version))
        assert sorted(type(o).__name__ for o in outcomes) == ["UnitRecord", "VersionConflict"]
        assert supervisor.unit("CRT-1").version == seen.version + 1
    assert len(supervisor.audit("unit", "CRT-1")) == 1 + 50


def test_without_an_expected_version_a_racing_change_is_retried_on_fresh_state(
        desks: tuple[Store, Store, Store]) -> None:
    supervisor, desk_a, desk_b = desks
    supervisor.add_units([crt("CRT-1")], at=T0, **DESK)
    for round_ in range(20):
        going = "out_of_service" if round_ % 2 == 0 else "available"
        at = minutes(round_ + 1)
        outcomes = _race(
            partial(desk_a.set_status, "CRT-1", going, at, desk="desk-A", operator="alice"),
            partial(desk_b.set_status, "CRT-1", going, at, desk="desk-B", operator="bob"))
        assert all(isinstance(o, UnitRecord) for o in outcomes), outcomes
    assert supervisor.unit("CRT-1").version == 1 + 20  # the repeat was a no-op, not a write


def test_the_partial_unique_index_holds_against_raw_sql(store: Store) -> None:
    store.add_units([crt("CRT-1")], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    store.create_call(call("C-2"), **DESK)
    store.assign("CRT-1", "C-1", at=minutes(1), **DESK)
    insert = sa.text(
        "INSERT INTO assignments (unit_id, call_id, active, assigned_at, released_at, "
        "explanation, desk, operator) VALUES ('CRT-1', 'C-2', :active, "
        "'2025-03-14 13:05:00', :released, '', 'rogue', 'rogue')")
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(insert, {"active": True, "released": None})
    with store.engine.begin() as connection:  # an inactive (historic) row is fine
        connection.execute(insert, {"active": False, "released": "2025-03-14 13:06:00"})
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(insert, {"active": False, "released": None})  # the CHECK
    assert [a.call_id for a in store.assignments(active_only=True)] == ["C-1"]
