"""Board tick benchmark: one live update on the UI thread, end to end, next to the naive way.

Usage: ./run bench board_tick [--units 100] [--calls 200] [--repeat 30] [--seed 7] [--json]

The real main window (1280×800, offscreen) over the demo city holds N units and M open calls.
Each tick, every unit reports a new position (100 units reporting once a second) and a few
change status. One tick on the UI thread is:

* heartops  ``BoardController.step``: the core board applies the AVL batch and the status
            changes and re-evaluates every timer; the queue and unit tables announce only
            the rows that changed; the map moves its fixed marker items (one ``setData``);
            alerts and banner are refreshed
* naive     the same board update, then what a straightforward Qt board does: rebuild both
            tables (a ``QStandardItemModel`` cleared and refilled) and recreate every map
            marker and label as its own item

Then a full repaint of the window (``grab()``) after a tick, for both. Figures are the median
of --repeat ticks. Goals (issue #4): an update batch under 10 ms on the UI thread, a full map
redraw under 16 ms (``./run bench map`` times the map alone).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import (STACK.md)

from PySide6 import QtGui, QtWidgets

from heartops.core.avl import AvlFix
from heartops.core.board import (
    Board,
    BoardChange,
    RecommendationRequest,
    RecommendationResult,
)
from heartops.core.calls import Call, new_call
from heartops.core.clock import ManualClock
from heartops.core.codes import CodeTables, default_tables
from heartops.core.geo import GeoPoint
from heartops.core.recommend import Assignment, Recommendation
from heartops.core.safety import SafetyEvent
from heartops.core.units import UnitState
from heartops.feeds.simulator import default_roster, load_profile
from heartops.qt.main_window import MainWindow
from heartops.qt.map_view import CallMarker, UnitMarker
from heartops.routing.demo_setup import ensure_demo
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import DEMO_NAME, RoadNetwork, load_network
from heartops.routing.posts import load_posts

sys.path.insert(0, os.path.dirname(__file__))
from map import NaiveLayers
from map import main as map_main

SIZE = (1280, 800)
TICK_GOAL_MS = 10.0
REDRAW_GOAL_MS = 16.0
STATUS_CHANGES_PER_TICK = 5
START = datetime(2025, 6, 4, 14, 0, tzinfo=UTC)


class BenchDesk:
    """A desk whose world is N units wandering the road graph and M calls waiting.

    It satisfies the panels' ``SessionPort``; ``advance`` is one AVL batch of every unit plus a
    few status changes, applied to the core board as a live feed would.
    """

    speed = 1.0
    desk = "bench"
    operator = "bench"
    controls_time = True
    desk_mode = "benchmark"

    def __init__(self, network: RoadNetwork, engine: TravelTimeEngine, tables: CodeTables,
                 *, units: int, calls: int, seed: int) -> None:
        self.engine = engine
        self.tables = tables
        self._rng = random.Random(seed)
        self._network = network
        self._clock = ManualClock(START)
        self.board = Board(tables, self._clock)
        self._nodes = [self._rng.randrange(network.node_count) for _ in range(units)]
        roster = default_roster(load_posts(DEMO_NAME), load_profile()).units
        field_units = [u for u in roster if u.program != "CCD"]
        self._units = [dataclasses.replace(field_units[i % len(field_units)],
                                           unit_id=f"U-{i + 1:03d}") for i in range(units)]
        self._statuses = [s.code for s in tables.statuses.values()
                          if s.call.value == "none" and not s.emergency]
        states = [(unit, UnitState(unit.unit_id, self._statuses[0], START,
                                   position=self._point(node), last_avl_at=START))
                  for unit, node in zip(self._units, self._nodes, strict=True)]
        self.board.load(states, [self._call(i) for i in range(calls)])

    @property
    def now(self) -> datetime:
        return self._clock.now()

    def _point(self, node: int) -> GeoPoint:
        return GeoPoint(float(self._network.node_lat[node]), float(self._network.node_lon[node]))

    def _call(self, i: int) -> Call:
        types = list(self.tables.call_types)
        node = self._rng.randrange(self._network.node_count)
        return new_call(f"C-{i + 1:04d}", call_type=types[i % len(types)],
                        location=self._point(node),
                        received_at=START - timedelta(seconds=self._rng.randrange(3600)),
                        tables=self.tables)

    def _next_node(self, node: int) -> int:
        network = self._network
        targets = network.fwd_indices[network.fwd_indptr[node]:network.fwd_indptr[node + 1]]
        return int(self._rng.choice(list(targets))) if len(targets) else node

    def advance(self, wall_dt_s: float) -> BoardChange:
        """One second of the world: every unit reports a fix, a few change status."""
        now = self._clock.advance(seconds=1)
        self._nodes = [self._next_node(node) for node in self._nodes]
        fixes = [AvlFix(unit.unit_id, self._point(node), now, heading_deg=None)
                 for unit, node in zip(self._units, self._nodes, strict=True)]
        with self.board.batch() as batch:
            self.board.apply_fixes(fixes)
            for unit in self._rng.sample(self._units, STATUS_CHANGES_PER_TICK):
                held = self.board.state(unit.unit_id)
                status = self._rng.choice([s for s in self._statuses if s != held.status])
                self.board.apply_unit_state(dataclasses.replace(held, status=status,
                                                                since=now))
            self.board.tick()
        return batch.change

    # -- not used by the benchmark (the port's commands) ---------------------------------------

    def recommendation_request(self, call_id: str) -> RecommendationRequest:
        raise NotImplementedError

    def is_current(self, result: RecommendationResult) -> bool:
        return False

    def assign(self, unit_id: str, call_id: str, *, override_reason: str | None = None,
               recommendation: Recommendation | None = None) -> Assignment:
        raise NotImplementedError

    def set_status(self, unit_id: str, status: str) -> UnitState:
        raise NotImplementedError

    def add_note(self, call_id: str, text: str) -> Call:
        raise NotImplementedError

    def close_call(self, call_id: str, dispositions: Collection[str],
                   destination: str | None = None) -> Call:
        raise NotImplementedError

    def check_in(self, unit_id: str) -> SafetyEvent:
        raise NotImplementedError

    def acknowledge(self, alert_key: str, *, note: str = "") -> BoardChange:
        raise NotImplementedError


class NaiveBoard:
    """The straightforward Qt board: tables rebuilt and map markers recreated every tick."""

    def __init__(self, window: MainWindow, desk: BenchDesk) -> None:
        self.desk = desk
        self.window = window
        self.queue = QtGui.QStandardItemModel()
        self.units = QtGui.QStandardItemModel()
        board = window.board
        assert board is not None
        board.queue.view.setModel(self.queue)  # the same views show the naive models
        board.units.view.setModel(self.units)
        self.layers = NaiveLayers(window.map_view, desk.tables)

    def tick(self) -> None:
        """Advance the desk, then rebuild every table row and map item."""
        desk = self.desk
        desk.advance(1.0)
        at = desk.now
        board = desk.board
        queue_rows = board.queue(at)
        unit_rows = board.unit_rows(at)
        self.queue.clear()
        for r in queue_rows:
            self.queue.appendRow([QtGui.QStandardItem(text) for text in (
                r.priority.value, r.call_id, r.call.call_type,
                ",".join(r.eligible_programs), r.call.zone_id or "", f"{r.age_s / 60:.0f}m")])
        self.units.clear()
        for u in unit_rows:
            self.units.appendRow([QtGui.QStandardItem(text) for text in (
                u.unit_id, u.status.label, f"{u.time_in_status_s / 60:.0f}m", u.unit.program,
                u.call_id or "", u.zone_id or "")])
        board.alerts(at)
        self.layers.set_units([UnitMarker(u.unit_id, u.position.lat, u.position.lon, None,
                                          u.status.code, u.unit_id, u.avl_stale)
                               for u in unit_rows if u.position is not None])
        self.layers.set_calls([CallMarker(r.call_id, r.call.location.lat,
                                          r.call.location.lon, r.priority.value, r.age_s,
                                          False, r.call.call_type) for r in queue_rows])


def timed(function: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``function`` in milliseconds (one warm-up call first)."""
    function()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Time both ways; return the figures."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    ensure_demo()
    network = load_network(DEMO_NAME)
    engine = TravelTimeEngine(network)
    tables = default_tables()
    desk = BenchDesk(network, engine, tables, units=args.units, calls=args.calls,
                     seed=args.seed)
    window = MainWindow(network=network, engine=engine, session=desk, start_live=False,
                        city_name="Demo city")
    window.resize(*SIZE)
    window.show()
    app.processEvents()
    board = window.board
    assert board is not None
    results: dict[str, Any] = {"units": args.units, "calls": args.calls,
                               "repeat": args.repeat, "size": list(SIZE)}

    def heartops_tick() -> None:
        board.step(1.0)

    def heartops_tick_and_paint() -> None:
        board.step(1.0)
        window.grab()

    results["tick_heartops_ms"] = timed(heartops_tick, args.repeat)
    results["tick_paint_heartops_ms"] = timed(heartops_tick_and_paint, args.repeat)
    results["paint_heartops_ms"] = results["tick_paint_heartops_ms"] - results["tick_heartops_ms"]
    results["map_redraw_heartops_ms"] = timed(window.map_view.grab, args.repeat)

    board.close()  # the naive board takes over the same window
    window.map_view.set_units([])
    window.map_view.set_calls([])
    naive = NaiveBoard(window, desk)

    def naive_tick_and_paint() -> None:
        naive.tick()
        window.grab()

    results["tick_naive_ms"] = timed(naive.tick, args.repeat)
    results["tick_paint_naive_ms"] = timed(naive_tick_and_paint, args.repeat)
    results["paint_naive_ms"] = results["tick_paint_naive_ms"] - results["tick_naive_ms"]
    results["map_redraw_naive_ms"] = timed(window.map_view.grab, args.repeat)
    results["tick_ratio"] = results["tick_naive_ms"] / results["tick_heartops_ms"]
    results["tick_paint_ratio"] = (results["tick_paint_naive_ms"]
                                   / results["tick_paint_heartops_ms"])
    naive.layers.clear()
    window.close()
    window.deleteLater()
    app.processEvents()
    return results


