"""The composition root: loads data, builds the engine, the live session and the window.

The only module that knows every layer. Qt is imported inside :func:`run_demo`, after
``QT_QPA_PLATFORM`` is settled, so importing this module stays cheap.

``heartops demo`` opens the live dispatch board on the demo city: a
:class:`~heartops.live.LiveSession` (the simulated shift, already an hour in, so teams are out
on calls) is handed to the window, which advances it from a timer. Interactive runs start at
1× (real time); headless runs (``--offscreen``) run at :data:`HEADLESS_SPEED` so a few
seconds show a moving board, and save a screenshot.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from heartops.analysis.live_coverage import LiveCoverage, UnitPosition
    from heartops.live import DeskSession, LiveSession
    from heartops.qt.charts import ChartsWidget
    from heartops.qt.main_window import MainWindow
    from heartops.qt.ports import (
        CoverageGrid,
        CoverageReading,
        CoverageSnapshot,
        ExportJob,
        PlanChoice,
        PostsPlanResult,
        ProgressCallback,
    )
    from heartops.store import Store
    from heartops.store.listen import CityLease

DEMO_CITY_NAME = "Demo city"
WINDOW_SIZE = (1280, 800)
HEADLESS_DEMO_SECONDS = 10.0
HEADLESS_SCREENSHOT = "heartops-demo.png"
INTERACTIVE_SPEED = 1.0
"""Simulated seconds per wall second when a person watches: real time."""
HEADLESS_SPEED = 60.0
"""Headless runs last seconds: at 60x a 3-second run is 3 simulated minutes."""
WARMUP_MINUTES = 60.0
"""The demo shift is run this far (simulated) before the window opens: teams are out."""


@dataclass(frozen=True)
class DemoData:
    """Everything the demo window shows, loaded from the user dirs."""

    network: Any
    engine: Any
    beats: Any
    districts: Any
    posts: list[Any]


def warm_up(session: LiveSession, minutes: float, *, step_s: float = 60.0) -> None:
    """Run ``session`` for ``minutes`` simulated minutes, in ``step_s`` simulated steps."""
    steps = int(minutes * 60 / step_s)
    for _ in range(steps):
        session.advance(step_s / session.speed)


def load_demo() -> DemoData:
    """Build the demo city if needed (about half a minute the first time), then load it."""
    from heartops.core.errors import ZoneError
    from heartops.core.progress import ConsoleProgress
    from heartops.routing.demo_setup import demo_layer, ensure_demo
    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.network import DEMO_NAME, load_network
    from heartops.routing.posts import load_posts
    from heartops.routing.zones import load_zone_layer

    ensure_demo(progress=ConsoleProgress())
    network = load_network(DEMO_NAME)
    try:
        districts = load_zone_layer(demo_layer(DEMO_NAME, "districts"))
    except ZoneError:
        districts = None  # optional: the map just draws no district outlines
    return DemoData(network=network, engine=TravelTimeEngine(network),
                    beats=load_zone_layer(demo_layer(DEMO_NAME, "beats")),
                    districts=districts, posts=load_posts(DEMO_NAME))


def run_demo(*, offscreen: bool = False, duration_s: float | None = None,
             screenshot: str | None = None, speed: float | None = None,
             warmup_minutes: float = WARMUP_MINUTES, db_url: str | None = None,
             desk: str | None = None, operator: str | None = None,
             volume: float = 1.0) -> int:
    """Run the live dispatch board on the built-in demo city.

    Parameters
    ----------
    offscreen
        Render without a display (``QT_QPA_PLATFORM=offscreen``); the window layout is then
        neither read from nor saved to the user's settings.
    duration_s
        Quit after this many seconds (for smoke tests and screenshots).
    screenshot
        Save a PNG of the window here just before quitting (needs ``duration_s``).
    speed
        Simulation speed; :data:`INTERACTIVE_SPEED` on a display, :data:`HEADLESS_SPEED`
        offscreen.
    warmup_minutes
        Simulated minutes the shift runs before the window opens.
    db_url
        Record the shift in this database (``$HEARTOPS_DB_URL`` when not given; nothing is
        recorded without either). On PostgreSQL the first desk runs the city and every
        further desk joins it (:func:`open_desk`).
    desk, operator
        Who works at this desk (see :func:`open_desk`).
    volume
        Calls at this multiple of the city's volume (the real one, about three calls an
        hour at midday, is quiet to watch; 3 makes a busy shift).

    Returns
    -------
    int
        0, or 1 if any exception was raised while the app ran (also inside Qt slots).
    """
    if not offscreen and not _display_available():
        # A headless terminal (ssh, CI): show what the app does instead of failing on xcb.
        offscreen = True
        duration_s = HEADLESS_DEMO_SECONDS if duration_s is None else duration_s
        screenshot = screenshot or HEADLESS_SCREENSHOT
        print(f"no display found (DISPLAY is not set): running the demo offscreen for "
              f"{duration_s:g} s and saving a screenshot to {screenshot}", file=sys.stderr)
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from heartops.store import DB_URL_ENV

    data = load_demo()
    session, lease = open_desk(
        speed=speed if speed is not None else HEADLESS_SPEED if offscreen else INTERACTIVE_SPEED,
        warmup_minutes=warmup_minutes, db_url=db_url or os.environ.get(DB_URL_ENV) or None,
        desk=desk, operator=operator, volume=volume)
    print(f"desk: {session.desk_mode}", file=sys.stderr)

    from PySide6 import QtCore, QtGui, QtWidgets

    from heartops.qt.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    QtGui.QGuiApplication.setWindowIcon(QtGui.QIcon(str(_icon_path())))
    settings = None if offscreen else QtCore.QSettings("heartops", "heartops")
    with _recording_exceptions() as errors:
        # The session's engine draws the map too: one network in memory, one set of ETAs.
        history = history_store(db_url)
        window = MainWindow(network=session.engine.network, engine=session.engine,
                            beats=data.beats, districts=data.districts, posts=data.posts,
                            city_name=DEMO_CITY_NAME, settings=settings, session=session,
                            commands=session, charts=charts_widget(db_url, store=history),
                            exports=StoreExports(history), zone_metrics=ZoneFigures(history),
                            coverage=LiveCoverageAdapter(history, session.engine, data.posts))
        if offscreen or screenshot:
            window.resize(*WINDOW_SIZE)  # screenshots are always the same size
        window.show()
        QtCore.QTimer.singleShot(0, lambda: _report_first_paint(window))
        _open_on_the_queue(window)
        if duration_s is not None:
            QtCore.QTimer.singleShot(int(duration_s * 1000),
                                     lambda: _finish(app, window, screenshot))
        app.exec()
    session.close()
    if session.store is not None:
        session.store.close()
    history.close()
    if lease is not None:
        lease.release()
    return 1 if errors else 0


class HistoryStore:
    """The desk's history database, opened on first use from whichever thread asks first.

    ``db_url`` when given, else the demo city's simulated history (simulated the first time,
    about ten seconds): the Charts dock, File → Export… and the beat colours all read it, off
    the UI thread, so the window opens at once.
    """

    def __init__(self, db_url: str | None) -> None:
        import threading

        self._db_url = db_url
        self._store: Store | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Store:
        """Return the open store (opening it, and simulating the demo history, if needed)."""
        from heartops.history import ensure_demo_history
        from heartops.store import open_store

        with self._lock:
            if self._store is None:
                self._store = open_store(self._db_url
                                         or f"sqlite:///{ensure_demo_history()}")
            return self._store

    def close(self) -> None:
        """Close the store if it was opened."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def history_store(db_url: str | None) -> HistoryStore:
    """Return the lazily opened history store of ``db_url`` (see :class:`HistoryStore`)."""
    return HistoryStore(db_url)


