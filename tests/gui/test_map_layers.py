"""Live map layers on real Durham roads: units, calls, selection, route, labels, blinking.

The network is built in memory once per module from the downtown Durham GraphML, as in
``test_main_window.py``; markers sit on its road nodes. Every map is closed at the end of its
test, and the test fails on a leaked window, a blink timer still running or a Qt warning.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import shiboken6
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import QtMsgType
from PySide6.QtTest import QTest

from heartops.core.codes import default_tables
from heartops.qt.main_window import MainWindow
from heartops.qt.map_layers import (
    SHAPE_SYMBOLS,
    CallMarker,
    UnitMarker,
    call_label,
    format_age,
    heading_segments,
    shape_symbol,
)
from heartops.qt.map_view import MapView
from heartops.qt.theme import DARK_MAP, LIGHT_MAP
from heartops.routing.build import add_travel_times, compile_network, load_graph
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import RoadNetwork
from heartops.routing.roads import SpeedRule
from tests.conftest import require_shared

pytestmark = pytest.mark.shared_data

TABLES = default_tables()
STATUSES = list(TABLES.statuses.values())
EMERGENCY = TABLES.emergency_status
# The offscreen platform says these when a window is shown or a tooltip pops up; they are
# about the platform plugin, not about heartops.
BENIGN_WARNINGS = ("This plugin does not support propagateSizeHints()",
                   "This plugin does not support raise()")


@pytest.fixture(scope="module")
def durham_network() -> RoadNetwork:
    graphml = require_shared("durham/osm/durham_downtown_drive.graphml")
    graph, meta = load_graph(str(graphml))
    add_travel_times(graph, SpeedRule.US_DEFAULT)
    return compile_network(graph, name="durham", meta=dict(meta, timezone="America/New_York"))


def _cpp_address(widget: QtWidgets.QWidget) -> int:
    return int(shiboken6.getCppPointer(widget)[0])


def _check_clean_close(app: QtWidgets.QApplication, before: set[int], qtlog: Any,
                       timers: list[QtCore.QTimer]) -> None:
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    gc.collect()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    leaked = [w for w in app.topLevelWidgets() if _cpp_address(w) not in before]
    assert not leaked, f"top-level widgets left after close: {leaked}"
    assert not any(shiboken6.isValid(timer) for timer in timers), "blink timer outlived its map"
    problems = [r.message for r in qtlog.records
                if r.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg,
                              QtMsgType.QtFatalMsg)
                and r.message.strip() not in BENIGN_WARNINGS]
    assert not problems, f"Qt warnings: {problems}"


@pytest.fixture
def make_map(qtbot: Any, qtlog: Any, durham_network: RoadNetwork
             ) -> Iterator[Callable[..., MapView]]:
    """Build shown maps of downtown Durham; on teardown close them and check nothing leaked.

    Each map is the central widget of a bare main window, as in the app (a top-level
    GraphicsView leaves mouse presses unaccepted, which QTest reports as a warning).
    """
    app = QtWidgets.QApplication.instance()
    assert isinstance(app, QtWidgets.QApplication)
    before = {_cpp_address(w) for w in app.topLevelWidgets()}
    windows: list[QtWidgets.QMainWindow] = []
    timers: list[QtCore.QTimer] = []

    def make(**options: Any) -> MapView:
        window = QtWidgets.QMainWindow()
        view = MapView(window, **options)
        window.setCentralWidget(view)
        view.set_network(durham_network)
        window.resize(1000, 700)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        timers.append(view.flash_timer)
        return view

    yield make

    while windows:
        window = windows.pop()
        window.close()
        assert not any(t.isActive() for t in timers if shiboken6.isValid(t)), (
            "closing the window must stop the blink timer")
        window.deleteLater()
        del window
    _check_clean_close(app, before, qtlog, timers)


@pytest.fixture
def nodes(durham_network: RoadNetwork) -> list[tuple[float, float]]:
    """``(lat, lon)`` of 40 road nodes spread over the extract (west to east)."""
    order = np.argsort(durham_network.node_x)
    picks = order[np.linspace(0, order.size - 1, 40).astype(int)]
    return [(float(durham_network.node_lat[i]), float(durham_network.node_lon[i]))
            for i in picks]


def _units(nodes: list[tuple[float, float]], count: int, *, shift: float = 0.0,
           **overrides: Any) -> list[UnitMarker]:
    """One unit per status in table order (cycling), on ``nodes``, moved by ``shift`` degrees."""
    return [UnitMarker(unit_id=f"u{i}", lat=nodes[i][0] + shift, lon=nodes[i][1] + shift,
                       heading_deg=overrides.get("heading", 90.0),
                       status_code=overrides.get("status", STATUSES[i % len(STATUSES)].code),
                       label=f"HEART {i + 1}", stale=overrides.get("stale", False))
            for i in range(count)]


def _calls(nodes: list[tuple[float, float]]) -> list[CallMarker]:
    """Eight calls: every priority, assigned and not, on the eastern half of ``nodes``."""
    return [CallMarker(call_id=f"C{100 + i}", lat=nodes[20 + 2 * i][0],
                       lon=nodes[20 + 2 * i][1], priority="P123"[i % 4],
                       age_s=60.0 * (5 + i), assigned=i >= 4, label="Welfare check")
            for i in range(8)]


def _widget_pos(view: MapView, lat: float, lon: float) -> QtCore.QPoint:
    x, y = view.to_xy(lat, lon)
    pos: QtCore.QPoint = view.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(x, y)))
    return pos


def _click(view: MapView, pos: QtCore.QPoint) -> None:
    QTest.mouseMove(view.viewport(), pos)  # pyqtgraph picks click targets on hover
    QTest.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     QtCore.Qt.KeyboardModifier.NoModifier, pos)


def _placed_labels(view: MapView) -> list[tuple[str, str]]:
    view.grab()  # labels are laid out when painted
    return view.live.label_item.placed()


# -- pure helpers ------------------------------------------------------------------------------


def test_every_table_shape_has_a_pyqtgraph_symbol() -> None:
    for status in STATUSES:
        assert status.shape in SHAPE_SYMBOLS, status.code
    assert shape_symbol("triangle") == "t1" and shape_symbol("triangle_down") == "t"
    assert shape_symbol("no-such-shape") == "o"


def test_heading_segments_point_along_the_heading_and_skip_unknown() -> None:
    x, y = np.array([0.0, 10.0, 20.0]), np.array([0.0, 0.0, 0.0])
    xs, ys = heading_segments(x, y, np.array([0.0, math.nan, 90.0]), 5.0)

    assert xs.tolist() == pytest.approx([0.0, 0.0, 20.0, 25.0])  # north is +y, east +x
    assert ys.tolist() == pytest.approx([0.0, 5.0, 0.0, 0.0])


@pytest.mark.parametrize(("age_s", "text"), [(0, "0m"), (59, "0m"), (840, "14m"),
                                             (5999, "99m"), (7500, "2h05")])
def test_call_ages_read_in_minutes(age_s: float, text: str) -> None:
    assert format_age(age_s) == text


# -- units -------------------------------------------------------------------------------------


def test_units_are_one_scatter_with_table_shapes_and_colours(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    items_before = len(view.scene().items())
    units = _units(nodes, len(STATUSES))

    view.set_units(units)

    points = view.live.unit_item.points()
    assert len(points) == len(STATUSES)
    for point, status in zip(points, STATUSES, strict=True):
        assert point.data() == f"u{STATUSES.index(status)}"
        assert point.brush().color().name() == status.colour.lower(), status.code
        assert point.symbol() == SHAPE_SYMBOLS[status.shape], status.code
    assert len(view.scene().items()) == items_before  # drawn by the fixed items
    xs, _ = view.live.heading_item.getData()
    assert xs.size == 2 * len(STATUSES)  # one tick per moving unit


def test_an_avl_batch_moves_markers_in_place(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    view.set_units(_units(nodes, 20))
    view.grab()
    items = list(view.scene().items())
    unit_item = view.live.unit_item

    for step in range(1, 4):
        moved = _units(nodes, 20, shift=0.0002 * step)
        view.set_units(moved)
        view.grab()

    assert list(view.scene().items()) == items  # same items, none created or removed
    assert view.live.unit_item is unit_item
    x, y = unit_item.getData()
    expected = [view.to_xy(u.lat, u.lon) for u in moved]
    assert np.allclose(np.column_stack([x, y]), expected)


def test_stale_units_are_hollow_outlined_in_status_colour_and_labelled(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    fresh, stale = _units(nodes, 2, status="en_route")
    view.set_units([fresh, UnitMarker(stale.unit_id, stale.lat, stale.lon, 45.0,
                                      stale.status_code, stale.label, stale=True)])

    live, old = view.live.unit_item.points()
    colour = TABLES.status("en_route").colour.lower()
    assert live.brush().color().name() == colour
    assert old.brush().color().name() != colour  # hollow: filled with the background
    assert old.pen().color().name() == colour  # ...outlined in the status colour
    assert old.symbol() == live.symbol()  # the status shape still reads
    assert view.live.heading_item.getData()[0].size == 2  # no tick: its heading is stale
    labels = dict(_placed_labels(view))
    assert labels["HEART 2 · stale"] == "stale"
    assert labels["HEART 1"] == "unit"


def test_emergency_units_blink_and_the_timer_stops_without_them(
    qtbot: Any, make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    flash = view.live.flash_item
    units = _units(nodes, 3, status="available")
    view.set_units(units)
    assert not view.flash_timer.isActive()

    panic = UnitMarker("u1", units[1].lat, units[1].lon, None, EMERGENCY, "HEART 2")
    view.set_units([units[0], panic, units[2]])

    assert view.flash_timer.isActive()
    assert len(flash.points()) == 1
    seen: set[bool] = set()

    def blinked() -> bool:
        seen.add(flash.isVisible())
        return len(seen) == 2  # seen both on and off

    qtbot.waitUntil(blinked, timeout=2000)
    labels = dict(_placed_labels(view))
    assert labels["HEART 2 · EMERGENCY"] == "flashing"

    view.set_units(units)  # the emergency is over

    assert not view.flash_timer.isActive()
    assert len(flash.points()) == 0


def test_hiding_the_map_pauses_the_blink_and_showing_resumes_it(
    qtbot: Any, make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    view.set_units(_units(nodes, 2, status=EMERGENCY))
    assert view.flash_timer.isActive()

    window = view.window()
    window.hide()
    assert not view.flash_timer.isActive()
    window.show()
    qtbot.waitExposed(window)
    assert view.flash_timer.isActive()

    view.set_layer_visible("units", False)
    assert not view.flash_timer.isActive()
    assert not view.live.unit_item.isVisible() and not view.live.flash_item.isVisible()


def test_closing_the_main_window_stops_the_blink_timer(
    qtbot: Any, qtlog: Any, durham_network: RoadNetwork, nodes: list[tuple[float, float]],
) -> None:
    app = QtWidgets.QApplication.instance()
    assert isinstance(app, QtWidgets.QApplication)
    before = {_cpp_address(w) for w in app.topLevelWidgets()}
    window = MainWindow(network=durham_network, engine=TravelTimeEngine(durham_network),
                        city_name="Durham")
    window.show()
    qtbot.waitExposed(window)
    timer = window.map_view.flash_timer
    window.map_view.set_units(_units(nodes, 2, status=EMERGENCY))
    assert timer.isActive()

    window.close()

    assert not timer.isActive()
    window.deleteLater()
    del window
    _check_clean_close(app, before, qtlog, [timer])


def test_a_standalone_map_closes_cleanly_while_blinking(
    qtbot: Any, qtlog: Any, durham_network: RoadNetwork, nodes: list[tuple[float, float]],
) -> None:
    # pyqtgraph's GraphicsView.close() deletes every item before Qt sends the hide event.
    app = QtWidgets.QApplication.instance()
    assert isinstance(app, QtWidgets.QApplication)
    before = {_cpp_address(w) for w in app.topLevelWidgets()}
    view = MapView()
    view.set_network(durham_network)
    view.show()
    qtbot.waitExposed(view)
    timer = view.flash_timer
    view.set_units(_units(nodes, 2, status=EMERGENCY))
    assert timer.isActive()

    view.close()

    assert not timer.isActive()
    view.deleteLater()
    del view
    _check_clean_close(app, before, qtlog, [timer])


def test_unit_ids_must_be_unique_and_a_network_must_come_first(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    unit = _units(nodes, 1)[0]
    with pytest.raises(ValueError, match="unique"):
        view.set_units([unit, unit])
    with pytest.raises(RuntimeError, match="set_network"):
        MapView().set_units([unit])


# -- calls -------------------------------------------------------------------------------------


def test_calls_are_one_scatter_coloured_by_priority_and_ringed_when_unassigned(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    items_before = len(view.scene().items())
    calls = _calls(nodes)

    view.set_calls(calls)

    points = view.live.call_item.points()
    assert len(points) == len(calls)
    for point, call in zip(points, calls, strict=True):
        assert point.brush().color().name() == DARK_MAP.priority_fill[call.priority]
    # Same priority, assigned or not: another symbol (the ring), same colour.
    assert points[0].symbol() is not points[4].symbol()
    assert points[0].symbol().boundingRect().width() > points[4].symbol().boundingRect().width()
    assert len({id(p.symbol()) for p in points}) == len(calls)  # 4 priorities × ring or not
    assert len(view.scene().items()) == items_before
    assert call_label(calls[1]) == "#101 · 6m"


def test_call_priorities_may_be_spelled_loosely_but_must_exist(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    lat, lon = nodes[0]
    view.set_calls([CallMarker("C1", lat, lon, "p", 30.0, False, "Welfare check")])
    assert view.live.call_item.points()[0].brush().color().name() == DARK_MAP.priority_fill["P"]

    from heartops.core.errors import UnknownCodeError

    with pytest.raises(UnknownCodeError):
        view.set_calls([CallMarker("C1", lat, lon, "4", 30.0, False, "Welfare check")])


# -- selection ---------------------------------------------------------------------------------


def test_clicking_a_unit_selects_it_and_is_not_a_map_click(
    qtbot: Any, make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    units = _units(nodes, 6)
    view.set_units(units)
    view.set_calls(_calls(nodes))
    map_clicks: list[tuple[float, float]] = []
    calls_picked: list[str] = []
    view.map_clicked.connect(lambda lat, lon: map_clicks.append((lat, lon)))
    view.call_selected.connect(calls_picked.append)

    with qtbot.waitSignal(view.unit_selected, timeout=5000) as picked:
        _click(view, _widget_pos(view, units[3].lat, units[3].lon))

    assert picked.args == ["u3"]
    assert map_clicks == [] and calls_picked == []
    assert view.selection == ("unit", "u3")
    halo_x, halo_y = view.live.halo_item.getData()
    assert (halo_x[0], halo_y[0]) == pytest.approx(view.to_xy(units[3].lat, units[3].lon))


def test_clicking_a_call_selects_it_and_a_click_beside_markers_is_a_map_click(
    qtbot: Any, make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    calls = _calls(nodes)
    view.set_calls(calls)

    with qtbot.waitSignal(view.call_selected, timeout=5000) as picked:
        _click(view, _widget_pos(view, calls[2].lat, calls[2].lon))
    assert picked.args == ["C102"]

    lat, lon = nodes[5]  # no marker there (units are not shown)
    with qtbot.waitSignal(view.map_clicked, timeout=5000):
        _click(view, _widget_pos(view, lat, lon))


def test_select_call_highlights_it_and_follows_it_across_updates(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    calls = _calls(nodes)
    selected: list[str] = []
    view.call_selected.connect(selected.append)

    view.select_call("C105")  # not on the map yet: remembered, nothing drawn
    assert view.live.halo_item.getData()[0].size == 0
    view.set_calls(calls)

    halo_x, halo_y = view.live.halo_item.getData()
    assert (halo_x[0], halo_y[0]) == pytest.approx(view.to_xy(calls[5].lat, calls[5].lon))
    assert ("#105 · 10m", "selected") in _placed_labels(view)
    assert selected == []  # selecting from a table must not echo back

    view.select_call(None)
    assert view.selection is None
    assert view.live.halo_item.getData()[0].size == 0


def test_hovering_a_marker_shows_its_tooltip(
    qtbot: Any, make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    units = _units(nodes, 4, status="on_scene")
    view.set_units(units)
    view.set_calls(_calls(nodes))

    _hover(qtbot, view, _widget_pos(view, units[2].lat, units[2].lon), "HEART 3")
    assert "On scene" in view.view_box.toolTip()

    call = _calls(nodes)[0]
    _hover(qtbot, view, _widget_pos(view, call.lat, call.lon), "C100")
    assert "Welfare check" in view.view_box.toolTip() and "5m" in view.view_box.toolTip()
    assert view.view_box.toolTip().startswith("#100 — ")  # the short number, then the id
    assert "NOT ASSIGNED" in view.view_box.toolTip()


def _hover(qtbot: Any, view: MapView, pos: QtCore.QPoint, expected: str) -> None:
    # pyqtgraph drops mouse moves that come quicker than 60 a second, and Qt sends none for
    # a move to where the mouse already is: wiggle by a pixel until the tooltip tells.
    wiggle = iter(range(1_000_000))

    def shown() -> bool:
        QTest.mouseMove(view.viewport(), pos + QtCore.QPoint(next(wiggle) % 2, 0))
        return expected in view.view_box.toolTip()

    qtbot.waitUntil(shown, timeout=3000)


def test_zoom_to_selection_centres_on_the_marker(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    assert not view.zoom_to_selection()  # nothing selected: the view stays
    units = _units(nodes, 10)
    view.set_units(units)
    (x0, x1), _ = view.view_range()

    view.select_unit("u7")
    assert view.zoom_to_selection(radius_m=300.0)

    (vx0, vx1), (vy0, vy1) = view.view_range()
    x, y = view.to_xy(units[7].lat, units[7].lon)
    assert (vx0 + vx1) / 2 == pytest.approx(x, abs=1.0)
    assert (vy0 + vy1) / 2 == pytest.approx(y, abs=1.0)
    assert vx1 - vx0 < 0.5 * (x1 - x0)


# -- labels, route, legend, theme ------------------------------------------------------------


def test_city_zoom_labels_only_what_matters_and_zooming_in_labels_the_rest(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    units = _units(nodes, 8, status="available")
    units[0] = UnitMarker("u0", units[0].lat, units[0].lon, None, EMERGENCY, "HEART 1")
    view.set_units(units)
    view.set_calls(_calls(nodes))
    view.select_unit("u5")
    label_item = view.live.label_item
    label_item.show_all_below_m_per_px = 0.01  # as if this small extract were a whole city

    shown = {text for text, _ in _placed_labels(view)}
    assert shown == {"HEART 1 · EMERGENCY", "HEART 6", "#100 · 5m", "#104 · 9m"}  # P calls

    label_item.show_all_below_m_per_px = 1000.0  # zoomed in
    more = {text for text, _ in _placed_labels(view)}
    assert shown < more and len(more) >= 12  # a few may be dropped: they would hide a marker

    # No label covers a marker (the markers' centres, in the pixels the labels were laid in).
    grab = view.grab()
    assert grab.width() > 0
    rects = label_item.placed_rects()
    markers: list[UnitMarker | CallMarker] = [*units, *_calls(nodes)]
    for marker in markers:
        x, y = view.to_xy(marker.lat, marker.lon)
        centre = view.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(x, y)))
        assert not any(r.contains(QtCore.QPointF(centre)) for r in rects), marker


def test_labels_that_would_overlap_are_dropped_least_urgent_first(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    lat, lon = nodes[10]
    # Five units and a P call on one spot: labels cannot all fit beside it.
    view.set_units([UnitMarker(f"u{i}", lat, lon, None, "available", f"HEART {i}")
                    for i in range(5)])
    view.set_calls([CallMarker("C9", lat, lon, "P", 120.0, False, "Overdose")])
    view.live.label_item.show_all_below_m_per_px = 1000.0

    placed = _placed_labels(view)

    assert placed[0] == ("#9 · 2m", "call_P")  # the most urgent is placed first
    assert len(placed) == 2  # one right of the spot, one left; the others would overlap


def test_a_route_is_drawn_over_the_roads_and_cleared(
    make_map: Callable[..., MapView], durham_network: RoadNetwork,
    nodes: list[tuple[float, float]],
) -> None:
    from heartops.core.geo import GeoPoint

    view = make_map()
    route = TravelTimeEngine(durham_network).route(GeoPoint(*nodes[5]), GeoPoint(*nodes[30]))

    view.show_route(route.lon, route.lat)

    item = view.live.route_item
    assert item.isVisible() and item.xData.size == route.lon.size
    assert item.zValue() > max(i.zValue() for i in view.road_items.values())
    assert np.allclose(np.column_stack(view.project_arrays(route.lon[:1], route.lat[:1])),
                       [[item.xData[0], item.yData[0]]])
    assert "Route" in _legend_texts(view)

    view.clear_route()

    assert not item.isVisible() and item.xData.size == 0
    assert "Route" not in _legend_texts(view)
    with pytest.raises(ValueError, match="same length"):
        view.show_route([0.0, 1.0], [0.0])


def _legend_texts(view: MapView) -> list[str]:
    return view.legend.texts()


def test_the_legend_lists_every_status_and_priority(make_map: Callable[..., MapView]) -> None:
    view = make_map()
    texts = _legend_texts(view)

    for status in STATUSES:
        assert status.label in texts
    for priority in "P123":
        assert f"Call {priority}" in texts
    assert "Unassigned call" in texts and "Stale (no AVL)" in texts


def test_call_labels_are_short_and_tooltips_carry_the_full_id(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    long_id = "L1-20261129T1000-000012"
    lat, lon = nodes[10]
    view.set_calls([CallMarker(long_id, lat, lon, "P", 300.0, False, "Welfare check")])

    assert call_label(view.live._calls[0]) == "#12 · 5m"
    assert ("#12 · 5m", "call_P") in _placed_labels(view)
    assert not any(long_id in text for text, _ in _placed_labels(view))
    tip = view.live._call_tip(x=0.0, y=0.0, data=long_id)
    assert tip.startswith("#12 — Welfare check") and long_id in tip


def test_the_legend_is_one_collapsible_item_that_keeps_clear_of_the_map(
    qtbot: Any, make_map: Callable[..., MapView],
) -> None:
    view = make_map()
    legend = view.legend
    view_area = view.view_box.sceneBoundingRect()

    def share() -> float:
        rect = legend.sceneBoundingRect()
        return rect.width() * rect.height() / (view_area.width() * view_area.height())

    assert not legend.expanded and share() < 0.02  # one line by default
    assert legend.sceneBoundingRect().height() < 30
    texts = legend.texts()
    for entry in ("Arterial", "Local street", "8 / 12-min drive", "Available", "Call P"):
        assert entry in texts

    # A click on the toggle opens it (and is not a map click); another closes it.
    clicked: list[tuple[float, float]] = []
    view.map_clicked.connect(lambda lat, lon: clicked.append((lat, lon)))
    corner = legend.mapToScene(QtCore.QPointF(8.0, 8.0))
    QTest.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     pos=view.mapFromScene(corner))
    qtbot.waitUntil(lambda: legend.expanded)
    assert not clicked
    assert legend.texts() == texts and len(legend.row_tips()) >= len(texts)
    QTest.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     pos=view.mapFromScene(corner))
    qtbot.waitUntil(lambda: not legend.expanded)


def test_a_theme_switch_recolours_markers_and_keeps_them_in_place(
    make_map: Callable[..., MapView], nodes: list[tuple[float, float]],
) -> None:
    view = make_map()
    view.set_units(_units(nodes, 4))
    view.set_calls(_calls(nodes))
    before = view.live.call_item.getData()[0].copy()
    unit_colours = [p.brush().color().name() for p in view.live.unit_item.points()]

    view.set_palette(LIGHT_MAP)

    calls = view.live.call_item.points()
    assert calls[0].brush().color().name() == LIGHT_MAP.priority_fill["P"]
    assert np.array_equal(view.live.call_item.getData()[0], before)
    # Status colours are agency data: the same in both themes.
    assert [p.brush().color().name() for p in view.live.unit_item.points()] == unit_colours
