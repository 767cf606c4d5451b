"""Map benchmark: heartops' live layers side by side with the naive one-item-per-marker way.

Usage: ./run bench map [--units 100] [--calls 200] [--repeat 30] [--seed 7] [--json]

On the demo city (roads, beats, districts, posts: what the app shows), in a 1280×800 map
rendered offscreen, with N units and M open calls on random road nodes, it times (median of
--repeat runs):

* avl batch   ``set_units`` with every unit moved (new positions and headings, a few status
              changes): heartops = one ``setData`` per fixed item; naive = remove every unit's
              marker, label and heading items and create new ones (one projection per unit)
* redraw      a full repaint of the map (``view.grab()``): the base map alone, then with the
              live layers of each way. heartops labels only what matters at city zoom; the
              "all labels" row forces every label on (decluttered), the naive way draws every
              label as its own ``TextItem``
* cycle       an AVL batch followed by a repaint: what one update costs the UI thread in
              all (heartops lays its labels out again on the first paint after a change)

Goals (ARCHITECTURE.md, "The live map"): an AVL batch under 10 ms on the UI thread, a redraw
under 16 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import (STACK.md)

import numpy as np
from PySide6 import QtWidgets

# isort: split
import pyqtgraph as pg

from heartops.core.codes import CodeTables, default_tables
from heartops.qt.map_layers import (
    LABELS_ALL_BELOW_M_PER_PX,
    Z_CALLS,
    Z_LIVE_LABELS,
    Z_UNITS,
    call_label,
    shape_symbol,
    unit_label,
)
from heartops.qt.map_view import CallMarker, MapView, UnitMarker
from heartops.routing.demo_setup import demo_layer, ensure_demo
from heartops.routing.network import DEMO_NAME, RoadNetwork, load_network
from heartops.routing.posts import load_posts
from heartops.routing.zones import load_zone_layer

SIZE = (1280, 800)
AVL_GOAL_MS = 10.0
REDRAW_GOAL_MS = 16.0
_STEP_DEG = 0.0004  # about 40 m: a unit's move between two AVL batches


def timed(function: Callable[[], Any], repeat: int, *, between: Callable[[], Any] | None = None
          ) -> float:
    """Return the median wall time of ``repeat`` runs of ``function`` in milliseconds."""
    times = []
    for _ in range(repeat):
        if between is not None:
            between()
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


# -- scenario ----------------------------------------------------------------------------------


class Scenario:
    """Random units and calls on road nodes; ``step()`` moves every unit (an AVL batch)."""

    def __init__(self, network: RoadNetwork, tables: CodeTables, *, units: int, calls: int,
                 seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.codes = [code for code, status in tables.statuses.items() if not status.flashing]
        self.emergency = next(code for code, status in tables.statuses.items()
                              if status.flashing)
        nodes = self.rng.choice(network.node_count, units + calls, replace=False)
        self.lat = network.node_lat[nodes[:units]].astype(float)
        self.lon = network.node_lon[nodes[:units]].astype(float)
        self.heading = self.rng.uniform(0, 360, units)
        self.status = [self.codes[i % len(self.codes)] for i in range(units)]
        self.status[0] = self.emergency  # one unit in emergency: the blink timer runs
        self.stale = self.rng.random(units) < 0.05
        self.calls = [
            CallMarker(f"C{24_000 + i}", float(network.node_lat[node]),
                       float(network.node_lon[node]), "P123"[i % 4],
                       float(self.rng.uniform(0, 5400)), bool(i % 3), "Welfare check")
            for i, node in enumerate(nodes[units:])]

    def step(self) -> None:
        """Move every unit about 40 m along a slowly turning heading; 5 % change status."""
        self.heading = (self.heading + self.rng.normal(0, 20, self.heading.size)) % 360
        radians = np.radians(self.heading)
        self.lat = self.lat + _STEP_DEG * np.cos(radians)
        self.lon = self.lon + _STEP_DEG * np.sin(radians) / math.cos(math.radians(36.0))
        for i in np.flatnonzero(self.rng.random(len(self.status)) < 0.05).tolist():
            if i != 0:
                self.status[i] = self.codes[int(self.rng.integers(len(self.codes)))]

    def units(self) -> list[UnitMarker]:
        """The current positions as map markers."""
        return [UnitMarker(f"u{i}", float(self.lat[i]), float(self.lon[i]),
                           None if self.stale[i] else float(self.heading[i]), self.status[i],
                           f"HEART {i + 1}", stale=bool(self.stale[i]))
                for i in range(len(self.status))]


# -- the naive way -----------------------------------------------------------------------------


class NaiveLayers:
    """One pyqtgraph item per marker, label and heading tick, all recreated on every update."""

    def __init__(self, view: MapView, tables: CodeTables) -> None:
        self.view = view
        self.tables = tables
        self.unit_items: list[Any] = []
        self.call_items: list[Any] = []

    def _replace(self, old: list[Any], new: list[Any]) -> list[Any]:
        box = self.view.view_box
        for item in old:
            box.removeItem(item)
        for item in new:
            box.addItem(item, ignoreBounds=True)
        return new

    def set_units(self, units: Sequence[UnitMarker]) -> None:
        """Recreate every unit's marker, heading tick and label."""
        pal = self.view.palette_colors
        pixel = self.view.view_box.viewPixelSize()[0]
        items: list[Any] = []
        for unit in units:
            status = self.tables.statuses[unit.status_code]
            x, y = self.view.to_xy(unit.lat, unit.lon)
            marker = pg.ScatterPlotItem([x], [y], symbol=shape_symbol(status.shape), size=15,
                                        pen=pg.mkPen(pal.marker_outline),
                                        brush=pg.mkBrush(status.colour))
            marker.setZValue(Z_UNITS)
            items.append(marker)
            if unit.heading_deg is not None:
                angle = math.radians(unit.heading_deg)
                tick = pg.PlotCurveItem([x, x + 18 * pixel * math.sin(angle)],
                                        [y, y + 18 * pixel * math.cos(angle)],
                                        pen=pg.mkPen(pal.heading, width=1.5))
                tick.setZValue(Z_UNITS - 1)
                items.append(tick)
            items.append(_text(unit_label(unit, status), x, y, pal.live_label_text))
        self.unit_items = self._replace(self.unit_items, items)

    def set_calls(self, calls: Sequence[CallMarker]) -> None:
        """Recreate every call's marker and label."""
        pal = self.view.palette_colors
        items: list[Any] = []
        for call in calls:
            x, y = self.view.to_xy(call.lat, call.lon)
            marker = pg.ScatterPlotItem([x], [y], symbol="s", size=14,
                                        pen=pg.mkPen(pal.marker_outline, width=1 if call.assigned
                                                     else 2),
                                        brush=pg.mkBrush(pal.priority_fill[call.priority]))
            marker.setZValue(Z_CALLS)
            items.append(marker)
            items.append(_text(call_label(call), x, y, pal.priority_fill[call.priority]))
        self.call_items = self._replace(self.call_items, items)

    def clear(self) -> None:
        """Remove every item."""
        self.unit_items = self._replace(self.unit_items, [])
        self.call_items = self._replace(self.call_items, [])


