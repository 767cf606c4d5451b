"""The live dispatch board: what every panel shows, kept by messages, answered by queries.

A :class:`Board` holds the live state of one desk: the roster (:class:`~heartops.core.units.Unit`
with its :class:`~heartops.core.units.UnitState`, whose ``last_avl_at`` is the last AVL fix), the
open calls with their eligibility screens, the active assignment of each unit, the open Care
Navigation follow-ups, a :class:`~heartops.core.safety.SafetyMonitor`, and the dispatchers'
acknowledgements of alerts.

Messages change it, and each returns one :class:`BoardChange` (the unit ids, call ids and
follow-up ids whose rows changed, and whether the alerts list changed) and announces it to the
subscribers (:meth:`Board.subscribe`): :meth:`~Board.load`, :meth:`~Board.apply_fixes` (one
batch of AVL fixes), :meth:`~Board.apply_unit_state`, :meth:`~Board.apply_call`,
:meth:`~Board.apply_assignment`, :meth:`~Board.apply_follow_up`, :meth:`~Board.apply_safety`,
:meth:`~Board.acknowledge` and :meth:`~Board.tick` (timers crossing thresholds). Inside
``with board.batch():`` the messages still return their own changes, but subscribers hear one
merged change when the outermost batch ends (a live feed's burst is one repaint). Empty changes
are not announced. A board is used from one thread (the Qt main thread): ARCHITECTURE.md, "only
the main thread mutates the board". Local commands, feeds and other desks' writes all arrive as
these same messages.

Queries read the state at an instant (the board's :class:`~heartops.core.clock.Clock` by
default) and return immutable rows: :meth:`~Board.queue` (pending calls, priority then age,
each with its ageing timer level and the programs eligible now), :meth:`~Board.active_calls`,
:meth:`~Board.unit_rows` (status, time in status with its level, call, zone, AVL age and
staleness), :meth:`~Board.follow_ups`, :meth:`~Board.alerts` (one list, most urgent first) and
:meth:`~Board.available_units`.

Timers are computed, never stored, so a replay at the same instants shows the same levels; the
thresholds are data (:class:`BoardThresholds`). Alerts come in a fixed order of kinds
(:class:`AlertKind`): a unit in the emergency status (never cleared until its status leaves
emergency), the on-scene check-in ladder (from the safety monitor), calls waiting past their
alert threshold, units past their time-in-status alert threshold, stale AVL, overdue
follow-ups. Each has a stable key (``"check_in:CRT-2"``) that a dispatcher can acknowledge; an
acknowledgement covers the alert at the level it had, so an escalation shows as unacknowledged
again, and it is forgotten when the alert ends (a new occurrence must be seen again). Every
acknowledgement stays in :attr:`Board.acknowledgements`.

Recommendation follows ARCHITECTURE.md: :meth:`Board.recommendation_request` freezes the call,
its screen at that instant and a snapshot of the units into a :class:`RecommendationRequest`;
:func:`compute_recommendation` (pure, safe in a worker thread) runs one drive-time search and the
core :func:`~heartops.core.recommend.recommend`; the caller applies the
:class:`RecommendationResult` on the main thread and drops it if a newer request was made
(``serial``) or :meth:`RecommendationResult.stale_reason` says a candidate moved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from types import MappingProxyType

from heartops.core.avl import AvlFix
from heartops.core.calls import Call
from heartops.core.care import FollowUpTask
from heartops.core.clock import Clock, ensure_utc
from heartops.core.codes import CallLink, CodeTables, Priority, UnitStatus
from heartops.core.eligibility import EligibilityResult, LedgerEntry, ledger_outcome, screen
from heartops.core.errors import HeartopsError, NotFound
from heartops.core.geo import GeoPoint
from heartops.core.ports import TravelTimes
from heartops.core.recommend import Assignment, LeftOutReason, Recommendation, recommend
from heartops.core.safety import AlertLevel, SafetyEvent, SafetyMonitor
from heartops.core.units import Unit, UnitState, on_shift

log = logging.getLogger(__name__)

# -- thresholds ----------------------------------------------------------------------------------


class TimerLevel(IntEnum):
    """How far a timer has run: the colour of its cell."""

    NORMAL = 0
    WARNING = 1
    ALERT = 2


@dataclass(frozen=True, slots=True)
class TimerThreshold:
    """The two thresholds of one timer.

    Attributes
    ----------
    warning
        From this elapsed time the timer shows as a warning.
    alert
        From this elapsed time it is an alert (and surfaces in the alerts list).
    """

    warning: timedelta
    alert: timedelta

    def __post_init__(self) -> None:
        if not timedelta() <= self.warning <= self.alert:
            raise ValueError(f"timer thresholds must satisfy 0 <= warning <= alert "
                             f"(warning {self.warning}, alert {self.alert})")

    def level(self, elapsed: timedelta) -> TimerLevel:
        """Return the level a timer that has run for ``elapsed`` is at."""
        if elapsed >= self.alert:
            return TimerLevel.ALERT
        if elapsed >= self.warning:
            return TimerLevel.WARNING
        return TimerLevel.NORMAL


def minutes(warning: float, alert: float) -> TimerThreshold:
    """Return a :class:`TimerThreshold` given in minutes (``minutes(2, 5)``)."""
    return TimerThreshold(timedelta(minutes=warning), timedelta(minutes=alert))


DEFAULT_CALL_WAIT: Mapping[Priority, TimerThreshold] = MappingProxyType({
    Priority.P: minutes(2, 5),
    Priority.ONE: minutes(2, 5),
    Priority.TWO: minutes(5, 10),
    Priority.THREE: minutes(10, 20),
})
"""Ageing of a pending call, from receipt, by priority.

Priority P is never HEART's (it goes to police/EMS), but a P call on the board is as urgent as a
Priority 1. The alert thresholds sit well inside the simulator profile's maximum waits (CCD 10,
COR 20, CRT 30 min), so the board warns before a call is lost to police/EMS."""

DEFAULT_STATUS_TIME: Mapping[str, TimerThreshold] = MappingProxyType({
    "dispatched": minutes(2, 5),       # turnout: the team should be rolling within minutes
    "en_route": minutes(15, 25),       # CRT's published mean to scene is 12.2 min
    "on_scene": minutes(60, 120),      # CRT's mean on scene is 34 min, COR's 52 min
    "transporting": minutes(30, 60),
    "at_destination": minutes(30, 60),  # handover at a hospital or crisis centre
    "out_of_service": minutes(60, 120),  # a break or restock longer than an hour
    "emergency": minutes(0, 0),        # always an alert
})
"""Time in status, by status code (statuses without an entry, such as available, have no
timer). Keyed by code, so an agency that renames its statuses gives its own mapping. Safety on
scene is the check-in ladder's business (``programs.toml``), not this workload timer."""

