"""Eligible demand: which historical 911 calls HEART could take, where and when, and who did.

Every call (from a CAD CSV export read through a column mapping, or from the store) is put
through :func:`heartops.core.eligibility.screen` - the same rules live dispatch uses - at the
time it was received, and given its unmet-demand outcome with
:func:`heartops.core.eligibility.ledger_outcome`. From that:

* *demand*: calls whose type HEART takes (the ledger's population);
* *eligible*: demand not excluded by the call itself (Priority P, weapon, imminent risk to
  others) - the calls HEART could have served with enough teams, hours and area;
* *served*: eligible calls a HEART program answered (see :mod:`heartops.analysis.frames` for
  how a call's program is found); ``share served`` = served / eligible;
* *police hours*: dispatched -> cleared of eligible calls that police (or anyone but HEART)
  handled, summed over the calls that have both times. CAD extracts often lack one of them,
  so the report also gives how many calls were timed and the hours scaled up to every
  eligible unserved call (mean of the timed ones times their number).

Grouped by zone (the call's beat) and/or hour of week (local time of the code tables'
city, or ``timezone``). Screening is per call in Python (the core rules are per call); at
about 10 µs a call, a million calls take seconds, and the grouping is one pandas groupby.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from heartops.analysis.frames import Window
from heartops.analysis.output import Column
from heartops.core.calls import Call
from heartops.core.codes import CallStep, CodeTables, default_tables
from heartops.core.eligibility import EXCLUSIONS, LedgerOutcome, ledger_outcome, screen
from heartops.core.geo import GeoPoint

__all__ = ["DEMAND_KEYS", "DemandFigures", "DemandReport", "demand_report", "screen_calls",
           "zone_area_test"]

DEMAND_KEYS: Mapping[str, str] = {"zone": "zone_id", "hour": "hour_of_week",
                                  "call_type": "call_type"}
"""``--by`` names of the demand report and the screened-frame column each groups on."""

AreaTest = Callable[[Sequence[GeoPoint]], Sequence[bool]]
"""Whether each of many points is inside the service area (one vectorised call)."""


def screen_calls(calls: Iterable[Call], *, programs: Mapping[str, str | None] | None = None,
                 in_service_area: AreaTest | None = None, tables: CodeTables | None = None,
                 timezone: ZoneInfo | None = None) -> pd.DataFrame:
    """Screen every call with the live eligibility rules; one row per call.

    Parameters
    ----------
    calls
        The calls (CAD history or the store's).
    programs
        Call id -> the HEART program that answered it (absent or ``None``: nobody from HEART).
    in_service_area
        Whether each call's location is inside the city's service area (``None``: all are).
    tables
        Code tables with the programs, their hours and the call types.
    timezone
        Zone of the hour of week (the tables' city by default).

    Returns
    -------
    pandas.DataFrame
        ``call_id, call_type, zone_id, received_at, hour_of_week, demand, excluded,
        eligible, outcome, reason, eligible_program, eligible_now, served_by, served,
        police_min``: ``eligible_program`` is the first program (table order) that takes the
        call by type and is not excluded by it; ``eligible_now`` the programs that fit at
        the received time (space-separated); ``police_min`` is dispatched -> cleared of
        eligible calls HEART did not serve.
    """
    tables = tables or default_tables()
    programs = programs or {}
    batch = list(calls)
    inside = ([True] * len(batch) if in_service_area is None
              else list(in_service_area([c.location for c in batch])))
    rows = [_screen_row(call, bool(flag), programs.get(call.call_id), tables)
            for call, flag in zip(batch, inside, strict=True)]
    frame = pd.DataFrame(rows, columns=[
        "call_id", "call_type", "zone_id", "received_at", "demand", "excluded", "eligible",
        "outcome", "reason", "eligible_program", "eligible_now", "served_by", "served",
        "police_min"])
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
    zone = str(timezone or tables.timezone)
    local = frame["received_at"].dt.tz_convert(zone)
    frame.insert(4, "hour_of_week", (local.dt.day_of_week * 24 + local.dt.hour).astype("Int64"))
    return frame


def _screen_row(call: Call, inside: bool, served_by: str | None,
                tables: CodeTables) -> tuple[Any, ...]:
    result = screen(call, call.received_at, _constant(inside), tables=tables)
    served = served_by is not None
    entry = ledger_outcome(result, served=served)
    demand = entry is not None
    by_type = [s for s in result.screens if entry is not None and s.program in entry.programs]
    admissible = [s.program for s in by_type if not set(s.reasons) & set(EXCLUSIONS)]
    excluded = demand and not admissible
    eligible = demand and not excluded
    police = None
    if eligible and not served:
        span = call.interval(CallStep.DISPATCHED, CallStep.CLEARED)
        police = None if span is None else span.total_seconds() / 60.0
    return (call.call_id, call.call_type, call.zone_id, call.received_at, demand, excluded,
            eligible, None if entry is None else entry.outcome.value,
            None if entry is None or entry.reason is None else entry.reason.value,
            admissible[0] if admissible else None, " ".join(result.eligible_programs),
            served_by, eligible and served, police)


def _constant(value: bool) -> Callable[[GeoPoint], bool]:
    return lambda _point: value


@dataclass(frozen=True, slots=True)
class DemandFigures:
    """Demand figures of one group (or of everything).

    Attributes
    ----------
    key
        ``(name, value)`` of each grouping; empty for the total.
    calls
        Every call screened.
    demand
        Calls whose type HEART takes.
    excluded
        Demand excluded by the call itself (Priority P, weapon, risk to others).
    eligible
        Demand not excluded.
    served
        Eligible calls a HEART program answered.
    no_team, outside_hours, outside_area
        Eligible calls not served, by ledger outcome.
    police_hours
        Dispatched -> cleared hours of the eligible calls HEART did not serve, summed over
        those with both times.
    police_calls_timed
        How many of those calls had both times.
    police_hours_estimated
        ``police_hours`` scaled to every eligible unserved call (``None`` if none was timed).
    """

    key: tuple[tuple[str, str], ...]
    calls: int
    demand: int
    excluded: int
    eligible: int
    served: int
    no_team: int
    outside_hours: int
    outside_area: int
    police_hours: float
    police_calls_timed: int
    police_hours_estimated: float | None

    @property
    def share_served_pct(self) -> float | None:
        """Percent of eligible calls served (``None`` without eligible calls)."""
        return 100.0 * self.served / self.eligible if self.eligible else None

    def row(self) -> dict[str, Any]:
        """Return the figures as one flat row (CSV/JSON)."""
        share = self.share_served_pct
        return {**dict(self.key), "calls": self.calls, "demand": self.demand,
                "excluded": self.excluded, "eligible": self.eligible, "served": self.served,
                "share_served_pct": None if share is None else round(share, 2),
                "no_team_available": self.no_team, "outside_hours": self.outside_hours,
                "outside_service_area": self.outside_area,
                "police_hours": round(self.police_hours, 3),
                "police_calls_timed": self.police_calls_timed,
                "police_hours_estimated": None if self.police_hours_estimated is None
                else round(self.police_hours_estimated, 3)}


@dataclass(frozen=True, slots=True)
class DemandReport:
    """Everything ``heartops demand`` prints.

    Attributes
    ----------
    source
        Where the calls came from (file or database).
    by
        Groupings, in order.
    window
        Received-time period.
    total
        Figures over every call.
    groups
        Figures per group, sorted by key; groups without demand are left out.
    rejected_rows
        CSV rows the importer rejected (0 for the store).
    """

    source: str
    by: tuple[str, ...]
    window: Window
    total: DemandFigures
    groups: tuple[DemandFigures, ...]
    rejected_rows: int = 0

    def rows(self) -> list[dict[str, Any]]:
        """Return the group rows (CSV)."""
        return [group.row() for group in self.groups]

    def document(self) -> dict[str, Any]:
        """Return the report as a JSON-ready mapping."""
        return {"source": self.source, "by": list(self.by),
                "from": None if self.window.start is None else self.window.start.isoformat(),
                "to": None if self.window.end is None else self.window.end.isoformat(),
                "rejected_rows": self.rejected_rows, "total": self.total.row(),
                "groups": self.rows()}

    def table_columns(self) -> list[Column]:
        """Return the columns of the text table."""
        return [*(Column(name, name) for name in self.by),
                Column("calls", "calls", thousands=True),
                Column("demand", "HEART types", thousands=True),
                Column("eligible", "eligible", thousands=True),
                Column("served", "served", thousands=True),
                Column("share_served_pct", "% served", 1),
                Column("no_team_available", "no team", thousands=True),
                Column("outside_hours", "closed", thousands=True),
                Column("outside_service_area", "outside area", thousands=True),
                Column("police_hours", "police h", 1)]

    def notes(self) -> list[str]:
        """Return the summary printed under the text table."""
        t = self.total
        share = t.share_served_pct
        estimate = ("-" if t.police_hours_estimated is None
                    else f"{t.police_hours_estimated:,.1f}")
        return ["", f"{self.source}: {t.calls:,} calls screened"
                + (f" ({self.rejected_rows:,} rows rejected on import)"
                   if self.rejected_rows else ""),
                f"HEART call types: {t.demand:,}; excluded by the call (P, weapon, risk): "
                f"{t.excluded:,}; eligible: {t.eligible:,}; served: {t.served:,} "
                f"({'-' if share is None else f'{share:.1f}%'})",
                f"not served: no team {t.no_team:,}, program closed {t.outside_hours:,}, "
                f"outside the service area {t.outside_area:,}",
                f"police time on eligible calls: {t.police_hours:,.1f} h over "
                f"{t.police_calls_timed:,} timed calls (dispatched -> cleared); scaled to "
                f"every eligible unserved call: {estimate} h"]


def _figures(frame: pd.DataFrame, key: tuple[tuple[str, str], ...]) -> DemandFigures:
    unserved = frame["eligible"] & ~frame["served"]
    timed = frame["police_min"].notna()
    hours = float(frame.loc[timed, "police_min"].sum()) / 60.0
    n_timed, n_unserved = int(timed.sum()), int(unserved.sum())
    outcome = frame["outcome"]
    return DemandFigures(
        key=key, calls=len(frame), demand=int(frame["demand"].sum()),
        excluded=int(frame["excluded"].sum()), eligible=int(frame["eligible"].sum()),
        served=int(frame["served"].sum()),
        no_team=int((outcome == LedgerOutcome.NO_TEAM_AVAILABLE.value).sum()),
        outside_hours=int((outcome == LedgerOutcome.OUTSIDE_HOURS.value).sum()),
        outside_area=int((outcome == LedgerOutcome.OUTSIDE_SERVICE_AREA.value).sum()),
        police_hours=hours, police_calls_timed=n_timed,
        police_hours_estimated=hours / n_timed * n_unserved if n_timed else None)


def demand_report(screened: pd.DataFrame, *, by: Sequence[str] = ("zone",),
                  window: Window | None = None, source: str = "",
                  rejected_rows: int = 0) -> DemandReport:
    """Return the demand report of a :func:`screen_calls` frame.

    Parameters
    ----------
    screened
        One row per call.
    by
        Names from :data:`DEMAND_KEYS` (``("zone", "hour")`` for zone by hour of week).
    window
        Received-time period to keep.
    source
        Where the calls came from, for the report.
    rejected_rows
        Rows the CSV importer rejected, for the report.

    Raises
    ------
    ValueError
        On an unknown or repeated grouping.
    """
    unknown = [name for name in by if name not in DEMAND_KEYS]
    if unknown or not by or len(set(by)) != len(by):
        raise ValueError(f"bad grouping {','.join(by)!r}; use names from "
                         + ", ".join(DEMAND_KEYS))
    window = window or Window()
    frame = screened[window.mask(screened["received_at"])]
    keys = [DEMAND_KEYS[name] for name in by]
    labelled = frame.assign(**{k: frame[k].astype(object).where(frame[k].notna(), "-")
                               for k in keys})
    groups = []
    # One groupby: per-group sums of the boolean and outcome columns, vectorised.
    sums = _group_sums(labelled, keys)
    sums = sums[sums["demand"] > 0]
    for index, row in sums.iterrows():
        values = index if isinstance(index, tuple) else (index,)
        n_timed = int(row["timed"])
        hours = float(row["police_min"]) / 60.0
        groups.append(DemandFigures(
            key=tuple(zip(by, (str(v) for v in values), strict=True)),
            calls=int(row["calls"]), demand=int(row["demand"]), excluded=int(row["excluded"]),
            eligible=int(row["eligible"]), served=int(row["served"]),
            no_team=int(row["no_team"]), outside_hours=int(row["outside_hours"]),
            outside_area=int(row["outside_area"]), police_hours=hours,
            police_calls_timed=n_timed,
            police_hours_estimated=hours / n_timed * int(row["unserved"]) if n_timed else None))
    return DemandReport(source=source, by=tuple(by), window=window,
                        total=_figures(frame, ()), groups=tuple(groups),
                        rejected_rows=rejected_rows)


def _group_sums(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    outcome = frame["outcome"]
    data = pd.DataFrame({
        **{k: frame[k] for k in keys},
        "calls": 1, "demand": frame["demand"].astype(int),
        "excluded": frame["excluded"].astype(int), "eligible": frame["eligible"].astype(int),
        "served": frame["served"].astype(int),
        "no_team": (outcome == LedgerOutcome.NO_TEAM_AVAILABLE.value).astype(int),
        "outside_hours": (outcome == LedgerOutcome.OUTSIDE_HOURS.value).astype(int),
        "outside_area": (outcome == LedgerOutcome.OUTSIDE_SERVICE_AREA.value).astype(int),
        "unserved": (frame["eligible"] & ~frame["served"]).astype(int),
        "timed": frame["police_min"].notna().astype(int),
        "police_min": frame["police_min"].fillna(0.0).astype(float)}, index=frame.index)
    return data.groupby(keys, sort=True).sum()


def zone_area_test(layer: str) -> AreaTest:
    """Return a vectorised service-area test from a stored zone layer (``demo-service-area``).

    A point is inside when it falls in any zone of the layer.
    """
    from heartops.routing.zones import ZoneIndex

    index = ZoneIndex.from_layer(layer)

    def inside(points: Sequence[GeoPoint]) -> Sequence[bool]:
        if not points:
            return []
        zones = index.assign(np.array([p.lat for p in points]),
                             np.array([p.lon for p in points]))
        return [zone is not None for zone in zones.tolist()]

    return inside