class StoreExports:
    """File → Export…'s port: :func:`heartops.exports.export_layers` over the history store.

    Runs on the window's export thread. A folder the export created and left empty (a
    cancelled or failed GeoJSON/CSV export) is removed, so nothing at all is left behind.
    """

    def __init__(self, store: Callable[[], Store], *, network: str | None = None) -> None:
        self._store = store
        self._network = network

    def run(self, job: ExportJob, progress: ProgressCallback) -> str:
        """Export ``job``; return a summary (files, rows per layer, the profile's note)."""
        from heartops.exports import ExportFormat, ExportKind, ExportRequest, Profile, export_layers
        from heartops.routing.network import DEMO_NAME

        request = ExportRequest(kinds=tuple(ExportKind(k) for k in job.kinds),
                                format=ExportFormat(job.format), profile=Profile(job.profile),
                                out=job.out, network=self._network or DEMO_NAME)
        existed = job.out.exists()
        needs_store = bool({"calls", "units", "tracks"} & set(job.kinds))
        try:
            result = export_layers(request, lambda step, f=None: progress(step, f),
                                   store=self._store() if needs_store else None)
        except BaseException:
            if not existed and job.out.is_dir() and not any(job.out.iterdir()):
                job.out.rmdir()
            raise
        rows = ", ".join(f"{layer.kind} {layer.rows:,}" for layer in result.layers)
        files = "\n".join(str(path) for path in result.paths)
        return (f"Wrote {len(result.paths)} file(s), {result.bytes_written / 1e6:.1f} MB "
                f"({rows}; {result.profile} profile)\n{files}\n" + "\n".join(result.notes))


