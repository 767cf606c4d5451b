"""Coverage-planning benchmark: heartops side by side with the straightforward way.

Usage: ./run bench coverage [--network demo] [--posts 40] [--candidates 200] [--cells 2000]
       [--k 10] [--minutes 12] [--sample-cells 40] [--repeat 5] [--synthetic] [--json]

* coverage      share of demand 40 posts reach within T: per-pair shortest paths (networkx
                bidirectional Dijkstra for every post x cell pair, timed on a sample of cells
                and scaled to all of them) vs ONE multi-source scipy search
                (``CoveragePlanner.coverage``); the covered masks of the sampled cells must agree
* matrix        the MCLP coverage matrix, candidates x cells: per-pair (sampled, scaled) vs one
                limited single-source search per candidate, batched (``CoveragePlanner.reach``)
* solve         the MCLP with HiGHS (scipy.optimize.milp): the textbook model as written
                (binary x and binary y per cell) vs heartops' (binary x, continuous y); both
                exact, so their optima must agree; the greedy answer for comparison

Demand: the demo city's simulated history (heartops.history.ensure_demo_history) unless
``--synthetic`` (seeded random weights on a third of the cells), which other networks need.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from typing import Any

import networkx as nx
import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix, hstack, identity

from heartops.analysis.coverage import CoveragePlanner
from heartops.analysis.demand_grid import HexGrid
from heartops.analysis.posts_plan import Selection, greedy_mclp, selection, solve_mclp
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import DEMO_NAME, RoadNetwork, load_network

sys.path.insert(0, os.path.dirname(__file__))
from routing import record, timed  # the routing benchmark's measuring helpers, shared


def to_digraph(network: RoadNetwork) -> nx.DiGraph:
    """The network as a networkx graph with the same travel times."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(network.node_count))
    graph.add_weighted_edges_from(zip(network.edge_tail.tolist(), network.fwd_indices.tolist(),
                                      network.fwd_time.tolist(), strict=True),
                                  weight="travel_time")
    return graph


def per_pair_reach(graph: nx.DiGraph, sources: list[int], targets: list[int],
                   limit_s: float) -> np.ndarray:
    """The straightforward way: one shortest path per (source, target) pair."""
    reach = np.zeros((len(sources), len(targets)), dtype=bool)
    for i, source in enumerate(sources):
        for j, target in enumerate(targets):
            seconds, _ = nx.bidirectional_dijkstra(graph, source, target, weight="travel_time")
            reach[i, j] = seconds <= limit_s
    return reach


def grid_with_cells(network: RoadNetwork, cells: int) -> HexGrid:
    """A hex grid with at least ``cells`` cells (shrinking the cell size until it has)."""
    size = 600.0
    grid = HexGrid.over(network, cell_m=size)
    while grid.size < cells and size > 50:
        size *= 0.95
        grid = HexGrid.over(network, cell_m=size)
    return grid


def demand_weights(engine: TravelTimeEngine, grid: HexGrid, *, synthetic: bool,
                   seed: int) -> np.ndarray:
    """Weekly expected eligible calls per cell (history), or seeded random weights."""
    if synthetic:
        rng = np.random.default_rng(seed)
        return np.where(rng.random(grid.size) < 1 / 3, rng.gamma(0.7, 1.0, grid.size), 0.0)
    from heartops.analysis.demand_grid import eligible_calls_frame, expected_demand
    from heartops.history import ensure_demo_history
    from heartops.store import open_store

    with open_store(f"sqlite:///{ensure_demo_history()}") as store:
        frame = eligible_calls_frame(store)
    return expected_demand(frame, engine, grid).weekly()


def textbook_mclp(matrix: csr_matrix, weights: np.ndarray, k: int, *,
                  time_limit_s: float | None) -> Selection:
    """The MCLP as the textbook writes it: binary ``x`` and binary ``y`` (Church-ReVelle)."""
    began = time.perf_counter()
    matrix = csr_matrix(matrix, dtype=np.float64)
    m, n = matrix.shape
    cost = np.concatenate([np.zeros(n), -np.asarray(weights, dtype=np.float64)])
    pick_k = LinearConstraint(csr_matrix(np.concatenate([np.ones(n), np.zeros(m)])), k, k)
    link = LinearConstraint(hstack([-matrix, identity(m, format="csr")], format="csr"),
                            -np.inf, 0.0)
    options: dict[str, float] = {"mip_rel_gap": 0.0}
    if time_limit_s is not None:
        options["time_limit"] = time_limit_s
    result = milp(cost, constraints=[pick_k, link], integrality=np.ones(n + m),
                  bounds=Bounds(0.0, 1.0), options=options)
    chosen = np.flatnonzero(result.x[:n] > 0.5)[:k]
    return selection("milp", matrix, np.asarray(weights, dtype=np.float64), chosen.tolist(),
                     time.perf_counter() - began, bool(result.status == 0))


