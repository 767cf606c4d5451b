"""Simulator benchmark: how long a year of history takes on the demo city.

Usage: ./run bench simulator [--days 365] [--seed 2025] [--json]

Goal: a year (about 25,000 served calls) in under 5 minutes on this 2-core machine. There is
no peer tool to run side by side, so it reports calls per second and the projected year.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time

from heartops.feeds.simulator import HistoryCollector, Simulator, default_roster, load_profile
from heartops.routing.demo_setup import demo_layer, ensure_demo
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import DEMO_NAME, load_network
from heartops.routing.posts import load_posts
from heartops.routing.zones import ZoneIndex


def main(argv: list[str] | None = None) -> int:
    """Run the simulator for --days and print the timing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    ensure_demo()
    engine = TravelTimeEngine(load_network(DEMO_NAME))
    profile = load_profile()
    sink = HistoryCollector()
    start = dt.datetime(2025, 1, 1, 5, tzinfo=dt.UTC)
    simulator = Simulator(engine, default_roster(load_posts(DEMO_NAME), profile), profile,
                          args.seed, start, sink=sink,
                          zones=ZoneIndex.from_layer(demo_layer(DEMO_NAME, "beats")),
                          service_area=ZoneIndex.from_layer(demo_layer(DEMO_NAME,
                                                                       "service-area")))
    started = time.perf_counter()
    simulator.run_until(start + dt.timedelta(days=args.days))
    seconds = time.perf_counter() - started
    calls = len(sink.received)
    result = {"days": args.days, "calls": calls, "seconds": seconds,
              "calls_per_s": calls / seconds, "projected_year_s": seconds * 365 / args.days}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.days:g} days: {calls:,} calls in {seconds:.1f} s "
              f"({result['calls_per_s']:.0f} calls/s; a year: {result['projected_year_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
