"""Build a road network from OSM: place name, ``.osm``/``.osm.bz2``/``.osm.pbf``, or GraphML.

Every source goes through one pipeline: keep drivable roads (osmnx's own ``drive`` filter; a
GraphML file is taken as the road graph its producer chose), simplify, keep the largest
strongly connected component, make list attributes canonical (osmnx merges tags of simplified
edges through sets, so their order, and with it the speed of merged edges, would otherwise
change with ``PYTHONHASHSEED``), add speeds and travel times, compile to
:class:`~heartops.routing.network.RoadNetwork` and write the cache atomically.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import tempfile
import time
import urllib.parse
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pyproj

from heartops import __version__
from heartops.core.errors import InputFileError, NetworkError
from heartops.core.progress import Progress, no_progress
from heartops.routing.network import RoadNetwork, check_network_name, network_path
from heartops.routing.roads import (
    MPH_TO_KPH,
    UNKNOWN_HIGHWAY,
    SpeedRule,
    WayFilter,
    highway_type,
    us_default_speeds_kph,
)

log = logging.getLogger(__name__)

OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")
GRAPHML_SUFFIXES = (".graphml",)
ONLINE_CHECK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class BuildResult:
    """What a build produced."""

    network: RoadNetwork
    path: Path
    seconds: float


def drive_filter() -> WayFilter:
    """Return osmnx's ``drive`` network filter as a local tag filter."""
    return WayFilter.parse(ox._overpass._get_network_filter("drive"))


def default_name(source: str) -> str:
    """Return the cache name a source gets when ``--name`` is not given."""
    path = Path(source)
    if _suffix_of(path) is not None:
        stem = path.name[: -len(_suffix_of(path) or "")]
        return _slug(stem)
    return _slug(source.split(",")[0])


def build_network(
    source: str,
    *,
    name: str | None = None,
    speed_rule: SpeedRule = SpeedRule.US_DEFAULT,
    extra_meta: Mapping[str, Any] | None = None,
    progress: Progress = no_progress,
) -> BuildResult:
    """Build a network from ``source`` and write it to the cache.

    Parameters
    ----------
    source
        A path to an OSM or GraphML file, or a place name (needs the internet). The demo
        city is built by :func:`heartops.routing.demo_setup.build_demo`.
    name
        Cache name; defaults to :func:`default_name`.
    speed_rule
        How untagged roads get speeds (see :mod:`heartops.routing.roads`).
    extra_meta
        Facts to record in the cache beside the build's own (e.g. ``synthetic``).
    progress
        Receives the steps of the build.

    Returns
    -------
    BuildResult
        The compiled network, its cache path and the build time.
    """
    started = time.perf_counter()
    name = check_network_name(name or default_name(source))
    graph, source_meta = load_graph(source, progress=progress)
    progress("adding speeds and travel times")
    add_travel_times(graph, speed_rule)
    progress("compiling arrays")
    meta = dict(source_meta, speed_rule=speed_rule.value, **(extra_meta or {}))
    network = compile_network(graph, name=name, meta=meta)
    seconds = time.perf_counter() - started
    network.meta["build_seconds"] = round(seconds, 3)
    path = network_path(name)
    progress(f"writing {path.name}")
    network.save(path)
    return BuildResult(network=network, path=path, seconds=seconds)


def load_graph(
    source: str, *, progress: Progress = no_progress
) -> tuple[nx.MultiDiGraph, dict[str, Any]]:
    """Load the drivable, strongly connected, simplified graph of ``source``.

    Returns
    -------
    graph, meta
        An osmnx graph (lon/lat, no speeds yet) and facts about the source for the cache.
    """
    path = Path(source)
    suffix = _suffix_of(path)
    if suffix is None and (path.exists() or "/" in source or path.suffix):
        raise InputFileError(
            f"{source}: unsupported file type; use .osm, .osm.bz2, .osm.pbf or .graphml"
        )
    if suffix is None:
        return _load_place(source, progress), {"source": source, "source_kind": "place"}
    if not path.is_file():
        raise InputFileError(f"{source}: no such file")
    if suffix in GRAPHML_SUFFIXES:
        graph = _load_graphml(path, progress)
    else:
        graph = _load_osm_file(path, progress)
    return graph, {"source": path.name, "source_kind": "file"}


def _suffix_of(path: Path) -> str | None:
    lowered = path.name.lower()
    for suffix in (*OSM_SUFFIXES, *GRAPHML_SUFFIXES):
        if lowered.endswith(suffix):
            return suffix
    return None


def _slug(text: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text.strip().lower())
    return cleaned.strip("-.") or "network"


