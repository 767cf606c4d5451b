"""Multi-desk: a desk hears another desk's commits through PostgreSQL NOTIFY within a second."""

from __future__ import annotations

import queue
import time

import pytest
from store_helpers import DESK, T0, call, crt

from heartops.core.errors import StoreError
from heartops.store import Store, open_store
from heartops.store.listen import ChangeListener, supports_notifications


@pytest.mark.parametrize("dialect", ["postgresql"])
def test_second_desk_hears_an_assignment_within_a_second(store: Store, store_url: str) -> None:
    store.add_units([crt("CRT-1")], at=T0, **DESK)
    store.create_call(call("C-1"), **DESK)
    heard: queue.Queue[int] = queue.Queue()
    with open_store(store_url) as other_desk:
        cursor = other_desk.current_change_id()
        listener = ChangeListener(store_url, heard.put).start()
        try:
            sent = time.perf_counter()
            store.assign("CRT-1", "C-1", at=T0, desk="desk-a", operator="a")
            change_id = heard.get(timeout=1.0)
            assert time.perf_counter() - sent < 1.0
            changes = other_desk.changes_since(cursor)
        finally:
            listener.stop()
    assert change_id == changes.cursor
    assert "CRT-1" in changes.touched("unit")
    assert {r.desk for r in changes.records} == {"desk-a"}


def test_sqlite_is_a_single_desk(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/desk.db"
    assert not supports_notifications(url)
    with pytest.raises(StoreError, match="several desks need a shared PostgreSQL"):
        ChangeListener(url, print)


def test_unreachable_server_is_a_clear_error() -> None:
    listener = ChangeListener("postgresql+psycopg://desk:pw@127.0.0.1:1/heartops", print)
    with pytest.raises(StoreError, match="cannot listen for changes") as raised:
        listener.start()
    assert "pw" not in str(raised.value)
