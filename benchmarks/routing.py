"""Routing benchmark: heartops' engine side by side with the naive osmnx/networkx way.

Usage: ./run bench routing --network NAME [--units 40] [--repeat 3] [--json]

On the same graph, the same random units, calls and posts, it times (median of --repeat runs):

* recommend   ranking N units for one call: one ``ox.routing.shortest_path`` per unit (naive)
              vs ONE reverse Dijkstra from the call (heartops ``etas_to``)
* coverage    nearest post of every node from 40 posts within 12 min: networkx single-source
              Dijkstra per post, then the minimum (naive) vs one multi-source scipy search
* isochrones  40 8-minute isochrones: ``nx.ego_graph`` by travel time + convex hull, osmnx's own
              recipe (naive) vs heartops' road-following polygons
* snap        snapping 10,000 points: ``ox.distance.nearest_nodes`` vs the engine's KD-tree
* load        loading the network: osmnx GraphML vs the heartops cache (+ engine set-up)

and the largest absolute difference between the two ways' drive times (recommend + coverage).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmnx as ox

from heartops.core.geo import GeoPoint
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import DEMO_NAME, RoadNetwork, load_network, network_path

COVER_MINUTES = 12.0
ISOCHRONE_MINUTES = 8.0


def to_networkx(network: RoadNetwork) -> nx.MultiDiGraph:
    """Rebuild the osmnx-style graph of a cached network (same nodes, edges and times)."""
    graph = nx.MultiDiGraph(crs="epsg:4326")
    for i in range(network.node_count):
        graph.add_node(i, x=float(network.node_lon[i]), y=float(network.node_lat[i]))
    for tail, head, seconds, meters in zip(network.edge_tail.tolist(),
                                           network.fwd_indices.tolist(),
                                           network.fwd_time.tolist(),
                                           network.fwd_length.tolist(), strict=True):
        graph.add_edge(tail, head, travel_time=seconds, length=meters)
    return graph


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Return the median wall time of ``repeat`` runs and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def point(network: RoadNetwork, node: int) -> GeoPoint:
    """The position of one road node."""
    return GeoPoint(float(network.node_lat[node]), float(network.node_lon[node]))


def naive_recommend(graph: nx.MultiDiGraph, units: list[int], call: int) -> list[float]:
    """One osmnx shortest path per unit, summing travel times along it."""
    seconds = []
    for unit in units:
        path = ox.routing.shortest_path(graph, unit, call, weight="travel_time")
        seconds.append(sum(min(d["travel_time"] for d in graph[u][v].values())
                           for u, v in itertools.pairwise(path)))
    return seconds


def naive_cover(graph: nx.MultiDiGraph, posts: list[int]) -> np.ndarray:
    """Per-post networkx Dijkstra within the limit, then the minimum per node."""
    best = np.full(graph.number_of_nodes(), np.inf)
    for post in posts:
        reached = nx.single_source_dijkstra_path_length(graph, post, cutoff=COVER_MINUTES * 60,
                                                        weight="travel_time")
        for node, seconds in reached.items():
            best[node] = min(best[node], seconds)
    return best


def naive_isochrone(graph: nx.MultiDiGraph, origin: int) -> Any:
    """osmnx's isochrone recipe: ego graph by travel time, convex hull of its nodes."""
    import shapely

    sub = nx.ego_graph(graph, origin, radius=ISOCHRONE_MINUTES * 60, distance="travel_time")
    xs = [data["x"] for _, data in sub.nodes(data=True)]
    ys = [data["y"] for _, data in sub.nodes(data=True)]
    return shapely.MultiPoint(np.column_stack([xs, ys])).convex_hull


