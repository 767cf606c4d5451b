"""`heartops simulate` writes a consistent history to the store, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from heartops.cli import main
from heartops.core.codes import CallStep
from heartops.store import open_store


@pytest.mark.usefixtures("demo_city")
def test_simulate_two_days_into_sqlite_then_refuse_a_duplicate_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "history.db"
    args = ["simulate", "--days", "2", "--start", "2025-06-02", "--seed", "7", "--db", str(db)]
    assert main(args) == 0
    assert "simulated 2 days from 2025-06-02" in capsys.readouterr().out
    with open_store(str(db)) as store:
        calls = store.calls()
        assert 80 < len(calls) < 300  # ~30,000 calls a year, about 165 in two days
        ledger = store.ledger()
        assert {entry.call_id for entry in ledger} <= {call.call_id for call in calls}
        served = [c for c in calls if c.time_of(CallStep.ON_SCENE) is not None]
        assert served
        for call in served:
            assert call.time_of(CallStep.RECEIVED) <= call.time_of(CallStep.ON_SCENE)
            assert call.unit_ids
        assert store.safety_events()
        assert len(store.units()) > 10
    assert main(args) == 1
    assert "already holds simulated history" in capsys.readouterr().err
