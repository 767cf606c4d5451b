"""Coverage planning: which share of expected demand teams can reach within T minutes.

The drive-time model for planning
---------------------------------
The road network's times are free-flow times at posted speeds
(:mod:`heartops.routing.roads`). They overstate reach: an 8-minute free-flow isochrone from
downtown covers most of the 16 km demo city, while HEART publishes an average of 12.19 min
(CRT) and 12.67 min (COR) from dispatch to arrival. The shift simulator closes that gap with
a turnout delay (dispatched -> en route) and a traffic factor on drive times, calibrated so
that simulated minutes to scene match the published ones
(``heartops/resources/tables/sim_profile.toml``, ``[response.*].turnout`` and
``[traffic].factor``). Planning uses the same model, deterministically (means, no spread)::

    minutes to scene = turnout + urban factor x free-flow drive minutes

so a cell is *covered within T* when its representative road node is within
``(T - turnout) / factor`` free-flow minutes of a team. Defaults (:class:`DriveModel`):
``urban_factor`` = 1.2, the profile's traffic-factor mean; ``turnout_min`` = 6.4, the
profile's CRT (6.9 min) and COR (5.0 min) turnout means weighted by the programs' published
in-person calls (14,241 and 5,372). :meth:`DriveModel.from_profile` derives the same figures
from any profile. With these defaults a team covers within 8 minutes only what it reaches in
80 s of free-flow driving, and within 12 minutes what it reaches in 4.7 min: that is what
"12 minutes to scene on average" implies, and why 8-minute coverage is low for HEART.

The computations
----------------
* :meth:`CoveragePlanner.coverage` - ONE multi-source Dijkstra (``min_only``) from all
  sources, limited to the drive budget: covered mask per cell, the nearest source of each
  cell, the covered share and the demand each source covers (attributed to its nearest).
* :meth:`CoveragePlanner.reach` - one limited single-source search per source (scipy runs
  them in one call): a sparse sources x cells matrix. From it:
* :meth:`CoveragePlanner.coverage_costs` - the demand only that source covers, which is
  exactly coverage with every source minus coverage without it.
* :meth:`CoveragePlanner.move_up` - the best single move of one available unit to one post
  (see its docstring for the rule), evaluated for every (unit, post) pair at once with one
  sparse matrix product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from heartops.analysis.demand_grid import HexGrid
from heartops.core.errors import HeartopsError
from heartops.core.geo import GeoPoint
from heartops.routing.engine import TravelTimeEngine

if TYPE_CHECKING:
    from heartops.feeds.sim.profile import SimProfile

__all__ = ["DEFAULT_MINUTES", "DEFAULT_TURNOUT_MIN", "DEFAULT_URBAN_FACTOR", "Coverage",
           "CoverageCosts", "CoveragePlanner", "DriveModel", "MoveUp", "PlanningError"]

DEFAULT_MINUTES: tuple[float, ...] = (8.0, 12.0)
"""Coverage thresholds shown by default (minutes to scene)."""
DEFAULT_URBAN_FACTOR = 1.2
"""``[traffic].factor`` mean of the packaged simulator profile."""
DEFAULT_TURNOUT_MIN = 6.4
"""Published-call-weighted mean of the profile's CRT and COR turnout means (6.9, 5.0)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_REACH_CHUNK = 64  # sources per batched search: bounds the dense (chunk x nodes) block


class PlanningError(HeartopsError, ValueError):
    """Coverage-planning input that cannot be used (k too large, no candidates ...)."""


