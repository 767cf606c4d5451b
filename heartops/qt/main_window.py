"""The main window: the map, the dispatch board's docks, menus, the shift bar and status bar.

The window is handed everything already loaded (network, engine, zones, posts and, for the
live board, the session); it never opens files, so tests can build it from in-memory objects
and ``heartops/app.py`` stays the one place that wires the app together.

With a live session (``session=``) the map is the central widget and the board's panels are
docks (:mod:`heartops.qt.panels`): queue and unit board on the left, recommendation and call
detail (tabbed, with the staging posts) over the alerts on the right, the command line across
the bottom; that fits a 1280×800 screen, and every dock can be torn off onto another monitor.
A "Shift" tool bar holds the simulated clock, the speed (1× to 60×), pause and the theme
switch; the status bar holds the alert banner. Without a session the window is the planning
view it always was: map, staging posts and drive-time areas.

Drive-time areas (and the board's rankings) are computed off the UI thread: each request is
an immutable :class:`IsochroneRequest` with a serial number, run on the window's own one-thread
executor, and its result comes back to the main thread as a queued signal. A result whose
serial is not the latest (the user picked another post or clicked elsewhere meanwhile) is
dropped, and a queued request that is already stale when its turn comes is skipped without
routing. One thread is enough (an isochrone or a ranking takes milliseconds) and keeps the
work in order.

Why ``concurrent.futures`` and not ``QThreadPool``: the engine projects with pyproj, and
pyproj segfaults on the second ``QRunnable`` run in the same pool thread while the main thread
spins the event loop (PySide 6.11, pyproj 3.7; reproduced outside the app). A plain Python
thread keeps one thread state for its life and has no such problem.

QSettings keeps only the window geometry and dock layout (ARCHITECTURE.md); it is injected, so
tests and offscreen runs never touch the user's settings.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import zoneinfo
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from heartops.core.errors import HeartopsError
from heartops.core.geo import GeoPoint
from heartops.qt.charts import ChartsWidget
from heartops.qt.coverage_dock import CoverageDock
from heartops.qt.export_dialog import AskJob, Exporter, ask_export_job
from heartops.qt.map_view import LAYERS, LIVE_LAYERS, MapView, short_post_name
from heartops.qt.panels.command_line import CommandLinePanel
from heartops.qt.panels.controller import BoardController
from heartops.qt.panels.ports import CommandPort, ReasonProvider, SessionPort
from heartops.qt.ports import (
    ZONE_METRICS,
    CoverageGrid,
    CoveragePort,
    CoverageReading,
    ExportPort,
    PostsPlanResult,
    ZoneMetric,
    ZoneMetricsPort,
)
from heartops.qt.theme import DEFAULT_THEME, Theme, apply_stylesheet, map_palette

if TYPE_CHECKING:
    import geopandas as gpd

    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.network import RoadNetwork
    from heartops.routing.posts import Post

log = logging.getLogger(__name__)

#: Drive-time areas shown for a post or a clicked point, in minutes.
ISOCHRONE_MINUTES: tuple[float, ...] = (8.0, 12.0)
#: Name prefix of the window's worker thread (tests check none outlives its window).
WORKER_THREAD_PREFIX = "heartops-worker"
#: Simulation speeds offered in the shift bar (simulated seconds per wall second).
SPEEDS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

_SETTINGS_GEOMETRY = "main_window/geometry"
_SETTINGS_STATE = "main_window/state"
# Bumped when the docks change, so an old saved layout is not forced onto new docks.
_LAYOUT_VERSION = 2
_DEFAULT_SIZE = (1280, 800)
_CHARTS_SIZE = (1000, 700)
_LAYER_TITLES = {"roads": "Roads", "zones": "Zones (beats, districts)", "posts": "Post markers",
                 "units": "Units", "calls": "Open calls"}
_DOCK_FEATURES = (QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                  | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable
                  | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable)


@dataclass(frozen=True, slots=True)
class IsochroneRequest:
    """One ask for drive-time areas, as sent to the worker.

    Attributes
    ----------
    serial
        Increases with every request; results of older requests are dropped.
    point
        Where the drive starts.
    minutes
        The drive times to draw areas for.
    label
        What the point is, for the status bar (``"post P1 Main St"``, ``"clicked point"``).
    marker
        Written on the map beside the start (``"CRT-2 · 8/12 min"``); ``None`` writes nothing.
    """

    serial: int
    point: GeoPoint
    minutes: tuple[float, ...]
    label: str
    marker: str | None = None


@dataclass(frozen=True)
class IsochroneResult:
    """Drive-time areas computed for a request.

    Attributes
    ----------
    request
        The request answered.
    areas
        ``(lon/lat polygon, minutes)`` pairs.
    origin
        The road node the drive starts from (the snapped point).
    snap_m
        Distance from the requested point to that node, in metres.
    """

    request: IsochroneRequest
    areas: list[tuple[Any, float]]
    origin: GeoPoint
    snap_m: float


def compute_isochrones(engine: TravelTimeEngine, request: IsochroneRequest) -> IsochroneResult:
    """Snap the request's point and compute its drive-time areas (runs on a worker thread).

    Raises
    ------
    SnapError
        When the point is too far from every road.
    """
    snap = engine.snap(request.point, what=request.label)
    network = engine.network
    origin = GeoPoint(float(network.node_lat[snap.node]), float(network.node_lon[snap.node]))
    areas = [(engine.isochrone(request.point, minutes), minutes) for minutes in request.minutes]
    return IsochroneResult(request=request, areas=areas, origin=origin, snap_m=snap.distance_m)


class _ChoroplethSignals(QtCore.QObject):
    """Carries per-zone figures to the main thread (lives there, so connections are queued)."""

    done = QtCore.Signal(int, object, object)
    failed = QtCore.Signal(int, str)


def _run_zone_metrics(port: ZoneMetricsPort, metric: ZoneMetric, serial: int,
                      signals: _ChoroplethSignals) -> None:
    """Worker body: read one figure per zone through the port."""
    try:
        values = {str(zone): float(value) for zone, value in port.zone_values(metric.key).items()}
    except HeartopsError as exc:
        signals.failed.emit(serial, f"Cannot colour beats by {metric.title.lower()}: {exc}")
        return
    except Exception as exc:
        sys.excepthook(*sys.exc_info())  # a bug: where slot errors go
        signals.failed.emit(serial, f"Cannot colour beats by {metric.title.lower()}: {exc}")
        return
    signals.done.emit(serial, metric, values)


class _WorkerSignals(QtCore.QObject):
    """Carries worker results to the main thread (lives there, so connections are queued)."""

    done = QtCore.Signal(object)
    failed = QtCore.Signal(object, str)


def _run_request(engine: TravelTimeEngine, request: IsochroneRequest, signals: _WorkerSignals,
                 is_current: Callable[[int], bool]) -> None:
    """Worker body: compute the areas unless a newer request made this one stale."""
    if not is_current(request.serial):
        return
    try:
        result = compute_isochrones(engine, request)
    except HeartopsError as exc:
        signals.failed.emit(request, str(exc))
        return
    except Exception as exc:
        # A bug, not a user error: report it where slot errors go (the demo run then fails).
        sys.excepthook(*sys.exc_info())
        signals.failed.emit(request, f"drive-time areas failed: {exc}")
        return
    signals.done.emit(result)


class MainWindow(QtWidgets.QMainWindow):
    """The dispatch board's main window.

    Parameters
    ----------
    network
        The loaded road network.
    engine
        The drive-time engine over ``network``.
    beats, districts
        Zone layers (EPSG:4326) to draw, or ``None``.
    posts
        Staging posts.
    city_name
        Shown in the title and status bar; defaults to the network name.
    settings
        Where the window geometry and dock layout persist; ``None`` keeps nothing.
    clock
        Returns the time shown in the status bar (default: now, in the city's time zone).
    theme
        The starting theme.
    session
        The live session: with it the window is the live dispatch board (docks, shift bar,
        alert banner); without it, the planning map.
    commands
        The command line's parser and completer (with ``session``).
    reason_provider
        Asks the dispatcher why a unit other than the top one is assigned (a dialog by
        default; tests inject one).
    start_live
        Start the live timer at once (tests drive :meth:`BoardController.step` instead).
    exports
        Runs File → Export… (off the UI thread); ``None`` leaves the menu item disabled.
    zone_metrics
        Per-zone figures for View → Colour beats by; ``None`` leaves that menu out.
    coverage
        Coverage of the history's demand by the free units (with ``session``): the Coverage
        dock, View → Coverage cells and the recommendation's "Cover −%" column; ``None``
        leaves them out.
    ask_export
        Shows the export dialog and returns the job (tests inject one).
    parent
        The parent widget.
    """

    #: Emitted on the main thread after drive-time areas were drawn.
    isochrones_shown = QtCore.Signal(object)
    #: Emitted after the beats were coloured by a figure (its key).
    choropleth_shown = QtCore.Signal(str)

    def __init__(
        self,
        *,
        network: RoadNetwork,
        engine: TravelTimeEngine,
        beats: gpd.GeoDataFrame | None = None,
        districts: gpd.GeoDataFrame | None = None,
        posts: Sequence[Post] = (),
        city_name: str | None = None,
        settings: QtCore.QSettings | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        theme: Theme = DEFAULT_THEME,
        session: SessionPort | None = None,
        commands: CommandPort | None = None,
        reason_provider: ReasonProvider | None = None,
        charts: ChartsWidget | None = None,
        start_live: bool = True,
        exports: ExportPort | None = None,
        zone_metrics: ZoneMetricsPort | None = None,
        coverage: CoveragePort | None = None,
        ask_export: AskJob = ask_export_job,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.network = network
        self.engine = engine
        self.posts = list(posts)
        self.city_name = city_name or network.name
        self.synthetic = bool(network.meta.get("synthetic"))
        self.theme = theme
        self.last_result: IsochroneResult | None = None
        self._settings = settings
        self.session = session
        if clock is None and session is not None:
            zone = session.tables.timezone
            clock = lambda: session.now.astimezone(zone)  # noqa: E731 - simulated time
        self._clock = clock or _city_clock(network.meta.get("timezone"))
        self._serial = 0
        self._executor: ThreadPoolExecutor | None = None
        self._signals = _WorkerSignals(self)
        self._signals.done.connect(self._on_isochrones)
        self._signals.failed.connect(self._on_isochrones_failed)
        self.exporter = None if exports is None else Exporter(exports, self)
        self._ask_export = ask_export
        self._zone_metrics = zone_metrics
        self._analysis_executor: ThreadPoolExecutor | None = None
        self._choropleth_serial = 0
        self._choropleth_signals = _ChoroplethSignals(self)
        self._choropleth_signals.done.connect(self._on_choropleth)
        self._choropleth_signals.failed.connect(self._on_choropleth_failed)
        self.choropleth_metric: ZoneMetric | None = None

        self.setWindowTitle(f"heartops — {self.city_name}"
                            + (" (synthetic demo city)" if self.synthetic else ""))
        self.map_view = self._build_map(beats, districts)
        self.setCentralWidget(self.map_view)
        self.posts_dock, self.post_list = self._build_posts_dock()
        self._build_status_bar()
        self.board: BoardController | None = None
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        if session is not None:
            self._build_board(session, commands, reason_provider)
        self.charts = charts
        if charts is not None:
            self._build_charts_dock(charts)
        self.coverage: CoverageDock | None = None
        self.coverage_cells_minutes: float | None = None
        if coverage is not None and session is not None:
            self._build_coverage_dock(coverage, session)
        self._build_menus()
        self.set_theme(theme)
        self.resize(*_DEFAULT_SIZE)
        self._arrange_docks()
        self._restore_layout()
        if self.board is not None and start_live:
            self.board.start()
        if self.coverage is not None:
            self.coverage.start()  # the history loads on the dock's worker

    # -- construction -----------------------------------------------------------------------

    def _build_map(self, beats: gpd.GeoDataFrame | None,
                   districts: gpd.GeoDataFrame | None) -> MapView:
        tables = None if self.session is None else self.session.tables
        view = MapView(self, palette=map_palette(self.theme), tables=tables)
        view.set_network(self.network)
        view.set_zones(beats, districts)
        view.set_posts(self.posts)
        view.map_clicked.connect(self._on_map_clicked)
        view.post_clicked.connect(self.select_post)
        return view

    def _build_posts_dock(self) -> tuple[QtWidgets.QDockWidget, QtWidgets.QListWidget]:
        dock = QtWidgets.QDockWidget("Staging posts", self)
        dock.setObjectName("postsDock")  # saveState needs it
        dock.setFeatures(_DOCK_FEATURES)
        listing = QtWidgets.QListWidget(dock)
        listing.setObjectName("postList")
        listing.setTextElideMode(QtCore.Qt.TextElideMode.ElideRight)
        listing.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for post in self.posts:
            item = QtWidgets.QListWidgetItem(f"{post.post_id}  {short_post_name(post)}")
            item.setToolTip(f"{post.name}\n{post.location.lat:.5f}, {post.location.lon:.5f}\n"
                            "Select to show its 8- and 12-minute drive areas")
            listing.addItem(item)
        if not self.posts:
            listing.addItem("No staging posts for this city")
            listing.setEnabled(False)
        listing.currentRowChanged.connect(self._on_post_row_changed)
        dock.setWidget(listing)
        dock.setMinimumWidth(220)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        return dock, listing

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        # A label, not showMessage(): hovering a menu clears temporary messages for good,
        # and the snapped point must stay readable until the next pick.
        self.info_label = QtWidgets.QLabel(
            "Click the map or pick a staging post to see drive-time areas")
        self.info_label.setObjectName("infoLabel")
        self.info_label.setMinimumWidth(1)  # may be cut short rather than push the others
        bar.addWidget(self.info_label, 1)
        self.city_label = QtWidgets.QLabel(self.city_name)
        self.synthetic_label = QtWidgets.QLabel("SYNTHETIC DEMO CITY")
        self.synthetic_label.setObjectName("syntheticBadge")
        self.synthetic_label.setToolTip("A generated city: no real streets, people or calls")
        self.synthetic_label.setVisible(self.synthetic)
        self.counts_label = QtWidgets.QLabel(
            f"{self.network.node_count:,} nodes · {self.network.edge_count:,} edges")
        self.clock_label = QtWidgets.QLabel()
        self.clock_label.setObjectName("clockLabel")
        for label in (self.city_label, self.synthetic_label, self.counts_label,
                      self.clock_label):
            bar.addPermanentWidget(label)
        self._clock_timer = QtCore.QTimer(self)
        self._clock_timer.timeout.connect(self._tick)
        self._clock_timer.start(1000)
        self._tick()

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self.export_action = file_menu.addAction("&Export…")
        self.export_action.setObjectName("exportAction")
        self.export_action.setShortcut(QtGui.QKeySequence("Ctrl+E"))
        self.export_action.setEnabled(self.exporter is not None)
        self.export_action.triggered.connect(self.export)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        view_menu = menus.addMenu("&View")
        zoom = view_menu.addAction("&Zoom to city")
        zoom.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_Home))
        zoom.triggered.connect(self.map_view.zoom_to_city)
        self.unit_areas_action = view_menu.addAction("Drive-time areas from the selected &unit")
        self.unit_areas_action.setObjectName("unitAreasAction")
        self.unit_areas_action.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_I))
        self.unit_areas_action.setToolTip(
            "8- and 12-minute drive areas from where the selected unit is now (I)")
        self.unit_areas_action.setEnabled(self.board is not None)
        self.unit_areas_action.triggered.connect(lambda _checked=False: self.show_unit_areas())
        view_menu.addSeparator()
        self.theme_actions = self._theme_actions(view_menu)
        view_menu.addSeparator()
        self.layer_actions: dict[str, QtGui.QAction] = {}
        for layer in LAYERS + (LIVE_LAYERS if self.board is not None else ()):
            action = view_menu.addAction(_LAYER_TITLES[layer])
            action.setCheckable(True)
            action.setChecked(self.map_view.layer_visible(layer))
            action.toggled.connect(lambda on, name=layer: self.map_view.set_layer_visible(name, on))
            self.layer_actions[layer] = action
        self.choropleth_actions = self._choropleth_menu(view_menu)
        self.coverage_cell_actions = self._coverage_menu(view_menu)
        view_menu.addSeparator()
        panel = self.posts_dock.toggleViewAction()
        panel.setText("Posts panel")
        view_menu.addAction(panel)
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        if self.board is not None:
            self._build_board_menu(menus.addMenu("&Board"))

    def _build_board_menu(self, menu: QtWidgets.QMenu) -> None:
        board = self.board
        assert board is not None
        entries: list[tuple[str, str, Callable[[], object]]] = [
            ("Oldest top-priority call", "Ctrl+1", board.queue.select_head),
            ("Unit board", "Ctrl+2", lambda: self._focus_dock("units", board.units.view)),
            ("Recommendation", "Ctrl+3",
             lambda: self._focus_dock("recommendation", board.recommendation.ranked_view)),
            ("Alerts", "Ctrl+4", lambda: self._focus_dock("alerts", board.alerts.view)),
            ("Acknowledge the banner's alert", "Ctrl+K", board.acknowledge_top),
            ("Zoom to the selection", "Ctrl+F", self.map_view.zoom_to_selection),
        ]
        if board.command_line is not None:
            line = board.command_line
            entries.append(("Command line", "Ctrl+L", lambda: self._focus_command(line)))
        self.board_actions: dict[str, QtGui.QAction] = {}
        for title, keys, slot in entries:
            action = menu.addAction(title)
            action.setShortcut(QtGui.QKeySequence(keys))
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _checked=False, run=slot: run())
            self.board_actions[keys] = action
        menu.addSeparator()
        menu.addAction(self.pause_action)

    def _theme_actions(self, menu: QtWidgets.QMenu) -> dict[Theme, QtGui.QAction]:
        group = QtGui.QActionGroup(self)
        group.setExclusive(True)
        actions = {}
        for theme, title in ((Theme.DARK, "&Dark theme"), (Theme.LIGHT, "&Light theme")):
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(theme == self.theme)
            action.triggered.connect(lambda _checked=False, t=theme: self.set_theme(t))
            group.addAction(action)
            actions[theme] = action
        return actions

    def _choropleth_menu(self, view_menu: QtWidgets.QMenu) -> dict[str, QtGui.QAction]:
        """Add View → Colour beats by (only with a figures port and beats to colour)."""
        if self._zone_metrics is None or self.map_view.beat_item is None:
            return {}
        menu = view_menu.addMenu("Colour &beats by")
        menu.setObjectName("choroplethMenu")
        group = QtGui.QActionGroup(self)
        group.setExclusive(True)
        actions: dict[str, QtGui.QAction] = {}
        for key, title in (("", "None"), *((m.key, m.title) for m in ZONE_METRICS)):
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(key == "")
            action.triggered.connect(lambda _checked=False, k=key: self.colour_beats_by(k or None))
            group.addAction(action)
            actions[key] = action
        return actions

    # -- exports ----------------------------------------------------------------------------

    def export(self) -> bool:
        """Ask what to export (File → Export…) and run it off the UI thread.

        Returns
        -------
        bool
            Whether an export was started.
        """
        if self.exporter is None or self.exporter.running:
            return False
        job = self._ask_export(self)
        if job is None:
            return False
        self.show_status(f"Exporting {', '.join(job.kinds)} to {job.out}…")
        self.exporter.finished.connect(self._on_export_finished,
                                       QtCore.Qt.ConnectionType.UniqueConnection)
        self.exporter.start(job)
        return True

    def _on_export_finished(self, text: str, _ok: bool) -> None:
        self.show_status(text.splitlines()[0] if text else "")

    # -- beats coloured by a figure ---------------------------------------------------------

    def colour_beats_by(self, metric: str | None) -> None:
        """Colour the beats by a :data:`~heartops.qt.ports.ZONE_METRICS` figure, or not.

        The figures are read off the UI thread (the first read may simulate the demo history);
        an answer to an earlier choice is dropped.
        """
        self._choropleth_serial += 1
        if metric in self.choropleth_actions:
            self.choropleth_actions[metric].setChecked(True)
        if metric is None or self._zone_metrics is None:
            self.choropleth_metric = None
            self.choropleth_actions.get("", QtGui.QAction()).setChecked(True)
            self.map_view.clear_choropleth()
            return
        chosen = next(m for m in ZONE_METRICS if m.key == metric)
        self.choropleth_metric = chosen
        self.show_status(f"Reading {chosen.title.lower()} per beat…")
        if self._analysis_executor is None:
            self._analysis_executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"{WORKER_THREAD_PREFIX}-analysis")
        self._analysis_executor.submit(_run_zone_metrics, self._zone_metrics, chosen,
                                       self._choropleth_serial, self._choropleth_signals)

    def _on_choropleth(self, serial: int, metric: ZoneMetric, values: dict[str, float]) -> None:
        if serial != self._choropleth_serial:
            return  # another figure (or none) was chosen meanwhile
        self.map_view.set_choropleth(values, title=metric.title, fmt=metric.format)
        self.show_status(f"Beats coloured by {metric.title.lower()} "
                         f"({len(values)} beats with figures)")
        self.choropleth_shown.emit(metric.key)

    def _on_choropleth_failed(self, serial: int, message: str) -> None:
        if serial != self._choropleth_serial:
            return
        self.choropleth_metric = None
        self.choropleth_actions.get("", QtGui.QAction()).setChecked(True)
        self.map_view.clear_choropleth()
        self.show_status(message)

    # -- theme ------------------------------------------------------------------------------

    def set_theme(self, theme: Theme) -> None:
        """Switch the window style sheet and the map colours to ``theme``."""
        self.theme = theme
        apply_stylesheet(self, theme)
        palette = map_palette(theme)
        self.map_view.set_palette(palette)
        self.theme_actions[theme].setChecked(True)
        if self.coverage is not None:
            self.coverage.set_theme(theme)
        if self.charts is not None:
            self.charts.set_theme(theme)
        if self.board is not None:
            self.board.queue.model.set_priority_colours(palette.priority_fill)
            self.light_action.setChecked(theme == Theme.LIGHT)

    # -- the live board ---------------------------------------------------------------------

    def _build_board(self, session: SessionPort, commands: CommandPort | None,
                     reason_provider: ReasonProvider | None) -> None:
        board = BoardController(
            session, self.map_view, submit=self.submit_background, commands=commands,
            reason_provider=reason_provider,
            priority_colours=map_palette(self.theme).priority_fill, parent=self)
        self.board = board
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner,
                       QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner,
                       QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        left, right = (QtCore.Qt.DockWidgetArea.LeftDockWidgetArea,
                       QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.removeDockWidget(self.posts_dock)
        self.setTabPosition(QtCore.Qt.DockWidgetArea.AllDockWidgetAreas,
                            QtWidgets.QTabWidget.TabPosition.North)
        queue = self._add_dock("queue", "Pending calls", board.queue, left)
        units = self._add_dock("units", "Unit board", board.units, left)
        recommendation = self._add_dock("recommendation", "Recommendation",
                                        board.recommendation, right)
        alerts = self._add_dock("alerts", "Alerts", board.alerts, right)
        detail = self._add_dock("call_detail", "Call detail", board.call_detail, right)
        self.addDockWidget(right, self.posts_dock)
        self.tabifyDockWidget(recommendation, detail)
        self.tabifyDockWidget(detail, self.posts_dock)
        recommendation.raise_()
        if board.command_line is not None:
            self._add_dock("command", "Command line", board.command_line,
                           QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        self._layout_docks = (queue, units, recommendation, alerts)
        bar = self.statusBar()
        self.desk_label = QtWidgets.QLabel(session.desk_mode)
        self.desk_label.setObjectName("deskLabel")
        self.desk_label.setToolTip("This desk, and whether other desks share its board")
        bar.addPermanentWidget(self.desk_label)
        self._build_shift_bar(board)
        bar.insertWidget(0, board.banner, 3)
        self.counts_label.setVisible(False)  # the shift bar has the clock; room for alerts
        self.clock_label.setVisible(False)
        self.show_status("Select a call: Enter assigns the recommended unit · drag a unit onto "
                         "a call · Ctrl+L commands")
        board.message.connect(self._on_board_message)
        board.ticked.connect(self._tick_shift)
        board.banner.clicked.connect(self._show_banner_alert)
        board.emergency_raised.connect(self._on_emergency)

    def _build_charts_dock(self, charts: ChartsWidget) -> None:
        """Add the analysts' charts: a floating dock, hidden until View → Charts (Ctrl+Shift+C)."""
        dock = self._add_dock("charts", "Charts", charts,
                              QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        dock.setFloating(True)
        dock.resize(*_CHARTS_SIZE)
        dock.hide()
        dock.toggleViewAction().setShortcut(QtGui.QKeySequence("Ctrl+Shift+C"))
        charts.message.connect(self.show_status)

    def _build_coverage_dock(self, port: CoveragePort, session: SessionPort) -> None:
        """Add the Coverage dock (tabbed with the recommendation) and its map and costs."""
        dock = CoverageDock(port, lambda: (session.board, session.now),
                            thread_prefix=f"{WORKER_THREAD_PREFIX}-coverage", theme=self.theme)
        self.coverage = dock
        added = self._add_dock("coverage", "Coverage", dock,
                               QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.docks["recommendation"], added)
        self.docks["recommendation"].raise_()
        dock.loaded.connect(self._on_coverage_loaded)
        dock.reading_shown.connect(self._on_coverage_reading)
        dock.plan_shown.connect(self._on_posts_planned)
        dock.move_up_requested.connect(self._show_move_up)
        dock.message.connect(self.show_status)
        if self.board is not None:
            self.board.set_coverage(port)

    def _on_coverage_loaded(self, grid: CoverageGrid) -> None:
        self.map_view.set_coverage_cells(grid.lon, grid.lat, grid.radius_m)
        if self.board is not None:
            self.board.refresh_coverage_costs()

    def _on_coverage_reading(self, reading: CoverageReading) -> None:
        minutes = self.coverage_cells_minutes
        if minutes is not None and minutes in reading.covered:
            self.map_view.show_coverage(reading.covered[minutes], reading.demand, minutes)

    def show_coverage_cells(self, minutes: float | None) -> None:
        """Show the demand cells covered within ``minutes`` and those not (``None``: hide).

        The cells follow the Coverage dock's readings (every few seconds); until the first
        reading arrives nothing is drawn.
        """
        self.coverage_cells_minutes = minutes
        action = self.coverage_cell_actions.get(minutes)
        if action is not None:
            action.setChecked(True)
        if minutes is None:
            self.map_view.clear_coverage()
            return
        reading = None if self.coverage is None else self.coverage.reading
        if reading is not None:
            self._on_coverage_reading(reading)
        else:
            self.show_status("Coverage cells appear with the first coverage reading…")

    def _on_posts_planned(self, result: PostsPlanResult) -> None:
        self.map_view.show_planned_posts(
            [(p.lat, p.lon, p.label) for p in result.exact.posts],
            [(p.lat, p.lon, p.label) for p in result.greedy.posts])
        self.show_status(f"Plan posts, k={result.k}, {result.minutes:g} min: exact "
                         f"{100 * result.exact.share:.1f}% · greedy "
                         f"{100 * result.greedy.share:.1f}% · today "
                         f"{100 * result.current.share:.1f}% of the week's demand")

    def _show_move_up(self, lat: float, lon: float, label: str) -> None:
        minutes = "/".join(f"{m:g}" for m in ISOCHRONE_MINUTES)
        self.request_isochrones(GeoPoint(lat, lon), label=f"move-up {label}",
                                marker=f"{label} · {minutes} min")

    def _coverage_menu(self, view_menu: QtWidgets.QMenu) -> dict[float | None, QtGui.QAction]:
        """Add View → Coverage cells (only with a Coverage dock)."""
        if self.coverage is None:
            return {}
        menu = view_menu.addMenu("Co&verage cells")
        menu.setObjectName("coverageCellsMenu")
        group = QtGui.QActionGroup(self)
        group.setExclusive(True)
        actions: dict[float | None, QtGui.QAction] = {}
        for minutes, title in ((None, "Off"), (8.0, "Covered within 8 min"),
                               (12.0, "Covered within 12 min")):
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(minutes is None)
            action.triggered.connect(lambda _checked=False, m=minutes: self.show_coverage_cells(m))
            group.addAction(action)
            actions[minutes] = action
        return actions

    def _arrange_docks(self) -> None:
        """Size the board's docks for 1280×800: the map keeps the middle (saved layouts win)."""
        if self.board is None:
            return
        queue, units, recommendation, alerts = self._layout_docks
        self.resizeDocks([queue, recommendation], [500, 350], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([queue, units], [220, 460], QtCore.Qt.Orientation.Vertical)
        self.resizeDocks([recommendation, alerts], [440, 240], QtCore.Qt.Orientation.Vertical)

    def _add_dock(self, name: str, title: str, widget: QtWidgets.QWidget,
                  area: QtCore.Qt.DockWidgetArea) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"{_camel(name)}Dock")  # saveState needs it
        dock.setFeatures(_DOCK_FEATURES)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    def _build_shift_bar(self, board: BoardController) -> None:
        bar = QtWidgets.QToolBar("Shift", self)
        bar.setObjectName("shiftToolbar")  # saveState needs it
        bar.setMovable(True)
        self.sim_clock = QtWidgets.QLabel()
        self.sim_clock.setObjectName("simClock")
        self.sim_clock.setToolTip("Simulated time of the live shift (city time)")
        bar.addWidget(self.sim_clock)
        bar.addWidget(QtWidgets.QLabel(" Speed "))
        self.speed_box = QtWidgets.QComboBox(bar)
        self.speed_box.setObjectName("speedBox")
        self.speed_box.setToolTip("Simulation speed: simulated seconds per wall second")
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}×", speed)
        self._show_speed(board.session.speed)
        self.speed_box.currentIndexChanged.connect(
            lambda _i: board.set_speed(float(self.speed_box.currentData())))
        bar.addWidget(self.speed_box)
        self.pause_action = QtGui.QAction("Pause", self)
        self.pause_action.setObjectName("pauseAction")
        self.pause_action.setCheckable(True)
        self.pause_action.setShortcut(QtGui.QKeySequence("Ctrl+P"))
        self.pause_action.setToolTip("Pause the simulated shift (Ctrl+P)")
        self.pause_action.toggled.connect(self._set_paused)
        bar.addAction(self.pause_action)
        if not board.session.controls_time:  # the desk running the city sets both
            self.speed_box.setEnabled(False)
            self.speed_box.setToolTip("The desk running the city sets the speed")
            self.pause_action.setEnabled(False)
        bar.addSeparator()
        self.light_action = QtGui.QAction("Light theme", self)
        self.light_action.setObjectName("lightThemeAction")
        self.light_action.setCheckable(True)
        self.light_action.setToolTip("Switch between the dark and the light theme")
        self.light_action.toggled.connect(
            lambda on: self.set_theme(Theme.LIGHT if on else Theme.DARK)
            if (self.theme == Theme.LIGHT) != on else None)
        bar.addAction(self.light_action)
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, bar)
        self.shift_bar = bar
        self._tick_shift()

    def _show_speed(self, speed: float) -> None:
        index = self.speed_box.findData(speed)
        if index < 0:  # a speed not offered (a headless run): list it too
            self.speed_box.addItem(f"{speed:g}×", speed)
            index = self.speed_box.count() - 1
        self.speed_box.setCurrentIndex(index)

    def _set_paused(self, paused: bool) -> None:
        if self.board is None:
            return
        if paused:
            self.board.pause()
        else:
            self.board.start()
        self.pause_action.setText("Resume" if paused else "Pause")

    def _tick_shift(self) -> None:
        if self.session is not None:
            self.sim_clock.setText(self._clock().strftime("%a %d %b  %H:%M:%S"))
            if self.desk_label.text() != self.session.desk_mode:
                self.desk_label.setText(self.session.desk_mode)

    def _on_board_message(self, text: str, error: bool) -> None:
        self.show_status(text)
        self.info_label.setStyleSheet("color: #ff6b6b; font-weight: bold;" if error else "")

    def _focus_dock(self, name: str, widget: QtWidgets.QWidget) -> None:
        dock = self.docks.get(name)
        if dock is not None:
            dock.show()
            dock.raise_()
        widget.setFocus(QtCore.Qt.FocusReason.ShortcutFocusReason)

    def _focus_command(self, line: CommandLinePanel) -> None:
        self._focus_dock("command", line.edit)
        line.focus()

    def _show_banner_alert(self) -> None:
        if self.board is None:
            return
        alert = self.board.banner.alert
        self._focus_dock("alerts", self.board.alerts.view)
        if alert is not None:
            self.board.alerts.select_alert(alert.key)

    def _on_emergency(self, key: str) -> None:
        # Nothing may hide an emergency: bring the alerts list forward with it selected.
        if self.board is not None:
            dock = self.docks["alerts"]
            dock.show()
            dock.raise_()
            self.board.alerts.select_alert(key)

    # -- posts and drive-time areas ---------------------------------------------------------

    def select_post(self, index: int) -> None:
        """Select staging post ``index``: highlights it in the list and shows its areas."""
        if 0 <= index < len(self.posts):
            self.post_list.setCurrentRow(index)

    def _on_post_row_changed(self, row: int) -> None:
        if 0 <= row < len(self.posts):
            post = self.posts[row]
            self.request_isochrones(post.location,
                                    label=f"post {post.post_id} ({short_post_name(post)})")

    def _on_map_clicked(self, lat: float, lon: float) -> None:
        self.request_isochrones(GeoPoint(lat, lon), label="the clicked point")

    def selected_unit(self) -> str | None:
        """Return the unit selected on the unit board or the map, if any."""
        if self.board is not None and self.board.selected_unit is not None:
            return self.board.selected_unit
        selection = self.map_view.selection
        return selection[1] if selection is not None and selection[0] == "unit" else None

    def show_unit_areas(self, unit_id: str | None = None) -> IsochroneRequest | None:
        """Show the drive-time areas from where a unit is now (the selected one by default).

        Returns
        -------
        IsochroneRequest or None
            The request sent to the worker; ``None`` when no unit is selected or the unit has
            no position on the map (the status bar says which).
        """
        unit_id = unit_id or self.selected_unit()
        if unit_id is None:
            self.show_status("Select a unit (unit board or map) to see its drive-time areas")
            return None
        where = self.map_view.live.unit_position(unit_id)
        if where is None:
            self.show_status(f"{unit_id} has no position on the map")
            return None
        minutes = "/".join(f"{m:g}" for m in ISOCHRONE_MINUTES)
        return self.request_isochrones(GeoPoint(*where), label=f"unit {unit_id}",
                                       marker=f"{unit_id} · {minutes} min")

    def request_isochrones(self, point: GeoPoint, *, label: str,
                           marker: str | None = None) -> IsochroneRequest:
        """Ask for the drive-time areas around ``point``; the newest request wins.

        Returns
        -------
        IsochroneRequest
            The request sent to the worker.
        """
        self._serial += 1
        request = IsochroneRequest(self._serial, point, ISOCHRONE_MINUTES, label, marker)
        self.show_status(f"Computing drive-time areas from {label}…")
        self.submit_background(_run_request, self.engine, request, self._signals,
                               self._is_current)
        return request

    def submit_background(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` on the window's worker thread (one thread: requests queue up)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix=WORKER_THREAD_PREFIX)
        self._executor.submit(fn, *args)

    def shutdown_worker(self) -> None:
        """Drop queued requests and wait for the running one; the next request starts anew."""
        self._serial += 1  # anything still queued or running is now stale
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _is_current(self, serial: int) -> bool:
        # Read from the worker thread: a plain int attribute read is atomic under the GIL.
        return serial == self._serial

    def _on_isochrones(self, result: IsochroneResult) -> None:
        if not self._is_current(result.request.serial):
            return  # stale: another post or point was picked meanwhile
        self.last_result = result
        self.map_view.show_isochrones(result.areas, origin=result.origin,
                                      label=result.request.marker)
        self.show_status(_describe(result))
        self.isochrones_shown.emit(result)

    def _on_isochrones_failed(self, request: IsochroneRequest, message: str) -> None:
        if not self._is_current(request.serial):
            return
        self.last_result = None
        self.map_view.clear_isochrones()
        self.show_status(message)

    # -- status, clock, layout ------------------------------------------------------------

    def show_status(self, text: str) -> None:
        """Show ``text`` at the left of the status bar until the next status."""
        self.info_label.setText(text)
        self.info_label.setToolTip(text)  # the whole text, when the label cuts it short

    def status_text(self) -> str:
        """Return the text shown at the left of the status bar."""
        return self.info_label.text()

    def _tick(self) -> None:
        self.clock_label.setText(self._clock().strftime("%a %d %b  %H:%M:%S"))

    def _restore_layout(self) -> None:
        if self._settings is None:
            return
        geometry = self._settings.value(_SETTINGS_GEOMETRY)
        state = self._settings.value(_SETTINGS_STATE)
        if isinstance(geometry, QtCore.QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QtCore.QByteArray):
            self.restoreState(state, _LAYOUT_VERSION)

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt's name
        """Restart the clock (closing the window stops it)."""
        if not self._clock_timer.isActive():
            self._clock_timer.start(1000)
            self._tick()
        super().showEvent(event)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Save the layout, drop pending work and wait for the worker before closing."""
        if self._settings is not None:
            self._settings.setValue(_SETTINGS_GEOMETRY, self.saveGeometry())
            self._settings.setValue(_SETTINGS_STATE, self.saveState(_LAYOUT_VERSION))
            self._settings.sync()
        self._clock_timer.stop()
        if self.board is not None:
            self.board.close()  # before the worker: no new rankings are asked for
        if self.charts is not None:
            self.charts.shutdown()
        if self.coverage is not None:
            self.coverage.shutdown()
        if self.exporter is not None:
            self.exporter.shutdown()  # cancels a running export: nothing half-written stays
        self._choropleth_serial += 1
        if self._analysis_executor is not None:
            self._analysis_executor.shutdown(wait=True, cancel_futures=True)
            self._analysis_executor = None
        self.shutdown_worker()
        super().closeEvent(event)


def _describe(result: IsochroneResult) -> str:
    # Short enough to fit beside the permanent labels; the coordinates come last.
    minutes = "/".join(f"{m:g}" for m in result.request.minutes)
    origin = result.origin
    return (f"{minutes} min drive from {result.request.label}: road at "
            f"{origin.lat:.5f}, {origin.lon:.5f} ({result.snap_m:,.0f} m away)")


def _camel(name: str) -> str:
    """Return ``call_detail`` as ``callDetail`` (Qt object names)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _city_clock(timezone: str | None) -> Callable[[], dt.datetime]:
    """Return a clock in the city's time zone (the machine's own if unknown)."""
    try:
        zone: dt.tzinfo | None = zoneinfo.ZoneInfo(timezone) if timezone else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; the clock shows local time", timezone)
        zone = None
    return lambda: dt.datetime.now(zone)
