"""The drive-time engine: snapping, ETAs to a call, routes, isochrones and coverage.

One reverse single-source Dijkstra from the call (on the transposed CSR graph) gives every
unit's drive time to it at once; the naive way, one shortest path per unit, is about a
thousand times slower (see ``benchmarks/routing.py``). Points are snapped to the nearest road
node with a KD-tree on projected coordinates.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from heartops.core.errors import SnapError
from heartops.core.geo import GeoPoint
from heartops.core.ports import Eta
from heartops.routing.network import RoadNetwork

DEFAULT_MAX_SNAP_M = 500.0
ISOCHRONE_CELL_M = 75.0
_KEY_SPAN = 1 << 32  # cell keys ix * span + iy; projected metres / cell size fit easily
_NEIGHBOUR_KEYS = np.array([dx * _KEY_SPAN + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)],
                           dtype=np.int64)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Snap:
    """A point snapped to its nearest road node."""

    node: int
    distance_m: float


@dataclass(frozen=True)
class Route:
    """A drive between two points."""

    seconds: float
    meters: float
    nodes: IntArray
    lon: FloatArray
    lat: FloatArray


@dataclass(frozen=True)
class Cover:
    """For every road node, the nearest post by drive time within a limit.

    Attributes
    ----------
    post
        Index into the posts given, ``-1`` where no post reaches the node within the limit.
    seconds
        Drive time from that post, ``inf`` where uncovered.
    """

    post: npt.NDArray[np.int64]
    seconds: FloatArray

    @property
    def covered(self) -> npt.NDArray[np.bool_]:
        """Mask of the nodes some post reaches within the limit."""
        return self.post >= 0


class TravelTimeEngine:
    """Drive times over one :class:`RoadNetwork`.

    Parameters
    ----------
    network
        The compiled network.
    max_snap_m
        Points farther than this from every road node are refused (:class:`SnapError`).
    """

    def __init__(self, network: RoadNetwork, *, max_snap_m: float = DEFAULT_MAX_SNAP_M) -> None:
        self.network = network
        self.max_snap_m = max_snap_m
        n = network.node_count
        self._forward = csr_matrix(
            (network.fwd_time, network.fwd_indices, network.fwd_indptr), shape=(n, n)
        )
        self._reverse = csr_matrix(
            (network.fwd_time[network.rev_edge], network.rev_indices, network.rev_indptr),
            shape=(n, n),
        )
        # Sorted (tail, head) keys find the edge of any node pair with one searchsorted.
        self._edge_keys = network.edge_tail * n + network.fwd_indices
        self._tree = cKDTree(np.column_stack([network.node_x, network.node_y]))
        # pyproj transformers must not be shared between threads (it can crash); the engine
        # is called from worker threads, so each thread makes its own.
        self._per_thread = threading.local()

    def _transformers(self) -> tuple[pyproj.Transformer, pyproj.Transformer]:
        """Return the calling thread's (lon/lat to x/y, x/y to lon/lat) transformers."""
        pair: tuple[pyproj.Transformer, pyproj.Transformer] | None = getattr(
            self._per_thread, "pair", None)
        if pair is None:
            crs = self.network.crs
            pair = (pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True),
                    pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True))
            self._per_thread.pair = pair
        return pair

    # -- snapping ---------------------------------------------------------------------------

    def snap_many(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
        """Snap many points at once; returns node indices and snap distances in metres.

        Points beyond ``max_snap_m`` are not refused here; callers compare the distances.
        """
        x, y = self._transformers()[0].transform(np.asarray(lon, dtype=float),
                                                 np.asarray(lat, dtype=float))
        distances, nodes = self._tree.query(np.column_stack([np.atleast_1d(x), np.atleast_1d(y)]))
        return np.asarray(nodes, dtype=np.int64), np.asarray(distances, dtype=np.float64)

    def snap(self, point: GeoPoint, *, what: str = "point") -> Snap:
        """Snap one point, refusing it if it is too far from any road.

        Raises
        ------
        SnapError
            When the nearest road node is farther than ``max_snap_m``.
        """
        nodes, distances = self.snap_many([point.lat], [point.lon])
        if distances[0] > self.max_snap_m:
            raise SnapError(
                f"{what} at ({point.lat:.6f}, {point.lon:.6f}) is {distances[0]:,.0f} m from the "
                f"nearest road of network {self.network.name!r} (limit {self.max_snap_m:,.0f} m)"
            )
        return Snap(int(nodes[0]), float(distances[0]))

    # -- drive times ------------------------------------------------------------------------

    def times_to(self, node: int) -> tuple[FloatArray, IntArray]:
        """Drive time from every node to ``node`` and the next hop toward it (reverse search)."""
        times, next_hop = dijkstra(self._reverse, indices=node, return_predecessors=True)
        return times, next_hop

    def times_from(self, node: int, *, limit_s: float = math.inf) -> tuple[FloatArray, IntArray]:
        """Drive time from ``node`` to every node (``inf`` beyond ``limit_s``) and predecessors."""
        times, previous = dijkstra(
            self._forward, indices=node, return_predecessors=True, limit=limit_s
        )
        return times, previous

    def etas_to(
        self, call: GeoPoint, units: Mapping[str, GeoPoint], *, with_meters: bool = True
    ) -> dict[str, Eta]:
        """Return every unit's drive time and distance to ``call`` from ONE reverse search.

        Parameters
        ----------
        call
            Where the call is.
        units
            Unit positions by unit id.
        with_meters
            Also measure each drive's length (walks every path; about as long as the search
            itself). Without it ``Eta.meters`` is ``nan``.

        Raises
        ------
        SnapError
            When the call itself is too far from any road. A unit that is too far gets an
            unreachable :class:`Eta` with a note instead, so one bad fix does not hide the rest.
        """
        target = self.snap(call, what="call").node
        unit_ids = list(units)
        if not unit_ids:
            return {}
        nodes, snap_m = self.snap_many([units[u].lat for u in unit_ids],
                                       [units[u].lon for u in unit_ids])
        times, next_hop = self.times_to(target)
        if with_meters:
            meters = self._path_lengths(nodes, next_hop, target)
        else:
            meters = np.full(len(unit_ids), math.nan)
        etas = {}
        for i, unit_id in enumerate(unit_ids):
            if snap_m[i] > self.max_snap_m:
                etas[unit_id] = Eta(unit_id, math.inf, math.inf, float(snap_m[i]),
                                    note=f"position {snap_m[i]:,.0f} m from any road")
            elif not math.isfinite(times[nodes[i]]):
                etas[unit_id] = Eta(unit_id, math.inf, math.inf, float(snap_m[i]),
                                    note="no road route to the call")
            else:
                etas[unit_id] = Eta(unit_id, float(times[nodes[i]]), float(meters[i]),
                                    float(snap_m[i]))
        return etas

    def _path_lengths(self, starts: IntArray, next_hop: IntArray, target: int) -> FloatArray:
        """Length of each start's path along ``next_hop`` to ``target``, all walked together."""
        current = starts.copy()
        total = np.zeros(len(starts))
        alive = (current != target) & (next_hop[current] >= 0)
        total[~alive & (current != target)] = math.inf
        n = self.network.node_count
        while alive.any():
            here = current[alive]
            there = next_hop[here]
            edges = np.searchsorted(self._edge_keys, here * n + there)
            total[alive] += self.network.fwd_length[edges]
            current[alive] = there
            alive = current != target
        return total

    def route(self, origin: GeoPoint, destination: GeoPoint) -> Route:
        """Return the fastest drive from ``origin`` to ``destination`` with its geometry."""
        start = self.snap(origin, what="origin").node
        end = self.snap(destination, what="destination").node
        times, previous = self.times_from(start)
        if not math.isfinite(times[end]):
            raise SnapError(f"no road route from ({origin.lat}, {origin.lon}) "
                            f"to ({destination.lat}, {destination.lon})")
        path = [end]
        while path[-1] != start:
            path.append(int(previous[path[-1]]))
        nodes = np.array(path[::-1], dtype=np.int64)
        return self.route_along(nodes, seconds=float(times[end]))

    def route_along(self, nodes: IntArray, *, seconds: float) -> Route:
        """Assemble the geometry and length of a drive along consecutive ``nodes``."""
        n = self.network.node_count
        edges = np.searchsorted(self._edge_keys, nodes[:-1] * n + nodes[1:])
        lon_runs = [self.network.node_lon[nodes[:1]]]
        lat_runs = [self.network.node_lat[nodes[:1]]]
        for edge in edges:
            lon, lat = self.network.edge_coords(int(edge))
            lon_runs.append(lon[1:])
            lat_runs.append(lat[1:])
        return Route(seconds=seconds, meters=float(self.network.fwd_length[edges].sum()),
                     nodes=nodes, lon=np.concatenate(lon_runs), lat=np.concatenate(lat_runs))

    # -- areas ------------------------------------------------------------------------------

    def isochrone(self, point: GeoPoint, minutes: float) -> shapely.Geometry:
        """Return the area reachable from ``point`` within ``minutes`` as a lon/lat polygon.

        Reached road segments are sampled onto a grid of ``ISOCHRONE_CELL_M`` cells, grown by
        one cell and merged, so the polygon follows the roads (it does not jump a river between
        bridges) and costs milliseconds; buffering thousands of segments would cost seconds.
        """
        start = self.snap(point, what="isochrone origin").node
        times, _ = self.times_from(start, limit_s=minutes * 60.0)
        reached = np.isfinite(times)
        tails, heads = self.network.edge_tail, self.network.fwd_indices
        both = reached[tails] & reached[heads]
        x, y = self.network.node_x, self.network.node_y
        cells = _cells_along(x[tails[both]], y[tails[both]], x[heads[both]], y[heads[both]],
                             x0_origin=float(x[start]), y0_origin=float(y[start]))
        size = ISOCHRONE_CELL_M
        boxes = shapely.box(cells[:, 0] * size, cells[:, 1] * size,
                            (cells[:, 0] + 1) * size, (cells[:, 1] + 1) * size)
        area = shapely.simplify(shapely.coverage_union_all(boxes), size / 4)
        return shapely.transform(area, self._xy_to_lonlat)

    def _xy_to_lonlat(self, coords: FloatArray) -> FloatArray:
        lon, lat = self._transformers()[1].transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    def nearest_cover(self, posts: Sequence[GeoPoint], minutes: float) -> Cover:
        """For every node, the post with the shortest drive to it, within ``minutes``.

        One multi-source Dijkstra (``min_only``) from all posts at once.
        """
        if not posts:
            n = self.network.node_count
            return Cover(np.full(n, -1, dtype=np.int64), np.full(n, math.inf))
        post_nodes = [self.snap(p, what=f"post {i + 1}").node for i, p in enumerate(posts)]
        times, _, sources = dijkstra(self._forward, indices=post_nodes, min_only=True,
                                     limit=minutes * 60.0, return_predecessors=True)
        node_to_post = {node: i for i, node in reversed(list(enumerate(post_nodes)))}
        lookup = np.full(self.network.node_count, -1, dtype=np.int64)
        for node, i in node_to_post.items():
            lookup[node] = i
        post = np.where(sources >= 0, lookup[np.maximum(sources, 0)], -1)
        return Cover(post=post.astype(np.int64), seconds=np.asarray(times, dtype=np.float64))



def _cells_along(
    x0: FloatArray, y0: FloatArray, x1: FloatArray, y1: FloatArray, *, x0_origin: float,
    y0_origin: float,
) -> IntArray:
    """Grid cells (ix, iy) touched by straight segments, grown by one cell all round."""
    size = ISOCHRONE_CELL_M
    steps = np.maximum(1, np.ceil(np.hypot(x1 - x0, y1 - y0) / (size / 2))).astype(np.int64)
    segment = np.repeat(np.arange(steps.size), steps + 1)
    first = np.repeat(np.concatenate([[0], np.cumsum(steps + 1)[:-1]]), steps + 1)
    fraction = (np.arange(segment.size) - first) / steps[segment]
    px = np.concatenate([x0[segment] + (x1 - x0)[segment] * fraction, [x0_origin]])
    py = np.concatenate([y0[segment] + (y1 - y0)[segment] * fraction, [y0_origin]])
    # Unique on one int64 key per cell is far faster than np.unique(axis=0) on pairs.
    ix = np.floor(px / size).astype(np.int64)
    iy = np.floor(py / size).astype(np.int64)
    keys = np.unique(ix * _KEY_SPAN + iy)
    grown = np.unique((keys[:, None] + _NEIGHBOUR_KEYS[None, :]).ravel())
    return np.column_stack([np.floor_divide(grown + _KEY_SPAN // 2, _KEY_SPAN),
                            (grown + _KEY_SPAN // 2) % _KEY_SPAN - _KEY_SPAN // 2])
