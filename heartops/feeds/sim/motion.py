"""Driving on the road network: cached search trees, legs, and positions along them.

History mode needs only *times*: the drive to a call is the ETA the dispatch already computed
(one reverse search per call), and drives to posts and transport destinations come from one
cached reverse search per post or destination (``RoadCache.tree_to``), reused all year. A
unit's node is needed mid-drive only when it is dispatched on its way back to its post; then
the path is walked from the cached tree.

Live mode also needs *geometry*: a :class:`Leg` builds its :class:`Track` (the edges' vertex
runs, each vertex stamped with a free-flow time) on first use, and :meth:`Leg.sample` gives
the interpolated position, speed and heading at any instant. Geometry never feeds back into
the simulation, so live and history runs produce the same domain events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from heartops.core.geo import EARTH_RADIUS_M, GeoPoint
from heartops.routing.engine import TravelTimeEngine

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Path:
    """Consecutive road nodes and the free-flow seconds from the first to each."""

    nodes: IntArray
    seconds: FloatArray

    @property
    def total(self) -> float:
        """Free-flow seconds from the first node to the last."""
        return float(self.seconds[-1])


@dataclass(frozen=True)
class Track:
    """A path's geometry: its vertices, each with the free-flow seconds to reach it."""

    lon: FloatArray
    lat: FloatArray
    seconds: FloatArray


@dataclass(frozen=True, slots=True)
class Sample:
    """A position on a leg at one instant."""

    point: GeoPoint
    speed_mps: float
    heading_deg: float | None


class RoadCache:
    """Search trees and geometry over one engine's network, computed once and reused.

    Parameters
    ----------
    engine
        The drive-time engine.
    """

    def __init__(self, engine: TravelTimeEngine) -> None:
        self.engine = engine
        self.network = engine.network
        n = self.network.node_count
        keys = self.network.edge_tail * n + self.network.fwd_indices
        self._order: IntArray | None = None
        if np.any(np.diff(keys) <= 0):
            self._order = np.argsort(keys, kind="stable").astype(np.int64)
            keys = keys[self._order]
        self._keys = keys
        self._trees: dict[int, tuple[FloatArray, IntArray]] = {}

    def point(self, node: int) -> GeoPoint:
        """Return the coordinates of ``node``."""
        return GeoPoint(float(self.network.node_lat[node]), float(self.network.node_lon[node]))

    def tree_to(self, target: int) -> tuple[FloatArray, IntArray]:
        """Return (free-flow seconds to ``target``, next hop toward it) for every node.

        Cached: call it only for the few fixed targets (posts, destinations).
        """
        tree = self._trees.get(target)
        if tree is None:
            times, next_hop = self.engine.times_to(target)
            tree = (np.asarray(times, dtype=np.float64), np.asarray(next_hop, dtype=np.int64))
            self._trees[target] = tree
        return tree

    def seconds_to(self, origin: int, target: int) -> float:
        """Free-flow seconds from ``origin`` to the cached target ``target`` (may be inf)."""
        return float(self.tree_to(target)[0][origin])

    def path_to(self, origin: int, target: int) -> Path:
        """Return the path from ``origin`` to the cached target ``target``, walked on its tree.

        Raises
        ------
        ValueError
            If ``target`` cannot be reached from ``origin``.
        """
        times, next_hop = self.tree_to(target)
        if not math.isfinite(times[origin]):
            raise ValueError(f"node {target} cannot be reached from node {origin}")
        nodes = [origin]
        while nodes[-1] != target:
            nodes.append(int(next_hop[nodes[-1]]))
        array = np.array(nodes, dtype=np.int64)
        return Path(array, times[origin] - times[array])

    def path_from(self, origin: int, target: int) -> Path:
        """Return the fastest path from ``origin`` to any ``target`` (one forward search)."""
        times, previous = self.engine.times_from(origin)
        if not math.isfinite(times[target]):
            raise ValueError(f"node {target} cannot be reached from node {origin}")
        nodes = [target]
        while nodes[-1] != origin:
            nodes.append(int(previous[nodes[-1]]))
        array = np.array(nodes[::-1], dtype=np.int64)
        return Path(array, np.asarray(times, dtype=np.float64)[array])

    def track(self, path: Path) -> Track:
        """Return the geometry of ``path``, each vertex stamped with its free-flow seconds.

        An edge's time is spread over its vertices in proportion to length, so the speed along
        an edge is the edge's own speed.
        """
        network = self.network
        lon_runs = [network.node_lon[path.nodes[:1]]]
        lat_runs = [network.node_lat[path.nodes[:1]]]
        time_runs = [path.seconds[:1]]
        for i in range(path.nodes.size - 1):
            lon, lat = network.edge_coords(self._edge(int(path.nodes[i]), int(path.nodes[i + 1])))
            lengths = _segment_lengths(lon, lat)
            total = lengths.sum()
            share = np.cumsum(lengths) / total if total > 0 else \
                np.linspace(1.0 / lengths.size, 1.0, lengths.size)
            start, end = path.seconds[i], path.seconds[i + 1]
            lon_runs.append(lon[1:])
            lat_runs.append(lat[1:])
            time_runs.append(start + (end - start) * share)
        return Track(np.concatenate(lon_runs), np.concatenate(lat_runs),
                     np.concatenate(time_runs))

    def _edge(self, tail: int, head: int) -> int:
        key = tail * self.network.node_count + head
        index = int(np.searchsorted(self._keys, key))
        if index >= self._keys.size or self._keys[index] != key:
            raise ValueError(f"no road from node {tail} to node {head}")
        return index if self._order is None else int(self._order[index])


