"""Coverage, coverage costs and move-ups against brute force on real downtown Durham roads."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from heartops.analysis.coverage import CoveragePlanner, DriveModel, PlanningError
from heartops.analysis.demand_grid import HexGrid
from heartops.core.errors import SnapError
from heartops.core.geo import GeoPoint
from heartops.routing.build import add_travel_times, compile_network, load_graph
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.roads import SpeedRule
from tests.conftest import require_shared

DURHAM_GRAPHML = "durham/osm/durham_downtown_drive.graphml"
# A small city needs a short budget to leave cells uncovered: 1 min turnout, 1.2 x free flow.
MODEL = DriveModel(urban_factor=1.2, turnout_min=1.0)


@pytest.fixture(scope="module")
def planner() -> CoveragePlanner:
    graph, meta = load_graph(str(require_shared(DURHAM_GRAPHML)))
    add_travel_times(graph, SpeedRule.US_DEFAULT)
    engine = TravelTimeEngine(compile_network(graph, name="durham-test", meta=meta))
    return CoveragePlanner(engine, HexGrid.over(engine.network, cell_m=120.0), model=MODEL)


def _digraph(planner: CoveragePlanner) -> nx.DiGraph:
    network = planner.engine.network
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(zip(network.edge_tail.tolist(), network.fwd_indices.tolist(),
                                      network.fwd_time.tolist(), strict=True))
    return graph


def _brute_force_seconds(planner: CoveragePlanner, sources: np.ndarray) -> np.ndarray:
    """Per-pair shortest paths: seconds[source, cell]."""
    graph = _digraph(planner)
    cells = planner.grid.node.tolist()
    out = np.full((sources.size, len(cells)), np.inf)
    for i, source in enumerate(sources.tolist()):
        for j, target in enumerate(cells):
            out[i, j] = nx.dijkstra_path_length(graph, source, target)
    return out


def _covered_demand(seconds: np.ndarray, weights: np.ndarray, limit: float,
                    keep: np.ndarray | None = None) -> float:
    rows = seconds if keep is None else seconds[keep]
    if rows.shape[0] == 0:
        return 0.0
    return float(weights[(rows <= limit).any(axis=0)].sum())


@pytest.fixture(scope="module")
def case(planner: CoveragePlanner) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    sources = rng.choice(planner.engine.network.node_count, 6, replace=False).astype(np.int64)
    weights = rng.gamma(0.8, 1.0, planner.grid.size) * (rng.random(planner.grid.size) < 0.7)
    return sources, weights, _brute_force_seconds(planner, sources)


def test_grid_cells_hold_their_representative_node(planner: CoveragePlanner) -> None:
    grid = planner.grid
    assert grid.size > 40
    assert np.array_equal(grid.node_cell[grid.node], np.arange(grid.size))
    assert grid.node_cell.min() == 0 and grid.node_cell.max() == grid.size - 1
    polygons = grid.polygons()
    network = planner.engine.network
    import shapely

    inside = shapely.contains_xy(polygons[grid.node_cell], network.node_x, network.node_y)
    assert inside.mean() > 0.99  # points on a shared edge may go either way


@pytest.mark.parametrize("minutes", [2.0, 3.0, 4.5])
def test_coverage_share_matches_per_pair_brute_force(
    planner: CoveragePlanner, case: tuple[np.ndarray, np.ndarray, np.ndarray], minutes: float,
) -> None:
    sources, weights, seconds = case
    limit = MODEL.drive_limit_s(minutes)
    cover = planner.coverage(sources, weights, minutes)
    expected_mask = (seconds <= limit).any(axis=0)
    assert np.array_equal(cover.covered, expected_mask)
    assert 0 < cover.share < 1
    assert cover.covered_demand == pytest.approx(_covered_demand(seconds, weights, limit))
    best = seconds.min(axis=0)
    assert np.allclose(cover.to_scene_min[expected_mask],
                       MODEL.turnout_min + MODEL.urban_factor * best[expected_mask] / 60)
    # each covered cell is attributed to a nearest source; per-source sums add up
    nearest = cover.nearest[expected_mask]
    assert np.allclose(seconds[nearest, np.flatnonzero(expected_mask)], best[expected_mask])
    assert cover.per_source.sum() == pytest.approx(cover.covered_demand)


def test_coverage_cost_equals_brute_force_difference(
    planner: CoveragePlanner, case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    sources, weights, seconds = case
    minutes = 3.0
    limit = MODEL.drive_limit_s(minutes)
    costs = planner.coverage_costs(sources, weights, minutes)
    full = _covered_demand(seconds, weights, limit)
    assert costs.coverage == pytest.approx(full)
    for i in range(sources.size):
        keep = np.arange(sources.size) != i
        assert costs.cost[i] == pytest.approx(full - _covered_demand(seconds, weights, limit,
                                                                     keep))
    assert (costs.cost > 0).any()


def test_two_units_at_one_post_cost_nothing_each(planner: CoveragePlanner) -> None:
    weights = np.ones(planner.grid.size)
    node = int(planner.grid.node[0])
    costs = planner.coverage_costs([node, node], weights, 3.0)
    assert costs.cost.tolist() == [0.0, 0.0]
    assert planner.coverage_costs([node], weights, 3.0).cost[0] == pytest.approx(costs.coverage)


def test_move_up_gain_equals_recomputed_coverage(
    planner: CoveragePlanner, case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    sources, weights, _ = case
    units = sources[:3]
    rng = np.random.default_rng(9)
    posts = rng.choice(planner.engine.network.node_count, 5, replace=False).astype(np.int64)
    minutes = 3.0
    move = planner.move_up(units, posts, weights, minutes, target_share=1.0)
    assert move is not None
    before = planner.coverage(units, weights, minutes)
    moved = units.copy()
    moved[move.unit] = posts[move.post]
    after = planner.coverage(moved, weights, minutes)
    assert move.before == pytest.approx(before.share)
    assert move.after == pytest.approx(after.share)
    assert move.gain == pytest.approx(after.covered_demand - before.covered_demand)
    # no single move does better
    for u in range(units.size):
        for p in range(posts.size):
            trial = units.copy()
            trial[u] = posts[p]
            assert planner.coverage(trial, weights, minutes).share <= move.after + 1e-12
    assert planner.move_up(units, posts, weights, minutes, target_share=before.share) is None


def test_turnout_longer_than_threshold_covers_nothing(planner: CoveragePlanner) -> None:
    cover = planner.coverage([0, 1], np.ones(planner.grid.size), 0.5)
    assert not cover.covered.any() and cover.share == 0.0


def test_bad_inputs_give_clear_errors(planner: CoveragePlanner) -> None:
    with pytest.raises(PlanningError, match="one value per cell"):
        planner.coverage([0], np.ones(3), 8.0)
    with pytest.raises(PlanningError, match="not a road node"):
        planner.coverage([10**7], np.ones(planner.grid.size), 8.0)
    with pytest.raises(SnapError, match="post 1"):
        planner.snap([GeoPoint(35.5, -78.5)])
    with pytest.raises(PlanningError, match="urban factor"):
        DriveModel(urban_factor=0.0)
