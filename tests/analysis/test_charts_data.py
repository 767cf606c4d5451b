"""The Charts dock's series against a hand-built frame (numbers worked out by hand below)."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from heartops.analysis.charts_data import (
    DAY_NAMES,
    HOUR_COLUMNS,
    ChartFilters,
    FrameChartData,
    chart_choices,
    chart_series,
    histogram_bins,
    ledger_entries_frame,
    local_bounds,
    published_targets,
    weekly_series,
    with_eligibility,
)
from heartops.core.eligibility import LedgerEntry, LedgerOutcome

TZ = "America/New_York"  # EDT in June: UTC-4
TARGETS = {"CRT": {"to_scene": 12.19, "on_scene": 34.06, "total": 46.25}}


def _frame() -> pd.DataFrame:
    """Four calls: two CRT, one CCD, one no HEART program answered."""
    frame = pd.DataFrame({
        "call_id": ["a", "b", "c", "d"],
        "program": ["CRT", "CRT", "CCD", None],
        "zone_id": ["Z1", "Z2", "Z1", "Z1"],
        # a: Mon 2 Jun 10:00 local; b: Tue 3 Jun 11:30; c: Tue 10 Jun 09:00;
        # d: Tue 10 Jun 22:00 local (already 11 Jun in UTC)
        "received_at": pd.to_datetime(["2025-06-02T14:00Z", "2025-06-03T15:30Z",
                                       "2025-06-10T13:00Z", "2025-06-11T02:00Z"], utc=True),
        "to_scene_min": [10.0, 14.0, 1.0, np.nan],
        "on_scene_min": [30.0, 40.0, 20.0, np.nan],
        "total_min": [40.0, 54.0, 21.0, np.nan],
    })
    ledger = pd.DataFrame({"call_id": ["a", "b", "c", "d"],
                           "outcome": ["SERVED", "SERVED", "EXCLUDED", "NO_TEAM_AVAILABLE"],
                           "programs": ["CRT COR", "CRT", "CCD", "COR"]})
    return with_eligibility(frame, ledger)


def test_eligibility_comes_from_the_ledger_and_excluded_calls_are_not_eligible() -> None:
    frame = _frame()
    assert frame["eligible"].tolist() == [True, True, False, True]
    assert frame["eligible_programs"].tolist() == ["CRT COR", "CRT", "", "COR"]
    entries = [LedgerEntry("a", datetime(2025, 6, 2, 14), LedgerOutcome.SERVED, None,
                           ("CRT", "COR"))]
    assert ledger_entries_frame(entries).to_dict("records") == [
        {"call_id": "a", "outcome": "SERVED", "programs": "CRT COR"}]


def test_program_stats_mean_median_p90_and_published_means() -> None:
    stats = chart_series(_frame(), ChartFilters(), timezone=TZ, targets=TARGETS).program_stats
    assert stats["program"].tolist() == ["CCD"] * 3 + ["CRT"] * 3  # the department's order
    crt = stats[stats["program"] == "CRT"].set_index("interval")
    # to scene 10 and 14: mean 12, median 12, p90 = 10 + 0.9 * (14 - 10) = 13.6
    assert crt.loc["to_scene", ["n", "mean_min", "median_min"]].tolist() == [2, 12.0, 12.0]
    assert crt.loc["to_scene", "p90_min"] == pytest.approx(13.6)
    # total 40 and 54: mean 47, p90 = 40 + 0.9 * 14 = 52.6
    assert crt.loc["total", "mean_min"] == 47.0
    assert crt.loc["total", "p90_min"] == pytest.approx(52.6)
    assert crt.loc["to_scene", "published_mean_min"] == 12.19
    ccd = stats[stats["program"] == "CCD"].set_index("interval")
    assert ccd.loc["on_scene", "mean_min"] == 20.0
    assert math.isnan(ccd.loc["on_scene", "published_mean_min"])  # not in TARGETS


def test_weekly_series_counts_answered_calls_per_local_monday_week() -> None:
    weekly = chart_series(_frame(), ChartFilters(), timezone=TZ, targets={}).weekly
    assert weekly["week_start"].dt.strftime("%Y-%m-%d").tolist() == ["2025-06-02",
                                                                     "2025-06-09"]
    assert weekly["calls"].tolist() == [2, 1]  # d was answered by nobody from HEART
    assert weekly["median_to_scene_min"].tolist() == [12.0, 1.0]
    # A requested span shows its quiet weeks as zero calls and no median.
    padded = weekly_series(_frame()[_frame()["program"].notna()], timezone=TZ,
                           first_day=date(2025, 5, 28))
    assert padded["calls"].tolist() == [0, 2, 1]
    assert math.isnan(padded["median_to_scene_min"].iloc[0])


def test_heatmap_counts_eligible_calls_by_local_day_and_hour() -> None:
    heatmap = chart_series(_frame(), ChartFilters(), timezone=TZ, targets={}).heatmap
    assert heatmap["day"].tolist() == list(DAY_NAMES)
    assert list(heatmap.columns[1:]) == list(HOUR_COLUMNS)
    cells = heatmap.set_index("day")
    assert cells.loc["Mon", "10"] == 1  # a
    assert cells.loc["Tue", "11"] == 1  # b
    assert cells.loc["Tue", "22"] == 1  # d, on Tuesday local time though Wednesday in UTC
    assert int(cells.to_numpy().sum()) == 3  # c is excluded


def test_histogram_uses_shared_bins_and_puts_late_arrivals_in_the_last_bin() -> None:
    frame = pd.concat([_frame(), pd.DataFrame({
        "call_id": ["e"], "program": ["CRT"], "zone_id": ["Z2"],
        "received_at": pd.to_datetime(["2025-06-04T15:00Z"], utc=True),
        "to_scene_min": [45.0], "on_scene_min": [5.0], "total_min": [50.0]})],
        ignore_index=True)
    bins = histogram_bins(frame, span_minutes=30.0)
    crt = bins[bins["program"] == "CRT"]
    assert len(crt) == 15 and crt["bin_start_min"].iloc[0] == 0.0
    assert crt["bin_end_min"].iloc[-1] == 30.0
    counts = dict(zip(crt["bin_start_min"], crt["calls"], strict=True))
    assert counts[10.0] == 1 and counts[14.0] == 1 and counts[28.0] == 1  # 45 min -> last
    assert int(crt["calls"].sum()) == 3
    ccd = bins[bins["program"] == "CCD"]
    assert ccd["calls"].iloc[0] == 1 and int(ccd["calls"].sum()) == 1


def test_filters_program_zone_and_local_days() -> None:
    frame = _frame()
    crt = chart_series(frame, ChartFilters(program="CRT"), timezone=TZ, targets={})
    assert crt.calls == 2 and set(crt.program_stats["program"]) == {"CRT"}
    # Demand follows the programs that take the call by type: a (CRT COR) and b (CRT).
    assert int(crt.heatmap_array().sum()) == 2
    cor = chart_series(frame, ChartFilters(program="COR"), timezone=TZ, targets={})
    assert cor.calls == 0 and int(cor.heatmap_array().sum()) == 2  # a and d
    zone = chart_series(frame, ChartFilters(zone="Z1"), timezone=TZ, targets={})
    assert zone.calls == 2 and int(zone.heatmap_array().sum()) == 2  # a, c answered; a, d
    day = chart_series(frame, ChartFilters(first_day=date(2025, 6, 10),
                                           last_day=date(2025, 6, 10)), timezone=TZ,
                       targets={})
    assert day.calls == 1  # c; d is 10 June local time too, but answered by nobody
    assert int(day.heatmap_array().sum()) == 1  # d (c is excluded)
    with pytest.raises(ValueError, match="before"):
        ChartFilters(first_day=date(2025, 6, 3), last_day=date(2025, 6, 2))


def test_choices_and_the_port_implementation_ask_for_local_midnights() -> None:
    frame = _frame()
    choices = chart_choices(frame, timezone=TZ)
    assert choices.programs == ("CCD", "CRT") and choices.zones == ("Z1", "Z2")
    assert (choices.first_day, choices.last_day) == (date(2025, 6, 2), date(2025, 6, 10))
    asked: list[tuple[datetime | None, datetime | None]] = []

    def load(start: datetime | None, end: datetime | None) -> pd.DataFrame:
        asked.append((start, end))
        return frame

    data = FrameChartData(load, timezone=TZ, targets=TARGETS)
    assert data.choices() == choices
    series = data.series(ChartFilters(first_day=date(2025, 6, 3), last_day=date(2025, 6, 3)))
    start, end = asked[-1]
    assert start is not None and end is not None
    assert (start.isoformat(), end.isoformat()) == ("2025-06-03T00:00:00-04:00",
                                                    "2025-06-04T00:00:00-04:00")
    assert series.calls == 1 and series.targets == TARGETS
    assert local_bounds(None, None, timezone=TZ) == (None, None)


def test_published_targets_are_the_departments_table() -> None:
    targets = published_targets()
    assert targets["CRT"] == {"to_scene": 12.19, "on_scene": 34.06, "total": 46.25}
    assert targets["CCD"]["to_scene"] == 1.37 and targets["COR"]["total"] == 64.66


def test_empty_frame_gives_empty_but_well_formed_series() -> None:
    empty = _frame().iloc[0:0]
    series = chart_series(empty, ChartFilters(), timezone=TZ, targets={})
    assert series.calls == 0 and series.program_stats.empty and series.weekly.empty
    assert series.heatmap_array().shape == (7, 24) and series.histogram.empty
    assert chart_choices(empty, timezone=TZ).first_day is None