def run(network_name: str, *, units: int, repeat: int, seed: int) -> dict[str, Any]:
    """Run every comparison and return the figures."""
    if network_name == DEMO_NAME:
        from heartops.routing.demo_setup import ensure_demo

        ensure_demo()
    network = load_network(network_name)
    engine = TravelTimeEngine(network)
    graph = to_networkx(network)
    rng = np.random.default_rng(seed)
    unit_nodes = [int(n) for n in rng.choice(network.node_count, units, replace=False)]
    call_node = int(rng.integers(network.node_count))
    post_nodes = [int(n) for n in rng.choice(network.node_count, 40, replace=False)]
    unit_points = {str(n): point(network, n) for n in unit_nodes}
    call_point = point(network, call_node)
    result: dict[str, Any] = {"network": network_name, "nodes": network.node_count,
                              "edges": network.edge_count, "units": units, "repeat": repeat}

    naive_s, naive_times = timed(lambda: naive_recommend(graph, unit_nodes, call_node),
                                 max(1, repeat // 2))
    # Like for like: the naive way computes drive times only.
    fast_s, etas = timed(lambda: engine.etas_to(call_point, unit_points, with_meters=False),
                         repeat * 20)
    result["recommend_with_meters_s"] = timed(lambda: engine.etas_to(call_point, unit_points),
                                              repeat * 20)[0]
    recommend_diff = max(abs(etas[str(n)].seconds - t)
                         for n, t in zip(unit_nodes, naive_times, strict=True))
    record(result, "recommend", naive_s, fast_s)

    posts = [point(network, n) for n in post_nodes]
    naive_s, naive_best = timed(lambda: naive_cover(graph, post_nodes), 1)
    fast_s, cover = timed(lambda: engine.nearest_cover(posts, COVER_MINUTES), repeat * 5)
    covered = np.isfinite(naive_best)
    cover_diff = float(np.abs(cover.seconds[covered] - naive_best[covered]).max())
    if not np.array_equal(covered, cover.covered):
        cover_diff = float("inf")
    record(result, "coverage", naive_s, fast_s)

    naive_s, _ = timed(lambda: [naive_isochrone(graph, n) for n in post_nodes], 1)
    fast_s, _ = timed(lambda: [engine.isochrone(p, ISOCHRONE_MINUTES) for p in posts], repeat)
    record(result, "isochrones", naive_s, fast_s)

    lats = rng.uniform(network.node_lat.min(), network.node_lat.max(), 10_000)
    lons = rng.uniform(network.node_lon.min(), network.node_lon.max(), 10_000)
    naive_s, naive_nodes = timed(lambda: ox.distance.nearest_nodes(graph, lons, lats), repeat)
    fast_s, (fast_nodes, _) = timed(lambda: engine.snap_many(lats, lons), repeat)
    result["snap_agreement"] = float(np.mean(np.asarray(naive_nodes) == fast_nodes))
    record(result, "snap", naive_s, fast_s)

    with tempfile.TemporaryDirectory() as tmp:
        graphml = Path(tmp) / "network.graphml"
        ox.save_graphml(graph, graphml)
        naive_s, _ = timed(lambda: ox.load_graphml(graphml), 1)
    path = network_path(network_name)
    fast_s, _ = timed(lambda: TravelTimeEngine(RoadNetwork.load(path)), repeat)
    record(result, "load", naive_s, fast_s)
    result["load_cache_only_s"] = timed(lambda: RoadNetwork.load(path), repeat)[0]

    result["max_abs_diff_s"] = max(recommend_diff, cover_diff)
    return result


def record(result: dict[str, Any], what: str, naive_s: float, fast_s: float) -> None:
    """Store both ways' times of ``what`` and their ratio in ``result``."""
    result[f"{what}_naive_s"] = naive_s
    result[f"{what}_heartops_s"] = fast_s
    result[f"{what}_ratio"] = naive_s / fast_s if fast_s > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print a table or JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default=DEMO_NAME)
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    result = run(args.network, units=args.units, repeat=args.repeat, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"network {result['network']}: {result['nodes']:,} nodes, {result['edges']:,} edges")
    print(f"{'task':12s} {'naive':>12s} {'heartops':>12s} {'ratio':>10s}")
    for what in ("recommend", "coverage", "isochrones", "snap", "load"):
        print(f"{what:12s} {result[what + '_naive_s'] * 1000:10.2f}ms "
              f"{result[what + '_heartops_s'] * 1000:10.3f}ms {result[what + '_ratio']:9.0f}x")
    print(f"max |drive time difference|: {result['max_abs_diff_s']:.6f} s; "
          f"snap agreement {result['snap_agreement']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
