"""Zone layers: police beats, districts, wards, service areas.

A zone layer is a set of named polygons that calls and units are assigned to. Layers are imported
from GeoJSON, GeoPackage or shapefile (also a ``.zip`` of one) in any CRS, normalised, and stored
as one GeoPackage per layer in :func:`heartops.paths.zones_dir`.

Stored schema (always EPSG:4326, one row per zone, in order of first appearance in the source):

``zone_id``
    ``str``, unique, never missing.
``group_id``
    ``str`` or ``None``: the parent area (e.g. the police district of a beat).
``name``
    ``str`` or ``None``: the value of the source's ``name`` field, if it has one.
extra numeric columns
    Numeric source attributes (e.g. ``population``) whose value is the same for every feature
    of a zone. Attributes that vary within a zone (areas, perimeters, object ids of the parts of
    a dissolved zone) would be meaningless after dissolving and are not kept.
``geometry``
    ``MultiPolygon``, valid, two-dimensional.

Import rules:

* Features with a null or empty geometry, a non-polygonal geometry (points, lines) or no id are
  dropped and reported as ``"row N: reason"`` (``N`` counts the features read, from 1).
  Polygonal parts of a ``GeometryCollection`` are kept, the rest of it ignored.
* Invalid geometries are repaired with ``make_valid`` (keeping only the polygonal parts of the
  result) *before* features are dissolved; the ids of repaired zones are reported.
* Features sharing an id are dissolved into one zone (a ``MultiPolygon``).
* The id field, if not given, is the first field whose name is, ignoring case, one of
  :data:`ID_FIELD_CANDIDATES` and that holds at least one value; if there is none, zones are
  numbered by row (``"1"``, ``"2"``, ...). Field names given by the caller match exactly or,
  failing that, ignoring case (shapefiles often upper-case them).
* Ids and groups are stored as text; whole numbers stored as floats read as ``"111"``, not
  ``"111.0"``.

Zone assignment (:class:`ZoneIndex`) is done in lon/lat with a shapely ``STRtree`` over the parts
of the zones and a vectorised point-in-polygon test on prepared geometries. A point on the shared
boundary of two zones (or inside overlapping zones) goes to the zone that comes first in the
layer, so the result is deterministic.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from numpy.typing import ArrayLike
from pyproj import CRS

from heartops.atomic import atomic_path
from heartops.core.errors import InputFileError, ZoneError
from heartops.core.progress import Progress, no_progress
from heartops.paths import zones_dir

__all__ = [
    "ID_FIELD_CANDIDATES",
    "SUPPORTED_SUFFIXES",
    "ZoneImportReport",
    "ZoneIndex",
    "ZoneLayerInfo",
    "check_layer_name",
    "import_zones",
    "list_zone_layers",
    "load_zone_layer",
    "save_zone_layer",
]

#: Field names (compared ignoring case) tried in this order when no id field is given.
ID_FIELD_CANDIDATES: tuple[str, ...] = (
    "zone_id", "zone", "id", "beat", "lawbeat", "district", "lawdist", "ward", "name",
)

#: File name endings :func:`import_zones` reads.
SUFFIXES_BY_KIND: dict[str, tuple[str, ...]] = {
    "GeoJSON": (".geojson", ".json"),
    "GeoPackage": (".gpkg",),
    "shapefile": (".shp", ".zip"),
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(s for v in SUFFIXES_BY_KIND.values() for s in v)

ROW_NUMBER_ID = "<row number>"
"""The ``id_field`` reported when zones are numbered by row."""

_LAYER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_GPKG_TABLE = "zones"
_RESERVED_COLUMNS = frozenset({"zone_id", "group_id", "name", "geometry", "fid"})
_META_SOURCE = "HEARTOPS_SOURCE"
_META_ZONES = "HEARTOPS_ZONES"
_META_HAS_GROUPS = "HEARTOPS_HAS_GROUPS"
_META_SCHEMA = "HEARTOPS_ZONE_SCHEMA"
_SCHEMA_VERSION = "1"
_WGS84 = CRS.from_epsg(4326)
_ASSIGN_CHUNK = 1_000_000
_POLYGON, _MULTIPOLYGON, _COLLECTION = 3, 6, 7

_OGR_ERRORS: tuple[type[Exception], ...] = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FeatureError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.CRSError,
)
_IO_ERRORS: tuple[type[Exception], ...] = (*_OGR_ERRORS, OSError)
_READ_ERRORS: tuple[type[Exception], ...] = (*_IO_ERRORS, ValueError)

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class ZoneImportReport:
    """What :func:`import_zones` did.

    Attributes
    ----------
    layer
        The saved layer name.
    source
        The file read.
    zones
        Zones stored (rows after dissolving by id).
    source_features
        Features read from the file.
    repaired
        Ids of zones with an invalid geometry that was repaired with ``make_valid``.
    dropped
        Features not imported, as ``"row N: reason"``.
    source_crs
        The CRS of the file (e.g. ``"EPSG:2264"``).
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)`` of the stored zones.
    id_field
        The field used as zone id, or :data:`ROW_NUMBER_ID`.
    group_field
        The field used as group, if any.
    attributes
        Extra numeric attributes kept.
    skipped_attributes
        Numeric attributes not kept because they vary within a zone.
    path
        The stored GeoPackage.
    """

    layer: str
    source: Path
    zones: int
    source_features: int
    repaired: tuple[str, ...]
    dropped: tuple[str, ...]
    source_crs: str
    bounds: Bounds
    id_field: str = ROW_NUMBER_ID
    group_field: str | None = None
    attributes: tuple[str, ...] = ()
    skipped_attributes: tuple[str, ...] = ()
    path: Path | None = None

    def summary_lines(self) -> list[str]:
        """Return human-readable lines describing the import, for the CLI.

        Returns
        -------
        list of str
            One line per fact; lists of dropped features are shortened to the first ten.
        """
        lines = [
            f"Imported zone layer '{self.layer}': {_count(self.zones, 'zone')} from "
            f"{_count(self.source_features, 'feature')} of {self.source.name} "
            f"({self.source_crs}).",
            f"Zone id: {self.id_field}"
            + (f"; group: {self.group_field}" if self.group_field else "; no groups"),
            "Bounds (lon/lat): "
            + ", ".join(f"{v:.5f}" for v in self.bounds),
        ]
        if self.attributes:
            lines.append("Attributes kept: " + ", ".join(self.attributes))
        if self.skipped_attributes:
            lines.append("Attributes not kept (they vary within a zone): "
                         + ", ".join(self.skipped_attributes))
        if self.repaired:
            lines.append(f"Repaired invalid geometry of {_count(len(self.repaired), 'zone')}: "
                         + ", ".join(self.repaired))
        if self.dropped:
            lines.append(f"Dropped {_count(len(self.dropped), 'feature')}:")
            lines.extend(f"  {reason}" for reason in self.dropped[:10])
            if len(self.dropped) > 10:
                lines.append(f"  ... and {len(self.dropped) - 10} more")
        if self.path is not None:
            lines.append(f"Saved to {self.path}")
        return lines


@dataclass(frozen=True)
class ZoneLayerInfo:
    """A stored zone layer, as listed by :func:`list_zone_layers`.

    Attributes
    ----------
    name
        The layer name.
    zones
        Number of zones.
    has_groups
        Whether any zone has a ``group_id``.
    source
        Where the layer came from (a file path or a description).
    bounds
        ``(min_lon, min_lat, max_lon, max_lat)``.
    path
        The stored GeoPackage.
    """

    name: str
    zones: int
    has_groups: bool
    source: str
    bounds: Bounds
    path: Path

    def summary(self) -> str:
        """Return one line describing the layer, for ``heartops zones list``.

        Returns
        -------
        str
            Name, zone count, whether it has groups, bounds and source.
        """
        groups = "with groups" if self.has_groups else "no groups"
        bounds = ", ".join(f"{v:.4f}" for v in self.bounds)
        source = self.source or "unknown source"
        return (f"{self.name}: {_count(self.zones, 'zone')}, {groups}, bounds {bounds}, "
                f"from {source}")


# --------------------------------------------------------------------------------------------
# import


def import_zones(
    path: Path,
    *,
    layer: str,
    id_field: str | None = None,
    group_field: str | None = None,
    source_layer: str | None = None,
    where: str | None = None,
    progress: Progress = no_progress,
) -> ZoneImportReport:
    """Import a polygon file as the zone layer ``layer``, replacing any layer of that name.

    Parameters
    ----------
    path
        A ``.geojson``/``.json``, ``.gpkg``, ``.shp`` or ``.zip`` (of a shapefile) file, in any
        CRS.
    layer
        Name to store the layer under: 1 to 64 letters, digits, ``-`` and ``_``.
    id_field
        Field holding the zone id. Default: see the module docstring
        (:data:`ID_FIELD_CANDIDATES`, else the row number).
    group_field
        Field holding the zone's group (e.g. the district of a beat). Default: no groups.
    source_layer
        Layer of a multi-layer file (GeoPackage, zip) to read. Needed only when the file holds
        several layers with geometries.
    where
        Optional OGR SQL ``WHERE`` clause selecting features, e.g. ``"addresstype = 'city'"``.
    progress
        Progress callback.

    Returns
    -------
    ZoneImportReport
        What was imported, repaired and dropped.

    Raises
    ------
    ZoneError
        Bad layer name, unknown field, bad ``where`` clause, a zone whose features disagree on
        the group, or the layer cannot be written.
    InputFileError
        The file is missing, unreadable or of an unsupported type, has several layers and none
        was chosen, has no CRS, or holds no usable polygon.

    Notes
    -----
    The layer is written atomically: on any error nothing is left in the zones directory and a
    previous layer of the same name is kept unchanged.
    """
    path = Path(path)
    check_layer_name(layer)
    progress(f"reading {path.name}", 0.0)
    frame, chosen_layer = _read_source(path, source_layer=source_layer, where=where)
    if frame.crs is None:
        raise InputFileError(
            f"{path} has no CRS; add one (e.g. a .prj file next to a shapefile) and import again")
    source_crs = _crs_label(frame.crs)
    fields = [str(c) for c in frame.columns if c != frame.geometry.name]
    id_col = _resolve_field(id_field, fields, "id", path) if id_field else _default_id(frame,
                                                                                         fields)
    group_col = _resolve_field(group_field, fields, "group", path) if group_field else None
    n_read = len(frame)

    progress("checking geometries", 0.2)
    prepared = _prepare_features(frame, id_col, path)
    progress("dissolving zones", 0.45)
    zones, kept, skipped = _dissolve(frame.iloc[prepared.rows], prepared, id_col=id_col,
                                     group_col=group_col, path=path)
    progress("reprojecting to lon/lat", 0.65)
    zones = zones.set_crs(frame.crs).to_crs(_WGS84)
    repaired = list(prepared.repaired)
    repaired += _repair_after_reprojection(zones)
    _check_lonlat(zones, path, source_crs)

    progress(f"writing zone layer {layer}", 0.8)
    source = (str(path.resolve()) + (f" (layer {chosen_layer})" if source_layer else "")
              + (f" (where {where})" if where else ""))
    stored = _write_layer(layer, zones, source=source)
    progress("done", 1.0)
    minx, miny, maxx, maxy = (float(v) for v in zones.total_bounds)
    return ZoneImportReport(
        layer=layer,
        source=path,
        zones=len(zones),
        source_features=n_read,
        repaired=tuple(dict.fromkeys(repaired)),
        dropped=tuple(prepared.dropped),
        source_crs=source_crs,
        bounds=(minx, miny, maxx, maxy),
        id_field=id_col if id_col is not None else ROW_NUMBER_ID,
        group_field=group_col,
        attributes=tuple(kept),
        skipped_attributes=tuple(skipped),
        path=stored,
    )


def check_layer_name(layer: str) -> None:
    """Raise :class:`ZoneError` unless ``layer`` is a valid zone layer name.

    Parameters
    ----------
    layer
        1 to 64 letters, digits, ``-`` or ``_``.
    """
    if not isinstance(layer, str) or not _LAYER_NAME.fullmatch(layer):
        raise ZoneError(f"invalid zone layer name {layer!r}: use 1-64 letters, digits, '-' or '_'")


def _read_source(path: Path, *, source_layer: str | None,
                 where: str | None) -> tuple[gpd.GeoDataFrame, str]:
    if not path.exists():
        raise InputFileError(f"zone file not found: {path}")
    if not path.is_file():
        raise InputFileError(f"zone file is not a file: {path}")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        kinds = "; ".join(f"{k} ({', '.join(v)})" for k, v in SUFFIXES_BY_KIND.items())
        raise InputFileError(f"unsupported zone file type '{path.suffix}' for {path}; "
                             f"expected {kinds}")
    try:
        layers = pyogrio.list_layers(path)
    except _IO_ERRORS as exc:
        raise InputFileError(f"cannot read zone file {path}: {_one_line(exc)}") from exc
    spatial = [str(name) for name, geom_type in layers if geom_type is not None]
    all_names = [str(name) for name, _ in layers]
    if source_layer is not None:
        if source_layer not in all_names:
            raise InputFileError(f"no layer {source_layer!r} in {path}; layers: "
                                 + (", ".join(all_names) or "none"))
        chosen = source_layer
    elif len(spatial) == 1:
        chosen = spatial[0]
    elif not spatial:
        raise InputFileError(f"no layer with geometries in {path}")
    else:
        raise InputFileError(f"{path} has {len(spatial)} layers; choose one of: "
                             + ", ".join(spatial))
    try:
        frame = pyogrio.read_dataframe(path, layer=chosen, where=where or None, force_2d=True,
                                       on_invalid="fix")
    except _READ_ERRORS as exc:
        if where and _readable(path, chosen):
            raise ZoneError(f"bad where clause {where!r} for {path}: {_one_line(exc)}") from exc
        raise InputFileError(f"cannot read zone file {path}: {_one_line(exc)}") from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputFileError(f"layer {chosen!r} of {path} has no geometries")
    if len(frame) == 0:
        what = f"no features match {where!r}" if where else "no features"
        raise InputFileError(f"layer {chosen!r} of {path} has {what}")
    return frame, chosen


def _readable(path: Path, layer: str) -> bool:
    """Whether the first feature of ``layer`` reads without a filter."""
    try:
        pyogrio.read_dataframe(path, layer=layer, max_features=1)
    except _READ_ERRORS:
        return False
    return True


def _resolve_field(name: str, fields: Sequence[str], role: str, path: Path) -> str:
    if name in fields:
        return name
    folded = [f for f in fields if f.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise ZoneError(f"{role} field {name!r} not in {path}; available fields: "
                    + (", ".join(fields) or "none"))


def _default_id(frame: gpd.GeoDataFrame, fields: Sequence[str]) -> str | None:
    for candidate in ID_FIELD_CANDIDATES:
        for field in fields:
            if field.casefold() == candidate and frame[field].notna().any():
                return field
    return None


@dataclass
class _Prepared:
    rows: list[int]  # positions in the source frame of the features kept
    ids: list[str]
    geoms: list[Any]  # shapely geometries, polygonal and valid, same length as rows
    repaired: list[str]
    dropped: list[str]


def _prepare_features(frame: gpd.GeoDataFrame, id_col: str | None, path: Path) -> _Prepared:
    geoms = np.asarray(frame.geometry.array, dtype=object)
    ids = (_as_text(frame[id_col]) if id_col is not None
           else [str(i + 1) for i in range(len(frame))])
    missing = shapely.is_missing(geoms)
    empty = np.zeros(len(geoms), dtype=bool)
    empty[~missing] = shapely.is_empty(geoms[~missing])
    type_ids = np.full(len(geoms), -1)
    type_ids[~missing] = shapely.get_type_id(geoms[~missing])
    valid = np.ones(len(geoms), dtype=bool)
    present = ~missing & ~empty
    valid[present] = shapely.is_valid(geoms[present])

    out = _Prepared(rows=[], ids=[], geoms=[], repaired=[], dropped=[])
    for i, geom in enumerate(geoms):
        row = f"row {i + 1}"
        if missing[i]:
            out.dropped.append(f"{row}: no geometry (null or unreadable)")
            continue
        if empty[i]:
            out.dropped.append(f"{row}: empty geometry")
            continue
        if type_ids[i] not in (_POLYGON, _MULTIPOLYGON, _COLLECTION):
            out.dropped.append(f"{row}: {geom.geom_type} geometry is not a polygon")
            continue
        zone_id = ids[i]
        if zone_id is None:
            out.dropped.append(f"{row}: no value in id field {id_col!r}")
            continue
        if not valid[i]:
            reason = shapely.is_valid_reason(geom)
            fixed = _polygonal(shapely.make_valid(geom))
            if fixed is None:
                out.dropped.append(f"{row}: invalid geometry ({reason}); repair left no polygon")
                continue
            out.repaired.append(zone_id)
            geom = fixed
        elif type_ids[i] == _COLLECTION:
            geom = _polygonal(geom)
            if geom is None:
                out.dropped.append(f"{row}: GeometryCollection holds no polygon")
                continue
        out.rows.append(i)
        out.ids.append(zone_id)
        out.geoms.append(geom)
    if not out.rows:
        first = f" ({out.dropped[0]})" if out.dropped else ""
        raise InputFileError(f"no polygon geometries in {path}{first}")
    return out


def _dissolve(frame: pd.DataFrame, prepared: _Prepared, *, id_col: str | None,
              group_col: str | None, path: Path) -> tuple[gpd.GeoDataFrame, list[str], list[str]]:
    """Dissolve the prepared features by id; return zones, kept and skipped numeric fields."""
    ids = pd.Series(prepared.ids, index=frame.index, dtype=object)
    order = list(dict.fromkeys(prepared.ids))
    positions: dict[str, list[int]] = {}
    for pos, zone_id in enumerate(prepared.ids):
        positions.setdefault(zone_id, []).append(pos)

    geometries = []
    for zone_id in order:
        parts = [prepared.geoms[p] for p in positions[zone_id]]
        geom = parts[0] if len(parts) == 1 else _polygonal(shapely.union_all(parts))
        geometries.append(_multi(geom))

    data: dict[str, Any] = {"zone_id": order}
    if group_col is not None:
        groups = pd.Series(_as_text(frame[group_col]), index=frame.index, dtype=object)
        by_zone = {z: list(v) for z, v in groups.groupby(ids, sort=False, dropna=False)}
        data["group_id"] = [_single_value(by_zone[z], z, group_col, path) for z in order]
    else:
        data["group_id"] = [None] * len(order)
    name_col = next((c for c in frame.columns if str(c).casefold() == "name"), None)
    if name_col is not None:
        names = pd.Series(_as_text(frame[name_col]), index=frame.index, dtype=object)
        first_names = names.groupby(ids, sort=False).first()
        data["name"] = [_none_if_na(first_names.get(z)) for z in order]
    else:
        data["name"] = [None] * len(order)

    kept: list[str] = []
    skipped: list[str] = []
    used = {id_col, group_col, name_col}
    for col in frame.columns:
        if (col in used or col == frame.geometry.name or str(col).casefold() in _RESERVED_COLUMNS
                or not _is_number_column(frame[col])):
            continue
        grouped = frame[col].groupby(ids, sort=False)
        if (grouped.nunique(dropna=True) > 1).any():
            skipped.append(str(col))
            continue
        data[str(col)] = grouped.first().reindex(order).to_numpy()
        kept.append(str(col))
    zones = gpd.GeoDataFrame(data, geometry=geometries)
    return zones, kept, skipped


def _single_value(values: Sequence[str | None], zone_id: str, field: str,
                  path: Path) -> str | None:
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    if len(distinct) > 1:
        shown = ", ".join(repr(v) for v in distinct[:5])
        raise ZoneError(f"zone {zone_id!r} has several values in group field {field!r} of {path} "
                        f"({shown}); choose another group field")
    return distinct[0] if distinct else None


def _repair_after_reprojection(zones: gpd.GeoDataFrame) -> list[str]:
    geoms = np.asarray(zones.geometry.array, dtype=object)
    invalid = ~shapely.is_valid(geoms)
    repaired: list[str] = []
    for i in np.flatnonzero(invalid):
        fixed = _polygonal(shapely.make_valid(geoms[i]))
        if fixed is not None:
            geoms[i] = _multi(fixed)
            repaired.append(str(zones["zone_id"].iloc[i]))
    if repaired:
        zones.geometry = gpd.GeoSeries(geoms, index=zones.index, crs=zones.crs)
    return repaired


def _check_lonlat(zones: gpd.GeoDataFrame, path: Path, source_crs: str) -> None:
    minx, miny, maxx, maxy = (float(v) for v in zones.total_bounds)
    if not (all(math.isfinite(v) for v in (minx, miny, maxx, maxy))
            and -180.0 <= minx <= maxx <= 180.0 and -90.0 <= miny <= maxy <= 90.0):
        raise InputFileError(f"coordinates of {path} do not fit its CRS {source_crs} "
                             "(out of lon/lat range after reprojection); check the CRS")


# --------------------------------------------------------------------------------------------
# storage


def save_zone_layer(layer: str, frame: gpd.GeoDataFrame, *, source: str) -> Path:
    """Store ``frame`` as the zone layer ``layer``, replacing any layer of that name.

    Parameters
    ----------
    layer
        Layer name: letters, digits, ``-`` and ``_`` only.
    frame
        Zones with a ``zone_id`` column, polygon geometries and a CRS (any; stored as
        EPSG:4326). ``group_id`` and ``name`` are optional; other numeric columns are kept,
        other non-numeric columns dropped. Invalid geometries are repaired.
    source
        Where the zones came from, shown by :func:`list_zone_layers`.

    Returns
    -------
    Path
        The stored GeoPackage.

    Raises
    ------
    ZoneError
        Bad layer name, a frame not matching the schema, or the file cannot be written.
    """
    check_layer_name(layer)
    return _write_layer(layer, _normalise(frame, layer), source=source)


def load_zone_layer(layer: str) -> gpd.GeoDataFrame:
    """Load a stored zone layer.

    Parameters
    ----------
    layer
        The layer name.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326 with ``zone_id`` (str), ``group_id`` and ``name`` (str or ``None``), any
        extra numeric columns and ``MultiPolygon`` geometries; ``attrs["zone_layer"]`` and
        ``attrs["source"]`` are set.

    Raises
    ------
    ZoneError
        No such layer, or it cannot be read.
    """
    path = _layer_path(layer)
    if not path.is_file():
        known = [p.stem for p in _layer_files()]
        raise ZoneError(f"no zone layer named {layer!r} in {path.parent}; "
                        + (f"imported layers: {', '.join(known)}" if known
                           else "no layers imported yet"))
    try:
        info = pyogrio.read_info(path, layer=_GPKG_TABLE)
        frame = pyogrio.read_dataframe(path, layer=_GPKG_TABLE)
    except _IO_ERRORS as exc:
        raise ZoneError(f"zone layer {layer!r} is unreadable ({path}): {_one_line(exc)}") from exc
    if "zone_id" not in frame.columns or frame.crs is None:
        raise ZoneError(f"zone layer {layer!r} ({path}) is not a heartops zone layer")
    frame["zone_id"] = frame["zone_id"].astype(str)
    for col in ("group_id", "name"):
        values = frame[col] if col in frame.columns else pd.Series(None, index=frame.index)
        frame[col] = pd.Series(_as_text(values), index=frame.index, dtype=object)
    extras = [c for c in frame.columns if c not in _RESERVED_COLUMNS and c != frame.geometry.name]
    frame = frame[["zone_id", "group_id", "name", *extras, frame.geometry.name]]
    frame.attrs["zone_layer"] = layer
    frame.attrs["source"] = (info.get("layer_metadata") or {}).get(_META_SOURCE, "")
    return frame


def list_zone_layers() -> list[ZoneLayerInfo]:
    """List the stored zone layers, by name, reading only their metadata.

    Returns
    -------
    list of ZoneLayerInfo
        Layers whose file cannot be read are left out.
    """
    layers = []
    for path in _layer_files():
        try:
            info = pyogrio.read_info(path, layer=_GPKG_TABLE)
        except _IO_ERRORS:
            continue
        meta = info.get("layer_metadata") or {}
        zones = int(meta.get(_META_ZONES, info["features"]))
        if _META_HAS_GROUPS in meta:
            has_groups = meta[_META_HAS_GROUPS] == "1"
        else:
            has_groups = _has_groups_slow(path, info)
        minx, miny, maxx, maxy = (float(v) for v in info["total_bounds"])
        layers.append(ZoneLayerInfo(name=path.stem, zones=zones, has_groups=has_groups,
                                    source=meta.get(_META_SOURCE, ""),
                                    bounds=(minx, miny, maxx, maxy), path=path))
    return layers


def _has_groups_slow(path: Path, info: dict[str, Any]) -> bool:
    if "group_id" not in list(info["fields"]):
        return False
    try:
        table = pyogrio.read_dataframe(path, layer=_GPKG_TABLE, columns=["group_id"],
                                       read_geometry=False)
    except _IO_ERRORS:
        return False
    return bool(table["group_id"].notna().any())


def _layer_path(layer: str) -> Path:
    check_layer_name(layer)
    return zones_dir() / f"{layer}.gpkg"


def _layer_files() -> list[Path]:
    return sorted(p for p in zones_dir().glob("*.gpkg")
                  if p.is_file() and _LAYER_NAME.fullmatch(p.stem))


def _normalise(frame: gpd.GeoDataFrame, layer: str) -> gpd.GeoDataFrame:
    """Check ``frame`` against the stored schema and bring it to it (EPSG:4326, MultiPolygon)."""
    where = f"zones for layer {layer!r}"
    if not isinstance(frame, gpd.GeoDataFrame) or "zone_id" not in frame.columns:
        raise ZoneError(f"{where} need a GeoDataFrame with a 'zone_id' column")
    if frame.crs is None:
        raise ZoneError(f"{where} have no CRS")
    if len(frame) == 0:
        raise ZoneError(f"{where} are empty")
    ids = _as_text(frame["zone_id"])
    if any(v is None for v in ids):
        raise ZoneError(f"{where} have a missing zone_id")
    duplicates = sorted(str(v) for v, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise ZoneError(f"{where} have duplicate zone_id values: {', '.join(duplicates)}")
    geoms = []
    for zone_id, geom in zip(ids, frame.geometry.to_crs(_WGS84).array, strict=True):
        fixed = _polygonal(geom if geom is None or shapely.is_valid(geom)
                           else shapely.make_valid(geom))
        if fixed is None:
            raise ZoneError(f"{where}: zone {zone_id!r} has no polygon geometry")
        geoms.append(_multi(fixed))
    data: dict[str, Any] = {"zone_id": ids}
    for col in ("group_id", "name"):
        data[col] = (_as_text(frame[col]) if col in frame.columns else [None] * len(frame))
    for col in frame.columns:
        if (str(col).casefold() not in _RESERVED_COLUMNS and col != frame.geometry.name
                and _is_number_column(frame[col])):
            data[str(col)] = frame[col].to_numpy()
    return gpd.GeoDataFrame(data, geometry=geoms, crs=_WGS84)


def _write_layer(layer: str, zones: gpd.GeoDataFrame, *, source: str) -> Path:
    target = _layer_path(layer)
    has_groups = bool(pd.Series(zones["group_id"]).notna().any())
    metadata = {
        _META_SOURCE: source,
        _META_ZONES: str(len(zones)),
        _META_HAS_GROUPS: "1" if has_groups else "0",
        _META_SCHEMA: _SCHEMA_VERSION,
    }
    zones = zones.copy()
    for col in ("group_id", "name"):  # an all-None column must still be written as text
        zones[col] = pd.Series(zones[col], dtype=object).astype("string")
    try:
        with atomic_path(target, suffix=".gpkg") as tmp:
            try:
                _write_layer_file(zones, tmp, metadata)
            finally:
                _remove_sidecars(tmp)
    except _IO_ERRORS as exc:
        raise ZoneError(f"cannot write zone layer {layer!r} to {target}: {_one_line(exc)}"
                        ) from exc
    return target


def _write_layer_file(zones: gpd.GeoDataFrame, tmp: Path, metadata: dict[str, str]) -> None:
    """Write the GeoPackage (a seam for tests that simulate a failed write)."""
    pyogrio.write_dataframe(zones, tmp, layer=_GPKG_TABLE, driver="GPKG",
                            geometry_type="MultiPolygon", layer_metadata=metadata)


def _remove_sidecars(tmp: Path) -> None:
    for suffix in ("-journal", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# assignment


class ZoneIndex:
    """Assign points to zones with a spatial index.

    Parameters
    ----------
    frame
        Zones with ``zone_id``, optional ``group_id`` and polygon geometries, in any CRS
        (reprojected to EPSG:4326). The frame order decides ties: a point in several zones (on
        a shared boundary, or where zones overlap) goes to the first of them.

    Raises
    ------
    ZoneError
        The frame has no ``zone_id`` column or no CRS.
    """

    def __init__(self, frame: gpd.GeoDataFrame) -> None:
        if "zone_id" not in frame.columns:
            raise ZoneError("zone frame has no 'zone_id' column")
        if frame.crs is None:
            raise ZoneError("zone frame has no CRS")
        geoms = np.asarray(frame.geometry.to_crs(_WGS84).array, dtype=object)
        self._ids: npt.NDArray[np.object_] = np.array(
            [None if v is None else str(v) for v in _as_text(frame["zone_id"])], dtype=object)
        groups = (_as_text(frame["group_id"]) if "group_id" in frame.columns
                  else [None] * len(frame))
        self._groups: dict[str, str | None] = {}
        for zone_id, group in zip(self._ids, groups, strict=True):
            if zone_id is not None:
                self._groups.setdefault(zone_id, group)
        self.zone_ids: tuple[str, ...] = tuple(self._groups)
        """The zone ids, in layer order."""

        usable = ~shapely.is_missing(geoms) & np.array([v is not None for v in self._ids],
                                                          dtype=bool)
        parts, owner = shapely.get_parts(geoms[usable], return_index=True)
        owner = np.flatnonzero(usable)[owner]
        polygonal = shapely.get_type_id(parts) == _POLYGON
        self._parts: npt.NDArray[np.object_] = parts[polygonal]
        self._owner: npt.NDArray[np.int64] = owner[polygonal].astype(np.int64)
        shapely.prepare(self._parts)
        self._tree = shapely.STRtree(self._parts)

    @classmethod
    def from_layer(cls, layer: str) -> ZoneIndex:
        """Build the index of a stored zone layer.

        Parameters
        ----------
        layer
            The layer name.

        Returns
        -------
        ZoneIndex
            The index.
        """
        return cls(load_zone_layer(layer))

    def assign(self, lat: ArrayLike, lon: ArrayLike) -> npt.NDArray[np.object_]:
        """Return the zone of each point.

        Parameters
        ----------
        lat, lon
            Latitudes and longitudes (degrees, broadcast together).

        Returns
        -------
        numpy.ndarray
            Object array of the broadcast shape holding the ``zone_id`` of each point, or
            ``None`` for a point outside every zone (or with a NaN coordinate).
        """
        lat_a = np.asarray(lat, dtype=float)
        lon_a = np.asarray(lon, dtype=float)
        shape = np.broadcast_shapes(lat_a.shape, lon_a.shape)
        y = np.broadcast_to(lat_a, shape).ravel()
        x = np.broadcast_to(lon_a, shape).ravel()
        out = np.full(x.size, None, dtype=object)
        if len(self._parts) == 0:
            return out.reshape(shape)
        todo = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        for start in range(0, todo.size, _ASSIGN_CHUNK):
            idx = todo[start:start + _ASSIGN_CHUNK]
            best = self._first_zone(x[idx], y[idx])
            hit = best >= 0
            out[idx[hit]] = self._ids[best[hit]]
        return out.reshape(shape)

    def _first_zone(self, x: npt.NDArray[np.float64],
                    y: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Return, per point, the index of the first zone covering it, or -1."""
        point_idx, part_idx = self._tree.query(shapely.points(x, y))  # bounding boxes only
        inside = shapely.intersects_xy(self._parts[part_idx], x[point_idx], y[point_idx])
        point_idx = point_idx[inside]
        zone_idx = self._owner[part_idx[inside]]
        none = np.iinfo(np.int64).max
        best = np.full(x.size, none, dtype=np.int64)
        np.minimum.at(best, point_idx, zone_idx)
        best[best == none] = -1
        return best

    def group_of(self, zone_id: str) -> str | None:
        """Return the group of a zone.

        Parameters
        ----------
        zone_id
            A zone id of this index.

        Returns
        -------
        str or None
            The zone's ``group_id``, ``None`` if it has none.

        Raises
        ------
        ZoneError
            ``zone_id`` is not a zone of this index.
        """
        try:
            return self._groups[zone_id]
        except KeyError:
            raise ZoneError(f"unknown zone id {zone_id!r}") from None

    def __len__(self) -> int:
        """Return the number of zones."""
        return len(self.zone_ids)