def _load_place(place: str, progress: Progress) -> nx.MultiDiGraph:
    _require_online(place)
    progress(f"downloading the drivable roads of {place!r} from OpenStreetMap")
    try:
        graph = ox.graph_from_place(place, network_type="drive", simplify=True, retain_all=False)
    except (ValueError, ox._errors.InsufficientResponseError) as exc:
        raise NetworkError(f"cannot build a network for place {place!r}: {exc}") from exc
    return _finish_graph(graph, place, progress)


def _require_online(place: str) -> None:
    host = urllib.parse.urlparse(ox.settings.nominatim_url).hostname or ""
    try:
        socket.create_connection((host, 443), timeout=ONLINE_CHECK_TIMEOUT_S).close()
    except OSError as exc:
        raise NetworkError(
            f"cannot download {place!r}: OpenStreetMap is unreachable from here ({exc}); "
            "offline, build from a file instead: heartops network build FILE.osm.pbf"
        ) from None


def _load_osm_file(path: Path, progress: Progress) -> nx.MultiDiGraph:
    with tempfile.TemporaryDirectory(prefix="heartops-osm-") as tmp:
        drivable = Path(tmp) / "drivable.osm"
        progress(f"reading {path.name} and keeping drivable roads")
        ways = _write_drivable_extract(path, drivable)
        if ways == 0:
            raise InputFileError(f"{path}: no drivable roads in this file")
        progress(f"building the graph from {ways:,} drivable ways")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # osmnx warns about XML files in general
            try:
                graph = ox.graph_from_xml(drivable, simplify=False, retain_all=False)
            except (ValueError, ox._errors.InsufficientResponseError) as exc:
                raise InputFileError(f"{path}: no usable road network ({exc})") from exc
    progress("simplifying the graph")
    graph = ox.simplify_graph(graph)
    return _finish_graph(graph, str(path), progress)


def _write_drivable_extract(source: Path, target: Path) -> int:
    """Copy the drivable ways of ``source`` and their nodes to ``target`` (OSM XML).

    Two passes with pyosmium, which reads XML, bz2/gz and PBF alike. Returns the way count.
    """
    keep = drive_filter()
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    needed: set[int] = set()
    try:
        for way in osmium.FileProcessor(str(source), osmium.osm.WAY):
            if not isinstance(way, osmium.osm.Way):
                continue
            tags = {tag.k: tag.v for tag in way.tags}
            if keep.accepts(tags):
                refs = [node.ref for node in way.nodes]
                ways.append((way.id, refs, tags))
                needed.update(refs)
        if not ways:
            return 0
        with osmium.SimpleWriter(str(target), overwrite=True) as writer:
            for node in osmium.FileProcessor(str(source), osmium.osm.NODE):
                if node.id in needed:
                    writer.add_node(node)
            for way_id, refs, tags in ways:
                writer.add_way(osmium.osm.mutable.Way(id=way_id, nodes=refs, tags=tags))
    except RuntimeError as exc:
        raise InputFileError(f"{source}: not a readable OSM file ({_one_line(exc)})") from exc
    return len(ways)


def _load_graphml(path: Path, progress: Progress) -> nx.MultiDiGraph:
    progress(f"reading {path.name}")
    try:
        graph = ox.load_graphml(path)
    except Exception as exc:  # lxml, networkx and osmnx each raise their own types here
        raise InputFileError(f"{path}: not a readable osmnx GraphML file ({_one_line(exc)})") \
            from exc
    # A GraphML file is a graph its producer already filtered (e.g. with an older osmnx whose
    # "drive" network still held service roads); re-filtering would change its routes.
    return _finish_graph(graph, str(path), progress)


