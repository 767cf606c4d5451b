"""The built-in synthetic demo city: a Durham-sized road network and its zones, made offline.

The demo city is the app's embedded default map. It is generated deterministically from a seed and
written as OSM XML, so that it goes through exactly the same build pipeline as a real
OpenStreetMap extract. Everything in it is invented: the street names come from word lists, and the
river, freeway, beats and posts only resemble those of a mid-sized US city. Every way is tagged
``heartops:synthetic=yes`` and every zone frame has a ``source`` column saying it is synthetic.

The city is designed in a local transverse Mercator plane in metres centred on `DEMO_CENTER`
(x east, y north) and converted to WGS84 only on output. Its skeleton (extent, river, freeway,
arterials, downtown grid, bridges) is fixed by the constants below; the seed varies everything
else (neighbourhood grids, collectors, parks, names, speed limits, beats).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from shapely.affinity import rotate, scale
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from heartops.atomic import atomic_path
from heartops.core.progress import Progress, no_progress

FloatArray = npt.NDArray[np.float64]

DEMO_CENTER: tuple[float, float] = (35.994, -78.899)
DEMO_TIMEZONE = "America/New_York"
DEMO_SEED = 2026
DEMO_OSM_FILENAME = "demo_city.osm"
DEMO_SOURCE = "heartops synthetic demo city"

# --- City skeleton (metres in the local plane; fixed, so every seed has the same layout) ---------

EXTENT_HALF_WIDTH_M = 8000.0
EXTENT_HALF_HEIGHT_M = 7000.0

RIVER_NAME = "Ellerbe River"
RIVER_BASE_Y_M = -3200.0
# (amplitude, wavelength, phase) of the sine waves whose sum makes the river meander.
RIVER_MEANDERS_M: tuple[tuple[float, float, float], ...] = (
    (520.0, 5600.0, 0.9),
    (140.0, 2300.0, 2.4),
)
RIVER_HALF_WIDTH_M = 30.0
# Nothing but bridges is built this close to the river: banks, floodplain, greenway.
RIVER_NO_BUILD_HALF_WIDTH_M = 120.0
BRIDGE_HALF_LENGTH_M = 95.0
# Roads along both banks keep the river roads from cutting each other at every meander.
RIVER_ROAD_OFFSET_M = 430.0
RIVER_ROAD_NAMES = ("Riverside Drive", "River Road")

FREEWAY_NAME = "Durham Freeway"
FREEWAY_REF = "I-885"
FREEWAY_MAXSPEED = "65 mph"
FREEWAY_CONTROL_POINTS_M: tuple[tuple[float, float], ...] = (
    (-8000.0, -1450.0),
    (-4500.0, -1600.0),
    (-1500.0, -1650.0),
    (1200.0, -1700.0),
    (3000.0, -2300.0),
    (4600.0, -3500.0),
    (6000.0, -4200.0),
    (8000.0, -4550.0),
)
FREEWAY_CARRIAGEWAY_OFFSET_M = 16.0
FREEWAY_NO_BUILD_HALF_WIDTH_M = 75.0
FREEWAY_VERTEX_SPACING_M = 120.0
INTERCHANGE_RADIUS_M = 520.0
INTERCHANGE_MIN_SPACING_M = 1300.0
INTERCHANGE_MIN_RIVER_DISTANCE_M = 900.0
INTERCHANGE_MIN_EDGE_DISTANCE_M = 700.0
INTERCHANGE_CLEARANCE_M = 450.0
INTERCHANGE_MIN_CROSSING_SINE = 0.7
RAMP_LENGTH_ALONG_M = 430.0
RAMP_ARTERIAL_OFFSET_M = 150.0
RAMP_CONTROL_ALONG_M = 130.0


@dataclass(frozen=True)
class _ArterialSpec:
    """A straight-ish arterial across the whole city, north-south or east-west."""

    name: str
    highway: str
    position_m: float
    bridge: bool = False
    ref: str | None = None


NORTH_SOUTH_ARTERIALS: tuple[_ArterialSpec, ...] = (
    _ArterialSpec("Cole Mill Road", "secondary", -7000.0),
    _ArterialSpec("Garrett Road", "primary", -5600.0, bridge=True),
    _ArterialSpec("Hope Valley Road", "secondary", -4100.0),
    _ArterialSpec("Erwin Road", "primary", -2600.0),
    _ArterialSpec("Duke Street", "primary", -1000.0),
    _ArterialSpec("Fayetteville Street", "primary", 150.0, bridge=True),
    _ArterialSpec("Alston Avenue", "primary", 1300.0),
    _ArterialSpec("Guess Road", "trunk", 2700.0, bridge=True, ref="US 501"),
    _ArterialSpec("Angier Avenue", "secondary", 4200.0),
    _ArterialSpec("Miami Boulevard", "secondary", 5700.0, bridge=True),
    _ArterialSpec("Sherron Road", "secondary", 7100.0),
)
EAST_WEST_ARTERIALS: tuple[_ArterialSpec, ...] = (
    _ArterialSpec("Old Oxford Road", "secondary", 6000.0),
    _ArterialSpec("Horton Road", "secondary", 4500.0),
    _ArterialSpec("Club Boulevard", "primary", 3000.0),
    _ArterialSpec("Markham Avenue", "secondary", 1400.0),
    _ArterialSpec("Chapel Hill Street", "primary", 250.0),
    _ArterialSpec("Lakewood Avenue", "secondary", -900.0),
    _ArterialSpec("Cornwallis Road", "primary", -5000.0),
    _ArterialSpec("Ellis Road", "secondary", -6250.0),
)
# Diagonal roads radiating from downtown: (name, highway, start, end), metres.
RADIAL_ARTERIALS: tuple[tuple[str, str, tuple[float, float], tuple[float, float]], ...] = (
    ("Roxboro Road", "primary", (300.0, 1400.0), (2300.0, 7000.0)),
    ("Hillsborough Road", "primary", (-1000.0, 900.0), (-8000.0, 3700.0)),
    ("Holloway Street", "secondary", (1300.0, 800.0), (8000.0, 3500.0)),
)
ARTERIAL_WAVE_AMPLITUDE_M = (60.0, 170.0)
# Arterials straighten out downtown so that they line up with the downtown grid.
DOWNTOWN_STRAIGHT_RADIUS_M = 1800.0

# Downtown is the arterial cell around the centre; its grid spans it and lines up with it.
DOWNTOWN_BOX_M = (-1000.0, -900.0, 1300.0, 1400.0)
DOWNTOWN_BLOCK_M = (125.0, 115.0)  # (east-west, north-south) spacing of the grid
DOWNTOWN_ANCHOR_M = (150.0, 250.0)  # the grid is anchored on the two central arterials
# Downtown one-way pairs: grid line index -> (name, +1 for east/north-bound, -1 for the reverse).
DOWNTOWN_ONEWAY_ROWS: dict[int, tuple[str, int]] = {
    -2: ("Main Street", 1),
    -3: ("Parrish Street", -1),
    4: ("Geer Street", 1),
    5: ("Corporation Street", -1),
}
DOWNTOWN_ONEWAY_COLUMNS: dict[int, tuple[str, int]] = {
    -3: ("Mangum Street", 1),
    -2: ("Roxboro Street", -1),
    3: ("Gregson Street", 1),
    4: ("Buchanan Boulevard", -1),
}
DOWNTOWN_ROW_NAMES = (
    "Pettigrew Street", "Ramseur Street", "Morgan Street", "Liberty Street", "Holloway Lane",
    "Seminary Street", "Trinity Avenue", "Knox Street", "Lamond Avenue", "Dowd Street",
    "Lynch Street", "Cleveland Street", "Elliott Street", "Mallard Avenue", "Hunt Street",
    "Peabody Street", "Jackson Street", "Lakeland Street", "Umstead Street", "Proctor Street",
)
DOWNTOWN_COLUMN_NAMES = (
    "Church Street", "Corcoran Street", "Foster Street", "Rigsbee Avenue", "Morris Street",
    "Blackwell Street", "Vickers Avenue", "Gray Avenue", "Queen Street", "Dillard Street",
    "Elizabeth Street", "Hyde Park Avenue", "Watts Street", "Gregory Street", "Ninth Street",
    "Tenth Street", "Swift Avenue", "Burch Avenue", "Ferrell Road", "Cobb Street",
)

# Neighbourhood styles by distance from the centre: urban grids inside, looser suburbs outside.
URBAN_RADIUS_M = 4300.0
RURAL_RADIUS_M = 6600.0
PARK_COUNT = 8
PARK_RADIUS_M = (230.0, 520.0)

SYNTHETIC_TAG = ("heartops:synthetic", "yes")
OSM_GENERATOR = "heartops demo city (synthetic)"
OSM_NOTE = (
    "Synthetic demo city generated by heartops. Not real map data: every road, name and "
    "zone is invented; it is only placed near Durham, NC."
)

# Speed limits drawn per way: (value or None, weight). None leaves the default for the class.
MAXSPEED_CHOICES: dict[str, tuple[tuple[str | None, float], ...]] = {
    "trunk": (("55 mph", 0.8), (None, 0.2)),
    "primary": (("45 mph", 0.55), ("40 mph", 0.1), (None, 0.35)),
    "secondary": (("35 mph", 0.5), ("45 mph", 0.1), (None, 0.4)),
    "tertiary": (("35 mph", 0.25), ("30 mph", 0.1), (None, 0.65)),
    "residential": (("25 mph", 0.1), (None, 0.9)),
    "unclassified": (("35 mph", 0.1), (None, 0.9)),
}
# How many intersection-to-intersection pieces one OSM way may span, by class.
WAY_PIECES: dict[str, tuple[int, int]] = {
    "trunk": (3, 9),
    "primary": (3, 10),
    "secondary": (3, 10),
    "tertiary": (2, 8),
    "residential": (2, 14),
    "unclassified": (2, 10),
}
TAG_ORDER = (
    "highway", "name", "ref", "oneway", "maxspeed", "lanes", "bridge", "layer", "service",
)

STREET_NAME_STEMS = (
    "Oak", "Maple", "Elm", "Pine", "Cedar", "Willow", "Dogwood", "Magnolia", "Hickory", "Poplar",
    "Sycamore", "Chestnut", "Birch", "Holly", "Laurel", "Walnut", "Beech", "Cypress", "Juniper",
    "Aspen", "Redbud", "Linden", "Mulberry", "Hawthorn", "Spruce", "Hemlock", "Locust", "Alder",
    "Sassafras", "Persimmon", "Azalea", "Camellia", "Jasmine", "Wisteria", "Ivy", "Clover",
    "Bluebird", "Cardinal", "Wren", "Robin", "Heron", "Falcon", "Sparrow", "Mockingbird", "Quail",
    "Whippoorwill", "Kingfisher", "Oriole", "Finch", "Meadowlark", "Alden", "Barrett", "Bennett",
    "Carlton", "Dalton", "Ellison", "Fairfax", "Garland", "Hampton", "Harper", "Jennings",
    "Kendall", "Lawson", "Madison", "Nelson", "Preston", "Quincy", "Randolph", "Sutton", "Taylor",
    "Vance", "Walker", "Whitley", "Yancey", "Ashford", "Belmont", "Brookhaven", "Cambridge",
    "Chesterfield", "Devon", "Edgewood", "Glenwood", "Greystone", "Hillcrest", "Kensington",
    "Lakeview", "Linwood", "Montrose", "Northgate", "Oakwood", "Parkside", "Ridgeway", "Rosemont",
    "Sheffield", "Stonewall", "Sunset", "Westover", "Windsor", "Woodland", "Briarcliff",
    "Catawba", "Cherokee", "Yadkin", "Haw", "Neuse", "Tar", "Pamlico", "Alamance", "Orange",
    "Person", "Granville", "Wake", "Chatham", "Vance", "Warren", "Franklin", "Lenoir", "Stokes",
    "Avery", "Burke", "Caldwell", "Davie", "Iredell", "Rowan", "Surry", "Wilkes", "Tryon",
    "Raleigh", "Hargett", "Salem", "Bragg", "Mason", "Dixon", "Colonial", "Heritage", "Pleasant",
    "Shady", "Sunny", "Quiet", "Twin", "Old Mill", "Stage Coach", "Tobacco", "Cotton", "Wheat",
    "Barley", "Apple", "Peach", "Pecan", "Scuppernong", "Muscadine", "Harvest", "Plantation",
    "Piedmont", "Blue Ridge", "Sandhill", "Riverbend", "Creekside", "Foxfire", "Deer Run",
)
STREET_NAME_MODIFIERS = (
    "Hill", "Ridge", "Creek", "Forest", "Park", "Grove", "Glen", "Meadow", "Valley", "Pointe",
    "Springs", "Brook", "Field", "Wood", "Crest", "Hollow", "Trace", "Chase", "Farm", "Lake",
)
THROUGH_STREET_SUFFIXES = (
    "Street", "Street", "Avenue", "Avenue", "Drive", "Drive", "Road", "Lane", "Way", "Place",
    "Boulevard", "Trail", "Parkway", "Terrace",
)
CUL_DE_SAC_SUFFIXES = ("Court", "Court", "Circle", "Place", "Lane", "Cove", "Run")
COLLECTOR_SUFFIXES = ("Road", "Road", "Avenue", "Drive", "Street", "Parkway", "Boulevard")
PARK_NAMES = (
    "Forest Hills", "Rock Quarry", "Northgate", "Lakewood", "Walltown", "Sherwood", "Cook Road",
    "Hillside", "Whippoorwill", "Twin Lakes", "Lyon", "Oval Drive", "Crest Street", "Hollow Rock",
)

# Staging posts: (site name, target location in metres); each snaps to the nearest arterial or
# collector intersection.
POST_SITES: tuple[tuple[str, tuple[float, float]], ...] = (
    ("Downtown Fire Station 1", (120.0, 330.0)),
    ("Durham Station Transit Center", (650.0, -480.0)),
    ("North Regional Library", (700.0, 4900.0)),
    ("Horton Road Fire Station 11", (-3600.0, 4300.0)),
    ("East Durham Recreation Center", (4100.0, 800.0)),
    ("Miami Boulevard EMS Station", (6300.0, 2400.0)),
    ("Hillsborough Road Fire Station 5", (-5300.0, 1500.0)),
    ("West End Community Clinic", (-3100.0, -600.0)),
    ("South Regional Library", (1500.0, -5200.0)),
    ("Riverside EMS Station 8", (-4600.0, -4600.0)),
    ("Southeast Fire Station 9", (5200.0, -6000.0)),
)

SERVICE_AREA_NAME = "Durham (synthetic demo city limits)"
SERVICE_AREA_SEMI_AXES_M = (7700.0, 6700.0)
SERVICE_AREA_SQUARENESS = 3.0  # superellipse exponent: 2 is an ellipse, larger is boxier
BEAT_SEED_SPACING_M = 2200.0
DOWNTOWN_DISTRICT_RADIUS_M = 2300.0
DOWNTOWN_BEAT_SEEDS = 6
# Districts D1-D4 are quadrants seen from downtown (east, north, west, south); D5 is downtown.
DOWNTOWN_DISTRICT = "D5"
QUADRANT_DISTRICTS = ("D1", "D2", "D3", "D4")
POPULATION_DENSITY_PER_KM2 = (2600.0, 450.0, 5500.0)  # (centre, floor, e-folding distance in m)

_LOCAL_CRS = pyproj.CRS.from_proj4(
    f"+proj=tmerc +lat_0={DEMO_CENTER[0]} +lon_0={DEMO_CENTER[1]} +k=1 +x_0=0 +y_0=0 "
    "+ellps=WGS84 +units=m +no_defs"
)

# Overshooting ends shorter than this are cut off after noding (they only made the cut exact).
_STUB_M = 12.0
_OVERSHOOT_M = 4.0


@dataclass(frozen=True)
class DemoCity:
    """The generated demo city: its OSM file and its zones (all GeoDataFrames in EPSG:4326).

    Attributes
    ----------
    osm_path
        The OSM XML road network (``demo_city.osm``).
    service_area
        The city limit, one row: ``name``, ``source``, geometry.
    beats
        Beats tiling the service area: ``beat``, ``district``, ``population``, ``source``.
    districts
        The five districts (dissolved beats): ``district``, ``population``, ``source``.
    posts
        Staging posts next to road nodes: ``post_id``, ``name``, ``district``, ``source``.
    """

    osm_path: Path
    service_area: gpd.GeoDataFrame
    beats: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    posts: gpd.GeoDataFrame


@dataclass
class _Street:
    """A named line of road in the local plane, before it is cut into OSM ways.

    Explicit streets (freeway carriageways) are written as one way each, vertex for vertex;
    all others are noded with each other first, so that they share a node wherever they cross.
    """

    coords: FloatArray
    highway: str
    name: str | None = None
    ref: str | None = None
    oneway: bool = False
    bridge: bool = False
    extra: tuple[tuple[str, str], ...] = ()


@dataclass
class _Plan:
    """The city skeleton: river, freeway and everything laid out before the neighbourhoods."""

    river: LineString
    no_build: list[BaseGeometry]
    freeway: LineString
    carriageways: list[_Street]
    streets: list[_Street]
    interchange_centers: list[tuple[float, float]]
    downtown: Polygon


@dataclass
class _Piece:
    """A stretch of a noded street between two nodes (intersections, dead ends or way ends)."""

    street: int
    coords: FloatArray
    position: float  # along the street, to put its pieces back in order
    length: float
    head: tuple[int, int]  # node keys of its two ends
    tail: tuple[int, int]


@dataclass
class _Network:
    """The finished network: node coordinates by id and ways as (node ids, tags)."""

    node_xy: list[tuple[float, float]] = field(default_factory=list)
    node_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    ways: list[tuple[list[int], list[tuple[str, str]]]] = field(default_factory=list)
    junctions: list[tuple[int, str]] = field(default_factory=list)  # (node id, highway)

    def node(self, x: float, y: float) -> int:
        """Return the id of the node at (x, y), creating it the first time it is seen."""
        key = (round(x * 1000.0), round(y * 1000.0))
        node_id = self.node_ids.get(key)
        if node_id is None:
            self.node_xy.append((x, y))
            node_id = len(self.node_xy)
            self.node_ids[key] = node_id
        return node_id


# --- Public API ------------------------------------------------------------------------------


def write_demo_city(
    directory: Path, *, seed: int = DEMO_SEED, progress: Progress = no_progress
) -> DemoCity:
    """Generate the demo city into `directory` (writes demo_city.osm) and return it with its zones.

    Parameters
    ----------
    directory
        Where to write ``demo_city.osm``; created if missing.
    seed
        Seed of the generator. The same seed gives a byte-identical OSM file and identical zones.
    progress
        Receives progress reports.

    Returns
    -------
    DemoCity
        The OSM file's path and the zones (service area, beats, districts, posts) in EPSG:4326.
    """
    layout_rng, streets_rng, network_rng, zones_rng = np.random.default_rng(seed).spawn(4)
    progress("Laying out river, freeway and arterials", 0.0)
    plan = _plan_city(layout_rng)
    progress("Filling neighbourhoods with streets", 0.2)
    streets = plan.streets + _neighbourhood_streets(plan, streets_rng)
    progress("Joining streets at intersections", 0.45)
    network = _build_network(streets, plan.carriageways, network_rng)
    progress("Writing the OSM file", 0.7)
    osm_path = Path(directory) / DEMO_OSM_FILENAME
    _write_osm(osm_path, network)
    progress("Drawing beats, districts and posts", 0.85)
    service_area, beats, districts, posts = _zones(network, plan, zones_rng)
    progress("Demo city ready", 1.0)
    return DemoCity(osm_path, service_area, beats, districts, posts)


def demo_river_centerline() -> LineString:
    """Return the demo city's river centre line in WGS84 (lon, lat), e.g. to draw it on a map.

    Returns
    -------
    LineString
        The river across the whole city, from west to east.
    """
    river = _river_line()
    lon, lat = _to_lonlat(shapely.get_coordinates(river))
    return LineString(np.column_stack([lon, lat]))


# --- Geometry helpers ------------------------------------------------------------------------


def _to_lonlat(xy: FloatArray) -> tuple[FloatArray, FloatArray]:
    transformer = pyproj.Transformer.from_crs(_LOCAL_CRS, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _extent() -> Polygon:
    return box(-EXTENT_HALF_WIDTH_M, -EXTENT_HALF_HEIGHT_M, EXTENT_HALF_WIDTH_M,
               EXTENT_HALF_HEIGHT_M)


def _cumulative_length(coords: FloatArray) -> FloatArray:
    steps = np.hypot(*np.diff(coords, axis=0).T)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _resample(coords: FloatArray, step: float) -> FloatArray:
    """Return the polyline with vertices every `step` metres (ends kept)."""
    s = _cumulative_length(coords)
    n = max(2, math.ceil(s[-1] / step) + 1)
    t = np.linspace(0.0, s[-1], n)
    return np.column_stack([np.interp(t, s, coords[:, 0]), np.interp(t, s, coords[:, 1])])


def _chaikin(coords: FloatArray, iterations: int) -> FloatArray:
    """Round the corners of a polyline, keeping its two ends."""
    for _ in range(iterations):
        a, b = coords[:-1], coords[1:]
        inner = np.empty((2 * len(a), 2))
        inner[0::2] = 0.75 * a + 0.25 * b
        inner[1::2] = 0.25 * a + 0.75 * b
        coords = np.vstack([coords[:1], inner[1:-1], coords[-1:]])
    return coords


def _line_parts(geometry: BaseGeometry, min_length: float = 0.0) -> list[FloatArray]:
    """Return the coordinates of each line in `geometry` at least `min_length` long."""
    parts = shapely.get_parts(shapely.line_merge(geometry) if not geometry.is_empty else geometry)
    return [
        shapely.get_coordinates(part)
        for part in parts
        if part.geom_type == "LineString" and part.length >= max(min_length, 1e-6)
    ]


def _polygon_parts(geometry: BaseGeometry, min_area: float) -> list[Polygon]:
    parts = shapely.get_parts(geometry)
    return [p for p in parts if p.geom_type == "Polygon" and p.area >= min_area]


def _insert_point(coords: FloatArray, point: FloatArray) -> FloatArray:
    """Insert `point`, which lies on the polyline, as a vertex of it."""
    line = LineString(coords)
    along = line.project(Point(point))
    s = _cumulative_length(coords)
    index = int(np.searchsorted(s, along, side="right"))
    index = min(max(index, 1), len(coords) - 1)
    return np.vstack([coords[:index], point[None, :], coords[index:]])


def _pick(rng: np.random.Generator, choices: Sequence[str]) -> str:
    return choices[int(rng.integers(len(choices)))]


def _weighted(rng: np.random.Generator, choices: Sequence[tuple[str | None, float]]) -> str | None:
    draw = rng.random() * sum(weight for _, weight in choices)
    for value, weight in choices:
        draw -= weight
        if draw < 0.0:
            return value
    return choices[-1][0]


# --- Skeleton: river, arterials, freeway ------------------------------------------------------


def _river_y(x: FloatArray) -> FloatArray:
    y = np.full_like(x, RIVER_BASE_Y_M)
    for amplitude, wavelength, phase in RIVER_MEANDERS_M:
        y += amplitude * np.sin(2.0 * math.pi * x / wavelength + phase)
    return y


def _river_line() -> LineString:
    x = np.linspace(-EXTENT_HALF_WIDTH_M - 400.0, EXTENT_HALF_WIDTH_M + 400.0, 421)
    return LineString(np.column_stack([x, _river_y(x)]))


def _plan_city(rng: np.random.Generator) -> _Plan:
    river = _river_line()
    river_no_build = river.buffer(RIVER_NO_BUILD_HALF_WIDTH_M)
    arterials = _arterials(rng, river, river_no_build)
    freeway = _freeway_centerline()
    centers = _choose_interchanges(freeway, arterials, river)
    ramps, attach = _ramps(freeway, centers, arterials)
    for street_index, points in attach.items():
        for point in points:
            arterials[street_index].coords = _insert_point(arterials[street_index].coords, point)
    carriageways = _carriageways(freeway, river, [c[1] for c in centers])
    streets = arterials + _river_roads(river) + ramps
    no_build = [
        river_no_build,
        freeway.buffer(FREEWAY_NO_BUILD_HALF_WIDTH_M),
        *[Point(c[0]).buffer(INTERCHANGE_RADIUS_M) for c in centers],
    ]
    downtown = box(*DOWNTOWN_BOX_M)
    return _Plan(river, no_build, freeway, carriageways, streets,
                 [(float(c[0][0]), float(c[0][1])) for c in centers], downtown)


def _arterials(
    rng: np.random.Generator, river: LineString, river_no_build: BaseGeometry
) -> list[_Street]:
    streets: list[_Street] = []
    for spec in NORTH_SOUTH_ARTERIALS:
        tilt = rng.uniform(-150.0, 150.0)
        start = (spec.position_m - tilt, -EXTENT_HALF_HEIGHT_M)
        end = (spec.position_m + tilt, EXTENT_HALF_HEIGHT_M)
        streets += _cross_river(spec, _wavy_line(start, end, rng), river, river_no_build)
    for spec in EAST_WEST_ARTERIALS:
        tilt = rng.uniform(-150.0, 150.0)
        start = (-EXTENT_HALF_WIDTH_M, spec.position_m - tilt)
        end = (EXTENT_HALF_WIDTH_M, spec.position_m + tilt)
        streets += _cross_river(spec, _wavy_line(start, end, rng), river, river_no_build)
    grid = shapely.multilinestrings([LineString(s.coords) for s in streets])
    for name, highway, start, end in RADIAL_ARTERIALS:
        # Start on the arterial nearest the nominal start (a hair past it), so the radial joins it.
        on_grid = shapely.get_coordinates(shapely.shortest_line(Point(start), grid))[-1]
        heading = np.asarray(end) - on_grid
        begin = on_grid - heading / np.hypot(*heading) * _OVERSHOOT_M
        coords = _wavy_line((float(begin[0]), float(begin[1])), end, rng)
        spec = _ArterialSpec(name, highway, 0.0)
        streets += _cross_river(spec, coords, river, river_no_build)
    return streets


def _wavy_line(
    start: tuple[float, float], end: tuple[float, float], rng: np.random.Generator
) -> FloatArray:
    """Return a gently meandering line from `start` to `end`, straight near downtown."""
    p0, p1 = np.asarray(start), np.asarray(end)
    length = float(np.hypot(*(p1 - p0)))
    t = np.linspace(0.0, 1.0, max(2, int(length / 60.0)))
    along = p0 + t[:, None] * (p1 - p0)
    normal = np.array([-(p1 - p0)[1], (p1 - p0)[0]]) / length
    amplitude = rng.uniform(*ARTERIAL_WAVE_AMPLITUDE_M)
    waves = np.zeros_like(t)
    for share in (0.7, 0.3):
        wavelength = rng.uniform(3000.0, 9000.0) * share * 1.6
        waves += share * np.sin(2.0 * math.pi * t * length / wavelength + rng.uniform(0, 6.3))
    # Keep downtown straight so its grid lines up with the arterials through it.
    anchor = np.asarray(DOWNTOWN_ANCHOR_M)
    distance = np.hypot(*(along - anchor).T)
    taper = np.clip((distance - DOWNTOWN_STRAIGHT_RADIUS_M) / 2000.0, 0.0, 1.0)
    return np.asarray(along + (amplitude * waves * taper)[:, None] * normal, dtype=np.float64)


def _cross_river(
    spec: _ArterialSpec, coords: FloatArray, river: LineString, river_no_build: BaseGeometry
) -> list[_Street]:
    """Cut an arterial at the river, or split it into approach, bridge, approach."""
    line = LineString(coords)
    crossing = line.intersection(river)

    def street(part: FloatArray, *, bridge: bool = False) -> _Street:
        return _Street(part, spec.highway, spec.name, spec.ref, bridge=bridge)

    if crossing.is_empty:
        return [street(coords)]
    if not spec.bridge:
        return [street(part) for part in _line_parts(line.difference(river_no_build), 150.0)]
    along = line.project(shapely.get_parts(crossing)[0])
    cuts = (along - BRIDGE_HALF_LENGTH_M, along + BRIDGE_HALF_LENGTH_M)
    before = substring(line, 0.0, cuts[0])
    span = substring(line, cuts[0], cuts[1])
    after = substring(line, cuts[1], line.length)
    return [
        street(shapely.get_coordinates(before)),
        street(shapely.get_coordinates(span), bridge=True),
        street(shapely.get_coordinates(after)),
    ]


def _river_roads(river: LineString) -> list[_Street]:
    streets: list[_Street] = []
    for name, side in zip(RIVER_ROAD_NAMES, (1.0, -1.0), strict=True):
        offset = river.offset_curve(side * RIVER_ROAD_OFFSET_M, quad_segs=4, join_style="round")
        clipped = offset.intersection(_extent())
        for part in _line_parts(clipped, 300.0):
            streets.append(_Street(_resample(part, 60.0), "secondary", name))
    return streets


def _freeway_centerline() -> LineString:
    coords = _chaikin(np.asarray(FREEWAY_CONTROL_POINTS_M, dtype=np.float64), 5)
    return LineString(_resample(coords, 25.0))


def _freeway_point(freeway: LineString, along: float, offset: float) -> FloatArray:
    """Point `offset` metres to the right of the freeway centre line at distance `along`."""
    ahead = np.asarray(freeway.interpolate(min(along + 5.0, freeway.length)).coords[0])
    behind = np.asarray(freeway.interpolate(max(along - 5.0, 0.0)).coords[0])
    centre = np.asarray(freeway.interpolate(along).coords[0])
    tangent = (ahead - behind) / np.hypot(*(ahead - behind))
    right = np.array([tangent[1], -tangent[0]])
    return np.asarray(centre + offset * right, dtype=np.float64)


def _choose_interchanges(
    freeway: LineString, arterials: list[_Street], river: LineString
) -> list[tuple[FloatArray, float, int]]:
    """Pick arterial crossings for interchanges: (centre, distance along freeway, street index)."""
    inner = _extent().buffer(-INTERCHANGE_MIN_EDGE_DISTANCE_M)
    candidates: list[tuple[float, FloatArray, int]] = []
    for index, street in enumerate(arterials):
        line = LineString(street.coords)
        for point in shapely.get_parts(line.intersection(freeway)):
            if point.geom_type != "Point" or street.bridge:
                continue
            if not inner.contains(point):
                continue
            if point.distance(river) < INTERCHANGE_MIN_RIVER_DISTANCE_M:
                continue
            if _crossing_sine(freeway, line, point) < INTERCHANGE_MIN_CROSSING_SINE:
                continue
            others = [
                LineString(o.coords) for o in arterials if o.name != street.name
            ]
            if min(o.distance(point) for o in others) < INTERCHANGE_CLEARANCE_M:
                continue
            candidates.append((freeway.project(point), np.asarray(point.coords[0]), index))
    # Bigger roads get their interchange first; smaller ones fill the gaps.
    rank = {"trunk": 0, "primary": 1, "secondary": 2}
    chosen: list[tuple[FloatArray, float, int]] = []
    for along, centre, index in sorted(
        candidates, key=lambda c: (rank.get(arterials[c[2]].highway, 3), c[0])
    ):
        if all(abs(along - c[1]) >= INTERCHANGE_MIN_SPACING_M for c in chosen):
            chosen.append((centre, along, index))
    return sorted(chosen, key=lambda c: c[1])


def _crossing_sine(freeway: LineString, line: LineString, point: Point) -> float:
    def direction(geometry: LineString) -> FloatArray:
        along = geometry.project(point)
        a = np.asarray(geometry.interpolate(max(along - 10.0, 0.0)).coords[0])
        b = np.asarray(geometry.interpolate(min(along + 10.0, geometry.length)).coords[0])
        return np.asarray((b - a) / np.hypot(*(b - a)), dtype=np.float64)

    u, v = direction(freeway), direction(line)
    return float(abs(u[0] * v[1] - u[1] * v[0]))


def _ramps(
    freeway: LineString, centers: list[tuple[FloatArray, float, int]], arterials: list[_Street]
) -> tuple[list[_Street], dict[int, list[FloatArray]]]:
    """Build a diamond of four one-way ramps at each interchange.

    Returns the ramps and, per arterial, the points where they meet it (to insert as vertices,
    so that the ramps and the arterial share a node there).
    """
    ramps: list[_Street] = []
    attach: dict[int, list[FloatArray]] = {}
    offset = FREEWAY_CARRIAGEWAY_OFFSET_M
    for centre, along, index in centers:
        tangent = _freeway_point(freeway, along + 1.0, 0.0) - _freeway_point(freeway, along, 0.0)
        tangent /= np.hypot(*tangent)
        right = np.array([tangent[1], -tangent[0]])
        for side in (1.0, -1.0):  # +1: the carriageway in the freeway's direction (on its right)
            meet = _arterial_point_on_side(arterials[index].coords, centre, right * side)
            attach.setdefault(index, []).append(meet)
            upstream = along - side * RAMP_LENGTH_ALONG_M
            downstream = along + side * RAMP_LENGTH_ALONG_M
            leave = _freeway_point(freeway, upstream, side * offset)
            join = _freeway_point(freeway, downstream, side * offset)
            toward = tangent * side * RAMP_CONTROL_ALONG_M
            ramps.append(_ramp(leave, meet - toward, meet))
            ramps.append(_ramp(meet, meet + toward, join))
    return ramps, attach


def _arterial_point_on_side(coords: FloatArray, centre: FloatArray, side: FloatArray) -> FloatArray:
    """Return the point on the arterial RAMP_ARTERIAL_OFFSET_M from the crossing, on `side`."""
    line = LineString(coords)
    along = line.project(Point(centre))
    for candidate in (along + RAMP_ARTERIAL_OFFSET_M, along - RAMP_ARTERIAL_OFFSET_M):
        point = np.asarray(line.interpolate(candidate).coords[0], dtype=np.float64)
        if float(np.dot(point - centre, side)) > 0.0:
            return point
    raise RuntimeError("an interchange arterial does not cross the freeway")


def _ramp(start: FloatArray, control: FloatArray, end: FloatArray) -> _Street:
    t = np.linspace(0.0, 1.0, 10)[:, None]
    coords = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
    coords[0], coords[-1] = start, end  # exact, so they meet the carriageway and arterial nodes
    return _Street(coords, "motorway_link", oneway=True, extra=(("lanes", "1"),))


def _carriageways(freeway: LineString, river: LineString, junctions: list[float]) -> list[_Street]:
    """Return both carriageways as ways split at ramps and at the river bridge."""
    ramp_along = [a + d for a in junctions for d in (-RAMP_LENGTH_ALONG_M, RAMP_LENGTH_ALONG_M)]
    bridge_along = [
        freeway.project(p) + d
        for p in shapely.get_parts(freeway.intersection(river))
        for d in (-BRIDGE_HALF_LENGTH_M, BRIDGE_HALF_LENGTH_M)
    ]
    regular = np.arange(0.0, freeway.length, FREEWAY_VERTEX_SPACING_M)
    cuts = np.unique(np.array(ramp_along + bridge_along))
    along = np.unique(np.concatenate([regular, cuts, [freeway.length]]))
    streets: list[_Street] = []
    for side in (1.0, -1.0):
        points = np.array([_freeway_point(freeway, a, side * FREEWAY_CARRIAGEWAY_OFFSET_M)
                           for a in along])
        bounds = np.concatenate([[0], np.searchsorted(along, cuts), [len(along) - 1]])
        for lo, hi in itertools.pairwise(bounds):
            part = points[lo : hi + 1]
            is_bridge = bool(LineString(part).intersects(river))
            if side < 0:
                part = part[::-1]
            streets.append(_Street(
                part, "motorway", FREEWAY_NAME, FREEWAY_REF, oneway=True, bridge=is_bridge,
                extra=(("maxspeed", FREEWAY_MAXSPEED), ("lanes", "3")),
            ))
    return streets


# --- Neighbourhoods: downtown grid, collectors, parks, residential grids -----------------------


class _Namer:
    """Draws plausible street names, avoiding repeats while the word lists allow."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._used: dict[str, None] = {}

    def __call__(self, suffixes: Sequence[str]) -> str:
        name = ""
        for _ in range(25):
            stem = _pick(self._rng, STREET_NAME_STEMS)
            if self._rng.random() < 0.4:
                stem = f"{stem} {_pick(self._rng, STREET_NAME_MODIFIERS)}"
            name = f"{stem} {_pick(self._rng, suffixes)}"
            if name not in self._used:
                break
        self._used[name] = None
        return name