class ZoneFigures:
    """View → Colour beats by's port: the per-zone metrics of the history store.

    The metrics (``heartops metrics --by zone``) are computed once, on the first ask, and
    kept: the history does not change while the window is open.
    """

    _FIELDS: Mapping[str, Callable[[Any], float | None]] = {
        "calls": lambda g: float(g.calls),
        "to_scene_median": lambda g: g.to_scene.median,
        "response_median": lambda g: g.response.median,
        "transport_pct": lambda g: g.transport_pct,
        "pd_backup_pct": lambda g: g.pd_backup_pct,
        "ems_pct": lambda g: g.ems_pct,
    }

    def __init__(self, store: Callable[[], Store]) -> None:
        import threading

        self._store = store
        self._groups: tuple[Any, ...] | None = None
        self._lock = threading.Lock()

    def zone_values(self, metric: str) -> dict[str, float]:
        """Return ``zone_id -> value`` of ``metric``; zones without the figure are left out."""
        from heartops.core.errors import HeartopsError

        field = self._FIELDS.get(metric)
        if field is None:
            raise HeartopsError(f"no per-zone figure {metric!r}")
        values = {}
        for group in self._zone_groups():
            zone, value = group.value("zone"), field(group)
            if zone not in (None, "-") and value is not None:
                values[str(zone)] = float(value)
        return values

    def _zone_groups(self) -> tuple[Any, ...]:
        from heartops.analysis.metrics import compute_metrics

        with self._lock:
            if self._groups is None:
                self._groups = compute_metrics(self._store(), by=("zone",)).groups
            return self._groups


