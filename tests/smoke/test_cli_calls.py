"""`heartops calls import/export` on a real CAD sample: counts, re-runs, EIDO round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heartops.cli import main
from heartops.store import open_store
from tests.conftest import require_shared

SEATTLE = "cad/seattle_spd/spd_dispatch_2024_sample_1000.csv"


def test_csv_import_rerun_and_eido_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    source = require_shared(SEATTLE)
    db, copy = tmp_path / "desk.db", tmp_path / "copy.db"
    args = ["calls", "import", str(source), "--mapping", "seattle_spd_dispatch", "--db", str(db)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "accepted 999, rejected 1 (coordinates (0, 0): 1)" in out
    assert "999 new calls stored, 0 already there" in out
    assert main(args) == 0  # a re-run adds nothing
    assert "0 new calls stored, 999 already there" in capsys.readouterr().out

    eido = tmp_path / "calls.json"
    assert main(["calls", "export", "--out", str(eido), "--db", str(db)]) == 0
    assert len(json.loads(eido.read_text())) == 999
    assert main(["calls", "import", str(eido), "--db", str(copy)]) == 0
    with open_store(str(db)) as first, open_store(str(copy)) as second:
        originals = {c.call_id: c for c in first.calls()}
        copies = {c.call_id: c for c in second.calls()}
    assert originals.keys() == copies.keys()
    sample = sorted(originals)[::97]
    assert all(originals[k].steps == copies[k].steps for k in sample)
    assert all(originals[k].location == copies[k].location for k in sample)


def test_csv_import_needs_a_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "calls.csv"
    path.write_text("a,b\n1,2\n")
    assert main(["calls", "import", str(path), "--db", str(tmp_path / "x.db")]) == 1
    assert "needs --mapping" in capsys.readouterr().err