@dataclass(frozen=True)
class _Style:
    """How one neighbourhood's streets are laid out."""

    angle: float
    spacing: tuple[float, float]  # (along rows, between rows)
    jitter: float
    warp: float
    warp_length: float
    missing: float  # share of grid links left out
    closed_ends: float  # share of street ends that stop short of the arterial around them
    spurs: float  # share of blocks with a cul-de-sac
    unclassified: float


def _neighbourhood_streets(plan: _Plan, rng: np.random.Generator) -> list[_Street]:
    namer = _Namer(rng)
    skeleton = [s for s in plan.streets if s.highway != "motorway_link"]
    frame = [LineString(s.coords) for s in skeleton] + [plan.river, plan.freeway]
    arterial_faces = _faces(frame)
    downtown = shapely.union_all(
        [f for f in arterial_faces if plan.downtown.contains(f.representative_point())]
    )
    downtown_streets = _downtown_grid(downtown)
    collectors = _collectors(arterial_faces, downtown, plan, rng, namer)
    parks = _parks(plan, downtown, rng)
    structure = skeleton + downtown_streets + collectors
    lines = [LineString(s.coords) for s in structure]
    blocked = shapely.union_all([*plan.no_build, *[p for p, _ in parks]])
    road_tree = shapely.STRtree(lines)
    streets: list[_Street] = []
    for face in _faces([*lines, plan.river, plan.freeway]):
        if downtown.contains(face.representative_point()):
            continue
        allowed = face.difference(blocked)
        if allowed.area < 15_000.0:
            continue
        style = _style(face, rng)
        streets += _grid_streets(face, allowed, blocked, style, rng, namer, road_tree)
    return downtown_streets + collectors + streets + _footways(parks, plan)


