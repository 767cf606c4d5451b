"""The board's free in-person units as an immutable coverage snapshot (main thread only).

Its own module (not in :mod:`heartops.qt.coverage_dock`) because the board controller needs it
too, and the dock imports the panels' styles: keeping it here avoids an import cycle.
"""

from __future__ import annotations

from datetime import datetime

from heartops.core.board import Board
from heartops.core.units import on_shift
from heartops.qt.ports import CoverageSnapshot, CoverageUnit

__all__ = ["coverage_snapshot"]


def coverage_snapshot(board: Board, at: datetime, serial: int) -> CoverageSnapshot:
    """Return the board's available, on-shift, in-person, dispatchable units with a position.

    Phone programs (Crisis Call Diversion) are left out: they cover by phone, not by driving;
    so is Care Navigation, which follows people up and is never sent to a 911 call. Runs on
    the main thread (only it reads the board).
    """
    tables = board.tables
    units = []
    for unit_id in board.unit_ids:
        unit, state = board.unit(unit_id), board.state(unit_id)
        program = tables.program(unit.program)
        if (state.position is None or not program.covers_calls
                or not tables.status(state.status).assignable
                or not on_shift(unit, at, tables.timezone)):
            continue
        units.append(CoverageUnit(unit_id, state.position.lat, state.position.lon))
    return CoverageSnapshot(serial, at, tuple(units))
