"""Metrics benchmark: the dashboard table vectorised vs per-row Python, and a 1M-call import.

Usage: ./run bench metrics [--calls 1000000] [--import-calls 1000000] [--seed 2026] [--json]

* table    the published table (per program: calls, to scene / on scene / total as mean,
           median and p90, % transport / PD backup / EMS / by phone) from N synthetic calls:
           heartops.analysis (one pandas groupby over prepared columns) vs the straightforward
           way (a Python loop over rows: datetime subtraction, json.loads of the dispositions,
           lists per program, then statistics.mean/median/quantiles). Goal: under 2 s for
           1,000,000 calls. Both ways' figures are compared (largest difference reported).
* import   writing N calls as a Seattle-dispatch-style CSV, then the ``heartops calls import``
           path (CsvCallReader -> Store.import_calls, batches of 1,000, progress on stderr) into
           a fresh SQLite store, vs the straightforward way (csv.DictReader, strptime + to_utc,
           new_call + record per row, one typed INSERT per call, a commit per 1,000 calls)
           into another fresh store. Goal: under 60 s for 1,000,000 calls. The straightforward
           way runs on the first ``--naive-sample`` rows (default 100,000) and its time is
           extrapolated linearly to N (the output says so); both ways' stored rows of the
           sample are compared. ``--import-calls 0`` skips it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from heartops.analysis.frames import CALL_COLUMNS, prepare
from heartops.analysis.metrics import INTERVALS, metrics_from_frame
from heartops.core.calls import CallStep, new_call
from heartops.core.codes import default_tables
from heartops.core.errors import LocalTimeError
from heartops.core.geo import GeoPoint
from heartops.core.localtime import to_utc
from heartops.core.progress import ConsoleProgress, no_progress
from heartops.feeds.cad_csv import CsvCallReader
from heartops.store import open_store
from heartops.store.bulk import call_values
from heartops.store.models import CallRow

PROGRAMS = np.array(["CCD", "CRT", "COR", None], dtype=object)
PROGRAM_SHARE = [0.20, 0.50, 0.20, 0.10]
DISPOSITIONS = np.array(['["resolved_by_phone"]', '["resolved_on_scene"]', '["transported"]',
                         '["resolved_on_scene", "pd_backup_requested"]', '["ems_requested"]',
                         '["referred_to_care_navigation"]'], dtype=object)
DISPOSITION_SHARE = [0.12, 0.70, 0.07, 0.01, 0.02, 0.08]
CALL_TYPES = np.array(["welfare_check", "trespass", "mental_health_crisis", "assist_person",
                       "crisis_call_diversion", "disturbance"], dtype=object)


def synthetic_calls(n: int, seed: int) -> pd.DataFrame:
    """Return ``n`` calls with the columns of :func:`heartops.analysis.frames.calls_frame`."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    received = start + pd.to_timedelta(np.sort(rng.uniform(0, 365 * 86400, n)), unit="s")
    dispatch = pd.to_timedelta(rng.gamma(2.0, 60.0, n), unit="s")
    to_scene = pd.to_timedelta(rng.gamma(4.0, 180.0, n), unit="s")
    on_scene = pd.to_timedelta(rng.gamma(3.0, 700.0, n), unit="s")
    dispositions = rng.choice(DISPOSITIONS, n, p=DISPOSITION_SHARE)
    phone = dispositions == DISPOSITIONS[0]
    dispatched = pd.Series(received + dispatch)
    arrived = dispatched + pd.Series(to_scene)
    arrived[phone] = pd.NaT  # a call resolved by phone has no "to scene"
    cleared = dispatched + pd.Series(to_scene) + pd.Series(on_scene)
    frame = pd.DataFrame({
        "call_id": [f"B{i:07d}" for i in range(n)], "source": "bench",
        "call_type": rng.choice(CALL_TYPES, n), "priority": "2",
        "zone_id": rng.choice(np.array([f"{i}" for i in range(100, 137)], dtype=object), n),
        "lat": rng.uniform(35.9, 36.1, n), "lon": rng.uniform(-79.0, -78.8, n),
        "received_at": pd.Series(received), "dispatched_at": dispatched,
        "on_scene_at": arrived, "cleared_at": cleared,
        "dispositions": pd.Categorical(dispositions),
        "program": rng.choice(PROGRAMS, n, p=PROGRAM_SHARE)})
    return frame.loc[:, list(CALL_COLUMNS)]