def _faces(lines: list[LineString]) -> list[Polygon]:
    """Return the blocks enclosed by `lines` and the city's edge, in a stable order."""
    edge = _extent().exterior
    noded = shapely.node(shapely.multilinestrings([*lines, edge]))
    faces = [f for f in shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
             if f.area > 1.0]
    return sorted(faces, key=lambda f: (round(f.centroid.y, 1), round(f.centroid.x, 1)))


def _downtown_grid(downtown: BaseGeometry) -> list[_Street]:
    """Lay a regular grid over downtown, lined up with the arterials crossing it."""
    reach = downtown.buffer(_OVERSHOOT_M)
    west, south, east, north = DOWNTOWN_BOX_M
    block_x, block_y = DOWNTOWN_BLOCK_M
    anchor_x, anchor_y = DOWNTOWN_ANCHOR_M
    streets: list[_Street] = []
    for axis, (lo, hi, anchor, block) in enumerate(
        ((south, north, anchor_y, block_y), (west, east, anchor_x, block_x))
    ):
        names = DOWNTOWN_ROW_NAMES if axis == 0 else DOWNTOWN_COLUMN_NAMES
        pairs = DOWNTOWN_ONEWAY_ROWS if axis == 0 else DOWNTOWN_ONEWAY_COLUMNS
        for k in range(math.floor((lo - anchor) / block), math.ceil((hi - anchor) / block) + 1):
            position = anchor + k * block
            # k == 0 is the arterial itself; lines hugging the edge arterials would double them.
            if k == 0 or min(abs(position - lo), abs(position - hi)) < 55.0:
                continue
            span = np.array([[west - 200.0, position], [east + 200.0, position]])
            if axis == 1:
                span = np.array([[position, south - 200.0], [position, north + 200.0]])
            name, highway, direction = _downtown_line_kind(k, names, pairs)
            for part in _line_parts(LineString(span).intersection(reach), 20.0):
                coords = part if direction >= 0 else part[::-1]
                streets.append(_Street(_resample(coords, 125.0), highway, name,
                                       oneway=direction != 0))
    return streets


