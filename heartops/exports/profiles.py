"""Privacy profiles: what each audience may see of a layer.

``internal`` passes layers through. ``partner`` keeps an allow-list of columns per kind (a new
field added to a call later is therefore *not* shared until someone decides it may be) and
moves every location to the centre of its 100 m grid cell. ``public`` turns calls into a
zone-by-priority count table with margins, suppresses small counts
(:mod:`heartops.exports.suppression`) and refuses units and tracks outright.

Why a grid and not the street-block midpoint: heartops holds no address ranges, and snapping to
the middle of the nearest road segment would need the network for every export and would put
a lone house on a short cul-de-sac right back where it was. A fixed 100 m grid in the point's
own UTM zone (cells anchored at the zone's origin, never at the data) needs nothing, moves a
point at most 71 m, gives the same cell whatever else is exported (two exports cannot be
intersected to narrow a location down), and is about one street block in Durham, whose blocks
run 100-150 m.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

from heartops.core.codes import Priority
from heartops.exports.model import ExportError, ExportKind, Layer, Profile
from heartops.exports.suppression import HIGH, LOW, suppress

__all__ = [
    "GRID_M",
    "OUTSIDE_ID",
    "PARTNER_COLUMNS",
    "PUBLIC_KINDS",
    "TOTAL_COLUMN",
    "TOTAL_ID",
    "apply_profile",
    "generalise_points",
    "public_calls_table",
]

GRID_M = 100.0
"""Cell size of the partner grid, metres."""

TOTAL_ID = "ALL"
"""``zone_id`` of the public table's totals row."""

OUTSIDE_ID = "OUTSIDE"
"""``zone_id`` of the public row counting calls in no zone of the layer (no geometry)."""

TOTAL_COLUMN = "calls_total"

PARTNER_COLUMNS: dict[ExportKind, tuple[str, ...]] = {
    ExportKind.CALLS: (
        "call_id", "call_type", "priority", "zone_id", "received_at", "dispatched_at",
        "en_route_at", "on_scene_at", "cleared_at", "to_scene_min", "on_scene_min",
        "total_min", "flags", "needs", "dispositions", "unit_ids",
    ),
    ExportKind.UNITS: (
        "unit_id", "program", "team", "capabilities", "home_post_id", "status",
        "status_since", "call_id", "last_avl_at",
    ),
    ExportKind.TRACKS: ("unit_id", "start_at", "end_at", "fixes"),
    ExportKind.ZONES: ("zone_id", "group_id", "name"),
    ExportKind.ISOCHRONES: ("post_id", "post_name", "minutes"),
}
"""What a partner sees of each kind (besides the generalised geometry and ``lat``/``lon``)."""

PUBLIC_KINDS = frozenset({ExportKind.CALLS, ExportKind.ZONES, ExportKind.ISOCHRONES})
"""Kinds a public export may hold: units and tracks are where staff are, not publishable."""

_PRIORITY_COLUMNS = tuple((p, f"calls_priority_{p.value}") for p in Priority)


def apply_profile(layer: Layer, profile: Profile, *, zones: gpd.GeoDataFrame | None) -> Layer:
    """Return ``layer`` as ``profile`` may see it.

    Parameters
    ----------
    layer
        A full-detail layer.
    profile
        Who it is for.
    zones
        The zone layer the public calls table counts by (needed for public calls only).

    Raises
    ------
    ExportError
        For a kind the profile does not publish, or public calls without zones.
    """
    if profile is Profile.INTERNAL:
        return layer
    if profile is Profile.PARTNER:
        return _partner(layer)
    if layer.kind not in PUBLIC_KINDS:
        raise ExportError(f"the public profile does not publish {layer.kind}: they show where "
                          "staff are; use --profile partner for a data-sharing partner")
    if layer.kind is ExportKind.CALLS:
        if zones is None:
            raise ExportError("a public calls export needs a zone layer to count calls by")
        return public_calls_table(layer.frame, zones)
    columns = [c for c in PARTNER_COLUMNS[layer.kind] if c in layer.frame.columns]
    return Layer(layer.kind, layer.frame[[*columns, layer.frame.geometry.name]].copy(),
                 layer.geometry_type)


# -- partner --------------------------------------------------------------------------------


def _partner(layer: Layer) -> Layer:
    frame = layer.frame
    keep = [c for c in PARTNER_COLUMNS[layer.kind] if c in frame.columns]
    out = gpd.GeoDataFrame(frame[keep].copy(), geometry=frame.geometry.array, crs=frame.crs)
    if layer.geometry_type == "Point":
        out.geometry = generalise_points(out.geometry.array)
        out["lat"] = out.geometry.y
        out["lon"] = out.geometry.x
        out = out[[*keep, "lat", "lon", "geometry"]]
    elif layer.geometry_type == "LineString":
        out.geometry = [_generalise_line(line) for line in out.geometry.array]
        out = out[~out.geometry.isna()].reset_index(drop=True)
    return Layer(layer.kind, out, layer.geometry_type)