def _text(text: str, x: float, y: float, colour: str) -> pg.TextItem:
    label = pg.TextItem(text, color=colour, anchor=(-0.15, 0.5))
    label.setPos(x, y)
    label.setZValue(Z_LIVE_LABELS)
    return label


# -- runs --------------------------------------------------------------------------------------


def build_view(network: RoadNetwork) -> MapView:
    """The app's map of the demo city, shown at 1280×800."""
    view = MapView()
    view.set_network(network)
    view.set_zones(load_zone_layer(demo_layer(DEMO_NAME, "beats")),
                   load_zone_layer(demo_layer(DEMO_NAME, "districts")))
    view.set_posts(load_posts(DEMO_NAME))
    view.resize(*SIZE)
    view.show()
    QtWidgets.QApplication.processEvents()
    view.zoom_to_city()
    return view


def scene_items(view: MapView) -> int:
    """Number of graphics items in the map's scene."""
    return len(view.scene().items())


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Time both ways; return the figures."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    ensure_demo()
    network = load_network(DEMO_NAME)
    tables = default_tables()
    view = build_view(network)
    scenario = Scenario(network, tables, units=args.units, calls=args.calls, seed=args.seed)
    process = app.processEvents
    grab = view.grab
    results: dict[str, Any] = {"units": args.units, "calls": args.calls,
                               "repeat": args.repeat, "size": list(SIZE),
                               "road_segments": int(sum(item.xData.size // 2
                                                        for item in view.road_items.values()))}

    grab()
    results["redraw_base_ms"] = timed(grab, args.repeat)
    items_base = scene_items(view)

    # heartops
    view.set_calls(scenario.calls)
    view.set_units(scenario.units())
    process()

    def heartops_batch() -> None:
        view.set_units(scenario.units())

    def next_batch() -> None:
        process()  # the previous batch's repaint is not part of the batch
        scenario.step()

    results["avl_heartops_ms"] = timed(heartops_batch, args.repeat, between=next_batch)
    process()
    grab()
    results["redraw_heartops_ms"] = timed(grab, args.repeat)
    results["labels_heartops"] = len(view.live.label_item.placed())
    view.live.label_item.show_all_below_m_per_px = math.inf
    grab()
    results["redraw_heartops_all_labels_ms"] = timed(grab, args.repeat)
    results["labels_heartops_all"] = len(view.live.label_item.placed())

    def heartops_cycle() -> None:
        view.set_units(scenario.units())
        grab()

    results["cycle_heartops_all_labels_ms"] = timed(heartops_cycle, args.repeat,
                                                    between=scenario.step)
    view.live.label_item.show_all_below_m_per_px = LABELS_ALL_BELOW_M_PER_PX
    results["cycle_heartops_ms"] = timed(heartops_cycle, args.repeat, between=scenario.step)
    results["items_heartops"] = scene_items(view) - items_base
    results["items_heartops_fixed"] = len(view.live.items)
    results["flash_timer_active"] = view.flash_timer.isActive()
    view.set_units([])
    view.set_calls([])
    process()

    # naive
    naive = NaiveLayers(view, tables)
    naive.set_calls(scenario.calls)
    naive.set_units(scenario.units())
    process()

    def naive_batch() -> None:
        naive.set_units(scenario.units())

    results["avl_naive_ms"] = timed(naive_batch, args.repeat, between=next_batch)
    process()
    grab()
    results["redraw_naive_ms"] = timed(grab, args.repeat)

    def naive_cycle() -> None:
        naive.set_units(scenario.units())
        grab()

    results["cycle_naive_ms"] = timed(naive_cycle, args.repeat, between=scenario.step)
    results["items_naive"] = scene_items(view) - items_base
    naive.clear()
    process()

    results["avl_ratio"] = results["avl_naive_ms"] / results["avl_heartops_ms"]
    live_heartops = max(results["redraw_heartops_ms"] - results["redraw_base_ms"], 1e-3)
    live_all = max(results["redraw_heartops_all_labels_ms"] - results["redraw_base_ms"], 1e-3)
    live_naive = max(results["redraw_naive_ms"] - results["redraw_base_ms"], 1e-3)
    results["redraw_ratio"] = results["redraw_naive_ms"] / results["redraw_heartops_ms"]
    results["redraw_live_part_ratio"] = live_naive / live_heartops
    results["redraw_live_part_ratio_all_labels"] = live_naive / live_all
    view.close()
    view.deleteLater()
    process()
    return results