def _downtown_line_kind(
    k: int, names: Sequence[str], pairs: dict[int, tuple[str, int]]
) -> tuple[str, str, int]:
    """Return (name, highway, direction) of downtown grid line `k`; direction 0 is two-way."""
    if k in pairs:
        name, direction = pairs[k]
        return name, "secondary" if abs(k) < 4 else "tertiary", direction
    highway = "tertiary" if k % 4 == 0 else "unclassified" if k % 7 == 3 else "residential"
    return names[(k + len(names) // 2) % len(names)], highway, 0


def _collectors(
    faces: list[Polygon], downtown: BaseGeometry, plan: _Plan, rng: np.random.Generator,
    namer: _Namer,
) -> list[_Street]:
    """Cut each big arterial cell with one or two collector streets across it."""
    blocked = shapely.union_all(plan.no_build)
    streets: list[_Street] = []
    for face in faces:
        if face.area < 600_000.0 or downtown.contains(face.representative_point()):
            continue
        long_axis, length = _long_axis(face)
        across = np.array([-long_axis[1], long_axis[0]])
        count = 1 if face.area < 2_200_000.0 else 2
        centre = np.asarray(face.centroid.coords[0])
        reach = face.buffer(_OVERSHOOT_M).difference(blocked)
        for k in range(count):
            share = (k + 1) / (count + 1) - 0.5 + rng.uniform(-0.08, 0.08)
            middle = centre + long_axis * share * length
            turn = rng.normal(0.0, math.radians(8.0))
            direction = np.array([
                across[0] * math.cos(turn) - across[1] * math.sin(turn),
                across[0] * math.sin(turn) + across[1] * math.cos(turn),
            ])
            line = _wavy_line(tuple(middle - direction * 6000.0),
                              tuple(middle + direction * 6000.0), rng)
            name = namer(COLLECTOR_SUFFIXES)
            for part in _line_parts(LineString(line).intersection(reach), 250.0):
                streets.append(_Street(part, "tertiary", name))
    return streets


def _long_axis(face: Polygon) -> tuple[FloatArray, float]:
    """Return the unit vector along the face's longer side (of its bounding rectangle), length."""
    corners = shapely.get_coordinates(face.minimum_rotated_rectangle)[:3]
    sides = [corners[1] - corners[0], corners[2] - corners[1]]
    longest = max(sides, key=lambda side: float(np.hypot(*side)))
    length = float(np.hypot(*longest))
    return np.asarray(longest / length, dtype=np.float64), length


def _parks(
    plan: _Plan, downtown: BaseGeometry, rng: np.random.Generator
) -> list[tuple[Polygon, str]]:
    """Scatter a few parks: holes in the street grid, each crossed by a footway."""
    keep_clear = shapely.union_all(
        [downtown.buffer(300.0), *[zone.buffer(200.0) for zone in plan.no_build]]
    )
    names = list(PARK_NAMES)
    parks: list[tuple[Polygon, str]] = []
    for _ in range(200):
        if len(parks) == PARK_COUNT:
            break
        centre = rng.uniform([-7000.0, -6000.0], [7000.0, 6000.0])
        rx, ry = rng.uniform(*PARK_RADIUS_M, size=2)
        angle = rng.uniform(0.0, 180.0)
        park = rotate(
            scale(Point(centre).buffer(1.0, quad_segs=8), rx, ry), angle
        )
        if park.intersects(keep_clear) or any(park.distance(p) < 800.0 for p, _ in parks):
            continue
        name = names.pop(int(rng.integers(len(names))))
        parks.append((park, f"{name} Park"))
    return parks


def _footways(parks: list[tuple[Polygon, str]], plan: _Plan) -> list[_Street]:
    """Return a footway across each park (a drive-network filter must drop these)."""
    blocked = shapely.union_all(plan.no_build)
    streets: list[_Street] = []
    for park, name in parks:
        axis, length = _long_axis(park)
        centre = np.asarray(park.centroid.coords[0])
        half = axis * (length / 2.0 + 40.0)
        coords = np.vstack([centre - half, centre, centre + half])
        if not LineString(coords).intersects(blocked):
            streets.append(_Street(coords, "footway", f"{name} Trail"))
    return streets


def _style(face: Polygon, rng: np.random.Generator) -> _Style:
    """Choose a neighbourhood's street pattern: tighter grids inside, looser suburbs outside."""
    radius = float(np.hypot(*face.centroid.coords[0]))
    long_axis, _ = _long_axis(face)
    aligned = math.atan2(long_axis[1], long_axis[0])
    if radius < URBAN_RADIUS_M:
        angle = aligned + rng.choice([0.0, math.pi / 2]) + rng.normal(0.0, math.radians(5.0))
        return _Style(angle, (rng.uniform(74.0, 103.0), rng.uniform(98.0, 144.0)),
                      rng.uniform(2.0, 6.0), rng.uniform(0.0, 12.0), rng.uniform(400.0, 900.0),
                      missing=0.04, closed_ends=0.1, spurs=0.03, unclassified=0.01)
    angle = aligned + rng.normal(0.0, math.radians(25.0))
    if radius < RURAL_RADIUS_M:
        return _Style(angle, (rng.uniform(85.0, 122.0), rng.uniform(113.0, 175.0)),
                      rng.uniform(5.0, 10.0), rng.uniform(12.0, 40.0), rng.uniform(450.0, 1000.0),
                      missing=0.1, closed_ends=0.4, spurs=0.14, unclassified=0.03)
    return _Style(angle, (rng.uniform(98.0, 144.0), rng.uniform(134.0, 221.0)),
                  rng.uniform(8.0, 14.0), rng.uniform(25.0, 60.0), rng.uniform(500.0, 1100.0),
                  missing=0.16, closed_ends=0.5, spurs=0.12, unclassified=0.2)


@dataclass
class _Grid:
    """A neighbourhood's jittered lattice: nodes, link midpoints, links kept, and end links."""

    axes: FloatArray  # (2, 2): unit vectors along rows and along columns
    nodes: FloatArray  # (ni, nj, 2)
    inside: npt.NDArray[np.bool_]  # (ni, nj)
    mids: list[FloatArray]  # per axis: (ni-1, nj, 2) and (ni, nj-1, 2)
    links: list[npt.NDArray[np.bool_]]  # per axis, same shapes without the 2
    ends: list[tuple[FloatArray, FloatArray]]  # per axis: connector ends (lo, hi), NaN if none
    curved: list[npt.NDArray[np.bool_]]  # per axis: links drawn through their midpoint


def _grid_streets(
    face: Polygon, allowed: BaseGeometry, blocked: BaseGeometry, style: _Style,
    rng: np.random.Generator, namer: _Namer, road_tree: shapely.STRtree,
) -> list[_Street]:
    margin = max(22.0, 0.28 * min(style.spacing))
    inset = allowed.buffer(-margin)
    if inset.is_empty:
        return []
    grid = _lattice(inset, style, rng)
    if not grid.inside.any():
        return []
    reach = face.buffer(_OVERSHOOT_M).difference(blocked)
    _connect_ends(grid, reach, style, rng, road_tree)
    spurs = _spurs(grid, inset, style, rng, namer)
    streets: list[_Street] = []
    for axis in (0, 1):
        streets += _grid_lines(grid, axis, style, rng, namer)
    return streets + spurs


def _lattice(inset: BaseGeometry, style: _Style, rng: np.random.Generator) -> _Grid:
    u = np.array([math.cos(style.angle), math.sin(style.angle)])
    v = np.array([-u[1], u[0]])
    ring = shapely.get_coordinates(inset)
    su, sv = style.spacing
    offset = rng.uniform(0.0, 1.0, size=2) * (su, sv)
    i_range = np.arange(math.floor((ring @ u).min() / su) - 1, math.ceil((ring @ u).max() / su) + 2)
    j_range = np.arange(math.floor((ring @ v).min() / sv) - 1, math.ceil((ring @ v).max() / sv) + 2)
    ii, jj = np.meshgrid(i_range.astype(float), j_range.astype(float), indexing="ij")
    phases = rng.uniform(0.0, 2.0 * math.pi, size=2)
    warp_dirs = rng.normal(size=(2, 2))
    warp_dirs /= np.hypot(warp_dirs[:, 0], warp_dirs[:, 1])[:, None]

    def place(i: FloatArray, j: FloatArray) -> FloatArray:
        base = (offset[0] + i * su)[..., None] * u + (offset[1] + j * sv)[..., None] * v
        wave = 2.0 * math.pi * (base @ warp_dirs.T) / style.warp_length + phases
        return np.asarray(base + style.warp * np.sin(wave[..., ::-1]), dtype=np.float64)

    jitter = rng.normal(0.0, style.jitter, size=(*ii.shape, 2))
    nodes = place(ii, jj) + jitter
    inside = shapely.contains_xy(inset, nodes[..., 0], nodes[..., 1])
    mids = [
        place(ii[:-1] + 0.5, jj[:-1]) + (jitter[:-1] + jitter[1:]) / 2.0,
        place(ii[:, :-1], jj[:, :-1] + 0.5) + (jitter[:, :-1] + jitter[:, 1:]) / 2.0,
    ]
    links = []
    for axis, mid in enumerate(mids):
        both = inside[:-1] & inside[1:] if axis == 0 else inside[:, :-1] & inside[:, 1:]
        kept = rng.random(both.shape) >= style.missing
        links.append(both & kept & shapely.contains_xy(inset, mid[..., 0], mid[..., 1]))
    curved = [np.full(link.shape, style.warp > 15.0) for link in links]
    empty = np.full(nodes.shape, np.nan)
    ends = [(empty.copy(), empty.copy()) for _ in range(2)]
    return _Grid(np.array([u, v]), nodes, inside, mids, links, ends, curved)


def _connect_ends(
    grid: _Grid, reach: BaseGeometry, style: _Style, rng: np.random.Generator,
    road_tree: shapely.STRtree,
) -> None:
    """Run grid streets on to the arterials and collectors around the neighbourhood.

    Some ends are left short (dead ends) as in real subdivisions, but each neighbourhood keeps
    at least two ways in.
    """
    rays: list[tuple[int, int, int, int]] = []  # (axis, end, i, j)
    starts, stops = [], []
    reach_m = max(style.spacing) * 1.6 + 60.0
    for axis in (0, 1):
        inside = grid.inside if axis == 0 else grid.inside.T
        edge = np.ones_like(inside[:1])
        for end, sign in ((0, -1.0), (1, 1.0)):
            # The node is an end if the next node that way is outside (or off the lattice).
            if end == 0:
                beyond = np.concatenate([edge, ~inside[:-1]])
            else:
                beyond = np.concatenate([~inside[1:], edge])
            for a, b in zip(*np.nonzero(inside & beyond), strict=True):
                i, j = (int(a), int(b)) if axis == 0 else (int(b), int(a))
                rays.append((axis, end, i, j))
                starts.append(grid.nodes[i, j])
                stops.append(grid.nodes[i, j] + sign * grid.axes[axis] * reach_m)
    if not rays:
        return
    start_arr, stop_arr = np.asarray(starts), np.asarray(stops)
    clipped = shapely.intersection(shapely.linestrings(np.stack([start_arr, stop_arr], 1)), reach)
    ends = np.full((len(rays), 2), np.nan)
    for k, geometry in enumerate(clipped):
        for part in shapely.get_parts(geometry):
            coords = shapely.get_coordinates(part)
            if len(coords) >= 2 and np.hypot(*(coords[0] - start_arr[k])) < 1e-6:
                ends[k] = coords[-1]
                break
    valid = ~np.isnan(ends[:, 0])
    valid[valid] = np.hypot(*(ends[valid] - start_arr[valid]).T) > 5.0
    near = np.zeros(len(rays), dtype=bool)
    hits = road_tree.query(shapely.points(np.where(valid[:, None], ends, 1e9)),
                           predicate="dwithin", distance=6.0)
    near[hits[0]] = True
    near &= valid
    draw = rng.random(len(rays))
    keep = (near & (draw >= style.closed_ends)) | (valid & ~near & (draw < 0.12))
    if (keep & near).sum() < 2:
        keep[np.nonzero(near)[0][:2]] = True
    for ray in np.nonzero(keep)[0]:
        axis, end, i, j = rays[ray]
        grid.ends[axis][end][i, j] = ends[ray]


def _spurs(
    grid: _Grid, inset: BaseGeometry, style: _Style, rng: np.random.Generator, namer: _Namer
) -> list[_Street]:
    """Add cul-de-sacs off the middle of some blocks (and a few service drives)."""
    streets: list[_Street] = []
    for axis in (0, 1):
        links, mids = grid.links[axis], grid.mids[axis]
        chosen = links & (rng.random(links.shape) < style.spurs)
        for i, j in zip(*np.nonzero(chosen), strict=True):
            if axis == 0:
                a, b = grid.nodes[i, j], grid.nodes[i + 1, j]
            else:
                a, b = grid.nodes[i, j], grid.nodes[i, j + 1]
            along = (b - a) / np.hypot(*(b - a))
            side = np.array([-along[1], along[0]]) * rng.choice([-1.0, 1.0])
            length = style.spacing[1 - axis] * rng.uniform(0.28, 0.4)
            start = mids[i, j]
            bend = start + side * length * 0.5 + along * rng.normal(0.0, 6.0)
            end = start + side * length + along * rng.normal(0.0, 10.0)
            if not shapely.contains_xy(inset, *end):
                continue
            grid.curved[axis][i, j] = True
            coords = np.vstack([start, bend, end])
            if rng.random() < 0.03:
                streets.append(_Street(coords, "service"))
            else:
                streets.append(_Street(coords, "residential", namer(CUL_DE_SAC_SUFFIXES)))
    return streets


def _grid_lines(
    grid: _Grid, axis: int, style: _Style, rng: np.random.Generator, namer: _Namer
) -> list[_Street]:
    """Turn one direction of the lattice into named streets (runs of consecutive links)."""
    nodes, inside, links = grid.nodes, grid.inside, grid.links[axis]
    mids, curved, (lo_ends, hi_ends) = grid.mids[axis], grid.curved[axis], grid.ends[axis]
    if axis == 1:
        nodes, inside, links = nodes.swapaxes(0, 1), inside.T, links.T
        mids, curved = mids.swapaxes(0, 1), curved.T
        lo_ends, hi_ends = lo_ends.swapaxes(0, 1), hi_ends.swapaxes(0, 1)
    streets: list[_Street] = []
    for j in range(inside.shape[1]):
        if not inside[:, j].any():
            continue
        highway = "unclassified" if rng.random() < style.unclassified else "residential"
        name: str | None = namer(THROUGH_STREET_SUFFIXES)
        if rng.random() < 0.01:
            name = None
        for run in _runs(inside[:, j], links[:, j]):
            coords = _run_coords(run, j, nodes, mids, curved, lo_ends, hi_ends)
            if coords is not None:
                streets.append(_Street(coords, highway, name))
    return streets


def _runs(inside: npt.NDArray[np.bool_], links: npt.NDArray[np.bool_]) -> Iterator[list[int]]:
    """Yield the index runs of inside nodes joined by kept links."""
    run: list[int] = []
    for i in range(len(inside)):
        if not inside[i]:
            continue
        if run and run[-1] == i - 1 and links[i - 1]:
            run.append(i)
            continue
        if run:
            yield run
        run = [i]
    if run:
        yield run


def _run_coords(
    run: list[int], j: int, nodes: FloatArray, mids: FloatArray,
    curved: npt.NDArray[np.bool_], lo_ends: FloatArray, hi_ends: FloatArray,
) -> FloatArray | None:
    points: list[FloatArray] = []
    first, last = run[0], run[-1]
    if not np.isnan(lo_ends[first, j, 0]):
        points.append(lo_ends[first, j])
    for i in run:
        if i > first and curved[i - 1, j]:
            points.append(mids[i - 1, j])
        points.append(nodes[i, j])
    if not np.isnan(hi_ends[last, j, 0]):
        points.append(hi_ends[last, j])
    if len(points) < 2:
        return None
    return np.asarray(points, dtype=np.float64)


# --- Network: noding, ways -------------------------------------------------------------------


def _build_network(
    streets: list[_Street], carriageways: list[_Street], rng: np.random.Generator
) -> _Network:
    """Node the streets where they cross, cut them into OSM ways and number the nodes."""
    pieces = _trim_stubs(_node_streets(streets), streets)
    network = _Network()
    for carriageway in carriageways:
        nodes = [network.node(x, y) for x, y in carriageway.coords]
        network.ways.append((nodes, _tags(carriageway, None)))
    by_street: list[list[_Piece]] = [[] for _ in streets]
    for piece in pieces:
        by_street[piece.street].append(piece)
    degree = _degrees(pieces)
    for street, own in zip(streets, by_street, strict=True):
        own.sort(key=lambda piece: piece.position)
        _add_street_ways(network, street, own, rng)
    _collect_junctions(network, streets, pieces, degree)
    return network


def _node_streets(streets: list[_Street]) -> list[_Piece]:
    """Split every street at every crossing with another, so crossings become shared nodes."""
    lines = np.asarray([LineString(s.coords) for s in streets], dtype=object)
    noded = shapely.get_parts(shapely.node(shapely.multilinestrings(lines)))
    midpoints = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    source = _source_lines(midpoints, lines)
    position = shapely.line_locate_point(lines[source], midpoints)
    head = shapely.line_locate_point(lines[source], shapely.get_point(noded, 0))
    tail = shapely.line_locate_point(lines[source], shapely.get_point(noded, -1))
    lengths = shapely.length(noded)
    coords, index = shapely.get_coordinates(noded, return_index=True)
    splits = np.searchsorted(index, np.arange(1, len(noded)))
    pieces: list[_Piece] = []
    for k, part in enumerate(np.split(coords, splits)):
        # Pieces keep their street's direction, which matters for one-way streets.
        oriented = part[::-1] if head[k] > tail[k] else part
        pieces.append(_Piece(int(source[k]), oriented, float(position[k]), float(lengths[k]),
                             _key(oriented[0]), _key(oriented[-1])))
    return pieces


def _source_lines(
    midpoints: npt.NDArray[np.object_], lines: npt.NDArray[np.object_]
) -> npt.NDArray[np.intp]:
    """Return, for each noded piece's midpoint, the index of the street it came from."""
    tree = shapely.STRtree(lines)
    found, hit = tree.query(midpoints, predicate="dwithin", distance=1e-6)
    source = np.full(len(midpoints), -1, dtype=np.intp)
    # Where a midpoint touches two streets (they overlap), the first street wins.
    first = np.unique(found, return_index=True)[1]
    source[found[first]] = hit[first]
    missing = np.nonzero(source < 0)[0]
    if len(missing):
        source[missing] = tree.query_nearest(midpoints[missing], all_matches=False)[1]
    return source


def _key(point: FloatArray) -> tuple[int, int]:
    return (round(float(point[0]) * 1000.0), round(float(point[1]) * 1000.0))


def _degrees(pieces: list[_Piece]) -> dict[tuple[int, int], int]:
    degree: dict[tuple[int, int], int] = {}
    for piece in pieces:
        degree[piece.head] = degree.get(piece.head, 0) + 1
        degree[piece.tail] = degree.get(piece.tail, 0) + 1
    return degree


def _trim_stubs(pieces: list[_Piece], streets: list[_Street]) -> list[_Piece]:
    """Drop the short overshoots past the last crossing that made the noding exact."""
    for _ in range(2):
        degree = _degrees(pieces)
        kept = []
        for piece in pieces:
            dangling = degree[piece.head] == 1 or degree[piece.tail] == 1
            explicit = streets[piece.street].highway == "motorway_link"
            if piece.length < 0.01 or (dangling and piece.length < _STUB_M and not explicit):
                continue
            kept.append(piece)
        pieces = kept
    return pieces


def _add_street_ways(
    network: _Network, street: _Street, pieces: list[_Piece], rng: np.random.Generator
) -> None:
    """Cut a street's pieces into ways spanning a few intersections each, like real OSM."""
    low, high = WAY_PIECES.get(street.highway, (1_000_000, 1_000_000))
    if street.bridge:
        low = high = 1_000_000
    maxspeed = _draw_maxspeed(street, rng)
    for chain in _chains(pieces):
        start = 0
        while start < len(chain):
            count = int(rng.integers(low, high + 1))
            group = chain[start : start + count]
            start += count
            nodes = [network.node(x, y) for piece in group for x, y in piece.coords]
            # Pieces share their end nodes; vertices closer than a millimetre are one node.
            nodes = [n for k, n in enumerate(nodes) if k == 0 or n != nodes[k - 1]]
            if len(nodes) >= 2:
                network.ways.append((nodes, _tags(street, maxspeed)))
            if rng.random() < 0.25:  # speed limits change now and then along a street
                maxspeed = _draw_maxspeed(street, rng)


def _chains(pieces: list[_Piece]) -> Iterator[list[_Piece]]:
    """Yield runs of pieces that follow on from each other (gaps where stubs were dropped)."""
    chain: list[_Piece] = []
    for piece in pieces:
        if chain and chain[-1].tail != piece.head:
            yield chain
            chain = []
        chain.append(piece)
    if chain:
        yield chain


def _draw_maxspeed(street: _Street, rng: np.random.Generator) -> str | None:
    choices = MAXSPEED_CHOICES.get(street.highway)
    return _weighted(rng, choices) if choices else None


def _tags(street: _Street, maxspeed: str | None) -> list[tuple[str, str]]:
    tags: dict[str, str] = {"highway": street.highway}
    if street.name:
        tags["name"] = street.name
    if street.ref:
        tags["ref"] = street.ref
    if street.oneway:
        tags["oneway"] = "yes"
    if maxspeed:
        tags["maxspeed"] = maxspeed
    if street.bridge:
        tags["bridge"] = "yes"
        tags["layer"] = "1"
    tags.update(street.extra)
    ordered = sorted(tags.items(), key=lambda kv: TAG_ORDER.index(kv[0]))
    return [*ordered, SYNTHETIC_TAG]


def _collect_junctions(
    network: _Network, streets: list[_Street], pieces: list[_Piece],
    degree: dict[tuple[int, int], int],
) -> None:
    """Remember two-way arterial and collector intersections (candidate staging posts)."""
    seen: dict[int, None] = {}
    for piece in pieces:
        street = streets[piece.street]
        if street.oneway or street.bridge or street.highway not in (
            "trunk", "primary", "secondary", "tertiary"
        ):
            continue
        for key in (piece.head, piece.tail):
            if degree.get(key, 0) >= 3:
                node_id = network.node_ids.get(key)
                if node_id is not None and node_id not in seen:
                    seen[node_id] = None
                    network.junctions.append((node_id, street.highway))


# --- OSM XML ---------------------------------------------------------------------------------


def _write_osm(path: Path, network: _Network) -> None:
    """Write the network as OSM XML in one go."""
    lon, lat = _to_lonlat(np.asarray(network.node_xy, dtype=np.float64))
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<osm version="0.6" generator="{OSM_GENERATOR}">',
        f"  <note>{OSM_NOTE}</note>",
        f'  <bounds minlat="{lat.min():.7f}" minlon="{lon.min():.7f}" '
        f'maxlat="{lat.max():.7f}" maxlon="{lon.max():.7f}"/>',
    ]
    lines += [
        f'  <node id="{k}" lat="{y:.7f}" lon="{x:.7f}" version="1"/>'
        for k, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True), start=1)
    ]
    for way_id, (nodes, tags) in enumerate(network.ways, start=1):
        lines.append(f'  <way id="{way_id}" version="1">')
        lines += [f'    <nd ref="{node}"/>' for node in nodes]
        lines += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags]
        lines.append("  </way>")
    lines.append("</osm>")
    with atomic_path(path) as tmp:
        tmp.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))


