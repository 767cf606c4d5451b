"""Exports of a simulated day on the demo city, opened again with geopandas/pyogrio."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from exports_helpers import PERSONAL_ADDRESS, PERSONAL_NAME, PERSONAL_PHONE

from heartops.exports import (
    DisclosureError,
    ExportError,
    ExportFormat,
    ExportKind,
    ExportRequest,
    Profile,
    export_layers,
)
from heartops.exports.profiles import GRID_M, OUTSIDE_ID, TOTAL_ID
from heartops.exports.suppression import relations
from heartops.routing.posts import load_posts
from heartops.store import open_store

ALL_KINDS = tuple(ExportKind)
PUBLIC_KINDS = (ExportKind.CALLS, ExportKind.ZONES, ExportKind.ISOCHRONES)
COUNT_COLUMNS = ["calls_priority_P", "calls_priority_1", "calls_priority_2",
                 "calls_priority_3", "calls_total"]

pytestmark = pytest.mark.usefixtures("demo_city")


def request(out: Path, db: Path, *, fmt: ExportFormat = ExportFormat.GPKG,
            profile: Profile = Profile.INTERNAL,
            kinds: tuple[ExportKind, ...] = ALL_KINDS) -> ExportRequest:
    return ExportRequest(kinds=kinds, format=fmt, profile=profile, out=out, db=str(db),
                         minutes=(5.0,))


def stored_counts(db: Path) -> tuple[int, int]:
    with open_store(str(db)) as store:
        return len(store.calls()), sum(r.state.position is not None for r in store.units())


def test_internal_geopackage_has_one_layer_per_kind_in_epsg4326(
        export_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "internal.gpkg"
    steps: list[tuple[str, float | None]] = []
    result = export_layers(request(out, export_db),
                           lambda step, fraction=None: steps.append((step, fraction)))
    assert result.paths == (out,)
    layers = dict(pyogrio.list_layers(out))
    assert layers == {"calls": "Point", "zones": "MultiPolygon", "units": "Point",
                      "tracks": "LineString", "isochrones": "MultiPolygon"}
    calls, units = stored_counts(export_db)
    frames = {name: gpd.read_file(out, layer=name) for name in layers}
    for frame in frames.values():
        assert frame.crs.to_epsg() == 4326
    assert len(frames["calls"]) == calls > 50
    assert len(frames["units"]) == units == 2
    assert len(frames["tracks"]) == 2  # one unbroken run each
    assert len(frames["isochrones"]) == len(load_posts("demo")) > 5
    assert len(frames["zones"]) == 36
    hand = frames["calls"].set_index("call_id").loc["HAND-0"]
    assert hand["address"] == PERSONAL_ADDRESS and PERSONAL_PHONE in hand["notes"]
    assert math.isclose(hand.geometry.x, hand["lon"]) and math.isclose(hand.geometry.y,
                                                                        hand["lat"])
    assert steps[-1] == ("export written", 1.0)
    fractions = [f for _, f in steps if f is not None]
    assert fractions == sorted(fractions)


@pytest.mark.parametrize("fmt", [ExportFormat.GEOJSON, ExportFormat.CSV])
def test_folder_formats_write_one_file_per_kind(export_db: Path, tmp_path: Path,
                                                fmt: ExportFormat) -> None:
    out = tmp_path / "folder"
    kinds = (ExportKind.CALLS, ExportKind.ZONES, ExportKind.TRACKS)
    result = export_layers(request(out, export_db, fmt=fmt, kinds=kinds))
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{k}.{fmt}" for k in kinds)
    assert set(result.paths) == {out / f"{k}.{fmt}" for k in kinds}
    calls, _ = stored_counts(export_db)
    if fmt is ExportFormat.GEOJSON:
        doc = json.loads((out / "calls.geojson").read_text())
        assert doc["type"] == "FeatureCollection" and "crs" not in doc  # RFC 7946: lon/lat
        frame = gpd.read_file(out / "calls.geojson")
        assert frame.crs.to_epsg() == 4326 and len(frame) == calls
        assert set(frame.geom_type) == {"Point"}
        assert len(gpd.read_file(out / "tracks.geojson")) == 2
    else:
        table = pd.read_csv(out / "calls.csv")
        assert len(table) == calls
        points = gpd.GeoSeries.from_wkt(table["wkt"], crs=4326)
        assert np.allclose(points.x, table["lon"]) and np.allclose(points.y, table["lat"])
        zones = pd.read_csv(out / "zones.csv")
        assert gpd.GeoSeries.from_wkt(zones["wkt"]).geom_type.eq("MultiPolygon").all()


def test_partner_drops_personal_fields_and_moves_points_to_the_block(
        export_db: Path, tmp_path: Path) -> None:
    internal = gpd.read_file(_export(export_db, tmp_path / "i.gpkg", Profile.INTERNAL),
                             layer="calls").set_index("call_id")
    out = _export(export_db, tmp_path / "p.gpkg", Profile.PARTNER)
    raw = out.read_bytes()
    for secret in (PERSONAL_NAME, PERSONAL_PHONE, PERSONAL_ADDRESS):
        assert secret.encode() not in raw
    partner = gpd.read_file(out, layer="calls").set_index("call_id")
    assert not {"address", "notes", "destination", "name"} & set(partner.columns)
    assert "name" not in gpd.read_file(out, layer="units").columns
    assert len(partner) == len(internal)
    utm = pyproj.CRS.from_epsg(32617)  # Durham's UTM zone
    before = gpd.GeoSeries(internal.loc[partner.index].geometry, crs=4326).to_crs(utm)
    after = gpd.GeoSeries(partner.geometry, crs=4326).to_crs(utm)
    moved = before.distance(after, align=False).to_numpy()
    assert moved.max() <= GRID_M * math.sqrt(2) / 2 + 0.01
    assert (moved > 1.0).mean() > 0.9  # practically every point moved
    centre = (np.floor(before.x / GRID_M) + 0.5) * GRID_M
    assert np.allclose(after.x, centre, atol=0.01)  # the centre of the point's own cell
    tracks = gpd.read_file(out, layer="tracks").to_crs(utm)
    xy = shapely.get_coordinates(tracks.geometry.to_numpy())
    assert np.allclose(np.mod(xy, GRID_M), GRID_M / 2, atol=0.01)


def test_public_has_no_points_and_no_small_or_derivable_count(
        export_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "public.gpkg"
    result = export_layers(request(out, export_db, profile=Profile.PUBLIC, kinds=PUBLIC_KINDS))
    assert dict(pyogrio.list_layers(out)) == {"calls": "MultiPolygon",
                                              "zones": "MultiPolygon",
                                              "isochrones": "MultiPolygon"}
    raw = out.read_bytes()
    for secret in (PERSONAL_NAME, PERSONAL_PHONE, PERSONAL_ADDRESS, b"HAND-0".decode()):
        assert secret.encode() not in raw
    calls_total, _ = stored_counts(export_db)
    for layer in ("calls", "zones", "isochrones"):
        frame = gpd.read_file(out, layer=layer)
        assert not frame.geom_type.isin(["Point", "MultiPoint"]).any()
        assert not {"lat", "lon", "address", "notes", "call_id"} & set(frame.columns)
    table = gpd.read_file(out, layer="calls")
    assert list(table["zone_id"])[-1] == TOTAL_ID
    counts = table[COUNT_COLUMNS].to_numpy(dtype=float)
    shown = counts[~np.isnan(counts)]
    assert not ((shown >= 1) & (shown <= 10)).any()
    assert np.isnan(counts).any() and (shown >= 11).any()  # a real table, partly hidden
    summary = {s.kind: s for s in result.layers}[ExportKind.CALLS]
    assert summary.suppressed_cells == int(np.isnan(counts).sum())
    total = counts[-1, -1]
    assert np.isnan(total) or total == calls_total
    assert OUTSIDE_ID in set(table["zone_id"]) or len(table) == 37
    _attack(counts)


def _attack(counts: np.ndarray) -> None:
    """Subtract published cells from published totals, one relation at a time, repeatedly."""
    known = counts.copy()
    changed = True
    while changed:
        changed = False
        for cells, margin in relations(known.shape):
            members = (*cells, margin)
            unknown = [c for c in members if np.isnan(known[c])]
            if not np.isnan(known[margin]):
                revealed = known[margin] - sum(known[c] for c in cells if not np.isnan(known[c]))
                assert not 1 <= revealed <= 10 or len(unknown) == 0, (margin, revealed)
            if len(unknown) == 1:
                pytest.fail(f"cell {unknown[0]} recovered by subtraction")


def test_public_export_that_fails_the_check_writes_nothing(
        export_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Break the suppression step (primary cells only): the independent check must refuse.
    import heartops.exports.profiles as profiles

    monkeypatch.setattr(profiles, "suppress",
                        lambda table, low=1, high=10: (table >= low) & (table <= high))
    out = tmp_path / "public.gpkg"
    with pytest.raises(DisclosureError, match=r"nothing written.*recovered exactly"):
        export_layers(request(out, export_db, profile=Profile.PUBLIC, kinds=PUBLIC_KINDS))
    assert list(tmp_path.iterdir()) == []


def test_public_refuses_staff_positions_before_touching_anything(
        export_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not publish units, tracks"):
        export_layers(request(tmp_path / "x.gpkg", export_db, profile=Profile.PUBLIC,
                              kinds=(ExportKind.CALLS, ExportKind.UNITS, ExportKind.TRACKS)))
    assert list(tmp_path.iterdir()) == []


def test_a_failed_folder_write_leaves_no_file(export_db: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import heartops.exports.writers as writers

    real = writers._csv_frame
    calls = {"n": 0}

    def fail_on_second(layer):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(layer)

    monkeypatch.setattr(writers, "_csv_frame", fail_on_second)
    out = tmp_path / "csv"
    with pytest.raises(ExportError, match="disk full"):
        export_layers(request(out, export_db, fmt=ExportFormat.CSV,
                              kinds=(ExportKind.CALLS, ExportKind.ZONES)))
    assert list(out.iterdir()) == []


def _export(db: Path, out: Path, profile: Profile) -> Path:
    export_layers(request(out, db, profile=profile))
    return out
