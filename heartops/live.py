"""The live session: the board, the drive-time engine, a simulated city and the store, joined.

A use case that joins core, routing, feeds and the store (adapters that may not import each
other), so it lives beside the composition root like :mod:`heartops.history`. No Qt: the Qt
panels drive a :class:`LiveSession` from a timer and read its :class:`~heartops.core.board.Board`.

How data flows (ARCHITECTURE.md, "How live data flows"):

* :meth:`LiveSession.advance` steps the :class:`~heartops.feeds.sim.shift.Simulator` (manual
  dispatch) by the wall time times :attr:`LiveSession.speed`. Its sink turns each simulated
  event into the board message a real feed would send (calls, unit statuses, assignments,
  safety events, follow-ups), collects the AVL fixes and applies them as one batch, then ticks
  the timers. Subscribers of the board hear one merged change per advance.
* Commands (:meth:`~LiveSession.assign`, :meth:`~LiveSession.set_status`,
  :meth:`~LiveSession.add_note`, :meth:`~LiveSession.close_call`,
  :meth:`~LiveSession.acknowledge`) are checked against the simulation first, then written to
  the store when there is one (the database decides conflicts: an
  :class:`~heartops.core.errors.AssignmentConflict` propagates and nothing else changes), then
  applied to the simulation, whose events update the board exactly as its own events do.
  Without a store a command goes straight to the simulation and the board.
* With a store, every simulated event is also written to it (calls, steps, statuses,
  assignments of the simulated dispatcher, closings, ledger, safety events, follow-up
  progress, and the latest AVL fix of each unit per advance). Those writes are idempotent, so
  a command's own echo is not written twice. A write the store refuses is logged and kept in
  :attr:`LiveSession.store_errors`; the live board does not stop for it.

Several desks (ARCHITECTURE.md: "Other desks' writes arrive as the same core messages"):

* On a shared PostgreSQL store the first desk to start runs the city (:class:`LiveSession`,
  holding the store's city lease) and follows the store with a
  :class:`~heartops.store.follow.StoreFollower`: another desk's assignment, status change,
  note or closing is replayed into the simulation at its next advance, so the simulated teams
  obey every desk. Its own writes and the simulated world's are recognised by desk name and
  skipped (each desk needs its own name).
* Every further desk is a :class:`SharedDesk`: no simulation of its own; its board is loaded
  from the store and then follows it (changes announced by ``NOTIFY``, AVL fixes polled), read
  on the follower's thread and applied from the desk's timer. Its commands are checked against
  its board, written to the store (which decides conflicts: the loser gets the store's
  one-line reason and nothing is overwritten) and read back at once.
* SQLite cannot announce changes: a desk on SQLite is a single desk and says so
  (:attr:`LiveSession.desk_mode`).

Typed commands (:mod:`heartops.core.commands`) run through :meth:`DeskSession.execute`.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

from heartops.core.avl import AvlFix
from heartops.core.board import (
    DEFAULT_THRESHOLDS,
    Board,
    BoardChange,
    BoardThresholds,
    RecommendationRequest,
    RecommendationResult,
    compute_recommendation,
)
from heartops.core.calls import Call
from heartops.core.care import FollowUpTask
from heartops.core.clock import ManualClock
from heartops.core.codes import CallLink, CallStep, CodeTables, default_tables
from heartops.core.commands import (
    AssignCommand,
    CheckInCommand,
    CloseCommand,
    Command,
    CommandError,
    NoteCommand,
    StatusCommand,
    complete,
    parse_command,
    resolve_status,
)
from heartops.core.eligibility import LedgerEntry
from heartops.core.errors import (
    AssignmentRefused,
    Conflict,
    HeartopsError,
    InvalidTransition,
    NotFound,
    StoreError,
)
from heartops.core.geo import GeoPoint
from heartops.core.recommend import Assignment, Recommendation
from heartops.core.recommend import assign as choose_unit
from heartops.core.safety import SafetyEvent, SafetyEventKind
from heartops.core.units import Unit, UnitState
from heartops.feeds.sim.sinks import NullSink
from heartops.feeds.simulator import Simulator, default_roster, load_profile
from heartops.routing.demo_setup import demo_layer, ensure_demo
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import DEMO_NAME, load_network
from heartops.routing.posts import load_posts
from heartops.routing.zones import ZoneIndex, list_zone_layers
from heartops.store import AuditRecord, Entity, Store
from heartops.store.convert import assignment_doc, assignment_from_doc, safety_event_from_doc
from heartops.store.follow import StoreChanges, StoreFollower, read_changes
from heartops.store.listen import supports_notifications

log = logging.getLogger(__name__)

MIN_SPEED = 1.0
MAX_SPEED = 60.0
DEFAULT_SPEED = 60.0
"""Simulated seconds per wall second: 60x turns a shift into a few minutes of demo."""

DEMO_AUTO_DISPATCH_AFTER = timedelta(minutes=3)
"""In the demo, a simulated dispatcher takes a call nobody assigned after 3 simulated minutes."""

DEMO_START_LOCAL = time(10, 0)
"""The demo starts today at 10:00 city time, when every program is open."""

DEFAULT_DESK = "desk-1"
"""The city desk's name; a joining desk is named ``desk-<pid>`` unless told otherwise."""
DEFAULT_OPERATOR = "dispatcher"
SIMULATOR_DESK = "simulator"
SIMULATOR_OPERATOR = "simulated dispatcher"
"""Who the store records for what the simulated world did (its own dispatches, statuses)."""

MAX_STORE_ERRORS = 100
SAFETY_REPLAY = timedelta(hours=12)
"""A joining desk replays this much safety history (check-ins of the shift in progress)."""
LEFTOVER_DISPOSITION = "cancelled"
LEFTOVER_NOTE = "closed by heartops: the simulated city was restarted"


# -- the session ---------------------------------------------------------------------------------


