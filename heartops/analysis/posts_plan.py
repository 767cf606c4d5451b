"""Post optimisation: choose k staging posts that cover the most expected demand.

This is the maximal covering location problem (MCLP, Church and ReVelle 1974): binary
``x_j`` (post at candidate ``j``), ``y_i`` (cell ``i`` covered), maximise ``sum w_i y_i``
subject to ``sum x_j = k`` and ``y_i <= sum_j a_ij x_j``, where ``a_ij`` says candidate ``j``
reaches cell ``i`` within T minutes (:class:`~heartops.analysis.coverage.DriveModel`).

It is solved *exactly* with ``scipy.optimize.milp`` (HiGHS, already a dependency) with a
relative gap of 0; ``y`` may be continuous in [0, 1] because for any binary ``x`` the best
``y_i`` is ``min(1, sum_j a_ij x_j)``, which is 0 or 1. (Dropping empty cells and merging
cells with the same candidates before solving gave no consistent gain: HiGHS's presolve does
that already, and on the demo city it was as often slower.) The coverage matrix comes from one
limited single-source search per candidate (:meth:`CoveragePlanner.reach`). A greedy
answer (add the candidate with the largest marginal covered demand, k times) is given for
comparison; greedy is guaranteed at least 1 - 1/e of the optimum and usually much closer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csc_matrix, csr_matrix, hstack, identity

from heartops.analysis.coverage import CoveragePlanner, PlanningError
from heartops.analysis.demand_grid import HOURS_PER_WEEK, ExpectedDemand
from heartops.routing.posts import Post

__all__ = ["Candidate", "PostPlan", "Selection", "candidate_sites", "coverage_matrix",
           "greedy_mclp", "hourly_share", "plan_posts", "solve_mclp"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place a post could be.

    Attributes
    ----------
    label
        ``"post 3: Post 3 - North Regional Library"`` or ``"cell 812"``.
    node
        Its road node.
    post_id
        The existing post's id, ``None`` for a candidate road node.
    """

    label: str
    node: int
    post_id: str | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """A set of chosen candidates and what it covers.

    Attributes
    ----------
    method
        ``"milp"``, ``"greedy"`` or ``"current"``.
    chosen
        Candidate indices, ascending.
    covered
        Covered weight (expected calls).
    share
        Covered share of the total weight.
    seconds
        Time to find it.
    optimal
        Proven optimal (the MILP finished within its time limit).
    """

    method: str
    chosen: tuple[int, ...]
    covered: float
    share: float
    seconds: float
    optimal: bool


def coverage_matrix(planner: CoveragePlanner, nodes: npt.ArrayLike,
                    minutes: float) -> csr_matrix:
    """Return ``a_ij``: cell ``i`` is reached from candidate ``j`` within ``minutes``."""
    return csr_matrix(planner.reach(nodes, minutes).T)


def selection(method: str, matrix: csr_matrix, weights: FloatArray, chosen: Sequence[int],
              seconds: float, optimal: bool) -> Selection:
    """Return the :class:`Selection` of ``chosen`` candidates: what they cover of ``weights``."""
    picked = tuple(sorted(int(j) for j in chosen))
    covered_mask = np.asarray(matrix[:, list(picked)].sum(axis=1)).ravel() > 0 if picked \
        else np.zeros(matrix.shape[0], dtype=bool)
    covered = float(weights[covered_mask].sum())
    total = float(weights.sum())
    return Selection(method, picked, covered, covered / total if total > 0 else 0.0, seconds,
                     optimal)


def _check_k(k: int, candidates: int) -> None:
    if k < 1:
        raise PlanningError(f"k must be at least 1, got {k}")
    if k > candidates:
        raise PlanningError(f"k={k} is more than the {candidates} candidate sites; "
                            "lower --k or raise --candidates")