class LiveCoverageAdapter:
    """The Coverage dock's port: :class:`heartops.analysis.live_coverage.LiveCoverage`.

    The service is built on the first :meth:`load` (on the dock's worker) from the history
    store's calls; a database without calls falls back to the demo city's simulated history,
    as ``heartops coverage`` does. :meth:`unit_costs` never waits for it (the recommendation
    worker must stay quick): it answers ``None`` until the service exists.
    """

    def __init__(self, store: Callable[[], Store], engine: Any, posts: Sequence[Any]) -> None:
        import threading

        self._store = store
        self._engine = engine
        self._posts = list(posts)
        self._service: LiveCoverage | None = None
        self._lock = threading.Lock()

    def load(self) -> CoverageGrid:
        """Build the service (once) and return its cells."""
        from heartops.analysis.demand_grid import eligible_calls_frame
        from heartops.analysis.live_coverage import LiveCoverage
        from heartops.qt.ports import CoverageGrid

        with self._lock:
            if self._service is None:
                frame = eligible_calls_frame(self._store())
                if frame.empty:
                    frame = _demo_history_calls()
                self._service = LiveCoverage.from_calls(self._engine, frame, self._posts)
            service = self._service
        lon, lat = service.cell_centres()
        demand = service.demand
        target = (f"{100 * service.target_share:.0f} %" if service.target_share is not None
                  else f"{service.target_ratio:g} × best from posts")
        return CoverageGrid(
            lon=lon, lat=lat, radius_m=service.planner.grid.cell_m / math.sqrt(3.0),
            minutes=service.minutes, cost_minutes=service.cost_minutes, target=target,
            summary=f"{demand.calls:,} eligible calls {demand.start:%d %b} – "
                    f"{demand.end:%d %b %Y}")

    def _ready(self) -> LiveCoverage:
        service = self._service
        if service is None:
            from heartops.core.errors import HeartopsError

            raise HeartopsError("coverage is still loading the history")
        return service

    def reading(self, snapshot: CoverageSnapshot) -> CoverageReading:
        """Return the coverage of the snapshot's units now."""
        from heartops.analysis.live_coverage import hour_label
        from heartops.qt.ports import CoverageReading, MoveUpAdvice

        service = self._ready()
        got = service.reading(_positions(snapshot), snapshot.at)
        move = got.move_up
        advice = None
        if move is not None:
            post = next(p for p in service.posts if p.post_id == move.post_id)
            advice = MoveUpAdvice(move.unit_id, move.post_id, move.post_name,
                                  post.location.lat, post.location.lon, move.minutes,
                                  move.before, move.after, move.gain_calls, move.drive_min)
        return CoverageReading(serial=snapshot.serial, at=snapshot.at,
                               hour=hour_label(got.hour_of_week),
                               expected_calls=got.expected_calls, demand=got.demand,
                               shares=dict(got.shares), best=dict(got.best),
                               targets=dict(got.targets), covered=dict(got.covered),
                               units=len(got.units), move_up=advice)

    def unit_costs(self, snapshot: CoverageSnapshot) -> Mapping[str, float] | None:
        """Return per unit the share of this hour's demand lost if it goes (``None``: loading)."""
        service = self._service
        if service is None:
            return None
        return service.unit_costs(_positions(snapshot), snapshot.at)

    def plan_posts(self, k: int, minutes: float) -> PostsPlanResult:
        """Run the exact and greedy post plans for the week's demand."""
        from heartops.qt.ports import PostsPlanResult

        service = self._ready()
        plan = service.plan_posts(k=k, minutes=minutes)
        network = service.planner.engine.network

        def choice(selection: Any, hourly: Any, name: str) -> PlanChoice:
            from heartops.qt.ports import PlanChoice, PlannedPost

            sites = [plan.candidates[j] for j in selection.chosen]
            posts = tuple(PlannedPost(s.label, float(network.node_lat[s.node]),
                                      float(network.node_lon[s.node]), s.post_id is not None)
                          for s in sites)
            return PlanChoice(name, selection.share, selection.seconds, selection.optimal,
                              posts, _by_hour_of_day(hourly))

        return PostsPlanResult(k=k, minutes=minutes, candidates=len(plan.candidates),
                               current=choice(plan.current, plan.hourly_current, "current"),
                               exact=choice(plan.exact, plan.hourly_exact, "exact"),
                               greedy=choice(plan.greedy, plan.hourly_greedy, "greedy"))


def _positions(snapshot: CoverageSnapshot) -> list[UnitPosition]:
    from heartops.analysis.live_coverage import UnitPosition
    from heartops.core.geo import GeoPoint

    return [UnitPosition(u.unit_id, GeoPoint(u.lat, u.lon)) for u in snapshot.units]


def _by_hour_of_day(hourly: Any) -> tuple[float, ...]:
    """Average a 168-hour series into 24 hours of day (``nan`` where no day has a value)."""
    import numpy as np

    values = np.asarray(hourly, dtype=float).reshape(7, 24)
    seen = np.isfinite(values)
    sums = np.where(seen, values, 0.0).sum(axis=0)
    counts = seen.sum(axis=0)
    return tuple(float(s / c) if c else math.nan for s, c in zip(sums, counts, strict=True))


def _demo_history_calls() -> Any:
    """Return the demo city's simulated history as a calls frame (simulated on first use)."""
    from heartops.analysis.demand_grid import eligible_calls_frame
    from heartops.history import ensure_demo_history
    from heartops.store import open_store

    with open_store(f"sqlite:///{ensure_demo_history()}") as store:
        return eligible_calls_frame(store)