# --- Zones: service area, beats, districts, posts --------------------------------------------


def _zones(
    network: _Network, plan: _Plan, rng: np.random.Generator
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    area = _service_area(rng)
    cells = _beat_cells(area, rng)
    districts_of = _fix_contiguity(cells, [_district_of(seed) for _, seed in cells])
    beats = _beat_frame([cell for cell, _ in cells], districts_of, rng)
    districts = beats.dissolve(by="district", aggfunc={"population": "sum"}).reset_index()
    districts = districts[["district", "population", "geometry"]]
    districts["source"] = DEMO_SOURCE
    posts = _post_frame(network, plan, area, districts)
    service_area = _frame({"name": [SERVICE_AREA_NAME]}, [area])
    return (
        service_area.to_crs("EPSG:4326"),
        beats.to_crs("EPSG:4326"),
        districts.to_crs("EPSG:4326"),
        posts.to_crs("EPSG:4326"),
    )


def _frame(columns: dict[str, list[object]], geometry: Sequence[BaseGeometry]) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {**columns, "source": [DEMO_SOURCE] * len(geometry)},
        geometry=list(geometry), crs=_LOCAL_CRS,
    )
    frame.attrs["synthetic"] = True
    return frame


def _service_area(rng: np.random.Generator) -> Polygon:
    """Return a boxy, wobbly city limit inside the road network's extent."""
    theta = np.linspace(0.0, 2.0 * math.pi, 360, endpoint=False)
    power = 2.0 / SERVICE_AREA_SQUARENESS
    a, b = SERVICE_AREA_SEMI_AXES_M
    x = a * np.sign(np.cos(theta)) * np.abs(np.cos(theta)) ** power
    y = b * np.sign(np.sin(theta)) * np.abs(np.sin(theta)) ** power
    scale = np.ones_like(theta)
    for k in range(2, 7):
        scale += rng.uniform(0.008, 0.03) * np.cos(k * theta + rng.uniform(0.0, 2.0 * math.pi))
    outline = Polygon(np.column_stack([x * scale, y * scale]))
    result = outline.intersection(_extent().buffer(-150.0, join_style="mitre"))
    return max(_polygon_parts(result, 0.0), key=lambda p: p.area)


