"""The department's published metrics, per program and optionally per zone and hour of week.

PRODUCT.md's table ("The metrics the department publishes") is reproduced from the store:
number of calls, minutes to scene (dispatched -> arrived), on scene (arrived -> cleared) and
total (dispatched -> cleared), each as mean, median and 90th percentile, and the shares of
calls that needed transport, PD backup and EMS support (from the dispositions' flags in
``dispositions.csv``). Besides: received -> arrived (the response time police CAD reports), the
CCD share resolved by phone, the top call types, Care Navigation's figures (neighbours
supported, % connected to care, days to first follow-up) and the unmet-demand ledger by
outcome and reason.

Conventions (the simulator's calibration check, :meth:`HistoryCollector.figures`, uses the
same ones, so a simulated year can be compared with the published table):

* a call belongs to the program that responded (:mod:`heartops.analysis.frames`); calls no
  HEART program answered are left out, or shown as ``other`` on request;
* an interval is averaged over the calls that have both of its times: a CCD call resolved by
  phone has no "to scene" and does not pull the mean towards zero;
* shares are of every call in the group;
* the 90th percentile interpolates linearly between order statistics (numpy's default).

Everything is computed with one groupby over a prepared frame (:func:`group_table`); the
benchmark ``benchmarks/metrics.py`` times it against the per-row Python way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from heartops.analysis.frames import (
    Window,
    calls_frame,
    follow_ups_frame,
    ledger_frame,
    prepare,
)
from heartops.analysis.output import Column
from heartops.core.codes import CodeTables, default_tables
from heartops.store import Store

__all__ = ["GROUP_KEYS", "INTERVALS", "OTHER", "CareNavigationMetrics", "GroupMetrics",
           "IntervalStats", "MetricsReport", "UnmetDemandLine", "care_navigation",
           "compute_metrics", "group_table", "metrics_from_frame", "unmet_demand"]

OTHER = "other"
"""Program label of calls no HEART program answered (when they are included)."""

GROUP_KEYS: Mapping[str, str] = {"program": "program", "zone": "zone_id",
                                 "district": "district", "hour": "hour_of_week",
                                 "call_type": "call_type"}
"""``--by`` names and the frame column each groups on (``district`` needs zone groups)."""

INTERVALS: Mapping[str, str] = {"to_scene": "to_scene_min", "on_scene": "on_scene_min",
                                "total": "total_min", "response": "response_min"}
"""Reported intervals and their prepared-frame columns (minutes)."""

TOP_CALL_TYPES = 3


@dataclass(frozen=True, slots=True)
class IntervalStats:
    """Minutes of one interval over a group's calls that have both times.

    Attributes
    ----------
    count
        Calls with the interval.
    mean, median, p90
        In minutes; ``None`` when ``count`` is 0.
    """

    count: int
    mean: float | None
    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    """The published figures of one group (a program, or a program in a zone, ...).

    Attributes
    ----------
    key
        ``(name, value)`` of each grouping, e.g. ``(("program", "CRT"), ("zone", "B3"))``.
    calls
        Calls in the group.
    to_scene, on_scene, total, response
        Dispatched -> arrived, arrived -> cleared, dispatched -> cleared, received -> arrived.
    transport_pct, pd_backup_pct, ems_pct, phone_pct
        Percent of the group's calls with a disposition needing transport, PD backup, EMS
        support, or resolved by phone (the CCD figure).
    top_call_types
        The most frequent call types and their counts, most frequent first.
    """

    key: tuple[tuple[str, str], ...]
    calls: int
    to_scene: IntervalStats
    on_scene: IntervalStats
    total: IntervalStats
    response: IntervalStats
    transport_pct: float
    pd_backup_pct: float
    ems_pct: float
    phone_pct: float
    top_call_types: tuple[tuple[str, int], ...] = ()

    def value(self, name: str) -> str | None:
        """Return the group's value of grouping ``name`` (``"program"``), if grouped by it."""
        return dict(self.key).get(name)

    def row(self) -> dict[str, Any]:
        """Return the group as one flat row (CSV/JSON), keys before figures."""
        out: dict[str, Any] = dict(self.key)
        out["calls"] = self.calls
        for name in INTERVALS:
            stats: IntervalStats = getattr(self, name)
            for what in ("mean", "median", "p90"):
                out[f"{name}_{what}_min"] = _rounded(getattr(stats, what))
            out[f"{name}_n"] = stats.count
        for name in ("transport_pct", "pd_backup_pct", "ems_pct", "phone_pct"):
            out[name] = round(getattr(self, name), 2)
        out["top_call_types"] = [f"{code}:{n}" for code, n in self.top_call_types]
        return out


