"""The shift simulator: synthetic history and a live feed, calibrated to HEART's published figures.

Usage::

    network = load_network("demo")
    engine = TravelTimeEngine(network)
    profile = load_profile()
    roster = default_roster(load_posts("demo"), profile)
    history = HistoryCollector()
    sim = Simulator(engine, roster, profile, seed=7, start=start, sink=history,
                    zones=ZoneIndex.from_layer("demo-beats"),
                    service_area=ZoneIndex.from_layer("demo-service-area"))
    sim.run_until(start + timedelta(days=365))   # history: fast, no AVL
    sim.step(timedelta(seconds=15))              # live: also AVL fixes every simulated second

The implementation lives in :mod:`heartops.feeds.sim` (``profile``: the calibration TOML;
``demand``: when, where and what calls arrive; ``roster``: teams and posts; ``motion``: drives
and AVL geometry; ``shift``: the event loop and the core dispatch policy; ``sinks``: the sink
protocol and the in-memory collector). This module is the stable import path.
"""

from __future__ import annotations

from heartops.core.avl import AvlFix
from heartops.feeds.sim.demand import StreamRates, solve_stream_rates
from heartops.feeds.sim.profile import SimProfile, load_profile
from heartops.feeds.sim.roster import Roster, default_roster
from heartops.feeds.sim.shift import SimulationClock, Simulator, ZoneLookup
from heartops.feeds.sim.sinks import (
    CallStepRecord,
    HistoryCollector,
    NullSink,
    ProgramFigures,
    SimulationSink,
    UnitStatusChange,
    calibration_lines,
    published_figures,
)

__all__ = [
    "AvlFix",
    "CallStepRecord",
    "HistoryCollector",
    "NullSink",
    "ProgramFigures",
    "Roster",
    "SimProfile",
    "SimulationClock",
    "SimulationSink",
    "Simulator",
    "StreamRates",
    "UnitStatusChange",
    "ZoneLookup",
    "calibration_lines",
    "default_roster",
    "load_profile",
    "published_figures",
    "solve_stream_rates",
]