def run(network_name: str, *, posts: int = 40, candidates: int = 200, cells: int = 2000,
        k: int = 10, minutes: float = 12.0, sample_cells: int = 40, repeat: int = 5,
        seed: int = 2026, synthetic: bool = False,
        naive_time_limit_s: float = 300.0) -> dict[str, Any]:
    """Run every comparison and return the figures."""
    if network_name == DEMO_NAME:
        from heartops.routing.demo_setup import ensure_demo

        ensure_demo()
    network = load_network(network_name)
    engine = TravelTimeEngine(network)
    graph = to_digraph(network)
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {"network": network_name, "nodes": network.node_count,
                              "posts": posts, "minutes": minutes, "repeat": repeat}

    # -- coverage now: 40 posts over the whole city, default-size cells ----------------------
    grid = HexGrid.over(network)
    planner = CoveragePlanner(engine, grid)
    weights = demand_weights(engine, grid, synthetic=synthetic or network_name != DEMO_NAME,
                             seed=seed)
    post_nodes = rng.choice(network.node_count, posts, replace=False).astype(np.int64)
    limit = planner.model.drive_limit_s(minutes)
    fast_s, cover = timed(lambda: planner.coverage(post_nodes, weights, minutes), repeat * 4)
    sample = rng.choice(grid.size, min(sample_cells, grid.size), replace=False)
    naive_s, reach = timed(lambda: per_pair_reach(graph, post_nodes.tolist(),
                                                  grid.node[sample].tolist(), limit), 1)
    result.update(cells=grid.size, coverage_share=cover.share,
                  coverage_sampled_cells=int(sample.size),
                  coverage_agree=bool(np.array_equal(reach.any(axis=0), cover.covered[sample])))
    record(result, "coverage", naive_s * grid.size / sample.size, fast_s)

    # -- MCLP: 200 candidates x 2,000 cells -----------------------------------------------------
    big = grid_with_cells(network, cells)
    planner = CoveragePlanner(engine, big)
    weights = demand_weights(engine, big, synthetic=synthetic or network_name != DEMO_NAME,
                             seed=seed)
    candidate_nodes = rng.choice(network.node_count, candidates, replace=False).astype(np.int64)
    fast_s, reach_matrix = timed(lambda: planner.reach(candidate_nodes, minutes), repeat)
    sample = rng.choice(big.size, min(max(2, sample_cells // 8), big.size), replace=False)
    naive_s, reach = timed(lambda: per_pair_reach(graph, candidate_nodes.tolist(),
                                                  big.node[sample].tolist(), limit), 1)
    dense = reach_matrix.toarray()
    result.update(mclp_cells=big.size, mclp_candidates=candidates, k=k,
                  matrix_sampled_cells=int(sample.size),
                  matrix_agree=bool(np.array_equal(reach, dense[:, sample])),
                  matrix_nonzeros=int(reach_matrix.nnz))
    record(result, "matrix", naive_s * big.size / sample.size, fast_s)

    matrix = csr_matrix(reach_matrix.T)
    naive_s, textbook = timed(lambda: textbook_mclp(matrix, weights, k,
                                                    time_limit_s=naive_time_limit_s), 1)
    fast_s, exact = timed(lambda: solve_mclp(matrix, weights, k), 1)
    greedy_s, greedy = timed(lambda: greedy_mclp(matrix, weights, k), repeat)
    result.update(solve_textbook_optimal=textbook.optimal, solve_heartops_optimal=exact.optimal,
                  mclp_share_exact=exact.share, mclp_share_textbook=textbook.share,
                  mclp_share_greedy=greedy.share, greedy_s=greedy_s,
                  mclp_objective_diff=abs(exact.covered - textbook.covered))
    record(result, "solve", naive_s, fast_s)
    result["mclp_total_heartops_s"] = result["matrix_heartops_s"] + fast_s
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print a table or JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default=DEMO_NAME)
    parser.add_argument("--posts", type=int, default=40)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--sample-cells", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    result = run(args.network, posts=args.posts, candidates=args.candidates, cells=args.cells,
                 k=args.k, minutes=args.minutes, sample_cells=args.sample_cells,
                 repeat=args.repeat, seed=args.seed, synthetic=args.synthetic)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"network {result['network']}: {result['nodes']:,} nodes; {result['posts']} posts "
          f"over {result['cells']:,} cells; MCLP {result['mclp_candidates']} candidates x "
          f"{result['mclp_cells']:,} cells, k={result['k']}, {result['minutes']:g} min")
    print(f"{'task':10s} {'naive':>14s} {'heartops':>14s} {'ratio':>10s}")
    for what, note in (("coverage", "per-pair, scaled"), ("matrix", "per-pair, scaled"),
                       ("solve", "textbook model")):
        print(f"{what:10s} {result[what + '_naive_s'] * 1000:12.1f}ms "
              f"{result[what + '_heartops_s'] * 1000:12.2f}ms {result[what + '_ratio']:9.0f}x"
              f"   ({note})")
    print(f"coverage agrees with per-pair on {result['coverage_sampled_cells']} cells: "
          f"{result['coverage_agree']}; matrix agrees on {result['matrix_sampled_cells']} "
          f"cells: {result['matrix_agree']}")
    print(f"MCLP covered share: exact {100 * result['mclp_share_exact']:.2f}% "
          f"(textbook {100 * result['mclp_share_textbook']:.2f}%, |diff| "
          f"{result['mclp_objective_diff']:.2e}), greedy {100 * result['mclp_share_greedy']:.2f}%"
          f" in {result['greedy_s'] * 1000:.1f} ms; matrix + solve "
          f"{result['mclp_total_heartops_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
