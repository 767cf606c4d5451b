"""The synthetic demo city: loads through osmnx like real OSM, and behaves like a city."""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
from shapely.geometry import LineString

from heartops.routing.demo_city import (
    DEMO_CENTER,
    DEMO_SEED,
    DEMO_SOURCE,
    DEMO_TIMEZONE,
    DemoCity,
    demo_river_centerline,
    write_demo_city,
)

UTM = "EPSG:32617"  # metres around Durham
HWY_SPEEDS = {
    "motorway": 105.0, "motorway_link": 55.0, "trunk": 88.0, "primary": 64.0, "secondary": 56.0,
    "tertiary": 48.0, "residential": 40.0, "unclassified": 40.0, "service": 24.0, "footway": 5.0,
}


@pytest.fixture(scope="module")
def progress_log() -> list[tuple[str, float | None]]:
    return []


@pytest.fixture(scope="module")
def city(
    tmp_path_factory: pytest.TempPathFactory, progress_log: list[tuple[str, float | None]]
) -> DemoCity:
    def record(step: str, fraction: float | None = None) -> None:
        progress_log.append((step, fraction))

    return write_demo_city(tmp_path_factory.mktemp("demo_city"), progress=record)


@pytest.fixture(scope="module")
def osm_text(city: DemoCity) -> str:
    return city.osm_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def raw_ways(city: DemoCity) -> list[tuple[dict[str, str], list[int], LineString]]:
    """Every way in the file as (tags, node ids, line in lon/lat)."""
    root = ET.parse(city.osm_path).getroot()
    where = {int(n.get("id", 0)): (float(n.get("lon", 0)), float(n.get("lat", 0)))
             for n in root.iter("node")}
    ways = []
    for way in root.iter("way"):
        ids = [int(nd.get("ref", 0)) for nd in way.iter("nd")]
        tags = {tag.get("k", ""): tag.get("v", "") for tag in way.iter("tag")}
        ways.append((tags, ids, LineString([where[i] for i in ids])))
    return ways


@pytest.fixture(scope="module")
def graph(city: DemoCity) -> nx.MultiDiGraph:
    loaded = ox.graph_from_xml(city.osm_path, simplify=True, retain_all=False)
    strong = ox.truncate.largest_component(loaded, strongly=True)
    return ox.add_edge_travel_times(ox.add_edge_speeds(strong, hwy_speeds=HWY_SPEEDS))


@pytest.fixture(scope="module")
def edges(graph: nx.MultiDiGraph) -> Any:
    return ox.graph_to_gdfs(graph, nodes=False)


def _values(value: object) -> list[object]:
    """osmnx merges differing way tags along a simplified edge into a list."""
    return list(value) if isinstance(value, list) else [value]


def _nearest_node(graph: nx.MultiDiGraph, lon: float, lat: float) -> tuple[int, float]:
    ids = np.array(list(graph.nodes))
    xs = np.array([graph.nodes[n]["x"] for n in ids])
    ys = np.array([graph.nodes[n]["y"] for n in ids])
    metres = _haversine(lon, lat, xs, ys)
    best = int(np.argmin(metres))
    return int(ids[best]), float(metres[best])


def _haversine(lon: float, lat: float, lons: Any, lats: Any) -> Any:
    lon1, lat1, lon2, lat2 = map(np.radians, (lon, lat, lons, lats))
    a = np.sin((lat2 - lat1) / 2) ** 2
    a += np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * np.arcsin(np.sqrt(a))


# --- The OSM file ------------------------------------------------------------------------------


def test_osm_file_is_valid_synthetic_osm_xml(city: DemoCity, osm_text: str) -> None:
    assert city.osm_path.name == "demo_city.osm"
    assert osm_text.startswith(
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<osm version="0.6" generator="heartops demo city (synthetic)">'
    )
    assert re.search(r"<note>[^<]*[Ss]ynthetic[^<]*</note>", osm_text)
    assert "<bounds " in osm_text
    node = re.search(r'<node id="(\d+)" lat="(-?\d+\.\d+)" lon="(-?\d+\.\d+)" version="1"/>',
                     osm_text)
    assert node and int(node.group(1)) > 0
    assert len(node.group(2).split(".")[1]) == 7 and len(node.group(3).split(".")[1]) == 7
    way_count = osm_text.count("<way ")
    assert osm_text.count('<tag k="heartops:synthetic" v="yes"/>') == way_count
    assert 'id="-' not in osm_text and 'ref="-' not in osm_text
    assert city.osm_path.stat().st_size < 20_000_000


