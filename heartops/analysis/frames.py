"""Calls, ledger and follow-ups of a store as pandas DataFrames, read in bulk.

The metrics read every call of a period, so going through :meth:`Store.calls` (one core
:class:`~heartops.core.calls.Call` per row, with notes and units) would spend most of the time
building objects the figures never look at. :func:`calls_frame` instead runs ONE ``SELECT`` on
the store's engine over the columns the figures need, with the time and JSON columns read as
they are stored (``type_coerce`` skips SQLAlchemy's per-value converters) and parsed
column-wise by pandas. The store package stays free of pandas; this module only reads (the
store's read-only execution option) and never writes.

A call's *program* is the program that responded: the program of its first assignment (calls
dispatched at a desk), else the roster program of the first unit the imported record names
(simulated or CAD history). Calls no HEART unit answered (police, EMS, unserved) have no
program (``None``).

Frame columns (:func:`calls_frame`, also what :func:`prepare` expects):

``call_id, source, call_type, priority, zone_id, lat, lon``
    As stored.
``received_at, dispatched_at, on_scene_at, cleared_at``
    ``datetime64[ns, UTC]``; ``NaT`` when the step is missing.
``dispositions``
    The stored JSON list as text (``'["transported"]'``), categorical.
``program``
    See above.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from heartops.core.care import FollowUpTask
from heartops.core.clock import ensure_utc
from heartops.core.codes import CodeTables, default_tables
from heartops.store import Store
from heartops.store.engine import READ_ONLY
from heartops.store.models import AssignmentRow, CallRow, LedgerRow, UnitRow, table_of

__all__ = ["CALL_COLUMNS", "TIME_COLUMNS", "Window", "calls_frame", "follow_ups_frame",
           "hour_of_week", "ledger_frame", "prepare"]

TIME_COLUMNS = ("received_at", "dispatched_at", "on_scene_at", "cleared_at")
"""The lifecycle times the metrics use (PRODUCT.md definitions)."""

CALL_COLUMNS = ("call_id", "source", "call_type", "priority", "zone_id", "lat", "lon",
                *TIME_COLUMNS, "dispositions", "program")
"""Columns of :func:`calls_frame`, in order."""

_FIRST_UNIT = r'^\s*\[\s*"((?:[^"\\]|\\.)*)"'


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open period ``[start, end)`` of received times; ``None`` leaves a side open."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start is not None:
            object.__setattr__(self, "start", ensure_utc(self.start, what="window start"))
        if self.end is not None:
            object.__setattr__(self, "end", ensure_utc(self.end, what="window end"))
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"empty window: {self.start.isoformat()} to {self.end.isoformat()}")

    def restrict(self, stmt: sa.Select[Any], column: sa.ColumnElement[Any]) -> sa.Select[Any]:
        """Return ``stmt`` keeping only rows whose ``column`` falls in the window."""
        if self.start is not None:
            stmt = stmt.where(column >= self.start)
        if self.end is not None:
            stmt = stmt.where(column < self.end)
        return stmt

    @classmethod
    def from_dates(cls, first: str | None, last: str | None, *,
                   tables: CodeTables | None = None) -> Window:
        """Return the window from local day ``first`` to local day ``last``, both included.

        Parameters
        ----------
        first, last
            ``YYYY-MM-DD`` in the city's time zone (the tables'), or ``None`` for open.
        tables
            Code tables (the city's time zone).

        Raises
        ------
        ValueError
            On a bad date, or ``last`` before ``first``.
        """
        zone = (tables or default_tables()).timezone

        def midnight(text: str | None, shift: int) -> datetime | None:
            if text is None:
                return None
            try:
                day = date.fromisoformat(text) + timedelta(days=shift)
            except ValueError:
                raise ValueError(f"bad date {text!r}: expected YYYY-MM-DD") from None
            return datetime(day.year, day.month, day.day, tzinfo=zone)

        return cls(midnight(first, 0), midnight(last, 1))

    def mask(self, times: pd.Series) -> pd.Series:
        """Return which of ``times`` (UTC) fall inside the window."""
        keep = pd.Series(True, index=times.index)
        if self.start is not None:
            keep &= times >= pd.Timestamp(self.start)
        if self.end is not None:
            keep &= times < pd.Timestamp(self.end)
        return keep


def calls_frame(store: Store, *, window: Window | None = None,
                source: str | None = None) -> pd.DataFrame:
    """Return the calls received in ``window`` as a DataFrame, one bulk read.

    Parameters
    ----------
    store
        The store to read (only its engine is used).
    window
        Received-time period; every call by default.
    source
        Only calls imported from this source.

    Returns
    -------
    pandas.DataFrame
        :data:`CALL_COLUMNS`, in received order.
    """
    calls = table_of(CallRow)
    assignments = table_of(AssignmentRow)
    first_program = (sa.select(assignments.c.program)
                     .where(assignments.c.call_id == calls.c.call_id)
                     .order_by(assignments.c.assigned_at, assignments.c.id)
                     .limit(1).scalar_subquery())
    raw = [calls.c.call_id, calls.c.source, calls.c.call_type, calls.c.priority,
           calls.c.zone_id, calls.c.lat, calls.c.lon]
    # type_coerce: no per-value processing; SQLite hands back ISO text, psycopg datetimes /
    # lists, and pandas parses whole columns at once (much faster than row converters).
    coerced = [sa.type_coerce(calls.c[name], sa.Text).label(name)
               for name in (*TIME_COLUMNS, "dispositions", "source_unit_ids")]
    stmt = sa.select(*raw, *coerced, first_program.label("assigned_program"))
    if window is not None:
        stmt = window.restrict(stmt, calls.c.received_at)
    if source is not None:
        stmt = stmt.where(calls.c.source == source)
    stmt = stmt.order_by(calls.c.received_at, calls.c.call_id)
    with read_only(store) as connection:
        frame = frame_of(connection, stmt)
        roster = dict(connection.execute(sa.select(UnitRow.unit_id, UnitRow.program)).all())
    return _tidy(frame, roster)


def read_only(store: Store) -> sa.Connection:
    """Return a read-only connection to ``store``'s database (use it as a context manager)."""
    return store.engine.connect().execution_options(**{READ_ONLY: True})


def frame_of(connection: sa.Connection, stmt: sa.Select[Any]) -> pd.DataFrame:
    """Run ``stmt`` and return its rows as a DataFrame (columns named by the select)."""
    result = connection.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _tidy(frame: pd.DataFrame, roster: dict[str, str]) -> pd.DataFrame:
    for name in TIME_COLUMNS:
        frame[name] = _utc(frame[name])
    units = _json_text(frame["source_unit_ids"])
    first_unit = units.str.extract(_FIRST_UNIT, expand=False)
    program = frame["assigned_program"].astype(object)
    frame["program"] = program.where(program.notna(), first_unit.map(roster))
    frame["program"] = frame["program"].astype(object).where(frame["program"].notna(), None)
    frame["dispositions"] = _json_text(frame["dispositions"]).astype("category")
    for name in ("lat", "lon"):
        frame[name] = frame[name].astype(float)
    return frame.loc[:, list(CALL_COLUMNS)].reset_index(drop=True)


def _utc(values: pd.Series) -> pd.Series:
    """Parse stored times (ISO text on SQLite, aware datetimes on PostgreSQL) as UTC."""
    if values.empty:
        return pd.Series(pd.DatetimeIndex([], tz="UTC"), index=values.index)
    return pd.to_datetime(values, utc=True, format="ISO8601")


def _json_text(values: pd.Series) -> pd.Series:
    """Return JSON documents as compact text whatever the driver returned."""
    def text(value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)

    # SQLite returns the stored text; psycopg decodes JSONB into lists.
    return values.map(text).astype(object)


def prepare(frame: pd.DataFrame, *, tables: CodeTables | None = None) -> pd.DataFrame:
    """Add the derived columns the metrics group: intervals, disposition flags, hour of week.

    Parameters
    ----------
    frame
        A :func:`calls_frame` (or a frame with the same columns).
    tables
        Code tables: which dispositions mean transport, PD backup, EMS, by phone; the
        city's time zone for the hour of week.

    Returns
    -------
    pandas.DataFrame
        A copy with ``to_scene_min`` (dispatched -> on scene), ``on_scene_min`` (on scene ->
        cleared), ``total_min`` (dispatched -> cleared), ``response_min`` (received -> on
        scene), boolean ``transport``, ``pd_backup``, ``ems``, ``by_phone`` and ``hour_of_week``
        (0 = Monday 00:00-00:59 local time).
    """
    tables = tables or default_tables()
    out = frame.copy()
    out["to_scene_min"] = _minutes(out["dispatched_at"], out["on_scene_at"])
    out["on_scene_min"] = _minutes(out["on_scene_at"], out["cleared_at"])
    out["total_min"] = _minutes(out["dispatched_at"], out["cleared_at"])
    out["response_min"] = _minutes(out["received_at"], out["on_scene_at"])
    for flag, values in _disposition_flags(out["dispositions"], tables).items():
        out[flag] = values
    out["hour_of_week"] = hour_of_week(out["received_at"], tables)
    return out


def _minutes(start: pd.Series, end: pd.Series) -> pd.Series:
    return (end - start).dt.total_seconds() / 60.0


FLAGS = ("transport", "pd_backup", "ems", "by_phone")
"""Disposition flags (``dispositions.csv`` columns) the metrics report as shares."""


def _disposition_flags(dispositions: pd.Series, tables: CodeTables) -> dict[str, np.ndarray]:
    """Return one boolean array per flag: any of the call's dispositions has it.

    A period has only a handful of distinct disposition lists, so each distinct list is
    decoded once and the answers are spread back by the categorical codes.
    """
    category = dispositions.astype("category")
    codes = category.cat.codes.to_numpy()
    kinds = [json.loads(text) if isinstance(text, str) else []
             for text in category.cat.categories]
    flags = {}
    for flag in FLAGS:
        per_kind = np.array([any(getattr(tables.disposition(code), flag) for code in kind)
                             for kind in kinds] + [False], dtype=bool)
        flags[flag] = per_kind[codes]  # code -1 (missing) picks the trailing False
    return flags


def hour_of_week(times: pd.Series, tables: CodeTables | None = None) -> pd.Series:
    """Return the local hour of week of UTC ``times`` (Monday 00:00 local = 0, up to 167)."""
    tables = tables or default_tables()
    local = times.dt.tz_convert(str(tables.timezone))
    hours: pd.Series = (local.dt.day_of_week * 24 + local.dt.hour).astype("Int64")
    return hours


def ledger_frame(store: Store, *, window: Window | None = None) -> pd.DataFrame:
    """Return the unmet-demand ledger with each call's zone, one bulk read.

    Returns
    -------
    pandas.DataFrame
        ``call_id, at, outcome, reason, zone_id, received_at``; ``window`` filters on the
        call's received time (as :func:`calls_frame` does), so both cover the same calls.
    """
    ledger, calls = table_of(LedgerRow), table_of(CallRow)
    stmt = (sa.select(ledger.c.call_id, sa.type_coerce(ledger.c.at, sa.Text).label("at"),
                      ledger.c.outcome, ledger.c.reason, calls.c.zone_id,
                      sa.type_coerce(calls.c.received_at, sa.Text).label("received_at"))
            .join(calls, calls.c.call_id == ledger.c.call_id)
            .order_by(ledger.c.at, ledger.c.call_id))
    if window is not None:
        stmt = window.restrict(stmt, calls.c.received_at)
    with read_only(store) as connection:
        frame = frame_of(connection, stmt)
    for name in ("at", "received_at"):
        frame[name] = _utc(frame[name])
    return frame


def follow_ups_frame(tasks: Iterable[FollowUpTask]) -> pd.DataFrame:
    """Return follow-up tasks as a frame, one row per task.

    Columns: ``task_id, call_id, created_at, first_contact_at, completed_at, connected``.
    Follow-ups are few (thousands a year) and need their attempts, so they come through
    :meth:`Store.follow_ups` rather than SQL.
    """
    rows = [(t.task_id, t.call_id, t.created_at, t.first_contact_at, t.completed_at,
             t.connected) for t in tasks]
    frame = pd.DataFrame(rows, columns=["task_id", "call_id", "created_at", "first_contact_at",
                                        "completed_at", "connected"])
    for name in ("created_at", "first_contact_at", "completed_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame
