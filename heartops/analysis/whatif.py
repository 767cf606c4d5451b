"""What-if: change the roster (teams per program, their hours, their posts) and compare.

Each plan is a :class:`~heartops.feeds.sim.roster.Roster`. :func:`compare_plans` replays the
shift simulator over the same period with the same seed for every plan and reports, side by
side: the served share of eligible calls, minutes to scene (mean and 90th percentile) and the
coverage of expected demand by hour of week.

Why the comparison is fair: the simulator draws every call and its fate from the demand
random stream alone (common random numbers, :mod:`heartops.feeds.sim.demand`), and every plan
runs with the *first* plan's solved stream rates (``Simulator(rates=...)``), so a plan with
longer hours or more teams faces exactly the same calls; only who answers them changes.

Coverage by hour is computed from the roster, not from the simulation: for each hour of week
(mid-hour of a reference week without a daylight-saving change), the in-person units on shift
stand at their home posts, and their covered share of that hour's expected demand is
:meth:`~heartops.analysis.coverage.CoveragePlanner.coverage`. It is what the plan promises
when everyone is free; adding a team can only add sources, so it never lowers coverage.

This module imports the simulator (``heartops.feeds``) and the analysis layer; the import
contracts in ``pyproject.toml`` allow analysis to use feeds, so no use-case module is needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

import numpy as np
import numpy.typing as npt

from heartops.analysis.coverage import DEFAULT_MINUTES, CoveragePlanner, PlanningError
from heartops.analysis.demand_grid import HOURS_PER_WEEK, ExpectedDemand
from heartops.core.clock import DailyWindow
from heartops.core.codes import CodeTables, default_tables
from heartops.core.eligibility import LedgerOutcome
from heartops.core.geo import GeoPoint
from heartops.core.units import Unit, check_unit, on_shift
from heartops.feeds.simulator import (
    HistoryCollector,
    Roster,
    SimProfile,
    Simulator,
    StreamRates,
    ZoneLookup,
)
from heartops.routing.engine import TravelTimeEngine

__all__ = ["PlanOutcome", "WhatIfReport", "add_post", "add_teams", "compare_plans",
           "move_teams", "parse_shift", "remove_teams", "roster_coverage_by_hour",
           "set_hours"]

FloatArray = npt.NDArray[np.float64]

REFERENCE_MONDAY = datetime(2025, 1, 6)
"""A week without a daylight-saving change, for the hours of week of a roster."""


# -- roster edits ----------------------------------------------------------------------------


def add_teams(roster: Roster, program: str, count: int, *, shift: DailyWindow, post_id: str,
              tables: CodeTables | None = None) -> Roster:
    """Return ``roster`` with ``count`` more teams of ``program`` on ``shift`` at a post.

    New teams get the program's team roles and the capabilities of its first team.

    Raises
    ------
    PlanningError
        On a count below 1 or an unknown post.
    """
    tables = tables or default_tables()
    if count < 1:
        raise PlanningError(f"add at least one team, got {count}")
    if post_id not in roster.posts:
        raise PlanningError(f"unknown post {post_id!r}; posts: {', '.join(roster.posts)}")
    spec = tables.program(program)
    like = next((u for u in roster.units if u.program == program), None)
    taken = {u.unit_id for u in roster.units}
    units = list(roster.units)
    number = 1
    while len(units) < len(roster.units) + count:
        unit_id = f"{program}-W{number}"
        number += 1
        if unit_id in taken:
            continue
        units.append(check_unit(Unit(
            unit_id=unit_id, program=program, team=spec.team_roles,
            capabilities=like.capabilities if like is not None else frozenset(),
            home_post_id=post_id, shift=shift, name=f"{program} what-if team"), tables=tables))
    return roster.with_units(units)


def remove_teams(roster: Roster, unit_ids: Sequence[str]) -> Roster:
    """Return ``roster`` without the given units.

    Raises
    ------
    PlanningError
        On an unknown unit id.
    """
    known = {u.unit_id for u in roster.units}
    unknown = sorted(set(unit_ids) - known)
    if unknown:
        raise PlanningError(f"unknown unit(s) {', '.join(unknown)}")
    return roster.with_units(u for u in roster.units if u.unit_id not in set(unit_ids))


def set_hours(roster: Roster, program: str, shift: DailyWindow) -> Roster:
    """Return ``roster`` with every team of ``program`` working ``shift``."""
    return roster.with_units(replace(u, shift=shift) if u.program == program else u
                             for u in roster.units)


def move_teams(roster: Roster, moves: Mapping[str, str]) -> Roster:
    """Return ``roster`` with units based at other posts (``{unit_id: post_id}``).

    Raises
    ------
    PlanningError
        On an unknown unit or post.
    """
    bad_posts = sorted({p for p in moves.values() if p not in roster.posts})
    if bad_posts:
        raise PlanningError(f"unknown post(s) {', '.join(bad_posts)}")
    remove_teams(roster, list(moves))  # checks the unit ids
    return roster.with_units(replace(u, home_post_id=moves[u.unit_id])
                             if u.unit_id in moves else u for u in roster.units)


def add_post(roster: Roster, post_id: str, location: GeoPoint) -> Roster:
    """Return ``roster`` with one more post (teams can then be moved to it)."""
    if post_id in roster.posts:
        raise PlanningError(f"post {post_id!r} already exists")
    return Roster(roster.units, {**roster.posts, post_id: location})


# -- coverage of a roster ----------------------------------------------------------------------


def roster_coverage_by_hour(planner: CoveragePlanner, roster: Roster, demand: ExpectedDemand,
                            minutes: float, *,
                            tables: CodeTables | None = None) -> FloatArray:
    """Return the covered share of each hour of week's demand by the teams on shift.

    Teams that drive to calls (:attr:`Program.covers_calls`), on shift at mid-hour, stand at
    their home posts; ``nan`` for hours without expected demand.
    """
    tables = tables or default_tables()
    zone = tables.timezone
    post_ids = list(roster.posts)
    nodes = planner.snap([roster.posts[p] for p in post_ids]) if post_ids \
        else np.zeros(0, dtype=np.int64)
    node_of = dict(zip(post_ids, nodes.tolist(), strict=True))
    drivers = [u for u in roster.units if tables.program(u.program).covers_calls]
    shares = np.full(HOURS_PER_WEEK, math.nan)
    cache: dict[tuple[int, ...], np.ndarray] = {}
    for hour in range(HOURS_PER_WEEK):
        weights = demand.hour(hour)
        total = weights.sum()
        if total <= 0:
            continue
        at = (REFERENCE_MONDAY + timedelta(hours=hour, minutes=30)).replace(tzinfo=zone)
        sources = tuple(sorted(node_of[str(u.home_post_id)] for u in drivers
                               if on_shift(u, at, zone)))
        if sources not in cache:  # hours with the same teams on shift share one search
            cache[sources] = planner.coverage(np.array(sources, dtype=np.int64), weights,
                                              minutes).covered
        shares[hour] = float(weights[cache[sources]].sum() / total)
    return shares


# -- replay ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PlanOutcome:
    """One plan's results over the replayed period.

    Attributes
    ----------
    label
        The plan's name.
    units
        Teams on the roster.
    eligible
        Eligible calls (ledger outcome other than excluded).
    served
        Eligible calls a HEART program served.
    to_scene_mean_min, to_scene_p90_min
        Dispatched -> on scene of served in-person calls (``None`` without any).
    coverage_by_hour
        Minutes -> covered share per hour of week (:func:`roster_coverage_by_hour`).
    """

    label: str
    units: int
    eligible: int
    served: int
    to_scene_mean_min: float | None
    to_scene_p90_min: float | None
    coverage_by_hour: Mapping[float, FloatArray]

    @property
    def served_share(self) -> float | None:
        """Served share of eligible calls (``None`` without eligible calls)."""
        return self.served / self.eligible if self.eligible else None

    def mean_coverage(self, minutes: float) -> float:
        """Return the coverage share averaged over the hours of week with demand."""
        values = self.coverage_by_hour[minutes]
        return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


@dataclass(frozen=True, eq=False)
class WhatIfReport:
    """Plans compared over one period; the first plan is the baseline."""

    start: datetime
    days: float
    seed: int
    minutes: tuple[float, ...]
    plans: tuple[PlanOutcome, ...]

    def lines(self) -> list[str]:
        """Return a printable side-by-side table."""
        header = f"{'':28s}" + "".join(f"{p.label[:16]:>18s}" for p in self.plans)
        rows = [header]

        def row(name: str, values: Sequence[str]) -> None:
            rows.append(f"{name:28s}" + "".join(f"{v:>18s}" for v in values))

        row("teams", [str(p.units) for p in self.plans])
        row("eligible calls", [f"{p.eligible:,}" for p in self.plans])
        row("served", [f"{p.served:,}" for p in self.plans])
        row("served share of eligible", [_pct(p.served_share) for p in self.plans])
        row("to scene mean (min)", [_num(p.to_scene_mean_min) for p in self.plans])
        row("to scene p90 (min)", [_num(p.to_scene_p90_min) for p in self.plans])
        for m in self.minutes:
            row(f"coverage {m:g} min (mean/hour)", [_pct(p.mean_coverage(m))
                                                   for p in self.plans])
        return rows


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def compare_plans(engine: TravelTimeEngine, planner: CoveragePlanner, demand: ExpectedDemand,
                  plans: Sequence[tuple[str, Roster]], *, profile: SimProfile,
                  start: datetime, days: float, seed: int,
                  minutes: Sequence[float] = DEFAULT_MINUTES,
                  zones: ZoneLookup | None = None, service_area: ZoneLookup | None = None,
                  tables: CodeTables | None = None) -> WhatIfReport:
    """Replay the simulator for every plan over the same period and compare them.

    Parameters
    ----------
    engine, planner
        Drive times; coverage (same network).
    demand
        Expected demand for the coverage by hour.
    plans
        ``(label, roster)`` pairs; the first is the baseline whose stream rates every run
        uses.
    profile
        The simulator profile.
    start, days, seed
        The replayed period and the random seed (the same for every plan).
    minutes
        Coverage thresholds.
    zones, service_area
        As for :class:`~heartops.feeds.simulator.Simulator`.
    tables
        Code tables.

    Raises
    ------
    PlanningError
        Without plans or with a non-positive period.
    """
    tables = tables or default_tables()
    if not plans:
        raise PlanningError("no plans to compare")
    if not days > 0:
        raise PlanningError(f"the replayed period must be positive, got {days} days")
    rates: StreamRates | None = None
    outcomes = []
    for label, roster in plans:
        sink = HistoryCollector()
        simulator = Simulator(engine, roster, profile, seed, start, sink=sink, tables=tables,
                              zones=zones, service_area=service_area, rates=rates,
                              call_id_prefix=f"W{seed}-")
        rates = simulator.rates if rates is None else rates
        simulator.run_until(start + timedelta(days=days))
        coverage = {float(m): roster_coverage_by_hour(planner, roster, demand, m, tables=tables)
                    for m in minutes}
        outcomes.append(_outcome(label, roster, sink, coverage, tables))
    return WhatIfReport(start=start, days=days, seed=seed,
                        minutes=tuple(float(m) for m in minutes), plans=tuple(outcomes))


def _outcome(label: str, roster: Roster, sink: HistoryCollector,
             coverage: Mapping[float, FloatArray], tables: CodeTables) -> PlanOutcome:
    counted = [e for e in sink.ledger_entries if e.outcome is not LedgerOutcome.EXCLUDED]
    served = sum(e.outcome is LedgerOutcome.SERVED for e in counted)
    programs = sink.program_of_calls()
    minutes = [c.to_scene.total_seconds() / 60.0 for c in sink.closed
               if c.to_scene is not None and c.call_id in programs
               and tables.program(programs[c.call_id]).in_person]
    return PlanOutcome(
        label=label, units=len(roster.units), eligible=len(counted), served=served,
        to_scene_mean_min=float(np.mean(minutes)) if minutes else None,
        to_scene_p90_min=float(np.percentile(minutes, 90)) if minutes else None,
        coverage_by_hour=dict(coverage))


def parse_shift(text: str) -> DailyWindow:
    """Parse ``HH:MM-HH:MM`` (``24:00`` = midnight) as a daily shift.

    Raises
    ------
    PlanningError
        On a malformed shift.
    """
    try:
        first, last = (part.strip() for part in text.split("-"))
        return DailyWindow(_wall(first), _wall(last))
    except ValueError:
        raise PlanningError(f"bad shift {text!r}: expected HH:MM-HH:MM") from None


def _wall(text: str) -> time:
    return time(0, 0) if text == "24:00" else time.fromisoformat(text)