def test_ways_are_split_like_real_osm(
    raw_ways: list[tuple[dict[str, str], list[int], LineString]],
) -> None:
    uses = Counter(node for _, ids, _ in raw_ways for node in set(ids))
    junctions_per_way = [sum(uses[node] > 1 for node in set(ids)) for _, ids, _ in raw_ways]
    # Most ways run through several intersections; none is a bare two-node stub of a street.
    assert np.mean(np.asarray(junctions_per_way) >= 3) > 0.5
    assert all(len(ids) >= 2 and all(a != b for a, b in itertools.pairwise(ids))
               for _, ids, _ in raw_ways)


def test_no_way_crosses_the_river_except_bridges(
    raw_ways: list[tuple[dict[str, str], list[int], LineString]],
) -> None:
    river = demo_river_centerline()
    lines = np.asarray([line for _, _, line in raw_ways], dtype=object)
    crossing = np.nonzero(shapely.intersects(lines, river))[0]
    assert len(crossing) >= 4
    assert all(raw_ways[k][0].get("bridge") == "yes" for k in crossing)
    assert {raw_ways[k][0]["highway"] for k in crossing} >= {"motorway", "primary"}


def test_pyosmium_reads_the_file(city: DemoCity, osm_text: str) -> None:
    import osmium

    counts = Counter(
        "node" if obj.is_node() else "way" if obj.is_way() else "other"
        for obj in osmium.FileProcessor(str(city.osm_path))
    )
    assert counts["node"] == osm_text.count("<node ") and counts["way"] == osm_text.count("<way ")
    assert counts["other"] == 0


def test_raw_file_has_a_few_footways_for_the_drive_filter_to_drop(osm_text: str) -> None:
    # graph_from_xml applies no network filter; dropping these is the build pipeline's job.
    assert 1 <= osm_text.count('<tag k="highway" v="footway"/>') <= 20


def test_city_is_placed_at_durham(osm_text: str) -> None:
    bounds = re.search(
        r'<bounds minlat="([\d.-]+)" minlon="([\d.-]+)" maxlat="([\d.-]+)" maxlon="([\d.-]+)"/>',
        osm_text,
    )
    assert bounds
    minlat, minlon, maxlat, maxlon = map(float, bounds.groups())
    lat, lon = DEMO_CENTER
    assert minlat < lat < maxlat and minlon < lon < maxlon
    width_km = _haversine(minlon, lat, maxlon, lat) / 1000
    height_km = _haversine(lon, minlat, lon, maxlat) / 1000
    assert 15.0 < width_km < 17.5 and 13.0 < height_km < 15.5
    assert DEMO_TIMEZONE == "America/New_York"


def test_progress_is_reported(progress_log: list[tuple[str, float | None]], city: DemoCity) -> None:
    assert len(progress_log) >= 3
    fractions = [f for _, f in progress_log if f is not None]
    assert fractions == sorted(fractions) and fractions[0] >= 0.0 and fractions[-1] == 1.0


# --- The road network as osmnx loads it ---------------------------------------------------------


@pytest.mark.slow
def test_graph_is_city_sized_with_all_road_classes(graph: nx.MultiDiGraph, edges: Any) -> None:
    assert len(graph) >= 15_000
    classes = Counter(h for value in edges["highway"] for h in _values(value))
    for highway in ("motorway", "motorway_link", "primary", "secondary", "tertiary",
                    "residential"):
        assert classes[highway] > 0, highway
    assert classes["unclassified"] > 0 and classes["service"] > 0
    assert edges["oneway"].any()
    assert edges["bridge"].notna().any()
    named = edges["name"].notna().mean()
    assert named > 0.95