class DeskSession:
    """What every desk does the same way: rank units off the UI thread, check, run commands.

    Subclasses set :attr:`board`, :attr:`engine`, :attr:`store`, :attr:`desk` and
    :attr:`operator`, and implement the commands.
    """

    board: Board
    engine: TravelTimeEngine
    store: Store | None
    desk: str
    operator: str
    _serial: int = 0

    @property
    def tables(self) -> CodeTables:
        """The code tables (statuses with colours, shapes and keys; programs; ...)."""
        return self.board.tables

    controls_time: bool
    """Whether this desk runs the clock (speed and pause), or follows another desk's."""

    @property
    def now(self) -> datetime:
        """The desk's instant (the board's clock)."""
        raise NotImplementedError

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second."""
        raise NotImplementedError

    @speed.setter
    def speed(self, value: float) -> None:
        raise NotImplementedError

    @property
    def desk_mode(self) -> str:
        """Who this desk is and how it shares its work, for the status bar."""
        raise NotImplementedError

    @property
    def store_errors(self) -> list[str]:
        """The last store writes or reads that failed (newest last), one line each."""
        raise NotImplementedError

    def advance(self, wall_dt_s: float) -> BoardChange:
        """Bring the board up to date (call it from a timer); return what changed."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the desk's background work."""
        raise NotImplementedError

    # -- recommendation ------------------------------------------------------------------------

    def recommendation_request(self, call_id: str) -> RecommendationRequest:
        """Return a new request for ``call_id`` (for a worker: :func:`compute_recommendation`).

        Each request gets a higher serial; :meth:`is_current` then drops older results.
        """
        self._serial += 1
        return self.board.recommendation_request(call_id, self._serial)

    def is_current(self, result: RecommendationResult) -> bool:
        """Return whether ``result`` answers the newest request (else drop it)."""
        return result.serial == self._serial

    def recommend(self, call_id: str) -> Recommendation:
        """Rank the units for ``call_id`` now, on this thread (one drive-time search).

        Raises
        ------
        NotFound
            If the call is not open.
        HeartopsError
            If drive times cannot be computed (the call is too far from any road).
        """
        result = compute_recommendation(self.board.recommendation_request(call_id, 0),
                                        self.engine)
        if result.recommendation is None:
            raise HeartopsError(f"no recommendation for call {call_id}: {result.error}")
        return result.recommendation

    def _checked_assignment(self, unit_id: str, call_id: str, override_reason: str | None,
                            recommendation: Recommendation | None, at: datetime, desk: str,
                            operator: str) -> Assignment:
        """Return the assignment the board allows, or raise why not (see ``assign``)."""
        board = self.board
        board.unit(unit_id)
        board.call(call_id)
        if not board.is_pending(call_id):
            raise AssignmentRefused(f"call {call_id} already has "
                                    f"{', '.join(board.units_on(call_id))}")
        if recommendation is None or recommendation.call_id != call_id:
            recommendation = self.recommend(call_id)
        assignment = choose_unit(recommendation, unit_id, override_reason, at=at)
        state = board.state(unit_id)
        if not self.tables.status(state.status).assignable:
            raise AssignmentRefused(f"{unit_id} is {self.tables.status(state.status).label} "
                                    f"now; recompute the recommendation")
        return replace(assignment, desk=desk, operator=operator)

    # -- commands ------------------------------------------------------------------------------

    def assign(self, unit_id: str, call_id: str, *, override_reason: str | None = None,
               desk: str | None = None, operator: str | None = None,
               recommendation: Recommendation | None = None) -> Assignment:
        """Dispatch ``unit_id`` to ``call_id`` (see :meth:`LiveSession.assign`)."""
        raise NotImplementedError

    def set_status(self, unit_id: str, status: str, *, desk: str | None = None,
                   operator: str | None = None) -> UnitState:
        """Change a unit's status (see :meth:`LiveSession.set_status`)."""
        raise NotImplementedError

    def add_note(self, call_id: str, text: str, *, desk: str | None = None,
                 operator: str | None = None) -> Call:
        """Append a note to a call (see :meth:`LiveSession.add_note`)."""
        raise NotImplementedError

    def close_call(self, call_id: str, dispositions: Collection[str],
                   destination: str | None = None, *, desk: str | None = None,
                   operator: str | None = None) -> Call:
        """Close a call (see :meth:`LiveSession.close_call`)."""
        raise NotImplementedError

    def check_in(self, unit_id: str, *, desk: str | None = None,
                 operator: str | None = None) -> SafetyEvent:
        """Record that a team on a call reported all is well: its check-in timer restarts.

        Acknowledging a check-in alert only says the dispatcher saw it; the timer restarts
        when the team is heard from, which is this.

        Raises
        ------
        NotFound
            Unknown unit.
        InvalidTransition
            The unit is not on a call.
        """
        desk, operator = self._who(desk, operator)
        state = self.board.state(unit_id)
        if state.call_id is None:
            raise InvalidTransition(f"{unit_id} is not on a call: a check-in is for a team "
                                    "out on one")
        event = SafetyEvent(SafetyEventKind.CHECK_IN, self.now, unit_id=unit_id,
                            call_id=state.call_id, program=self.board.unit(unit_id).program)
        if self.store is not None:
            self.store.record_safety_events([event], desk=desk, operator=operator)
        self._show_recorded(event)
        return event

    def _show_recorded(self, event: SafetyEvent) -> None:
        """Show a safety event this desk recorded (a desk following the store reads it back)."""
        self.board.apply_safety(event)

    def acknowledge(self, alert_key: str, *, desk: str | None = None,
                    operator: str | None = None, note: str = "") -> BoardChange:
        """Acknowledge a standing alert; safety alerts are also recorded in the store.

        Raises
        ------
        NotFound
            If no alert with that key stands.
        """
        desk, operator = self._who(desk, operator)
        now = self.now
        alert = next((a for a in self.board.alerts(now) if a.key == alert_key), None)
        if alert is None:
            return self.board.acknowledge(alert_key, now, desk, operator)  # raises NotFound
        if self.store is not None and alert.safety_level is not None and alert.unit_id:
            self.store.acknowledge_alert(alert.unit_id, alert.safety_level, now, desk=desk,
                                         operator=operator, call_id=alert.call_id, note=note)
        return self.board.acknowledge(alert_key, now, desk, operator, note=note)

    def execute(self, command: Command, *, desk: str | None = None,
                operator: str | None = None) -> str:
        """Run a parsed command; return a one-line confirmation.

        Raises
        ------
        HeartopsError
            Whatever the command raises (one-line messages, ready for the command line).
        """
        if isinstance(command, AssignCommand):
            done = self.assign(command.unit_id, command.call_id,
                               override_reason=command.reason, desk=desk, operator=operator)
            eta = "" if done.eta_seconds is None else f", {done.eta_seconds / 60:.1f} min away"
            why = f"; override: {done.override_reason}" if done.override_reason else ""
            return f"{done.unit_id} assigned to {done.call_id} (rank {done.rank}{eta}){why}"
        if isinstance(command, StatusCommand):
            state = self.set_status(command.unit_id, command.status, desk=desk,
                                    operator=operator)
            return f"{command.unit_id} {self.tables.status(state.status).label.lower()}"
        if isinstance(command, NoteCommand):
            self.add_note(command.call_id, command.text, desk=desk, operator=operator)
            return f"note added to {command.call_id}"
        if isinstance(command, CloseCommand):
            closed = self.close_call(command.call_id, command.dispositions, command.destination,
                                     desk=desk, operator=operator)
            labels = ", ".join(self.tables.disposition(d).label for d in closed.dispositions)
            return f"{closed.call_id} closed: {labels}"
        if isinstance(command, CheckInCommand):
            self.check_in(command.unit_id, desk=desk, operator=operator)
            return f"{command.unit_id} checked in"
        self.acknowledge(command.key, desk=desk, operator=operator)
        return f"acknowledged {command.key}"

    def complete(self, prefix: str) -> list[str]:
        """Return whole-line completions of a partly typed command line."""
        return complete(prefix, self.board)

    def run_command(self, line: str) -> str:
        """Parse and run a typed command line; return its one-line confirmation.

        Raises
        ------
        HeartopsError
            With a one-line message for a line that does not parse or a command refused.
        """
        command = parse_command(line, self.board)
        if isinstance(command, CommandError):
            raise HeartopsError(command.message)
        return self.execute(command)

    def _who(self, desk: str | None, operator: str | None) -> tuple[str, str]:
        return desk or self.desk, operator or self.operator


