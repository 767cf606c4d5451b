"""The native map canvas: roads, zones, posts and drive-time areas in projected metres.

Drawn with pyqtgraph in the network's UTM CRS, so one view unit is one metre, distances read
true and the aspect ratio can be locked. Works with no internet: nothing comes from tiles.

Why so few items: pyqtgraph pays per item, not per vertex (see ``STACK.md``). Every road class
is ONE ``PlotCurveItem`` with ``connect="pairs"`` (each segment is two consecutive points), the
beat and district outlines are one item each, and the posts one ``ScatterPlotItem``. Only labels
are one item each, and there are tens of them. A two-way street is stored as two directed
edges with the same geometry; it is drawn once.

The map imports ``heartops.routing`` only for the :class:`RoadClass` table and for types; the
window hands it the already-loaded network, zones and posts (``heartops/app.py`` loads them).

Live layers (units, open calls, selection, the recommended route) are drawn by
:class:`heartops.qt.map_layers.LiveLayers`, also a fixed handful of items; this widget is their
public face (:meth:`MapView.set_units`, :meth:`MapView.set_calls`, :meth:`MapView.select_unit`,
...) and projects their positions with its own transformer, on the UI thread only (pyproj
transformers must not be shared across threads).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from PySide6 import QtCore, QtGui, QtWidgets
from shapely.ops import polylabel

# isort: split
import pyqtgraph as pg  # imported after PySide6 so that pyqtgraph binds to it

from heartops.core.codes import CodeTables, default_tables
from heartops.qt.map_layers import CallMarker, LiveLayers, UnitMarker
from heartops.qt.map_legend import ColourScale, LegendEntry, LegendSwatch, MapLegend
from heartops.qt.theme import DARK_MAP, MapPalette
from heartops.routing.roads import RoadClass

if TYPE_CHECKING:
    import geopandas as gpd

    from heartops.core.geo import GeoPoint
    from heartops.routing.network import RoadNetwork
    from heartops.routing.posts import Post

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ROAD_LABELS: dict[RoadClass, str] = {
    RoadClass.FREEWAY: "Freeway",
    RoadClass.RAMP: "Ramp",
    RoadClass.ARTERIAL: "Arterial",
    RoadClass.COLLECTOR: "Collector",
    RoadClass.LOCAL: "Local street",
}

#: Beats coloured by a figure are put in this many classes at most.
CHOROPLETH_CLASSES = 5
#: Class fills, low to high (a sequential blue-to-red ramp readable in both themes), about
#: 45 % opaque so the streets show through.
CHOROPLETH_COLOURS: tuple[str, ...] = ("#2c7bb674", "#7fbcd274", "#f4e28a74", "#f59e4c74",
                                       "#d7301f74")

#: Demand cells a free team reaches in time, and those none reaches (translucent: streets
#: show through; the same in both themes, like the choropleth ramp).
COVERED_FILL = "#43a047a8"
UNCOVERED_FILL = "#e53935c8"
#: Posts chosen by View → Plan posts: exact (filled star) and greedy (hollow diamond).
PLAN_EXACT_COLOUR = "#ffd54f"
PLAN_GREEDY_COLOUR = "#4fc3f7"

#: Layers the user can switch on and off.
LAYERS = ("roads", "zones", "posts")
#: Live layers, switched with the same :meth:`MapView.set_layer_visible`.
LIVE_LAYERS = ("units", "calls")

__all__ = ["LAYERS", "LIVE_LAYERS", "CallMarker", "MapView", "UnitMarker"]

# Stacking order, bottom to top: drive-time areas under the roads so streets stay readable.
_Z_CHOROPLETH = -1.0  # beat fills under the drive-time areas
_Z_COVERAGE = -0.5  # coverage cells over the beat fills, under the drive-time areas
_Z_ISOCHRONE = 0.0
_Z_ROADS = 10.0  # + (4 - class): freeways on top of local streets
_Z_BEATS = 20.0
_Z_DISTRICTS = 21.0
_Z_ORIGIN = 29.0  # under the posts: a post's own marker stays visible on its start point
_Z_POSTS = 30.0
_Z_PLAN = 31.0  # planned posts over today's posts: a chosen existing post reads as chosen
_Z_LABELS = 40.0

_ZOOM_STEP = 1.5
_CITY_PADDING = 0.02
_MAX_SHRINK_FOR_OVERLAYS = 1.15
_OVERLAY_OFFSET_PX = 12
_LABEL_FONT_PT = 8
_SELECTION_RADIUS_M = 600.0
# Height of the legend's one-line key (a little over one 7 pt line and its padding).
_COLLAPSED_LEGEND_PX = 22.0
# The legend's background lets streets show through (about 70 % opaque).
_LEGEND_ALPHA = 0xb4


@dataclass(frozen=True, slots=True)
class _Isochrone:
    """One drive-time area as drawn: the projected geometry and its minutes."""

    geometry: Any
    minutes: float


def drawable_edges(network: RoadNetwork) -> IntArray:
    """Return the forward edges to draw: one per street, not one per direction.

    Parameters
    ----------
    network
        The road network.

    Returns
    -------
    numpy.ndarray
        Sorted edge indices; of the two directions of a two-way street only the first is kept.
    """
    tails, heads = network.edge_tail, network.fwd_indices
    keys = np.minimum(tails, heads) * network.node_count + np.maximum(tails, heads)
    _, first = np.unique(keys, return_index=True)
    return np.sort(first).astype(np.int64)


def road_segments(
    network: RoadNetwork, x: FloatArray, y: FloatArray, edges: IntArray
) -> dict[RoadClass, tuple[FloatArray, FloatArray]]:
    """Split the geometry of ``edges`` into line segments, grouped by road class.

    Parameters
    ----------
    network
        The road network (for ``geom_offsets`` and ``fwd_class``).
    x, y
        Projected coordinates of every geometry vertex (``geom_lon``/``geom_lat`` projected).
    edges
        The edges to draw (see :func:`drawable_edges`).

    Returns
    -------
    dict
        For every road class, ``(xs, ys)`` with two points per segment (``connect="pairs"``).
    """
    offsets = network.geom_offsets
    lengths = np.diff(offsets)
    edge_of_vertex = np.repeat(np.arange(lengths.size), lengths)
    # A vertex starts a segment unless it is the last vertex of its edge.
    starts_segment = np.ones(edge_of_vertex.size, dtype=bool)
    starts_segment[offsets[1:][lengths > 0] - 1] = False
    wanted = np.zeros(lengths.size, dtype=bool)
    wanted[edges] = True
    starts = np.flatnonzero(starts_segment & wanted[edge_of_vertex])
    classes = network.fwd_class[edge_of_vertex[starts]]
    return {road_class: _pairs(x, y, starts[classes == road_class]) for road_class in RoadClass}


def outline_segments(geometries: Any) -> tuple[FloatArray, FloatArray]:
    """Return the rings of polygons as segment pairs (``connect="pairs"``).

    Parameters
    ----------
    geometries
        Polygons or multipolygons (a GeoSeries or array of shapely geometries), projected.

    Returns
    -------
    xs, ys
        Two points per boundary segment.
    """
    parts = shapely.get_parts(np.asarray(geometries, dtype=object))
    rings = shapely.get_rings(parts)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    starts = np.flatnonzero(ring[:-1] == ring[1:])
    return _pairs(coords[:, 0], coords[:, 1], starts)


def _pairs(x: FloatArray, y: FloatArray, starts: IntArray) -> tuple[FloatArray, FloatArray]:
    xs = np.empty(2 * starts.size)
    ys = np.empty(2 * starts.size)
    xs[0::2], xs[1::2] = x[starts], x[starts + 1]
    ys[0::2], ys[1::2] = y[starts], y[starts + 1]
    return xs, ys


def label_point(geometry: Any) -> tuple[float, float]:
    """Return where a zone's label goes: the pole of inaccessibility of its largest part.

    A centroid can fall outside a concave zone; the pole is always inside and far from edges.
    """
    parts = shapely.get_parts(geometry)
    largest = parts[int(np.argmax(shapely.area(parts)))]
    tolerance = max(math.sqrt(float(shapely.area(largest))) / 50.0, 1.0)
    point = polylabel(largest, tolerance=tolerance)
    return float(point.x), float(point.y)


def short_post_name(post: Post) -> str:
    """Return a post's name without a leading ``Post <id>`` (shown beside the id anyway).

    ``Post 1 — Downtown Fire Station 1`` becomes ``Downtown Fire Station 1``; names that do
    not repeat the id are returned as they are.
    """
    match = re.match(rf"post\s*{re.escape(post.post_id)}(?!\w)\s*[—–:\-,]?\s*(.+)$", post.name,
                     flags=re.IGNORECASE)
    return match.group(1) if match else post.name


def nice_length(target_m: float) -> float:
    """Return the largest 1, 2 or 5 × 10^k metres not above ``target_m`` (for the scale bar)."""
    if target_m <= 0 or not math.isfinite(target_m):
        return 1.0
    power = 10.0 ** math.floor(math.log10(target_m))
    return max(step * power for step in (1.0, 2.0, 5.0) if step * power <= target_m)


class _ScaleBar(pg.ScaleBar):  # type: ignore[misc]
    """A scale bar that picks a round length fitting about a sixth of the view as it zooms."""

    def updateBar(self) -> None:  # noqa: N802 - pyqtgraph's name
        """Choose the bar length for the current zoom, then draw it."""
        view = self.parentItem()
        if view is None:
            return
        (x0, x1), _ = view.viewRange()
        self.size = nice_length((x1 - x0) / 6.0)
        self.text.setText(_format_metres(self.size))
        super().updateBar()


def _format_metres(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


class MapView(pg.GraphicsView):  # type: ignore[misc]
    """The map canvas.

    Parameters
    ----------
    parent
        The parent widget.
    palette
        Map colours (see :mod:`heartops.qt.theme`).

    Notes
    -----
    Wheel zooms and dragging pans (pyqtgraph's defaults); ``+``/``-`` zoom, ``Home`` shows the
    whole city. A left click on the map (not on a marker or the legend) emits
    :attr:`map_clicked` with the WGS 84 position; a click on a post emits :attr:`post_clicked`,
    on a unit :attr:`unit_selected`, on a call :attr:`call_selected` (and highlights it).
    :meth:`select_unit` and :meth:`select_call` highlight without emitting, so a table can
    follow the map and the map the table without echoing each other.
    """

    #: ``(lat, lon)`` of a left click on the map.
    map_clicked = QtCore.Signal(float, float)
    #: Index (into the posts given to :meth:`set_posts`) of a clicked post marker.
    post_clicked = QtCore.Signal(int)
    #: Id of a clicked unit marker.
    unit_selected = QtCore.Signal(str)
    #: Id of a clicked call marker.
    call_selected = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None, *,
                 palette: MapPalette = DARK_MAP, tables: CodeTables | None = None) -> None:
        super().__init__(parent, background=palette.background)
        self._palette = palette
        self._to_xy: pyproj.Transformer | None = None
        self._to_lonlat: pyproj.Transformer | None = None
        self._crs = ""
        self._city_bounds: tuple[float, float, float, float] | None = None
        self._layers: dict[str, list[QtWidgets.QGraphicsItem]] = {name: [] for name in LAYERS}
        self._visible = dict.fromkeys(LAYERS, True)
        self.road_items: dict[RoadClass, pg.PlotCurveItem] = {}
        self.beat_item: pg.PlotCurveItem | None = None
        self.district_item: pg.PlotCurveItem | None = None
        self.zone_label_items: list[pg.TextItem] = []
        self.post_item: pg.ScatterPlotItem | None = None
        self.post_label_items: list[pg.TextItem] = []
        self.isochrone_items: list[QtWidgets.QGraphicsPathItem] = []
        self.isochrone_label_item: pg.TextItem | None = None
        self._origin_item: pg.ScatterPlotItem | None = None
        self._beat_shapes: list[tuple[str, Any]] = []  # (zone_id, projected geometry)
        self.choropleth_items: list[QtWidgets.QGraphicsPathItem] = []
        self._choropleth_classes: dict[str, int] = {}
        self._cell_rings: list[QtGui.QPolygonF] = []
        self.coverage_items: dict[str, QtWidgets.QGraphicsPathItem] = {}
        self.coverage_minutes: float | None = None
        self._coverage_key: bytes | None = None
        self.plan_items: dict[str, pg.ScatterPlotItem] = {}
        self._setup_canvas()
        self.live = LiveLayers(self._view, palette=palette,
                               tables=tables if tables is not None else default_tables(),
                               parent=self)
        self.live.unit_clicked.connect(self.unit_selected)
        self.live.call_clicked.connect(self.call_selected)
        self.legend = MapLegend(self._view, offset=_OVERLAY_OFFSET_PX)
        self.legend.toggled.connect(self._on_legend_toggled)
        self._scale_bar = self._make_scale_bar()
        self.live.label_item.set_keep_out(self._overlay_rects)
        self.scene().sigMouseClicked.connect(self._on_scene_click)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

    # -- setup ------------------------------------------------------------------------------

    def _setup_canvas(self) -> None:
        # A bare ViewBox, not a PlotItem: no axes to hide, and no parentless option menus
        # that PlotItem creates and that outlive the window until garbage collection.
        self._view = pg.ViewBox(lockAspect=True, enableMenu=False, defaultPadding=0.0)
        self.setCentralItem(self._view)
        # While the whole city is shown, keep showing it as the window is resized.
        self._fitted = False
        self._view.sigResized.connect(self._refit)
        self._view.sigRangeChangedManually.connect(self._forget_fit)

    def _refit(self, *_args: Any) -> None:
        if self._fitted:
            self.zoom_to_city()

    def _forget_fit(self, *_args: Any) -> None:
        self._fitted = False

    @property
    def view_box(self) -> pg.ViewBox:
        """The pyqtgraph ViewBox holding every layer (map metres)."""
        return self._view

    def _overlay_rects(self) -> list[QtCore.QRectF]:
        """Scene rects of the legends and the scale bar (labels are kept out of them)."""
        return [item.sceneBoundingRect()
                for item in (self.legend, self._scale_bar) if item.isVisible()]

    def _make_scale_bar(self) -> _ScaleBar:
        bar = _ScaleBar(1000.0, width=4, offset=(-2 * _OVERLAY_OFFSET_PX, -2 * _OVERLAY_OFFSET_PX))
        bar.setParentItem(self._view)
        bar.setZValue(100)
        return bar

    # -- coordinates ------------------------------------------------------------------------

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        """Project a WGS 84 position to map metres."""
        if self._to_xy is None:
            raise RuntimeError("the map has no network yet; call set_network first")
        x, y = self._to_xy.transform(lon, lat)
        return float(x), float(y)

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        """Return ``(lat, lon)`` of a point in map metres."""
        if self._to_lonlat is None:
            raise RuntimeError("the map has no network yet; call set_network first")
        lon, lat = self._to_lonlat.transform(x, y)
        return float(lat), float(lon)

    def _project(self, coords: FloatArray) -> FloatArray:
        assert self._to_xy is not None
        x, y = self._to_xy.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def project_arrays(self, lon: npt.ArrayLike,
                       lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Project WGS 84 ``lon``/``lat`` arrays to map metres ``(x, y)`` in one call."""
        if self._to_xy is None:
            raise RuntimeError("the map has no network yet; call set_network first")
        x, y = self._to_xy.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    # -- layers -----------------------------------------------------------------------------

    def set_network(self, network: RoadNetwork) -> None:
        """Draw the roads of ``network`` (one item per road class) and show the whole city.

        Also fixes the map's CRS: zones and posts are projected to the network's UTM zone.
        """
        self._clear_layer("roads")
        self._crs = network.crs
        self._to_xy = pyproj.Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
        self._to_lonlat = pyproj.Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
        gx, gy = self._to_xy.transform(network.geom_lon, network.geom_lat)
        segments = road_segments(network, np.asarray(gx), np.asarray(gy),
                                 drawable_edges(network))
        self.road_items = {}
        for road_class, (xs, ys) in segments.items():
            item = pg.PlotCurveItem(xs, ys, connect="pairs", skipFiniteCheck=True)
            item.setZValue(_Z_ROADS + (len(RoadClass) - 1 - int(road_class)))
            self.road_items[road_class] = item
            self._add(item, "roads")
        self._city_bounds = (float(network.node_x.min()), float(network.node_y.min()),
                             float(network.node_x.max()), float(network.node_y.max()))
        self.live.set_projector(self.project_arrays)  # markers shown so far follow the new CRS
        self._restyle()
        self.zoom_to_city()

    def set_zones(self, beats: gpd.GeoDataFrame | None,
                  districts: gpd.GeoDataFrame | None = None) -> None:
        """Draw beat outlines with their labels, and district outlines over them.

        Parameters
        ----------
        beats
            Zone layer (EPSG:4326, ``zone_id``, ``geometry``), or ``None``.
        districts
            The coarser zone layer, drawn brighter; or ``None``.
        """
        if self._to_xy is None:
            raise RuntimeError("set_network must come before set_zones")
        self._clear_layer("zones")
        self.beat_item = self.district_item = None
        self.zone_label_items = []
        self.clear_choropleth()
        self._beat_shapes = []
        if beats is not None and len(beats):
            projected = beats.to_crs(self._crs)
            self._beat_shapes = [(str(z), g) for z, g in zip(projected["zone_id"],
                                                            projected.geometry, strict=True)]
            self.beat_item = self._outline_item(projected.geometry, _Z_BEATS)
            for zone_id, geometry in zip(projected["zone_id"], projected.geometry, strict=True):
                self._add_zone_label(str(zone_id), geometry)
        if districts is not None and len(districts):
            projected = districts.to_crs(self._crs)
            self.district_item = self._outline_item(projected.geometry, _Z_DISTRICTS)
        self._restyle()

    def _outline_item(self, geometries: Any, z: float) -> pg.PlotCurveItem:
        xs, ys = outline_segments(geometries)
        item = pg.PlotCurveItem(xs, ys, connect="pairs", skipFiniteCheck=True)
        item.setZValue(z)
        self._add(item, "zones")
        return item

    def _add_zone_label(self, text: str, geometry: Any) -> None:
        x, y = label_point(geometry)
        label = pg.TextItem(text, anchor=(0.5, 0.5))
        label.setFont(_label_font(bold=True))
        label.setPos(x, y)
        label.setZValue(_Z_LABELS)
        self.zone_label_items.append(label)
        self._add(label, "zones")

    def set_posts(self, posts: Sequence[Post]) -> None:
        """Draw staging posts as one scatter item, each with its name beside it."""
        if self._to_xy is None:
            raise RuntimeError("set_network must come before set_posts")
        self._clear_layer("posts")
        self.post_item = None
        self.post_label_items = []
        if posts:
            points = [self.to_xy(p.location.lat, p.location.lon) for p in posts]
            xs, ys = np.array(points).T
            self.post_item = pg.ScatterPlotItem(xs, ys, symbol="s", size=11,
                                                data=np.arange(len(posts)))
            self.post_item.setZValue(_Z_POSTS)
            self.post_item.sigClicked.connect(self._on_post_click)
            self._add(self.post_item, "posts")
            for post, (x, y) in zip(posts, points, strict=True):
                # Anchor left of the text, a little right of the marker so they do not overlap.
                label = pg.TextItem(short_post_name(post), anchor=(-0.06, 0.5))
                label.setFont(_label_font(bold=False))
                label.setPos(x, y)
                label.setZValue(_Z_LABELS)
                self.post_label_items.append(label)
                self._add(label, "posts")
        self._restyle()

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        """Show or hide one of :data:`LAYERS` or :data:`LIVE_LAYERS` (``units``, ``calls``)."""
        if layer in LIVE_LAYERS:
            self._visible[layer] = visible
            self.live.set_layer_visible(layer, visible)
            return
        if layer not in self._layers:
            raise ValueError(f"unknown map layer {layer!r}; layers: "
                             f"{', '.join(LAYERS + LIVE_LAYERS)}")
        self._visible[layer] = visible
        for item in self._layers[layer]:
            item.setVisible(visible)
        if layer == "zones":
            for fill in self.choropleth_items:
                fill.setVisible(visible)

    def layer_visible(self, layer: str) -> bool:
        """Whether a layer is switched on."""
        return self._visible.get(layer, True)

    def _add(self, item: QtWidgets.QGraphicsItem, layer: str) -> None:
        item.setVisible(self._visible[layer])
        self._layers[layer].append(item)
        self._view.addItem(item)

    def _clear_layer(self, layer: str) -> None:
        for item in self._layers[layer]:
            self._view.removeItem(item)
        self._layers[layer] = []

    # -- drive-time areas -------------------------------------------------------------------

    def show_isochrones(self, areas: Sequence[tuple[Any, float]], *,
                        origin: GeoPoint | None = None, label: str | None = None) -> None:
        """Draw drive-time areas as translucent filled polygons, replacing any shown.

        Parameters
        ----------
        areas
            ``(geometry, minutes)`` pairs; geometries are shapely (multi)polygons in lon/lat.
        origin
            Where the drive starts, marked with a dot; optional.
        label
            Written beside the origin (``"CRT-2 · 8/12 min"``); needs ``origin``.
        """
        self.clear_isochrones()
        projected = [_Isochrone(shapely.transform(geometry, self._project), float(minutes))
                     for geometry, minutes in areas]
        # Longest drive first, so the shorter (more urgent) area is painted on top of it.
        for rank, area in enumerate(sorted(projected, key=lambda a: -a.minutes)):
            item = QtWidgets.QGraphicsPathItem(_painter_path(area.geometry))
            item.setZValue(_Z_ISOCHRONE + rank * 0.01)
            item.setData(0, area.minutes)
            self.isochrone_items.append(item)
            self._view.addItem(item, ignoreBounds=True)
        if origin is not None:
            x, y = self.to_xy(origin.lat, origin.lon)
            self._origin_item = pg.ScatterPlotItem([x], [y], symbol="o", size=9)
            self._origin_item.setZValue(_Z_ORIGIN)
            self._view.addItem(self._origin_item)
            if label:
                self.isochrone_label_item = pg.TextItem(label, anchor=(0.5, 1.25))
                self.isochrone_label_item.setFont(_label_font(bold=True))
                self.isochrone_label_item.setPos(x, y)
                self.isochrone_label_item.setZValue(_Z_LABELS)
                self._view.addItem(self.isochrone_label_item, ignoreBounds=True)
        self._style_isochrones()

    def clear_isochrones(self) -> None:
        """Remove the drive-time areas and their origin marker."""
        for item in self.isochrone_items:
            self._view.removeItem(item)
        self.isochrone_items = []
        if self._origin_item is not None:
            self._view.removeItem(self._origin_item)
            self._origin_item = None
        if self.isochrone_label_item is not None:
            self._view.removeItem(self.isochrone_label_item)
            self.isochrone_label_item = None

    # -- beats coloured by a figure ------------------------------------------------------

    def set_choropleth(self, values: Mapping[str, float], *, title: str,
                       fmt: Callable[[float], str] = "{:g}".format) -> None:
        """Fill every beat with the colour of its class of ``values`` (replacing any shown).

        Beats are put in up to :data:`CHOROPLETH_CLASSES` classes of equal counts (quantiles):
        a few busy beats must not wash every other beat out to one colour. One filled path per
        class, under the roads, so the streets and the beat outlines stay readable; beats
        without a value stay unfilled. The legend shows the scale.

        Parameters
        ----------
        values
            ``zone_id -> value``; zones the map does not have are ignored.
        title
            What the values are (the legend's title).
        fmt
            Writes a value for the legend.
        """
        self.clear_choropleth(update_legend=False)
        shown = {z: float(values[z]) for z, _ in self._beat_shapes
                 if z in values and math.isfinite(float(values[z]))}
        edges = choropleth_edges(list(shown.values()))
        colours = choropleth_ramp(max(len(edges) - 1, 1))
        self._choropleth_classes = {z: choropleth_class(v, edges) for z, v in shown.items()}
        for index, colour in enumerate(colours):
            parts = [g for z, g in self._beat_shapes if self._choropleth_classes.get(z) == index]
            if not parts:
                continue
            item = QtWidgets.QGraphicsPathItem(_painter_path(shapely.union_all(parts)))
            item.setBrush(pg.mkBrush(colour))
            item.setPen(pg.mkPen(None))
            item.setZValue(_Z_CHOROPLETH)
            item.setData(0, index)
            item.setData(1, colour)
            item.setVisible(self._visible["zones"])
            self.choropleth_items.append(item)
            self._view.addItem(item, ignoreBounds=True)
        labels = tuple(f"{fmt(lo)}–{fmt(hi)}" for lo, hi in itertools.pairwise(edges)) \
            or tuple(fmt(v) for v in edges)
        self.legend.set_scale(ColourScale(title, tuple(colours), labels) if shown else
                              ColourScale(f"{title}: no figures", (), ()))
        self.live.label_item.keep_out_changed()

    def clear_choropleth(self, *, update_legend: bool = True) -> None:
        """Remove the beat colours (the beat outlines stay as they are)."""
        for item in self.choropleth_items:
            self._view.removeItem(item)
        self.choropleth_items = []
        self._choropleth_classes = {}
        if update_legend and self.legend.scale is not None:
            self.legend.set_scale(None)
            self.live.label_item.keep_out_changed()

    def choropleth_colour(self, zone_id: str) -> str | None:
        """Return the fill colour of beat ``zone_id`` (``#rrggbbaa``), or ``None`` if unfilled."""
        index = self._choropleth_classes.get(zone_id)
        if index is None:
            return None
        return next((str(item.data(1)) for item in self.choropleth_items
                     if item.data(0) == index), None)

    # -- coverage cells and planned posts ------------------------------------------------

    def set_coverage_cells(self, lon: npt.ArrayLike, lat: npt.ArrayLike,
                           radius_m: float) -> None:
        """Take the demand cells once: hexagons of ``radius_m`` around the given centres.

        Pointy-top, like :class:`heartops.analysis.demand_grid.HexGrid`; the centres are
        projected with the map's own transformer, so the cells sit where the grid has them.
        """
        self._require_network("set_coverage_cells")
        x, y = self.project_arrays(lon, lat)
        angles = np.radians(30.0 + 60.0 * np.arange(6))
        xs = x[:, None] + radius_m * np.cos(angles)[None, :]
        ys = y[:, None] + radius_m * np.sin(angles)[None, :]
        self._cell_rings = [QtGui.QPolygonF([QtCore.QPointF(px, py)
                                             for px, py in zip(rx, ry, strict=True)])
                            for rx, ry in zip(xs, ys, strict=True)]
        self.clear_coverage()

    @property
    def coverage_cell_count(self) -> int:
        """How many demand cells the map knows (0 before :meth:`set_coverage_cells`)."""
        return len(self._cell_rings)

    def show_coverage(self, covered: npt.ArrayLike, demand: npt.ArrayLike,
                      minutes: float) -> bool:
        """Fill the cells with demand: covered ones green, the others red (two items).

        Redrawn only when the covered or demand cells differ from those shown, so calling
        it with every coverage reading costs nothing while nothing moved.

        Returns
        -------
        bool
            Whether the layer was redrawn.
        """
        mask = np.asarray(covered, dtype=bool)
        wanted = np.asarray(demand, dtype=float) > 0
        if mask.size != len(self._cell_rings) or wanted.size != mask.size:
            raise ValueError(f"coverage of {mask.size} cells for a map of "
                             f"{len(self._cell_rings)} cells")
        key = np.packbits(mask & wanted).tobytes() + np.packbits(wanted).tobytes() + \
            str(minutes).encode()
        if key == self._coverage_key and self.coverage_items:
            return False
        self.clear_coverage(update_legend=False)
        self._coverage_key = key
        self.coverage_minutes = float(minutes)
        for name, cells, colour in (("covered", mask & wanted, COVERED_FILL),
                                    ("uncovered", ~mask & wanted, UNCOVERED_FILL)):
            path = QtGui.QPainterPath()
            for index in np.flatnonzero(cells):
                path.addPolygon(self._cell_rings[index])
                path.closeSubpath()
            item = QtWidgets.QGraphicsPathItem(path)
            item.setBrush(pg.mkBrush(colour))
            item.setPen(pg.mkPen(None))
            item.setZValue(_Z_COVERAGE)
            item.setData(0, int(cells.sum()))
            self.coverage_items[name] = item
            self._view.addItem(item, ignoreBounds=True)
        self._fill_legend()
        return True

    def clear_coverage(self, *, update_legend: bool = True) -> None:
        """Remove the coverage cells."""
        for item in self.coverage_items.values():
            self._view.removeItem(item)
        had = bool(self.coverage_items)
        self.coverage_items = {}
        self._coverage_key = None
        if update_legend and had:
            self.coverage_minutes = None
            self._fill_legend()

    def show_planned_posts(self, exact: Sequence[tuple[float, float, str]],
                           greedy: Sequence[tuple[float, float, str]] = ()) -> None:
        """Mark the posts a plan chose: ``(lat, lon, label)`` each, one item per method."""
        self.clear_planned_posts(update_legend=False)
        for name, points, symbol, size in (("exact", exact, "star", 20),
                                           ("greedy", greedy, "d", 12)):
            if not points:
                continue
            xy = np.array([self.to_xy(lat, lon) for lat, lon, _ in points])
            item = pg.ScatterPlotItem(xy[:, 0], xy[:, 1], symbol=symbol, size=size,
                                      data=[label for _, _, label in points])
            item.setZValue(_Z_PLAN + (0.5 if name == "exact" else 0.0))
            item.setToolTip(f"Planned posts ({name})")
            self.plan_items[name] = item
            self._view.addItem(item, ignoreBounds=True)
        self._style_plan()
        self._fill_legend()

    def clear_planned_posts(self, *, update_legend: bool = True) -> None:
        """Remove the planned posts."""
        for item in self.plan_items.values():
            self._view.removeItem(item)
        had = bool(self.plan_items)
        self.plan_items = {}
        if update_legend and had:
            self._fill_legend()

    def _style_plan(self) -> None:
        background = self._palette.background
        for name, item in self.plan_items.items():
            colour = PLAN_EXACT_COLOUR if name == "exact" else PLAN_GREEDY_COLOUR
            if name == "exact":
                item.setBrush(pg.mkBrush(colour))
                item.setPen(pg.mkPen(background, width=1.2))
            else:  # hollow: an exact star on the same site stays visible inside it
                item.setBrush(pg.mkBrush(None))
                item.setPen(pg.mkPen(colour, width=2))

    def _coverage_legend_entries(self) -> list[LegendEntry]:
        entries = []
        if self.coverage_items and self.coverage_minutes is not None:
            minutes = f"{self.coverage_minutes:g}"
            entries.append(LegendEntry(
                f"Demand covered ≤ {minutes} min", (LegendSwatch(
                    "area", pg.mkPen(None), pg.mkBrush(COVERED_FILL)),), "Map"))
            entries.append(LegendEntry(
                f"Demand not covered ≤ {minutes} min", (LegendSwatch(
                    "area", pg.mkPen(None), pg.mkBrush(UNCOVERED_FILL)),), "Map"))
        if "exact" in self.plan_items:
            entries.append(LegendEntry("Planned post (exact)", (LegendSwatch(
                "marker", pg.mkPen(self._palette.background), pg.mkBrush(PLAN_EXACT_COLOUR),
                "star"),), "Map"))
        if "greedy" in self.plan_items:
            entries.append(LegendEntry("Planned post (greedy)", (LegendSwatch(
                "marker", pg.mkPen(PLAN_GREEDY_COLOUR, width=2), pg.mkBrush(None), "d"),),
                "Map"))
        return entries

    # -- live layers: units, calls, selection, route -----------------------------------------

    def set_units(self, units: Sequence[UnitMarker]) -> None:
        """Show ``units`` (one AVL batch): markers with the same ids move in place.

        Draws every unit in one scatter (status shape and colour from the code tables), a
        heading tick per moving unit, labels, hollow markers for stale units and a blinking
        ring around flashing (emergency) ones. One ``setData`` per item per call.

        Parameters
        ----------
        units
            Every unit to show; units not in the list disappear.

        Raises
        ------
        RuntimeError
            Before :meth:`set_network` (positions need the map's projection).
        ValueError
            When two markers share an id.
        """
        self._require_network("set_units")
        self.live.set_units(units)

    def set_calls(self, calls: Sequence[CallMarker]) -> None:
        """Show open ``calls``: a badge per priority, ringed while unassigned, labelled with age.

        Raises
        ------
        RuntimeError
            Before :meth:`set_network`.
        ValueError
            When two markers share an id.
        """
        self._require_network("set_calls")
        self.live.set_calls(calls)

    def select_unit(self, unit_id: str | None) -> None:
        """Highlight unit ``unit_id`` (a halo and its label); ``None`` clears. Emits nothing."""
        self.live.select("unit" if unit_id is not None else None, unit_id)

    def select_call(self, call_id: str | None) -> None:
        """Highlight call ``call_id`` (a halo and its label); ``None`` clears. Emits nothing."""
        self.live.select("call" if call_id is not None else None, call_id)

    def clear_selection(self) -> None:
        """Remove the highlight."""
        self.live.select(None, None)

    @property
    def selection(self) -> tuple[str, str] | None:
        """``("unit" | "call", id)`` of the highlighted marker, or ``None``."""
        return self.live.selection

    def zoom_to_selection(self, radius_m: float = _SELECTION_RADIUS_M) -> bool:
        """Centre the map on the selected marker, zooming in to ``radius_m`` if further out.

        Returns
        -------
        bool
            False when nothing selected is on the map (the view is left alone).
        """
        where = self.live.selected_xy()
        if where is None:
            return False
        (x0, x1), (y0, y1) = self.view_range()
        shown = min(x1 - x0, y1 - y0) / 2
        self.zoom_to(where[0], where[1], min(radius_m, shown) if shown > 0 else radius_m)
        return True

    def show_route(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> None:
        """Draw the recommended route (WGS 84 vertices, in order) over the roads.

        Raises
        ------
        ValueError
            When ``lon`` and ``lat`` differ in length.
        """
        self._require_network("show_route")
        lon_arr, lat_arr = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        if lon_arr.shape != lat_arr.shape:
            raise ValueError("route lon and lat must have the same length")
        had_route = self.live.has_route
        self.live.show_route(lon_arr, lat_arr)
        if not had_route:
            self._fill_legend()

    def clear_route(self) -> None:
        """Remove the recommended route."""
        if self.live.has_route:
            self.live.clear_route()
            self._fill_legend()

    @property
    def flash_timer(self) -> QtCore.QTimer:
        """The blink timer of emergency units (active only while one is shown and visible)."""
        return self.live.flash_timer

    def _require_network(self, what: str) -> None:
        if self._to_xy is None:
            raise RuntimeError(f"set_network must come before {what}")

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt's name
        """Resume blinking emergency units."""
        super().showEvent(event)
        self.live.set_paused(False)

    def hideEvent(self, event: QtGui.QHideEvent) -> None:  # noqa: N802 - Qt's name
        """Stop the blink timer: nothing ticks for a hidden or closed map."""
        self.live.set_paused(True)
        super().hideEvent(event)

    # -- view -------------------------------------------------------------------------------

    @property
    def city_bounds(self) -> tuple[float, float, float, float] | None:
        """``(min_x, min_y, max_x, max_y)`` of the road nodes in map metres."""
        return self._city_bounds

    def zoom_to_city(self) -> None:
        """Show every road of the city, centred between the legend and the scale bar.

        The legend's one-line key sits along the top and the scale bar along the bottom, so a
        band as tall as the taller of them is kept free above and below the city (when the
        map is tall enough), and neither covers its edge. The map refits itself on resize
        until the user pans or zooms.
        """
        if self._city_bounds is None:
            return
        x0, y0, x1, y1 = self._city_bounds
        width_px, height_px = self._view.width(), self._view.height()
        if width_px < 10 or height_px < 10:  # not laid out yet; refit on the first resize
            self._view.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=_CITY_PADDING)
            self._fitted = True
            return
        # The collapsed key's height, whatever the legend shows now: the fit must not jump
        # when the dispatcher opens the legend.
        overlay_px = max(_COLLAPSED_LEGEND_PX, self._scale_bar.boundingRect().height())
        band = min(overlay_px + 2 * _OVERLAY_OFFSET_PX, height_px / 4)
        plain = max((x1 - x0) / width_px, (y1 - y0) / height_px)
        clear = max((x1 - x0) / width_px, (y1 - y0) / (height_px - 2 * band))
        # Keeping the overlays clear may shrink the city a little, not much: past that, a
        # covered corner is better than a small city.
        metres_per_px = min(clear, plain * _MAX_SHRINK_FOR_OVERLAYS) * (1 + 2 * _CITY_PADDING)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half_w, half_h = width_px * metres_per_px / 2, height_px * metres_per_px / 2
        self._view.setRange(xRange=(cx - half_w, cx + half_w),
                            yRange=(cy - half_h, cy + half_h), padding=0.0)
        self._fitted = True

    def zoom_to(self, x: float, y: float, radius_m: float) -> None:
        """Centre the map on ``(x, y)`` (map metres), showing at least ``radius_m`` around it."""
        self._fitted = False
        self._view.setRange(xRange=(x - radius_m, x + radius_m),
                            yRange=(y - radius_m, y + radius_m), padding=0.0)

    def zoom_by(self, factor: float) -> None:
        """Zoom about the centre: ``factor`` < 1 zooms in, > 1 zooms out."""
        self._fitted = False
        self._view.scaleBy((factor, factor))

    def view_range(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Return the shown ``((x0, x1), (y0, y1))`` in map metres."""
        (x0, x1), (y0, y1) = self._view.viewRange()
        return (float(x0), float(x1)), (float(y0), float(y1))

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 - Qt's name
        """Zoom with ``+``/``-``, show the whole city with ``Home``."""
        key = QtCore.Qt.Key
        if event.key() in (key.Key_Plus, key.Key_Equal):
            self.zoom_by(1.0 / _ZOOM_STEP)
        elif event.key() in (key.Key_Minus, key.Key_Underscore):
            self.zoom_by(_ZOOM_STEP)
        elif event.key() == key.Key_Home:
            self.zoom_to_city()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # -- style ------------------------------------------------------------------------------

    @property
    def palette_colors(self) -> MapPalette:
        """The map colours in use."""
        return self._palette

    def set_palette(self, palette: MapPalette) -> None:
        """Recolour every layer (theme switch)."""
        self._palette = palette
        self._restyle()

    def _restyle(self) -> None:
        pal = self._palette
        self.setBackground(pal.background)
        for road_class, item in self.road_items.items():
            style = pal.roads[road_class]
            item.setPen(pg.mkPen(style.color, width=style.width))
        if self.beat_item is not None:
            self.beat_item.setPen(pg.mkPen(pal.beat_outline, width=1))
        if self.district_item is not None:
            self.district_item.setPen(pg.mkPen(pal.district_outline, width=2))
        for label in self.zone_label_items:
            label.setColor(pal.beat_label)
            label.fill = pg.mkBrush(pal.label_background)
        if self.post_item is not None:
            self.post_item.setPen(pg.mkPen(pal.post_outline, width=1.5))
            self.post_item.setBrush(pg.mkBrush(pal.post_fill))
        for label in self.post_label_items:
            label.setColor(pal.post_label)
            label.fill = pg.mkBrush(pal.label_background)  # readable over dense streets
        self._style_isochrones()
        self._style_plan()
        self.live.set_palette(pal)
        self._style_overlays()

    def _style_isochrones(self) -> None:
        pal = self._palette
        for item in self.isochrone_items:
            key = _nearest_key(pal.isochrone_fill, float(item.data(0)))
            item.setBrush(pg.mkBrush(pal.isochrone_fill[key]))
            item.setPen(pg.mkPen(pal.isochrone_outline[key], width=1))
        if self._origin_item is not None:
            self._origin_item.setBrush(pg.mkBrush(pal.origin))
            self._origin_item.setPen(pg.mkPen(pal.background, width=1.5))
        if self.isochrone_label_item is not None:
            self.isochrone_label_item.setColor(pal.origin)
            self.isochrone_label_item.fill = pg.mkBrush(pal.label_background)

    def _style_overlays(self) -> None:
        pal = self._palette
        self._fill_legend()
        self._scale_bar.bar.setBrush(pg.mkBrush(pal.scale_bar))
        self._scale_bar.bar.setPen(pg.mkPen(None))
        self._scale_bar.text.setColor(pal.scale_bar)
        self._scale_bar.text.fill = pg.mkBrush(pal.legend_background)  # readable over roads

    def _fill_legend(self) -> None:
        # Entries are rebuilt so that their colours follow the theme.
        pal = self._palette
        self.legend.set_colours(text=pal.legend_text,
                                background=_translucent(pal.legend_background),
                                border=pal.legend_border)
        self.legend.set_entries(self._static_legend_entries() + self._coverage_legend_entries()
                                + self.live.legend_entries())
        self.live.label_item.keep_out_changed()

    def _static_legend_entries(self) -> list[LegendEntry]:
        pal = self._palette
        entries = [LegendEntry(ROAD_LABELS[road_class],
                               (LegendSwatch("line", pg.mkPen(pal.roads[road_class].color,
                                                              width=pal.roads[road_class].width)),),
                               "Map")
                   for road_class, item in self.road_items.items()
                   if item.xData is not None and item.xData.size]
        if self.beat_item is not None:
            entries.append(LegendEntry("Beat", (LegendSwatch("line", pg.mkPen(pal.beat_outline)),),
                                       "Map"))
        if self.district_item is not None:
            entries.append(LegendEntry(
                "District", (LegendSwatch("line", pg.mkPen(pal.district_outline, width=2)),),
                "Map"))
        if self.post_item is not None:
            entries.append(LegendEntry("Staging post", (LegendSwatch(
                "marker", pg.mkPen(pal.post_outline, width=1.5), pg.mkBrush(pal.post_fill),
                "s"),), "Map"))
        areas = tuple(LegendSwatch("area", pg.mkPen(pal.isochrone_outline[m]),
                                   pg.mkBrush(pal.isochrone_fill[m]))
                      for m in sorted(pal.isochrone_fill))
        minutes = " / ".join(f"{m}" for m in sorted(pal.isochrone_fill))
        entries.append(LegendEntry(f"{minutes}-min drive", areas, "Map"))
        return entries

    def _on_legend_toggled(self, _expanded: bool) -> None:
        self.live.label_item.keep_out_changed()

    # -- mouse ------------------------------------------------------------------------------

    def _on_scene_click(self, event: Any) -> None:
        # Clicks already taken by an item (a post, the legend) are not map clicks.
        if (event.isAccepted() or event.button() != QtCore.Qt.MouseButton.LeftButton
                or event.double() or self._to_lonlat is None):
            return
        scene_pos = event.scenePos()
        if not self._view.sceneBoundingRect().contains(scene_pos):
            return
        point = self._view.mapSceneToView(scene_pos)
        lat, lon = self.to_lonlat(point.x(), point.y())
        self.map_clicked.emit(lat, lon)

    def _on_post_click(self, _item: Any, points: Any, _event: Any = None) -> None:
        if len(points):
            self.post_clicked.emit(int(points[0].data()))


def _label_font(*, bold: bool) -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPointSize(_LABEL_FONT_PT)
    font.setBold(bold)
    return font


def choropleth_edges(values: Sequence[float], classes: int | None = None) -> list[float]:
    """Return class edges of ``values``: quantiles, so each class holds about as many beats.

    Repeated edges (many equal values) are merged, so there may be fewer classes than asked.

    Parameters
    ----------
    values
        The figures of the beats.
    classes
        How many classes at most (default :data:`CHOROPLETH_CLASSES`).

    Returns
    -------
    list of float
        Increasing edges, first the minimum and last the maximum; empty for no values, one
        edge when every value is the same.
    """
    if not values:
        return []
    count = classes or CHOROPLETH_CLASSES
    quantiles = np.quantile(np.asarray(values, dtype=float), np.linspace(0.0, 1.0, count + 1))
    return [float(q) for q in np.unique(quantiles)]


def choropleth_ramp(classes: int) -> tuple[str, ...]:
    """Return ``classes`` colours spread over :data:`CHOROPLETH_COLOURS`, low to high."""
    last = len(CHOROPLETH_COLOURS) - 1
    picks = np.linspace(0, last, classes).round().astype(int) if classes > 1 else [last]
    return tuple(CHOROPLETH_COLOURS[int(i)] for i in picks)


def choropleth_class(value: float, edges: Sequence[float]) -> int:
    """Return the class (0 = lowest) of ``value`` between ``edges`` (the top edge included)."""
    if len(edges) < 2:
        return 0
    index = int(np.searchsorted(np.asarray(edges), value, side="right")) - 1
    return min(max(index, 0), len(edges) - 2)


def _translucent(colour: str, alpha: int = _LEGEND_ALPHA) -> QtGui.QColor:
    """Return ``colour`` (``#rrggbb`` or ``#rrggbbaa``) with ``alpha``: the map shows through."""
    qcolour = QtGui.QColor(pg.mkColor(colour))
    qcolour.setAlpha(alpha)
    return qcolour


def _nearest_key(table: dict[int, str], minutes: float) -> int:
    return min(table, key=lambda key: abs(key - minutes))


def _painter_path(geometry: Any) -> QtGui.QPainterPath:
    """Build a fillable path of (multi)polygons; odd-even fill keeps holes empty."""
    path = QtGui.QPainterPath()
    path.setFillRule(QtCore.Qt.FillRule.OddEvenFill)
    for ring in shapely.get_rings(shapely.get_parts(geometry)):
        coords = shapely.get_coordinates(ring)
        path.addPolygon(QtGui.QPolygonF([QtCore.QPointF(x, y) for x, y in coords]))
        path.closeSubpath()
    return path
