"""Live coverage for the shift commander: the board's free teams against this hour's demand.

:class:`LiveCoverage` is built once per network from the call history (the slow part: the
history is read, screened and gridded, about a second once the history exists) and then
answers, in a few milliseconds each, questions about an immutable list of unit positions:

* :meth:`LiveCoverage.reading` - the covered share of this hour's expected demand within each
  threshold (8 and 12 minutes by default), the cells covered, the target, and a move-up
  suggestion when coverage is below the target;
* :meth:`LiveCoverage.unit_costs` - for each unit, the share of this hour's expected demand
  that loses coverage within 12 minutes if that unit goes (the recommendation panel's
  "Cover −%" column);
* :meth:`LiveCoverage.plan_posts` - the exact and greedy post plans of
  :func:`~heartops.analysis.posts_plan.plan_posts` (seconds; the dock runs it on demand).

The units given are the *available in-person* units: the caller (the Qt dock, through the
port ``heartops/app.py`` adapts) leaves out phone programs, busy and off-shift teams.

This hour's demand
------------------
Four weeks of history hold about three eligible calls per hour of week, city-wide: one hour
of week's own cells are a dozen dots, and the covered share would jump between 0 and 100 %
as a single team moves. The live figure therefore pools the *shape* of demand over the same
local hours of day (this hour and ``pool_hours`` either side) on all seven days, and keeps
the hour of week's own *total* (the expected calls shown). With ``pool_hours=0`` and
``all_days=False`` it is exactly ``ExpectedDemand.hour`` (what ``heartops coverage --hour``
uses).

The target
----------
An absolute target (say 90 % within 12 minutes) means little live: with two teams free the
city cannot be 90 % covered however they stand, and the suggestion would fire all shift. The
default target is relative: ``target_ratio`` (0.9) times the *best share the same number of
free teams could cover from the staging posts* (greedy maximal covering over the posts, which
is within 1 - 1/e of optimal and in practice equal on a dozen posts; microseconds). Below it,
the free teams stand noticeably worse than they could, and a move-up can fix that. A fixed
``target_share`` may be given instead (a department standard).

The move-up is :meth:`CoveragePlanner.move_up` at ``move_minutes`` (12 by default: at 8
minutes a team covers only 80 s of free-flow driving, so 8-minute coverage is low whatever
the plan), limited to moves of at most ``max_move_min`` modelled minutes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import csr_matrix

from heartops.analysis.coverage import DEFAULT_MINUTES, CoveragePlanner, DriveModel, PlanningError
from heartops.analysis.demand_grid import (
    DEFAULT_CELL_M,
    HOURS_PER_WEEK,
    ExpectedDemand,
    HexGrid,
    expected_demand,
)
from heartops.analysis.posts_plan import PostPlan, greedy_mclp, plan_posts
from heartops.core.codes import CodeTables, default_tables
from heartops.core.geo import GeoPoint
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.posts import Post

__all__ = ["DEFAULT_COST_MINUTES", "DEFAULT_TARGET_RATIO", "LiveCoverage", "LiveReading",
           "MoveUpSuggestion", "UnitPosition", "hour_label"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_TARGET_RATIO = 0.9
"""Target: this share of the best coverage the free teams could give from the posts."""
DEFAULT_COST_MINUTES = 12.0
"""Threshold of the coverage cost and the move-up (minutes to scene)."""
DEFAULT_MAX_MOVE_MIN = 15.0
"""Longest move-up drive suggested (modelled minutes): no cross-city repositioning."""


@dataclass(frozen=True, slots=True)
class UnitPosition:
    """An available in-person unit where it is now.

    Attributes
    ----------
    unit_id
        The unit.
    point
        Its position (WGS 84).
    """

    unit_id: str
    point: GeoPoint


@dataclass(frozen=True, slots=True)
class MoveUpSuggestion:
    """Move one free unit to one post.

    Attributes
    ----------
    unit_id
        The unit to move.
    post_id, post_name
        The post to move it to.
    minutes
        The threshold the gain is counted at.
    before, after
        Covered share of this hour's demand before and after the move.
    gain_calls
        Expected calls per hour the move adds to coverage.
    drive_min
        Modelled drive minutes from the unit to the post.
    """

    unit_id: str
    post_id: str
    post_name: str
    minutes: float
    before: float
    after: float
    gain_calls: float
    drive_min: float


@dataclass(frozen=True, eq=False)
class LiveReading:
    """Coverage of this hour's demand by the free units.

    Attributes
    ----------
    at
        The instant asked about.
    hour_of_week
        Its local hour of week (0 = Monday 00:00).
    minutes
        The thresholds.
    demand
        Per cell: the pooled weights the shares are of (see the module docstring).
    expected_calls
        Eligible calls expected in this hour of week, city-wide.
    shares, best, targets
        Per threshold: covered share, best share the same number of units could cover from
        the posts, and the target.
    covered
        Per threshold: which cells some unit reaches.
    units
        The units counted (those on a road), in the order given.
    move_up
        The suggested move when coverage at ``move_minutes`` is below its target.
    """

    at: datetime
    hour_of_week: int
    minutes: tuple[float, ...]
    demand: FloatArray
    expected_calls: float
    shares: Mapping[float, float]
    best: Mapping[float, float]
    targets: Mapping[float, float]
    covered: Mapping[float, BoolArray]
    units: tuple[str, ...]
    move_up: MoveUpSuggestion | None


class LiveCoverage:
    """Coverage questions about live unit positions (see the module docstring).

    Parameters
    ----------
    planner
        Network, demand grid and drive model.
    demand
        Expected demand per cell and hour of week, over ``planner.grid``.
    posts
        Staging posts (move-up destinations; the "best achievable" placements).
    minutes
        Thresholds shown.
    cost_minutes
        Threshold of :meth:`unit_costs`.
    move_minutes
        Threshold of the move-up and of its target.
    target_ratio
        Relative target (see the module docstring); ignored with ``target_share``.
    target_share
        A fixed target share instead of the relative one.
    max_move_min
        Longest move-up drive, modelled minutes.
    pool_hours, all_days
        Demand pooling (see the module docstring).
    tables
        Code tables (the city's time zone).

    Raises
    ------
    PlanningError
        On a target outside (0, 1] or demand over another grid.
    """

    def __init__(self, planner: CoveragePlanner, demand: ExpectedDemand, posts: Sequence[Post],
                 *, minutes: Sequence[float] = DEFAULT_MINUTES,
                 cost_minutes: float = DEFAULT_COST_MINUTES,
                 move_minutes: float = DEFAULT_COST_MINUTES,
                 target_ratio: float = DEFAULT_TARGET_RATIO, target_share: float | None = None,
                 max_move_min: float = DEFAULT_MAX_MOVE_MIN, pool_hours: int = 1,
                 all_days: bool = True, tables: CodeTables | None = None) -> None:
        for name, value in (("target ratio", target_ratio), ("target share", target_share)):
            if value is not None and not 0 < value <= 1:
                raise PlanningError(f"{name} must be in (0, 1], got {value!r}")
        if demand.per_hour.shape[0] != planner.grid.size:
            raise PlanningError("the expected demand was built over another grid")
        self.planner = planner
        self.demand = demand
        self.posts = tuple(posts)
        self.minutes = tuple(float(m) for m in minutes)
        self.cost_minutes = float(cost_minutes)
        self.move_minutes = float(move_minutes)
        self.target_ratio = float(target_ratio)
        self.target_share = target_share
        self.max_move_min = max_move_min
        self.tables = tables or default_tables()
        self.post_nodes = planner.snap([p.location for p in self.posts], what="post") \
            if self.posts else np.zeros(0, dtype=np.int64)
        self._pooled = _pooled_shapes(demand.per_hour, pool_hours=pool_hours,
                                      all_days=all_days)
        # Posts never move: their reach (cells x posts) is searched once per threshold.
        wanted = {*self.minutes, self.move_minutes}
        self._post_reach = {m: csr_matrix(planner.reach(self.post_nodes, m).T) for m in wanted}

    @classmethod
    def from_calls(cls, engine: TravelTimeEngine, frame: pd.DataFrame, posts: Sequence[Post],
                   *, cell_m: float = DEFAULT_CELL_M, model: DriveModel | None = None,
                   tables: CodeTables | None = None, **options: object) -> LiveCoverage:
        """Build the service from a calls frame (:func:`eligible_calls_frame`).

        ``options`` go to the constructor.

        Raises
        ------
        HeartopsError
            When the history holds no eligible calls.
        """
        grid = HexGrid.over(engine.network, cell_m=cell_m)
        planner = CoveragePlanner(engine, grid, model=model)
        demand = expected_demand(frame, engine, grid, tables=tables)
        return cls(planner, demand, posts, tables=tables, **options)  # type: ignore[arg-type]

    # -- demand ---------------------------------------------------------------------------

    def hour_of_week(self, at: datetime) -> int:
        """Return the local hour of week of ``at`` (0 = Monday 00:00-00:59)."""
        local = at.astimezone(self.tables.timezone)
        return local.weekday() * 24 + local.hour

    def expected_calls(self, hour_of_week: int) -> float:
        """Return the eligible calls expected city-wide in one hour of week."""
        return float(self.demand.hour(hour_of_week).sum())

    def weights(self, hour_of_week: int) -> FloatArray:
        """Return this hour's demand per cell: pooled shape times the hour's own total.

        When the hour of week has no history of its own, the pooled shape is used as it is
        (shares are the same either way; only the expected calls differ).
        """
        shape = self._pooled[:, hour_of_week]
        total, pooled = self.expected_calls(hour_of_week), float(shape.sum())
        if total <= 0 or pooled <= 0:
            return np.asarray(shape, dtype=np.float64)
        return np.asarray(shape * (total / pooled), dtype=np.float64)

    # -- live questions -------------------------------------------------------------------

    def nodes(self, units: Sequence[UnitPosition]) -> tuple[IntArray, tuple[str, ...]]:
        """Return the road nodes of the units near a road, and their ids (same order)."""
        if not units:
            return np.zeros(0, dtype=np.int64), ()
        engine = self.planner.engine
        try:
            nodes, distance = engine.snap_many([u.point.lat for u in units],
                                               [u.point.lon for u in units])
        except ValueError:  # a position the projection cannot take (a bogus 0,0 fix)
            return self.nodes([u for u in units if _projectable(engine, u.point)])
        near = distance <= engine.max_snap_m
        return nodes[near], tuple(u.unit_id for u, ok in zip(units, near, strict=True) if ok)

    def best_share(self, count: int, weights: FloatArray, minutes: float) -> float:
        """Return the share ``count`` units could cover from the posts (greedy)."""
        total = float(weights.sum())
        k = min(count, self.post_nodes.size)
        if k <= 0 or total <= 0:
            return 0.0
        return greedy_mclp(self._reach_of_posts(minutes), weights, k).share

    def _reach_of_posts(self, minutes: float) -> csr_matrix:
        if minutes not in self._post_reach:  # a threshold not asked for at construction
            self._post_reach[minutes] = csr_matrix(
                self.planner.reach(self.post_nodes, minutes).T)
        return self._post_reach[minutes]

    def target(self, best: float) -> float:
        """Return the target share given the best achievable one."""
        return self.target_share if self.target_share is not None \
            else self.target_ratio * best

    def reading(self, units: Sequence[UnitPosition], at: datetime) -> LiveReading:
        """Return the coverage now of this hour's demand by ``units`` (available, in person).

        One limited multi-source search per threshold, a greedy placement over the posts for
        the target, and, below target, one move-up evaluation (a few milliseconds in all).
        """
        hour = self.hour_of_week(at)
        weights = self.weights(hour)
        nodes, ids = self.nodes(units)
        shares, best, targets, covered = {}, {}, {}, {}
        for minutes in {*self.minutes, self.move_minutes}:
            cover = self.planner.coverage(nodes, weights, minutes)
            shares[minutes] = cover.share
            covered[minutes] = cover.covered
            best[minutes] = self.best_share(len(ids), weights, minutes)
            targets[minutes] = self.target(best[minutes])
        move = self._move_up(nodes, ids, weights, targets[self.move_minutes])
        return LiveReading(at=at, hour_of_week=hour, minutes=self.minutes, demand=weights,
                           expected_calls=self.expected_calls(hour), shares=shares, best=best,
                           targets=targets, covered=covered, units=ids, move_up=move)

    def _move_up(self, nodes: IntArray, ids: tuple[str, ...], weights: FloatArray,
                 target: float) -> MoveUpSuggestion | None:
        if not ids or not self.post_nodes.size:
            return None
        move = self.planner.move_up(nodes, self.post_nodes, weights, self.move_minutes,
                                    target_share=target, max_drive_min=self.max_move_min)
        if move is None:
            return None
        post = self.posts[move.post]
        return MoveUpSuggestion(unit_id=ids[move.unit], post_id=post.post_id,
                                post_name=post.name, minutes=self.move_minutes,
                                before=move.before, after=move.after, gain_calls=move.gain,
                                drive_min=move.drive_min)

    def unit_costs(self, units: Sequence[UnitPosition], at: datetime,
                   minutes: float | None = None) -> dict[str, float]:
        """Return, per unit, the share of this hour's demand left uncovered if it goes.

        :meth:`CoveragePlanner.coverage_costs` over the units given, as shares of the hour's
        (pooled) demand; units off every road are left out.
        """
        nodes, ids = self.nodes(units)
        if not ids:
            return {}
        costs = self.planner.coverage_costs(nodes, self.weights(self.hour_of_week(at)),
                                            self.cost_minutes if minutes is None else minutes)
        return {unit: float(share) for unit, share in zip(ids, costs.cost_share, strict=True)}

    def plan_posts(self, *, k: int, minutes: float, candidates: int = 120,
                   time_limit_s: float = 30.0) -> PostPlan:
        """Choose ``k`` posts for the whole week's demand (exact MILP and greedy).

        Raises
        ------
        PlanningError
            On a bad ``k``.
        """
        return plan_posts(self.planner, self.demand, self.posts, k=k, minutes=minutes,
                          candidates=max(candidates, len(self.posts)),
                          time_limit_s=time_limit_s)

    # -- geometry for maps ----------------------------------------------------------------

    def cell_centres(self) -> tuple[FloatArray, FloatArray]:
        """Return the cell centres as (lon, lat) arrays (WGS 84)."""
        import pyproj

        grid = self.planner.grid
        to_lonlat = pyproj.Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
        lon, lat = to_lonlat.transform(grid.center_x, grid.center_y)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def node_point(self, node: int) -> GeoPoint:
        """Return road node ``node`` as a point."""
        network = self.planner.engine.network
        return GeoPoint(float(network.node_lat[node]), float(network.node_lon[node]))


def _pooled_shapes(per_hour: FloatArray, *, pool_hours: int, all_days: bool) -> FloatArray:
    """Return per hour of week the demand summed over the pooled hours (cells x 168)."""
    if pool_hours < 0:
        raise PlanningError(f"pool hours must be 0 or more, got {pool_hours}")
    pooled = np.zeros_like(per_hour)
    days = range(7) if all_days else (0,)
    for hour in range(HOURS_PER_WEEK):
        columns = {(hour + day * 24 + shift) % HOURS_PER_WEEK for day in days
                   for shift in range(-pool_hours, pool_hours + 1)}
        pooled[:, hour] = per_hour[:, sorted(columns)].sum(axis=1)
    return pooled


def _projectable(engine: TravelTimeEngine, point: GeoPoint) -> bool:
    try:
        engine.snap_many([point.lat], [point.lon])
    except ValueError:
        return False
    return True


def hour_label(hour_of_week: int) -> str:
    """Return ``"Tue 14:00"`` for an hour of week."""
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return f"{days[hour_of_week // 24]} {hour_of_week % 24:02d}:00"