class LiveSession(DeskSession):
    """One desk's live board over a simulated city, optionally recording to a store.

    Parameters
    ----------
    simulator
        A simulator in manual dispatch mode; the session replaces its sink.
    engine
        The drive-time engine over the same network (recommendations).
    store
        Where commands and events are recorded; ``None`` to run without one.
    speed
        Simulated seconds per wall second, :data:`MIN_SPEED` to :data:`MAX_SPEED`.
    desk, operator
        Who issues the commands (each command may name another).
    thresholds
        The board's timer thresholds.
    service_area, zone_of
        Passed to the :class:`~heartops.core.board.Board`.
    persist_fixes
        With a store, record each unit's latest fix per advance (not every fix: the store
        writer must stay off the paint path).
    follow_other_desks
        Replay other desks' commands from the store into the simulation; by default when the
        store is PostgreSQL (the only one that announces changes).

    Raises
    ------
    ValueError
        If the simulator dispatches automatically, or the speed is out of range.
    """

    def __init__(self, simulator: Simulator, engine: TravelTimeEngine, *,
                 store: Store | None = None, speed: float = DEFAULT_SPEED,
                 desk: str = DEFAULT_DESK, operator: str = DEFAULT_OPERATOR,
                 thresholds: BoardThresholds = DEFAULT_THRESHOLDS,
                 service_area: Callable[[GeoPoint], bool] | None = None,
                 zone_of: Callable[[GeoPoint], str | None] | None = None,
                 persist_fixes: bool = True,
                 follow_other_desks: bool | None = None) -> None:
        if simulator.dispatch_mode != "manual":
            raise ValueError("a live session needs a simulator in manual dispatch mode")
        self.simulator = simulator
        self.engine = engine
        self.store = store
        self.desk = desk
        self.operator = operator
        self.persist_fixes = persist_fixes
        self.speed = speed
        self.board = Board(simulator.tables, simulator.clock, thresholds=thresholds,
                           service_area=service_area, zone_of=zone_of)
        self.ledger: list[LedgerEntry] = []
        """Unmet-demand ledger entries of the session's calls, in order."""
        self._serial = 0
        self._writer = None if store is None else _StoreWriter(store, simulator.tables)
        self._sink = _SessionSink(self)
        simulator.sink = self._sink
        states = simulator.unit_states()
        units = simulator.roster.units
        self.board.load([(unit, states[unit.unit_id]) for unit in units],
                        simulator.open_calls().values())
        if self._writer is not None:
            self._writer.roster(units, at=simulator.now)
            for unit_id, state in states.items():  # a simulator that already ran, or old rows
                self._writer.unit_status(unit_id, state.status, state.since, state.call_id)
            self._writer.cancel_leftovers(simulator.open_calls(), at=simulator.now)
        if follow_other_desks is None:
            follow_other_desks = store is not None and supports_notifications(store.url)
        self._follower: StoreFollower | None = None
        if follow_other_desks:
            assert store is not None
            self._follower = StoreFollower(store, cursor=store.current_change_id(),
                                           fix_cursor=0, follow_fixes=False).start()

    @classmethod
    def demo(cls, *, seed: int = 1, start: datetime | None = None, network: str = DEMO_NAME,
             auto_dispatch_after: timedelta | None = DEMO_AUTO_DISPATCH_AFTER,
             store: Store | None = None, speed: float = DEFAULT_SPEED,
             desk: str = DEFAULT_DESK, operator: str = DEFAULT_OPERATOR,
             volume: float = 1.0) -> LiveSession:
        """Return a session over a built network (the demo city by default).

        Parameters
        ----------
        seed
            The simulation's seed.
        start
            Aware start instant; defaults to today at :data:`DEMO_START_LOCAL` city time.
        network
            The network name; the demo city is built first if it is missing (about half a
            minute).
        auto_dispatch_after
            The simulated dispatcher's patience (``None``: only the person dispatches).
        store, speed, desk, operator
            As for :class:`LiveSession`.
        volume
            Calls at this multiple of the city's volume (3: a busy shift for a demo).
        """
        city = _load_city(network)
        profile = load_profile()
        roster = default_roster(load_posts(network), profile)
        if not roster.units:
            raise HeartopsError(f"network {network!r} has no staging posts to station teams at")
        start = start or _today_at(DEMO_START_LOCAL)
        # Live call ids stay apart from simulated history and from other runs in a store.
        prefix = f"L{seed}-{start:%Y%m%dT%H%M}-"
        if store is not None:
            prefix += f"{datetime.now(UTC):%H%M%S}-"
        simulator = Simulator(city.engine, roster, profile, seed, start, zones=city.beats,
                              service_area=city.area, call_id_prefix=prefix,
                              dispatch="manual", auto_dispatch_after=auto_dispatch_after,
                              volume=volume)
        return cls(simulator, city.engine, store=store, speed=speed, desk=desk,
                   operator=operator, service_area=city.service_area, zone_of=city.zone_of)

    # -- time ----------------------------------------------------------------------------------

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second (1 to 60)."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not MIN_SPEED <= value <= MAX_SPEED:
            raise ValueError(f"speed must be between {MIN_SPEED:g} and {MAX_SPEED:g}, got "
                             f"{value!r}")
        self._speed = float(value)

    @property
    def now(self) -> datetime:
        """The simulated instant (the board's clock)."""
        return self.simulator.now

    @property
    def store_errors(self) -> list[str]:
        """The last store writes that failed (newest last), one line each."""
        return [] if self._writer is None else list(self._writer.errors)

    def advance(self, wall_dt_s: float) -> BoardChange:
        """Run the city for ``wall_dt_s`` wall seconds at :attr:`speed`; return what changed.

        Call it from a timer (every 250 ms). Simulated events reach the board as they happen;
        the AVL fixes of the step are applied as one batch; then every timer is re-evaluated.
        Board subscribers hear one change.

        Raises
        ------
        ValueError
            If ``wall_dt_s`` is negative or not finite.
        """
        if not (math.isfinite(wall_dt_s) and wall_dt_s >= 0):
            raise ValueError(f"wall_dt_s must be a finite, non-negative number, got "
                             f"{wall_dt_s!r}")
        with self.board.batch() as batch:
            self._replay_other_desks()
            self.simulator.step(wall_dt_s * self._speed)
            fixes = self._sink.take_fixes()
            self.board.apply_fixes(fixes)
            self.board.tick()
        if self._writer is not None and self.persist_fixes and fixes:
            latest: dict[str, AvlFix] = {}
            for fix in fixes:
                latest[fix.unit_id] = fix  # emitted in time order
            self._writer.fixes(latest.values())
        return batch.change

    def close(self) -> None:
        """Detach from the simulator (its events no longer reach the board or the store)."""
        self.simulator.sink = NullSink()
        if self._follower is not None:
            self._follower.stop()
            self._follower = None

    # -- other desks ---------------------------------------------------------------------------

    controls_time = True
    """The city desk runs the simulated clock (speed and pause are its to set)."""

    @property
    def desk_mode(self) -> str:
        """How this desk shares its work, for the status bar."""
        if self.store is None:
            return f"{self.desk} · single desk, nothing recorded"
        if self._follower is None:
            return (f"{self.desk} · single desk ({self.store.dialect}: other desks cannot "
                    "share it)")
        return f"{self.desk} · runs the city · shared with other desks ({self.store.dialect})"

    def _replay_other_desks(self) -> None:
        """Apply other desks' commands, read from the store, to the simulation."""
        if self._follower is None:
            return
        for changes in self._follower.drain():
            for change in _by_change(changes.records):
                if change[0].desk in (self.desk, SIMULATOR_DESK):
                    continue  # this desk's commands and the simulated world's own events
                try:
                    self._replay(change)
                except HeartopsError as exc:
                    # The store already holds the other desk's decision; the simulation
                    # could not follow it (its team moved on in the same instant).
                    line = f"replaying {change[0].desk}'s change: {str(exc).splitlines()[0]}"
                    log.error("%s", line)
                    if self._writer is not None:
                        self._writer.note_error(line)

    def _replay(self, change: Sequence[AuditRecord]) -> None:
        """Replay one change (one store transaction) of another desk into the simulation."""
        by_kind = {(r.entity, r.action): r for r in change}
        assigned = by_kind.get((Entity.ASSIGNMENT, "assign"))
        closed = by_kind.get((Entity.CALL, "close"))
        status = by_kind.get((Entity.UNIT, "status"))
        note = by_kind.get((Entity.CALL, "note"))
        for record in change:
            if record.entity == Entity.SAFETY_EVENT and record.after is not None:
                self.board.apply_safety(safety_event_from_doc(record.after))
        if assigned is not None and assigned.after is not None:
            doc = assigned.after
            self.simulator.assign(doc["unit_id"], doc["call_id"],
                                  assignment=assignment_from_doc(doc))
        elif closed is not None and closed.after is not None:
            self.simulator.close_call(closed.entity_id, closed.after["dispositions"],
                                      closed.after["destination"])
        elif status is not None and status.after is not None:
            self.simulator.set_status(status.entity_id, status.after["status"])
        elif note is not None and note.after is not None \
                and self.simulator.call(note.entity_id) is not None:
            call = self.simulator.add_note(note.entity_id, note.after["text"],
                                           author=note.after["author"])
            self.board.apply_call(call)

    # -- commands ------------------------------------------------------------------------------

    def assign(self, unit_id: str, call_id: str, *, override_reason: str | None = None,
               desk: str | None = None, operator: str | None = None,
               recommendation: Recommendation | None = None) -> Assignment:
        """Dispatch ``unit_id`` to ``call_id``, under the core's assignment rules.

        Parameters
        ----------
        unit_id, call_id
            Who goes where (the call must be pending).
        override_reason
            Required when the unit is not the top-ranked one; stored with the assignment.
        desk, operator
            Who (the session's by default).
        recommendation
            The ranking the dispatcher acted on (from the recommendation panel); computed now
            when not given.

        Returns
        -------
        Assignment
            The assignment, with its rank and override reason.

        Raises
        ------
        NotFound
            Unknown unit, or a call not open.
        AssignmentRefused
            The call already has a unit, or the unit cannot take it (left out, busy).
        OverrideReasonRequired
            A unit other than the top one without a reason.
        AssignmentConflict
            The store says another desk assigned the unit first; nothing is changed here.
        """
        desk, operator = self._who(desk, operator)
        assignment = self._checked_assignment(unit_id, call_id, override_reason,
                                              recommendation, self.now, desk, operator)
        self.simulator.check_assign(unit_id, call_id)
        if self.store is not None:
            self.store.record_assignment(assignment, desk=desk, operator=operator)
        with self.board.batch():
            self.simulator.assign(unit_id, call_id, assignment.at, assignment=assignment)
        return assignment

    def set_status(self, unit_id: str, status: str, *, desk: str | None = None,
                   operator: str | None = None) -> UnitState:
        """Change a unit's status (code, label or keyboard key), as the dispatcher pressed it.

        See :meth:`heartops.feeds.sim.shift.Simulator.set_status` for what a simulated team
        accepts (out of service and back, clearing or cancelling a unit, emergency).

        Raises
        ------
        NotFound, UnknownCodeError, InvalidTransition
            Unknown unit or status, or a change that is refused.
        """
        desk, operator = self._who(desk, operator)
        self.board.unit(unit_id)
        code = resolve_status(status, self.tables)
        self.simulator.check_status(unit_id, code)
        if self.store is not None:
            self.store.set_status(unit_id, code, self.now, desk=desk, operator=operator)
        with self.board.batch():
            return self.simulator.set_status(unit_id, code)

    def add_note(self, call_id: str, text: str, *, desk: str | None = None,
                 operator: str | None = None) -> Call:
        """Append a note to a call (the operator is its author).

        An open call gets it everywhere; a closed one only in the store.

        Raises
        ------
        NotFound
            If the call is not open (and not in the store).
        ValueError
            On an empty note.
        """
        desk, operator = self._who(desk, operator)
        if not text.strip():
            raise ValueError(f"call {call_id}: a note needs text")
        open_here = self.simulator.call(call_id) is not None
        if not open_here and self.store is None:
            raise NotFound(f"call {call_id!r} is not open")
        stored = None
        if self.store is not None:
            stored = self.store.add_note(call_id, text, self.now, desk=desk, operator=operator)
        if not open_here:
            assert stored is not None
            return stored
        call = self.simulator.add_note(call_id, text, author=operator)
        self.board.apply_call(call)
        return call

    def close_call(self, call_id: str, dispositions: Collection[str],
                   destination: str | None = None, *, desk: str | None = None,
                   operator: str | None = None) -> Call:
        """Close an open call with its dispositions; its unit is released.

        Raises
        ------
        NotFound
            If the call is not open.
        InvalidTransition
            If its unit is in emergency.
        UnknownCodeError, ValueError
            On a bad disposition or a missing destination.
        """
        desk, operator = self._who(desk, operator)
        codes = tuple(dispositions)
        self.simulator.check_close(call_id, codes, destination)
        if self.store is not None:
            self.store.close_call(call_id, self.now, dispositions=codes,
                                  destination=destination, desk=desk, operator=operator)
        with self.board.batch():
            return self.simulator.close_call(call_id, codes, destination)