class Leg:
    """One drive of one unit, from ``start`` to ``end`` simulated seconds.

    The free-flow path is stretched uniformly over the leg's duration (the traffic factor).
    The path is computed on first need: history mode needs it only when a unit driving back to
    its post is dispatched, live mode for every fix.

    Parameters
    ----------
    origin, target
        Road nodes.
    start, end
        Simulated seconds.
    cache
        The road cache.
    via_tree
        Whether ``target`` has a cached tree (posts, destinations); otherwise the path comes
        from a forward search from ``origin``.
    path
        The path, when the caller already has it.
    """

    def __init__(self, origin: int, target: int, start: float, end: float, cache: RoadCache, *,
                 via_tree: bool, path: Path | None = None) -> None:
        self.origin = origin
        self.target = target
        self.start = start
        self.end = end
        self._cache = cache
        self._via_tree = via_tree
        self._path = path
        self._track: Track | None = None

    @property
    def moving(self) -> bool:
        """Whether the leg covers any distance."""
        return self.end > self.start and self.origin != self.target

    def active(self, t: float) -> bool:
        """Whether the unit is driving this leg at ``t``."""
        return self.moving and self.start <= t < self.end

    @property
    def path(self) -> Path:
        """The free-flow path (computed once)."""
        if self._path is None:
            self._path = (self._cache.path_to(self.origin, self.target) if self._via_tree
                          else self._cache.path_from(self.origin, self.target))
        return self._path

    def _scale(self) -> float:
        total = self.path.total
        return (self.end - self.start) / total if total > 0 else 1.0

    def next_node(self, t: float) -> tuple[int, float]:
        """Return the first node reached at or after ``t``, and when it is reached."""
        if t >= self.end or not self.moving:
            return self.target, max(self.end, t)
        path = self.path
        reached = self.start + path.seconds * self._scale()
        index = min(int(np.searchsorted(reached, t, side="left")), path.nodes.size - 1)
        return int(path.nodes[index]), float(reached[index])

    def cut_at(self, t: float) -> Leg:
        """Return this leg ending at the first node reached at or after ``t``."""
        node, when = self.next_node(t)
        if node == self.target:
            return self
        path = self.path
        index = int(np.flatnonzero(path.nodes == node)[0])
        prefix = Path(path.nodes[:index + 1], path.seconds[:index + 1])
        return Leg(self.origin, node, self.start, when, self._cache, via_tree=False, path=prefix)

    def sample(self, t: float) -> Sample:
        """Return the interpolated position, speed and heading at ``t`` (clamped to the leg)."""
        if self._track is None:
            self._track = self._cache.track(self.path)
        track = self._track
        scale = self._scale()
        free = min(max((t - self.start) / scale, 0.0), float(track.seconds[-1]))
        last = track.seconds.size - 1
        i = min(max(int(np.searchsorted(track.seconds, free, side="right")) - 1, 0), last - 1) \
            if last > 0 else 0
        if last == 0:
            return Sample(GeoPoint(float(track.lat[0]), float(track.lon[0])), 0.0, None)
        t0, t1 = float(track.seconds[i]), float(track.seconds[i + 1])
        f = (free - t0) / (t1 - t0) if t1 > t0 else 1.0
        lat = float(track.lat[i] + f * (track.lat[i + 1] - track.lat[i]))
        lon = float(track.lon[i] + f * (track.lon[i + 1] - track.lon[i]))
        length = float(_segment_lengths(track.lon[i:i + 2], track.lat[i:i + 2])[0])
        speed = length / ((t1 - t0) * scale) if t1 > t0 else 0.0
        heading = _bearing(float(track.lat[i]), float(track.lon[i]), float(track.lat[i + 1]),
                           float(track.lon[i + 1])) if length > 0 else None
        return Sample(GeoPoint(lat, lon), speed, heading)


def _segment_lengths(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Lengths in metres of the straight segments between consecutive vertices."""
    phi = np.radians(lat)
    dphi = np.diff(phi)
    dlmb = np.radians(np.diff(lon))
    h = np.sin(dphi / 2) ** 2 + np.cos(phi[:-1]) * np.cos(phi[1:]) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(h)), dtype=np.float64)


def _bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the initial bearing in degrees clockwise from north, in [0, 360)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dlmb = math.radians(lon2 - lon1)
    y = math.sin(dlmb) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlmb)
    heading = math.degrees(math.atan2(y, x)) % 360.0
    return 0.0 if heading >= 360.0 else heading  # -1e-17 % 360 rounds to 360.0
