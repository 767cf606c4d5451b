"""Write export layers as GeoPackage, GeoJSON, CSV or an offline interactive HTML map.

Formats (every geometry in EPSG:4326, WGS 84 lon/lat):

GeoPackage
    One file, one layer per kind (``calls``, ``zones``, ...), EPSG:4326 declared in the file;
    each layer's metadata names the heartops profile.
GeoJSON
    ``--out`` is a folder holding one RFC 7946 FeatureCollection per kind, ``<kind>.geojson``
    (RFC 7946 means lon/lat WGS 84 with no ``crs`` member, which every reader assumes).
CSV
    ``--out`` is a folder holding ``<kind>.csv`` per kind: the attributes, then the geometry as
    WKT (lon/lat, EPSG:4326) in a ``wkt`` column; point layers also carry ``lat``/``lon``.
HTML
    One self-contained page (offlinefolium inlines Leaflet's JS and CSS, so it opens with no
    internet and no CDN), one toggleable layer per kind and no tile background, which would
    need the internet.

Nothing is ever half-written: a single file is written to a temporary name beside it and
renamed; a folder's files are all written to temporary names first and renamed only once
every one of them succeeded.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from heartops.atomic import atomic_path
from heartops.core.progress import Progress, no_progress
from heartops.exports.model import ExportError, ExportFormat, ExportKind, Layer, Profile

__all__ = ["output_paths", "write_layers"]

_WRITE_ERRORS: tuple[type[Exception], ...] = (OSError, pyogrio.errors.DataSourceError,
                                              pyogrio.errors.DataLayerError,
                                              pyogrio.errors.FieldError,
                                              pyogrio.errors.GeometryError)

_COLOURS: dict[ExportKind, str] = {
    ExportKind.CALLS: "#d7301f",
    ExportKind.ZONES: "#6a51a3",
    ExportKind.UNITS: "#238b45",
    ExportKind.TRACKS: "#2171b5",
    ExportKind.ISOCHRONES: "#fd8d3c",
}
_TOOLTIP_FIELDS = 10  # more fields than this make the tooltip cover the map


def output_paths(fmt: ExportFormat, out: Path, kinds: Sequence[ExportKind]) -> list[Path]:
    """Return the files an export of ``kinds`` to ``out`` writes."""
    if fmt.is_folder:
        return [out / f"{kind}.{fmt.value}" for kind in kinds]
    return [out]


def write_layers(layers: Sequence[Layer], fmt: ExportFormat, out: Path, *, profile: Profile,
                 progress: Progress = no_progress) -> list[Path]:
    """Write ``layers`` in ``fmt`` to ``out``; return the files written.

    Raises
    ------
    ExportError
        When ``out`` is unusable (a folder where a file is wanted, or the reverse) or the
        write fails; nothing is left behind.
    """
    _check_target(fmt, out)
    try:
        if fmt is ExportFormat.GPKG:
            _write_gpkg(layers, out, profile=profile, progress=progress)
        elif fmt is ExportFormat.HTML:
            _write_html(layers, out, profile=profile, progress=progress)
        else:
            _write_folder(layers, fmt, out, progress=progress)
    except _WRITE_ERRORS as exc:
        raise ExportError(f"cannot write {out}: {str(exc).splitlines()[0] if str(exc) else exc}"
                          ) from exc
    return output_paths(fmt, out, [layer.kind for layer in layers])


def _check_target(fmt: ExportFormat, out: Path) -> None:
    if fmt.is_folder:
        if out.exists() and not out.is_dir():
            raise ExportError(f"{out} is a file; a {fmt.value} export writes a folder of "
                              "one file per kind")
    elif out.is_dir():
        raise ExportError(f"{out} is a folder; a {fmt.value} export writes one file")


# -- GeoPackage ------------------------------------------------------------------------------


def _write_gpkg(layers: Sequence[Layer], out: Path, *, profile: Profile,
                progress: Progress) -> None:
    with atomic_path(out, suffix=".gpkg") as tmp:
        try:
            for i, layer in enumerate(layers):
                progress(f"writing layer {layer.kind} ({len(layer.frame):,} rows)",
                         i / len(layers))
                pyogrio.write_dataframe(
                    _plain_types(layer.frame), tmp, layer=str(layer.kind), driver="GPKG",
                    geometry_type=layer.geometry_type, append=i > 0, promote_to_multi=False,
                    layer_metadata={"HEARTOPS_PROFILE": str(profile),
                                    "HEARTOPS_KIND": str(layer.kind),
                                    "HEARTOPS_CRS": "EPSG:4326"})
        finally:
            for suffix in ("-journal", "-wal", "-shm"):
                Path(str(tmp) + suffix).unlink(missing_ok=True)


# -- GeoJSON and CSV folders -----------------------------------------------------------------


def _write_folder(layers: Sequence[Layer], fmt: ExportFormat, out: Path, *,
                  progress: Progress) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with _staged(out, [f"{layer.kind}.{fmt.value}" for layer in layers]) as temps:
        for i, (layer, tmp) in enumerate(zip(layers, temps, strict=True)):
            progress(f"writing {layer.kind}.{fmt.value} ({len(layer.frame):,} rows)",
                     i / len(layers))
            if fmt is ExportFormat.GEOJSON:
                pyogrio.write_dataframe(_plain_types(layer.frame), tmp, driver="GeoJSON",
                                        layer=str(layer.kind),
                                        geometry_type=layer.geometry_type,
                                        promote_to_multi=False, RFC7946="YES")
            else:
                _csv_frame(layer).to_csv(tmp, index=False)


@contextlib.contextmanager
def _staged(folder: Path, names: Sequence[str]) -> Iterator[list[Path]]:
    """Yield temporary paths in ``folder``; rename them to ``names`` only if all succeed."""
    temps: list[Path] = []
    try:
        for name in names:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp" + Path(name).suffix,
                                            dir=folder)
            os.close(fd)
            Path(tmp_name).unlink()  # pyogrio refuses to overwrite; let it create the file
            temps.append(Path(tmp_name))
        yield temps
        for tmp, name in zip(temps, names, strict=True):
            os.replace(tmp, folder / name)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def _csv_frame(layer: Layer) -> pd.DataFrame:
    frame = _plain_types(layer.frame)
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for column in table.columns:
        if isinstance(table[column].dtype, pd.DatetimeTZDtype):
            table[column] = _iso(table[column])
    geoms = np.asarray(frame.geometry.array, dtype=object)
    table["wkt"] = [None if g is None else shapely.to_wkt(g, rounding_precision=7)
                    for g in geoms]
    return table


# -- HTML ------------------------------------------------------------------------------------


def _write_html(layers: Sequence[Layer], out: Path, *, profile: Profile,
                progress: Progress) -> None:
    import offlinefolium as folium  # inlines Leaflet; plain folium is blank offline

    progress("building the HTML map", 0.0)
    bounds = _bounds(layers)
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    if bounds is not None:
        west, south, east, north = bounds
        fmap.fit_bounds([[south, west], [north, east]])
    order = sorted(layers, key=lambda layer: _draw_order(layer.geometry_type))
    for i, layer in enumerate(order):
        progress(f"adding layer {layer.kind} to the map", (i + 1) / (len(order) + 1))
        _add_html_layer(folium, fmap, layer)
    folium.LayerControl(collapsed=False).add_to(fmap)
    title = (f"<div style='position:fixed;top:8px;left:50px;z-index:1000;background:#fff;"
             f"padding:4px 8px;font:13px sans-serif;border-radius:4px'>heartops export "
             f"&middot; profile: {profile}</div>")
    root: Any = fmap.get_root()  # a branca Figure; its stubs type it as a plain Element
    root.html.add_child(folium.Element(title))
    html = root.render()
    with atomic_path(out, suffix=".html") as tmp:
        tmp.write_text(html, encoding="utf-8")


def _add_html_layer(folium: Any, fmap: Any, layer: Layer) -> None:
    frame = _plain_types(layer.frame)
    frame = frame[~frame.geometry.isna()]
    data = json.loads(_json_frame(frame).to_json(na="null", drop_id=True))
    fields = [c for c in frame.columns if c != frame.geometry.name][:_TOOLTIP_FIELDS]
    colour = _COLOURS[layer.kind]
    group = folium.FeatureGroup(name=f"{layer.kind} ({len(frame):,})", show=True)
    style = _style_function(layer, colour)
    options: dict[str, Any] = {"name": str(layer.kind), "style_function": style}
    if fields and len(frame):
        options["tooltip"] = folium.GeoJsonTooltip(fields=fields, sticky=True)
    if layer.geometry_type == "Point":
        options["marker"] = folium.CircleMarker(radius=4, weight=1, fill=True,
                                                fill_opacity=0.8)
    if data["features"]:
        folium.GeoJson(data, **options).add_to(group)
    group.add_to(fmap)


def _style_function(layer: Layer, colour: str) -> Any:
    if layer.count_columns:
        total = layer.count_columns[-1]

        def by_count(feature: dict[str, Any]) -> dict[str, Any]:
            value = feature["properties"].get(total)
            hidden = value is None
            return {"color": "#444", "weight": 1, "fillColor": "#bbb" if hidden else colour,
                    "fillOpacity": 0.15 if hidden else 0.45,
                    "dashArray": "4" if hidden else None}

        return by_count

    def plain(feature: dict[str, Any]) -> dict[str, Any]:
        filled = layer.geometry_type.endswith("Polygon")
        return {"color": colour, "fillColor": colour, "weight": 2 if filled else 3,
                "fillOpacity": 0.12 if filled else 0.8}

    return plain


def _draw_order(geometry_type: str) -> int:
    """Polygons first, then lines, then points, so points stay clickable on top."""
    return 0 if geometry_type.endswith("Polygon") else 1 if "Line" in geometry_type else 2


def _bounds(layers: Sequence[Layer]) -> tuple[float, float, float, float] | None:
    boxes = [layer.frame.total_bounds for layer in layers
             if len(layer.frame) and not layer.frame.geometry.isna().all()]
    if not boxes:
        return None
    stacked = np.vstack(boxes)
    return (float(np.nanmin(stacked[:, 0])), float(np.nanmin(stacked[:, 1])),
            float(np.nanmax(stacked[:, 2])), float(np.nanmax(stacked[:, 3])))


# -- shared ----------------------------------------------------------------------------------


def _plain_types(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``frame`` with column types every driver writes alike (text stays text)."""
    out = frame.copy()
    for column in out.columns:
        if column == out.geometry.name:
            continue
        if out[column].dtype == object and out[column].map(
                lambda v: v is None or isinstance(v, str)).all():
            out[column] = out[column].astype("string")
    return out


def _json_frame(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``frame`` with datetimes as ISO text (JSON has no date type)."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = _iso(out[column])
    return out


def _iso(values: pd.Series) -> pd.Series:
    text: pd.Series = values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return text.where(values.notna(), None)