class SharedDesk(DeskSession):
    """A desk joined to a shared store: its board follows what the store says.

    Another desk runs the city (:class:`LiveSession`); this one loads the board from the store
    (roster, unit states and positions, open calls, active assignments, open follow-ups and
    the shift's safety events) and then applies what a :class:`StoreFollower` reads on its
    thread. Its clock is the city's: the newest instant the store has shown it (AVL fixes
    arrive several times a second). Commands are checked against the board, written to the
    store, and read back at once; a command the store refuses (another desk was first) raises
    the store's one-line reason and changes nothing.

    Parameters
    ----------
    store
        The shared store (PostgreSQL).
    engine
        The drive-time engine over the city's network (recommendations).
    desk, operator
        Who issues the commands; the desk name must differ from every other desk's.
    thresholds, service_area, zone_of
        As for :class:`LiveSession`.

    Raises
    ------
    StoreError
        If the store cannot announce changes (SQLite) or cannot be reached.
    """

    controls_time = False
    """The city desk runs the clock; this desk follows it."""

    def __init__(self, store: Store, engine: TravelTimeEngine, *, desk: str,
                 operator: str = DEFAULT_OPERATOR,
                 thresholds: BoardThresholds = DEFAULT_THRESHOLDS,
                 service_area: Callable[[GeoPoint], bool] | None = None,
                 zone_of: Callable[[GeoPoint], str | None] | None = None) -> None:
        if not supports_notifications(store.url):
            raise StoreError(f"{store.url} cannot share a board between desks: several desks "
                             "need a shared PostgreSQL database")
        self.store = store
        self._db = store  # never None here
        self.engine = engine
        self.desk = desk
        self.operator = operator
        # Read the cursors first: whatever commits while the board loads is read again.
        self._cursor = store.current_change_id()
        fix_cursor = store.latest_fix_id()
        records = store.units()
        if not records:
            raise HeartopsError(f"{store.url} has no units yet: start the desk that runs the "
                                "city first")
        open_calls = store.open_calls()
        self._clock = ManualClock(max([_latest_instant(r.state for r in records),
                                       *(_last_step(call) for call in open_calls)]))
        tables = default_tables()
        records.sort(key=lambda r: _roster_order(r.unit, tables))
        self.board = Board(tables, self._clock, thresholds=thresholds,
                           service_area=service_area, zone_of=zone_of)
        active = [a for record in store.assignments(active_only=True)
                  if (a := assignment_from_doc(assignment_doc(record))) is not None]
        self.board.load([(r.unit, r.state) for r in records], open_calls,
                        follow_ups=store.follow_ups(open_only=True),
                        safety_events=store.safety_events(
                            since=self._clock.now() - SAFETY_REPLAY),
                        assignments=active)
        self._follower = StoreFollower(store, cursor=self._cursor,
                                       fix_cursor=fix_cursor).start()

    @classmethod
    def demo(cls, store: Store, *, desk: str, network: str = DEMO_NAME,
             operator: str = DEFAULT_OPERATOR) -> SharedDesk:
        """Return a desk joined to the city running on ``network`` (the demo city)."""
        city = _load_city(network)
        return cls(store, city.engine, desk=desk, operator=operator,
                   service_area=city.service_area, zone_of=city.zone_of)

    # -- time ----------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The city's instant, as far as the store has shown it."""
        return self._clock.now()

    @property
    def speed(self) -> float:
        """The city desk sets the speed; this desk reports 1."""
        return 1.0

    @speed.setter
    def speed(self, value: float) -> None:
        log.debug("speed %s ignored: the city desk runs the clock", value)

    @property
    def desk_mode(self) -> str:
        """How this desk shares its work, for the status bar."""
        problem = self._follower.last_error
        state = f"cannot read the store: {problem}" if problem else "following the city"
        return f"{self.desk} · joined desk ({self._db.dialect}) · {state}"

    @property
    def store_errors(self) -> list[str]:
        """The follower's last read error, if any."""
        problem = self._follower.last_error
        return [] if problem is None else [problem]

    def advance(self, wall_dt_s: float) -> BoardChange:
        """Apply what the store changed since the last call; return what changed.

        ``wall_dt_s`` is ignored (the city desk runs the clock); call it from a timer.
        """
        with self.board.batch() as batch:
            for changes in self._follower.drain():
                self._apply(changes)
            self.board.tick()
        return batch.change

    def close(self) -> None:
        """Stop following the store."""
        self._follower.stop()

    def _show_recorded(self, event: SafetyEvent) -> None:
        self._catch_up()

    def _catch_up(self) -> None:
        """Read and apply what the store holds now (after this desk's own write)."""
        with self.board.batch():
            self._apply(read_changes(self._db, self._cursor))

    def _apply(self, changes: StoreChanges) -> None:
        """Apply one read of the store to the board (an older read's states are skipped)."""
        board = self.board
        if changes.fixes:
            self._move_clock(fix.time for fix in changes.fixes)
            board.apply_fixes(changes.fixes)
        if changes.cursor <= self._cursor:
            return  # read before this desk caught up on its own write: already applied
        self._cursor = changes.cursor
        self._move_clock([state.since for state in changes.units.values()]
                         + [_last_step(call) for call in changes.calls.values()])
        for state in changes.units.values():
            board.apply_unit_state(state)
        for call in changes.calls.values():
            board.apply_call(call)
        for assignment in changes.assignments:
            if board.state(assignment.unit_id).call_id == assignment.call_id:
                board.apply_assignment(assignment)
        for task in changes.follow_ups.values():
            board.apply_follow_up(task)
        for event in changes.safety_events:
            try:
                board.apply_safety(event)
            except InvalidTransition as exc:  # an event older than one held: out of order
                log.warning("safety event skipped: %s", exc)

    def _move_clock(self, instants: Iterable[datetime]) -> None:
        latest = max(instants, default=None)
        if latest is not None and latest > self._clock.now():
            self._clock.set(latest)

    # -- commands ------------------------------------------------------------------------------

    def assign(self, unit_id: str, call_id: str, *, override_reason: str | None = None,
               desk: str | None = None, operator: str | None = None,
               recommendation: Recommendation | None = None) -> Assignment:
        """Dispatch a unit: checked on this board, decided by the store.

        See :meth:`LiveSession.assign` for the errors.
        """
        desk, operator = self._who(desk, operator)
        assignment = self._checked_assignment(unit_id, call_id, override_reason,
                                              recommendation, self.now, desk, operator)
        try:
            self._db.record_assignment(assignment, desk=desk, operator=operator)
        finally:
            self._catch_up()  # won or lost, show what the store holds now
        return assignment

    def set_status(self, unit_id: str, status: str, *, desk: str | None = None,
                   operator: str | None = None) -> UnitState:
        """Change a unit's status in the store (the city's simulated team follows)."""
        desk, operator = self._who(desk, operator)
        self.board.unit(unit_id)
        code = resolve_status(status, self.tables)
        try:
            record = self._db.set_status(unit_id, code, self.now, desk=desk,
                                           operator=operator)
        finally:
            self._catch_up()
        return record.state

    def add_note(self, call_id: str, text: str, *, desk: str | None = None,
                 operator: str | None = None) -> Call:
        """Append a note to a call in the store."""
        desk, operator = self._who(desk, operator)
        if not text.strip():
            raise ValueError(f"call {call_id}: a note needs text")
        call = self._db.add_note(call_id, text, self.now, desk=desk, operator=operator)
        self._catch_up()
        return call

    def close_call(self, call_id: str, dispositions: Collection[str],
                   destination: str | None = None, *, desk: str | None = None,
                   operator: str | None = None) -> Call:
        """Close a call in the store; its units are released."""
        desk, operator = self._who(desk, operator)
        self.board.call(call_id)
        closed = self._db.close_call(call_id, self.now, dispositions=tuple(dispositions),
                                       destination=destination, desk=desk, operator=operator)
        self._catch_up()
        return closed.call