def _beat_cells(area: Polygon, rng: np.random.Generator) -> list[tuple[BaseGeometry, FloatArray]]:
    """Voronoi cells of jittered seeds, clipped to the service area: (cell, seed) pairs."""
    spacing = BEAT_SEED_SPACING_M
    xs = np.arange(-EXTENT_HALF_WIDTH_M + spacing / 2, EXTENT_HALF_WIDTH_M, spacing)
    ys = np.arange(-EXTENT_HALF_HEIGHT_M + spacing / 2, EXTENT_HALF_HEIGHT_M, spacing)
    grid = np.array([(x, y) for y in ys for x in xs])
    grid += rng.uniform(-0.25, 0.25, size=grid.shape) * spacing
    far = np.hypot(*grid.T) > DOWNTOWN_DISTRICT_RADIUS_M + 300.0
    inner = area.buffer(-400.0)
    grid = grid[far & shapely.contains_xy(inner, grid[:, 0], grid[:, 1])]
    turn = rng.uniform(0.0, 2.0 * math.pi)
    angles = turn + np.arange(DOWNTOWN_BEAT_SEEDS) * 2.0 * math.pi / DOWNTOWN_BEAT_SEEDS
    ring = 0.55 * DOWNTOWN_DISTRICT_RADIUS_M * np.column_stack([np.cos(angles), np.sin(angles)])
    seeds = np.vstack([ring + rng.normal(0.0, 80.0, size=ring.shape), grid])
    cells = shapely.get_parts(shapely.voronoi_polygons(
        MultiPoint(seeds), extend_to=_extent().buffer(3000.0), ordered=True
    ))
    clipped = shapely.intersection(cells, area)
    return [(cell, seed) for cell, seed in zip(clipped, seeds, strict=True) if not cell.is_empty]


