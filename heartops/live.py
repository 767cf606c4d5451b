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

The dispatcher's command line: :func:`parse_command` turns a line (``assign CRT-2 C-1041 closer
to the scene``, ``st CRT-2 S``, ``note C-1041 caller on the porch``, ``close C-1041
resolved_by_phone``, ``ack check_in:CRT-2``) into a typed :data:`Command` or a one-line
:class:`CommandError`; :func:`complete` gives completion candidates; :meth:`LiveSession.execute`
runs a command.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

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
from heartops.core.codes import CallLink, CallStep, CodeTables, default_tables
from heartops.core.eligibility import LedgerEntry
from heartops.core.errors import (
    AssignmentRefused,
    Conflict,
    HeartopsError,
    InvalidTransition,
    NotFound,
    UnknownCodeError,
)
from heartops.core.geo import GeoPoint
from heartops.core.recommend import Assignment, Recommendation
from heartops.core.recommend import assign as choose_unit
from heartops.core.safety import SafetyEvent
from heartops.core.units import Unit, UnitState
from heartops.feeds.sim.sinks import NullSink
from heartops.feeds.simulator import Simulator, default_roster, load_profile
from heartops.routing.demo_setup import demo_layer, ensure_demo
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import DEMO_NAME, load_network
from heartops.routing.posts import load_posts
from heartops.routing.zones import ZoneIndex, list_zone_layers
from heartops.store import Store

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
DEFAULT_OPERATOR = "dispatcher"
SIMULATOR_DESK = "simulator"
SIMULATOR_OPERATOR = "simulated dispatcher"
"""Who the store records for what the simulated world did (its own dispatches, statuses)."""

MAX_STORE_ERRORS = 100


# -- the session ---------------------------------------------------------------------------------


class LiveSession:
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
                 persist_fixes: bool = True) -> None:
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

    @classmethod
    def demo(cls, *, seed: int = 1, start: datetime | None = None, network: str = DEMO_NAME,
             auto_dispatch_after: timedelta | None = DEMO_AUTO_DISPATCH_AFTER,
             store: Store | None = None, speed: float = DEFAULT_SPEED,
             desk: str = DEFAULT_DESK, operator: str = DEFAULT_OPERATOR) -> LiveSession:
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
        """
        if network == DEMO_NAME:
            ensure_demo()
        engine = TravelTimeEngine(load_network(network))
        profile = load_profile()
        roster = default_roster(load_posts(network), profile)
        if not roster.units:
            raise HeartopsError(f"network {network!r} has no staging posts to station teams at")
        beats = _zone_index(network, "beats")
        area = _zone_index(network, "service-area")
        start = start or _today_at(DEMO_START_LOCAL)
        # Live call ids stay apart from simulated history and from other sessions in a store.
        simulator = Simulator(engine, roster, profile, seed, start, zones=beats,
                              service_area=area, call_id_prefix=f"L{seed}-{start:%Y%m%dT%H%M}-",
                              dispatch="manual", auto_dispatch_after=auto_dispatch_after)
        return cls(simulator, engine, store=store, speed=speed, desk=desk, operator=operator,
                   service_area=None if area is None else _inside(area),
                   zone_of=None if beats is None else _zone_of(beats))

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
    def tables(self) -> CodeTables:
        """The code tables (statuses with colours, shapes and keys; programs; ...)."""
        return self.simulator.tables

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
        board = self.board
        board.unit(unit_id)
        board.call(call_id)
        if not board.is_pending(call_id):
            raise AssignmentRefused(f"call {call_id} already has "
                                    f"{', '.join(board.units_on(call_id))}")
        if recommendation is None or recommendation.call_id != call_id:
            recommendation = self.recommend(call_id)
        assignment = choose_unit(recommendation, unit_id, override_reason, at=self.now)
        state = board.state(unit_id)
        if not self.tables.status(state.status).assignable:
            raise AssignmentRefused(f"{unit_id} is {self.tables.status(state.status).label} "
                                    f"now; recompute the recommendation")
        self.simulator.check_assign(unit_id, call_id)
        if self.store is not None:
            self.store.record_assignment(assignment, desk=desk, operator=operator)
        with board.batch():
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
        self.acknowledge(command.key, desk=desk, operator=operator)
        return f"acknowledged {command.key}"

    def _who(self, desk: str | None, operator: str | None) -> tuple[str, str]:
        return desk or self.desk, operator or self.operator


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
            self.errors.append(line)
            del self.errors[:-MAX_STORE_ERRORS]

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


# -- the command line ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssignCommand:
    """``assign UNIT CALL [reason...]``: dispatch a unit (a reason overrides the top one)."""

    unit_id: str
    call_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StatusCommand:
    """``status UNIT STATUS``: change a unit's status (code, label or key letter)."""

    unit_id: str
    status: str