@dataclass(frozen=True, slots=True)
class DriveModel:
    """Minutes to scene for planning: ``turnout + urban_factor x free-flow minutes``.

    Attributes
    ----------
    urban_factor
        Multiplies free-flow drive times (traffic, lights, parking, finding the door).
    turnout_min
        Dispatched -> en route, in minutes.
    """

    urban_factor: float = DEFAULT_URBAN_FACTOR
    turnout_min: float = DEFAULT_TURNOUT_MIN

    def __post_init__(self) -> None:
        if not (math.isfinite(self.urban_factor) and self.urban_factor > 0):
            raise PlanningError(f"urban factor must be positive, got {self.urban_factor!r}")
        if not (math.isfinite(self.turnout_min) and self.turnout_min >= 0):
            raise PlanningError(f"turnout must be 0 or more minutes, got {self.turnout_min!r}")

    def drive_limit_s(self, minutes: float) -> float:
        """Return the free-flow seconds a team may drive to be on scene within ``minutes``.

        Negative when the turnout alone exceeds ``minutes`` (nothing is covered).
        """
        return (minutes - self.turnout_min) * 60.0 / self.urban_factor

    def to_scene_min(self, free_flow_s: FloatArray) -> FloatArray:
        """Return modelled minutes to scene for free-flow drive seconds (``inf`` stays)."""
        return np.asarray(self.turnout_min + self.urban_factor * free_flow_s / 60.0,
                          dtype=np.float64)

    @classmethod
    def from_profile(cls, profile: SimProfile) -> DriveModel:
        """Return the model a simulator profile implies (see the module docstring)."""
        means = {code: response.turnout.mean for code, response in profile.responses.items()
                 if response.turnout is not None and code in profile.published}
        weights = {code: float(profile.published[code].calls) for code in means}
        total = sum(weights.values())
        turnout = sum(means[code] * w for code, w in weights.items()) / total if total else 0.0
        return cls(urban_factor=profile.traffic.mean, turnout_min=turnout)


@dataclass(frozen=True, eq=False)
class Coverage:
    """Who covers what within ``minutes``.

    Attributes
    ----------
    minutes
        The threshold (minutes to scene).
    demand
        Expected calls per cell that the shares are of.
    covered
        Per cell: some source reaches its node within ``minutes``.
    nearest
        Per cell: index (into the sources given) of the nearest source, ``-1`` if uncovered.
    to_scene_min
        Per cell: modelled minutes to scene from the nearest source, ``inf`` if uncovered.
    per_source
        Per source: expected calls of the cells it is nearest to and covers.
    """

    minutes: float
    demand: FloatArray
    covered: BoolArray
    nearest: IntArray
    to_scene_min: FloatArray
    per_source: FloatArray

    @property
    def total_demand(self) -> float:
        """Expected calls over every cell."""
        return float(self.demand.sum())

    @property
    def covered_demand(self) -> float:
        """Expected calls in covered cells."""
        return float(self.demand[self.covered].sum())

    @property
    def share(self) -> float:
        """Covered share of expected demand (0 when there is no demand)."""
        total = self.total_demand
        return self.covered_demand / total if total > 0 else 0.0