def _by_change(records: Sequence[AuditRecord]) -> Iterator[Sequence[AuditRecord]]:
    """Yield the records of each change (one store transaction), in change order."""
    for _change_id, group in itertools.groupby(records, key=lambda r: r.change_id):
        yield list(group)


@dataclass(frozen=True)
class _City:
    """A built network with its drive-time engine and zone lookups."""

    engine: TravelTimeEngine
    beats: ZoneIndex | None
    area: ZoneIndex | None

    @property
    def service_area(self) -> Callable[[GeoPoint], bool] | None:
        return None if self.area is None else _inside(self.area)

    @property
    def zone_of(self) -> Callable[[GeoPoint], str | None] | None:
        return None if self.beats is None else _zone_of(self.beats)


def _load_city(network: str) -> _City:
    """Load ``network`` (building the demo city first if it is the one and is missing)."""
    if network == DEMO_NAME:
        ensure_demo()
    return _City(TravelTimeEngine(load_network(network)), _zone_index(network, "beats"),
                 _zone_index(network, "service-area"))


def _roster_order(unit: Unit, tables: CodeTables) -> tuple[int, list[int | str]]:
    """Sort key of the roster's display order: by program, then by id (``CRT-2`` < ``CRT-10``)."""
    programs = list(tables.programs)
    rank = programs.index(unit.program) if unit.program in programs else len(programs)
    return rank, [int(part) if part.isdigit() else part
                  for part in re.split(r"(\d+)", unit.unit_id)]


