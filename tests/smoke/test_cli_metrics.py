"""`heartops metrics` and `heartops demand` round trips, and that they never load Qt."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from heartops.analysis.metrics import compute_metrics
from heartops.cli import main
from heartops.store import open_store
from tests.conftest import REPO, require_shared

PUBLISHED_COLUMNS = ["program", "calls", "avg min to scene", "avg min on scene",
                     "avg total min", "% transport", "% PD backup", "% EMS"]


@pytest.mark.usefixtures("demo_city")
def test_metrics_table_csv_json_agree_with_the_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    db = str(tmp_path / "m.db")
    assert main(["simulate", "--days", "2", "--start", "2025-06-02", "--seed", "3",
                 "--db", db]) == 0
    capsys.readouterr()
    assert main(["metrics", "--db", db]) == 0
    table = capsys.readouterr().out.splitlines()
    header = table[0]
    positions = [header.index(title) for title in PUBLISHED_COLUMNS]
    assert positions == sorted(positions)  # PRODUCT.md's columns, in its order
    assert any(line.startswith("Care Navigation:") for line in table)

    assert main(["metrics", "--db", db, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    with open_store(db) as store:
        report = compute_metrics(store)
    assert [g["program"] for g in document["groups"]] == \
        [g.value("program") for g in report.groups]
    for row, group in zip(document["groups"], report.groups, strict=True):
        assert row["calls"] == group.calls
        assert row["to_scene_mean_min"] == pytest.approx(group.to_scene.mean, abs=1e-3)
        assert row["total_p90_min"] == pytest.approx(group.total.p90, abs=1e-3)

    assert main(["metrics", "--db", db, "--by", "program,zone", "--format", "csv",
                 "--from", "2025-06-02", "--to", "2025-06-02"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and {"program", "zone", "to_scene_median_min", "to_scene_p90_min"} <= set(rows[0])
    first_day = sum(int(r["calls"]) for r in rows)
    assert 0 < first_day < sum(g.calls for g in report.groups)

    assert main(["metrics", "--db", db, "--by", "beat"]) == 1
    assert "cannot group by 'beat'" in capsys.readouterr().err
    assert main(["metrics", "--db", db, "--from", "2025-13-01"]) == 1
    assert "bad date" in capsys.readouterr().err


def test_demand_of_a_cad_csv(capsys: pytest.CaptureFixture[str]) -> None:
    source = require_shared("cad/seattle_spd/spd_call_data_east_C3_2018-2023.csv")
    args = ["demand", str(source), "--mapping", "seattle_spd_calls"]
    assert main([*args, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    total = document["total"]
    assert total["calls"] == 222 - document["rejected_rows"]
    assert total["eligible"] + total["excluded"] == total["demand"] > 0
    assert [g["zone"] for g in document["groups"]] == ["C3"]
    assert main([*args, "--by", "hour"]) == 0
    out = capsys.readouterr().out
    assert "eligible" in out.splitlines()[0] and "police time on eligible calls" in out
    assert main(["demand", str(source)]) == 1
    assert "needs --mapping" in capsys.readouterr().err


def test_headless_analysis_commands_do_not_import_qt(tmp_path: Path) -> None:
    code = ("import sys; from heartops.cli import main; "
            f"rc = main(['metrics', '--db', {str(tmp_path / 'q.db')!r}]); "
            f"rc2 = main(['demand', '--db', {str(tmp_path / 'q.db')!r}, '--format', 'json']); "
            "loaded = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]; "
            "print(rc, rc2, loaded)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "0 0 []"