DEFAULT_AVL_STALE_AFTER = timedelta(seconds=60)
"""A unit that expects to report AVL is stale after this long without a fix (the simulator
reports parked units every 30 s, moving ones every second)."""

DEFAULT_FOLLOW_UP_WARNING = timedelta(hours=12)
"""A Care Navigation follow-up shows as a warning this long before it is due."""


@dataclass(frozen=True, slots=True)
class BoardThresholds:
    """Every timer threshold of the board (see the ``DEFAULT_*`` constants for the defaults).

    Attributes
    ----------
    call_wait
        Pending-call ageing, from receipt, by priority.
    status_time
        Time in status, by status code; statuses absent here have no timer.
    avl_stale_after
        AVL silence after which a unit is flagged stale (board-clock time).
    follow_up_warning
        How long before its due time an open follow-up turns to a warning (it is an alert
        once overdue).
    """

    call_wait: Mapping[Priority, TimerThreshold] = field(
        default_factory=lambda: DEFAULT_CALL_WAIT)
    status_time: Mapping[str, TimerThreshold] = field(
        default_factory=lambda: DEFAULT_STATUS_TIME)
    avl_stale_after: timedelta = DEFAULT_AVL_STALE_AFTER
    follow_up_warning: timedelta = DEFAULT_FOLLOW_UP_WARNING

    def __post_init__(self) -> None:
        if self.avl_stale_after <= timedelta():
            raise ValueError(f"avl_stale_after must be positive, got {self.avl_stale_after}")
        if self.follow_up_warning < timedelta():
            raise ValueError(f"follow_up_warning must not be negative, got "
                             f"{self.follow_up_warning}")
        object.__setattr__(self, "call_wait", MappingProxyType(dict(self.call_wait)))
        object.__setattr__(self, "status_time", MappingProxyType(dict(self.status_time)))

    def wait_level(self, priority: Priority, age: timedelta) -> TimerLevel:
        """Return the ageing level of a pending call of ``priority`` that is ``age`` old."""
        threshold = self.call_wait.get(priority)
        return TimerLevel.NORMAL if threshold is None else threshold.level(age)

    def status_level(self, status: str, elapsed: timedelta) -> TimerLevel:
        """Return the time-in-status level of a unit ``elapsed`` into ``status``."""
        threshold = self.status_time.get(status)
        return TimerLevel.NORMAL if threshold is None else threshold.level(elapsed)


DEFAULT_THRESHOLDS = BoardThresholds()

# -- changes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoardChange:
    """What one message (or one batch of messages) changed.

    Attributes
    ----------
    units
        Units whose row changed (status, call, position, timer level, staleness).
    calls
        Calls whose row changed, appeared or left (cleared).
    alerts_changed
        Whether an alert appeared, ended, changed level or was acknowledged.
    follow_ups
        Follow-up tasks whose row changed, appeared or left.
    """

    units: frozenset[str] = frozenset()
    calls: frozenset[str] = frozenset()
    alerts_changed: bool = False
    follow_ups: frozenset[str] = frozenset()

    def __or__(self, other: BoardChange) -> BoardChange:
        return BoardChange(self.units | other.units, self.calls | other.calls,
                           self.alerts_changed or other.alerts_changed,
                           self.follow_ups | other.follow_ups)

    def __bool__(self) -> bool:
        return bool(self.units or self.calls or self.alerts_changed or self.follow_ups)


NO_CHANGE = BoardChange()


@dataclass(slots=True)
class BatchResult:
    """Filled when a :meth:`Board.batch` block ends: everything it changed."""

    change: BoardChange = NO_CHANGE


@dataclass(slots=True)
class _Deferred:
    """What the messages inside an open batch changed, re-evaluated once when it ends."""

    change: BoardChange = NO_CHANGE
    at: datetime | None = None
    units: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)
    tasks: set[str] = field(default_factory=set)


# -- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A pending call (no unit on it, not cleared).

    Attributes
    ----------
    call
        The call.
    age_s
        Seconds since it was received.
    level
        Its ageing level (:attr:`BoardThresholds.call_wait`).
    eligible_programs
        Programs that can take it now (hours are judged at the query instant).
    heart_eligible
        Whether any program takes its call type.
    unmet
        For HEART demand no program can take now: why (outside the service area, outside
        program hours, excluded by a flag); triage hands such a call to police or EMS.
    """

    call: Call
    age_s: float
    level: TimerLevel
    eligible_programs: tuple[str, ...]
    heart_eligible: bool
    unmet: LedgerEntry | None = None

    @property
    def call_id(self) -> str:
        """The call's id."""
        return self.call.call_id

    @property
    def priority(self) -> Priority:
        """The call's priority."""
        return self.call.priority


@dataclass(frozen=True, slots=True)
class ActiveCallRow:
    """An open call with at least one unit on it.

    Attributes
    ----------
    call
        The call.
    unit_ids
        The units whose state names the call, in roster order.
    age_s
        Seconds since it was received.
    assignments
        The assignments (recommendation context, override reasons) of those units, where known.
    """

    call: Call
    unit_ids: tuple[str, ...]
    age_s: float
    assignments: tuple[Assignment, ...] = ()

    @property
    def call_id(self) -> str:
        """The call's id."""
        return self.call.call_id


@dataclass(frozen=True, slots=True)
class UnitRow:
    """A unit on the board.

    Attributes
    ----------
    unit
        The roster entry (program, team, capabilities, post, shift).
    state
        Its live state (status, since, call, position, last AVL time).
    status
        The status's table row: label, colour, shape, key, flashing (for painting).
    time_in_status_s
        Seconds in the current status.
    status_level
        The time-in-status level (:attr:`BoardThresholds.status_time`).
    zone_id
        The zone of its position, when the board has a zone lookup.
    avl_age_s
        Seconds since its last AVL fix (``None`` if it never reported).
    avl_stale
        Whether it should report AVL and has been silent too long.
    on_shift
        Whether its shift covers the query instant.
    heading_deg
        The direction of travel its last AVL fix reported (degrees from north), if any.
    """

    unit: Unit
    state: UnitState
    status: UnitStatus
    time_in_status_s: float
    status_level: TimerLevel
    zone_id: str | None
    avl_age_s: float | None
    avl_stale: bool
    on_shift: bool
    heading_deg: float | None = None

    @property
    def unit_id(self) -> str:
        """The unit's id."""
        return self.unit.unit_id

    @property
    def call_id(self) -> str | None:
        """The call it is on, if any."""
        return self.state.call_id

    @property
    def position(self) -> GeoPoint | None:
        """Its last position, if any."""
        return self.state.position


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    """An open Care Navigation follow-up.

    Attributes
    ----------
    task
        The task.
    time_left_s
        Seconds until due (negative once overdue).
    level
        WARNING within :attr:`BoardThresholds.follow_up_warning` of due, ALERT once overdue.
    """

    task: FollowUpTask
    time_left_s: float
    level: TimerLevel


