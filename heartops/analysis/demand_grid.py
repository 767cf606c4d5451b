"""Expected eligible demand on a hexagonal grid, by hour of week, from call history.

Coverage planning asks "what share of the calls we expect this hour can a team reach in T
minutes". This module answers the "calls we expect" half:

* :class:`HexGrid` tiles the road network in its projected CRS (the network's UTM zone) with
  pointy-top hexagons, keeping only cells that hold at least one road node. Hexagons rather
  than squares because every neighbour is at the same distance, so a coverage map has no
  diagonal artefacts; rather than police beats because beats are uneven (a large beat hides
  an uncovered corner) and a planning city may have no zone layer at all. Each cell carries a
  *representative road node*: the node of the cell nearest its centre. Coverage of a cell is
  judged at that node.
* :func:`eligible_mask` decides which calls count, with the core eligibility rules
  (:func:`heartops.core.eligibility.screen` and :func:`~heartops.core.eligibility.ledger_outcome`):
  a call counts when HEART takes its type and the call itself does not exclude every program
  that takes the type (Priority P, weapon, imminent risk to others). With ``in_person_only``
  (the default) a program that drives to the scene must be among those admissible, since
  drive-time coverage means nothing for a call Crisis Call Diversion resolves by phone.
  Screening is done once per distinct (type, priority, flags) combination, not per call.
* :func:`expected_demand` snaps every counted call to its nearest road node, puts it in that
  node's cell and hour of week (local time of the code tables' city), and divides each hour's
  counts by how many times that hour of week occurs in the window: the result is *expected
  eligible calls per hour*, an array of shape ``(cells, 168)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
import sqlalchemy as sa

from heartops.analysis.frames import Window, frame_of, read_only
from heartops.core.calls import Call, new_call
from heartops.core.codes import CodeTables, default_tables
from heartops.core.eligibility import EXCLUSIONS, LedgerOutcome, ledger_outcome, screen
from heartops.core.errors import HeartopsError
from heartops.core.geo import GeoPoint
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import RoadNetwork
from heartops.store import Store
from heartops.store.models import CallRow, table_of

__all__ = ["DEFAULT_CELL_M", "HOURS_PER_WEEK", "ExpectedDemand", "HexGrid", "calls_to_frame",
           "eligible_calls_frame", "eligible_mask", "expected_demand", "hour_occurrences"]

HOURS_PER_WEEK = 168
DEFAULT_CELL_M = 400.0
"""Distance between neighbouring cell centres: about 1,600 cells over the 16 km demo city,
fine enough that a cell is a few blocks and one node stands for it within a minute's drive."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_SQRT3 = math.sqrt(3.0)
_KEY_SPAN = 1 << 31  # axial (q, r) -> one int64 key; projected metres / 100 m fit easily