def vectorised(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The heartops way: prepare + one groupby; returns figures per program."""
    groups = metrics_from_frame(prepare(frame), by=("program",))
    out = {}
    for group in groups:
        figures: dict[str, float] = {"calls": group.calls}
        for name in ("to_scene", "on_scene", "total"):
            stats = getattr(group, name)
            figures |= {f"{name}_mean": _num(stats.mean), f"{name}_median": _num(stats.median),
                        f"{name}_p90": _num(stats.p90)}
        figures |= {"transport_pct": group.transport_pct, "pd_backup_pct": group.pd_backup_pct,
                    "ems_pct": group.ems_pct, "phone_pct": group.phone_pct}
        out[str(group.value("program"))] = figures
    return out


def _num(value: float | None) -> float:
    return math.nan if value is None else value


def python_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The rows as plain Python values (what a per-row loop over store results sees)."""
    def times(column: str) -> list[datetime | None]:
        values = frame[column].dt.to_pydatetime()
        return [None if v is pd.NaT or v is None or pd.isna(v) else v for v in values]

    programs = [p if isinstance(p, str) else None for p in frame["program"].tolist()]
    return list(zip(programs, times("dispatched_at"), times("on_scene_at"),
                    times("cleared_at"), frame["dispositions"].astype(object).tolist(),
                    strict=True))


def per_row(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, float]]:
    """The straightforward way: loop over rows, lists per program, statistics module."""
    tables = default_tables()
    spans: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for program, dispatched, arrived, cleared, dispositions in rows:
        if program is None:
            continue
        counts[program]["calls"] += 1
        if dispatched is not None and arrived is not None:
            spans[program]["to_scene"].append((arrived - dispatched).total_seconds() / 60)
        if arrived is not None and cleared is not None:
            spans[program]["on_scene"].append((cleared - arrived).total_seconds() / 60)
        if dispatched is not None and cleared is not None:
            spans[program]["total"].append((cleared - dispatched).total_seconds() / 60)
        rows_of = [tables.disposition(code) for code in json.loads(dispositions)]
        for flag in ("transport", "pd_backup", "ems", "by_phone"):
            if any(getattr(row, flag) for row in rows_of):
                counts[program][flag] += 1
    out = {}
    for program in sorted(counts):
        n = counts[program]["calls"]
        figures: dict[str, float] = {"calls": n}
        for name in ("to_scene", "on_scene", "total"):
            values = spans[program][name]
            figures |= {
                f"{name}_mean": statistics.fmean(values) if values else math.nan,
                f"{name}_median": statistics.median(values) if values else math.nan,
                f"{name}_p90": (statistics.quantiles(values, n=10, method="inclusive")[-1]
                                if len(values) > 1 else (values[0] if values else math.nan))}
        figures |= {"transport_pct": 100 * counts[program]["transport"] / n,
                    "pd_backup_pct": 100 * counts[program]["pd_backup"] / n,
                    "ems_pct": 100 * counts[program]["ems"] / n,
                    "phone_pct": 100 * counts[program]["by_phone"] / n}
        out[program] = figures
    return out