def _last_step(call: Call) -> datetime:
    """Return when ``call`` last moved (received, dispatched, ..., cleared)."""
    return max([call.received_at, *(at for _step, at in call.steps)])


def _latest_instant(states: Iterable[UnitState]) -> datetime:
    """Return the newest instant the units' states show (a joining desk's first now)."""
    instants = [t for state in states for t in (state.since, state.last_avl_at)
                if t is not None]
    return max(instants)


def _today_at(local: time) -> datetime:
    zone = default_tables().timezone
    today = datetime.now(zone).date()
    return datetime.combine(today, local, tzinfo=zone)


def _zone_index(network: str, kind: str) -> ZoneIndex | None:
    layer = demo_layer(network, kind)
    return ZoneIndex.from_layer(layer) if layer in {i.name for i in list_zone_layers()} else None


def _inside(index: ZoneIndex) -> Callable[[GeoPoint], bool]:
    return lambda point: index.assign([point.lat], [point.lon])[0] is not None


def _zone_of(index: ZoneIndex) -> Callable[[GeoPoint], str | None]:
    def zone(point: GeoPoint) -> str | None:
        found = index.assign([point.lat], [point.lon])[0]
        return None if found is None else str(found)

    return zone


# -- the simulator's events -> board messages and store writes -----------------------------------