def solve_mclp(matrix: csr_matrix, weights: npt.ArrayLike, k: int, *,
               time_limit_s: float | None = None) -> Selection:
    """Choose ``k`` columns of ``matrix`` covering the most weight, exactly (HiGHS MILP).

    The model: binary ``x`` per candidate, ``sum x = k``; a cover variable ``y`` per cell with
    ``y <= sum of x over the candidates covering it``; maximise ``sum w y``. ``y`` may be
    continuous in ``[0, 1]``: with ``x`` integral the optimum sets it to 0 or 1 anyway, and
    HiGHS branches on ``k``-many fewer integers.

    Parameters
    ----------
    matrix
        Cells x candidates, nonzero where the candidate covers the cell.
    weights
        Weight (expected calls) of each cell.
    k
        Number of candidates to choose.
    time_limit_s
        Stop HiGHS after this long; the answer is then flagged not ``optimal``.

    Raises
    ------
    PlanningError
        When ``k`` is below 1 or above the number of candidates, or the solver fails.
    """
    began = time.perf_counter()
    a = csr_matrix(matrix, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n, m = a.shape[1], a.shape[0]
    _check_k(k, n)
    if m == 0:  # nothing to cover: any k candidates are optimal
        return selection("milp", a, w, range(k), time.perf_counter() - began, True)
    cost = np.concatenate([np.zeros(n), -w])
    pick_k = LinearConstraint(csr_matrix(np.concatenate([np.ones(n), np.zeros(m)])), k, k)
    link = LinearConstraint(hstack([-a, identity(m, format="csr")], format="csr"),
                            -np.inf, 0.0)
    integrality = np.concatenate([np.ones(n), np.zeros(m)])
    options: dict[str, float] = {"mip_rel_gap": 0.0}
    if time_limit_s is not None:
        options["time_limit"] = float(time_limit_s)
    result = milp(cost, constraints=[pick_k, link], integrality=integrality,
                  bounds=Bounds(0.0, 1.0), options=options)
    if result.x is None:
        raise PlanningError(f"the post optimisation failed: {result.message}")
    chosen = np.flatnonzero(result.x[:n] > 0.5)[:k]
    return selection("milp", a, w, chosen.tolist(), time.perf_counter() - began,
                      bool(result.status == 0))


def greedy_mclp(matrix: csr_matrix, weights: npt.ArrayLike, k: int) -> Selection:
    """Choose ``k`` candidates greedily: each time the one adding the most covered weight.

    Ties go to the lower candidate index.
    """
    began = time.perf_counter()
    a = csc_matrix(matrix, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    _check_k(k, a.shape[1])
    open_weight = w.copy()
    chosen: list[int] = []
    for _ in range(k):
        gain = np.asarray(a.T @ open_weight).ravel()
        gain[chosen] = -1.0
        best = int(np.argmax(gain))
        chosen.append(best)
        open_weight[a.indices[a.indptr[best]:a.indptr[best + 1]]] = 0.0
    return selection("greedy", csr_matrix(a), w, chosen, time.perf_counter() - began, False)


def candidate_sites(planner: CoveragePlanner, posts: Sequence[Post], weights: npt.ArrayLike,
                    *, count: int = 200) -> list[Candidate]:
    """Return the existing posts, then cell nodes spread over the demand, ``count`` in all.

    Cell nodes are picked among cells with demand by farthest-point sampling (start at the
    busiest cell, then repeatedly the cell farthest from every site picked so far), so the
    candidates spread over the whole served area instead of bunching downtown.

    Raises
    ------
    PlanningError
        When ``count`` is smaller than the number of existing posts.
    """
    if count < len(posts):
        raise PlanningError(f"--candidates {count} is fewer than the {len(posts)} existing "
                            "posts (they are always candidates)")
    grid = planner.grid
    w = np.asarray(weights, dtype=np.float64)
    sites = [Candidate(f"post {p.post_id}: {p.name}", int(node), p.post_id)
             for p, node in zip(posts, planner.snap([p.location for p in posts]).tolist(),
                                strict=True)]
    pool = np.flatnonzero(w > 0)
    wanted = min(count - len(sites), pool.size)
    if wanted <= 0:
        return sites
    x, y = grid.center_x[pool], grid.center_y[pool]
    network = planner.engine.network
    taken_x = np.array([network.node_x[s.node] for s in sites])
    taken_y = np.array([network.node_y[s.node] for s in sites])
    gap = np.full(pool.size, np.inf)
    if taken_x.size:
        gap = np.min(np.hypot(x[:, None] - taken_x[None, :], y[:, None] - taken_y[None, :]),
                     axis=1)
    picked: list[int] = []
    current = int(np.argmax(w[pool])) if not sites else int(np.argmax(gap))
    for _ in range(wanted):
        picked.append(current)
        gap = np.minimum(gap, np.hypot(x - x[current], y - y[current]))
        gap[picked] = -1.0
        current = int(np.argmax(gap))
    for index in picked:
        cell = int(pool[index])
        sites.append(Candidate(f"cell {cell}", int(grid.node[cell])))
    return sites


def hourly_share(covered: npt.ArrayLike, per_hour: FloatArray) -> FloatArray:
    """Return the covered share of each hour of week's demand (``nan`` without demand)."""
    mask = np.asarray(covered, dtype=bool)
    total = per_hour.sum(axis=0)
    hit = per_hour[mask].sum(axis=0)
    return np.asarray(np.divide(hit, total, out=np.full(HOURS_PER_WEEK, math.nan),
                                where=total > 0), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class PostPlan:
    """The answer of :func:`plan_posts`.

    Attributes
    ----------
    minutes, k
        The threshold and number of posts.
    candidates
        Every candidate site (existing posts first).
    current
        The existing posts as they are (all of them, whatever ``k``).
    exact, greedy
        The MILP's and the greedy answer.
    hourly_current, hourly_exact, hourly_greedy
        Covered share of each hour of week's demand, shape (168,).
    matrix_seconds
        Time to build the coverage matrix.
    """

    minutes: float
    k: int
    candidates: tuple[Candidate, ...]
    current: Selection
    exact: Selection
    greedy: Selection
    hourly_current: FloatArray
    hourly_exact: FloatArray
    hourly_greedy: FloatArray
    matrix_seconds: float


def plan_posts(planner: CoveragePlanner, demand: ExpectedDemand, posts: Sequence[Post], *,
               k: int, minutes: float = 12.0, candidates: int = 200,
               hours: Sequence[int] | None = None,
               time_limit_s: float | None = 60.0) -> PostPlan:
    """Choose ``k`` posts maximising the expected demand covered within ``minutes``.

    Parameters
    ----------
    planner
        Network, grid and drive model.
    demand
        Expected calls per cell and hour of week.
    posts
        Existing posts (always candidates, and the "before" answer).
    k
        Posts to choose.
    minutes
        Minutes to scene.
    candidates
        Candidate sites in all (existing posts plus spread cell nodes).
    hours
        Hours of week whose demand counts (default: the whole week).
    time_limit_s
        Solver time limit.

    Raises
    ------
    PlanningError
        On a bad ``k`` or ``candidates``.
    """
    per_hour = demand.per_hour
    columns = list(range(HOURS_PER_WEEK)) if hours is None else list(hours)
    weights = per_hour[:, columns].sum(axis=1)
    sites = candidate_sites(planner, posts, weights, count=candidates)
    _check_k(k, len(sites))
    began = time.perf_counter()
    matrix = coverage_matrix(planner, [s.node for s in sites], minutes)
    matrix_seconds = time.perf_counter() - began
    exact = solve_mclp(matrix, weights, k, time_limit_s=time_limit_s)
    greedy = greedy_mclp(matrix, weights, k)
    current = selection("current", matrix, weights, range(len(posts)), 0.0, False)

    def hourly(selection: Selection) -> FloatArray:
        chosen = list(selection.chosen)
        mask = (np.asarray(matrix[:, chosen].sum(axis=1)).ravel() > 0) if chosen \
            else np.zeros(matrix.shape[0], dtype=bool)
        return hourly_share(mask, per_hour)

    return PostPlan(minutes=minutes, k=k, candidates=tuple(sites), current=current,
                    exact=exact, greedy=greedy, hourly_current=hourly(current),
                    hourly_exact=hourly(exact), hourly_greedy=hourly(greedy),
                    matrix_seconds=matrix_seconds)
