"""The SQLite import writes the same ``calls`` rows as SQLAlchemy's typed insert would."""

from __future__ import annotations

import sqlite3
from datetime import timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session
from store_helpers import T0, call

from heartops.core.calls import Call, CallStep
from heartops.store import open_store
from heartops.store.bulk import call_values
from heartops.store.models import CallRow


def _varied_calls() -> list[Call]:
    """Calls using every column the import fills, with odd times and texts."""
    closed = call("CAD-1", zone_id="D1-B2", address="1 Main St, Durham", flags=["weapon"],
                  needs=["spanish", "naloxone"]) \
        .add_note(T0, "caller hung up", author="ct-12") \
        .record(CallStep.DISPATCHED, T0 + timedelta(minutes=5, microseconds=7)) \
        .add_unit("HIST-9").add_unit("HIST-10") \
        .record(CallStep.ON_SCENE, T0 + timedelta(minutes=15)) \
        .close(T0 + timedelta(minutes=30), dispositions=["gone_on_arrival"])
    plus_two = timezone(timedelta(hours=2))
    received_abroad = call("CAD-2", priority="P", address="Café \"Ü\" – 2nd floor") \
        .record(CallStep.TRIAGED, (T0 + timedelta(seconds=1)).astimezone(plus_two))
    return [closed, received_abroad, call("CAD-3", minutes=-60 * 24 * 365 * 20)]


def _rows(db: Path) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(db)
    try:
        columns = [c.name for c in CallRow.__table__.columns if c.name != "import_batch_id"]
        return connection.execute(f"SELECT {', '.join(columns)} FROM calls "
                                  "ORDER BY call_id").fetchall()
    finally:
        connection.close()


def test_sqlite_import_rows_equal_the_typed_insert(tmp_path: Path) -> None:
    calls = _varied_calls()
    fast_db, typed_db = tmp_path / "fast.db", tmp_path / "typed.db"
    with open_store(str(fast_db)) as store:
        assert store.import_calls(calls, source="cad", batch_size=2).inserted == 3
        assert [store.call(c.call_id) for c in calls] == calls
    with open_store(str(typed_db)) as store, Session(store.engine) as session:
        session.execute(sa.insert(CallRow), [
            call_values(c, source="cad", external_id=c.call_id, batch_id=None) for c in calls])
        session.commit()
    assert _rows(fast_db) == _rows(typed_db)
