"""The board's map overlays and File → Export… on the demo city, with fake ports.

A real live window at 1280×800 over a seeded demo shift (the live timer off), with the beats
of the demo city. The export and beat-figure ports are fakes, so the tests check the window's
side: threads, progress, messages, colours. The fixture fails on a leaked top-level window, a
worker thread still running or a Qt warning.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PySide6 import QtWidgets

from heartops.app import load_demo
from heartops.core.errors import HeartopsError
from heartops.qt.main_window import WORKER_THREAD_PREFIX, MainWindow
from heartops.qt.ports import ExportJob, ProgressCallback

pytestmark = pytest.mark.usefixtures("demo_city")

START = datetime(2025, 6, 3, 10, 0, tzinfo=ZoneInfo("America/New_York"))


# -- legend ------------------------------------------------------------------------------------


def test_the_legend_covers_under_15_percent_of_the_map_at_1280x800(
    qtbot: Any, demo_window: Callable[..., MainWindow],
) -> None:
    window = demo_window()
    view = window.map_view
    viewport = view.view_box.sceneBoundingRect()

    def share() -> float:
        rect = view.legend.sceneBoundingRect()
        return rect.width() * rect.height() / (viewport.width() * viewport.height())

    assert share() < 0.03  # collapsed: the one-line key
    view.legend.set_expanded(True)
    assert share() < 0.15  # every entry, in columns
    for text in ("Available", "Emergency", "Stale (no AVL)", "Call P", "Unassigned call",
                 "Beat", "District", "Staging post", "8 / 12-min drive"):
        assert text in view.legend.texts()


# -- drive-time areas from a unit --------------------------------------------------------------


def test_drive_time_areas_are_drawn_from_the_selected_unit(
    qtbot: Any, demo_window: Callable[..., MainWindow],
) -> None:
    window = demo_window()
    board = window.board
    assert board is not None
    assert window.show_unit_areas() is None  # nothing selected: says so, asks nothing
    assert "Select a unit" in window.status_text()

    unit_id = next(u for u in board.units.model.keys
                   if window.map_view.live.unit_position(u) is not None)
    board.select_unit(unit_id, origin="units")
    with qtbot.waitSignal(window.isochrones_shown, timeout=10_000) as shown:
        window.unit_areas_action.trigger()  # the View menu item (key I)

    result = shown.args[0]
    lat, lon = window.map_view.live.unit_position(unit_id) or (0.0, 0.0)
    assert result.request.point.lat == pytest.approx(lat)
    assert result.request.point.lon == pytest.approx(lon)
    assert len(window.map_view.isochrone_items) == 2
    label = window.map_view.isochrone_label_item
    assert label is not None and label.textItem.toPlainText() == f"{unit_id} · 8/12 min"
    assert f"unit {unit_id}" in window.status_text()
    assert window.unit_areas_action.shortcut().toString() == "I"


# -- File → Export… -----------------------------------------------------------------------------


class FakeExports:
    """An export port that reports progress, writes one file, or fails."""

    def __init__(self, *, fail: str | None = None, step_s: float = 0.01) -> None:
        self.fail = fail
        self.step_s = step_s
        self.threads: list[str] = []

    def run(self, job: ExportJob, progress: ProgressCallback) -> str:
        self.threads.append(threading.current_thread().name)
        for step in range(5):
            progress(f"step {step}", step / 5)
            time.sleep(self.step_s)
        if self.fail:
            raise HeartopsError(f"{self.fail}\nsecond line not shown")
        job.out.write_text("exported")
        progress("export written", 1.0)
        return f"Wrote 1 file ({', '.join(job.kinds)})"


def _job(tmp_path: Path) -> ExportJob:
    return ExportJob(kinds=("calls", "zones"), format="gpkg", profile="partner",
                     out=tmp_path / "out.gpkg")


def test_an_export_runs_off_the_ui_thread_with_progress_to_100_and_a_summary(
    qtbot: Any, demo_window: Callable[..., MainWindow], tmp_path: Path,
) -> None:
    port = FakeExports()
    window = demo_window(exports=port, ask_export=lambda _parent: _job(tmp_path))
    exporter = window.exporter
    assert exporter is not None and window.export_action.isEnabled()

    with qtbot.waitSignal(exporter.finished, timeout=10_000) as finished:
        assert window.export()
        assert exporter.progress_dialog is not None

    assert finished.args == ["Wrote 1 file (calls, zones)", True]
    assert port.threads and port.threads[0].startswith(WORKER_THREAD_PREFIX)
    assert exporter.progress_values[-1] == 100
    assert exporter.progress_values == sorted(exporter.progress_values)
    assert exporter.progress_dialog is None  # closed by the result
    box = exporter.message_box
    assert box is not None and box.text() == "Wrote 1 file (calls, zones)"
    assert (tmp_path / "out.gpkg").read_text() == "exported"
    box.close()


def test_a_failing_export_shows_its_reason_and_leaves_no_file(
    qtbot: Any, demo_window: Callable[..., MainWindow], tmp_path: Path,
) -> None:
    window = demo_window(exports=FakeExports(fail="cannot write out.gpkg: disk full"),
                         ask_export=lambda _parent: _job(tmp_path))
    exporter = window.exporter
    assert exporter is not None

    with qtbot.waitSignal(exporter.finished, timeout=10_000) as finished:
        window.export()

    assert finished.args == ["cannot write out.gpkg: disk full", False]
    box = exporter.message_box
    assert box is not None and box.text() == "cannot write out.gpkg: disk full"
    assert box.icon() == QtWidgets.QMessageBox.Icon.Warning
    assert not (tmp_path / "out.gpkg").exists()
    assert "disk full" in window.status_text()
    box.close()


def test_cancelling_an_export_stops_it_and_writes_nothing(
    qtbot: Any, demo_window: Callable[..., MainWindow], tmp_path: Path,
) -> None:
    window = demo_window(exports=FakeExports(step_s=0.2),
                         ask_export=lambda _parent: _job(tmp_path))
    exporter = window.exporter
    assert exporter is not None

    with qtbot.waitSignal(exporter.finished, timeout=10_000) as finished:
        window.export()
        dialog = exporter.progress_dialog
        assert dialog is not None
        button = dialog.findChild(QtWidgets.QPushButton)
        assert button is not None and button.text() == "Cancel"
        button.click()

    assert finished.args == ["Export cancelled; nothing was written.", False]
    assert exporter.message_box is None
    assert not (tmp_path / "out.gpkg").exists()


def test_the_export_dialog_refuses_staff_locations_in_a_public_export(
    qtbot: Any, demo_window: Callable[..., MainWindow], tmp_path: Path,
) -> None:
    from heartops.qt.export_dialog import ExportDialog

    window = demo_window(exports=FakeExports())
    dialog = ExportDialog(window, default_dir=tmp_path)
    job = ExportJob(kinds=("units",), format="csv", profile="public", out=tmp_path / "x")
    dialog.set_job(job)
    assert dialog.job() == job
    assert "public profile" in (dialog.problem() or "")
    dialog.set_job(ExportJob(kinds=("calls",), format="csv", profile="public",
                             out=tmp_path / "x"))
    assert dialog.problem() is None
    dialog.deleteLater()


# -- beats coloured by a figure ---------------------------------------------------------------


class FakeFigures:
    """A per-zone figures port with fixed numbers (and the thread it ran on)."""

    def __init__(self, values: Mapping[str, float]) -> None:
        self.values = dict(values)
        self.asked: list[tuple[str, str]] = []

    def zone_values(self, metric: str) -> Mapping[str, float]:
        self.asked.append((metric, threading.current_thread().name))
        return self.values


def test_beats_are_coloured_by_the_ports_figures_and_turn_off_cleanly(
    qtbot: Any, demo_window: Callable[..., MainWindow],
) -> None:
    data = load_demo()
    zones = [str(z) for z in data.beats["zone_id"]]
    figures = {zone: float(i) for i, zone in enumerate(zones)}
    port = FakeFigures(figures)
    window = demo_window(zone_metrics=port)
    view = window.map_view
    beat_pen = view.beat_item.opts["pen"].color().name(QtGui_HexArgb())
    assert set(window.choropleth_actions) >= {"", "calls", "to_scene_median", "transport_pct"}

    with qtbot.waitSignal(window.choropleth_shown, timeout=10_000):
        window.choropleth_actions["to_scene_median"].trigger()

    assert port.asked[0][0] == "to_scene_median"
    assert port.asked[0][1].startswith(WORKER_THREAD_PREFIX)
    assert 1 <= len(view.choropleth_items) <= 5
    low, high = view.choropleth_colour(zones[0]), view.choropleth_colour(zones[-1])
    assert low is not None and high is not None and low != high
    # Higher figures never get a lower class than smaller ones.
    classes = [view._choropleth_classes[z] for z in zones]
    assert classes == sorted(classes)
    scale = view.legend.scale
    assert scale is not None and scale.title == "Median minutes to scene"
    assert scale.labels[0].startswith("0.0 min") and scale.labels[-1].endswith(
        f"{len(zones) - 1:.1f} min")

    window.choropleth_actions[""].trigger()

    assert view.choropleth_items == [] and view.legend.scale is None
    assert view.choropleth_colour(zones[0]) is None
    assert view.beat_item.opts["pen"].color().name(QtGui_HexArgb()) == beat_pen
    assert view.beat_item.isVisible()


def QtGui_HexArgb() -> Any:  # noqa: N802 - reads like the Qt enum it returns
    from PySide6 import QtGui

    return QtGui.QColor.NameFormat.HexArgb
