"""Units (teams) and their live state: status, call, position.

A :class:`Unit` is the roster entry: call sign, program, who is on the team, what they speak
and carry, home post and shift. A :class:`UnitState` is what changes during a shift; it is an
immutable value, and :meth:`UnitState.transition` / :meth:`UnitState.move` return the next
state, so the board can hand states to worker threads and keep the previous one for its
timeline. Which status changes are allowed is data (``unit_status_transitions.csv``, see
:mod:`heartops.core.codes`), not code.

Ids are strings everywhere: ``unit_id`` is the call sign (``"CRT-2"``), the same id AVL fixes
carry; ``call_id`` and ``home_post_id`` are the store's and the posts file's ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from heartops.core.clock import DailyWindow, ensure_utc
from heartops.core.codes import CallLink, CodeTables, default_tables
from heartops.core.errors import InvalidTransition, UnknownCodeError
from heartops.core.geo import GeoPoint

ALL_DAY = DailyWindow(time(0, 0), time(0, 0))
"""A shift that never ends (the default: a unit without a shift is always on)."""


@dataclass(frozen=True, slots=True)
class Unit:
    """A team on the roster.

    Attributes
    ----------
    unit_id
        Call sign, also the AVL id (``"CRT-2"``).
    program
        Program code (``"CRT"``).
    team
        The role of each person on board, one entry per person
        (``("clinician", "peer_support", "emt")``); codes of kind ``role`` in
        ``capabilities.csv``.
    capabilities
        Languages spoken, supplies carried, vehicle features (``{"spanish", "naloxone"}``).
    home_post_id
        Staging post the unit returns to between calls.
    shift
        Local wall-clock shift in the city's zone; may cross midnight.
    name
        Optional display name.
    """

    unit_id: str
    program: str
    team: tuple[str, ...] = ()
    capabilities: frozenset[str] = field(default_factory=frozenset)
    home_post_id: str | None = None
    shift: DailyWindow = ALL_DAY
    name: str = ""

    def __post_init__(self) -> None:
        if not self.unit_id or self.unit_id != self.unit_id.strip():
            raise ValueError(f"unit id must be non-empty without surrounding spaces: "
                             f"{self.unit_id!r}")
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        object.__setattr__(self, "team", tuple(self.team))

    @property
    def provides(self) -> frozenset[str]:
        """Everything a call can require of this unit: its capabilities and its team roles."""
        return self.capabilities | frozenset(self.team)

    @property
    def roles(self) -> Mapping[str, int]:
        """How many people of each role are on the team."""
        return Counter(self.team)


def on_shift(unit: Unit, at: datetime, zone: ZoneInfo) -> bool:
    """Return whether ``unit`` is on shift at the aware instant ``at`` (local time in ``zone``)."""
    return unit.shift.contains(at, zone)


def team_gaps(unit: Unit, *, tables: CodeTables | None = None) -> tuple[str, ...]:
    """Return the roles the unit's program requires that its team lacks (empty if complete)."""
    program = (tables or default_tables()).program(unit.program)
    return tuple(role for role in program.team_roles if role not in unit.team)


def check_unit(unit: Unit, *, tables: CodeTables | None = None) -> Unit:
    """Return ``unit`` after checking its codes against the tables.

    Raises
    ------
    UnknownCodeError
        If the program, a team role or a capability is not in the tables, or a team member's
        role is not of kind ``role``.
    """
    tables = tables or default_tables()
    tables.program(unit.program)
    for role in unit.team:
        if tables.capability(role).kind != "role":
            raise UnknownCodeError(f"unit {unit.unit_id}: {role!r} is not a team role")
    for capability in sorted(unit.capabilities):
        tables.capability(capability)
    return unit