def largest_difference(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> float:
    """Largest absolute difference between two ways' figures (inf if they differ in shape)."""
    if a.keys() != b.keys():
        return math.inf
    worst = 0.0
    for program, figures in a.items():
        if figures.keys() != b[program].keys():
            return math.inf
        for key, value in figures.items():
            other = b[program][key]
            if math.isnan(value) and math.isnan(other):
                continue
            worst = max(worst, abs(value - other))
    return worst


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """Return the wall time of one run and its result."""
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def write_dispatch_csv(path: Path, n: int, seed: int) -> None:
    """Write ``n`` rows in the Seattle PD dispatch extract's layout (seattle_spd_dispatch)."""
    rng = np.random.default_rng(seed)
    queued = (pd.Timestamp("2024-01-01 00:00:00")
              + pd.to_timedelta(np.sort(rng.uniform(0, 365 * 86400, n)).astype(int), unit="s"))
    delay = rng.integers(5, 900, n)
    frame = pd.DataFrame({
        "cad_id": np.arange(2024000000000, 2024000000000 + n),
        "responding_units": rng.integers(1, 4, n),
        "priority": rng.integers(1, 8, n),
        "dispatch_precinct": rng.choice(["NORTH", "EAST", "SOUTH", "WEST"], n),
        "Dispatch_Longitude": rng.uniform(-122.40, -122.25, n).round(8),
        "dispatch_latitude": rng.uniform(47.50, 47.70, n).round(8),
        "CAD_Event_Original_Time_Queued": queued.strftime("%Y-%m-%d %H:%M:%S"),
        "first_dispatch_delay": delay,
        "first_response_time": delay + rng.integers(60, 1800, n),
        "min_dispatch_delay": delay,
        "dispatch_neighborhood": "BENCH"})
    frame.to_csv(path, index=False)


# The seattle_spd_dispatch mapping's priority map, for the straightforward way.
_SPD_PRIORITY = {"1": "P", "2": "1", "3": "2", **{str(p): "3" for p in range(4, 10)}}
_SPD_ZONE = "America/Los_Angeles"


def naive_import(csv_path: Path, db: Path, rows: int, source: str) -> int:
    """The straightforward way: parse, build and insert one call per row; return calls stored.

    Reads the first ``rows`` rows with :class:`csv.DictReader`, parses the queued time with
    ``strptime`` and :func:`~heartops.core.localtime.to_utc` (rows whose local time does not
    exist or is ambiguous are skipped, as the mapping rejects them), builds each call with
    ``new_call`` + ``record``, and inserts it with one typed ``INSERT`` (a commit per 1,000).
    """
    stored = 0
    with open_store(str(db)) as store, Session(store.engine) as session, \
            csv_path.open(newline="", encoding="utf-8") as file:
        for number, row in enumerate(csv.DictReader(file)):
            if number >= rows:
                break
            local = datetime.strptime(row["CAD_Event_Original_Time_Queued"],
                                      "%Y-%m-%d %H:%M:%S")
            try:
                received = to_utc(local, _SPD_ZONE)
            except LocalTimeError:
                continue
            call = new_call(row["cad_id"], call_type="other",
                            location=GeoPoint(float(row["dispatch_latitude"]),
                                              float(row["Dispatch_Longitude"])),
                            received_at=received, priority=_SPD_PRIORITY[row["priority"]])
            call = call.record(CallStep.DISPATCHED, received + timedelta(
                seconds=float(row["first_dispatch_delay"])))
            if row["first_response_time"] not in ("", "NULL"):
                call = call.record(CallStep.ON_SCENE, received + timedelta(
                    seconds=float(row["first_response_time"])))
            session.execute(sa.insert(CallRow).values(
                **call_values(call, source=source, external_id=call.call_id, batch_id=None)))
            stored += 1
            if stored % 1000 == 0:
                session.commit()
        session.commit()
    return stored


_COMPARED = ("call_id", "priority", "lat", "lon", "received_at", "dispatched_at", "on_scene_at")


def stored_calls(db: Path, ids: list[str]) -> list[tuple[Any, ...]]:
    """Return the compared columns of the calls ``ids`` in the SQLite file ``db``, by id."""
    connection = sqlite3.connect(db)
    try:
        wanted = json.dumps(ids)
        return connection.execute(
            f"SELECT {', '.join(_COMPARED)} FROM calls "
            "WHERE call_id IN (SELECT value FROM json_each(?)) ORDER BY call_id",
            (wanted,)).fetchall()
    finally:
        connection.close()


def import_csv(n: int, seed: int, *, show_progress: bool,
               naive_sample: int = 100_000) -> dict[str, Any]:
    """Time ``heartops calls import`` of ``n`` calls vs the straightforward way (sampled)."""
    progress = ConsoleProgress() if show_progress else no_progress
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, db = Path(tmp) / "calls.csv", Path(tmp) / "bench.db"
        write_seconds, _ = timed(lambda: write_dispatch_csv(csv_path, n, seed))
        started = time.perf_counter()
        with open_store(str(db)) as store, \
                CsvCallReader(csv_path, "seattle_spd_dispatch", progress=progress) as reader:
            result = store.import_calls(reader, source=reader.source, progress=progress)
            source = reader.source
        seconds = time.perf_counter() - started
        with open_store(str(db)) as store:
            stored = store.count_calls()
        sample = min(n, naive_sample)
        naive_db = Path(tmp) / "naive.db"
        naive_seconds, naive_stored = timed(
            lambda: naive_import(csv_path, naive_db, sample, source))
        ids = _stored_ids(naive_db)
        agree = stored_calls(naive_db, ids) == stored_calls(db, ids)
    naive_full = naive_seconds * n / sample if sample else 0.0
    return {"import_calls": n, "import_s": seconds, "import_csv_write_s": write_seconds,
            "import_inserted": result.inserted, "import_stored": stored,
            "import_calls_per_s": n / seconds if seconds > 0 else math.inf,
            "import_naive_sample": sample, "import_naive_sample_s": naive_seconds,
            "import_naive_sample_stored": naive_stored, "import_naive_s": naive_full,
            "import_naive_extrapolated": sample < n,
            "import_ratio": naive_full / seconds if seconds > 0 else math.inf,
            "import_sample_agrees": agree}


def _stored_ids(db: Path) -> list[str]:
    """Return every call id in the SQLite file ``db``."""
    connection = sqlite3.connect(db)
    try:
        return [row[0] for row in connection.execute("SELECT call_id FROM calls")]
    finally:
        connection.close()


def run(calls: int, *, import_calls: int, seed: int, show_progress: bool = False,
        naive_sample: int = 100_000) -> dict[str, Any]:
    """Run both parts; return the timings, ratio and agreement."""
    frame = synthetic_calls(calls, seed)
    rows = python_rows(frame)
    naive_s, naive = timed(lambda: per_row(rows))
    fast_s, fast = timed(lambda: vectorised(frame))
    result: dict[str, Any] = {
        "calls": calls, "table_naive_s": naive_s, "table_heartops_s": fast_s,
        "table_ratio": naive_s / fast_s if fast_s > 0 else math.inf,
        "table_max_abs_diff": largest_difference(naive, fast),
        "table_programs": sorted(fast), "intervals": list(INTERVALS)}
    if import_calls > 0:
        result |= import_csv(import_calls, seed, show_progress=show_progress,
                             naive_sample=naive_sample)
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print a summary or JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--import-calls", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--naive-sample", type=int, default=100_000,
                        help="rows the straightforward import runs on (extrapolated to N)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.calls, import_calls=args.import_calls, seed=args.seed,
                 show_progress=not args.json, naive_sample=args.naive_sample)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"dashboard table of {result['calls']:,} calls: per-row Python "
          f"{result['table_naive_s']:.2f} s, heartops {result['table_heartops_s']:.3f} s "
          f"({result['table_ratio']:.0f}x; goal < 2 s); largest difference "
          f"{result['table_max_abs_diff']:.2e}")
    if "import_s" in result:
        naive = (f"{result['import_naive_s']:.1f} s (extrapolated from "
                 f"{result['import_naive_sample']:,} rows in "
                 f"{result['import_naive_sample_s']:.1f} s)"
                 if result["import_naive_extrapolated"] else f"{result['import_naive_s']:.1f} s")
        print(f"import of {result['import_calls']:,} calls from CSV into SQLite: "
              f"straightforward per-row {naive}, heartops {result['import_s']:.1f} s "
              f"({result['import_ratio']:.1f}x; {result['import_calls_per_s']:,.0f} calls/s; "
              f"goal < 60 s); {result['import_stored']:,} stored; sample "
              f"{'agrees' if result['import_sample_agrees'] else 'DIFFERS'} both ways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
