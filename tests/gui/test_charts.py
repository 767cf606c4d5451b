"""The Charts dock over a simulated history of the demo city (10 days in SQLite).

The widget gets a fake port: :class:`~heartops.analysis.charts_data.FrameChartData` over the
frame read once from the store, which records the thread each call ran on. Each test
closes its widget; the fixture fails on a Qt warning, a leaked top-level widget or a charts
worker thread still running.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from gui_helpers import close_windows
from PySide6 import QtGui, QtWidgets

from heartops.analysis.charts_data import (
    ChartChoices,
    ChartFilters,
    ChartSeries,
    FrameChartData,
    ledger_entries_frame,
    with_eligibility,
)
from heartops.analysis.frames import calls_frame, prepare
from heartops.history import simulate_history
from heartops.qt.charts import CHART_THREAD_PREFIX, ChartsWidget, ExportFormat
from heartops.store import open_store

START = datetime(2025, 6, 2, 4, tzinfo=UTC)  # Monday 00:00 in Durham


@pytest.fixture(scope="module")
def sim_frame(tmp_path_factory: pytest.TempPathFactory,
              demo_city_dirs: tuple[Path, Path]) -> pd.DataFrame:
    """The prepared per-call frame (with ``eligible``) of 10 simulated days.

    Ten days rather than three: two weeks give the weekly chart more than one point.
    """
    cache, data = demo_city_dirs
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTOPS_CACHE_DIR", str(cache))
        patch.setenv("HEARTOPS_DATA_DIR", str(data))
        with open_store(str(tmp_path_factory.mktemp("charts") / "sim.db")) as store:
            simulate_history(store, network="demo", days=10, seed=7, start=START)
            frame = with_eligibility(prepare(calls_frame(store)),
                                     ledger_entries_frame(store.ledger()))
    assert frame["program"].nunique() >= 3 and frame["eligible"].any()
    return frame


class FakePort(FrameChartData):
    """Chart data over an in-memory frame; records the threads it was called on."""

    def __init__(self, frame: pd.DataFrame) -> None:
        def load(start: datetime | None, end: datetime | None) -> pd.DataFrame:
            keep = pd.Series(True, index=frame.index)
            if start is not None:
                keep &= frame["received_at"] >= pd.Timestamp(start)
            if end is not None:
                keep &= frame["received_at"] < pd.Timestamp(end)
            return frame[keep]

        super().__init__(load)
        self.threads: list[str] = []
        self.gate: threading.Event | None = None  # set by a test to hold the next series()
        self.fail: str | None = None

    def choices(self) -> ChartChoices:
        self.threads.append(threading.current_thread().name)
        return super().choices()

    def series(self, filters: ChartFilters) -> ChartSeries:
        self.threads.append(threading.current_thread().name)
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.wait(10)
        if self.fail is not None:
            raise RuntimeError(self.fail)
        return super().series(filters)



@pytest.fixture
def make_charts(clean_qt: None, qtbot: Any) -> Iterator[Callable[..., ChartsWidget]]:
    widgets: list[ChartsWidget] = []

    def make(port: FakePort, **options: Any) -> ChartsWidget:
        widget = ChartsWidget(port, **options)
        widget.resize(1000, 700)
        widget.show()
        qtbot.waitExposed(widget)
        widgets.append(widget)
        qtbot.waitUntil(lambda: widget.series is not None, timeout=10_000)
        return widget

    yield make
    close_windows(widgets)


def _apply(qtbot: Any, widget: ChartsWidget, filters: ChartFilters) -> ChartSeries:
    widget.set_filters(filters)
    qtbot.waitUntil(lambda: not widget.computing and widget.series is not None
                    and widget.series.filters == filters, timeout=10_000)
    assert widget.series is not None
    return widget.series


def _bar_heights(widget: ChartsWidget, program: str) -> np.ndarray:
    bar = widget.charts["metrics"].bars[program]  # type: ignore[attr-defined]
    return np.asarray(bar.opts["height"], dtype=float)


# -- populating and filtering ----------------------------------------------------------------


def test_charts_populate_from_the_port_on_the_worker_thread(
        make_charts: Callable[..., ChartsWidget], sim_frame: pd.DataFrame) -> None:
    port = FakePort(sim_frame)
    widget = make_charts(port)
    series = widget.series
    assert series is not None
    assert port.threads and all(n.startswith(CHART_THREAD_PREFIX) for n in port.threads)
    assert "calls answered by HEART" in widget.status_label.text()
    # Filters offer what the data holds.
    programs = [widget.program_box.itemData(i) for i in range(1, widget.program_box.count())]
    assert programs == list(dict.fromkeys(sim_frame["program"].dropna().map(str)).keys()) \
        or set(programs) == set(sim_frame["program"].dropna())
    assert widget.from_edit.date().toPython() == date(2025, 6, 2)

    # Metrics: one bar per program and interval at the mean.
    stats = series.program_stats
    for program in stats["program"].unique():
        expected = stats[stats["program"] == program]["mean_min"].to_numpy()
        np.testing.assert_allclose(_bar_heights(widget, program), expected)
    crt = sim_frame[sim_frame["program"] == "CRT"]["to_scene_min"].dropna()
    assert _bar_heights(widget, "CRT")[0] == pytest.approx(crt.mean())
    # Weekly: two weeks; the bars add up to the calls HEART answered.
    weekly = widget.charts["weekly"]
    heights = np.asarray(weekly.calls_bars.opts["height"])  # type: ignore[attr-defined]
    assert len(heights) == 2 and heights.sum() == sim_frame["program"].notna().sum()
    # Heatmap: every eligible call in a cell.
    image = widget.charts["heatmap"].image.image  # type: ignore[attr-defined]
    assert image.shape == (7, 24) and image.sum() == sim_frame["eligible"].sum()
    # Histograms: every answered call with a time to scene, per program.
    curves = widget.charts["histogram"].curves  # type: ignore[attr-defined]
    assert set(curves) == set(sim_frame["program"].dropna())
    assert sum(c.yData.sum() for c in curves.values()) == \
        sim_frame.loc[sim_frame["program"].notna(), "to_scene_min"].notna().sum()
    assert widget.charts["histogram"].target_lines["CRT"].value() == 12.19  # type: ignore


def test_filters_change_every_chart(qtbot: Any, make_charts: Callable[..., ChartsWidget],
                                   sim_frame: pd.DataFrame) -> None:
    widget = make_charts(FakePort(sim_frame))
    crt = _apply(qtbot, widget, ChartFilters(program="CRT"))
    assert widget.program_box.currentData() == "CRT"
    assert set(widget.charts["metrics"].bars) == {"CRT"}  # type: ignore[attr-defined]
    assert set(widget.charts["histogram"].curves) == {"CRT"}  # type: ignore[attr-defined]
    weekly = widget.charts["weekly"]
    heights = np.asarray(weekly.calls_bars.opts["height"])  # type: ignore[attr-defined]
    assert heights.sum() == (sim_frame["program"] == "CRT").sum() == crt.calls
    assert weekly.target_line.isVisible()  # type: ignore[attr-defined]
    assert weekly.target_line.value() == 12.19  # type: ignore[attr-defined]

    zone = str(sim_frame["zone_id"].dropna().value_counts().index[0])
    _apply(qtbot, widget, ChartFilters(zone=zone))
    in_zone = sim_frame[sim_frame["zone_id"] == zone]
    image = widget.charts["heatmap"].image.image  # type: ignore[attr-defined]
    assert image.sum() == in_zone["eligible"].sum() < sim_frame["eligible"].sum()

    day = date(2025, 6, 4)
    one_day = _apply(qtbot, widget, ChartFilters(first_day=day, last_day=day))
    local = sim_frame["received_at"].dt.tz_convert("America/New_York").dt.date
    assert one_day.calls == ((local == day) & sim_frame["program"].notna()).sum()
    heights = np.asarray(weekly.calls_bars.opts["height"])  # type: ignore[attr-defined]
    assert heights.tolist() == [one_day.calls]
    image = widget.charts["heatmap"].image.image  # type: ignore[attr-defined]
    assert image[2].sum() == image.sum()  # Wednesday only


def test_editing_a_control_recomputes_after_a_pause(
        qtbot: Any, make_charts: Callable[..., ChartsWidget], sim_frame: pd.DataFrame) -> None:
    widget = make_charts(FakePort(sim_frame))
    widget.program_box.setCurrentIndex(widget.program_box.findData("COR"))
    assert widget.status_label.text() == "computing…"
    qtbot.waitUntil(lambda: widget.series is not None
                    and widget.series.filters.program == "COR", timeout=10_000)
    widget.reset_filters()
    qtbot.waitUntil(lambda: widget.series is not None
                    and widget.series.filters.program is None, timeout=10_000)
    assert widget.program_box.currentIndex() == 0


def test_a_stale_answer_is_dropped(qtbot: Any, make_charts: Callable[..., ChartsWidget],
                                   sim_frame: pd.DataFrame) -> None:
    port = FakePort(sim_frame)
    widget = make_charts(port)
    shown: list[ChartSeries] = []
    widget.series_shown.connect(shown.append)
    gate = threading.Event()
    port.gate = gate  # the CRT request hangs until the COR one has been asked for
    widget.set_filters(ChartFilters(program="CRT"))
    widget.set_filters(ChartFilters(program="COR"))
    assert widget.computing
    gate.set()
    qtbot.waitUntil(lambda: not widget.computing, timeout=10_000)
    qtbot.wait(100)  # give a late CRT answer the chance to (wrongly) land
    assert [s.filters.program for s in shown] == ["COR"]
    assert set(widget.charts["metrics"].bars) == {"COR"}  # type: ignore[attr-defined]


def test_a_failing_port_shows_a_message(qtbot: Any, make_charts: Callable[..., ChartsWidget],
                                        sim_frame: pd.DataFrame) -> None:
    port = FakePort(sim_frame)
    widget = make_charts(port)
    messages: list[str] = []
    widget.message.connect(messages.append)
    port.fail = "database is locked"
    widget.set_filters(ChartFilters(program="CRT"))
    qtbot.waitUntil(lambda: not widget.computing, timeout=10_000)
    assert messages == ["Could not compute the charts: database is locked"]
    assert widget.status_label.text() == messages[0]


# -- exports ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["metrics", "weekly", "heatmap", "histogram"])
def test_every_chart_exports_png_svg_and_csv(
        key: str, tmp_path: Path, make_charts: Callable[..., ChartsWidget],
        sim_frame: pd.DataFrame) -> None:
    widget = make_charts(FakePort(sim_frame))
    png, svg, csv = (tmp_path / f"{key}.{ext}" for ext in ("png", "svg", "csv"))
    assert widget.export_chart(key, ExportFormat.PNG, png)
    assert widget.export_chart(key, ExportFormat.SVG, svg)
    assert widget.export_chart(key, ExportFormat.CSV, csv)
    assert widget.status_label.text() == f"Saved {csv.name}"

    image = QtGui.QImage(str(png))
    assert not image.isNull() and image.width() > 100
    pixels = {image.pixel(x, y) for x in range(0, image.width(), 7)
              for y in range(0, image.height(), 7)}
    assert len(pixels) > 5, "the PNG is blank"
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 10
    table = widget.charts[key].table()
    back = pd.read_csv(csv, parse_dates=["week_start"] if key == "weekly" else None)
    pd.testing.assert_frame_equal(back, table.reset_index(drop=True), check_dtype=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([png.name, svg.name, csv.name])


def test_a_failing_export_says_so_and_leaves_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        make_charts: Callable[..., ChartsWidget], sim_frame: pd.DataFrame) -> None:
    widget = make_charts(FakePort(sim_frame))
    messages: list[str] = []
    widget.message.connect(messages.append)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    for fmt in ExportFormat:
        target = blocker / f"chart.{fmt.value}"
        assert not widget.export_chart("metrics", fmt, target)
        assert messages[-1].startswith(f"Could not write chart.{fmt.value}")
        assert widget.status_label.text() == messages[-1]
    # A write that fails halfway (disk full) leaves neither the target nor the temp file.
    writable = tmp_path / "out"
    writable.mkdir()

    def half_then_fail(self: pd.DataFrame, path: Any, **_: Any) -> None:
        Path(path).write_text("program,interval\nCRT,")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    assert not widget.export_chart("metrics", ExportFormat.CSV, writable / "metrics.csv")
    assert "No space left on device" in messages[-1]
    assert list(writable.iterdir()) == []


def test_export_buttons_and_menu_ask_for_a_path(
        tmp_path: Path, make_charts: Callable[..., ChartsWidget],
        sim_frame: pd.DataFrame) -> None:
    asked: list[tuple[str, ExportFormat]] = []

    def ask(key: str, fmt: ExportFormat) -> Path | None:
        asked.append((key, fmt))
        return None if fmt is ExportFormat.SVG else tmp_path / f"{key}.{fmt.value}"

    widget = make_charts(FakePort(sim_frame), ask_path=ask)
    button = widget.findChild(QtWidgets.QToolButton, "export-heatmap-png")
    assert button is not None
    button.click()
    assert (tmp_path / "heatmap.png").stat().st_size > 0
    menu = widget.export_menu("weekly")
    actions = menu.actions()
    assert [a.text() for a in actions] == ["Export as PNG…", "Export as SVG…",
                                           "Export data as CSV…"]
    actions[1].trigger()  # cancelled: nothing written
    actions[2].trigger()
    menu.deleteLater()
    assert asked == [("heatmap", ExportFormat.PNG), ("weekly", ExportFormat.SVG),
                     ("weekly", ExportFormat.CSV)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heatmap.png", "weekly.csv"]


def test_a_theme_switch_redraws_the_charts_in_its_colours(
    qtbot: Any, make_charts: Callable[..., ChartsWidget], sim_frame: pd.DataFrame,
) -> None:
    from heartops.qt.charts.style import chart_palette
    from heartops.qt.theme import Theme

    widget = make_charts(FakePort(sim_frame))
    before = _bar_heights(widget, "CRT")
    old_views = set(map(id, widget.charts.values()))
    widget.set_theme(Theme.LIGHT)
    assert not old_views & set(map(id, widget.charts.values()))  # rebuilt in the new colours
    for view in widget.charts.values():
        assert view.palette_ is chart_palette(Theme.LIGHT)
    np.testing.assert_array_equal(_bar_heights(widget, "CRT"), before)  # same data