@dataclass(frozen=True, eq=False)
class CoverageCosts:
    """What each source's departure would cost.

    Attributes
    ----------
    minutes
        The threshold.
    coverage
        Covered demand with every source (expected calls).
    total_demand
        Expected calls over every cell.
    cost
        Per source: expected calls that lose coverage if that source alone leaves.
    """

    minutes: float
    coverage: float
    total_demand: float
    cost: FloatArray

    @property
    def cost_share(self) -> FloatArray:
        """Per source: the lost calls as a share of all expected demand."""
        if self.total_demand <= 0:
            return np.zeros_like(self.cost)
        return np.asarray(self.cost / self.total_demand, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class MoveUp:
    """A suggested move of one available unit to one post.

    Attributes
    ----------
    unit
        Index into the units given.
    post
        Index into the posts given.
    before, after
        Covered share of demand before and after the move.
    gain
        Expected calls per period of the demand given that the move adds to coverage.
    drive_min
        Modelled drive minutes from the unit to the post (urban factor, no turnout).
    """

    unit: int
    post: int
    before: float
    after: float
    gain: float
    drive_min: float


class CoveragePlanner:
    """Coverage, coverage costs and move-ups over one network and demand grid.

    Parameters
    ----------
    engine
        The network's travel-time engine (snapping).
    grid
        Demand cells over the same network.
    model
        Minutes to scene from free-flow times.

    Notes
    -----
    Sources (units or posts) are given as road node indices (:meth:`snap` turns points into
    nodes), so a live board that already knows each unit's node does not snap again.
    """

    def __init__(self, engine: TravelTimeEngine, grid: HexGrid, *,
                 model: DriveModel | None = None) -> None:
        self.engine = engine
        self.grid = grid
        self.model = model or DriveModel()
        network = engine.network
        n = network.node_count
        if grid.node_cell.size != n:
            raise PlanningError("the demand grid was built over another road network")
        # Our own handle on the forward graph (the engine keeps its CSR private).
        self._graph = csr_matrix((network.fwd_time, network.fwd_indices, network.fwd_indptr),
                                 shape=(n, n))

    # -- inputs -----------------------------------------------------------------------------

    def snap(self, points: Sequence[GeoPoint], *, what: str = "post") -> IntArray:
        """Return the road node of each point.

        Raises
        ------
        SnapError
            When a point is farther than the engine's limit from every road.
        """
        return np.array([self.engine.snap(p, what=f"{what} {i + 1}").node
                         for i, p in enumerate(points)], dtype=np.int64)

    def _check(self, demand: npt.ArrayLike, sources: npt.ArrayLike) -> tuple[FloatArray,
                                                                              IntArray]:
        weights = np.asarray(demand, dtype=np.float64)
        if weights.shape != (self.grid.size,):
            raise PlanningError(f"demand must have one value per cell ({self.grid.size}), "
                                f"got shape {weights.shape}")
        nodes = np.asarray(sources, dtype=np.int64).reshape(-1)
        if nodes.size and (nodes.min() < 0 or nodes.max() >= self.engine.network.node_count):
            raise PlanningError("a source is not a road node of this network")
        return weights, nodes

    # -- coverage ---------------------------------------------------------------------------

    def coverage(self, sources: npt.ArrayLike, demand: npt.ArrayLike,
                 minutes: float) -> Coverage:
        """Return the coverage of ``demand`` by ``sources`` within ``minutes``.

        One multi-source Dijkstra from every source at once, limited to the drive budget.

        Parameters
        ----------
        sources
            Road nodes of the units or posts (repeats allowed: two units at one post).
        demand
            Expected calls per cell (one hour of :class:`ExpectedDemand`, or a week).
        minutes
            Minutes to scene.
        """
        weights, nodes = self._check(demand, sources)
        cells = self.grid.size
        limit = self.model.drive_limit_s(minutes)
        if nodes.size == 0 or limit < 0:
            return Coverage(minutes, weights, np.zeros(cells, dtype=bool),
                            np.full(cells, -1, dtype=np.int64), np.full(cells, math.inf),
                            np.zeros(nodes.size))
        unique, first = np.unique(nodes, return_index=True)
        times, _, origin = dijkstra(self._graph, indices=unique, min_only=True, limit=limit,
                                    return_predecessors=True)
        at_cell = self.grid.node
        seconds = np.asarray(times[at_cell], dtype=np.float64)
        covered = np.isfinite(seconds)
        lookup = np.full(self.engine.network.node_count, -1, dtype=np.int64)
        lookup[unique] = first  # the first source listed at a node takes its cells
        nearest = np.where(covered, lookup[np.maximum(origin[at_cell], 0)], -1)
        per_source = np.bincount(nearest[covered], weights=weights[covered],
                                 minlength=nodes.size).astype(np.float64)
        return Coverage(minutes, weights, covered, nearest.astype(np.int64),
                        self.model.to_scene_min(seconds), per_source)

    def reach(self, sources: npt.ArrayLike, minutes: float) -> csr_matrix:
        """Return which cells each source reaches within ``minutes`` (sources x cells, bool).

        One single-source search per source, limited to the drive budget, batched into a few
        scipy calls.
        """
        nodes = np.asarray(sources, dtype=np.int64).reshape(-1)
        limit = self.model.drive_limit_s(minutes)
        shape = (nodes.size, self.grid.size)
        if nodes.size == 0 or limit < 0:
            return csr_matrix(shape, dtype=bool)
        rows, cols = [], []
        for begin in range(0, nodes.size, _REACH_CHUNK):
            chunk = nodes[begin:begin + _REACH_CHUNK]
            times = dijkstra(self._graph, indices=chunk, limit=limit)
            r, c = np.nonzero(np.isfinite(np.atleast_2d(times)[:, self.grid.node]))
            rows.append(r + begin)
            cols.append(c)
        row, col = np.concatenate(rows), np.concatenate(cols)
        return csr_matrix((np.ones(row.size, dtype=bool), (row, col)), shape=shape)

    def coverage_costs(self, sources: npt.ArrayLike, demand: npt.ArrayLike,
                       minutes: float) -> CoverageCosts:
        """Return, per source, the demand that loses coverage if that source leaves.

        A cell loses coverage exactly when the leaving source is the only one reaching it, so
        the cost is the demand of the cells only that source reaches: one limited search per
        source, no re-run per candidate.
        """
        weights, nodes = self._check(demand, sources)
        matrix = self.reach(nodes, minutes)
        count = np.asarray(matrix.sum(axis=0)).ravel()
        alone = weights * (count == 1)
        cost = np.asarray(matrix @ alone, dtype=np.float64).ravel()
        return CoverageCosts(minutes, float(weights[count > 0].sum()), float(weights.sum()),
                             cost)

    def move_up(self, units: npt.ArrayLike, posts: npt.ArrayLike, demand: npt.ArrayLike,
                minutes: float, *, target_share: float = 0.9,
                movable: npt.ArrayLike | None = None,
                max_drive_min: float | None = None) -> MoveUp | None:
        """Suggest the single unit move that most raises coverage, when below target.

        The rule: when the units' covered share of ``demand`` is below ``target_share``, try
        every movable unit at every post (a post the unit is not already at), each move alone;
        suggest the one with the largest covered demand after the move, ties broken by the
        shorter drive to the post, then by unit and post order. No suggestion (``None``) when
        coverage already meets the target, or when no move gains anything.

        Parameters
        ----------
        units
            Road nodes of the available units (they all count for coverage).
        posts
            Road nodes of the staging posts a unit may move to.
        demand
            Expected calls per cell.
        minutes
            Minutes to scene of the coverage.
        target_share
            Suggest moves only below this covered share.
        movable
            Per unit, whether it may be moved (default: all).
        max_drive_min
            Leave out moves longer than this (modelled drive minutes).
        """
        weights, unit_nodes = self._check(demand, units)
        post_nodes = np.asarray(posts, dtype=np.int64).reshape(-1)
        may_move = (np.ones(unit_nodes.size, dtype=bool) if movable is None
                    else np.asarray(movable, dtype=bool).reshape(-1))
        if may_move.size != unit_nodes.size:
            raise PlanningError("movable must have one flag per unit")
        total = float(weights.sum())
        unit_reach = self.reach(unit_nodes, minutes)
        count = np.asarray(unit_reach.sum(axis=0)).ravel()
        before = float(weights[count > 0].sum())
        if total <= 0 or before / total >= target_share or not post_nodes.size \
                or not may_move.any():
            return None
        post_reach = self.reach(post_nodes, minutes)
        # Coverage after moving unit u to post p, for every pair at once:
        #   covered demand of the other units + demand only post p adds
        dense = unit_reach.toarray()
        rest_count = count[None, :] - dense
        rest = (rest_count > 0) @ weights
        uncovered_weights = (rest_count == 0) * weights[None, :]
        after = rest[:, None] + np.asarray((post_reach @ uncovered_weights.T).T)
        drive = self._drive_minutes(unit_nodes, post_nodes, max_drive_min)
        allowed = may_move[:, None] & (unit_nodes[:, None] != post_nodes[None, :]) \
            & np.isfinite(drive)
        if not allowed.any():
            return None
        score = np.where(allowed, after, -np.inf)
        best = score.max()
        if best <= before + 1e-12:
            return None
        ties = np.argwhere(score >= best - 1e-12)
        u, p = min(ties.tolist(), key=lambda pair: (drive[pair[0], pair[1]], pair[0], pair[1]))
        return MoveUp(unit=int(u), post=int(p), before=before / total, after=float(best) / total,
                      gain=float(best) - before, drive_min=float(drive[u, p]))

    def _drive_minutes(self, units: IntArray, posts: IntArray,
                       max_drive_min: float | None) -> FloatArray:
        limit = math.inf if max_drive_min is None else max_drive_min * 60.0 / \
            self.model.urban_factor
        unique, inverse = np.unique(units, return_inverse=True)
        times = np.atleast_2d(dijkstra(self._graph, indices=unique, limit=limit))
        return np.asarray(times[inverse][:, posts] * self.model.urban_factor / 60.0,
                          dtype=np.float64)
