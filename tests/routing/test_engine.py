"""The drive-time engine against osmnx's own shortest paths on real OSM graphs."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from heartops.core.errors import SnapError
from heartops.core.geo import GeoPoint
from heartops.routing.build import add_travel_times, compile_network, load_graph
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import RoadNetwork
from heartops.routing.roads import SpeedRule
from tests.conftest import require_shared

DURHAM_GRAPHML = "durham/osm/durham_downtown_drive.graphml"
COLUMBUS_PBF = "columbus/columbus.osm.pbf"


def _build(relative: str, rule: SpeedRule) -> tuple[nx.MultiDiGraph, TravelTimeEngine]:
    graph, meta = load_graph(str(require_shared(relative)))
    add_travel_times(graph, rule)
    return graph, TravelTimeEngine(compile_network(graph, name="test", meta=meta))


@pytest.fixture(scope="module")
def durham() -> tuple[nx.MultiDiGraph, TravelTimeEngine]:
    return _build(DURHAM_GRAPHML, SpeedRule.OSMNX)


@pytest.fixture(scope="module")
def columbus() -> tuple[nx.MultiDiGraph, TravelTimeEngine]:
    return _build(COLUMBUS_PBF, SpeedRule.US_DEFAULT)


def _osmnx_time(graph: nx.MultiDiGraph, origin: int, destination: int) -> float:
    path = ox.routing.shortest_path(graph, origin, destination, weight="travel_time")
    return sum(
        min(data["travel_time"] for data in graph[u][v].values())
        for u, v in itertools.pairwise(path)
    )


def _node_point(network: RoadNetwork, node: int) -> GeoPoint:
    return GeoPoint(float(network.node_lat[node]), float(network.node_lon[node]))


@pytest.mark.parametrize("city", ["durham", "columbus"])
def test_etas_equal_osmnx_shortest_paths_for_200_pairs(
    city: str, request: pytest.FixtureRequest
) -> None:
    graph, engine = request.getfixturevalue(city)
    network = engine.network
    rng = np.random.default_rng(7)
    calls = rng.choice(network.node_count, 20, replace=False)
    checked = 0
    for call in calls:
        units = rng.choice(network.node_count, 10, replace=False)
        etas = engine.etas_to(_node_point(network, int(call)),
                              {str(u): _node_point(network, int(u)) for u in units})
        for unit in units:
            expected = _osmnx_time(graph, int(network.node_osmid[unit]),
                                   int(network.node_osmid[call]))
            assert etas[str(unit)].seconds == pytest.approx(expected, abs=0.01)
            checked += 1
    assert checked >= 200


def test_reference_route_reproduced_with_osmnx_speeds(
    durham: tuple[nx.MultiDiGraph, TravelTimeEngine],
) -> None:
    # ../shared/data/README.md: 2,434.6 m and 205.8 s with osmnx 2.1.1's default speeds. Its
    # origin lies 300 m south of the extract, 728 m from the nearest node, so allow that snap.
    engine = TravelTimeEngine(durham[1].network, max_snap_m=1_000)
    route = engine.route(GeoPoint(35.9940, -78.8986), GeoPoint(36.0078, -78.9150))
    assert route.seconds == pytest.approx(205.8, abs=0.05)
    assert route.meters == pytest.approx(2434.6, abs=0.5)
    assert len(route.lon) == len(route.lat) > len(route.nodes)  # curved edges keep their shape


def test_eta_distances_match_route_lengths(
    columbus: tuple[nx.MultiDiGraph, TravelTimeEngine],
) -> None:
    _, engine = columbus
    network = engine.network
    rng = np.random.default_rng(3)
    call = _node_point(network, int(rng.integers(network.node_count)))
    units = {f"U{i}": _node_point(network, int(n))
             for i, n in enumerate(rng.choice(network.node_count, 40, replace=False))}
    etas = engine.etas_to(call, units)
    for unit_id, point in units.items():
        route = engine.route(point, call)
        assert etas[unit_id].seconds == pytest.approx(route.seconds, abs=1e-6)
        assert etas[unit_id].meters == pytest.approx(route.meters, abs=1e-6)


def test_snapping_reports_distance_and_refuses_far_points(
    durham: tuple[nx.MultiDiGraph, TravelTimeEngine],
) -> None:
    _, engine = durham
    network = engine.network
    node = 17
    near = GeoPoint(float(network.node_lat[node]) + 0.0002, float(network.node_lon[node]))
    snap = engine.snap(near)
    assert 0 < snap.distance_m < 30
    with pytest.raises(SnapError, match=r"m from the nearest road"):
        engine.snap(GeoPoint(36.2, -78.9))  # about 20 km north of the extract
    etas = engine.etas_to(near, {"lost": GeoPoint(36.2, -78.9), "ok": near})
    assert not etas["lost"].reachable and "from any road" in etas["lost"].note
    assert etas["ok"].seconds == 0.0


def test_isochrone_holds_every_node_reached_in_time(
    columbus: tuple[nx.MultiDiGraph, TravelTimeEngine],
) -> None:
    _, engine = columbus
    network = engine.network
    origin = 1234
    small = engine.isochrone(_node_point(network, origin), 4)
    large = engine.isochrone(_node_point(network, origin), 8)
    times, _ = engine.times_from(origin)
    inside4 = shapely.contains_xy(small, network.node_lon, network.node_lat)
    assert inside4[times <= 240].all()
    assert not inside4[times > 900].any()  # far-away nodes stay outside
    assert large.area > small.area
    assert shapely.contains_xy(large, network.node_lon, network.node_lat)[times <= 480].all()


def test_nearest_cover_matches_brute_force(
    durham: tuple[nx.MultiDiGraph, TravelTimeEngine],
) -> None:
    _, engine = durham
    network = engine.network
    rng = np.random.default_rng(11)
    post_nodes = rng.choice(network.node_count, 5, replace=False)
    cover = engine.nearest_cover([_node_point(network, int(n)) for n in post_nodes], 2.0)
    per_post = np.vstack([
        dijkstra(engine._forward, indices=int(n)) for n in post_nodes
    ])
    best = per_post.min(axis=0)
    within = best <= 120.0
    assert np.array_equal(cover.covered, within)
    assert np.allclose(cover.seconds[within], best[within])
    chosen = per_post[cover.post[within], np.flatnonzero(within)]
    assert np.allclose(chosen, best[within])  # the post named is a nearest one


def test_unreachable_unit_is_reported_not_dropped() -> None:
    # A two-node one-way street: the head cannot drive back to the tail.
    graph = nx.MultiDiGraph(crs="epsg:4326")
    graph.add_node(1, x=-78.90, y=36.00)
    graph.add_node(2, x=-78.899, y=36.00)
    graph.add_edge(1, 2, length=90.0, travel_time=8.0, highway="residential")
    engine = TravelTimeEngine(compile_network(graph, name="tiny", meta={}))
    etas = engine.etas_to(GeoPoint(36.0, -78.90), {"A": GeoPoint(36.0, -78.899)})
    assert not etas["A"].reachable and etas["A"].note == "no road route to the call"
    assert math.isinf(etas["A"].meters)


def test_engine_is_safe_to_share_between_threads(
    durham: tuple[nx.MultiDiGraph, TravelTimeEngine],
) -> None:
    # pyproj transformers crash when shared across threads; the engine keeps one per thread.
    from concurrent.futures import ThreadPoolExecutor

    _, engine = durham
    network = engine.network
    points = [_node_point(network, n) for n in range(0, network.node_count, 37)]
    expected = [engine.snap(p).node for p in points]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(5):
            results = list(pool.map(lambda p: engine.snap(p).node, points))
            assert results == expected
        areas = list(pool.map(lambda p: engine.isochrone(p, 2).area, points[:8]))
    assert all(area > 0 for area in areas)