def print_table(r: dict[str, Any]) -> None:
    """Print the figures as a table."""
    print(f"board tick benchmark: demo city, {r['units']} units reporting every tick, "
          f"{r['calls']} open calls, {STATUS_CHANGES_PER_TICK} status changes per tick, "
          f"{r['size'][0]}×{r['size'][1]} window, median of {r['repeat']}")
    print(f"{'':34}{'heartops':>10}{'naive':>10}{'ratio':>9}{'goal':>9}")
    print(f"{'one tick on the UI thread ms':34}{r['tick_heartops_ms']:10.2f}"
          f"{r['tick_naive_ms']:10.2f}{r['tick_ratio']:8.1f}×"
          f"{'< ' + format(TICK_GOAL_MS, 'g'):>9}")
    print(f"{'window repaint after a tick ms':34}{r['paint_heartops_ms']:10.2f}"
          f"{r['paint_naive_ms']:10.2f}")
    print(f"{'tick + repaint ms':34}{r['tick_paint_heartops_ms']:10.2f}"
          f"{r['tick_paint_naive_ms']:10.2f}{r['tick_paint_ratio']:8.1f}×")
    print(f"{'map redraw alone ms':34}{r['map_redraw_heartops_ms']:10.2f}"
          f"{r['map_redraw_naive_ms']:10.2f}{'':9}{'< ' + format(REDRAW_GOAL_MS, 'g'):>9}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line (options as ``./run bench map``)."""
    return map_main(argv, run=run, print_table=print_table, doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
