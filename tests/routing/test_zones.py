"""Zone layers: import (real Durham files and bad input), storage, and point assignment."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import box

from heartops.core.errors import HeartopsError, InputFileError, ZoneError
from heartops.paths import zones_dir
from heartops.routing import zones
from heartops.routing.zones import (
    ZoneIndex,
    import_zones,
    list_zone_layers,
    load_zone_layer,
    save_zone_layer,
)

NC_STATE_PLANE_FT = 2264


# --------------------------------------------------------------------------------------------
# fixtures


def _shared_data_dir() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return Path(os.environ.get("HEARTOPS_SHARED_DATA") or default)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data dir; skip without it, unless HEARTOPS_REQUIRE_SHARED_DATA=1 (then fail)."""
    path = _shared_data_dir()
    if not path.is_dir():
        message = f"real data not found at {path} (set HEARTOPS_SHARED_DATA)"
        if os.environ.get("HEARTOPS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def durham_zones(shared_data: Path) -> Path:
    return shared_data / "durham" / "zones"


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user data dir per test; returns its zones dir."""
    monkeypatch.setenv("HEARTOPS_DATA_DIR", str(tmp_path / "userdata"))
    return zones_dir()


def _stored_files(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir())  # hidden temp files too


def _assert_one_line_naming(err: pytest.ExceptionInfo[HeartopsError], *names: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for name in names:
        assert name in message, message


# synthetic files, near downtown Durham

X0, Y0 = -78.90, 36.00


def _square(i: int, size: float = 0.01) -> dict[str, Any]:
    geometry: dict[str, Any] = shapely.geometry.mapping(
        box(X0 + i * size, Y0, X0 + (i + 1) * size, Y0 + size))
    return geometry


def _feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _write_geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


BOWTIE = {"type": "Polygon", "coordinates": [[[X0, Y0], [X0 + 0.01, Y0 + 0.01],
                                                [X0 + 0.01, Y0], [X0, Y0 + 0.01], [X0, Y0]]]}


def _boxes_frame(n: int = 3, crs: int | None = 4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"beat": [str(100 + i) for i in range(n)], "district": ["D1"] * n,
         "population": [1000.0 * (i + 1) for i in range(n)]},
        geometry=[box(X0 + i * 0.01, Y0, X0 + (i + 1) * 0.01, Y0 + 0.01) for i in range(n)],
        crs=crs,
    )


# --------------------------------------------------------------------------------------------
# real Durham layers


@pytest.mark.shared_data
def test_dissolved_beats_import_with_districts_and_population(durham_zones: Path) -> None:
    source = durham_zones / "police_beats_dissolved_with_pop.geojson"
    raw = gpd.read_file(source)
    steps: list[tuple[str, float | None]] = []

    report = import_zones(source, layer="beats", group_field="district",
                          progress=lambda step, fraction=None: steps.append((step, fraction)))

    assert report.layer == "beats"
    assert report.source == source
    assert (report.zones, report.source_features) == (37, 37)
    assert report.id_field == "beat"  # chosen automatically
    assert report.group_field == "district"
    assert report.repaired == () and report.dropped == ()
    assert report.source_crs == "EPSG:4326"
    assert report.attributes == ("population",)
    assert report.bounds == pytest.approx(tuple(raw.total_bounds), abs=1e-9)
    assert report.path == zones_dir() / "beats.gpkg"
    assert any("37 zones" in line for line in report.summary_lines())
    fractions = [f for _, f in steps if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    beats = load_zone_layer("beats")
    assert beats.crs.to_epsg() == 4326
    assert list(beats.columns[:3]) == ["zone_id", "group_id", "name"]
    assert set(beats.geom_type) == {"MultiPolygon"}
    assert beats.is_valid.all()
    expected = {str(b): (d, p) for b, d, p in zip(raw["beat"], raw["district"],
                                                    raw["population"], strict=True)}
    got = {z: (g, p) for z, g, p in zip(beats["zone_id"], beats["group_id"],
                                         beats["population"], strict=True)}
    assert got == expected
    assert set(beats["group_id"]) == {"D1", "D2", "D3", "D4", "D5", "DSO"}
    assert beats["name"].isna().all()


@pytest.mark.shared_data
def test_raw_citygis_beats_are_dissolved_one_zone_per_lawbeat(durham_zones: Path) -> None:
    source = durham_zones / "police_beats_citygis_2022-11.geojson"
    raw = gpd.read_file(source)
    expected_zones = raw["LAWBEAT"].nunique()
    expected_area = raw.to_crs(NC_STATE_PLANE_FT).dissolve(by="LAWBEAT").area
    expected_area.index = expected_area.index.astype(str)

    report = import_zones(source, layer="citygis-beats", group_field="lawdist")  # any case

    assert report.source_features == len(raw) == 129
    assert report.zones == expected_zones == 37
    assert report.id_field == "LAWBEAT"
    assert report.group_field == "LAWDIST"
    assert report.repaired == () and report.dropped == ()
    assert "PERIMETER" in report.skipped_attributes  # differs between the parts of a beat
    beats = load_zone_layer("citygis-beats").set_index("zone_id")
    assert sorted(beats.index) == sorted(expected_area.index)
    area = beats.to_crs(NC_STATE_PLANE_FT).area
    np.testing.assert_allclose(area[expected_area.index], expected_area, rtol=1e-6)
    districts = raw.groupby(raw["LAWBEAT"].astype(str))["LAWDIST"].first()
    assert beats["group_id"].to_dict() == districts.to_dict()
    assert "PERIMETER" not in beats.columns


@pytest.mark.shared_data
def test_districts_import(durham_zones: Path) -> None:
    report = import_zones(durham_zones / "police_districts_dissolved_with_pop.geojson",
                          layer="districts")
    assert report.zones == 5
    assert report.id_field == "district"
    districts = load_zone_layer("districts")
    assert list(districts["zone_id"]) == ["D1", "D2", "D3", "D4", "D5"]
    assert districts["population"].sum() == pytest.approx(283_000)
    assert districts["group_id"].isna().all()


@pytest.mark.shared_data
def test_wards_self_intersection_is_repaired_and_reported(durham_zones: Path) -> None:
    source = durham_zones / "council_wards_2017_streetwise.geojson"
    raw = gpd.read_file(source)
    assert (~raw.is_valid).sum() == 1

    report = import_zones(source, layer="wards")
    assert report.id_field == "Ward"
    assert report.source_features == 5
    assert report.zones == 3  # Ward 2 and Ward 3 have a second part in another county
    assert report.repaired == ("Ward 2",)
    assert any("Ward 2" in line and "Repaired" in line for line in report.summary_lines())

    report = import_zones(source, layer="ward-parts", id_field="DisField")
    assert report.zones == 5
    assert report.repaired == ("Ward 2 - Wake Co",)
    parts = load_zone_layer("ward-parts")
    assert parts.is_valid.all()
    repaired = parts.set_index("zone_id").to_crs(NC_STATE_PLANE_FT).area["Ward 2 - Wake Co"]
    original = raw.set_index("DisField").to_crs(NC_STATE_PLANE_FT).area["Ward 2 - Wake Co"]
    assert repaired == pytest.approx(original, rel=1e-6)
    # the repaired part still reaches the self-intersection point
    crossing = shapely.Point(-78.8083999208336, 35.9189770773252)
    assert shapely.distance(parts.set_index("zone_id").geometry["Ward 2 - Wake Co"],
                            crossing) < 1e-9


@pytest.mark.shared_data
def test_city_limits_from_nominatim(durham_zones: Path) -> None:
    source = durham_zones / "durham_city_and_county_osm_nominatim.geojson"
    raw = gpd.read_file(source)
    city = raw[raw["addresstype"] == "city"].iloc[0]
    lat_min, lat_max, lon_min, lon_max = map(float, city["boundingbox"].split(","))

    report = import_zones(source, layer="service-area", id_field="name",
                          where="addresstype = 'city'")
    assert (report.zones, report.source_features) == (1, 1)
    assert report.bounds == pytest.approx((lon_min, lat_min, lon_max, lat_max), abs=1e-6)
    area = load_zone_layer("service-area")
    assert list(area["zone_id"]) == ["Durham"]
    assert list(area["name"]) == ["Durham"]

    # Both features: the county overlaps the city; the first zone in the layer wins.
    import_zones(source, layer="city-county", id_field="name")
    index = ZoneIndex.from_layer("city-county")
    assert index.zone_ids == ("Durham", "Durham County")
    got = index.assign([35.9940, 36.2000, 35.0], [-78.8986, -78.8500, -78.0])
    assert list(got) == ["Durham", "Durham County", None]


@pytest.mark.shared_data
def test_projected_files_are_reprojected(durham_zones: Path, tmp_path: Path) -> None:
    original = gpd.read_file(durham_zones / "police_beats_dissolved_with_pop.geojson")
    projected = original.to_crs(NC_STATE_PLANE_FT)
    files = {
        "geojson": tmp_path / "beats_2264.geojson",
        "gpkg": tmp_path / "beats_2264.gpkg",
        "shp": tmp_path / "shp" / "beats_2264.shp",
    }
    files["shp"].parent.mkdir()
    for path in files.values():
        projected.to_file(path)
    files["zip"] = tmp_path / "beats_2264.zip"
    with zipfile.ZipFile(files["zip"], "w") as archive:
        for part in files["shp"].parent.iterdir():
            archive.write(part, part.name)

    for kind, path in files.items():
        report = import_zones(path, layer=f"beats-{kind}", group_field="district")
        assert "2264" in report.source_crs, kind
        assert report.zones == 37, kind
        assert report.bounds == pytest.approx(tuple(original.total_bounds), abs=1e-6), kind
        stored = load_zone_layer(f"beats-{kind}")
        assert stored.crs.to_epsg() == 4326
        assert tuple(stored.total_bounds) == pytest.approx(tuple(original.total_bounds),
                                                           abs=1e-6)
        assert sorted(stored["zone_id"]) == sorted(str(b) for b in original["beat"])


# --------------------------------------------------------------------------------------------
# assignment


def _brute_force(frame: gpd.GeoDataFrame, lat: np.ndarray, lon: np.ndarray) -> list[str | None]:
    """First zone (in frame order) whose polygon contains each point, one polygon at a time."""
    points = shapely.points(lon, lat)
    expected: list[str | None] = [None] * len(points)
    for zone_id, geom in zip(frame["zone_id"], frame.geometry, strict=True):
        for i in np.flatnonzero(shapely.contains(geom, points)):
            if expected[i] is None:
                expected[i] = zone_id
    return expected


@pytest.fixture
def beats_layer(durham_zones: Path) -> gpd.GeoDataFrame:
    import_zones(durham_zones / "police_beats_dissolved_with_pop.geojson", layer="beats",
                 group_field="district")
    return load_zone_layer("beats")


@pytest.mark.shared_data
def test_assign_matches_brute_force(beats_layer: gpd.GeoDataFrame) -> None:
    index = ZoneIndex.from_layer("beats")
    assert len(index) == 37
    rng = np.random.default_rng(20240124)
    minx, miny, maxx, maxy = beats_layer.total_bounds
    lat = rng.uniform(miny - 0.02, maxy + 0.02, 4000)
    lon = rng.uniform(minx - 0.02, maxx + 0.02, 4000)

    got = index.assign(lat, lon)
    expected = _brute_force(beats_layer, lat, lon)

    assert got.dtype == object and got.shape == (4000,)
    assert list(got) == expected
    inside = sum(v is not None for v in expected)
    assert 1000 < inside < 3900  # both inside and outside points are exercised


@pytest.mark.shared_data
def test_assign_known_points_and_groups(beats_layer: gpd.GeoDataFrame) -> None:
    index = ZoneIndex(beats_layer)
    # representative points of every beat land in that beat
    reps = beats_layer.geometry.representative_point()
    got = index.assign(reps.y.to_numpy(), reps.x.to_numpy())
    assert list(got) == list(beats_layer["zone_id"])
    # outside every zone, NaN, far away
    assert list(index.assign([0.0, np.nan, 36.5], [0.0, -78.9, -78.0])) == [None] * 3
    # broadcast shapes are kept
    assert index.assign(np.full((2, 3), reps.y.iloc[0]), reps.x.iloc[0]).shape == (2, 3)
    assert index.group_of("111") == "D1"
    assert index.group_of("999") == "DSO"
    with pytest.raises(ZoneError, match="nope"):
        index.group_of("nope")


@pytest.mark.shared_data
def test_points_on_a_shared_boundary_get_the_first_zone(beats_layer: gpd.GeoDataFrame) -> None:
    geoms = beats_layer.geometry.to_numpy()
    shared = None
    for i, geom in enumerate(geoms):
        for x, y in shapely.get_coordinates(geom)[::7]:
            covering = np.flatnonzero(shapely.intersects_xy(geoms, x, y))
            if len(covering) >= 2 and i in covering:
                shared = (x, y, covering)
                break
        if shared:
            break
    assert shared is not None
    x, y, covering = shared
    ids = beats_layer["zone_id"].to_numpy()
    assert ZoneIndex(beats_layer).assign(y, x)[()] == ids[covering.min()]
    reversed_layer = beats_layer.iloc[::-1].reset_index(drop=True)
    assert ZoneIndex(reversed_layer).assign(y, x)[()] == ids[covering.max()]


@pytest.mark.shared_data
def test_assign_100k_points_is_fast(beats_layer: gpd.GeoDataFrame) -> None:
    index = ZoneIndex(beats_layer)
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = beats_layer.total_bounds
    lat = rng.uniform(miny, maxy, 100_000)
    lon = rng.uniform(minx, maxx, 100_000)
    index.assign(lat[:10], lon[:10])  # warm up
    start = time.perf_counter()
    got = index.assign(lat, lon)
    elapsed = time.perf_counter() - start
    assert got.shape == (100_000,)
    sample = slice(0, 2000)
    assert list(got[sample]) == _brute_force(beats_layer, lat[sample], lon[sample])
    assert elapsed < 1.0, f"assigning 100,000 points took {elapsed:.2f} s"


def test_zone_index_reprojects_and_checks_its_frame() -> None:
    frame = _boxes_frame().rename(columns={"beat": "zone_id"}).to_crs(NC_STATE_PLANE_FT)
    index = ZoneIndex(frame)
    assert list(index.assign([Y0 + 0.005] * 2, [X0 + 0.005, X0 + 0.025])) == ["100", "102"]
    assert index.group_of("101") is None  # no group_id column
    with pytest.raises(ZoneError, match="zone_id"):
        ZoneIndex(_boxes_frame())
    with pytest.raises(ZoneError, match="CRS"):
        ZoneIndex(frame.set_crs(None, allow_override=True))


# --------------------------------------------------------------------------------------------
# synthetic import rules


def test_null_point_line_and_invalid_features_are_dropped_or_repaired(
        tmp_path: Path, store: Path) -> None:
    line = {"type": "LineString", "coordinates": [[X0, Y0], [X0 + 0.01, Y0]]}
    collection = {"type": "GeometryCollection",
                  "geometries": [_square(5), {"type": "Point", "coordinates": [X0, Y0]}]}
    source = _write_geojson(tmp_path / "messy.geojson", [
        _feature(_square(0), zone="A"),
        _feature(None, zone="B"),
        _feature({"type": "Point", "coordinates": [X0, Y0]}, zone="C"),
        _feature(line, zone="D"),
        _feature(BOWTIE, zone="E"),
        _feature(_square(3), zone=None),
        _feature(collection, zone="F"),
        _feature({"type": "Polygon", "coordinates": []}, zone="G"),
    ])

    report = import_zones(source, layer="messy")

    assert report.id_field == "zone"
    assert report.source_features == 8
    assert report.zones == 3
    assert report.repaired == ("E",)
    assert report.dropped == (
        "row 2: no geometry (null or unreadable)",
        "row 3: Point geometry is not a polygon",
        "row 4: LineString geometry is not a polygon",
        "row 6: no value in id field 'zone'",
        "row 8: empty geometry",
    )
    stored = load_zone_layer("messy").set_index("zone_id")
    assert list(stored.index) == ["A", "E", "F"]
    assert stored.is_valid.all()
    assert set(stored.geom_type) == {"MultiPolygon"}
    assert stored.geometry["E"].area == pytest.approx(0.5 * 0.01 * 0.01)  # both bowtie halves
    assert stored.geometry["F"].equals(shapely.geometry.shape(_square(5)))
    assert _stored_files(store) == ["messy.gpkg"]


def test_repairs_happen_before_dissolving(tmp_path: Path) -> None:
    source = _write_geojson(tmp_path / "parts.geojson", [
        _feature(BOWTIE, beat=7, pop=10, area=1.0),
        _feature(_square(1), beat=7, pop=10, area=2.0),
        _feature(_square(3), beat=8.0, pop=20, area=3.0),
    ])
    report = import_zones(source, layer="parts")
    assert report.id_field == "beat"
    assert report.zones == 2
    assert report.repaired == ("7",)
    assert report.attributes == ("pop",)
    assert report.skipped_attributes == ("area",)
    stored = load_zone_layer("parts").set_index("zone_id")
    assert list(stored.index) == ["7", "8"]  # 8.0 is stored as "8"
    assert stored.loc["7", "pop"] == 10
    assert stored.geometry["7"].area == pytest.approx(0.5e-4 + 1e-4)
    assert stored.is_valid.all()


def test_default_id_is_the_row_number_without_a_known_field(tmp_path: Path) -> None:
    source = _write_geojson(tmp_path / "plain.geojson",
                            [_feature(_square(i), label=f"x{i}") for i in range(3)])
    report = import_zones(source, layer="plain")
    assert report.id_field == zones.ROW_NUMBER_ID
    assert list(load_zone_layer("plain")["zone_id"]) == ["1", "2", "3"]


def test_default_id_prefers_the_candidate_order(tmp_path: Path) -> None:
    source = _write_geojson(tmp_path / "named.geojson", [
        _feature(_square(i), OBJECTID=i, District="D1", Beat=f"1{i}", NAME=f"n{i}")
        for i in range(2)
    ])
    report = import_zones(source, layer="named", group_field="district")
    assert (report.id_field, report.group_field) == ("Beat", "District")
    stored = load_zone_layer("named")
    assert list(stored["zone_id"]) == ["10", "11"]
    assert list(stored["name"]) == ["n0", "n1"]
    assert list(stored["group_id"]) == ["D1", "D1"]


def test_overwriting_a_layer_replaces_it(tmp_path: Path, store: Path) -> None:
    source = tmp_path / "boxes.geojson"
    _boxes_frame(3).to_file(source)
    assert import_zones(source, layer="a").zones == 3
    _boxes_frame(2).to_file(source)
    assert import_zones(source, layer="a").zones == 2
    assert len(load_zone_layer("a")) == 2
    assert _stored_files(store) == ["a.gpkg"]


# --------------------------------------------------------------------------------------------
# bad input: right error, one line naming the file or field, nothing left behind


def _expect_failure(store: Path, error: type[HeartopsError], *names: str,
                    **kwargs: Any) -> pytest.ExceptionInfo[HeartopsError]:
    path = kwargs.pop("path")
    layer = kwargs.pop("layer", "bad")
    with pytest.raises(error) as err:
        import_zones(path, layer=layer, **kwargs)
    _assert_one_line_naming(err, *names)
    assert _stored_files(store) == []
    return err


def test_missing_file(tmp_path: Path, store: Path) -> None:
    path = tmp_path / "nope.geojson"
    _expect_failure(store, InputFileError, "nope.geojson", "not found", path=path)


def test_corrupt_files(tmp_path: Path, store: Path) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [')
    _expect_failure(store, InputFileError, "broken.geojson", path=broken)
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"\x00garbage" * 50)
    _expect_failure(store, InputFileError, "junk.gpkg", path=junk)
    shp = tmp_path / "half.shp"
    shp.write_bytes(b"\x00" * 10)
    _expect_failure(store, InputFileError, "half.shp", path=shp)


def test_unsupported_type_and_directory(tmp_path: Path, store: Path) -> None:
    csv = tmp_path / "zones.csv"
    csv.write_text("id,wkt\n")
    _expect_failure(store, InputFileError, "zones.csv", ".geojson", path=csv)
    folder = tmp_path / "folder.shp"
    folder.mkdir()
    _expect_failure(store, InputFileError, "folder.shp", path=folder)


def test_empty_layer(tmp_path: Path, store: Path) -> None:
    empty = _write_geojson(tmp_path / "empty.geojson", [])
    _expect_failure(store, InputFileError, "empty.geojson", path=empty)


def test_no_polygons(tmp_path: Path, store: Path) -> None:
    points = _write_geojson(tmp_path / "points.geojson", [
        _feature({"type": "Point", "coordinates": [X0, Y0]}, id=1),
        _feature(None, id=2),
    ])
    _expect_failure(store, InputFileError, "points.geojson", "no polygon", path=points)


def test_unknown_fields_list_the_available_ones(tmp_path: Path, store: Path) -> None:
    source = tmp_path / "boxes.geojson"
    _boxes_frame().to_file(source)
    err = _expect_failure(store, ZoneError, "boxes.geojson", "'nope'", "beat, district, "
                          "population", path=source, id_field="nope")
    assert "id field" in str(err.value)
    err = _expect_failure(store, ZoneError, "boxes.geojson", "'grp'", "beat", path=source,
                          group_field="grp")
    assert "group field" in str(err.value)


def test_conflicting_groups_within_a_zone(tmp_path: Path, store: Path) -> None:
    source = _write_geojson(tmp_path / "conflict.geojson", [
        _feature(_square(0), beat="1", district="D1"),
        _feature(_square(1), beat="1", district="D2"),
    ])
    _expect_failure(store, ZoneError, "conflict.geojson", "'district'", "'1'", path=source,
                    group_field="district")


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_no_crs(tmp_path: Path, store: Path) -> None:
    shp = tmp_path / "nocrs.shp"
    _boxes_frame(crs=None).to_file(shp)
    assert not shp.with_suffix(".prj").exists()
    _expect_failure(store, InputFileError, "nocrs.shp", "has no CRS;", path=shp)


def test_wrong_crs_is_caught_by_the_coordinate_range(tmp_path: Path, store: Path) -> None:
    lying = tmp_path / "lying.gpkg"
    projected = _boxes_frame().to_crs(NC_STATE_PLANE_FT)
    projected.set_crs(4326, allow_override=True).to_file(lying)
    _expect_failure(store, InputFileError, "lying.gpkg", "EPSG:4326", path=lying)


def test_geopackage_layers_must_be_chosen(tmp_path: Path, store: Path) -> None:
    gpkg = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(_boxes_frame(3), gpkg, layer="beats")
    pyogrio.write_dataframe(_boxes_frame(2), gpkg, layer="districts")
    _expect_failure(store, InputFileError, "two.gpkg", "beats", "districts", path=gpkg)
    _expect_failure(store, InputFileError, "two.gpkg", "'other'", "beats", path=gpkg,
                    source_layer="other")
    report = import_zones(gpkg, layer="chosen", source_layer="districts")
    assert report.zones == 2
    assert "districts" in list_zone_layers()[0].source


def test_bad_where_clause(tmp_path: Path, store: Path) -> None:
    source = tmp_path / "boxes.geojson"
    _boxes_frame().to_file(source)
    _expect_failure(store, ZoneError, "boxes.geojson", "nosuchfield", path=source,
                    where="nosuchfield = 1")
    _expect_failure(store, InputFileError, "boxes.geojson", "no features match", path=source,
                    where="beat = 'zzz'")


@pytest.mark.parametrize("name", ["", "a b", "../evil", "beats.gpkg", "ü", "x" * 65, "a\n"])
def test_bad_layer_names(tmp_path: Path, store: Path, name: str) -> None:
    source = tmp_path / "boxes.geojson"
    _boxes_frame().to_file(source)
    with pytest.raises(ZoneError) as err:
        import_zones(source, layer=name)
    assert "layer name" in str(err.value)
    assert _stored_files(store) == []


def _failing_writer(zones_frame: gpd.GeoDataFrame, tmp: Path, metadata: dict[str, str]) -> None:
    tmp.write_bytes(b"half a geopackage")
    Path(str(tmp) + "-journal").write_bytes(b"journal")
    raise OSError(28, "No space left on device")


def test_failed_write_leaves_nothing(tmp_path: Path, store: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "boxes.geojson"
    _boxes_frame().to_file(source)
    monkeypatch.setattr(zones, "_write_layer_file", _failing_writer)
    err = _expect_failure(store, ZoneError, "'beats'", "No space left", path=source,
                          layer="beats")
    assert "beats.gpkg" in str(err.value)


def test_failed_reimport_keeps_the_previous_layer(tmp_path: Path, store: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "boxes.geojson"
    _boxes_frame(3).to_file(source)
    import_zones(source, layer="beats")
    before = (store / "beats.gpkg").read_bytes()
    monkeypatch.setattr(zones, "_write_layer_file", _failing_writer)
    _boxes_frame(2).to_file(source)
    with pytest.raises(ZoneError):
        import_zones(source, layer="beats")
    assert _stored_files(store) == ["beats.gpkg"]
    assert (store / "beats.gpkg").read_bytes() == before
    assert len(load_zone_layer("beats")) == 3


# --------------------------------------------------------------------------------------------
# storage


def test_save_list_load_round_trip(store: Path) -> None:
    frame = _boxes_frame(3).rename(columns={"beat": "zone_id", "district": "group_id"})
    frame["label"] = ["x", "y", "z"]  # non-numeric extras are not stored
    path = save_zone_layer("demo-beats", frame.to_crs(NC_STATE_PLANE_FT), source="demo city")
    assert path == store / "demo-beats.gpkg"
    no_groups = frame.drop(columns="group_id")
    save_zone_layer("demo_area", no_groups.iloc[:1], source="demo city service area")

    layers = list_zone_layers()
    assert [info.name for info in layers] == ["demo-beats", "demo_area"]
    beats, area = layers
    assert (beats.zones, beats.has_groups, beats.source) == (3, True, "demo city")
    assert (area.zones, area.has_groups) == (1, False)
    assert beats.bounds == pytest.approx(tuple(frame.total_bounds), abs=1e-7)
    assert beats.path == path
    assert beats.summary().startswith("demo-beats: 3 zones, with groups, bounds -78.9000")
    assert area.summary().startswith("demo_area: 1 zone, no groups")
    assert "\n" not in beats.summary()

    loaded = load_zone_layer("demo-beats")
    assert list(loaded.columns) == ["zone_id", "group_id", "name", "population", "geometry"]
    assert loaded.crs.to_epsg() == 4326
    assert list(loaded["zone_id"]) == ["100", "101", "102"]
    assert list(loaded["group_id"]) == ["D1"] * 3
    assert list(loaded["name"]) == [None] * 3
    assert list(loaded["population"]) == [1000.0, 2000.0, 3000.0]
    assert shapely.hausdorff_distance(loaded.geometry.iloc[1], frame.geometry.iloc[1]) < 1e-9
    assert loaded.attrs["source"] == "demo city"
    assert list(load_zone_layer("demo_area")["group_id"]) == [None]


def test_list_ignores_temp_and_foreign_files(store: Path) -> None:
    save_zone_layer("ok", _boxes_frame().rename(columns={"beat": "zone_id"}), source="t")
    (store / ".ok.gpkg.abc.tmp.gpkg").write_bytes(b"partial")
    (store / "notes.txt").write_text("hello")
    (store / "broken.gpkg").write_bytes(b"junk")
    assert [info.name for info in list_zone_layers()] == ["ok"]


def test_load_unknown_or_broken_layer(store: Path) -> None:
    save_zone_layer("known", _boxes_frame().rename(columns={"beat": "zone_id"}), source="t")
    with pytest.raises(ZoneError) as err:
        load_zone_layer("unknown")
    _assert_one_line_naming(err, "'unknown'", "known")
    (store / "broken.gpkg").write_bytes(b"junk")
    with pytest.raises(ZoneError) as err:
        load_zone_layer("broken")
    _assert_one_line_naming(err, "'broken'", "broken.gpkg")
    with pytest.raises(ZoneError, match="layer name"):
        load_zone_layer("../x")


def test_save_rejects_frames_off_the_schema(store: Path) -> None:
    good = _boxes_frame().rename(columns={"beat": "zone_id"})
    with pytest.raises(ZoneError, match="zone_id"):
        save_zone_layer("x", _boxes_frame(), source="t")
    with pytest.raises(ZoneError, match="duplicate zone_id values: 1"):
        save_zone_layer("x", good.assign(zone_id=["1", "1", "2"]), source="t")
    with pytest.raises(ZoneError, match="no CRS"):
        save_zone_layer("x", good.set_crs(None, allow_override=True), source="t")
    points = good.set_geometry(shapely.centroid(good.geometry.to_numpy()), crs=4326)
    with pytest.raises(ZoneError, match="no polygon"):
        save_zone_layer("x", points, source="t")
    assert _stored_files(store) == []
