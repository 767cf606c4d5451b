"""`heartops export` round trips through the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

from heartops.cli import main

pytestmark = pytest.mark.usefixtures("demo_city")


def test_export_public_geopackage_then_read_it_back(
        export_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "public.gpkg"
    code = main(["export", "--what", "calls,zones", "--format", "gpkg", "--profile", "public",
                 "--out", str(out), "--db", str(export_db), "--from", "2025-06-02",
                 "--to", "2025-06-02"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "cells suppressed" in printed and "public gpkg export written" in printed
    assert dict(pyogrio.list_layers(out)) == {"calls": "MultiPolygon", "zones": "MultiPolygon"}
    assert gpd.read_file(out, layer="calls").crs.to_epsg() == 4326


def test_export_errors_are_one_line_and_write_nothing(
        export_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.gpkg"
    base = ["export", "--format", "gpkg", "--out", str(out), "--db", str(export_db)]
    assert main([*base, "--profile", "public", "--what", "units"]) == 1
    assert "public profile does not publish units" in capsys.readouterr().err
    assert main([*base, "--profile", "internal", "--what", "calls,rooftops"]) == 1
    assert "unknown export kind 'rooftops'" in capsys.readouterr().err
    assert main([*base, "--profile", "internal", "--from", "2025-06-03",
                 "--to", "2025-06-01"]) == 1
    assert "is before --from" in capsys.readouterr().err
    assert not out.exists()


def test_export_command_does_not_load_qt(export_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "calls.gpkg"
    script = ("import sys; from heartops.cli import main; "
              f"code = main(['export', '--what', 'calls', '--profile', 'partner', "
              f"'--out', {str(out)!r}, '--db', {str(export_db)!r}]); "
              "assert not [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]; "
              "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert out.exists()