@dataclass(frozen=True, slots=True)
class NoteCommand:
    """``note CALL text...``: add a line to a call's narrative."""

    call_id: str
    text: str


@dataclass(frozen=True, slots=True)
class CloseCommand:
    """``close CALL DISPOSITION... [to DESTINATION...]``: close a call."""

    call_id: str
    dispositions: tuple[str, ...]
    destination: str | None = None


@dataclass(frozen=True, slots=True)
class AckCommand:
    """``ack KEY``: acknowledge a standing alert."""

    key: str


Command = AssignCommand | StatusCommand | NoteCommand | CloseCommand | AckCommand
"""A parsed command line."""


@dataclass(frozen=True, slots=True)
class CommandError:
    """Why a command line could not be parsed (one line, naming the offending word)."""

    message: str

    def __str__(self) -> str:
        return self.message


VERBS: Mapping[str, str] = {
    "assign": "assign", "a": "assign",
    "status": "status", "st": "status",
    "note": "note", "n": "note",
    "close": "close", "cl": "close",
    "ack": "ack", "k": "ack",
}
"""Command words and their short forms."""

USAGE: Mapping[str, str] = {
    "assign": "assign UNIT CALL [reason...]",
    "status": "status UNIT STATUS",
    "note": "note CALL text...",
    "close": "close CALL DISPOSITION... [to DESTINATION...]",
    "ack": "ack KEY",
}

_DESTINATION_WORD = "to"


class _ParseError(Exception):
    """Raised inside the parser; becomes a :class:`CommandError`."""


def parse_command(text: str, board: Board) -> Command | CommandError:
    """Parse a dispatcher's command line against what is on the board.

    Unit ids, call ids, statuses and dispositions are matched without regard to case; a unit
    id may drop its dash (``crt2``) and a call may be named by its number (``41`` for
    ``C-1041`` when no other open call ends the same way). ``assign`` takes the call and the
    unit in either order. Statuses are codes (``on_scene``), labels or key letters (``S``).

    Returns
    -------
    Command or CommandError
        The command, or a one-line error naming what was wrong (``unknown unit 'CRT-9' — did
        you mean 'CRT-2'?``).
    """
    words = text.split(maxsplit=1)
    if not words:
        return CommandError(f"empty command; commands: {', '.join(USAGE.values())}")
    verb = VERBS.get(words[0].lower())
    if verb is None:
        return CommandError(_unknown("command", words[0], list(USAGE)))
    rest = words[1] if len(words) > 1 else ""
    try:
        return _PARSERS[verb](rest, board)
    except _ParseError as exc:
        return CommandError(str(exc))


def _parse_assign(rest: str, board: Board) -> Command:
    parts = rest.split(maxsplit=2)
    if len(parts) < 2:
        raise _ParseError(f"assign needs a unit and a call: {USAGE['assign']}")
    first, second = parts[0], parts[1]
    if _try_call(first, board) is not None and _try_unit(second, board) is not None:
        first, second = second, first  # "assign C-1041 CRT-2" means the same
    unit_id = _unit(first, board)
    call_id = _call(second, board)
    reason = parts[2].strip() if len(parts) > 2 else None
    return AssignCommand(unit_id, call_id, reason or None)