@pytest.mark.slow
def test_freeway_and_ramps_are_one_way_and_tagged(edges: Any) -> None:
    motorway = edges[edges["highway"] == "motorway"]
    assert len(motorway) >= 6
    assert motorway["oneway"].all()
    assert set(motorway["ref"]) == {"I-885"}
    assert all(set(_values(v)) == {"65 mph"} for v in motorway["maxspeed"])
    ramps = edges[edges["highway"] == "motorway_link"]
    assert len(ramps) >= 8 and ramps["oneway"].all()


@pytest.mark.slow
def test_speed_limits_are_on_some_arterial_ways_only(edges: Any) -> None:
    primary = edges[edges["highway"] == "primary"]
    assert primary["maxspeed"].notna().any() and primary["maxspeed"].isna().any()


@pytest.mark.slow
def test_downtown_has_one_way_pairs(graph: nx.MultiDiGraph, edges: Any) -> None:
    lat, lon = DEMO_CENTER
    starts = shapely.get_point(edges.geometry.values, 0)
    near_centre = _haversine(lon, lat, shapely.get_x(starts), shapely.get_y(starts)) < 1500
    one_way = edges[near_centre & edges["oneway"] & (edges["highway"] != "motorway")]
    one_way_streets = {n for value in one_way["name"].dropna() for n in _values(value)}
    assert len(one_way_streets) >= 4


@pytest.mark.slow
def test_only_bridges_cross_the_river(edges: Any) -> None:
    river = demo_river_centerline()
    crossing = edges[edges.geometry.intersects(river)]
    assert len(crossing) > 0
    assert all("yes" in _values(value) for value in crossing["bridge"])
    # Both directions of a bridge, and both freeway carriageways, are one crossing.
    where = np.sort(np.asarray([
        river.project(geometry.intersection(river).representative_point())
        for geometry in crossing.geometry
    ]))
    distinct = 1 + int((np.diff(where) > 0.003).sum())  # degrees along the river, ~300 m
    assert 3 <= distinct <= 8


@pytest.mark.slow
def test_river_splits_the_city_and_bridges_make_long_detours(graph: nx.MultiDiGraph) -> None:
    river = demo_river_centerline()
    river_lon, river_lat = np.asarray(river.coords).T
    xs = np.array([d["x"] for _, d in graph.nodes(data=True)])
    ys = np.array([d["y"] for _, d in graph.nodes(data=True)])
    north_share = float(np.mean(ys > np.interp(xs, river_lon, river_lat)))
    assert 0.3 < north_share < 0.8  # the strongly connected graph spans both banks

    # Straight across the river about halfway between two bridges (about 2.7 km west of the
    # centre): a few hundred metres as the crow flies, kilometres by road.
    lon = DEMO_CENTER[1] - 2700.0 / (111_320.0 * math.cos(math.radians(DEMO_CENTER[0])))
    lat = float(np.interp(lon, river_lon, river_lat))
    north, _ = _nearest_node(graph, lon, lat + 0.0025)
    south, _ = _nearest_node(graph, lon, lat - 0.0025)
    straight_m = float(_haversine(graph.nodes[north]["x"], graph.nodes[north]["y"],
                                  graph.nodes[south]["x"], graph.nodes[south]["y"]))
    assert straight_m < 900.0
    for origin, destination in ((north, south), (south, north)):
        route = ox.shortest_path(graph, origin, destination, weight="travel_time")
        assert route is not None
        legs = [min(graph[u][v].values(), key=lambda d: d["travel_time"])
                for u, v in itertools.pairwise(route)]
        seconds = sum(d["travel_time"] for d in legs)
        assert any("yes" in _values(d.get("bridge")) for d in legs)
        assert sum(d["length"] for d in legs) > 4 * straight_m
        assert seconds > 4 * straight_m / (40 / 3.6)  # vs driving straight over at 40 km/h


# --- Zones --------------------------------------------------------------------------------------


def test_frames_are_wgs84_and_marked_synthetic(city: DemoCity) -> None:
    for frame in (city.service_area, city.beats, city.districts, city.posts):
        assert frame.crs.to_epsg() == 4326
        assert (frame["source"] == DEMO_SOURCE).all()
        assert "synthetic" in DEMO_SOURCE
    assert len(city.service_area) == 1 and "name" in city.service_area


