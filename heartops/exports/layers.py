"""Build the full-detail (internal profile) layers from core values.

Every function takes plain core values (calls, unit records, fixes, posts) so it is tested
without a database; :mod:`heartops.exports.run` fetches them. All frames are EPSG:4326
(lon/lat, WGS 84): the CRS GeoJSON mandates and every GIS reads without asking.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from heartops.core.avl import AvlFix
from heartops.core.calls import Call
from heartops.core.codes import CallStep
from heartops.exports.model import ExportKind, Layer
from heartops.routing.posts import Post
from heartops.store.records import UnitRecord

__all__ = [
    "CRS",
    "TRACK_GAP",
    "calls_layer",
    "isochrones_layer",
    "tracks_layer",
    "units_layer",
    "zones_layer",
]

CRS = "EPSG:4326"
TRACK_GAP = dt.timedelta(minutes=15)
"""A longer silence between two fixes starts a new track (the unit parked or lost AVL)."""

_TIME_STEPS = (CallStep.DISPATCHED, CallStep.EN_ROUTE, CallStep.ON_SCENE, CallStep.CLEARED)


def calls_layer(calls: Sequence[Call]) -> Layer:
    """Return one point per call with every field, free text included.

    Parameters
    ----------
    calls
        The calls to export.

    Returns
    -------
    Layer
        Columns: ids, codes, step times (UTC), intervals in minutes, address, notes,
        destination, ``lat``/``lon`` and a point geometry.
    """
    rows = [_call_row(call) for call in calls]
    columns = list(_call_row_template())
    frame = pd.DataFrame(rows, columns=columns)
    for name in ("received_at", *(f"{step}_at" for step in _TIME_STEPS)):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    geometry = shapely.points(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    return Layer(ExportKind.CALLS, gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS),
                 "Point")


def _call_row_template() -> dict[str, Any]:
    return dict.fromkeys([
        "call_id", "call_type", "priority", "zone_id", "received_at",
        *(f"{step}_at" for step in _TIME_STEPS),
        "to_scene_min", "on_scene_min", "total_min", "flags", "needs", "dispositions",
        "unit_ids", "address", "destination", "notes", "lat", "lon",
    ])


def _call_row(call: Call) -> dict[str, Any]:
    row = _call_row_template()
    row.update(
        call_id=call.call_id, call_type=call.call_type, priority=call.priority.value,
        zone_id=call.zone_id, received_at=call.received_at,
        to_scene_min=_minutes(call.to_scene), on_scene_min=_minutes(call.on_scene_time),
        total_min=_minutes(call.total_time), flags=",".join(sorted(call.flags)),
        needs=",".join(sorted(call.needs)), dispositions=",".join(call.dispositions),
        unit_ids=",".join(call.unit_ids), address=call.address,
        destination=call.destination or "",
        notes=" | ".join(f"{n.at:%Y-%m-%dT%H:%MZ} {n.author}: {n.text}" for n in call.notes),
        lat=call.location.lat, lon=call.location.lon)
    for step in _TIME_STEPS:
        row[f"{step}_at"] = call.time_of(step)
    return row


def _minutes(span: dt.timedelta | None) -> float | None:
    return None if span is None else round(span.total_seconds() / 60.0, 2)


def units_layer(records: Sequence[UnitRecord]) -> Layer:
    """Return one point per unit at its last AVL position (units never seen are left out).

    Parameters
    ----------
    records
        Units as the store returns them.
    """
    rows = []
    for record in records:
        unit, state = record.unit, record.state
        if state.position is None:
            continue
        rows.append({
            "unit_id": unit.unit_id, "program": unit.program, "name": unit.name,
            "team": ",".join(unit.team), "capabilities": ",".join(sorted(unit.capabilities)),
            "home_post_id": unit.home_post_id, "status": state.status,
            "status_since": state.since, "call_id": state.call_id,
            "last_avl_at": state.last_avl_at,
            "lat": state.position.lat, "lon": state.position.lon,
        })
    frame = pd.DataFrame(rows, columns=[
        "unit_id", "program", "name", "team", "capabilities", "home_post_id", "status",
        "status_since", "call_id", "last_avl_at", "lat", "lon"])
    for name in ("status_since", "last_avl_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    geometry = shapely.points(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    return Layer(ExportKind.UNITS, gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS), "Point")


def tracks_layer(fixes_by_unit: Mapping[str, Sequence[AvlFix]], *,
                 gap: dt.timedelta = TRACK_GAP) -> Layer:
    """Return the units' AVL tracks, one line per unbroken run of fixes.

    Parameters
    ----------
    fixes_by_unit
        Each unit's fixes, oldest first.
    gap
        A silence longer than this splits a track. Runs of a single fix make no line and are
        left out.
    """
    rows: list[dict[str, Any]] = []
    lines = []
    for unit_id, fixes in fixes_by_unit.items():
        for run in _runs(fixes, gap):
            if len(run) < 2:
                continue
            lines.append(shapely.linestrings([(f.position.lon, f.position.lat) for f in run]))
            rows.append({"unit_id": unit_id, "start_at": run[0].time, "end_at": run[-1].time,
                         "fixes": len(run)})
    frame = pd.DataFrame(rows, columns=["unit_id", "start_at", "end_at", "fixes"])
    for name in ("start_at", "end_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    frame["fixes"] = frame["fixes"].astype("int64")
    return Layer(ExportKind.TRACKS, gpd.GeoDataFrame(frame, geometry=lines, crs=CRS),
                 "LineString")


def _runs(fixes: Sequence[AvlFix], gap: dt.timedelta) -> list[list[AvlFix]]:
    runs: list[list[AvlFix]] = []
    for fix in fixes:
        if runs and fix.time - runs[-1][-1].time <= gap:
            runs[-1].append(fix)
        else:
            runs.append([fix])
    return runs


def zones_layer(zones: gpd.GeoDataFrame) -> Layer:
    """Return a stored zone layer as an export layer (its own columns, EPSG:4326)."""
    frame = zones.to_crs(CRS).reset_index(drop=True)
    frame.geometry = [_multipolygon(g) for g in frame.geometry.array]
    return Layer(ExportKind.ZONES, frame, "MultiPolygon")


def isochrones_layer(posts: Sequence[Post], areas: Sequence[tuple[Post, float, Any]]) -> Layer:
    """Return drive-time areas around staging posts.

    Parameters
    ----------
    posts
        The posts (kept for their order; areas of posts not listed are dropped).
    areas
        ``(post, minutes, polygon)`` triples, polygons in lon/lat.
    """
    order = {post.post_id: i for i, post in enumerate(posts)}
    chosen = sorted((a for a in areas if a[0].post_id in order),
                    key=lambda a: (order[a[0].post_id], -a[1]))
    frame = pd.DataFrame({
        "post_id": [post.post_id for post, _, _ in chosen],
        "post_name": [post.name for post, _, _ in chosen],
        "minutes": [float(minutes) for _, minutes, _ in chosen],
    }, columns=["post_id", "post_name", "minutes"])
    geometry = [_multipolygon(area) for _, _, area in chosen]
    return Layer(ExportKind.ISOCHRONES, gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS),
                 "MultiPolygon")


def _multipolygon(geom: Any) -> Any:
    """Return polygons as one MultiPolygon, so a layer has a single geometry type."""
    if geom is None or shapely.is_empty(geom):
        return None
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3]
    return shapely.MultiPolygon(parts) if parts else None
