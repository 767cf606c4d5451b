"""`heartops db info` against a real SQLite file and a closed PostgreSQL port."""

from __future__ import annotations

from pathlib import Path

import pytest

from heartops.cli import main


def test_db_info_creates_the_database_and_reports_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "desk.db"
    assert main(["db", "info", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "(sqlite)" in out and "units: 0, calls: 0" in out
    assert db.exists()


def test_db_option_falls_back_to_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEARTOPS_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert main(["db", "info"]) == 0
    assert "env.db" in capsys.readouterr().out


def test_unreachable_server_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["db", "info", "--db", "postgresql+psycopg://desk:secret@127.0.0.1:1/heartops"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "cannot reach the database server" in err
    assert "secret" not in err