def _parse_status(rest: str, board: Board) -> Command:
    parts = rest.split(maxsplit=1)
    if len(parts) < 2:
        raise _ParseError(f"status needs a unit and a status: {USAGE['status']}")
    unit_id = _unit(parts[0], board)
    try:
        code = resolve_status(parts[1], board.tables)
    except UnknownCodeError as exc:
        raise _ParseError(str(exc)) from None
    return StatusCommand(unit_id, code)


def _parse_note(rest: str, board: Board) -> Command:
    parts = rest.split(maxsplit=1)
    if len(parts) < 2 or not parts[1].strip():
        raise _ParseError(f"note needs a call and text: {USAGE['note']}")
    return NoteCommand(_call(parts[0], board), parts[1].strip())


def _parse_close(rest: str, board: Board) -> Command:
    parts = rest.split(maxsplit=1)
    if len(parts) < 2:
        raise _ParseError(f"close needs a call and a disposition: {USAGE['close']}")
    call_id = _call(parts[0], board)
    words = re.split(r"[\s,]+", parts[1].strip())
    destination = None
    lowered = [w.lower() for w in words]
    if _DESTINATION_WORD in lowered:
        cut = lowered.index(_DESTINATION_WORD)
        destination = " ".join(words[cut + 1:]).strip() or None
        if destination is None:
            raise _ParseError(f"'{_DESTINATION_WORD}' must be followed by the destination")
        words = words[:cut]
    codes = [_disposition(word, board.tables) for word in words if word]
    if not codes:
        raise _ParseError(f"close needs a disposition: {USAGE['close']}")
    return CloseCommand(call_id, tuple(dict.fromkeys(codes)), destination)


def _parse_ack(rest: str, board: Board) -> Command:
    parts = rest.split()
    if len(parts) != 1:
        raise _ParseError(f"ack needs one alert key: {USAGE['ack']}")
    word = parts[0]
    keys = [alert.key for alert in board.alerts()]
    exact = [k for k in keys if k.lower() == word.lower()]
    if exact:
        return AckCommand(exact[0])
    about = [k for k in keys if k.split(":", 1)[-1].lower() == word.lower()]
    if len(about) == 1:
        return AckCommand(about[0])  # "ack CRT-2" when CRT-2 has one alert
    if about:
        raise _ParseError(f"{word!r} has {len(about)} alerts; name one: {', '.join(about)}")
    raise _ParseError(_unknown("alert", word, keys))


_PARSERS: Mapping[str, Callable[[str, Board], Command]] = {
    "assign": _parse_assign, "status": _parse_status, "note": _parse_note,
    "close": _parse_close, "ack": _parse_ack,
}


def resolve_status(word: str, tables: CodeTables) -> str:
    """Return the status code that ``word`` names: a code, a label or a key letter.

    Raises
    ------
    UnknownCodeError
        Naming the word and the closest status.
    """
    text = word.strip()
    wanted = _squash(text)
    for status in tables.statuses.values():
        if wanted in (_squash(status.code), _squash(status.label)):
            return status.code
    if len(text) == 1:
        try:
            return tables.status_for_key(text).code
        except UnknownCodeError:
            pass
    keys = ", ".join(f"{s.key} {s.code}" for s in tables.statuses.values())
    hint = _did_you_mean(text, list(tables.statuses))
    raise UnknownCodeError(f"unknown status {text!r}{hint}; statuses: {keys}")


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.lower())


def _try_unit(word: str, board: Board) -> str | None:
    exact = [u for u in board.unit_ids if u.lower() == word.lower()]
    if exact:
        return exact[0]
    loose = [u for u in board.unit_ids if _squash(u) == _squash(word)]
    return loose[0] if len(loose) == 1 else None


def _unit(word: str, board: Board) -> str:
    found = _try_unit(word, board)
    if found is None:
        raise _ParseError(_unknown("unit", word, list(board.unit_ids)))
    return found