@dataclass(frozen=True, slots=True)
class UnitState:
    """What a unit is doing now.

    Attributes
    ----------
    unit_id
        The unit.
    status
        Status code from ``unit_statuses.csv``.
    since
        When the unit entered ``status`` (aware UTC); the board's time-in-status timer.
    call_id
        The call the unit is working, if any.
    position
        Last accepted AVL position, if any.
    last_avl_at
        Time of that position (aware UTC), for the stale-AVL warning.
    """

    unit_id: str
    status: str
    since: datetime
    call_id: str | None = None
    position: GeoPoint | None = None
    last_avl_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "since",
                           ensure_utc(self.since, what=f"status time of unit {self.unit_id}"))
        if self.last_avl_at is not None:
            object.__setattr__(self, "last_avl_at", ensure_utc(
                self.last_avl_at, what=f"AVL time of unit {self.unit_id}"))

    def time_in_status(self, at: datetime) -> timedelta:
        """Return how long the unit has been in its status at ``at``."""
        return ensure_utc(at) - self.since

    def avl_age(self, at: datetime) -> timedelta | None:
        """Return how old the last position is at ``at`` (``None`` without a position)."""
        return None if self.last_avl_at is None else ensure_utc(at) - self.last_avl_at

    def move(self, position: GeoPoint, at: datetime) -> UnitState:
        """Return the state with a new AVL position.

        A fix older than the one held is ignored (the state is returned unchanged): datagrams
        arrive out of order, and an old fix must not pull the marker back.
        """
        at = ensure_utc(at, what=f"AVL time of unit {self.unit_id}")
        if self.last_avl_at is not None and at < self.last_avl_at:
            return self
        return replace(self, position=position, last_avl_at=at)

    def transition(self, to: str, at: datetime, *, call_id: str | None = None,
                   tables: CodeTables | None = None) -> UnitState:
        """Return the state after a status change to ``to`` at ``at``.

        Parameters
        ----------
        to
            Target status code.
        at
            When the change happened (aware; not earlier than :attr:`since`).
        call_id
            The call, when the target status needs one and the unit has none yet (or when
            the unit is dispatched to a different call). Statuses that drop the call
            (available, out of service) clear it; emergency keeps it.
        tables
            Code tables (the packaged ones by default).

        Raises
        ------
        InvalidTransition
            When the transitions table forbids the change, the time goes backwards, or the
            call does not fit the target status.
        UnknownCodeError
            When ``to`` is not a status.
        """
        tables = tables or default_tables()
        target = tables.status(to)
        at = ensure_utc(at, what=f"status time of unit {self.unit_id}")
        who = f"unit {self.unit_id}"
        if at < self.since:
            raise InvalidTransition(f"{who}: {to} at {at:%Y-%m-%d %H:%M:%S}Z is earlier than "
                                    f"its {self.status} status ({self.since:%H:%M:%S}Z)")
        if to == self.status and call_id in (None, self.call_id):
            # Feeds and desks repeat themselves; the same status again changes nothing.
            return self
        if not tables.can_transition(self.status, to):
            allowed = ", ".join(tables.next_statuses(self.status)) or "none"
            raise InvalidTransition(f"{who}: {self.status} -> {to} is not allowed "
                                    f"(from {self.status}: {allowed})")
        return replace(self, status=to, since=at,
                       call_id=self._call_after(target.call, to, call_id, tables))

    def _call_after(self, link: CallLink, to: str, call_id: str | None,
                    tables: CodeTables) -> str | None:
        who = f"unit {self.unit_id}"
        if link is CallLink.NONE:
            if call_id is not None:
                raise InvalidTransition(f"{who}: status {to} takes no call (got {call_id})")
            return None
        if link is CallLink.KEPT:
            if call_id not in (None, self.call_id):
                raise InvalidTransition(f"{who}: status {to} keeps call {self.call_id}; "
                                        f"it cannot switch to {call_id}")
            return self.call_id
        if call_id is None:
            if self.call_id is None:
                raise InvalidTransition(f"{who}: status {to} needs a call")
            return self.call_id
        if self.call_id is not None and call_id != self.call_id \
                and to != tables.dispatch_status:
            # Only a new dispatch moves a unit to another call; a late "on scene" for a
            # different call is a mistake to surface, not to follow.
            raise InvalidTransition(f"{who} is on call {self.call_id}; {to} for call "
                                    f"{call_id} needs a dispatch first")
        return call_id
