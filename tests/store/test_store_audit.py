"""The audit log: written with every change in its transaction, and append-only in the DB."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import sqlalchemy as sa
from store_helpers import DESK, T0, call, crt, minutes

from heartops.core.clock import ManualClock
from heartops.core.errors import InvalidTransition, NaiveDatetimeError
from heartops.store import CHANGES_CHANNEL, Store, open_store
from heartops.store.models import AuditRow, UnitRow


def test_each_change_writes_who_where_what_before_and_after(store: Store,
                                                            clock: ManualClock) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    clock.advance(minutes=2)
    store.assign("CRT-1", "C-1", at=minutes(2), desk="desk-2", operator="dispatcher-b",
                 rank=1, recommended_unit="CRT-1", explanation="CRT-1 · 4.0 min")
    status = store.audit("unit", "CRT-1")[-1]
    assert (status.action, status.desk, status.operator) == ("status", "desk-2", "dispatcher-b")
    assert status.at == T0 + timedelta(minutes=2)
    assert status.before == {"status": "available", "since": T0.isoformat(), "call_id": None,
                             "version": 1}
    assert status.after == {"status": "dispatched", "since": minutes(2).isoformat(),
                            "call_id": "C-1", "version": 2}
    (assigned,) = store.audit("assignment")
    assert assigned.before is None and assigned.after is not None
    assert assigned.after["explanation"] == "CRT-1 · 4.0 min"
    step = store.audit("call", "C-1")[-1]
    assert step.action == "step"
    assert step.before is not None and step.after is not None
    assert "dispatched" not in step.before["steps"]
    assert step.after["steps"]["dispatched"] == minutes(2).isoformat()
    # One transaction, one change id, shared by its rows.
    assert status.change_id == assigned.change_id == step.change_id
    store.add_note("C-1", "on the porch", minutes(3), **DESK)
    store.close_call("C-1", minutes(9), dispositions=["resolved_on_scene"], **DESK)
    actions = [(r.entity, r.action) for r in store.audit()]
    assert actions == [
        ("unit", "create"), ("call", "create"),
        ("unit", "status"), ("assignment", "assign"), ("call", "step"),
        ("call", "note"),
        ("unit", "status"), ("assignment", "release"), ("call", "close")]


def test_a_refused_change_leaves_no_trace(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    before, cursor = store.audit(), store.current_change_id()
    with pytest.raises(InvalidTransition):
        store.set_status("CRT-1", "transporting", minutes(1), **DESK)
    assert store.audit() == before
    assert store.current_change_id() == cursor
    assert store.unit("CRT-1").version == 1


def test_close_that_fails_midway_rolls_back_the_releases(store: Store) -> None:
    store.add_units([crt("CRT-1"), crt("CRT-2")], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    store.assign("CRT-1", "C-1", at=minutes(1), **DESK)
    store.assign("CRT-2", "C-1", at=minutes(1), **DESK)
    store.set_status("CRT-2", "emergency", minutes(2), **DESK)
    count = len(store.audit())
    with pytest.raises(InvalidTransition, match="CRT-2 is in emergency"):
        store.close_call("C-1", minutes(3), dispositions=["cancelled"], **DESK)
    assert len(store.audit()) == count
    assert store.unit_state("CRT-1").status == "dispatched"  # CRT-1's release was undone
    assert len(store.assignments(active_only=True)) == 2


def test_the_database_refuses_update_and_delete_on_the_audit_log(store: Store) -> None:
    store.add_units([crt()], at=T0, **DESK)
    for statement in ("UPDATE audit_log SET operator = 'someone else'",
                      "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="audit_log is append-only"), \
                store.engine.begin() as connection:
            connection.execute(sa.text(statement))
    if store.dialect == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), \
                store.engine.begin() as connection:
            connection.execute(sa.text("TRUNCATE audit_log"))
    (row,) = store.audit()
    assert row.operator == "dispatcher-a"


def test_change_feed_has_every_change_after_the_cursor(store: Store, store_url: str) -> None:
    other_desk = open_store(store_url)
    try:
        store.add_units([crt()], at=T0, **DESK)
        cursor = other_desk.current_change_id()
        store.create_call(call("C-1"), **DESK)
        store.assign("CRT-1", "C-1", at=minutes(1), **DESK)
        feed = other_desk.changes_since(cursor)
        assert feed.cursor == other_desk.current_change_id() == cursor + 2
        assert feed.touched("unit") == {"CRT-1"}
        assert feed.touched("call") == {"C-1"}
        assert other_desk.changes_since(feed.cursor).records == ()
        assert other_desk.changes_since(feed.cursor).cursor == feed.cursor
    finally:
        other_desk.close()


@pytest.mark.postgres
def test_postgres_notifies_listeners_after_commit(request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("new_pg_database")
    store = open_store(url)
    plain = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(plain, autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANGES_CHANNEL}")
            store.add_units([crt()], at=T0, **DESK)
            with pytest.raises(InvalidTransition):  # rolled back: no notification
                store.set_status("CRT-1", "transporting", minutes(1), **DESK)
            store.set_status("CRT-1", "out_of_service", minutes(2), **DESK)
            heard = [n.payload for n in listener.notifies(timeout=1.0, stop_after=2)]
        assert heard == ["1", "2"]
    finally:
        store.close()


def test_naive_datetimes_are_refused_by_the_api_and_the_column_type(store: Store) -> None:
    naive = T0.replace(tzinfo=None)
    with pytest.raises(NaiveDatetimeError):
        store.add_units([crt()], at=naive, **DESK)
    store.add_units([crt()], at=T0, **DESK)
    with pytest.raises(NaiveDatetimeError):
        store.set_status("CRT-1", "out_of_service", naive, **DESK)
    # Below the API, the column type itself refuses (a raw Core insert).
    row = {"change_id": 1, "at": naive, "desk": "d", "operator": "o", "entity": "unit",
           "entity_id": "CRT-1", "action": "x", "before": None, "after": None}
    with pytest.raises(sa.exc.StatementError) as caught, store.engine.begin() as connection:
        connection.execute(sa.insert(AuditRow), [row])
    assert isinstance(caught.value.orig, NaiveDatetimeError)


def test_times_come_back_aware_utc_whatever_zone_went_in(store: Store) -> None:
    durham = T0.astimezone(ZoneInfo("America/New_York"))
    assert durham.utcoffset() == timedelta(hours=-4)
    store.add_units([crt()], at=durham, **DESK)
    state = store.unit_state("CRT-1")
    assert state.since == T0
    assert state.since.tzinfo is not None and state.since.utcoffset() == timedelta(0)
    with store.engine.connect() as connection:
        stored = connection.execute(sa.select(UnitRow.status_since)).scalar_one()
    assert stored == T0 and stored.utcoffset() == timedelta(0)


def test_desk_and_operator_are_required(store: Store) -> None:
    with pytest.raises(ValueError, match="must name its desk"):
        store.add_units([crt()], at=T0, desk=" ", operator="x")
    with pytest.raises(ValueError, match="must name its operator"):
        store.create_call(call(), desk="desk-1", operator="")
    assert store.audit() == []