@dataclass(frozen=True, slots=True)
class CareNavigationMetrics:
    """Care Navigation's published figures over the follow-ups opened in the period.

    Attributes
    ----------
    neighbors_supported
        Follow-up tasks opened (one per referral).
    completed
        Tasks with an outcome.
    connected_pct
        Percent of completed tasks that connected the person to care.
    mean_days_to_first_follow_up
        Mean days from referral to the first contact (attempt or completion).
    """

    neighbors_supported: int
    completed: int
    connected_pct: float | None
    mean_days_to_first_follow_up: float | None


@dataclass(frozen=True, slots=True)
class UnmetDemandLine:
    """Calls of one ledger outcome (and reason).

    Attributes
    ----------
    outcome, reason
        From the ledger (:class:`~heartops.core.eligibility.LedgerOutcome`, screen reason).
    calls
        How many.
    share_pct
        Percent of every ledger call (the calls HEART takes by type).
    """

    outcome: str
    reason: str | None
    calls: int
    share_pct: float


@dataclass(frozen=True, slots=True)
class MetricsReport:
    """Everything ``heartops metrics`` prints.

    Attributes
    ----------
    by
        The groupings, in order.
    window
        The received-time period.
    groups
        One entry per group, sorted by key.
    care
        Care Navigation figures of the period.
    unmet
        The ledger of the period by outcome and reason, largest first.
    """

    by: tuple[str, ...]
    window: Window
    groups: tuple[GroupMetrics, ...]
    care: CareNavigationMetrics
    unmet: tuple[UnmetDemandLine, ...] = field(default=())

    def rows(self) -> list[dict[str, Any]]:
        """Return the group rows (CSV)."""
        return [group.row() for group in self.groups]

    def document(self) -> dict[str, Any]:
        """Return the whole report as a JSON-ready mapping."""
        return {
            "by": list(self.by),
            "from": None if self.window.start is None else self.window.start.isoformat(),
            "to": None if self.window.end is None else self.window.end.isoformat(),
            "groups": self.rows(),
            "care_navigation": {
                "neighbors_supported": self.care.neighbors_supported,
                "completed": self.care.completed,
                "connected_pct": _rounded(self.care.connected_pct),
                "mean_days_to_first_follow_up": _rounded(
                    self.care.mean_days_to_first_follow_up)},
            "unmet_demand": [{"outcome": u.outcome, "reason": u.reason, "calls": u.calls,
                              "share_pct": round(u.share_pct, 2)} for u in self.unmet],
        }

    def table_columns(self) -> list[Column]:
        """Return the columns of the text table: the groupings, then PRODUCT.md's table."""
        return [*(Column(name, name) for name in self.by),
                Column("calls", "calls", thousands=True),
                Column("to_scene_mean_min", "avg min to scene", 2),
                Column("on_scene_mean_min", "avg min on scene", 2),
                Column("total_mean_min", "avg total min", 2),
                Column("transport_pct", "% transport", 2),
                Column("pd_backup_pct", "% PD backup", 2),
                Column("ems_pct", "% EMS", 2)]

    def notes(self) -> list[str]:
        """Return the lines printed under the text table."""
        care = self.care
        lines = ["", f"Care Navigation: {care.neighbors_supported:,} neighbors supported, "
                 f"{_fmt(care.connected_pct, '%')} connected to care, "
                 f"{_fmt(care.mean_days_to_first_follow_up, ' days')} to first follow-up "
                 "on average"]
        ccd = [g for g in self.groups if g.value("program") == "CCD"]
        if ccd and len(self.by) == 1:
            lines.append(f"CCD resolved by phone: {ccd[0].phone_pct:.1f}%")
        if self.unmet:
            lines.append("Ledger of calls HEART takes by type (outcome, reason: calls, share):")
            lines += [f"  {u.outcome}{f', {u.reason}' if u.reason else ''}: {u.calls:,} "
                      f"({u.share_pct:.1f}%)" for u in self.unmet]
        return lines


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


