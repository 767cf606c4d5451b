"""The main window on real Durham data: roads, zones, posts, drive-time areas, themes, layout.

The network is built in memory once per module from the downtown Durham GraphML (about a
second); zones are imported into each test's own data dir, as a user would import them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from gui_helpers import close_windows
from PySide6 import QtCore
from PySide6.QtTest import QTest

from heartops.core.geo import GeoPoint
from heartops.qt.main_window import MainWindow
from heartops.qt.map_view import short_post_name
from heartops.qt.theme import DARK_MAP, LIGHT_MAP, Theme
from heartops.routing.build import add_travel_times, compile_network, load_graph
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import RoadNetwork
from heartops.routing.posts import Post
from heartops.routing.roads import RoadClass, SpeedRule
from heartops.routing.zones import import_zones, load_zone_layer
from tests.conftest import require_shared

pytestmark = pytest.mark.shared_data

# Two posts on downtown streets, one at the edge of the extract.
POSTS = [
    Post("P1", "Brightleaf", GeoPoint(36.0005, -78.9060)),
    Post("P2", "East Campus", GeoPoint(36.0078, -78.9150)),
    Post("P3", "Golden Belt", GeoPoint(35.9975, -78.8960)),
]
FAR_AWAY = GeoPoint(35.90, -78.80)  # about 15 km from the downtown extract
DOWNTOWN = GeoPoint(36.0030, -78.9030)

# The offscreen platform says this whenever a window is shown; it is about the platform
# plugin, not about heartops, so it is the one warning tolerated.


@pytest.fixture(scope="module")
def durham_network() -> RoadNetwork:
    graphml = require_shared("durham/osm/durham_downtown_drive.graphml")
    graph, meta = load_graph(str(graphml))
    add_travel_times(graph, SpeedRule.US_DEFAULT)
    return compile_network(graph, name="durham", meta=dict(meta, timezone="America/New_York"))


@pytest.fixture(scope="module")
def durham_engine(durham_network: RoadNetwork) -> TravelTimeEngine:
    return TravelTimeEngine(durham_network)


@pytest.fixture
def beats() -> Any:
    source = require_shared("durham/zones/police_beats_dissolved_with_pop.geojson")
    import_zones(source, layer="beats", group_field="district")
    return load_zone_layer("beats")


@pytest.fixture
def districts() -> Any:
    source = require_shared("durham/zones/police_districts_dissolved_with_pop.geojson")
    import_zones(source, layer="districts")
    return load_zone_layer("districts")



@pytest.fixture
def make_window(
    clean_qt: None, qtbot: Any, tmp_path: Path, durham_network: RoadNetwork,
    durham_engine: TravelTimeEngine, beats: Any, districts: Any,
) -> Iterator[Callable[..., MainWindow]]:
    """Build main windows; on teardown close and delete them and check nothing leaked."""
    windows: list[MainWindow] = []
    settings_path = tmp_path / "settings.ini"

    def make(**overrides: Any) -> MainWindow:
        options: dict[str, Any] = {
            "network": durham_network, "engine": durham_engine, "beats": beats,
            "districts": districts, "posts": POSTS, "city_name": "Durham",
            "settings": QtCore.QSettings(str(settings_path), QtCore.QSettings.Format.IniFormat),
        }
        options.update(overrides)
        window = MainWindow(**options)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make

    close_windows(windows)
    pool = QtCore.QThreadPool.globalInstance()
    assert pool.waitForDone(5000)
    assert pool.activeThreadCount() == 0



def _expected_segments(network: RoadNetwork) -> Counter[int]:
    """Segments per road class, counted the slow obvious way: each street once."""
    tails, heads = network.edge_tail.tolist(), network.fwd_indices.tolist()
    seen: set[tuple[int, int]] = set()
    counts: Counter[int] = Counter()
    for edge, (tail, head) in enumerate(zip(tails, heads, strict=True)):
        street = (min(tail, head), max(tail, head))
        if street in seen:
            continue
        seen.add(street)
        vertices = int(network.geom_offsets[edge + 1] - network.geom_offsets[edge])
        counts[int(network.fwd_class[edge])] += vertices - 1
    return counts


def _wait_for_areas(qtbot: Any, window: MainWindow, label_start: str) -> None:
    def shown() -> bool:
        result = window.last_result
        return (result is not None and result.request.label.startswith(label_start)
                and len(window.map_view.isochrone_items) == 2)

    qtbot.waitUntil(shown, timeout=10_000)


def test_roads_are_one_item_per_class_with_every_segment(
    make_window: Callable[..., MainWindow], durham_network: RoadNetwork,
) -> None:
    window = make_window()
    items = window.map_view.road_items
    expected = _expected_segments(durham_network)

    assert set(items) == set(RoadClass)
    for road_class, item in items.items():
        assert item.opts["connect"] == "pairs"
        assert item.xData.size == item.yData.size == 2 * expected[int(road_class)], road_class
    assert sum(expected.values()) > 2000  # the downtown extract: a real amount of road
    x0, y0, x1, y1 = window.map_view.city_bounds or (0, 0, 0, 0)
    local = items[RoadClass.LOCAL]
    assert x0 - 1 <= local.xData.min() and local.xData.max() <= x1 + 1
    assert y0 - 1 <= local.yData.min() and local.yData.max() <= y1 + 1


def test_zones_are_outlined_and_every_beat_is_labelled_inside_itself(
    make_window: Callable[..., MainWindow], beats: Any,
) -> None:
    window = make_window()
    view = window.map_view
    labels = {label.textItem.toPlainText(): label for label in view.zone_label_items}

    assert set(labels) == set(beats["zone_id"])
    assert view.beat_item is not None and view.beat_item.xData.size > 100
    assert view.district_item is not None and view.district_item.xData.size > 100
    for zone_id, geometry in zip(beats["zone_id"], beats.geometry, strict=True):
        pos = labels[zone_id].pos()
        lat, lon = view.to_lonlat(pos.x(), pos.y())
        assert geometry.contains(shapely.Point(lon, lat)), zone_id


def test_posts_are_listed_and_drawn(make_window: Callable[..., MainWindow]) -> None:
    window = make_window()

    assert window.post_list.count() == len(POSTS)
    assert window.post_list.item(1).text() == "P2  East Campus"
    assert window.map_view.post_item is not None
    assert len(window.map_view.post_item.points()) == len(POSTS)
    assert [t.textItem.toPlainText() for t in window.map_view.post_label_items] == [
        p.name for p in POSTS]


def test_selecting_a_post_shows_its_8_and_12_minute_areas(
    qtbot: Any, make_window: Callable[..., MainWindow],
) -> None:
    window = make_window()
    assert window.map_view.isochrone_items == []

    window.post_list.setCurrentRow(1)
    _wait_for_areas(qtbot, window, "post P2")

    result = window.last_result
    assert result is not None
    areas = {minutes: geometry for geometry, minutes in result.areas}
    assert set(areas) == {8.0, 12.0}
    post = shapely.Point(POSTS[1].location.lon, POSTS[1].location.lat)
    assert areas[8.0].buffer(0.001).contains(post)
    assert areas[12.0].area >= areas[8.0].area > 0
    drawn = sorted(float(item.data(0)) for item in window.map_view.isochrone_items)
    assert drawn == [8.0, 12.0]
    assert "post P2 (East Campus)" in window.status_text()


class _GatedEngine:
    """The real engine, except that drive-time areas wait for a gate and snaps are logged."""

    def __init__(self, engine: TravelTimeEngine) -> None:
        self._engine = engine
        self.network = engine.network
        self.gate = threading.Event()
        self.snapped: list[str] = []

    def snap(self, point: GeoPoint, *, what: str = "point") -> Any:
        self.snapped.append(what)
        return self._engine.snap(point, what=what)

    def isochrone(self, point: GeoPoint, minutes: float) -> Any:
        assert self.gate.wait(10), "the test never opened the gate"
        return self._engine.isochrone(point, minutes)


def test_newer_requests_win_and_stale_ones_are_dropped_or_skipped(
    qtbot: Any, make_window: Callable[..., MainWindow], durham_engine: TravelTimeEngine,
) -> None:
    engine = _GatedEngine(durham_engine)
    window = make_window(engine=engine)
    shown: list[str] = []
    window.isochrones_shown.connect(lambda result: shown.append(result.request.label))

    window.select_post(0)
    qtbot.waitUntil(lambda: engine.snapped == ["post P1 (Brightleaf)"])  # P1 is being routed
    window.select_post(1)  # queued behind P1, stale before its turn
    window.select_post(2)
    engine.gate.set()
    _wait_for_areas(qtbot, window, "post P3")
    window.shutdown_worker()  # waits for anything still running
    qtbot.wait(50)  # and lets any late queued result arrive

    assert shown == ["post P3 (Golden Belt)"]  # P1's answer came, and was dropped
    assert engine.snapped == ["post P1 (Brightleaf)", "post P3 (Golden Belt)"]  # P2 never routed
    assert window.post_list.currentRow() == 2


def test_clicking_the_map_shows_areas_from_the_clicked_point(
    qtbot: Any, make_window: Callable[..., MainWindow],
) -> None:
    window = make_window()
    view = window.map_view
    x, y = view.to_xy(DOWNTOWN.lat, DOWNTOWN.lon)
    scene = view.view_box.mapViewToScene(QtCore.QPointF(x, y))
    widget_pos = view.mapFromScene(scene)

    with qtbot.waitSignal(view.map_clicked, timeout=5000) as clicked:
        QTest.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                         QtCore.Qt.KeyboardModifier.NoModifier, widget_pos)
    lat, lon = clicked.args
    assert abs(lat - DOWNTOWN.lat) < 1e-4 and abs(lon - DOWNTOWN.lon) < 1e-4  # ~10 m

    _wait_for_areas(qtbot, window, "the clicked point")
    message = window.status_text()
    assert message.startswith("8/12 min drive from the clicked point: road at ")


def test_clicking_a_post_marker_selects_the_post_not_a_map_point(
    qtbot: Any, make_window: Callable[..., MainWindow],
) -> None:
    window = make_window()
    view = window.map_view
    map_clicks: list[tuple[float, float]] = []
    view.map_clicked.connect(lambda lat, lon: map_clicks.append((lat, lon)))
    x, y = view.to_xy(POSTS[1].location.lat, POSTS[1].location.lon)
    widget_pos = view.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(x, y)))

    QTest.mouseMove(view.viewport(), widget_pos)  # pyqtgraph picks click targets on hover
    QTest.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     QtCore.Qt.KeyboardModifier.NoModifier, widget_pos)

    qtbot.waitUntil(lambda: window.post_list.currentRow() == 1)
    _wait_for_areas(qtbot, window, "post P2")
    assert map_clicks == []


def test_clicking_far_from_roads_reports_the_snap_error(
    qtbot: Any, make_window: Callable[..., MainWindow],
) -> None:
    window = make_window()
    window.post_list.setCurrentRow(0)
    _wait_for_areas(qtbot, window, "post P1")

    window.map_view.map_clicked.emit(FAR_AWAY.lat, FAR_AWAY.lon)
    qtbot.waitUntil(lambda: "from the nearest road" in window.status_text(),
                    timeout=10_000)

    assert window.map_view.isochrone_items == []
    assert window.last_result is None
    assert "clicked point" in window.status_text()


def test_theme_switch_changes_the_stylesheet_and_the_map(
    make_window: Callable[..., MainWindow],
) -> None:
    window = make_window()
    dark_sheet = window.styleSheet()
    assert window.theme_actions[Theme.DARK].isChecked() and "#10151c" in dark_sheet
    assert window.map_view.backgroundBrush().color().name() == DARK_MAP.background

    window.theme_actions[Theme.LIGHT].trigger()

    assert window.theme == Theme.LIGHT
    assert window.styleSheet() != dark_sheet and "#eef1f4" in window.styleSheet()
    assert window.map_view.backgroundBrush().color().name() == LIGHT_MAP.background
    local_pen = window.map_view.road_items[RoadClass.LOCAL].opts["pen"]
    assert local_pen.color().name() == LIGHT_MAP.roads[RoadClass.LOCAL].color
    assert window.theme_actions[Theme.LIGHT].isChecked()
    assert not window.theme_actions[Theme.DARK].isChecked()


def test_zoom_to_city_contains_the_whole_network(
    qtbot: Any, make_window: Callable[..., MainWindow],
) -> None:
    window = make_window()
    view = window.map_view
    x0, y0, x1, y1 = view.city_bounds or (0, 0, 0, 0)
    view.zoom_to((x0 + x1) / 2, (y0 + y1) / 2, 200.0)
    (vx0, vx1), _ = view.view_range()
    assert vx1 - vx0 < x1 - x0

    view.zoom_to_city()

    (vx0, vx1), (vy0, vy1) = view.view_range()
    assert vx0 <= x0 and vx1 >= x1 and vy0 <= y0 and vy1 >= y1
    # ...and not much more than it: the city fills the map (legend margin aside).
    assert min((vx1 - vx0) / (x1 - x0), (vy1 - vy0) / (y1 - y0)) < 1.25


def test_keyboard_zooms_and_home_returns_to_the_city(
    qtbot: Any, make_window: Callable[..., MainWindow],
) -> None:
    window = make_window()
    view = window.map_view
    view.setFocus()
    (start0, start1), _ = view.view_range()

    qtbot.keyClick(view, QtCore.Qt.Key.Key_Plus)
    (in0, in1), _ = view.view_range()
    assert in1 - in0 < 0.8 * (start1 - start0)

    qtbot.keyClick(view, QtCore.Qt.Key.Key_Home)
    (home0, home1), _ = view.view_range()
    assert home1 - home0 == pytest.approx(start1 - start0, rel=1e-6)


def test_layer_actions_hide_and_show_layers(make_window: Callable[..., MainWindow]) -> None:
    window = make_window()
    view = window.map_view

    window.layer_actions["roads"].setChecked(False)
    window.layer_actions["zones"].setChecked(False)

    assert not any(item.isVisible() for item in view.road_items.values())
    assert not any(label.isVisible() for label in view.zone_label_items)
    assert view.post_item is not None and view.post_item.isVisible()
    window.layer_actions["roads"].setChecked(True)
    assert all(item.isVisible() for item in view.road_items.values())


def test_status_bar_shows_city_counts_and_clock(
    make_window: Callable[..., MainWindow], durham_network: RoadNetwork,
) -> None:
    window = make_window(clock=lambda: dt.datetime(2024, 1, 24, 13, 5, 9))

    assert window.city_label.text() == "Durham"
    assert window.synthetic_label.isHidden()
    assert window.counts_label.text() == (
        f"{durham_network.node_count:,} nodes · {durham_network.edge_count:,} edges")
    assert "13:05:09" in window.clock_label.text()


def test_a_synthetic_network_is_labelled_as_such(
    make_window: Callable[..., MainWindow], durham_network: RoadNetwork,
) -> None:
    synthetic = dataclasses.replace(durham_network,
                                    meta=dict(durham_network.meta, synthetic=True))
    window = make_window(network=synthetic)

    assert window.synthetic_label.isVisible()
    assert window.synthetic_label.text() == "SYNTHETIC DEMO CITY"
    assert "synthetic" in window.windowTitle()


def test_dock_layout_persists_in_the_injected_settings(
    make_window: Callable[..., MainWindow], tmp_path: Path,
) -> None:
    first = make_window()
    first.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, first.posts_dock)
    first.close()
    assert (tmp_path / "settings.ini").is_file()

    second = make_window()

    assert second.dockWidgetArea(second.posts_dock) == QtCore.Qt.DockWidgetArea.RightDockWidgetArea


@pytest.mark.parametrize(("post_id", "name", "short"), [
    ("1", "Post 1 — Downtown Fire Station 1", "Downtown Fire Station 1"),
    ("P2", "post P2: East Campus", "East Campus"),
    ("1", "Post 10 — Riverside", "Post 10 — Riverside"),  # another post's id: kept
    ("3", "Golden Belt", "Golden Belt"),
])
def test_short_post_names_drop_a_repeated_id(post_id: str, name: str, short: str) -> None:
    assert short_post_name(Post(post_id, name, DOWNTOWN)) == short


def test_the_city_stays_fitted_on_resize_until_the_user_zooms(
    qtbot: Any, make_window: Callable[..., MainWindow],
) -> None:
    window = make_window()
    view = window.map_view
    x0, y0, x1, y1 = view.city_bounds or (0, 0, 0, 0)

    window.resize(900, 1000)  # now much taller than wide
    qtbot.waitUntil(lambda: view.width() < 800)
    (vx0, vx1), (vy0, vy1) = view.view_range()
    assert vx0 <= x0 and vx1 >= x1 and vy0 <= y0 and vy1 >= y1

    view.zoom_by(0.5)
    window.resize(1100, 1000)
    qtbot.waitUntil(lambda: view.width() > 800)
    (zx0, zx1), _ = view.view_range()
    assert zx1 - zx0 < 0.8 * (x1 - x0)  # the user's zoom is kept: no refit to the city