def _as_list(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _finish_graph(graph: nx.MultiDiGraph, where: str, progress: Progress) -> nx.MultiDiGraph:
    if graph.number_of_edges() == 0:
        raise InputFileError(f"{where}: no drivable roads in this file")
    progress("keeping the largest strongly connected component")
    graph = ox.truncate.largest_component(graph, strongly=True)
    if graph.number_of_edges() == 0:
        raise InputFileError(f"{where}: no drivable roads that connect both ways")
    canonicalise_lists(graph)
    return graph


def canonicalise_lists(graph: nx.MultiDiGraph) -> None:
    """Sort every list-valued edge attribute so that builds are reproducible.

    ``highway`` lists are ordered most important class first, because osmnx takes a merged
    edge's class (and so its default speed) from the list's first element.
    """
    for _, _, data in graph.edges(data=True):
        for key, value in data.items():
            if not isinstance(value, list):
                continue
            if key == "highway":
                data[key] = sorted(value, key=lambda hwy: (highway_type(str(hwy)).rank, str(hwy)))
            else:
                data[key] = sorted(value, key=str)


def add_travel_times(graph: nx.MultiDiGraph, speed_rule: SpeedRule) -> None:
    """Add ``speed_kph`` and ``travel_time`` (seconds) to every edge, in place."""
    if speed_rule is SpeedRule.US_DEFAULT:
        ox.add_edge_speeds(graph, hwy_speeds=us_default_speeds_kph(),
                           fallback=UNKNOWN_HIGHWAY.default_mph * MPH_TO_KPH)
    else:
        try:
            ox.add_edge_speeds(graph)
        except ValueError:
            # osmnx refuses a graph without a single maxspeed tag; fall back to the table
            ox.add_edge_speeds(graph, hwy_speeds=us_default_speeds_kph())
    ox.add_edge_travel_times(graph)


def compile_network(graph: nx.MultiDiGraph, *, name: str, meta: dict[str, Any]) -> RoadNetwork:
    """Turn an osmnx graph with travel times into flat arrays (parallel edges collapsed)."""
    osmids = np.array(sorted(graph.nodes), dtype=np.int64)
    index = {int(osmid): i for i, osmid in enumerate(osmids)}
    lon = np.array([graph.nodes[int(n)]["x"] for n in osmids], dtype=np.float64)
    lat = np.array([graph.nodes[int(n)]["y"] for n in osmids], dtype=np.float64)
    crs = utm_crs(float(lat.mean()), float(lon.mean()))
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)

    fastest: dict[tuple[int, int], dict[str, Any]] = {}
    for u, v, data in graph.edges(data=True):
        key = (index[int(u)], index[int(v)])
        if key not in fastest or data["travel_time"] < fastest[key]["travel_time"]:
            fastest[key] = data
    pairs = sorted(fastest)
    tails = np.array([p[0] for p in pairs], dtype=np.int64)
    heads = np.array([p[1] for p in pairs], dtype=np.int64)
    edges = [fastest[p] for p in pairs]

    names, name_ids = _street_name_table(edges)
    geom_lon, geom_lat, offsets = _edge_geometries(pairs, edges, lon, lat)
    fwd_indptr = np.searchsorted(tails, np.arange(len(osmids) + 1)).astype(np.int64)
    order = np.lexsort((tails, heads))  # reverse CSR: rows are heads
    rev_indptr = np.searchsorted(heads[order], np.arange(len(osmids) + 1)).astype(np.int64)

    bbox = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]
    full_meta = dict(
        meta,
        crs=crs,
        bbox=bbox,
        nodes=len(osmids),
        edges=len(pairs),
        built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        heartops_version=__version__,
    )
    return RoadNetwork(
        name=name,
        meta=full_meta,
        node_osmid=osmids,
        node_lat=lat,
        node_lon=lon,
        node_x=np.asarray(x, dtype=np.float64),
        node_y=np.asarray(y, dtype=np.float64),
        fwd_indptr=fwd_indptr,
        fwd_indices=heads,
        fwd_time=np.array([e["travel_time"] for e in edges], dtype=np.float64),
        fwd_length=np.array([e["length"] for e in edges], dtype=np.float64),
        fwd_class=np.array([_road_class(e) for e in edges], dtype=np.int8),
        fwd_name=name_ids,
        rev_indptr=rev_indptr,
        rev_indices=tails[order],
        rev_edge=order.astype(np.int64),
        geom_offsets=offsets,
        geom_lon=geom_lon,
        geom_lat=geom_lat,
        street_names=names,
    )


def utm_crs(lat: float, lon: float) -> str:
    """Return the EPSG code of the UTM zone containing a point (e.g. ``EPSG:32617``)."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def _road_class(data: dict[str, Any]) -> int:
    types = [highway_type(h) for h in _as_list(data.get("highway", ""))]
    return int(min(types, key=lambda t: t.rank).road_class)


def _street_name_table(edges: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    labels = [" / ".join(_as_list(e["name"])) if e.get("name") else "" for e in edges]
    names = sorted(set(labels))
    lookup = {label: i for i, label in enumerate(names)}
    return np.array(names, dtype=np.str_), np.array([lookup[x] for x in labels], dtype=np.int64)


def _edge_geometries(
    pairs: Iterable[tuple[int, int]],
    edges: list[dict[str, Any]],
    lon: np.ndarray,
    lat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    runs_lon: list[np.ndarray] = []
    runs_lat: list[np.ndarray] = []
    for (u, v), data in zip(pairs, edges, strict=True):
        geometry = data.get("geometry")
        if geometry is not None:
            coords = np.asarray(geometry.coords, dtype=np.float64)
            runs_lon.append(coords[:, 0])
            runs_lat.append(coords[:, 1])
        else:
            runs_lon.append(np.array([lon[u], lon[v]]))
            runs_lat.append(np.array([lat[u], lat[v]]))
    lengths = np.array([len(run) for run in runs_lon], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return np.concatenate(runs_lon), np.concatenate(runs_lat), offsets


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
