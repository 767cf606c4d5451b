"""The series the Charts dock draws, built from the per-call frame with pandas and numpy only.

The Qt charts (:mod:`heartops.qt.charts`) never touch the store: a worker thread asks an
injected port for a :class:`ChartSeries` and the UI draws it. This module builds that series
from the prepared per-call frame of :mod:`heartops.analysis.frames` (``prepare(calls_frame(...))``)
plus an ``eligible`` column (:func:`with_eligibility`, from the unmet-demand ledger):

* per-program interval statistics (minutes to scene, on scene, total: count, mean, median,
  90th percentile; the same conventions as :mod:`heartops.analysis.metrics`) next to the
  department's published means;
* a weekly series of calls and the median minutes to scene;
* a day-of-week x hour-of-day matrix of eligible demand (local time);
* histograms of minutes to scene per program.

Why this module imports neither the store nor :mod:`heartops.analysis.frames`: the Qt layer
imports the series types from here, and import-linter's independence contract between
``heartops.qt`` and ``heartops.store`` counts indirect imports. Keeping this file on
``heartops.core`` and pandas keeps that chain empty; the store-reading part lives in the
``load`` callable the composition root hands to :class:`FrameChartData`.

Conventions, shared with the metrics: a call belongs to the program that responded; calls no
HEART program answered are left out of the interval charts and the weekly series (they are
in the demand heatmap when eligible); an interval counts the calls that have both its times.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from heartops.core.codes import default_tables
from heartops.core.eligibility import LedgerEntry, LedgerOutcome

__all__ = ["DAY_NAMES", "HOUR_COLUMNS", "INTERVALS", "PROGRAM_ORDER", "ChartChoices",
           "ChartFilters", "ChartSeries", "FrameChartData", "chart_choices", "chart_series",
           "filter_calls", "heatmap_matrix", "histogram_bins", "ledger_entries_frame",
           "local_bounds", "program_stats", "published_targets", "weekly_series",
           "with_eligibility"]

INTERVALS: Mapping[str, str] = {"to_scene": "to_scene_min", "on_scene": "on_scene_min",
                                "total": "total_min"}
"""Charted intervals and the prepared-frame columns (minutes) they come from."""

PROGRAM_ORDER = ("CCD", "CRT", "COR", "CN")
"""Programs in the order of the department's table; others follow alphabetically."""

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""Heatmap rows (pandas ``day_of_week``: Monday is 0)."""

HOUR_COLUMNS = tuple(str(hour) for hour in range(24))
"""Heatmap columns, local hour of day; strings so a CSV reads back with the same names."""

HISTOGRAM_BIN_MINUTES = 2.0
HISTOGRAM_MIN_SPAN = 30.0
HISTOGRAM_MAX_SPAN = 120.0


@dataclass(frozen=True, slots=True)
class ChartFilters:
    """What every chart is restricted to; ``None`` means no restriction.

    Attributes
    ----------
    program
        Program that responded (``CRT``). The demand heatmap keeps the eligible calls this
        program takes by type when the frame says so (``eligible_programs``).
    zone
        Zone (beat) of the call.
    first_day, last_day
        Local calendar days of the received time, both included.
    """

    program: str | None = None
    zone: str | None = None
    first_day: date | None = None
    last_day: date | None = None

    def __post_init__(self) -> None:
        if (self.first_day is not None and self.last_day is not None
                and self.last_day < self.first_day):
            raise ValueError(f"last day {self.last_day} is before first day {self.first_day}")


@dataclass(frozen=True, slots=True)
class ChartChoices:
    """What the filters can offer: the programs, zones and days present in the data.

    Attributes
    ----------
    programs
        Responding programs, in :data:`PROGRAM_ORDER`.
    zones
        Zone ids, sorted.
    first_day, last_day
        Local days of the first and last received call (``None`` without calls).
    """

    programs: tuple[str, ...]
    zones: tuple[str, ...]
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True, slots=True, eq=False)
class ChartSeries:
    """Everything the four charts draw for one set of filters (tables, one row per point).

    Attributes
    ----------
    filters
        The filters the series answer.
    calls
        Calls a HEART program answered, after filtering.
    program_stats
        :func:`program_stats`.
    weekly
        :func:`weekly_series`.
    heatmap
        :func:`heatmap_matrix`.
    histogram
        :func:`histogram_bins`.
    targets
        Program -> interval -> published mean minutes (:func:`published_targets`).
    """

    filters: ChartFilters
    calls: int
    program_stats: pd.DataFrame
    weekly: pd.DataFrame
    heatmap: pd.DataFrame
    histogram: pd.DataFrame
    targets: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def heatmap_array(self) -> np.ndarray:
        """Return the heatmap as a 7 x 24 array (rows Monday..Sunday, columns hour 0..23)."""
        return self.heatmap.loc[:, list(HOUR_COLUMNS)].to_numpy(dtype=float)


# -- small helpers ---------------------------------------------------------------------------


def _zone(timezone: ZoneInfo | str | None) -> str:
    return str(timezone if timezone is not None else default_tables().timezone)


def _program_key(program: str) -> tuple[int, str]:
    known = PROGRAM_ORDER.index(program) if program in PROGRAM_ORDER else len(PROGRAM_ORDER)
    return known, program


def _ordered_programs(values: Iterable[object]) -> tuple[str, ...]:
    names = {str(v) for v in values if isinstance(v, str) and v}
    return tuple(sorted(names, key=_program_key))


def _local(times: pd.Series, zone: str) -> pd.Series:
    local: pd.Series = times.dt.tz_convert(zone)
    return local


def local_bounds(first_day: date | None, last_day: date | None, *,
                 timezone: ZoneInfo | str | None = None) -> tuple[datetime | None,
                                                                  datetime | None]:
    """Return the received-time bounds ``[start, end)`` of local days, as aware datetimes.

    Parameters
    ----------
    first_day, last_day
        Local days, both included; ``None`` leaves a side open.
    timezone
        The city's zone (the code tables' by default).

    Returns
    -------
    tuple
        Local midnight of ``first_day`` and of the day after ``last_day`` (or ``None``).
    """
    zone = ZoneInfo(_zone(timezone))

    def midnight(day: date | None, shift: int) -> datetime | None:
        if day is None:
            return None
        moved = day + timedelta(days=shift)
        return datetime(moved.year, moved.month, moved.day, tzinfo=zone)

    return midnight(first_day, 0), midnight(last_day, 1)


# -- published targets -----------------------------------------------------------------------


def published_targets() -> dict[str, dict[str, float]]:
    """Return the department's published mean minutes per program and interval.

    Read from ``resources/tables/sim_profile.toml`` ``[published.*]`` (PRODUCT.md's table),
    the one place these numbers are written down, so the charts and the simulator's
    calibration cannot disagree.

    Returns
    -------
    dict
        Program -> ``{"to_scene": ..., "on_scene": ..., "total": ...}`` in minutes.
    """
    text = (resources.files("heartops") / "resources" / "tables" / "sim_profile.toml"
            ).read_text(encoding="utf-8")
    published = tomllib.loads(text).get("published", {})
    return {program: {name: float(values[f"{name}_minutes"]) for name in INTERVALS
                      if f"{name}_minutes" in values}
            for program, values in published.items()}


# -- eligibility -----------------------------------------------------------------------------


def ledger_entries_frame(entries: Iterable[LedgerEntry]) -> pd.DataFrame:
    """Return ledger entries (``Store.ledger()``) as ``call_id, outcome, programs``.

    ``programs`` is the space-separated list of programs that take the call type.
    """
    rows = [(e.call_id, e.outcome.value, " ".join(e.programs)) for e in entries]
    return pd.DataFrame(rows, columns=["call_id", "outcome", "programs"])


def with_eligibility(calls: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """Add ``eligible`` (and ``eligible_programs``) to a per-call frame from the ledger.

    Parameters
    ----------
    calls
        Per-call frame with ``call_id``.
    ledger
        ``call_id, outcome`` and optionally ``programs`` (space-separated), e.g.
        :func:`ledger_entries_frame` or :func:`heartops.analysis.frames.ledger_frame`.

    Returns
    -------
    pandas.DataFrame
        A copy of ``calls``; ``eligible`` is true for calls HEART takes by type and that
        the call itself does not exclude (every ledger outcome but ``EXCLUDED``).
    """
    keep = ledger[ledger["outcome"] != LedgerOutcome.EXCLUDED.value]
    out = calls.copy()
    out["eligible"] = out["call_id"].isin(keep["call_id"])
    if "programs" in ledger.columns:
        programs = dict(zip(keep["call_id"], keep["programs"].astype(str), strict=True))
        out["eligible_programs"] = out["call_id"].map(programs).fillna("").astype(str)
    return out


# -- filtering and choices ---------------------------------------------------------------------


def filter_calls(frame: pd.DataFrame, filters: ChartFilters, *,
                 timezone: ZoneInfo | str | None = None,
                 program_column: str = "program") -> pd.DataFrame:
    """Return the rows of ``frame`` inside the zone and day filters (and the program).

    Parameters
    ----------
    frame
        Per-call frame (``received_at`` UTC, ``zone_id``, ``program``).
    filters
        The filters; :attr:`ChartFilters.program` is applied to ``program_column``.
    timezone
        Zone of the local days.
    program_column
        ``None``-safe column compared with the program filter.
    """
    keep = pd.Series(True, index=frame.index)
    start, end = local_bounds(filters.first_day, filters.last_day, timezone=timezone)
    if start is not None:
        keep &= frame["received_at"] >= pd.Timestamp(start)
    if end is not None:
        keep &= frame["received_at"] < pd.Timestamp(end)
    if filters.zone is not None:
        keep &= frame["zone_id"] == filters.zone
    if filters.program is not None:
        keep &= frame[program_column] == filters.program
    return frame[keep]


def chart_choices(frame: pd.DataFrame, *,
                  timezone: ZoneInfo | str | None = None) -> ChartChoices:
    """Return the programs, zones and day span a per-call frame offers to the filters."""
    zone = _zone(timezone)
    times = frame["received_at"].dropna()
    first = last = None
    if not times.empty:
        local = _local(times, zone)
        first, last = local.min().date(), local.max().date()
    zones = sorted({str(z) for z in frame["zone_id"].dropna()})
    return ChartChoices(programs=_ordered_programs(frame["program"].dropna().unique()),
                        zones=tuple(zones), first_day=first, last_day=last)


# -- the four series ---------------------------------------------------------------------------


def program_stats(frame: pd.DataFrame, *,
                  targets: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """Return interval statistics per responding program.

    Parameters
    ----------
    frame
        Prepared per-call frame (``program`` and the :data:`INTERVALS` columns).
    targets
        Published means (:func:`published_targets`) to put next to each row.

    Returns
    -------
    pandas.DataFrame
        One row per program and interval, programs in :data:`PROGRAM_ORDER`, intervals in
        :data:`INTERVALS` order: ``program, interval, calls, n, mean_min, median_min,
        p90_min, published_mean_min`` (``NaN`` where there is nothing to report).
    """
    targets = targets or {}
    data = frame[frame["program"].notna()]
    rows = []
    for program in _ordered_programs(data["program"].unique()):
        calls = data[data["program"] == program]
        for name, column in INTERVALS.items():
            values = calls[column].dropna().to_numpy(dtype=float)
            has = values.size > 0
            rows.append({
                "program": program, "interval": name, "calls": len(calls), "n": values.size,
                # numpy's default percentile is linear interpolation, as the metrics use.
                "mean_min": float(values.mean()) if has else math.nan,
                "median_min": float(np.median(values)) if has else math.nan,
                "p90_min": float(np.percentile(values, 90)) if has else math.nan,
                "published_mean_min": float(targets.get(program, {}).get(name, math.nan))})
    columns = ["program", "interval", "calls", "n", "mean_min", "median_min", "p90_min",
               "published_mean_min"]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"calls": "int64", "n": "int64", "mean_min": float, "median_min": float,
                       "p90_min": float, "published_mean_min": float})


def weekly_series(frame: pd.DataFrame, *, timezone: ZoneInfo | str | None = None,
                  first_day: date | None = None, last_day: date | None = None
                  ) -> pd.DataFrame:
    """Return calls and the median minutes to scene per local week (Monday to Sunday).

    Parameters
    ----------
    frame
        Prepared per-call frame of the calls to count (``received_at``, ``to_scene_min``).
    timezone
        Zone of the weeks.
    first_day, last_day
        Span to cover with weeks even where there are no calls (a quiet week shows as
        zero, not as a gap that joins its neighbours); the data's span by default.

    Returns
    -------
    pandas.DataFrame
        ``week_start`` (local Monday, ``datetime64`` without zone), ``calls``,
        ``median_to_scene_min`` (``NaN`` when no call of the week has it), ``to_scene_n``.
    """
    zone = _zone(timezone)
    columns = ["week_start", "calls", "median_to_scene_min", "to_scene_n"]
    local = _local(frame["received_at"], zone).dt.tz_localize(None)
    days = local.dt.normalize()
    week = days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    span = [pd.Timestamp(d) for d in (first_day, last_day) if d is not None]
    if not week.empty:
        span += [week.min(), week.max()]
    if not span:
        return pd.DataFrame({"week_start": pd.Series(dtype="datetime64[ns]"),
                             "calls": pd.Series(dtype="int64"),
                             "median_to_scene_min": pd.Series(dtype=float),
                             "to_scene_n": pd.Series(dtype="int64")})
    lo, hi = min(span), max(span)
    lo -= pd.Timedelta(days=lo.day_of_week)
    weeks = pd.date_range(lo, hi, freq="7D")
    grouped = frame.assign(week_start=week.to_numpy()).groupby("week_start")
    out = pd.DataFrame({
        "calls": grouped.size(),
        "median_to_scene_min": grouped["to_scene_min"].median(),
        "to_scene_n": grouped["to_scene_min"].count(),
    }).reindex(weeks)
    out.index.name = "week_start"
    out = out.reset_index()
    out["calls"] = out["calls"].fillna(0).astype("int64")
    out["to_scene_n"] = out["to_scene_n"].fillna(0).astype("int64")
    out["median_to_scene_min"] = out["median_to_scene_min"].astype(float)
    out["week_start"] = out["week_start"].astype("datetime64[ns]")
    return out.loc[:, columns]


def heatmap_matrix(frame: pd.DataFrame, *, timezone: ZoneInfo | str | None = None
                   ) -> pd.DataFrame:
    """Return eligible demand by local day of week and hour of day.

    Parameters
    ----------
    frame
        Per-call frame; rows with a false ``eligible`` column are left out (every row counts
        when the frame has no such column).
    timezone
        Zone of the local times.

    Returns
    -------
    pandas.DataFrame
        Seven rows (``day`` = :data:`DAY_NAMES`) and one ``int64`` column per hour
        (:data:`HOUR_COLUMNS`).
    """
    data = frame[frame["eligible"].astype(bool)] if "eligible" in frame.columns else frame
    local = _local(data["received_at"].dropna(), _zone(timezone))
    counts = np.zeros((7, 24), dtype=np.int64)
    # One vectorised scatter-add instead of a groupby + pivot: 168 cells, any call count.
    np.add.at(counts, (local.dt.day_of_week.to_numpy(), local.dt.hour.to_numpy()), 1)
    out = pd.DataFrame(counts, columns=list(HOUR_COLUMNS))
    out.insert(0, "day", list(DAY_NAMES))
    return out


def histogram_bins(frame: pd.DataFrame, *, bin_minutes: float = HISTOGRAM_BIN_MINUTES,
                   span_minutes: float | None = None) -> pd.DataFrame:
    """Return histograms of minutes to scene per responding program, on shared bins.

    Parameters
    ----------
    frame
        Prepared per-call frame (``program``, ``to_scene_min``).
    bin_minutes
        Bin width.
    span_minutes
        Upper edge of the last bin; by default the 99th percentile of the data rounded up
        to a bin, between 30 and 120 minutes, so one very late arrival does not squash
        the rest into a few bins.

    Returns
    -------
    pandas.DataFrame
        ``program, bin_start_min, bin_end_min, calls``. The last bin also counts every
        call beyond ``span_minutes`` (the chart says so), so the counts add up to the calls
        with a time to scene.
    """
    columns = ["program", "bin_start_min", "bin_end_min", "calls"]
    data = frame[frame["program"].notna() & frame["to_scene_min"].notna()]
    values = data["to_scene_min"].to_numpy(dtype=float)
    if span_minutes is None:
        top = float(np.percentile(values, 99)) if values.size else 0.0
        span_minutes = min(max(math.ceil(top / bin_minutes) * bin_minutes,
                               HISTOGRAM_MIN_SPAN), HISTOGRAM_MAX_SPAN)
    count = max(1, math.ceil(span_minutes / bin_minutes))
    edges = np.arange(count + 1, dtype=float) * bin_minutes
    rows = []
    for program in _ordered_programs(data["program"].unique()):
        minutes = data.loc[data["program"] == program, "to_scene_min"].to_numpy(dtype=float)
        # Clip into [0, last edge) so the overflow lands in the last bin, not off the chart.
        clipped = np.clip(minutes, 0.0, np.nextafter(edges[-1], 0.0))
        counts, _ = np.histogram(clipped, bins=edges)
        rows += [(program, float(lo), float(hi), int(n))
                 for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"bin_start_min": float, "bin_end_min": float, "calls": "int64"})


def chart_series(frame: pd.DataFrame, filters: ChartFilters, *,
                 timezone: ZoneInfo | str | None = None,
                 targets: Mapping[str, Mapping[str, float]] | None = None) -> ChartSeries:
    """Return every chart's series for one set of filters.

    Parameters
    ----------
    frame
        Prepared per-call frame (:func:`heartops.analysis.frames.prepare`) with
        ``eligible`` (:func:`with_eligibility`); it may hold more than the filters keep.
    filters
        Program, zone and local days.
    timezone
        The city's zone (weeks, days, hours).
    targets
        Published means; :func:`published_targets` by default.
    """
    targets = published_targets() if targets is None else targets
    answered = filter_calls(frame, filters, timezone=timezone)
    answered = answered[answered["program"].notna()]
    demand = filter_calls(frame, ChartFilters(zone=filters.zone, first_day=filters.first_day,
                                              last_day=filters.last_day), timezone=timezone)
    if filters.program is not None:
        # Demand is about the calls a program could take, not the ones it did take.
        if "eligible_programs" in demand.columns:
            demand = demand[demand["eligible_programs"].str.split().map(
                lambda names: filters.program in names).astype(bool)]
        else:
            demand = demand[demand["program"] == filters.program]
    return ChartSeries(
        filters=filters, calls=len(answered),
        program_stats=program_stats(answered, targets=targets),
        weekly=weekly_series(answered, timezone=timezone, first_day=filters.first_day,
                             last_day=filters.last_day),
        heatmap=heatmap_matrix(demand, timezone=timezone),
        histogram=histogram_bins(answered),
        targets={p: dict(v) for p, v in targets.items()})


# -- the port's implementation -----------------------------------------------------------------

FrameLoader = Callable[[datetime | None, datetime | None], pd.DataFrame]
"""Returns the prepared per-call frame (with ``eligible``) received in ``[start, end)``."""


class FrameChartData:
    """Chart data over a frame loader: what ``heartops/app.py`` injects into the Charts dock.

    Satisfies :class:`heartops.qt.charts.ChartData`. Both methods are called on the charts'
    worker thread, never on the UI thread, so ``load`` may read a database.

    Parameters
    ----------
    load
        Returns the prepared per-call frame with ``eligible`` received in ``[start, end)``
        (``None``: open side), e.g. over a store::

            lambda start, end: with_eligibility(
                prepare(calls_frame(store, window=Window(start, end)), tables=tables),
                ledger_entries_frame(store.ledger()))
    timezone
        The city's zone.
    targets
        Published means; :func:`published_targets` by default.
    """

    def __init__(self, load: FrameLoader, *, timezone: ZoneInfo | str | None = None,
                 targets: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self._load = load
        self._timezone = _zone(timezone)
        self._targets = published_targets() if targets is None else targets

    def choices(self) -> ChartChoices:
        """Return the programs, zones and days the data offers."""
        return chart_choices(self._load(None, None), timezone=self._timezone)

    def series(self, filters: ChartFilters) -> ChartSeries:
        """Return the charts' series for ``filters``."""
        start, end = local_bounds(filters.first_day, filters.last_day,
                                  timezone=self._timezone)
        return chart_series(self._load(start, end), filters, timezone=self._timezone,
                            targets=self._targets)