def _district_of(seed: FloatArray) -> str:
    if float(np.hypot(*seed)) < DOWNTOWN_DISTRICT_RADIUS_M:
        return DOWNTOWN_DISTRICT
    angle = math.degrees(math.atan2(seed[1], seed[0])) % 360.0
    return QUADRANT_DISTRICTS[int(((angle + 45.0) % 360.0) // 90.0)]


def _fix_contiguity(
    cells: list[tuple[BaseGeometry, FloatArray]], districts: list[str]
) -> list[str]:
    """Hand beats cut off from the rest of their district to the neighbour they share most with."""
    geoms = [cell for cell, _ in cells]
    for _ in range(10):
        moved = False
        for district in sorted(dict.fromkeys(districts)):
            members = [k for k, d in enumerate(districts) if d == district]
            parts = _polygon_parts(shapely.union_all([geoms[k] for k in members]).buffer(0.01), 0.0)
            if len(parts) <= 1:
                continue
            main = max(parts, key=lambda p: p.area)
            for k in members:
                if geoms[k].intersects(main):
                    continue
                shared: dict[str, float] = {}
                for other, other_district in enumerate(districts):
                    if other_district != district:
                        border = geoms[k].buffer(0.01).intersection(geoms[other].buffer(0.01))
                        shared[other_district] = shared.get(other_district, 0.0) + border.area
                if shared:
                    districts[k] = max(sorted(shared), key=lambda d: shared[d])
                    moved = True
        if not moved:
            break
    return districts


def _beat_frame(
    cells: list[BaseGeometry], districts: list[str], rng: np.random.Generator
) -> gpd.GeoDataFrame:
    """Return the beats frame: numbered north to south within each district, with populations."""
    centre_density, floor_density, e_folding = POPULATION_DENSITY_PER_KM2
    order = sorted(
        range(len(cells)),
        key=lambda k: (districts[k], -round(cells[k].centroid.y, -2), round(cells[k].centroid.x)),
    )
    rows: dict[str, list[object]] = {"beat": [], "district": [], "population": []}
    geometry: list[BaseGeometry] = []
    counter: dict[str, int] = {}
    for k in order:
        district = districts[k]
        n = counter.get(district, 0)
        counter[district] = n + 1
        radius = float(np.hypot(*cells[k].centroid.coords[0]))
        density = floor_density + centre_density * math.exp(-radius / e_folding)
        population = cells[k].area / 1e6 * density * rng.lognormal(0.0, 0.25)
        rows["beat"].append(f"{district[1:]}{1 + n // 9}{1 + n % 9}")
        rows["district"].append(district)
        rows["population"].append(round(population))
        geometry.append(cells[k])
    return _frame(rows, geometry)


def _post_frame(
    network: _Network, plan: _Plan, area: Polygon, districts: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Put each staging post beside the arterial or collector intersection nearest its site."""
    ids = np.array([node_id for node_id, _ in network.junctions])
    xy = np.asarray([network.node_xy[node_id - 1] for node_id in ids], dtype=np.float64)
    usable = shapely.contains_xy(area.buffer(-150.0), xy[:, 0], xy[:, 1])
    usable &= shapely.distance(shapely.points(xy), plan.river) > RIVER_NO_BUILD_HALF_WIDTH_M + 50
    for centre in plan.interchange_centers:
        usable &= np.hypot(*(xy - centre).T) > INTERCHANGE_RADIUS_M
    rows: dict[str, list[object]] = {"post_id": [], "name": [], "district": []}
    geometry: list[BaseGeometry] = []
    for number, (site, target) in enumerate(POST_SITES, start=1):
        distance = np.where(usable, np.hypot(*(xy - np.asarray(target)).T), np.inf)
        best = int(np.argmin(distance))
        usable[best] = False
        # A few metres off the intersection, as a station sits beside the road.
        point = Point(xy[best] + np.array([7.0, 7.0]))
        inside = districts[districts.contains(point)]
        rows["post_id"].append(number)
        rows["name"].append(f"Post {number} — {site}")
        rows["district"].append(str(inside["district"].iloc[0]) if len(inside) else "")
        geometry.append(point)
    return _frame(rows, geometry)
