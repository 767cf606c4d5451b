"""Build the built-in demo city: its road network, zone layers and staging posts.

The demo city's OSM file goes through the same build pipeline as a real city's. The generator
and the build pipeline (osmnx: seconds to import) are imported only when a build is needed,
so that opening an already-built demo city starts fast.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heartops.core.errors import NetworkError
from heartops.core.geo import GeoPoint
from heartops.core.progress import Progress, no_progress
from heartops.routing.network import DEMO_NAME, list_networks, load_network
from heartops.routing.posts import Post, save_posts
from heartops.routing.zones import list_zone_layers, save_zone_layer

if TYPE_CHECKING:
    from heartops.routing.build import BuildResult


def demo_layer(name: str, kind: str) -> str:
    """Return the zone-layer name of one kind of the demo city's zones (``demo-beats``)."""
    return f"{name}-{kind}"


def build_demo(*, name: str = DEMO_NAME, progress: Progress = no_progress) -> BuildResult:
    """Generate the demo city and build its network, zones and posts.

    Deterministic and offline: the same files come out on every machine.
    """
    from heartops.routing.build import build_network
    from heartops.routing.demo_city import DEMO_SOURCE, DEMO_TIMEZONE, write_demo_city

    with tempfile.TemporaryDirectory(prefix="heartops-demo-") as tmp:
        city = write_demo_city(Path(tmp), progress=progress)
        result = build_network(
            str(city.osm_path), name=name, progress=progress,
            extra_meta={"source": DEMO_SOURCE, "source_kind": "demo", "synthetic": True,
                        "timezone": DEMO_TIMEZONE},
        )
    progress("saving the demo zones and posts")
    save_zone_layer(demo_layer(name, "beats"),
                    city.beats.rename(columns={"beat": "zone_id", "district": "group_id"}),
                    source=DEMO_SOURCE)
    save_zone_layer(demo_layer(name, "districts"),
                    city.districts.rename(columns={"district": "zone_id"}),
                    source=DEMO_SOURCE)
    save_zone_layer(demo_layer(name, "service-area"),
                    city.service_area.assign(zone_id=city.service_area["name"]),
                    source=DEMO_SOURCE)
    save_posts(name, [
        Post(str(row.post_id), str(row.name), _point(row.geometry))
        for row in city.posts.itertuples()
    ])
    return result


def ensure_demo(*, progress: Progress = no_progress) -> None:
    """Build the demo city unless its network and zones are already there."""
    layers = {info.name for info in list_zone_layers()}
    if DEMO_NAME in list_networks() and demo_layer(DEMO_NAME, "beats") in layers:
        try:
            load_network(DEMO_NAME)
            return
        except NetworkError:
            progress("the demo network cache is unreadable; rebuilding it")
    build_demo(progress=progress)


def _point(geometry: Any) -> GeoPoint:
    return GeoPoint(float(geometry.y), float(geometry.x))