def charts_widget(db_url: str | None, *, store: Callable[[], Store] | None = None
                  ) -> ChartsWidget:
    """Return the Charts dock's content over ``db_url``, or the demo city's simulated history.

    Everything it reads, it reads on the charts' worker thread: the database is opened there
    on first use (and the demo history simulated there the first time, about ten seconds).
    """
    import threading

    from heartops.analysis.charts_data import (
        FrameChartData,
        ledger_entries_frame,
        with_eligibility,
    )
    from heartops.analysis.frames import Window, calls_frame, prepare
    from heartops.core.codes import default_tables
    from heartops.history import ensure_demo_history
    from heartops.qt.charts import ChartsWidget
    from heartops.store import open_store

    tables = default_tables()
    opened: list[Store] = []
    lock = threading.Lock()

    def own_store() -> Store:
        with lock:
            if not opened:
                url = db_url or f"sqlite:///{ensure_demo_history()}"
                opened.append(open_store(url))
            return opened[0]

    def load(start: Any, end: Any) -> Any:
        history = (store or own_store)()
        calls = prepare(calls_frame(history, window=Window(start, end)), tables=tables)
        return with_eligibility(calls, ledger_entries_frame(history.ledger()))

    return ChartsWidget(FrameChartData(load, timezone=tables.timezone))


def open_desk(*, speed: float = INTERACTIVE_SPEED, warmup_minutes: float = WARMUP_MINUTES,
              db_url: str | None = None, desk: str | None = None,
              operator: str | None = None,
              volume: float = 1.0) -> tuple[DeskSession, CityLease | None]:
    """Open this desk on the demo city: run the city, or join the desk that runs it.

    Without a database the desk runs the city alone and records nothing. On SQLite it runs
    the city and records it (a single desk). On PostgreSQL the first desk takes the
    database's city lease and runs the city; a desk that finds the lease taken joins that
    city as a :class:`~heartops.live.SharedDesk`.

    Returns
    -------
    tuple
        The desk's session, and the city lease it holds (release it after closing).
    """
    from heartops.live import DEFAULT_DESK, DEFAULT_OPERATOR, LiveSession, SharedDesk

    operator = operator or DEFAULT_OPERATOR
    if db_url is None:
        session = LiveSession.demo(speed=speed, desk=desk or DEFAULT_DESK, operator=operator,
                                   volume=volume)
        warm_up(session, warmup_minutes)
        return session, None
    from heartops.store import open_store
    from heartops.store.listen import supports_notifications, try_city_lease

    store = open_store(db_url)
    lease = None
    if supports_notifications(db_url):
        lease = try_city_lease(db_url)
        if lease is None:
            return SharedDesk.demo(store, desk=desk or f"desk-{os.getpid()}",
                                   operator=operator), None
    try:
        session = LiveSession.demo(speed=speed, store=store, desk=desk or DEFAULT_DESK,
                                   operator=operator, volume=volume)
        warm_up(session, warmup_minutes)
    except BaseException:
        if lease is not None:
            lease.release()  # let another desk run the city
        raise
    return session, lease


def _open_on_the_queue(window: MainWindow) -> None:
    """Select the head of the queue (its ranking and route show), if a call is waiting."""
    board = window.board
    if board is None:
        return
    rows = board.queue.model.rows
    if rows:
        board.select_call(rows[0].call_id)


def _icon_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("heartops") / "resources" / "icons" / "heartops.svg"))


def _report_first_paint(window: MainWindow) -> None:
    """Say how long the desk took from launch to a painted map (the bundle's start-up goal)."""
    window.map_view.grab()  # the map has been rendered once, whatever the platform
    age = seconds_since_launch()
    if age is not None:
        print(f"first map painted {age:.2f} s after launch", file=sys.stderr)


def seconds_since_launch() -> float | None:
    """Return how long ago this process started (Linux ``/proc``), or ``None`` elsewhere."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _display_available() -> bool:
    """Whether a window can be shown (always on Windows/macOS; on Linux, X11 or Wayland)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _finish(app: Any, window: MainWindow, screenshot: str | None) -> None:
    if screenshot:
        path = Path(screenshot)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(path)):
            raise OSError(f"could not write the screenshot {path}")
        print(f"screenshot saved to {path}", file=sys.stderr)
    window.close()
    app.quit()


@contextmanager
def _recording_exceptions() -> Iterator[list[BaseException]]:
    """Record exceptions that reach ``sys.excepthook`` (PySide reports slot errors there)."""
    errors: list[BaseException] = []
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException,
             traceback: TracebackType | None) -> None:
        errors.append(value)
        previous(kind, value, traceback)  # still print the traceback

    sys.excepthook = hook
    try:
        yield errors
    finally:
        sys.excepthook = previous
