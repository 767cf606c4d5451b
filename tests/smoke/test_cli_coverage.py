"""`heartops coverage` and `heartops plan posts|whatif` round trips, errors, and no Qt."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pyogrio
import pytest

from heartops.cli import main
from heartops.routing.build import build_network
from tests.conftest import REPO, require_shared


@pytest.fixture
def history_db(demo_city: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    db = str(tmp_path / "history.db")
    assert main(["simulate", "--days", "3", "--start", "2025-06-02", "--seed", "4",
                 "--db", db]) == 0
    capsys.readouterr()
    return db


def test_coverage_prints_shares_and_writes_cells(
    history_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "cover.gpkg"
    assert main(["coverage", "--db", history_db, "--minutes", "8,12", "--hour", "tue:14",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "within 8 min:" in text and "within 12 min:" in text and "tue 14:00" in text
    info = pyogrio.read_info(out, layer="coverage")
    assert info["features"] > 100 and "covered_12" in list(info["fields"])
    assert info["crs"] == "EPSG:4326"


def test_plan_posts_prints_exact_and_greedy_and_writes_posts(
    history_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "chosen.csv"
    assert main(["plan", "posts", "--db", history_db, "--k", "3", "--candidates", "30",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "exact MILP (k=3)" in text and "greedy (k=3)" in text and "optimal" in text
    with out.open() as source:
        rows = list(csv.DictReader(source))
    assert len(rows) == 3 and set(rows[0]) == {"post_id", "name", "lat", "lon"}
    assert main(["plan", "posts", "--db", history_db, "--k", "31", "--candidates", "30"]) == 1
    assert "k=31 is more than the 30 candidate sites" in capsys.readouterr().err


def test_plan_whatif_compares_side_by_side(
    history_db: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "whatif", "--db", history_db, "--add", "CRT:1@09:00-17:30@9",
                 "--days", "0.5", "--start", "2025-06-09"]) == 0
    text = capsys.readouterr().out
    assert "today" in text and "what-if" in text and "to scene p90" in text
    assert main(["plan", "whatif", "--db", history_db, "--add", "CRT:1@9-17@9"]) == 1
    assert "HH:MM-HH:MM" in capsys.readouterr().err


def test_bad_input_gives_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    empty = str(tmp_path / "empty.db")
    assert main(["coverage", "--network", "nosuch", "--db", empty]) == 1
    err = capsys.readouterr().err
    assert "unknown network 'nosuch'" in err and len(err.strip().splitlines()) == 1
    build_network(str(require_shared("durham/osm/durham_downtown_drive.graphml")),
                  name="durham")
    capsys.readouterr()
    assert main(["coverage", "--network", "durham", "--db", empty, "--posts", "auto"]) == 1
    err = capsys.readouterr().err
    assert "no eligible HEART calls" in err and len(err.strip().splitlines()) == 1
    assert main(["coverage", "--network", "durham", "--db", empty, "--hour", "xyz"]) == 1
    assert "DOW:HH" in capsys.readouterr().err


def test_headless_coverage_commands_do_not_import_qt(history_db: str) -> None:
    code = ("import sys; from heartops.cli import main; "
            f"rc = main(['coverage', '--db', {history_db!r}]); "
            f"rc2 = main(['plan', 'posts', '--db', {history_db!r}, '--k', '2', "
            "'--candidates', '15']); "
            "loaded = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]; "
            "print(rc, rc2, loaded)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=True)
    assert done.stdout.strip().splitlines()[-1] == "0 0 []"
