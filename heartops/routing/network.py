"""The compiled road network: flat numpy arrays that load in milliseconds.

A network is built once from OSM (see :mod:`heartops.routing.build`) and cached as one
uncompressed ``.npz`` file under the user cache dir. Parallel edges are collapsed to the
fastest one, so every (u, v) pair has one travel time, which is what a shortest-path search
on travel time uses anyway.

Layout: nodes sorted by OSM id; forward CSR (``fwd_indptr``, ``fwd_indices``, ``fwd_time``,
``fwd_length``), one row per tail node, and the reverse CSR of the same edges with
``rev_edge`` giving each reverse entry's forward edge index. Edge geometries (for drawing and
routes) are lon/lat vertex runs: edge ``k`` owns ``geom_lon[geom_offsets[k]:geom_offsets[k+1]]``.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from heartops.atomic import atomic_path
from heartops.core.errors import NetworkError
from heartops.paths import networks_dir

FORMAT_VERSION = 1
DEMO_NAME = "demo"  # the built-in synthetic city
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_ARRAY_FIELDS = (
    "node_osmid", "node_lat", "node_lon", "node_x", "node_y",
    "fwd_indptr", "fwd_indices", "fwd_time", "fwd_length", "fwd_class", "fwd_name",
    "rev_indptr", "rev_indices", "rev_edge",
    "geom_offsets", "geom_lon", "geom_lat", "street_names",
)


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A drivable road network with travel times, as flat arrays.

    Attributes
    ----------
    name
        The cache name (``demo``, ``durham`` ...).
    meta
        Build facts: source, speed rule, CRS of ``node_x``/``node_y``, bbox, counts, timings.
    """

    name: str
    meta: dict[str, Any]
    node_osmid: IntArray
    node_lat: FloatArray
    node_lon: FloatArray
    node_x: FloatArray
    node_y: FloatArray
    fwd_indptr: IntArray
    fwd_indices: IntArray
    fwd_time: FloatArray
    fwd_length: FloatArray
    fwd_class: npt.NDArray[np.int8]
    fwd_name: IntArray
    rev_indptr: IntArray
    rev_indices: IntArray
    rev_edge: IntArray
    geom_offsets: IntArray
    geom_lon: FloatArray
    geom_lat: FloatArray
    street_names: npt.NDArray[np.str_]
    _edge_tail: IntArray | None = field(default=None, repr=False)

    @property
    def node_count(self) -> int:
        """Number of road nodes."""
        return int(self.node_osmid.size)

    @property
    def edge_count(self) -> int:
        """Number of directed edges (parallel edges collapsed)."""
        return int(self.fwd_indices.size)

    @property
    def crs(self) -> str:
        """The projected CRS of ``node_x``/``node_y`` (a UTM zone, in metres)."""
        return str(self.meta["crs"])

    @property
    def edge_tail(self) -> IntArray:
        """Tail node index of every forward edge (derived from the CSR, cached)."""
        if self._edge_tail is None:
            tails = np.repeat(np.arange(self.node_count, dtype=np.int64), np.diff(self.fwd_indptr))
            object.__setattr__(self, "_edge_tail", tails)
        assert self._edge_tail is not None
        return self._edge_tail

    def edge_index(self, tail: int, head: int) -> int:
        """Return the forward edge index of ``tail -> head`` (``-1`` if there is none)."""
        start, stop = int(self.fwd_indptr[tail]), int(self.fwd_indptr[tail + 1])
        hits = np.flatnonzero(self.fwd_indices[start:stop] == head)
        return start + int(hits[0]) if hits.size else -1

    def edge_coords(self, edge: int) -> tuple[FloatArray, FloatArray]:
        """Return the (lon, lat) vertices of one forward edge, tail to head."""
        start, stop = int(self.geom_offsets[edge]), int(self.geom_offsets[edge + 1])
        return self.geom_lon[start:stop], self.geom_lat[start:stop]

    def save(self, path: Path) -> None:
        """Write the network to ``path`` atomically (no half-written cache on failure)."""
        arrays = {name: getattr(self, name) for name in _ARRAY_FIELDS}
        meta = dict(self.meta, name=self.name, format_version=FORMAT_VERSION)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)

    @classmethod
    def load(cls, path: Path) -> RoadNetwork:
        """Read a network written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format_version") != FORMAT_VERSION:
                    raise NetworkError(
                        f"network cache {path} has format {meta.get('format_version')}, "
                        f"this heartops reads format {FORMAT_VERSION}; rebuild it with "
                        f"'heartops network build'"
                    )
                arrays = {name: data[name] for name in _ARRAY_FIELDS}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise NetworkError(f"network cache {path} is unreadable ({exc}); rebuild it") from exc
        return cls(name=str(meta["name"]), meta=meta, **arrays)


def check_network_name(name: str) -> str:
    """Return ``name`` if it is a valid cache name, else raise :class:`NetworkError`."""
    if not _NAME.match(name):
        raise NetworkError(
            f"invalid network name {name!r}: use letters, digits, '-', '_' or '.' "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return name


def network_path(name: str) -> Path:
    """Return the cache file of network ``name``."""
    return networks_dir() / f"{check_network_name(name)}.npz"


def list_networks() -> list[str]:
    """Return the names of the cached networks, sorted."""
    return sorted(path.stem for path in networks_dir().glob("*.npz"))


def load_network(name: str) -> RoadNetwork:
    """Load a cached network by name.

    Raises
    ------
    NetworkError
        If no network of that name was built; the message lists those that were.
    """
    path = network_path(name)
    if not path.exists():
        known = ", ".join(list_networks()) or "none yet"
        raise NetworkError(
            f"unknown network {name!r} (built: {known}); "
            f"build it with 'heartops network build SOURCE --name {name}'"
        )
    return RoadNetwork.load(path)


def read_meta(name: str) -> dict[str, Any]:
    """Read only the build facts of a cached network (cheap: does not load the arrays)."""
    path = network_path(name)
    if not path.exists():
        return load_network(name).meta  # raises the unknown-network error
    with np.load(path, allow_pickle=False) as data:
        meta: dict[str, Any] = json.loads(str(data["meta"]))
    meta["cache_path"] = str(path)
    meta["cache_bytes"] = path.stat().st_size
    return meta