class _SessionSink(NullSink):
    """Turns the simulator's events into board messages (and store writes)."""

    def __init__(self, session: LiveSession) -> None:
        self._session = session
        self._fixes: list[AvlFix] = []

    def take_fixes(self) -> list[AvlFix]:
        fixes, self._fixes = self._fixes, []
        return fixes

    def _apply(self, what: str, message: Callable[[], object]) -> None:
        # A refusal must not stop the simulation half-way through one of its events.
        try:
            message()
        except HeartopsError as exc:
            log.error("board refused %s: %s", what, exc)

    @property
    def _board(self) -> Board:
        return self._session.board

    @property
    def _writer(self) -> _StoreWriter | None:
        return self._session._writer

    def call_received(self, call: Call) -> None:
        self._apply(f"call {call.call_id}", lambda: self._board.apply_call(call))
        if self._writer is not None:
            self._writer.call_received(call)

    def unit_status(self, unit_id: str, before: str | None, after: str, at: datetime,
                    call_id: str | None) -> None:
        def message() -> object:
            held = self._board.state(unit_id)
            return self._board.apply_unit_state(UnitState(
                unit_id, after, at, call_id, position=held.position,
                last_avl_at=held.last_avl_at))

        self._apply(f"status {after} of {unit_id}", message)
        if self._writer is not None:
            self._writer.unit_status(unit_id, after, at, call_id)

    def assignment(self, assignment: Assignment) -> None:
        if not assignment.desk:  # the simulated dispatcher's own
            assignment = replace(assignment, desk=SIMULATOR_DESK, operator=SIMULATOR_OPERATOR)
        self._apply(f"assignment of {assignment.unit_id}",
                    lambda: self._board.apply_assignment(assignment))
        if self._writer is not None:
            self._writer.assignment(assignment)

    def call_step(self, call_id: str, step: CallStep, at: datetime) -> None:
        call = self._session.simulator.call(call_id)
        if call is not None:
            self._apply(f"{step} of {call_id}", lambda: self._board.apply_call(call))
        if self._writer is not None:
            self._writer.call_step(call_id, step, at)

    def call_closed(self, call: Call) -> None:
        self._apply(f"closing of {call.call_id}", lambda: self._board.apply_call(call))
        if self._writer is not None:
            self._writer.call_closed(call)

    def fix(self, fix: AvlFix) -> None:
        self._fixes.append(fix)

    def ledger(self, entry: LedgerEntry) -> None:
        self._session.ledger.append(entry)
        if self._writer is not None:
            self._writer.ledger(entry)

    def follow_up(self, task: FollowUpTask) -> None:
        self._apply(f"follow-up {task.task_id}", lambda: self._board.apply_follow_up(task))
        if self._writer is not None:
            self._writer.follow_up(task)

    def safety(self, event: SafetyEvent) -> None:
        self._apply(f"{event.kind} event", lambda: self._board.apply_safety(event))
        if self._writer is not None:
            self._writer.safety(event)