def test_beats_tile_the_service_area_in_five_districts(city: DemoCity) -> None:
    beats = city.beats.to_crs(UTM)
    assert len(beats) >= 30
    assert beats["beat"].is_unique
    assert set(beats["district"]) == {"D1", "D2", "D3", "D4", "D5"}
    assert all(beat[0] == district[1] for beat, district in zip(beats["beat"], beats["district"],
                                                                 strict=True))
    assert (beats["population"] > 0).all() and beats["population"].dtype.kind == "i"
    union = beats.union_all()
    assert abs(beats.area.sum() - union.area) / union.area < 0.001  # no overlaps
    area = city.service_area.to_crs(UTM).geometry.iloc[0]
    assert union.symmetric_difference(area).area / area.area < 0.001  # no gaps


def test_districts_are_contiguous_dissolved_beats(city: DemoCity) -> None:
    districts = city.districts.to_crs(UTM).set_index("district").sort_index()
    assert list(districts.index) == ["D1", "D2", "D3", "D4", "D5"]
    assert (districts.geometry.geom_type == "Polygon").all()
    beats = city.beats.to_crs(UTM)
    by_district = beats.groupby("district")
    assert (by_district["population"].sum() == districts["population"]).all()
    for name, group in by_district:
        assert abs(group.area.sum() - districts.loc[name].geometry.area) < 1.0


@pytest.mark.slow
def test_posts_sit_by_road_nodes_inside_the_city(city: DemoCity, graph: nx.MultiDiGraph) -> None:
    posts = city.posts
    assert 8 <= len(posts) <= 12
    assert posts["post_id"].is_unique and posts["name"].str.startswith("Post ").all()
    assert set(posts["district"]) == {"D1", "D2", "D3", "D4", "D5"}
    area = city.service_area.geometry.iloc[0]
    assert posts.within(area).all()
    river = demo_river_centerline()
    for point in posts.geometry:
        _, metres = _nearest_node(graph, point.x, point.y)
        assert metres < 100.0
        assert shapely.distance(point, river) > 0.001  # ~100 m: on land, not in the river


# --- Determinism ----------------------------------------------------------------------------------

_HASH_SCRIPT = textwrap.dedent("""
    import hashlib, sys
    from pathlib import Path
    from heartops.routing.demo_city import write_demo_city
    city = write_demo_city(Path(sys.argv[1]), seed=int(sys.argv[2]))
    print(hashlib.sha256(city.osm_path.read_bytes()).hexdigest())
    print(hashlib.sha256(b"".join(g.wkb for g in city.beats.geometry)).hexdigest())
""")


def _hashes(city: DemoCity) -> tuple[str, str]:
    return (
        hashlib.sha256(city.osm_path.read_bytes()).hexdigest(),
        hashlib.sha256(b"".join(g.wkb for g in city.beats.geometry)).hexdigest(),
    )


@pytest.mark.slow
def test_same_seed_gives_identical_output_across_processes(
    city: DemoCity, tmp_path: Path
) -> None:
    runs = []
    for hash_seed, seed in (("1", DEMO_SEED), ("4242", DEMO_SEED), ("7", 7)):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = tmp_path / f"{hash_seed}-{seed}"
        runs.append(subprocess.Popen(
            [sys.executable, "-c", _HASH_SCRIPT, str(out), str(seed)],
            env=env, stdout=subprocess.PIPE, text=True,
        ))
    results = []
    for run in runs:
        stdout, _ = run.communicate(timeout=120)
        assert run.returncode == 0
        results.append(tuple(stdout.split()))
    assert results[0] == results[1] == _hashes(city)
    assert results[2][0] != results[0][0]


def test_river_centerline_crosses_the_city(city: DemoCity) -> None:
    river = demo_river_centerline()
    assert isinstance(river, LineString)
    bounds = city.service_area.total_bounds
    assert river.bounds[0] < bounds[0] and river.bounds[2] > bounds[2]