def _try_call(word: str, board: Board) -> str | None:
    ids = list(board.calls)
    exact = [c for c in ids if c.lower() == word.lower()]
    if exact:
        return exact[0]
    if word.isdigit():
        # Dispatchers say "call 41": the open call whose number ends that way, if only one.
        number = int(word)
        tails = [c for c in ids if (t := _number_of(c)) is not None
                 and str(t).endswith(str(number))]
        exact_tail = [c for c in tails if _number_of(c) == number]
        if len(exact_tail) == 1:
            return exact_tail[0]
        if len(tails) == 1:
            return tails[0]
    return None


def _number_of(call_id: str) -> int | None:
    match = re.search(r"(\d+)$", call_id)
    return None if match is None else int(match.group(1))


def _call(word: str, board: Board) -> str:
    found = _try_call(word, board)
    if found is None:
        raise _ParseError(_unknown("open call", word, list(board.calls)))
    return found


def _disposition(word: str, tables: CodeTables) -> str:
    wanted = _squash(word)
    for code, row in tables.dispositions.items():
        if wanted in (_squash(code), _squash(row.label)):
            return code
    raise _ParseError(_unknown("disposition", word, list(tables.dispositions)))


def _unknown(what: str, word: str, known: Sequence[str]) -> str:
    hint = _did_you_mean(word, known)
    if hint:
        return f"unknown {what} {word!r}{hint}"
    if not known:
        return f"unknown {what} {word!r} (there are none)"
    listed = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    return f"unknown {what} {word!r}; known: {listed}"


def _did_you_mean(word: str, known: Sequence[str]) -> str:
    by_squash: dict[str, str] = {}
    for item in known:
        by_squash.setdefault(_squash(item), item)
    close = difflib.get_close_matches(_squash(word), list(by_squash), n=1, cutoff=0.6)
    return f" — did you mean {by_squash[close[0]]!r}?" if close else ""


def complete(prefix: str, board: Board) -> list[str]:
    """Return completions of a partly typed command line, as whole lines.

    The last word is completed (a new word if the line ends with a space) from what fits
    there: command words, units (free ones first for ``assign``), pending calls in queue
    order, statuses the unit can take next, dispositions, standing alert keys. Each candidate
    ends with a space, ready for the next word.
    """
    words = prefix.split()
    if prefix and not prefix[-1].isspace() and words:
        current, done = words[-1], words[:-1]
    else:
        current, done = "", words
    head = "".join(f"{w} " for w in done)
    if not done:
        options = list(USAGE)
    else:
        verb = VERBS.get(done[0].lower())
        if verb is None:
            return []
        options = _options(verb, done[1:], board)
    low = current.lower()
    matches = [o for o in options if o.lower().startswith(low)
               or (low.isdigit() and (n := _number_of(o)) is not None
                   and str(n).startswith(str(int(low))))]
    return [f"{head}{option} " for option in matches]


def _options(verb: str, args: list[str], board: Board) -> list[str]:
    position = len(args)
    tables = board.tables
    if verb == "assign":
        if position == 0:
            free = [u for u in board.unit_ids
                    if tables.status(board.state(u).status).assignable]
            return free + [u for u in board.unit_ids if u not in free]
        if position == 1:
            return [row.call_id for row in board.queue()]
        return []
    if verb == "status":
        if position == 0:
            return list(board.unit_ids)
        if position == 1:
            unit_id = _try_unit(args[0], board)
            if unit_id is None:
                return list(tables.statuses)
            state = board.state(unit_id)
            # Without a call a unit cannot take a status that needs one (that is a dispatch).
            return [code for code in tables.next_statuses(state.status)
                    if state.call_id is not None
                    or tables.status(code).call is not CallLink.REQUIRED]
        return []
    if verb in ("note", "close") and position == 0:
        return [row.call_id for row in board.queue()] + \
            [row.call_id for row in board.active_calls()]
    if verb == "close" and position >= 1:
        given = {_squash(a) for a in args[1:]}
        return [code for code in tables.dispositions if _squash(code) not in given]
    if verb == "ack" and position == 0:
        alerts = board.alerts()
        return [a.key for a in alerts if not a.acknowledged] + \
            [a.key for a in alerts if a.acknowledged]
    return []