class AlertKind(StrEnum):
    """What an alert is about, in the order the alerts list shows them (most urgent first)."""

    EMERGENCY = "emergency"
    CHECK_IN = "check_in"
    CALL_WAITING = "waiting"
    UNIT_STATUS = "status"
    AVL_STALE = "avl"
    FOLLOW_UP = "follow_up"

    @property
    def rank(self) -> int:
        """Position in the alerts list (0 first)."""
        return list(AlertKind).index(self)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A dispatcher's acknowledgement of an alert.

    Attributes
    ----------
    key
        The alert's key.
    kind, level, safety_level
        What the alert was when acknowledged (a later escalation is not covered).
    unit_id, call_id
        Who and where, when the alert names them.
    at
        When it was acknowledged.
    desk, operator
        Who acknowledged it.
    note
        Optional words from the dispatcher.
    """

    key: str
    kind: AlertKind
    level: TimerLevel
    safety_level: AlertLevel | None
    unit_id: str | None
    call_id: str | None
    at: datetime
    desk: str
    operator: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class BoardAlert:
    """One line of the alerts list.

    Attributes
    ----------
    key
        Stable while the alert stands (``"<kind>:<unit, call or task id>"``); what
        :meth:`Board.acknowledge` takes.
    kind
        What it is about.
    level
        WARNING or ALERT (the colour).
    text
        One line for the list and the status bar.
    since
        When the condition began (emergency raised, silence began, call received, ...).
    unit_id, call_id
        Who and where, when it names them.
    safety_level
        The safety ladder's level, for emergencies and check-ins.
    acknowledgement
        The acknowledgement that covers the alert at its current level, if any.
    """

    key: str
    kind: AlertKind
    level: TimerLevel
    text: str
    since: datetime
    unit_id: str | None = None
    call_id: str | None = None
    safety_level: AlertLevel | None = None
    acknowledgement: Acknowledgement | None = None

    @property
    def acknowledged(self) -> bool:
        """Whether a dispatcher acknowledged the alert at its current level."""
        return self.acknowledgement is not None

    @property
    def escalation(self) -> tuple[int, int]:
        """How far the alert has escalated (compared with an acknowledgement's)."""
        return (int(self.level), 0 if self.safety_level is None else int(self.safety_level))

    def sort_key(self) -> tuple[int, int, int, datetime, str]:
        """Order of the alerts list: kind, then higher level, then oldest."""
        return (self.kind.rank, -self.level, -self.escalation[1], self.since, self.key)


def alert_key(kind: AlertKind, subject: str) -> str:
    """Return the key of the ``kind`` alert about ``subject`` (a unit, call or task id)."""
    return f"{kind.value}:{subject}"


# -- recommendation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecommendationRequest:
    """Everything a worker needs to rank units for one call (immutable; safe to hand over).

    Attributes
    ----------
    call
        The call.
    eligibility
        Its screen at :attr:`at`.
    units
        Every unit with its state at :attr:`at`, in roster order.
    positions
        Positions of the units that need a drive time (free units of eligible in-person
        programs).
    at
        When the request was made (shifts are judged then).
    serial
        Increasing number; a result whose serial is not the newest is dropped.
    tables
        The code tables.
    """

    call: Call
    eligibility: EligibilityResult
    units: tuple[tuple[Unit, UnitState], ...]
    positions: Mapping[str, GeoPoint]
    at: datetime
    serial: int
    tables: CodeTables

    @property
    def call_id(self) -> str:
        """The call's id."""
        return self.call.call_id


@dataclass(frozen=True, slots=True)
class RecommendationResult:
    """A worker's answer to a :class:`RecommendationRequest`.

    Attributes
    ----------
    serial, call_id, at
        Those of the request.
    recommendation
        The ranking, or ``None`` when it could not be computed.
    error
        Why not (one line), else ``None``.
    """

    serial: int
    call_id: str
    at: datetime
    recommendation: Recommendation | None
    error: str | None = None

    def stale_reason(self, change: BoardChange, board: Board) -> str | None:
        """Why ``change`` makes the ranking out of date (one line), or ``None`` if it holds.

        A ranked unit moved or changed status, or a unit left out as busy or off shift is now
        free. Changes of other left-out units (most of the roster, on nearly every AVL batch)
        do not count, nor does the call's own timer.
        """
        ranking = self.recommendation
        if ranking is None:
            return None
        ranked = {r.unit_id for r in ranking.ranked} & change.units
        if ranked:
            return f"{', '.join(sorted(ranked))} moved"
        freed = [u.unit_id for u in ranking.left_out if u.unit_id in change.units
                 and u.reason in (LeftOutReason.BUSY, LeftOutReason.OFF_SHIFT)
                 and board.tables.status(board.state(u.unit_id).status).assignable]
        if freed:
            return f"{', '.join(sorted(freed))} now free"
        return None


def compute_recommendation(request: RecommendationRequest,
                           travel_times: TravelTimes) -> RecommendationResult:
    """Rank the units for the request's call: one drive-time search, then the core policy.

    Pure and thread-safe as long as ``travel_times`` is
    (:class:`heartops.routing.engine.TravelTimeEngine` is). A drive-time failure (the call is
    too far from any road) comes back as :attr:`RecommendationResult.error`.
    """
    try:
        etas = (travel_times.etas_to(request.call.location, dict(request.positions))
                if request.positions else {})
        ranking = recommend(request.call, request.eligibility, request.units, etas, request.at,
                            tables=request.tables)
    except HeartopsError as exc:
        return RecommendationResult(request.serial, request.call_id, request.at, None,
                                    str(exc).splitlines()[0])
    return RecommendationResult(request.serial, request.call_id, request.at, ranking)


# -- the board -----------------------------------------------------------------------------------

Subscriber = Callable[[BoardChange], None]
AreaTest = Callable[[GeoPoint], bool]
ZoneLookup = Callable[[GeoPoint], str | None]
_UnitMark = tuple[TimerLevel, bool, bool]
_AlertMark = tuple[str, TimerLevel, int, bool]


class Board:
    """The live state of one dispatch desk (see the module docstring).

    Parameters
    ----------
    tables
        Code tables (statuses, programs, call types, ...).
    clock
        Source of "now" for queries (the simulator's clock in a simulated session).
    thresholds
        Timer thresholds.
    safety
        The safety monitor to feed (a new one from ``tables`` by default).
    service_area
        Whether a call's location is in the department's service area (for the eligibility
        screen); ``None``: everywhere. Asked once per call.
    zone_of
        The zone of a unit's position (a police beat), for the unit rows; ``None``: no zones.
    """

    def __init__(self, tables: CodeTables, clock: Clock, *,
                 thresholds: BoardThresholds = DEFAULT_THRESHOLDS,
                 safety: SafetyMonitor | None = None, service_area: AreaTest | None = None,
                 zone_of: ZoneLookup | None = None) -> None:
        self.tables = tables
        self.clock = clock
        self.thresholds = thresholds
        self.safety = safety or SafetyMonitor(tables=tables)
        self._service_area = service_area
        self._zone_of = zone_of
        self._units: dict[str, Unit] = {}
        self._states: dict[str, UnitState] = {}
        self._seen: dict[str, datetime] = {}  # when AVL silence starts counting without a fix
        self._calls: dict[str, Call] = {}
        self._eligibility: dict[str, EligibilityResult] = {}
        self._inside: dict[str, bool] = {}
        self._assignments: dict[str, Assignment] = {}  # by unit id, while it is on that call
        self._tasks: dict[str, FollowUpTask] = {}
        self._acks: dict[str, Acknowledgement] = {}
        self._ack_log: list[Acknowledgement] = []
        self._zones: dict[str, tuple[GeoPoint, str | None]] = {}
        self._unit_marks: dict[str, _UnitMark] = {}
        self._call_marks: dict[str, TimerLevel] = {}
        self._task_marks: dict[str, TimerLevel] = {}
        self._alert_marks: frozenset[_AlertMark] = frozenset()
        self._subscribers: dict[object, Subscriber] = {}
        self._batches: list[BatchResult] = []
        self._deferred = _Deferred()
        self._screens: dict[str, tuple[Call, datetime, EligibilityResult]] = {}
        self._headings: dict[str, float | None] = {}  # from the last fix; not part of a state
        self._shifts: dict[str, tuple[Unit, datetime, bool]] = {}
        self._alerts_at: tuple[datetime, tuple[BoardAlert, ...]] | None = None

    # -- subscribing ---------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every non-empty change; return the function that stops it.

        Views subscribe when they open and call the returned function in ``close()``.
        """
        token = object()  # two subscriptions of equal callbacks are still two
        self._subscribers[token] = callback

        def unsubscribe() -> None:
            self._subscribers.pop(token, None)

        return unsubscribe

    @contextmanager
    def batch(self) -> Iterator[BatchResult]:
        """Merge the announcements of the messages inside into one, made when it ends.

        Yields a :class:`BatchResult` whose ``change`` is filled at the end (also when the
        block raises: what was applied stays applied and is announced).
        """
        result = BatchResult()
        self._batches.append(result)
        try:
            yield result
        finally:
            self._batches.pop()  # batches nest: the innermost ends first
            if self._batches:
                result.change = self._deferred.change  # the outer batch re-evaluates
            else:
                # Timers, marks and alerts are evaluated once per batch, not per message:
                # an AVL batch of 100 units and a tick cost one pass, not a hundred.
                deferred, self._deferred = self._deferred, _Deferred()
                result.change = self._finish(deferred.change, deferred.at or self._now(None),
                                             touched_units=deferred.units,
                                             touched_calls=deferred.calls,
                                             touched_tasks=deferred.tasks)

    def _announce(self, change: BoardChange) -> None:
        self._notify(change)

    def _notify(self, change: BoardChange) -> None:
        if change:
            for callback in list(self._subscribers.values()):
                callback(change)

    # -- messages ------------------------------------------------------------------------------

    def load(self, units: Iterable[tuple[Unit, UnitState]], calls: Iterable[Call] = (), *,
             follow_ups: Iterable[FollowUpTask] = (), safety_events: Iterable[SafetyEvent] = (),
             assignments: Iterable[Assignment] = ()) -> BoardChange:
        """Replace the whole board (start of a session, or a resync from the store).

        Parameters
        ----------
        units
            The roster with each unit's state, in display order.
        calls
            Calls; cleared ones are ignored.
        follow_ups
            Follow-up tasks; completed ones are ignored.
        safety_events
            Safety events to replay into a new monitor, in order.
        assignments
            Assignments; those whose unit is no longer on that call are ignored.
        """
        now = self._now(None)
        before = BoardChange(frozenset(self._units), frozenset(self._calls),
                             follow_ups=frozenset(self._tasks))
        self._units.clear()
        self._states.clear()
        self._seen.clear()
        self._calls.clear()
        self._eligibility.clear()
        self._screens.clear()
        self._headings.clear()
        self._inside.clear()
        self._assignments.clear()
        self._tasks.clear()
        self._zones.clear()
        self._unit_marks.clear()
        self._call_marks.clear()
        self._task_marks.clear()
        self.safety = SafetyMonitor.replay(safety_events, thresholds=self.safety.thresholds)
        for unit, state in units:
            self._add_unit(unit, state, now)
        for call in calls:
            if call.is_open:
                self._put_call(call, None)
        for task in follow_ups:
            if task.is_open:
                self._tasks[task.task_id] = task
        for assignment in assignments:
            held = self._states.get(assignment.unit_id)
            if held is not None and held.call_id == assignment.call_id:
                self._assignments[assignment.unit_id] = assignment
        loaded = BoardChange(frozenset(self._units), frozenset(self._calls), True,
                             frozenset(self._tasks))
        return self._finish(before | loaded, now)

    def _add_unit(self, unit: Unit, state: UnitState, now: datetime) -> None:
        if state.unit_id != unit.unit_id:
            raise ValueError(f"state of unit {state.unit_id} given for unit {unit.unit_id}")
        self.tables.status(state.status)
        self._units[unit.unit_id] = unit
        self._states[unit.unit_id] = state
        self._seen[unit.unit_id] = now

    def apply_fixes(self, fixes: Iterable[AvlFix]) -> BoardChange:
        """Apply a batch of AVL fixes (the latest per unit counts).

        Fixes of units not on the board, and fixes older than the unit's last one, are
        ignored.

        Returns
        -------
        BoardChange
            ``units``: the units whose position moved, plus any whose stale flag or timer level
            changed on the way.
        """
        latest: dict[str, AvlFix] = {}
        unknown = 0
        for fix in fixes:
            if fix.unit_id not in self._states:
                unknown += 1
                continue
            held = latest.get(fix.unit_id)
            if held is None or fix.time > held.time:
                latest[fix.unit_id] = fix
        if unknown:
            log.debug("ignored %d AVL fixes of units not on the board", unknown)
        moved = set()
        for unit_id, fix in latest.items():
            before = self._states[unit_id]
            after = before.move(fix.position, fix.time)
            if after is before:
                continue
            self._states[unit_id] = after
            self._headings[unit_id] = fix.heading_deg
            if after.position != before.position:
                moved.add(unit_id)
        return self._finish(BoardChange(units=frozenset(moved)), self._now(None),
                            touched_units=latest.keys())

    def apply_unit_state(self, state: UnitState, *, unit: Unit | None = None) -> BoardChange:
        """Apply a unit's new state (status change from a feed, a desk or the simulator).

        The status, its time and the call come from ``state``; the position is whichever of
        the board's and ``state``'s is newer (fixes arrive on their own path). A state older
        than the one held (an echo of an earlier change) is ignored.

        Parameters
        ----------
        state
            The new state.
        unit
            The roster entry, to add a unit or update its entry.

        Raises
        ------
        NotFound
            If the unit is not on the board and ``unit`` is not given.
        UnknownCodeError
            If the status is not in the tables.
        """
        unit_id = state.unit_id
        self.tables.status(state.status)
        now = self._now(None)
        before = self._states.get(unit_id)
        if before is None:
            if unit is None:
                raise NotFound(f"unit {unit_id!r} is not on the board")
            self._add_unit(unit, state, now)
            return self._finish(BoardChange(units=frozenset({unit_id})), now)
        roster_changed = unit is not None and self._units[unit_id] != unit
        if unit is not None:
            self._units[unit_id] = unit
        # An echo of an earlier change (another desk's, replayed) must not undo a later one.
        merged = before if state.since < before.since else _merge_position(state, before)
        if merged == before:
            return self._finish(BoardChange(units=frozenset({unit_id})) if roster_changed
                                else NO_CHANGE, now)
        self._states[unit_id] = merged
        assignment = self._assignments.get(unit_id)
        if assignment is not None and assignment.call_id != merged.call_id:
            del self._assignments[unit_id]
        calls = frozenset(c for c in (before.call_id, merged.call_id) if c is not None)
        return self._finish(BoardChange(units=frozenset({unit_id}), calls=calls), now)

    def apply_call(self, call: Call, *,
                   eligibility: EligibilityResult | None = None) -> BoardChange:
        """Apply a new or updated call; a cleared call leaves the board.

        Parameters
        ----------
        call
            The call's latest version.
        eligibility
            Its screen, when the sender has one; else the board screens it (at receipt).
        """
        now = self._now(None)
        call_id = call.call_id
        if not call.is_open:
            known = self._calls.pop(call_id, None)
            self._eligibility.pop(call_id, None)
            self._screens.pop(call_id, None)
            self._inside.pop(call_id, None)
            if known is None:
                return self._finish(NO_CHANGE, now)
            return self._finish(BoardChange(calls=frozenset({call_id})), now)
        if self._calls.get(call_id) == call and eligibility is None:
            return self._finish(NO_CHANGE, now)
        self._put_call(call, eligibility)
        return self._finish(BoardChange(calls=frozenset({call_id})), now)

    def _put_call(self, call: Call, eligibility: EligibilityResult | None) -> None:
        call_id = call.call_id
        previous = self._calls.get(call_id)
        self._calls[call_id] = call
        if call_id not in self._inside:
            self._inside[call_id] = (self._service_area is None
                                     or self._service_area(call.location))
        if eligibility is not None:
            self._eligibility[call_id] = eligibility
        elif previous is None or call_id not in self._eligibility \
                or _classification(previous) != _classification(call):
            self._eligibility[call_id] = self._screen(call, call.received_at)

    def apply_assignment(self, assignment: Assignment) -> BoardChange:
        """Keep the recommendation context of a unit's assignment (shown with its call).

        The unit's status and call still come from :meth:`apply_unit_state`.
        """
        self._assignments[assignment.unit_id] = assignment
        return self._finish(BoardChange(units=frozenset({assignment.unit_id}),
                                        calls=frozenset({assignment.call_id})), self._now(None))

    def apply_follow_up(self, task: FollowUpTask) -> BoardChange:
        """Apply a new or changed follow-up task; a completed one leaves the board."""
        now = self._now(None)
        if task.is_open:
            if self._tasks.get(task.task_id) == task:
                return self._finish(NO_CHANGE, now)
            self._tasks[task.task_id] = task
        elif self._tasks.pop(task.task_id, None) is None:
            return self._finish(NO_CHANGE, now)
        return self._finish(BoardChange(follow_ups=frozenset({task.task_id})), now)

    def apply_safety(self, event: SafetyEvent) -> BoardChange:
        """Feed one safety event to the monitor (check-ins, arrivals, emergencies, requests).

        Raises
        ------
        InvalidTransition
            If the event is earlier than the unit's previous one.
        """
        self.safety.apply(event)
        units = frozenset({event.unit_id}) if event.unit_id in self._states else frozenset()
        return self._finish(BoardChange(units=units), self._now(None))

    def acknowledge(self, key: str, at: datetime, desk: str, operator: str, *,
                    note: str = "") -> BoardChange:
        """Record that ``operator`` at ``desk`` saw and is handling the alert ``key``.

        Returns
        -------
        BoardChange
            ``alerts_changed`` is set (unless it was already acknowledged at this level).

        Raises
        ------
        NotFound
            If no alert with that key stands at ``at``.
        """
        at = ensure_utc(at, what="acknowledgement time")
        standing = {alert.key: alert for alert in self._compute_alerts(at)}
        alert = standing.get(key)
        if alert is None:
            known = ", ".join(standing) or "none"
            raise NotFound(f"no alert {key!r} is standing (standing: {known})")
        ack = Acknowledgement(key=key, kind=alert.kind, level=alert.level,
                              safety_level=alert.safety_level, unit_id=alert.unit_id,
                              call_id=alert.call_id, at=at, desk=desk, operator=operator,
                              note=note.strip())
        self._acks[key] = ack
        self._ack_log.append(ack)
        return self._finish(NO_CHANGE, at)

    def tick(self, now: datetime | None = None) -> BoardChange:
        """Re-evaluate every timer at ``now`` (the clock's now by default).

        Returns
        -------
        BoardChange
            The units, calls and follow-ups whose timer level (or staleness) changed since
            last seen, and whether the alerts list changed.
        """
        at = self._now(now)
        return self._finish(NO_CHANGE, at, touched_units=self._states.keys(),
                            touched_calls=self._calls.keys(), touched_tasks=self._tasks.keys())

    def _finish(self, change: BoardChange, at: datetime, *,
                touched_units: Iterable[str] = (), touched_calls: Iterable[str] = (),
                touched_tasks: Iterable[str] = ()) -> BoardChange:
        """Add the rows whose timer marks moved and the alerts verdict; announce; return.

        Inside a batch, only remember what to re-evaluate; the batch's end does it once.
        """
        self._alerts_at = None
        if self._batches:
            deferred = self._deferred
            deferred.change = deferred.change | change
            deferred.at = at if deferred.at is None else max(deferred.at, at)
            deferred.units.update(touched_units)
            deferred.calls.update(touched_calls)
            deferred.tasks.update(touched_tasks)
            return change
        units = set(change.units)
        for unit_id in units | set(touched_units):
            mark = self._unit_mark(unit_id, at)
            if self._unit_marks.get(unit_id) != mark:
                if mark is None:
                    self._unit_marks.pop(unit_id, None)
                else:
                    self._unit_marks[unit_id] = mark
                units.add(unit_id)
        calls = set(change.calls)
        for call_id in calls | set(touched_calls):
            level = self._call_mark(call_id, at)
            if self._call_marks.get(call_id) != level:
                if level is None:
                    self._call_marks.pop(call_id, None)
                else:
                    self._call_marks[call_id] = level
                calls.add(call_id)
        tasks = set(change.follow_ups)
        for task_id in tasks | set(touched_tasks):
            task_level = self._task_mark(task_id, at)
            if self._task_marks.get(task_id) != task_level:
                if task_level is None:
                    self._task_marks.pop(task_id, None)
                else:
                    self._task_marks[task_id] = task_level
                tasks.add(task_id)
        alerts = self._compute_alerts(at)
        self._alerts_at = (at, tuple(alerts))
        standing = {alert.key for alert in alerts}
        for key in [k for k in self._acks if k not in standing]:
            del self._acks[key]  # the alert ended: a new occurrence must be seen again
        marks = frozenset((a.key, a.level, a.escalation[1], a.acknowledged) for a in alerts)
        alerts_changed = change.alerts_changed or marks != self._alert_marks
        self._alert_marks = marks
        final = BoardChange(frozenset(units), frozenset(calls), alerts_changed,
                            frozenset(tasks))
        self._announce(final)
        return final

    def _unit_mark(self, unit_id: str, at: datetime) -> _UnitMark | None:
        state = self._states.get(unit_id)
        if state is None:
            return None
        level = self._status_level(unit_id, state, at)
        return (level, self._avl_stale(unit_id, state, at), self._on_shift(unit_id, at))

    def _call_mark(self, call_id: str, at: datetime) -> TimerLevel | None:
        call = self._calls.get(call_id)
        if call is None:
            return None
        return self.thresholds.wait_level(call.priority, call.age(at))

    def _task_mark(self, task_id: str, at: datetime) -> TimerLevel | None:
        task = self._tasks.get(task_id)
        return None if task is None else self._follow_up_level(task, at)

    # -- reading -------------------------------------------------------------------------------

    @property
    def unit_ids(self) -> tuple[str, ...]:
        """Every unit on the board, in display (roster) order."""
        return tuple(self._units)

    @property
    def calls(self) -> Mapping[str, Call]:
        """The open calls by id (read-only view)."""
        return MappingProxyType(self._calls)

    @property
    def acknowledgements(self) -> tuple[Acknowledgement, ...]:
        """Every acknowledgement made on this board, in order."""
        return tuple(self._ack_log)

    def unit(self, unit_id: str) -> Unit:
        """Return a unit's roster entry.

        Raises
        ------
        NotFound
            If the unit is not on the board.
        """
        try:
            return self._units[unit_id]
        except KeyError:
            raise NotFound(f"unit {unit_id!r} is not on the board") from None

    def state(self, unit_id: str) -> UnitState:
        """Return a unit's live state (raises :class:`NotFound` for an unknown unit)."""
        self.unit(unit_id)
        return self._states[unit_id]

    def call(self, call_id: str) -> Call:
        """Return an open call.

        Raises
        ------
        NotFound
            If the call is not open on the board.
        """
        try:
            return self._calls[call_id]
        except KeyError:
            raise NotFound(f"call {call_id!r} is not open on the board") from None

    def eligibility(self, call_id: str) -> EligibilityResult:
        """Return an open call's screen (as of its receipt, or as its sender gave it)."""
        self.call(call_id)
        return self._eligibility[call_id]

    def assignment_of(self, unit_id: str) -> Assignment | None:
        """Return the assignment of the call the unit is on, when the board was told it."""
        return self._assignments.get(unit_id)

    def units_on(self, call_id: str) -> tuple[str, ...]:
        """Return the units whose state names ``call_id``, in roster order."""
        return tuple(u for u, s in self._states.items() if s.call_id == call_id)

    def is_pending(self, call_id: str) -> bool:
        """Return whether the call is open with no unit on it (it is in the queue)."""
        return call_id in self._calls and not self.units_on(call_id)

    # -- queries -------------------------------------------------------------------------------

    def queue(self, at: datetime | None = None) -> list[QueueRow]:
        """Return the pending calls: priority first (P, 1, 2, 3), then oldest first."""
        at = self._now(at)
        busy = {s.call_id for s in self._states.values() if s.call_id is not None}
        rows = []
        for call in self._calls.values():
            if call.call_id in busy:
                continue
            verdict = self._screen(call, at)
            programs = verdict.eligible_programs
            unmet = None if programs else ledger_outcome(verdict, served=False)
            age = call.age(at)
            rows.append(QueueRow(call=call, age_s=age.total_seconds(),
                                 level=self.thresholds.wait_level(call.priority, age),
                                 eligible_programs=programs,
                                 heart_eligible=verdict.heart_eligible, unmet=unmet))
        rows.sort(key=lambda r: _call_order(r.call))
        return rows

    def active_calls(self, at: datetime | None = None) -> list[ActiveCallRow]:
        """Return the open calls that have units, priority first, then oldest first."""
        at = self._now(at)
        on_call: dict[str, list[str]] = {}
        for unit_id, state in self._states.items():
            if state.call_id is not None:
                on_call.setdefault(state.call_id, []).append(unit_id)
        rows = []
        for call in sorted(self._calls.values(), key=_call_order):
            unit_ids = on_call.get(call.call_id)
            if not unit_ids:
                continue
            assignments = tuple(a for u in unit_ids
                                if (a := self._assignments.get(u)) is not None)
            rows.append(ActiveCallRow(call, tuple(unit_ids), call.age(at).total_seconds(),
                                      assignments))
        return rows

    def unit_rows(self, at: datetime | None = None) -> list[UnitRow]:
        """Return every unit's row, in roster order."""
        at = self._now(at)
        return [self._unit_row(unit_id, at) for unit_id in self._units]

    def unit_row(self, unit_id: str, at: datetime | None = None) -> UnitRow:
        """Return one unit's row (raises :class:`NotFound` for an unknown unit)."""
        self.unit(unit_id)
        return self._unit_row(unit_id, self._now(at))

    def _unit_row(self, unit_id: str, at: datetime) -> UnitRow:
        unit, state = self._units[unit_id], self._states[unit_id]
        in_status = state.time_in_status(at)
        age = state.avl_age(at)
        return UnitRow(
            unit=unit, state=state, status=self.tables.status(state.status),
            time_in_status_s=in_status.total_seconds(),
            status_level=self._status_level(unit_id, state, at),
            zone_id=self._zone(unit_id, state.position),
            avl_age_s=None if age is None else age.total_seconds(),
            avl_stale=self._avl_stale(unit_id, state, at),
            on_shift=self._on_shift(unit_id, at),
            heading_deg=self._headings.get(unit_id))

    def follow_ups(self, at: datetime | None = None) -> list[FollowUpRow]:
        """Return the open follow-up tasks, soonest due first."""
        at = self._now(at)
        return [FollowUpRow(task, task.time_left(at).total_seconds(),
                            self._follow_up_level(task, at))
                for task in sorted(self._tasks.values(), key=lambda t: (t.due_at, t.task_id))]

    def available_units(self) -> dict[str, GeoPoint]:
        """Return the positions of units in an assignable status, by unit id (roster order)."""
        return {unit_id: state.position for unit_id, state in self._states.items()
                if state.position is not None and self.tables.status(state.status).assignable}

    def alerts(self, at: datetime | None = None) -> list[BoardAlert]:
        """Return every standing alert, most urgent first (see :class:`AlertKind`)."""
        at = self._now(at)
        cached = self._alerts_at
        if cached is not None and cached[0] == at:
            return list(cached[1])  # nothing changed since the last evaluation at ``at``
        return self._compute_alerts(at)

    def top_alert(self, at: datetime | None = None) -> BoardAlert | None:
        """Return the most urgent unacknowledged alert (for the status bar), if any."""
        return next((a for a in self.alerts(at) if not a.acknowledged), None)

    def recommendation_request(self, call_id: str, serial: int,
                               at: datetime | None = None) -> RecommendationRequest:
        """Freeze what ranking units for ``call_id`` needs (see :func:`compute_recommendation`).

        The call is screened again at ``at``: program hours may have changed since receipt.

        Raises
        ------
        NotFound
            If the call is not open on the board.
        """
        at = self._now(at)
        call = self.call(call_id)
        verdict = self._screen(call, at)
        eligible = set(verdict.eligible_programs)
        units = tuple((self._units[u], self._states[u]) for u in self._units)
        positions = {
            unit.unit_id: state.position for unit, state in units
            if state.position is not None and unit.program in eligible
            and self.tables.program(unit.program).in_person
            and self.tables.status(state.status).assignable}
        return RecommendationRequest(call=call, eligibility=verdict, units=units,
                                     positions=MappingProxyType(positions), at=at,
                                     serial=serial, tables=self.tables)

    # -- internals -----------------------------------------------------------------------------

    def _now(self, at: datetime | None) -> datetime:
        return ensure_utc(self.clock.now() if at is None else at, what="board time")

    def _on_shift(self, unit_id: str, at: datetime) -> bool:
        # Shifts start and end on the minute: one local-time test per unit and minute.
        unit = self._units[unit_id]
        minute = at.replace(second=0, microsecond=0)
        cached = self._shifts.get(unit_id)
        if cached is not None and cached[0] is unit and cached[1] == minute:
            return cached[2]
        verdict = on_shift(unit, at, self.tables.timezone)
        self._shifts[unit_id] = (unit, minute, verdict)
        return verdict

    def _screen(self, call: Call, at: datetime) -> EligibilityResult:
        # Programs open and close on the minute: a call's screen holds for its minute, so the
        # queue (asked every tick) screens each call once a minute, not once a tick.
        minute = at.replace(second=0, microsecond=0)
        cached = self._screens.get(call.call_id)
        if cached is not None and cached[0] is call and cached[1] == minute:
            return cached[2]
        inside = self._inside.get(call.call_id, True)
        verdict = screen(call, at, lambda _point: inside, tables=self.tables)
        self._screens[call.call_id] = (call, minute, verdict)
        return verdict

    def _zone(self, unit_id: str, position: GeoPoint | None) -> str | None:
        if self._zone_of is None or position is None:
            return None
        cached = self._zones.get(unit_id)
        if cached is not None and cached[0] == position:
            return cached[1]
        zone = self._zone_of(position)
        self._zones[unit_id] = (position, zone)
        return zone

    def _expects_avl(self, unit_id: str, state: UnitState) -> bool:
        """Whether the unit should be reporting: an in-person team that is in service."""
        status = self.tables.status(state.status)
        in_service = status.assignable or status.call is not CallLink.NONE
        return in_service and self.tables.program(self._units[unit_id].program).in_person

    def _avl_stale(self, unit_id: str, state: UnitState, at: datetime) -> bool:
        if not self._expects_avl(unit_id, state):
            return False
        last = state.last_avl_at or self._seen[unit_id]
        return at - last > self.thresholds.avl_stale_after

    def _status_level(self, unit_id: str, state: UnitState, at: datetime) -> TimerLevel:
        """Return the time-in-status level; a unit off shift and off calls has no timer.

        Out of service at the end of a shift is the schedule, not a break running long.
        """
        if self.tables.status(state.status).call is CallLink.NONE and \
                not self._on_shift(unit_id, at):
            return TimerLevel.NORMAL
        return self.thresholds.status_level(state.status, state.time_in_status(at))

    def _follow_up_level(self, task: FollowUpTask, at: datetime) -> TimerLevel:
        left = task.time_left(at)
        if left < timedelta():
            return TimerLevel.ALERT
        if left <= self.thresholds.follow_up_warning:
            return TimerLevel.WARNING
        return TimerLevel.NORMAL

    def _compute_alerts(self, at: datetime) -> list[BoardAlert]:
        found = [*self._emergency_alerts(at), *self._check_in_alerts(at),
                 *self._waiting_alerts(at), *self._status_alerts(at), *self._avl_alerts(at),
                 *self._follow_up_alerts(at)]
        acknowledged = []
        for alert in found:
            ack = self._acks.get(alert.key)
            if ack is not None and (ack.level, 0 if ack.safety_level is None
                                    else int(ack.safety_level)) >= alert.escalation:
                alert = replace(alert, acknowledgement=ack)
            acknowledged.append(alert)
        return sorted(acknowledged, key=BoardAlert.sort_key)

    def _emergency_alerts(self, at: datetime) -> Iterator[BoardAlert]:
        for unit_id, state in self._states.items():
            if not self.tables.status(state.status).emergency:
                continue
            where = f" on call {state.call_id}" if state.call_id else ""
            yield BoardAlert(
                key=alert_key(AlertKind.EMERGENCY, unit_id), kind=AlertKind.EMERGENCY,
                level=TimerLevel.ALERT, since=state.since, unit_id=unit_id,
                call_id=state.call_id, safety_level=AlertLevel.EMERGENCY,
                text=f"{unit_id} EMERGENCY{where} ({_span(at - state.since)} ago)")

    def _check_in_alerts(self, at: datetime) -> Iterator[BoardAlert]:
        for alert in self.safety.alerts(at):
            state = self._states.get(alert.unit_id)
            if alert.level is AlertLevel.EMERGENCY or state is None \
                    or self.tables.status(state.status).emergency:
                continue  # the emergency alert comes from the unit's status
            level = TimerLevel.WARNING if alert.level is AlertLevel.CHECK_IN_DUE \
                else TimerLevel.ALERT
            yield BoardAlert(
                key=alert_key(AlertKind.CHECK_IN, alert.unit_id), kind=AlertKind.CHECK_IN,
                level=level, since=alert.since, unit_id=alert.unit_id, call_id=alert.call_id,
                safety_level=alert.level, text=alert.message)

    def _waiting_alerts(self, at: datetime) -> Iterator[BoardAlert]:
        busy = {s.call_id for s in self._states.values() if s.call_id is not None}
        for call in self._calls.values():
            age = call.age(at)
            if call.call_id in busy or \
                    self.thresholds.wait_level(call.priority, age) is not TimerLevel.ALERT:
                continue
            limit = self.thresholds.call_wait[call.priority].alert
            label = self.tables.call_type(call.call_type).label
            yield BoardAlert(
                key=alert_key(AlertKind.CALL_WAITING, call.call_id),
                kind=AlertKind.CALL_WAITING, level=TimerLevel.ALERT, since=call.received_at,
                call_id=call.call_id,
                text=f"{call.call_id} {call.priority.label} {label.lower()} waiting "
                     f"{_span(age)} (alert at {_span(limit)})")

    def _status_alerts(self, at: datetime) -> Iterator[BoardAlert]:
        for unit_id, state in self._states.items():
            status = self.tables.status(state.status)
            elapsed = state.time_in_status(at)
            if status.emergency or \
                    self._status_level(unit_id, state, at) is not TimerLevel.ALERT:
                continue
            limit = self.thresholds.status_time[state.status].alert
            where = f" on call {state.call_id}" if state.call_id else ""
            yield BoardAlert(
                key=alert_key(AlertKind.UNIT_STATUS, unit_id), kind=AlertKind.UNIT_STATUS,
                level=TimerLevel.ALERT, since=state.since, unit_id=unit_id,
                call_id=state.call_id,
                text=f"{unit_id} {status.label.lower()}{where} for {_span(elapsed)} "
                     f"(alert at {_span(limit)})")

    def _avl_alerts(self, at: datetime) -> Iterator[BoardAlert]:
        for unit_id, state in self._states.items():
            if not self._avl_stale(unit_id, state, at):
                continue
            last = state.last_avl_at or self._seen[unit_id]
            what = "no AVL fix" if state.last_avl_at is None else "last AVL fix"
            yield BoardAlert(
                key=alert_key(AlertKind.AVL_STALE, unit_id), kind=AlertKind.AVL_STALE,
                level=TimerLevel.WARNING, since=last, unit_id=unit_id, call_id=state.call_id,
                text=f"{unit_id} {what} for {_span(at - last)}")

    def _follow_up_alerts(self, at: datetime) -> Iterator[BoardAlert]:
        for task in self._tasks.values():
            if not task.is_overdue(at):
                continue
            yield BoardAlert(
                key=alert_key(AlertKind.FOLLOW_UP, task.task_id), kind=AlertKind.FOLLOW_UP,
                level=TimerLevel.ALERT, since=task.due_at, call_id=task.call_id,
                text=f"follow-up {task.task_id} (call {task.call_id}) overdue by "
                     f"{_span(at - task.due_at)}")


def _merge_position(state: UnitState, held: UnitState) -> UnitState:
    """Return ``state`` with the newer of its and ``held``'s positions."""
    if held.position is None:
        return state
    if state.position is None or (held.last_avl_at is not None and (
            state.last_avl_at is None or state.last_avl_at < held.last_avl_at)):
        return replace(state, position=held.position, last_avl_at=held.last_avl_at)
    return state


def _classification(call: Call) -> tuple[object, ...]:
    return (call.call_type, call.priority, call.flags, call.needs, call.zone_id)


def _call_order(call: Call) -> tuple[int, datetime, str]:
    """Queue order: priority, then oldest (aware UTC instants, so DST cannot reorder)."""
    return (call.priority.rank, call.received_at, call.call_id)


def _span(span: timedelta) -> str:
    """Return a short duration for alert texts: ``45 s``, ``12 min``, ``3 h 05 min``."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