# -- computing ---------------------------------------------------------------------------------


def group_table(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Return the figures of every group of a prepared frame, vectorised.

    Parameters
    ----------
    frame
        A :func:`~heartops.analysis.frames.prepare` d frame.
    keys
        Frame columns to group on (``program``, ``zone_id``, ...).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``keys``; ``calls``, ``<interval>_{n,mean,median,p90}`` for each of
        :data:`INTERVALS` (minutes), ``<flag>_pct``.
    """
    grouped = frame.groupby(list(keys), sort=True, observed=True, dropna=False)
    columns = list(INTERVALS.values())
    parts = [grouped.size().rename("calls")]
    counts = grouped[columns].count()
    means = grouped[columns].mean()
    medians = grouped[columns].median()
    p90s = grouped[columns].quantile(0.9)
    for name, column in INTERVALS.items():
        parts += [counts[column].rename(f"{name}_n"), means[column].rename(f"{name}_mean"),
                  medians[column].rename(f"{name}_median"), p90s[column].rename(f"{name}_p90")]
    shares = grouped[["transport", "pd_backup", "ems", "by_phone"]].mean() * 100.0
    parts += [shares[flag].rename(f"{flag}_pct") for flag in shares.columns]
    return pd.concat(parts, axis=1)


def _top_call_types(frame: pd.DataFrame, keys: Sequence[str]) -> dict[tuple[str, ...],
                                                                     tuple[tuple[str, int], ...]]:
    counts = frame.groupby([*keys, "call_type"], sort=False, observed=True,
                           dropna=False).size()
    top: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    ranked = counts.reset_index(name="n").sort_values(["n", "call_type"],
                                                      ascending=[False, True])
    for record in ranked.itertuples(index=False):
        values = tuple(record)
        key, code, n = tuple(str(v) for v in values[:len(keys)]), str(values[-2]), values[-1]
        listed = top.setdefault(key, [])
        if len(listed) < TOP_CALL_TYPES:
            listed.append((code, int(n)))
    return {key: tuple(value) for key, value in top.items()}


def metrics_from_frame(frame: pd.DataFrame, *, by: Sequence[str] = ("program",),
                       include_other: bool = False,
                       zone_groups: Mapping[str, str | None] | None = None
                       ) -> tuple[GroupMetrics, ...]:
    """Return the figures per group of a prepared frame.

    Parameters
    ----------
    frame
        A prepared frame (:func:`~heartops.analysis.frames.prepare`).
    by
        Names from :data:`GROUP_KEYS`, e.g. ``("program", "zone")``.
    include_other
        Keep calls no HEART program answered, as program :data:`OTHER`.
    zone_groups
        Zone id -> group id (district); needed to group by ``district``.

    Raises
    ------
    ValueError
        On an unknown grouping, or ``district`` without ``zone_groups``.
    """
    keys = _keys(by, zone_groups)
    data = frame
    if include_other:
        data = data.assign(program=data["program"].where(data["program"].notna(), OTHER))
    else:
        data = data[data["program"].notna()]
    if "district" in keys:
        assert zone_groups is not None
        data = data.assign(district=data["zone_id"].map(dict(zone_groups)))
    if data.empty:
        return ()
    labelled = data.assign(**{k: data[k].astype(object).where(data[k].notna(), "-")
                              for k in keys})
    table = group_table(labelled, keys)
    tops = _top_call_types(labelled, keys)
    groups = []
    for index, row in table.iterrows():
        values = index if isinstance(index, tuple) else (index,)
        text = tuple(str(v) for v in values)
        groups.append(GroupMetrics(
            key=tuple(zip(by, text, strict=True)), calls=int(row["calls"]),
            **{name: _stats(row, name) for name in INTERVALS},
            transport_pct=float(row["transport_pct"]), pd_backup_pct=float(row["pd_backup_pct"]),
            ems_pct=float(row["ems_pct"]), phone_pct=float(row["by_phone_pct"]),
            top_call_types=tops.get(text, ())))
    return tuple(groups)


def _keys(by: Sequence[str], zone_groups: Mapping[str, str | None] | None) -> list[str]:
    if not by:
        raise ValueError("group by at least one of: " + ", ".join(GROUP_KEYS))
    unknown = [name for name in by if name not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"cannot group by {unknown[0]!r}; use " + ", ".join(GROUP_KEYS))
    if len(set(by)) != len(by):
        raise ValueError(f"a grouping is repeated: {', '.join(by)}")
    if "district" in by and zone_groups is None:
        raise ValueError("grouping by district needs a zone layer with groups (districts)")
    return [GROUP_KEYS[name] for name in by]


def _stats(row: pd.Series, name: str) -> IntervalStats:
    count = int(row[f"{name}_n"])

    def value(what: str) -> float | None:
        number = float(row[f"{name}_{what}"])
        return None if count == 0 or math.isnan(number) else number

    return IntervalStats(count=count, mean=value("mean"), median=value("median"),
                         p90=value("p90"))


def care_navigation(follow_ups: pd.DataFrame, *, window: Window | None = None
                    ) -> CareNavigationMetrics:
    """Return Care Navigation's figures from :func:`~heartops.analysis.frames.follow_ups_frame`.

    ``window`` selects tasks by referral time (``created_at``).
    """
    tasks = follow_ups if window is None else follow_ups[window.mask(follow_ups["created_at"])]
    done = tasks[tasks["completed_at"].notna()]
    connected = done["connected"].astype(bool).sum()
    days = (tasks["first_contact_at"] - tasks["created_at"]).dt.total_seconds() / 86400.0
    return CareNavigationMetrics(
        neighbors_supported=len(tasks), completed=len(done),
        connected_pct=float(100.0 * connected / len(done)) if len(done) else None,
        mean_days_to_first_follow_up=float(days.mean()) if days.notna().any() else None)


def unmet_demand(ledger: pd.DataFrame) -> tuple[UnmetDemandLine, ...]:
    """Return the ledger counted by outcome and reason, largest first.

    Parameters
    ----------
    ledger
        :func:`~heartops.analysis.frames.ledger_frame`.
    """
    if ledger.empty:
        return ()
    counts = (ledger.assign(reason=ledger["reason"].astype(object).where(
        ledger["reason"].notna(), ""))
        .groupby(["outcome", "reason"], sort=False).size())
    total = int(counts.sum())
    lines = [UnmetDemandLine(outcome=str(key[0]), reason=str(key[1]) or None, calls=int(n),
                             share_pct=100.0 * int(n) / total)
             for key, n in zip(counts.index.tolist(), counts.tolist(), strict=True)]
    return tuple(sorted(lines, key=lambda u: (-u.calls, u.outcome, u.reason or "")))


def compute_metrics(store: Store, *, by: Sequence[str] = ("program",),
                    window: Window | None = None, include_other: bool = False,
                    zone_groups: Mapping[str, str | None] | None = None,
                    tables: CodeTables | None = None) -> MetricsReport:
    """Return the metrics report of the calls a store received in ``window``.

    Parameters
    ----------
    store
        The store.
    by
        Groupings (:data:`GROUP_KEYS`), ``("program",)`` reproduces PRODUCT.md's table.
    window
        Received-time period (every call by default).
    include_other
        Also report calls no HEART program answered, as program ``other``.
    zone_groups
        Zone id -> district, to group by ``district``.
    tables
        Code tables (dispositions' flags, the city's time zone).
    """
    window = window or Window()
    _keys(by, zone_groups)  # fail before reading anything
    tables = tables or default_tables()
    frame = prepare(calls_frame(store, window=window), tables=tables)
    return MetricsReport(
        by=tuple(by), window=window,
        groups=metrics_from_frame(frame, by=by, include_other=include_other,
                                  zone_groups=zone_groups),
        care=care_navigation(follow_ups_frame(store.follow_ups()), window=window),
        unmet=unmet_demand(ledger_frame(store, window=window)))
