"""The ``heartops`` command line.

Headless commands import only what they use, and never Qt, so ``heartops --help`` and the
network, zone and metric commands start fast and run on machines without a display.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from heartops import __version__
from heartops.core.errors import HeartopsError
from heartops.core.geo import GeoPoint
from heartops.core.progress import ConsoleProgress

if TYPE_CHECKING:  # annotations only: headless commands import their modules lazily
    from heartops.analysis.coverage import CoveragePlanner
    from heartops.analysis.demand_grid import ExpectedDemand
    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.posts import Post

log = logging.getLogger("heartops")

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="heartops",
        description="Operations and dispatch desktop GIS for alternative crisis response.",
    )
    parser.add_argument("--version", action="version", version=f"heartops {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the app on the built-in demo city")
    demo.add_argument("--offscreen", action="store_true", help="run without a display")
    demo.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                      help="quit after this many seconds")
    demo.add_argument("--screenshot", default=None, metavar="FILE.png",
                      help="save a screenshot of the window before quitting")
    demo.add_argument("--db", default=None, metavar="URL",
                      help="record the shift in this database (default: $HEARTOPS_DB_URL, else "
                           "nothing is recorded); on PostgreSQL the first desk runs the city "
                           "and every further desk joins it")
    demo.add_argument("--desk", default=None, metavar="NAME",
                      help="this desk's name in the audit log (default: desk-1 for the desk "
                           "running the city, desk-PID for a joining desk)")
    demo.add_argument("--operator", default=None, metavar="NAME",
                      help="who is signed in at this desk (default: dispatcher)")
    demo.add_argument("--volume", type=_positive_float, default=1.0, metavar="X",
                      help="calls at X times the city's volume (default 1, the real one; "
                           "3 makes a busy shift)")
    demo.set_defaults(handler=_demo)

    _add_network_commands(commands)
    _add_zone_commands(commands)
    _add_avl_commands(commands)
    _add_db_commands(commands)
    _add_calls_commands(commands)
    _add_export_commands(commands)
    _add_analysis_commands(commands)
    _add_coverage_commands(commands)

    simulate = commands.add_parser("simulate", help="generate history with the shift simulator")
    simulate.add_argument("--network", default="demo", metavar="NAME")
    simulate.add_argument("--days", type=float, default=30.0)
    simulate.add_argument("--seed", type=int, default=2026)
    simulate.add_argument("--start", default=None, metavar="YYYY-MM-DD",
                          help="first simulated day, 05:00 UTC (default: DAYS before today)")
    add_db_option(simulate)
    simulate.set_defaults(handler=_simulate)

    route = commands.add_parser("route", help="drive time and distance between two points")
    route.add_argument("origin", metavar="LAT,LON")
    route.add_argument("destination", metavar="LAT,LON")
    route.add_argument("--network", default="demo", metavar="NAME")
    route.add_argument("--json", action="store_true", help="print JSON")
    route.set_defaults(handler=_route)
    return parser


def _add_network_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    network = commands.add_parser("network", help="build and inspect road networks")
    sub = network.add_subparsers(dest="network_command", metavar="ACTION", required=True)
    build = sub.add_parser(
        "build", help="build a road network from OSM",
        description="SOURCE is 'demo' (the built-in synthetic city), an .osm, .osm.bz2, "
                    ".osm.pbf or .graphml file, or a place name (needs the internet).")
    build.add_argument("source", metavar="SOURCE")
    build.add_argument("--name", default=None, help="cache name (default: from the source)")
    build.add_argument("--speed-rule", choices=["us-default", "osmnx"], default="us-default",
                       help="speeds of roads without a maxspeed tag (default: US table)")
    build.set_defaults(handler=_network_build)
    sub.add_parser("list", help="list built networks").set_defaults(handler=_network_list)
    info = sub.add_parser("info", help="show facts about one network")
    info.add_argument("name")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_network_info)


def _add_zone_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    zones = commands.add_parser("zones", help="import and list zone layers (beats, districts)")
    sub = zones.add_subparsers(dest="zones_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="import polygons from GeoJSON, GeoPackage or shapefile")
    imp.add_argument("file")
    imp.add_argument("--layer", required=True, help="name to store the zones under")
    imp.add_argument("--id-field", default=None, help="field holding the zone id")
    imp.add_argument("--group-field", default=None, help="field holding the zone's group")
    imp.add_argument("--source-layer", default=None, help="layer to read from a GeoPackage")
    imp.add_argument("--where", default=None, metavar="SQL",
                     help="keep only matching features, e.g. \"addresstype = 'city'\"")
    imp.set_defaults(handler=_zones_import)
    sub.add_parser("list", help="list imported zone layers").set_defaults(handler=_zones_list)


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """Add the ``--db URL`` option every command that reads or writes the store takes."""
    parser.add_argument("--db", default=None, metavar="URL",
                        help="database URL or SQLite file (default: $HEARTOPS_DB_URL, else the "
                             "user's own SQLite database)")


def _add_db_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="the dispatch database")
    sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="create or upgrade the database and show what it holds")
    add_db_option(info)
    info.set_defaults(handler=_db_info)


def _db_info(args: argparse.Namespace) -> int:
    from heartops.store import open_store
    from heartops.store.engine import safe_url

    with open_store(args.db) as store:
        print(f"database: {safe_url(store.url)} ({store.dialect})")
        print(f"units: {len(store.units())}, calls: {store.count_calls()}, "
              f"open calls: {len(store.open_calls())}, last change: {store.current_change_id()}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import datetime as dt

    from heartops.history import simulate_history
    from heartops.routing.network import DEMO_NAME
    from heartops.store import open_store

    if not 0 < args.days <= 3660:
        raise HeartopsError(f"--days must be between 0 and 3660, got {args.days:g}")
    if args.start:
        try:
            day = dt.date.fromisoformat(args.start)
        except ValueError:
            raise HeartopsError(f"bad --start {args.start!r}: expected YYYY-MM-DD") from None
    else:
        day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=int(args.days))
    start = dt.datetime(day.year, day.month, day.day, 5, tzinfo=dt.UTC)
    progress = ConsoleProgress()
    if args.network == DEMO_NAME:
        from heartops.routing.demo_setup import ensure_demo

        ensure_demo(progress=progress)
    with open_store(args.db) as store:
        summary = simulate_history(store, network=args.network, days=args.days,
                                   seed=args.seed, start=start, progress=progress)
    print(f"simulated {args.days:g} days from {start:%Y-%m-%d} on {args.network!r}: "
          f"{summary.calls:,} calls ({summary.closed:,} closed), "
          f"{summary.safety_events:,} safety events, {summary.follow_ups:,} follow-ups, "
          f"{summary.ledger_entries:,} ledger entries -> {summary.source}")
    return 0


def _add_calls_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    calls = commands.add_parser("calls", help="import and export calls (CAD CSV, NENA EIDO)")
    sub = calls.add_subparsers(dest="calls_command", metavar="ACTION", required=True)
    imp = sub.add_parser(
        "import", help="import calls from a CAD CSV (with a column mapping) or EIDO JSON",
        description="Good rows are imported, bad rows rejected with their row number and "
                    "reason. Each batch of 1,000 calls is one transaction; re-running an "
                    "interrupted import adds exactly what is missing.")
    imp.add_argument("file")
    imp.add_argument("--mapping", default=None, metavar="MAP",
                     help="column mapping: a built-in name (seattle_spd_dispatch, "
                          "seattle_spd_calls, sf_fire) or a TOML file; not needed for EIDO")
    imp.add_argument("--eido", action="store_true", help="the file is NENA EIDO JSON")
    add_db_option(imp)
    imp.set_defaults(handler=_calls_import)
    exp = sub.add_parser("export", help="export calls as NENA EIDO JSON")
    exp.add_argument("--out", required=True, metavar="FILE.json")
    exp.add_argument("--source", default=None, help="only calls imported from this source")
    add_db_option(exp)
    exp.set_defaults(handler=_calls_export)


def _calls_import(args: argparse.Namespace) -> int:
    from heartops.store import open_store

    if args.eido or (args.mapping is None and args.file.lower().endswith(".json")):
        from heartops.feeds.eido import read_eido

        result = read_eido(args.file)
        with open_store(args.db) as store:
            imported = store.import_calls(result.calls, source=f"eido:{Path(args.file).name}",
                                          progress=ConsoleProgress())
        print(f"{args.file}: {result.read} EIDOs read; accepted {len(result.calls)}, "
              f"rejected {len(result.rejected)}; {imported.inserted} new calls stored, "
              f"{imported.skipped_existing} already there")
        for rejected in result.rejected[:5]:
            print(f"  EIDO {rejected.number}: {rejected.reason}")
        return 0
    if args.mapping is None:
        raise HeartopsError(f"{args.file}: a CSV import needs --mapping MAP "
                            "(seattle_spd_dispatch, seattle_spd_calls, sf_fire or a TOML file)")
    from heartops.feeds.cad_csv import CsvCallReader, summary_lines

    progress = ConsoleProgress()
    with open_store(args.db) as store, \
            CsvCallReader(args.file, args.mapping, progress=progress) as reader:
        imported = store.import_calls(reader, source=reader.source, progress=progress)
    for line in summary_lines(reader):
        print(line)
    print(f"{imported.inserted} new calls stored, {imported.skipped_existing} already there "
          f"({imported.batches} batches)")
    return 0


def _calls_export(args: argparse.Namespace) -> int:
    from heartops.feeds.eido import write_eido
    from heartops.store import open_store

    with open_store(args.db) as store:
        calls = store.calls(source=args.source)
    path = write_eido(calls, args.out)
    print(f"{len(calls)} calls written to {path} as NENA EIDO JSON")
    return 0


# -- analysis (metrics, demand) ------------------------------------------------------------------


def _add_analysis_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]
                           ) -> None:
    metrics = commands.add_parser(
        "metrics", help="the published metrics per program (and zone, district, hour of week)",
        description="Calls, minutes to scene / on scene / total (mean, median, 90th "
                    "percentile), % transport, % PD backup, % EMS per program; Care "
                    "Navigation figures and the unmet-demand ledger. The table shows the "
                    "published columns; csv and json add medians and 90th percentiles.")
    metrics.add_argument("--by", default="program", metavar="KEYS",
                         help="comma-separated: program, zone, district, hour, call_type "
                              "(default: program)")
    metrics.add_argument("--zone-layer", default=None, metavar="LAYER",
                         help="zone layer whose groups are the districts (for --by district)")
    metrics.add_argument("--all-calls", action="store_true",
                         help="also show calls no HEART program answered, as program 'other'")
    demand = commands.add_parser(
        "demand", help="eligible demand: which calls HEART could take, share served, "
                       "police hours",
        description="Screens every call with the live eligibility rules at the time it was "
                    "received. Reads FILE (a CAD CSV, with --mapping) or, without FILE, the "
                    "calls in the database.")
    demand.add_argument("file", nargs="?", default=None, metavar="FILE")
    demand.add_argument("--mapping", default=None, metavar="MAP",
                        help="column mapping of FILE (as for heartops calls import)")
    demand.add_argument("--by", default="zone", metavar="KEYS",
                        help="comma-separated: zone, hour, call_type (default: zone)")
    demand.add_argument("--service-area", default=None, metavar="LAYER",
                        help="zone layer of the service area (default: everywhere)")
    demand.add_argument("--timezone", default=None, metavar="ZONE",
                        help="time zone of the hour of week (default: the city's)")
    for parser, handler in ((metrics, _metrics), (demand, _demand)):
        parser.add_argument("--from", dest="date_from", default=None, metavar="YYYY-MM-DD",
                            help="first day of calls received (local date)")
        parser.add_argument("--to", dest="date_to", default=None, metavar="YYYY-MM-DD",
                            help="last day of calls received, included (local date)")
        parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
        add_db_option(parser)
        parser.set_defaults(handler=handler)


def _analysis_keys(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _metrics(args: argparse.Namespace) -> int:
    from heartops.analysis.frames import Window
    from heartops.analysis.metrics import compute_metrics
    from heartops.analysis.output import render
    from heartops.store import open_store

    groups = None
    if args.zone_layer:
        from heartops.routing.zones import ZoneIndex

        index = ZoneIndex.from_layer(args.zone_layer)
        groups = {zone: index.group_of(zone) for zone in index.zone_ids}
    try:
        window = Window.from_dates(args.date_from, args.date_to)
    except ValueError as exc:
        raise HeartopsError(f"--from/--to: {exc}") from None
    with open_store(args.db) as store:
        try:
            report = compute_metrics(store, by=_analysis_keys(args.by), window=window,
                                     include_other=args.all_calls, zone_groups=groups)
        except ValueError as exc:
            raise HeartopsError(f"metrics: {exc}") from None
    if not report.groups and args.format == "table":
        print("no calls answered by a HEART program in that period", file=sys.stderr)
    print(render(args.format, rows=report.rows(), columns=report.table_columns(),
                 document=report.document(), notes=report.notes()), end="\n")
    return 0


def _demand(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from heartops.analysis.demand import demand_report, screen_calls, zone_area_test
    from heartops.analysis.frames import Window, calls_frame
    from heartops.analysis.output import render

    try:
        window = Window.from_dates(args.date_from, args.date_to)
    except ValueError as exc:
        raise HeartopsError(f"--from/--to: {exc}") from None
    try:
        zone = ZoneInfo(args.timezone) if args.timezone else None
    except (ZoneInfoNotFoundError, ValueError):
        raise HeartopsError(f"unknown --timezone {args.timezone!r}") from None
    area = zone_area_test(args.service_area) if args.service_area else None
    if args.file is not None:
        if args.mapping is None:
            raise HeartopsError(f"{args.file}: reading a CAD CSV needs --mapping MAP")
        from heartops.feeds.cad_csv import read_calls

        result = read_calls(args.file, args.mapping, progress=ConsoleProgress())
        screened = screen_calls(result.calls, in_service_area=area, timezone=zone)
        source, rejected = result.source, len(result.rejected)
    else:
        from heartops.store import open_store

        with open_store(args.db) as store:
            frame = calls_frame(store, window=window)
            programs = dict(zip(frame["call_id"], frame["program"], strict=True))
            calls = store.calls(received_from=window.start, received_before=window.end)
            source, rejected = store.url, 0
        screened = screen_calls(calls, programs=programs, in_service_area=area, timezone=zone)
    try:
        report = demand_report(screened, by=_analysis_keys(args.by), window=window,
                               source=source, rejected_rows=rejected)
    except ValueError as exc:
        raise HeartopsError(f"demand: {exc}") from None
    print(render(args.format, rows=report.rows(), columns=report.table_columns(),
                 document=report.document(), notes=report.notes()), end="\n")
    return 0


# -- coverage planning (coverage now, post optimisation, what-if) -------------------------------


def _add_coverage_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]
                           ) -> None:
    coverage = commands.add_parser(
        "coverage", help="share of expected eligible demand teams at posts reach in T minutes",
        description="Expected demand: eligible HEART calls per hex cell and hour of week from "
                    "the database's history (the demo city falls back to its simulated "
                    "history). Minutes to scene = turnout + urban factor x free-flow drive.")
    coverage.add_argument("--posts", default="auto", metavar="FILE|auto",
                          help="posts CSV (post_id,name,lat,lon) or 'auto': the network's "
                               "saved posts")
    when = coverage.add_mutually_exclusive_group()
    when.add_argument("--hour", default=None, metavar="DOW:HH",
                      help="one hour of week, e.g. mon:17 or 0:17 (default: the whole week)")
    when.add_argument("--now", action="store_true", help="the current local hour of week")
    coverage.add_argument("--out", default=None, metavar="LAYER.gpkg",
                          help="write the cells with their coverage as a GeoPackage layer")
    coverage.set_defaults(handler=_coverage)

    plan = commands.add_parser("plan", help="plan posts and rosters (coverage optimisation)")
    sub = plan.add_subparsers(dest="plan_command", metavar="ACTION", required=True)
    posts = sub.add_parser(
        "posts", help="choose K posts covering the most expected demand (exact MILP + greedy)")
    posts.add_argument("--k", type=int, required=True, metavar="K")
    posts.add_argument("--candidates", type=int, default=200, metavar="N",
                       help="candidate sites: the existing posts plus spread cell nodes "
                            "(default 200)")
    posts.add_argument("--posts", default="auto", metavar="FILE|auto",
                       help="existing posts (default: the network's saved posts)")
    posts.add_argument("--time-limit", type=_positive_float, default=60.0, metavar="S",
                       help="solver time limit in seconds (default 60)")
    posts.add_argument("--out", default=None, metavar="FILE.csv",
                       help="write the chosen posts as a posts CSV")
    posts.set_defaults(handler=_plan_posts)

    whatif = sub.add_parser(
        "whatif", help="replay the simulator with another roster and compare",
        description="Runs the shift simulator (same seed, same calls) for today's roster and "
                    "the changed one; compares served share of eligible calls, minutes to "
                    "scene and coverage by hour.")
    whatif.add_argument("--add", action="append", default=[], metavar="PROG:N@HH:MM-HH:MM@POST",
                        help="add N teams of a program on a shift at a post, e.g. "
                             "CRT:1@09:00-17:30@9 (repeatable)")
    whatif.add_argument("--hours", action="append", default=[], metavar="PROG=HH:MM-HH:MM",
                        help="every team of a program works this shift (repeatable)")
    whatif.add_argument("--move", action="append", default=[], metavar="UNIT=POST",
                        help="base a unit at another post (repeatable)")
    whatif.add_argument("--days", type=_positive_float, default=7.0,
                        help="simulated days (default 7)")
    whatif.add_argument("--seed", type=int, default=2026)
    whatif.add_argument("--start", default=None, metavar="YYYY-MM-DD",
                        help="first simulated day, 05:00 UTC (default: DAYS before today)")
    whatif.set_defaults(handler=_plan_whatif)

    for parser in (coverage, posts, whatif):
        parser.add_argument("--network", default="demo", metavar="NAME")
        parser.add_argument("--minutes", default="8,12" if parser is not posts else "12",
                            metavar="M,M", help="minutes to scene (default: %(default)s)")
        parser.add_argument("--cell-m", type=_positive_float, default=400.0, metavar="M",
                            help="demand cell size in metres (default 400)")
        parser.add_argument("--turnout", type=float, default=None, metavar="MIN",
                            help="turnout minutes of the drive model (default 6.4)")
        parser.add_argument("--urban-factor", type=_positive_float, default=None, metavar="X",
                            help="free-flow drive time multiplier (default 1.2)")
        add_db_option(parser)


def _minutes_list(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise HeartopsError(f"bad --minutes {text!r}: expected numbers like 8,12") from None
    if not values or any(not 0 < v < 1440 for v in values):
        raise HeartopsError(f"bad --minutes {text!r}: expected positive minutes like 8,12")
    return values


def _coverage_setup(args: argparse.Namespace) -> _CoverageInputs:
    """Load the network, demand grid, expected demand and posts the coverage commands use."""
    from heartops.analysis.coverage import CoveragePlanner, DriveModel
    from heartops.analysis.demand_grid import HexGrid, eligible_calls_frame, expected_demand
    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.network import DEMO_NAME, load_network
    from heartops.routing.posts import load_posts, read_posts_csv
    from heartops.store import open_store

    if args.network == DEMO_NAME:
        from heartops.routing.demo_setup import ensure_demo

        ensure_demo(progress=ConsoleProgress())
    engine = TravelTimeEngine(load_network(args.network))
    grid = HexGrid.over(engine.network, cell_m=args.cell_m)
    defaults = DriveModel()
    model = DriveModel(
        urban_factor=defaults.urban_factor if args.urban_factor is None else args.urban_factor,
        turnout_min=defaults.turnout_min if args.turnout is None else args.turnout)
    with open_store(args.db) as store:
        frame = eligible_calls_frame(store)
    if frame.empty and args.network == DEMO_NAME:
        from heartops.history import ensure_demo_history

        print("the database holds no calls; using the demo city's simulated history",
              file=sys.stderr)
        with open_store(f"sqlite:///{ensure_demo_history(progress=ConsoleProgress())}") \
                as store:
            frame = eligible_calls_frame(store)
    demand = expected_demand(frame, engine, grid)
    if getattr(args, "posts", "auto") == "auto":
        posts = load_posts(args.network)
        if not posts:
            raise HeartopsError(f"network {args.network!r} has no saved posts; "
                                "give --posts FILE")
    else:
        posts = read_posts_csv(Path(args.posts))
    return _CoverageInputs(engine, CoveragePlanner(engine, grid, model=model), demand,
                           list(posts))


class _CoverageInputs(NamedTuple):
    engine: TravelTimeEngine
    planner: CoveragePlanner
    demand: ExpectedDemand
    posts: list[Post]


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _hour_of_week(text: str) -> int:
    try:
        day, hour = text.lower().split(":")
        index = _DAYS.index(day[:3]) if day[:3] in _DAYS else int(day)
        value = int(hour)
        if not (0 <= index < 7 and 0 <= value < 24):
            raise ValueError
    except ValueError:
        raise HeartopsError(f"bad --hour {text!r}: expected DOW:HH, e.g. mon:17 or 0:17") \
            from None
    return index * 24 + value


def _coverage(args: argparse.Namespace) -> int:
    import datetime as dt

    from heartops.core.codes import default_tables

    minutes = _minutes_list(args.minutes)
    if args.now:
        local = dt.datetime.now(default_tables().timezone)
        hour: int | None = local.weekday() * 24 + local.hour
    else:
        hour = None if args.hour is None else _hour_of_week(args.hour)
    _, planner, demand, posts = _coverage_setup(args)  # after the cheap argument checks
    weights = demand.weekly() if hour is None else demand.hour(hour)
    when = "a whole week" if hour is None else f"{_DAYS[hour // 24]} {hour % 24:02d}:00"
    nodes = planner.snap([p.location for p in posts])
    model = planner.model
    print(f"{args.network}: {len(posts)} posts, {planner.grid.size:,} cells of "
          f"{planner.grid.cell_m:g} m; {demand.calls:,} eligible calls "
          f"{demand.start:%Y-%m-%d} to {demand.end:%Y-%m-%d}")
    print(f"expected eligible calls in {when}: {weights.sum():.2f}; minutes to scene = "
          f"{model.turnout_min:g} turnout + {model.urban_factor:g} x free-flow drive")
    coverages = [planner.coverage(nodes, weights, m) for m in minutes]
    for cover in coverages:
        print(f"within {cover.minutes:g} min: {100 * cover.share:5.1f}% of expected demand "
              f"({cover.covered_demand:.2f} calls), {int(cover.covered.sum()):,} of "
              f"{planner.grid.size:,} cells")
    print(f"{'post':40s}" + "".join(f"{f'{m:g} min':>10s}" for m in minutes))
    for i, post in enumerate(posts):
        label = f"{post.post_id} {post.name}"[:39]
        print(f"{label:40s}" + "".join(f"{c.per_source[i]:10.2f}" for c in coverages))
    if args.out:
        from heartops.analysis.coverage_layers import coverage_cells, write_coverage_gpkg

        labels = [str(p.post_id) for p in posts]
        path = write_coverage_gpkg(coverage_cells(planner.grid, coverages, labels=labels),
                                   Path(args.out))
        print(f"{planner.grid.size:,} cells written to {path} (layer 'coverage')")
    return 0


def _plan_posts(args: argparse.Namespace) -> int:
    import numpy as np

    from heartops.analysis.posts_plan import plan_posts
    from heartops.routing.posts import Post

    minutes = _minutes_list(args.minutes)
    if len(minutes) != 1:
        raise HeartopsError("plan posts optimises one --minutes value at a time")
    _, planner, demand, existing = _coverage_setup(args)
    plan = plan_posts(planner, demand, existing, k=args.k, minutes=minutes[0],
                      candidates=args.candidates, time_limit_s=args.time_limit)
    print(f"{len(plan.candidates)} candidates x {planner.grid.size:,} cells, "
          f"{plan.minutes:g} min to scene; coverage matrix {plan.matrix_seconds:.2f} s")
    for selection, name in ((plan.current, f"current ({len(existing)} posts)"),
                            (plan.exact, f"exact MILP (k={plan.k})"),
                            (plan.greedy, f"greedy (k={plan.k})")):
        proof = " optimal" if selection.optimal else ""
        print(f"{name:24s} {100 * selection.share:5.1f}% of weekly expected demand "
              f"({selection.seconds:.2f} s{proof})")
    print("chosen (exact):")
    network = planner.engine.network
    for j in plan.exact.chosen:
        site = plan.candidates[j]
        print(f"  {site.label} ({network.node_lat[site.node]:.5f}, "
              f"{network.node_lon[site.node]:.5f})")
    print(f"{'hour':6s}{'current':>9s}{'exact':>9s}{'greedy':>9s}   (mean over the week)")
    for hour in range(24):
        columns = [np.nanmean(values[hour::24]) if np.isfinite(values[hour::24]).any()
                   else float("nan") for values in (plan.hourly_current, plan.hourly_exact,
                                                    plan.hourly_greedy)]
        print(f"{hour:02d}:00 " + "".join(f"{100 * v:8.1f}%" for v in columns))
    if args.out:
        from heartops.core.geo import GeoPoint

        chosen = [Post(site.post_id or f"P{n}", site.label,
                       GeoPoint(float(network.node_lat[site.node]),
                                float(network.node_lon[site.node])))
                  for n, site in enumerate((plan.candidates[j] for j in plan.exact.chosen),
                                           start=1)]
        out = Path(args.out)
        from heartops.atomic import atomic_path

        with atomic_path(out, suffix=".csv") as tmp:
            _write_posts_csv(tmp, chosen)
        print(f"{len(chosen)} posts written to {out}")
    return 0


def _write_posts_csv(path: Path, posts: list[Post]) -> None:
    import csv

    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["post_id", "name", "lat", "lon"])
        for post in posts:
            writer.writerow([post.post_id, post.name, f"{post.location.lat:.7f}",
                             f"{post.location.lon:.7f}"])


def _plan_whatif(args: argparse.Namespace) -> int:
    import datetime as dt

    from heartops.analysis.whatif import (
        add_teams,
        compare_plans,
        move_teams,
        parse_shift,
        set_hours,
    )
    from heartops.feeds.simulator import default_roster, load_profile
    from heartops.routing.demo_setup import demo_layer
    from heartops.routing.zones import ZoneIndex, list_zone_layers

    minutes = _minutes_list(args.minutes)
    engine, planner, demand, posts = _coverage_setup(args)
    profile = load_profile()
    base = default_roster(posts, profile)
    changed = base
    try:
        for text in args.add:
            program_count, shift, post = text.split("@")
            program, count = program_count.split(":")
            changed = add_teams(changed, program.strip(), int(count),
                                shift=parse_shift(shift), post_id=post.strip())
        for text in args.hours:
            program, shift = text.split("=")
            changed = set_hours(changed, program.strip(), parse_shift(shift))
        moves = dict(text.split("=") for text in args.move)
    except ValueError:
        raise HeartopsError("bad --add/--hours/--move: expected PROG:N@HH:MM-HH:MM@POST, "
                            "PROG=HH:MM-HH:MM, UNIT=POST") from None
    if moves:
        changed = move_teams(changed, moves)
    if changed is base:
        raise HeartopsError("plan whatif: give at least one --add, --hours or --move")
    if args.start:
        try:
            day = dt.date.fromisoformat(args.start)
        except ValueError:
            raise HeartopsError(f"bad --start {args.start!r}: expected YYYY-MM-DD") from None
    else:
        day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=int(args.days) + 1)
    start = dt.datetime(day.year, day.month, day.day, 5, tzinfo=dt.UTC)
    layers = {info.name for info in list_zone_layers()}

    def zones(kind: str) -> ZoneIndex | None:
        layer = demo_layer(args.network, kind)
        return ZoneIndex.from_layer(layer) if layer in layers else None

    report = compare_plans(engine, planner, demand, [("today", base), ("what-if", changed)],
                           profile=profile, start=start, days=args.days, seed=args.seed,
                           minutes=minutes, zones=zones("beats"),
                           service_area=zones("service-area"))
    print(f"{args.network}: {args.days:g} simulated days from {start:%Y-%m-%d}, seed "
          f"{args.seed} (same calls for both plans)")
    for line in report.lines():
        print(line)
    return 0


# -- export (map layers under a privacy profile) -------------------------------------------------


def _add_export_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export", help="export map layers (GeoPackage, GeoJSON, CSV, offline HTML)",
        description="Profiles: internal (exact points, every field), partner (no names, "
                    "phones or free text; points moved to the centre of their 100 m cell), "
                    "public (calls counted per zone and priority, counts 1-10 and the cells "
                    "that would reveal them suppressed; checked before anything is written). "
                    "All geometry is EPSG:4326. gpkg and html write one file; geojson and csv "
                    "write a folder with one file per kind.")
    export.add_argument("--what", default="calls,zones", metavar="KINDS",
                        help="comma-separated: calls, zones, units, tracks, isochrones "
                             "(default: calls,zones)")
    export.add_argument("--format", choices=["gpkg", "geojson", "csv", "html"], default="gpkg")
    export.add_argument("--profile", choices=["internal", "partner", "public"], required=True,
                        help="who the export is for (no default: choose on purpose)")
    export.add_argument("--out", required=True, metavar="PATH",
                        help="file (gpkg, html) or folder (geojson, csv)")
    export.add_argument("--network", default="demo", metavar="NAME",
                        help="network of the isochrones and of the default zone layer")
    export.add_argument("--zone-layer", default=None, metavar="LAYER",
                        help="zones to export and to count public calls by "
                             "(default: NETWORK-beats)")
    export.add_argument("--minutes", default="5,10,15", metavar="M,M",
                        help="isochrone drive times around each staging post")
    export.add_argument("--from", dest="date_from", default=None, metavar="YYYY-MM-DD",
                        help="first day of calls and AVL fixes (local date of the network)")
    export.add_argument("--to", dest="date_to", default=None, metavar="YYYY-MM-DD",
                        help="last day, included (local date of the network)")
    add_db_option(export)
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from heartops.exports import (
        ExportFormat,
        ExportRequest,
        Profile,
        export_layers,
        kinds_from_text,
    )
    from heartops.exports.run import minutes_from_text, window_from_dates

    start, end = window_from_dates(args.date_from, args.date_to, network=args.network)
    request = ExportRequest(
        kinds=kinds_from_text(args.what), format=ExportFormat(args.format),
        profile=Profile(args.profile), out=Path(args.out), db=args.db, network=args.network,
        zone_layer=args.zone_layer, received_from=start, received_before=end,
        minutes=minutes_from_text(args.minutes))
    result = export_layers(request, ConsoleProgress())
    for layer in result.layers:
        hidden = f", {layer.suppressed_cells} cells suppressed" if layer.suppressed_cells else ""
        print(f"{layer.kind}: {layer.rows:,} rows ({layer.geometry_type}{hidden})")
    for note in result.notes:
        print(note)
    print(f"{args.profile} {args.format} export written: "
          + ", ".join(str(p) for p in result.paths) + f" ({result.bytes_written:,} bytes)")
    return 0


def _add_avl_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    avl = commands.add_parser("avl", help="receive vehicle positions (AVL)")
    sub = avl.add_subparsers(dest="avl_command", metavar="ACTION", required=True)
    listen = sub.add_parser("listen", help="listen for NMEA 0183 RMC or JSON-lines fixes",
                            description="Validates every fix and prints accepted ones; Ctrl-C "
                                        "stops and prints counts of rejected fixes by reason.")
    listen.add_argument("--udp", type=int, default=None, metavar="PORT")
    listen.add_argument("--tcp", type=int, default=None, metavar="PORT")
    listen.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: this computer only)")
    listen.add_argument("--format", choices=["auto", "nmea", "jsonl"], default="auto")
    listen.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="stop after this many seconds")
    listen.set_defaults(handler=_avl_listen)
    read = sub.add_parser("read", help="validate a recorded NMEA/JSON-lines file (or .gz)",
                          description="Recorded fixes may be old, so only the other checks "
                                      "apply. With --db, accepted fixes of rostered units are "
                                      "stored.")
    read.add_argument("file")
    read.add_argument("--store", action="store_true", help="store accepted fixes (see --db)")
    add_db_option(read)
    read.set_defaults(handler=_avl_read)


def _avl_listen(args: argparse.Namespace) -> int:
    import threading

    from heartops.core.avl import AvlFix
    from heartops.feeds.avl_listen import FeedServer, listen

    if args.udp is None and args.tcp is None:
        raise HeartopsError("avl listen: give --udp PORT and/or --tcp PORT")
    stop = threading.Event()
    if args.duration is not None:
        threading.Timer(args.duration, stop.set).start()

    def show(fix: AvlFix) -> None:
        print(f"{fix.time:%H:%M:%S} {fix.unit_id:12s} {fix.position.lat:.6f},"
              f"{fix.position.lon:.6f}", flush=True)

    def ready(servers: list[FeedServer]) -> None:
        print("listening on " + ", ".join(str(server) for server in servers), file=sys.stderr,
              flush=True)

    stats = listen(udp_port=args.udp, tcp_port=args.tcp, host=args.host, on_fix=show,
                   stop_event=stop, format=args.format, on_ready=ready)
    stop.set()
    print(str(stats), file=sys.stderr)
    return 0


def _avl_read(args: argparse.Namespace) -> int:
    from heartops.core.avl import AvlFix, AvlValidator
    from heartops.core.clock import SystemClock
    from heartops.feeds.avl_listen import AvlFeed, read_file

    accepted: list[AvlFix] = []
    feed = AvlFeed(accepted.append, validator=AvlValidator(SystemClock(), max_age_s=None))
    stats = read_file(args.file, feed)
    print(str(stats))
    if args.store or args.db:
        from heartops.store import open_store

        with open_store(args.db) as store:
            recorded = store.record_fixes(accepted)
        unknown = ", ".join(sorted(recorded.unknown_units)) or "none"
        print(f"stored {recorded.stored} fixes ({recorded.duplicates} already stored); "
              f"units not on the roster, their fixes dropped: {unknown}")
    return 0


def _network_build(args: argparse.Namespace) -> int:
    from heartops.routing.build import build_network
    from heartops.routing.network import DEMO_NAME
    from heartops.routing.roads import SpeedRule

    progress = ConsoleProgress()
    if args.source == DEMO_NAME:
        from heartops.routing.demo_setup import build_demo

        result = build_demo(name=args.name or DEMO_NAME, progress=progress)
    else:
        result = build_network(args.source, name=args.name, speed_rule=SpeedRule(args.speed_rule),
                               progress=progress)
    meta = result.network.meta
    west, south, east, north = meta["bbox"]
    print(f"network {result.network.name!r}: {meta['nodes']:,} nodes, {meta['edges']:,} edges")
    print(f"bounding box: {south:.5f},{west:.5f} to {north:.5f},{east:.5f} (lat,lon)")
    print(f"built in {result.seconds:.1f} s -> {result.path}")
    return 0


def _network_list(args: argparse.Namespace) -> int:
    from heartops.routing.network import list_networks, read_meta

    names = list_networks()
    if not names:
        print("no networks built yet; try: heartops network build demo")
    for name in names:
        meta = read_meta(name)
        print(f"{name:24s} {meta['nodes']:>8,} nodes {meta['edges']:>8,} edges  {meta['source']}")
    return 0


def _network_info(args: argparse.Namespace) -> int:
    from heartops.routing.network import read_meta

    meta = read_meta(args.name)
    if args.json:
        print(json.dumps(meta, indent=2, sort_keys=True))
        return 0
    for key in sorted(meta):
        print(f"{key:18s} {meta[key]}")
    return 0


def _zones_import(args: argparse.Namespace) -> int:
    from heartops.routing.zones import import_zones

    report = import_zones(Path(args.file), layer=args.layer, id_field=args.id_field,
                          group_field=args.group_field, source_layer=args.source_layer,
                          where=args.where, progress=ConsoleProgress())
    for line in report.summary_lines():
        print(line)
    return 0


def _zones_list(args: argparse.Namespace) -> int:
    from heartops.routing.zones import list_zone_layers

    layers = list_zone_layers()
    if not layers:
        print("no zone layers yet; try: heartops zones import FILE --layer beats")
    for info in layers:
        print(info.summary())
    return 0


def _route(args: argparse.Namespace) -> int:
    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.network import load_network

    engine = TravelTimeEngine(load_network(args.network))
    route = engine.route(_parse_point(args.origin), _parse_point(args.destination))
    result = {"seconds": round(route.seconds, 2), "meters": round(route.meters, 1),
              "nodes": len(route.nodes)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{route.seconds / 60:.1f} min ({route.seconds:.1f} s), "
              f"{route.meters / 1000:.2f} km, {len(route.nodes)} road nodes")
    return 0


def _parse_point(text: str) -> GeoPoint:
    try:
        lat, lon = (float(part) for part in text.split(","))
        return GeoPoint(lat, lon)
    except ValueError as exc:
        raise HeartopsError(f"bad point {text!r}: expected LAT,LON in decimal degrees ({exc})") \
            from None


def _positive_float(text: str) -> float:
    """Parse a positive number for argparse (its error names the value)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _demo(args: argparse.Namespace) -> int:
    from heartops.app import run_demo

    return run_demo(offscreen=args.offscreen, duration_s=args.duration,
                    screenshot=args.screenshot, db_url=args.db, desk=args.desk,
                    operator=args.operator, volume=args.volume)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args))
    except HeartopsError as exc:
        print(f"heartops: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("heartops: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
