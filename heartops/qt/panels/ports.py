"""What the board panels call on the world outside Qt: small Protocols, injected by the app.

``heartops.qt`` must not import :mod:`heartops.live` (it imports the store and the feeds, and
the import-linter contracts keep those layers apart), so the panels describe the part of a
live session they use here and ``heartops/app.py`` hands them the real
:class:`heartops.live.LiveSession`, which satisfies :class:`SessionPort` structurally.

The command line (:class:`CommandPort`) is served by the session too: it parses lines with
:mod:`heartops.core.commands` against its board and runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from heartops.core.board import Board, BoardChange, RecommendationRequest, RecommendationResult
from heartops.core.calls import Call
from heartops.core.codes import CodeTables
from heartops.core.geo import GeoPoint
from heartops.core.ports import Eta
from heartops.core.recommend import Assignment, Recommendation
from heartops.core.safety import SafetyEvent
from heartops.core.units import UnitState


class RouteGeometry(Protocol):
    """A drive with its geometry (what :meth:`RoutePlanner.route` returns)."""

    @property
    def seconds(self) -> float:
        """Drive time."""
        ...

    @property
    def meters(self) -> float:
        """Drive length."""
        ...

    @property
    def lon(self) -> npt.NDArray[np.float64]:
        """Vertex longitudes, in order."""
        ...

    @property
    def lat(self) -> npt.NDArray[np.float64]:
        """Vertex latitudes, in order."""
        ...


class RoutePlanner(Protocol):
    """Drive times for the ranking and the route of the top unit (a travel-time engine)."""

    def etas_to(self, call: GeoPoint, units: Mapping[str, GeoPoint]) -> dict[str, Eta]:
        """Return every unit's drive time to ``call``."""
        ...

    def route(self, origin: GeoPoint, destination: GeoPoint) -> RouteGeometry:
        """Return the fastest drive from ``origin`` to ``destination``."""
        ...


class SessionPort(Protocol):
    """The part of :class:`heartops.live.LiveSession` the board panels use."""

    speed: float
    desk: str
    operator: str
    controls_time: bool
    """Whether this desk runs the clock (speed and pause) or follows another desk's."""

    @property
    def desk_mode(self) -> str:
        """Who this desk is and how it shares its work (single desk, runs the city, joined)."""
        ...

    @property
    def board(self) -> Board:
        """The live board (read it; change it only through the commands below)."""
        ...

    @property
    def tables(self) -> CodeTables:
        """The code tables."""
        ...

    @property
    def now(self) -> datetime:
        """The simulated instant."""
        ...

    @property
    def engine(self) -> RoutePlanner:
        """The drive-time engine (used from the worker thread only)."""
        ...

    def advance(self, wall_dt_s: float) -> BoardChange:
        """Run the city for ``wall_dt_s`` wall seconds at :attr:`speed`."""
        ...

    def recommendation_request(self, call_id: str) -> RecommendationRequest:
        """Return a new (higher-serial) request to rank units for ``call_id``."""
        ...

    def is_current(self, result: RecommendationResult) -> bool:
        """Whether ``result`` answers the newest request."""
        ...

    def assign(self, unit_id: str, call_id: str, *, override_reason: str | None = None,
               recommendation: Recommendation | None = None) -> Assignment:
        """Dispatch a unit (raises ``OverrideReasonRequired`` for a non-top unit)."""
        ...

    def set_status(self, unit_id: str, status: str) -> UnitState:
        """Change a unit's status (code, label or key)."""
        ...

    def add_note(self, call_id: str, text: str) -> Call:
        """Append a note to a call."""
        ...

    def close_call(self, call_id: str, dispositions: Collection[str],
                   destination: str | None = None) -> Call:
        """Close a call with its dispositions."""
        ...

    def check_in(self, unit_id: str) -> SafetyEvent:
        """Record that a team on a call reported all is well."""
        ...

    def acknowledge(self, alert_key: str, *, note: str = "") -> BoardChange:
        """Acknowledge a standing alert (audited by the session)."""
        ...


class CommandPort(Protocol):
    """The dispatcher's command line: completion and execution of typed commands."""

    def complete(self, prefix: str) -> list[str]:
        """Return whole-line completions of a partly typed line."""
        ...

    def run_command(self, line: str) -> str:
        """Parse and run ``line``; return a one-line confirmation.

        Raises
        ------
        heartops.core.errors.HeartopsError
            With a one-line message for a line that does not parse or a command refused.
        """
        ...


@dataclass(frozen=True, slots=True)
class OverrideRequest:
    """What the dispatcher is asked when assigning a unit other than the recommended one.

    Attributes
    ----------
    unit_id, call_id
        The chosen unit and the call.
    recommended_unit_id
        The top-ranked unit, if known.
    message
        Why a reason is needed (the core's words).
    """

    unit_id: str
    call_id: str
    recommended_unit_id: str | None
    message: str


ReasonProvider = Callable[[OverrideRequest], str | None]
"""Asks for an override reason; ``None`` (or blank) cancels the assignment."""