# --------------------------------------------------------------------------------------------
# helpers


def _polygonal(geom: Any) -> Any:
    """Return the polygonal part of ``geom`` (Polygon/MultiPolygon), or ``None`` if it has none."""
    if geom is None or shapely.is_empty(geom):
        return None
    type_id = shapely.get_type_id(geom)
    if type_id in (_POLYGON, _MULTIPOLYGON):
        return geom
    if type_id != _COLLECTION:
        return None
    polygons = []
    stack = list(shapely.get_parts(geom))
    while stack:
        part = stack.pop()
        part_type = shapely.get_type_id(part)
        if part_type == _POLYGON and not shapely.is_empty(part):
            polygons.append(part)
        elif part_type in (_MULTIPOLYGON, _COLLECTION):
            stack.extend(shapely.get_parts(part))
    if not polygons:
        return None
    merged = shapely.multipolygons(polygons)
    if not shapely.is_valid(merged):
        merged = _polygonal(shapely.union_all(polygons))
    return merged


def _multi(geom: Any) -> Any:
    if shapely.get_type_id(geom) == _POLYGON:
        return shapely.multipolygons([geom])
    return geom


def _is_number_column(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def _as_text(values: pd.Series) -> list[str | None]:
    """Return ``values`` as text: ``None`` for missing or blank, ``"111"`` for ``111.0``."""
    out: list[str | None] = []
    for value in values:
        if _is_na(value):
            out.append(None)
        elif isinstance(value, np.integer) or (
                isinstance(value, float | np.floating) and float(value).is_integer()):
            out.append(str(int(value)))
        else:
            text = str(value).strip()
            out.append(text or None)
    return out


def _is_na(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _none_if_na(value: Any) -> Any:
    if _is_na(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _crs_label(crs: Any) -> str:
    crs = CRS.from_user_input(crs)
    authority = crs.to_authority()
    if authority is not None:
        return f"{authority[0]}:{authority[1]}"
    return str(crs.name)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + "...") if len(text) > 300 else (text or type(exc).__name__)