def print_table(r: dict[str, Any]) -> None:
    """Print the figures as a table."""
    print(f"map benchmark: demo city ({r['road_segments']:,} road segments), "
          f"{r['units']} units, {r['calls']} open calls, {r['size'][0]}×{r['size'][1]}, "
          f"median of {r['repeat']}")
    print(f"{'':30}{'heartops':>12}{'naive':>12}{'ratio':>9}{'goal':>10}")
    print(f"{'AVL batch (set_units) ms':30}{r['avl_heartops_ms']:12.2f}{r['avl_naive_ms']:12.2f}"
          f"{r['avl_ratio']:8.1f}×{'< ' + format(AVL_GOAL_MS, 'g'):>10}")
    print(f"{'redraw, grab() ms':30}{r['redraw_heartops_ms']:12.2f}{r['redraw_naive_ms']:12.2f}"
          f"{r['redraw_ratio']:8.1f}×{'< ' + format(REDRAW_GOAL_MS, 'g'):>10}")
    print(f"{'  of which live layers ms':30}"
          f"{r['redraw_heartops_ms'] - r['redraw_base_ms']:12.2f}"
          f"{r['redraw_naive_ms'] - r['redraw_base_ms']:12.2f}"
          f"{r['redraw_live_part_ratio']:8.1f}×")
    print(f"{'redraw, every label on ms':30}{r['redraw_heartops_all_labels_ms']:12.2f}"
          f"{r['redraw_naive_ms']:12.2f}"
          f"{r['redraw_naive_ms'] / r['redraw_heartops_all_labels_ms']:8.1f}×")
    print(f"{'batch + repaint ms':30}{r['cycle_heartops_ms']:12.2f}{r['cycle_naive_ms']:12.2f}"
          f"{r['cycle_naive_ms'] / r['cycle_heartops_ms']:8.1f}×")
    print(f"{'batch + repaint, all labels ms':30}{r['cycle_heartops_all_labels_ms']:12.2f}"
          f"{r['cycle_naive_ms']:12.2f}"
          f"{r['cycle_naive_ms'] / r['cycle_heartops_all_labels_ms']:8.1f}×")
    print(f"{'base map alone ms':30}{r['redraw_base_ms']:12.2f}")
    print(f"{'scene items added by markers':30}{r['items_heartops']:12d}{r['items_naive']:12d}"
          f"   (heartops: {r['items_heartops_fixed']} fixed items, there from the start)")
    print(f"labels drawn by heartops: {r['labels_heartops']} at city zoom, "
          f"{r['labels_heartops_all']} with every label on (the rest overlap and are dropped); "
          f"naive: all {r['units'] + r['calls']}")


def main(argv: list[str] | None = None, *,
         run: Callable[[argparse.Namespace], dict[str, Any]] = run,
         print_table: Callable[[dict[str, Any]], None] = print_table,
         doc: str = __doc__) -> int:
    """Run the benchmark from the command line (the board tick benchmark takes the same)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