def generalise_points(points: Sequence[Any] | npt.NDArray[np.object_], *,
                      cell_m: float = GRID_M) -> npt.NDArray[np.object_]:
    """Move each lon/lat point to the centre of its ``cell_m`` grid cell in its UTM zone.

    Parameters
    ----------
    points
        Shapely points in lon/lat (``None`` stays ``None``).
    cell_m
        Grid cell size in metres.

    Returns
    -------
    numpy.ndarray of shapely.Point
        The cell centres, in lon/lat.
    """
    geoms = np.asarray(points, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    present = np.array([g is not None and not shapely.is_empty(g) for g in geoms], dtype=bool)
    if not present.any():
        return out
    lon = shapely.get_x(geoms[present].astype(object))
    lat = shapely.get_y(geoms[present].astype(object))
    x_lon, y_lat = _snap_lonlat(lon, lat, cell_m)
    out[np.flatnonzero(present)] = shapely.points(x_lon, y_lat)
    return out


def _snap_lonlat(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64],
                 cell_m: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Snap lon/lat arrays to cell centres, one UTM zone at a time."""
    zone = np.floor((lon + 180.0) / 6.0).astype(int) % 60 + 1
    south = lat < 0
    new_lon, new_lat = lon.copy(), lat.copy()
    for z, is_south in {(int(a), bool(b)) for a, b in zip(zone, south, strict=True)}:
        pick = (zone == z) & (south == is_south)
        utm = pyproj.CRS.from_epsg((32700 if is_south else 32600) + z)
        forward = pyproj.Transformer.from_crs("EPSG:4326", utm, always_xy=True)
        backward = pyproj.Transformer.from_crs(utm, "EPSG:4326", always_xy=True)
        x, y = forward.transform(lon[pick], lat[pick])
        cx = (np.floor(np.asarray(x) / cell_m) + 0.5) * cell_m
        cy = (np.floor(np.asarray(y) / cell_m) + 0.5) * cell_m
        new_lon[pick], new_lat[pick] = backward.transform(cx, cy)
    return new_lon, new_lat


def _generalise_line(line: Any) -> Any:
    """Snap a track's vertices to cell centres and drop repeats (a parked unit is one vertex)."""
    if line is None or shapely.is_empty(line):
        return None
    coords = np.asarray(shapely.get_coordinates(line), dtype=np.float64)
    lon, lat = _snap_lonlat(coords[:, 0], coords[:, 1], GRID_M)
    kept: list[tuple[float, float]] = []
    for point in zip(lon.tolist(), lat.tolist(), strict=True):
        if not kept or point != kept[-1]:
            kept.append(point)
    return shapely.linestrings(kept) if len(kept) >= 2 else None


# -- public ---------------------------------------------------------------------------------


def public_calls_table(calls: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *, low: int = LOW,
                       high: int = HIGH) -> Layer:
    """Return calls counted per zone and priority with margins, small counts suppressed.

    Parameters
    ----------
    calls
        The full-detail calls layer frame (needs ``zone_id`` and ``priority``).
    zones
        The zone layer (``zone_id``, ``group_id``, ``name``, polygons), in layer order.
    low, high
        Counts in ``[low, high]`` are suppressed, with complementary cells.

    Returns
    -------
    Layer
        One polygon row per zone, a row :data:`OUTSIDE_ID` (no geometry) when some calls are in
        no zone, and a row :data:`TOTAL_ID` (all zones dissolved) with the column totals.
        Hidden counts are null.
    """
    zones = zones.to_crs("EPSG:4326")
    zone_ids = [str(z) for z in zones["zone_id"]]
    known = set(zone_ids)
    call_zone = [z if isinstance(z, str) and z in known else OUTSIDE_ID
                 for z in calls["zone_id"]]
    row_ids = zone_ids + ([OUTSIDE_ID] if OUTSIDE_ID in call_zone else [])
    row_of = {z: i for i, z in enumerate(row_ids)}
    col_of = {p.value: j for j, (p, _) in enumerate(_PRIORITY_COLUMNS)}
    table = np.zeros((len(row_ids) + 1, len(col_of) + 1), dtype=np.int64)
    for zone_id, priority in zip(call_zone, calls["priority"], strict=True):
        table[row_of[zone_id], col_of[str(priority)]] += 1
    table[:-1, -1] = table[:-1, :-1].sum(axis=1)
    table[-1, :] = table[:-1, :].sum(axis=0)
    hidden = suppress(table, low=low, high=high)
    count_columns = (*(name for _, name in _PRIORITY_COLUMNS), TOTAL_COLUMN)
    data: dict[str, Any] = {
        "zone_id": [*row_ids, TOTAL_ID],
        "group_id": [*_zone_text(zones, "group_id"), *([None] if OUTSIDE_ID in row_of else []),
                     None],
        "name": [*_zone_text(zones, "name"),
                 *(["calls in no zone"] if OUTSIDE_ID in row_of else []), "all zones"],
    }
    for j, name in enumerate(count_columns):
        data[name] = pd.array([None if hidden[i, j] else int(table[i, j])
                               for i in range(table.shape[0])], dtype="Int64")
    geometry = [*zones.geometry.array, *([None] if OUTSIDE_ID in row_of else []),
                shapely.union_all(np.asarray(zones.geometry.array, dtype=object))]
    frame = gpd.GeoDataFrame(data, geometry=[_as_multi(g) for g in geometry], crs="EPSG:4326")
    frame.attrs["suppressed_cells"] = int(hidden.sum())
    return Layer(ExportKind.CALLS, frame, "MultiPolygon", count_columns=count_columns,
                 total_row_id=TOTAL_ID)


def _zone_text(zones: gpd.GeoDataFrame, column: str) -> list[str | None]:
    if column not in zones.columns:
        return [None] * len(zones)
    return [None if pd.isna(v) else str(v) for v in zones[column]]


def _as_multi(geom: Any) -> Any:
    if geom is None or shapely.is_empty(geom):
        return None
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3]
    return shapely.MultiPolygon(parts) if parts else None