class _StoreWriter:
    """Records the simulated world in the store; every write is idempotent.

    A command is written by the session before the simulation acts on it, so the echo of that
    command (the same status, assignment or closing) finds the store already there and writes
    nothing.
    """

    def __init__(self, store: Store, tables: CodeTables) -> None:
        self._store = store
        self._tables = tables
        self.errors: list[str] = []
        # Steps that follow from unit statuses; the store records those itself.
        self._status_steps = {s.call_step for s in tables.statuses.values() if s.call_step}

    def _guard(self, what: str, write: Callable[[], object]) -> None:
        try:
            write()
        except HeartopsError as exc:
            line = f"{what}: {str(exc).splitlines()[0]}"
            log.error("store write failed: %s", line)
            self.note_error(line)

    def note_error(self, line: str) -> None:
        """Keep ``line`` among :attr:`errors` (newest last, at most ``MAX_STORE_ERRORS``)."""
        self.errors.append(line)
        del self.errors[:-MAX_STORE_ERRORS]

    def cancel_leftovers(self, open_calls: Mapping[str, Call], *, at: datetime) -> None:
        """Cancel the store's open calls that this simulation does not have.

        They belong to an earlier run of the simulated city, whose world is gone; left open
        they would wait on every desk's queue for ever.
        """
        def write() -> None:
            for call in self._store.open_calls():
                if call.call_id in open_calls:
                    continue
                when = max(at, _last_step(call))
                self._store.add_note(call.call_id, LEFTOVER_NOTE, when, desk=SIMULATOR_DESK,
                                     operator=SIMULATOR_OPERATOR)
                self._store.close_call(call.call_id, when, dispositions=[LEFTOVER_DISPOSITION],
                                       desk=SIMULATOR_DESK, operator=SIMULATOR_OPERATOR)

        self._guard("calls of an earlier run", write)

    def roster(self, units: Sequence[Unit], *, at: datetime) -> None:
        def write() -> None:
            known = {record.unit.unit_id for record in self._store.units()}
            new = [unit for unit in units if unit.unit_id not in known]
            if new:
                self._store.add_units(new, at=at, desk=SIMULATOR_DESK,
                                      operator=SIMULATOR_OPERATOR)

        self._guard("roster", write)

    def call_received(self, call: Call) -> None:
        def write() -> None:
            try:
                self._store.create_call(call, desk=SIMULATOR_DESK, operator=SIMULATOR_OPERATOR)
            except Conflict:
                log.debug("call %s is already in the store", call.call_id)

        self._guard(f"call {call.call_id}", write)

    def unit_status(self, unit_id: str, after: str, at: datetime, call_id: str | None) -> None:
        def write() -> None:
            state = self._store.unit_state(unit_id)
            if state.status == after and state.call_id == call_id:
                return
            when = max(at, state.since)
            target = self._tables.status(after)
            call = call_id if target.call is CallLink.REQUIRED else None
            try:
                self._store.set_status(unit_id, after, when, desk=SIMULATOR_DESK,
                                       operator=SIMULATOR_OPERATOR, call_id=call)
            except InvalidTransition:
                if target.call is not CallLink.NONE:
                    raise
                # A unit left in another state (an earlier session): through available.
                available = next(s.code for s in self._tables.statuses.values() if s.assignable)
                self._store.set_status(unit_id, available, when, desk=SIMULATOR_DESK,
                                       operator=SIMULATOR_OPERATOR)
                if after != available:
                    self._store.set_status(unit_id, after, when, desk=SIMULATOR_DESK,
                                           operator=SIMULATOR_OPERATOR)

        self._guard(f"status {after} of {unit_id}", write)

    def assignment(self, assignment: Assignment) -> None:
        def write() -> None:
            current = self._store.active_assignment(assignment.unit_id)
            if current is not None and current.call_id == assignment.call_id:
                return
            self._store.record_assignment(assignment, desk=SIMULATOR_DESK,
                                          operator=SIMULATOR_OPERATOR)

        self._guard(f"assignment of {assignment.unit_id} to {assignment.call_id}", write)

    def call_step(self, call_id: str, step: CallStep, at: datetime) -> None:
        if step in self._status_steps:
            return

        def write() -> None:
            call = self._store.call(call_id)
            if call.is_open and call.time_of(step) is None:
                self._store.record_step(call_id, step, at, desk=SIMULATOR_DESK,
                                        operator=SIMULATOR_OPERATOR)

        self._guard(f"{step} of {call_id}", write)

    def call_closed(self, call: Call) -> None:
        def write() -> None:
            if not self._store.call(call.call_id).is_open:
                return
            cleared = call.time_of(CallStep.CLEARED)
            assert cleared is not None
            self._store.close_call(call.call_id, cleared, dispositions=call.dispositions,
                                   destination=call.destination, desk=SIMULATOR_DESK,
                                   operator=SIMULATOR_OPERATOR)

        self._guard(f"closing of {call.call_id}", write)

    def ledger(self, entry: LedgerEntry) -> None:
        self._guard(f"ledger of {entry.call_id}", lambda: self._store.record_ledger([entry]))

    def safety(self, event: SafetyEvent) -> None:
        self._guard(f"{event.kind} event", lambda: self._store.record_safety_events(
            [event], desk=SIMULATOR_DESK, operator=SIMULATOR_OPERATOR))

    def follow_up(self, task: FollowUpTask) -> None:
        def write() -> None:
            try:
                stored = self._store.follow_up(task.task_id)
            except NotFound:
                return  # the store opens tasks when it closes calls; this one's call is not
            for attempt in task.attempts[len(stored.attempts):]:
                self._store.record_follow_up_attempt(task.task_id, attempt,
                                                     desk=SIMULATOR_DESK,
                                                     operator=SIMULATOR_OPERATOR)
            if task.completed_at is not None and stored.is_open:
                self._store.complete_follow_up(task.task_id, task.completed_at,
                                               connected=bool(task.connected), note=task.note,
                                               desk=SIMULATOR_DESK, operator=SIMULATOR_OPERATOR)

        self._guard(f"follow-up {task.task_id}", write)

    def fixes(self, fixes: Iterable[AvlFix]) -> None:
        self._guard("AVL fixes", lambda: self._store.record_fixes(fixes))
