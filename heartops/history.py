"""Simulated history: run the shift simulator over days and write what happened to the store.

A use case that joins two adapters (the simulator in :mod:`heartops.feeds` and the store),
which may not import each other, so it lives beside the composition root.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from heartops.atomic import atomic_path
from heartops.core.calls import Call
from heartops.core.errors import HeartopsError
from heartops.core.progress import Progress, no_progress
from heartops.core.units import Unit
from heartops.feeds.simulator import HistoryCollector, Simulator, default_roster, load_profile
from heartops.routing.demo_setup import demo_layer
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import load_network
from heartops.routing.posts import load_posts
from heartops.routing.zones import ZoneIndex, list_zone_layers
from heartops.store import Store

DESK = "simulator"
OPERATOR = "heartops simulate"
SIMULATED_DAYS_PER_STEP = 7  # progress is reported once a simulated week


@dataclass(frozen=True)
class HistorySummary:
    """What a simulated history run wrote."""

    source: str
    calls: int
    closed: int
    safety_events: int
    follow_ups: int
    ledger_entries: int


def simulate_history(
    store: Store, *, network: str, days: float, seed: int, start: dt.datetime,
    progress: Progress = no_progress,
) -> HistorySummary:
    """Simulate ``days`` of shifts on ``network`` from ``start`` and store the history.

    Raises
    ------
    HeartopsError
        If the store already holds this run (same network, seed and start): a second copy
        would double every figure. Choose another seed or start, or another database.
    """
    source = f"simulator:{network}:seed{seed}:{start:%Y%m%dT%H%MZ}"
    if store.count_calls(source=source) > 0:
        raise HeartopsError(f"the database already holds simulated history {source!r}; "
                            "use another --seed or --start, or another --db")
    engine = TravelTimeEngine(load_network(network))
    profile = load_profile()
    roster = default_roster(load_posts(network), profile)
    if not roster.units:
        raise HeartopsError(f"network {network!r} has no staging posts to station teams at")
    sink = HistoryCollector()
    simulator = Simulator(engine, roster, profile, seed, start, sink=sink,
                          zones=_zone_index(network, "beats"),
                          service_area=_zone_index(network, "service-area"),
                          call_id_prefix=f"S{seed}-{start:%Y%m%d}-")
    end = start + dt.timedelta(days=days)
    step = dt.timedelta(days=SIMULATED_DAYS_PER_STEP)
    while simulator.now < end:
        simulator.run_until(min(simulator.now + step, end))
        progress(f"simulated to {simulator.now:%Y-%m-%d}: {len(sink.received):,} calls",
                 (simulator.now - start) / (end - start))
    return _write(store, sink, roster_units=roster.units, source=source, at=start,
                  progress=progress)


def _zone_index(network: str, kind: str) -> ZoneIndex | None:
    layer = demo_layer(network, kind)
    return ZoneIndex.from_layer(layer) if layer in {i.name for i in list_zone_layers()} else None


def _write(store: Store, sink: HistoryCollector, *, roster_units: Sequence[Unit],
           source: str, at: dt.datetime, progress: Progress) -> HistorySummary:
    known = {record.unit.unit_id for record in store.units()}
    store.add_units([u for u in roster_units if u.unit_id not in known], at=at, desk=DESK,
                    operator=OPERATOR)
    calls = _final_calls(sink)
    store.import_calls(calls, source=source, batch_size=1000, progress=progress,
                       desk=DESK, operator=OPERATOR)
    store.record_ledger(sink.ledger_entries)
    latest_tasks = list({task.task_id: task for task in sink.follow_ups}.values())
    events, tasks = store.import_history(safety_events=sink.safety_events,
                                         follow_ups=latest_tasks, source=source,
                                         desk=DESK, operator=OPERATOR)
    return HistorySummary(source=source, calls=len(calls), closed=len(sink.closed),
                          safety_events=events, follow_ups=tasks,
                          ledger_entries=len(sink.ledger_entries))


def _final_calls(sink: HistoryCollector) -> list[Call]:
    """Every call in its last known version, in the order the calls arrived."""
    latest = {call.call_id: call for call in sink.received}
    latest.update({call.call_id: call for call in sink.closed})
    return list(latest.values())


DEMO_HISTORY_DAYS = 28
DEMO_HISTORY_SEED = 2026
DEMO_HISTORY_FILE = "demo-history.sqlite"


def ensure_demo_history(*, progress: Progress = no_progress) -> Path:
    """Return the demo city's simulated history (four weeks before today), made once.

    The demo's Charts dock reads it when no database is given; it lives in the cache, written
    whole or not at all.
    """
    from heartops.paths import cache_dir
    from heartops.routing.demo_setup import ensure_demo
    from heartops.routing.network import DEMO_NAME
    from heartops.store import open_store

    path = cache_dir() / DEMO_HISTORY_FILE
    if path.exists():
        return path
    ensure_demo(progress=progress)
    today = dt.datetime.now(dt.UTC).replace(hour=5, minute=0, second=0, microsecond=0)
    with atomic_path(path) as building, open_store(f"sqlite:///{building}") as store:
        simulate_history(store, network=DEMO_NAME, days=DEMO_HISTORY_DAYS,
                         seed=DEMO_HISTORY_SEED,
                         start=today - dt.timedelta(days=DEMO_HISTORY_DAYS),
                         progress=progress)
    return path