@dataclass(frozen=True, eq=False)
class HexGrid:
    """Pointy-top hexagonal cells over a road network, in its projected CRS.

    Attributes
    ----------
    cell_m
        Distance between neighbouring cell centres (the hexagon's flat-to-flat width).
    crs
        The projected CRS of the network (``node_x``/``node_y``).
    q, r
        Axial coordinates of each cell.
    center_x, center_y
        Cell centres in ``crs``.
    node
        Representative road node of each cell (the cell's node nearest its centre).
    node_cell
        Cell of every road node of the network.
    """

    cell_m: float
    crs: str
    q: IntArray
    r: IntArray
    center_x: FloatArray
    center_y: FloatArray
    node: IntArray
    node_cell: IntArray

    @property
    def size(self) -> int:
        """Number of cells."""
        return int(self.node.size)

    @classmethod
    def over(cls, network: RoadNetwork, *, cell_m: float = DEFAULT_CELL_M) -> HexGrid:
        """Tile ``network`` with hexagons ``cell_m`` apart; keep the cells holding a node.

        Raises
        ------
        ValueError
            When ``cell_m`` is not a positive number.
        """
        if not (math.isfinite(cell_m) and cell_m > 0):
            raise ValueError(f"cell size must be a positive number of metres, got {cell_m!r}")
        side = cell_m / _SQRT3
        q, r = _axial(network.node_x, network.node_y, side)
        keys = q * _KEY_SPAN + r
        unique, node_cell = np.unique(keys, return_inverse=True)
        cq = np.floor_divide(unique + _KEY_SPAN // 2, _KEY_SPAN)
        cr = unique - cq * _KEY_SPAN
        cx, cy = _center(cq, cr, side)
        # Representative node: per cell, the node nearest the centre (one lexsort, no loop).
        distance = np.hypot(network.node_x - cx[node_cell], network.node_y - cy[node_cell])
        order = np.lexsort((distance, node_cell))
        first = np.concatenate([[True], node_cell[order][1:] != node_cell[order][:-1]])
        node = order[first].astype(np.int64)
        return cls(cell_m=float(cell_m), crs=network.crs, q=cq.astype(np.int64),
                   r=cr.astype(np.int64), center_x=cx, center_y=cy, node=node,
                   node_cell=node_cell.astype(np.int64))

    def polygons(self) -> npt.NDArray[np.object_]:
        """Return every cell as a shapely hexagon in the grid's CRS."""
        side = self.cell_m / _SQRT3
        angles = np.radians(30.0 + 60.0 * np.arange(6))
        xs = self.center_x[:, None] + side * np.cos(angles)[None, :]
        ys = self.center_y[:, None] + side * np.sin(angles)[None, :]
        rings = np.stack([xs, ys], axis=-1)
        return np.asarray(shapely.polygons(rings), dtype=object)


def _axial(x: FloatArray, y: FloatArray, side: float) -> tuple[IntArray, IntArray]:
    """Return the axial hex (q, r) of projected points (cube rounding)."""
    qf = (_SQRT3 / 3.0 * x - y / 3.0) / side
    rf = (2.0 / 3.0 * y) / side
    sf = -qf - rf
    q, r, s = np.round(qf), np.round(rf), np.round(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    return q.astype(np.int64), r.astype(np.int64)


def _center(q: IntArray, r: IntArray, side: float) -> tuple[FloatArray, FloatArray]:
    x = side * _SQRT3 * (q + r / 2.0)
    y = side * 1.5 * r
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class ExpectedDemand:
    """Expected eligible calls per hour, by cell and hour of week.

    Attributes
    ----------
    grid
        The cells.
    per_hour
        Shape ``(cells, 168)``: expected eligible calls in that cell during one occurrence of
        that hour of week (0 = Monday 00:00-00:59 local time).
    calls
        Eligible calls counted.
    dropped
        Eligible calls left out because they are farther than the engine's snap limit from
        every road.
    start, end
        The period the counts come from (``[start, end)``, UTC).
    """

    grid: HexGrid
    per_hour: FloatArray
    calls: int
    dropped: int
    start: datetime
    end: datetime

    def hour(self, hour_of_week: int) -> FloatArray:
        """Return the expected calls of every cell in one hour of week.

        Raises
        ------
        ValueError
            When ``hour_of_week`` is not in 0..167.
        """
        if not 0 <= hour_of_week < HOURS_PER_WEEK:
            raise ValueError(f"hour of week must be 0..167, got {hour_of_week}")
        return np.asarray(self.per_hour[:, hour_of_week], dtype=np.float64)

    def weekly(self) -> FloatArray:
        """Return the expected calls of every cell in a whole week."""
        return np.asarray(self.per_hour.sum(axis=1), dtype=np.float64)


def eligible_calls_frame(store: Store, *, window: Window | None = None) -> pd.DataFrame:
    """Read the calls the demand needs, one bulk ``SELECT``.

    Returns
    -------
    pandas.DataFrame
        ``call_type, priority, flags, lat, lon, received_at``; ``flags`` as a tuple of codes,
        ``received_at`` as UTC datetimes.
    """
    calls = table_of(CallRow)
    stmt = sa.select(calls.c.call_type, calls.c.priority,
                     sa.type_coerce(calls.c.flags, sa.Text).label("flags"),
                     calls.c.lat, calls.c.lon,
                     sa.type_coerce(calls.c.received_at, sa.Text).label("received_at"))
    if window is not None:
        stmt = window.restrict(stmt, calls.c.received_at)
    with read_only(store) as connection:
        frame = frame_of(connection, stmt)
    frame["flags"] = frame["flags"].map(_flag_tuple)
    frame["received_at"] = (pd.to_datetime(frame["received_at"], utc=True, format="ISO8601")
                            if len(frame) else pd.Series(pd.DatetimeIndex([], tz="UTC")))
    for name in ("lat", "lon"):
        frame[name] = frame[name].astype(float)
    return frame


def calls_to_frame(calls: Iterable[Call]) -> pd.DataFrame:
    """Return core calls (a simulator run, a test) as an :func:`eligible_calls_frame`."""
    rows = [(c.call_type, c.priority.value, tuple(sorted(c.flags)), c.location.lat,
             c.location.lon, c.received_at) for c in calls]
    frame = pd.DataFrame(rows, columns=["call_type", "priority", "flags", "lat", "lon",
                                        "received_at"])
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
    return frame


def _flag_tuple(value: Any) -> tuple[str, ...]:
    # SQLite hands back the stored JSON text, psycopg a decoded list.
    if value is None:
        return ()
    items = json.loads(value) if isinstance(value, str) else value
    return tuple(sorted(str(item) for item in items))


def eligible_mask(frame: pd.DataFrame, *, tables: CodeTables | None = None,
                  in_person_only: bool = True) -> BoolArray:
    """Return which calls of ``frame`` count as eligible demand (see the module docstring).

    Parameters
    ----------
    frame
        Columns ``call_type``, ``priority`` and ``flags`` (tuples of codes).
    tables
        Code tables with the eligibility rules.
    in_person_only
        Count only calls a program that drives to the scene may take.
    """
    tables = tables or default_tables()
    if frame.empty:
        return np.zeros(0, dtype=bool)
    keys = list(zip(frame["call_type"], frame["priority"], frame["flags"], strict=True))
    verdict = {key: _eligible(*key, tables=tables, in_person_only=in_person_only)
               for key in set(keys)}
    return np.fromiter((verdict[key] for key in keys), dtype=bool, count=len(keys))


def _eligible(call_type: str, priority: str, flags: tuple[str, ...], *, tables: CodeTables,
              in_person_only: bool) -> bool:
    at = datetime(2025, 1, 6, 17, 0, tzinfo=tables.timezone)  # any time: hours do not matter
    try:
        call = new_call("demand", call_type=call_type, location=GeoPoint(0.0, 0.0),
                        received_at=at, priority=priority, flags=flags, tables=tables)
    except HeartopsError:
        return False  # a code the tables do not know is not HEART demand
    result = screen(call, at, tables=tables)
    entry = ledger_outcome(result, served=False)
    if entry is None or entry.outcome is LedgerOutcome.EXCLUDED:
        return False
    if not in_person_only:
        return True
    admissible = [s.program for s in result.screens if s.program in entry.programs
                  and not set(s.reasons) & set(EXCLUSIONS)]
    return any(tables.program(code).in_person for code in admissible)


def hour_occurrences(start: datetime, end: datetime, *,
                     tables: CodeTables | None = None) -> FloatArray:
    """Return how many times each local hour of week occurs in ``[start, end)``.

    Partial hours at either end count by the fraction that lies inside the period.
    """
    tables = tables or default_tables()
    out = np.zeros(HOURS_PER_WEEK)
    first = pd.Timestamp(start).floor("h")
    stamps = pd.date_range(first, pd.Timestamp(end), freq="h", inclusive="left")
    if len(stamps) == 0:
        return out
    local = stamps.tz_convert(str(tables.timezone))
    hours = np.asarray(local.day_of_week * 24 + local.hour, dtype=np.int64)
    weight = np.ones(len(stamps))
    hour_s = 3600.0
    weight[0] -= (pd.Timestamp(start) - first).total_seconds() / hour_s
    weight[-1] -= max(0.0, (stamps[-1] - pd.Timestamp(end)).total_seconds() / hour_s + 1.0)
    np.add.at(out, hours, weight)
    return out


def expected_demand(frame: pd.DataFrame, engine: TravelTimeEngine, grid: HexGrid, *,
                    start: datetime | None = None, end: datetime | None = None,
                    tables: CodeTables | None = None,
                    in_person_only: bool = True) -> ExpectedDemand:
    """Return expected eligible calls per hour by cell and hour of week.

    Parameters
    ----------
    frame
        Calls (:func:`eligible_calls_frame` or :func:`calls_to_frame`).
    engine
        The network's engine (snapping); the same network as ``grid``.
    grid
        The cells.
    start, end
        The period the calls cover (UTC); by default from the first call's hour to the hour
        after the last call. Give the real period: hours without calls still count.
    tables
        Code tables (eligibility rules, the city's time zone).
    in_person_only
        See :func:`eligible_mask`.

    Raises
    ------
    HeartopsError
        When the frame holds no eligible calls (there is no demand to plan for).
    """
    tables = tables or default_tables()
    keep = eligible_mask(frame, tables=tables, in_person_only=in_person_only)
    calls = frame.loc[keep]
    if calls.empty:
        raise HeartopsError("no eligible HEART calls in the history: nothing to plan "
                            "coverage for (import calls or run heartops simulate first)")
    received = calls["received_at"]
    start = start or received.min().floor("h").to_pydatetime()
    end = end or (received.max().floor("h") + pd.Timedelta(hours=1)).to_pydatetime()
    assert start is not None and end is not None
    nodes, distance = engine.snap_many(calls["lat"].to_numpy(), calls["lon"].to_numpy())
    near = distance <= engine.max_snap_m
    local = received.dt.tz_convert(str(tables.timezone))
    hours = np.asarray(local.dt.day_of_week * 24 + local.dt.hour, dtype=np.int64)
    counts = np.zeros((grid.size, HOURS_PER_WEEK))
    np.add.at(counts, (grid.node_cell[nodes[near]], hours[near]), 1.0)
    seen = hour_occurrences(start, end, tables=tables)
    per_hour = np.divide(counts, seen[None, :], out=np.zeros_like(counts),
                         where=seen[None, :] > 0)
    return ExpectedDemand(grid=grid, per_hour=per_hour, calls=int(near.sum()),
                          dropped=int((~near).sum()), start=start, end=end)
