"""The shift simulator: calls, teams and drives in simulated time, through the core policy.

An event-driven simulation (a heap of timed events, ties broken by insertion order, so the
same seed gives the same event stream). Each hour the arrival process draws that hour's calls
(:mod:`heartops.feeds.sim.demand`). A call is triaged, screened (``core.eligibility.screen``)
and dispatched with the real policy: ``core.recommend.recommend`` over the ETAs of one reverse
search (``TravelTimeEngine.etas_to``), then ``core.recommend.assign`` of the top unit. Which
program's teams are asked follows the call's stream (the 911 call-taker's routing), first
program with a free eligible team wins; a call no team can take waits in the pending queue
(priority, then age) until a team frees up or its maximum wait passes, when it goes to
police/EMS and the ledger says ``NO_TEAM_AVAILABLE``. Calls no program can take (excluded,
outside hours or area) get their ledger outcome at once.

Teams drive real road routes: dispatch -> turnout -> en route (drive time = ETA x traffic
factor) -> on scene (check-ins for the safety ladder; PD backup / EMS requests and the rare
panic) -> optionally transport to a destination -> clear -> drive back to the post. Phone
programs (CCD) pick up, talk, and may hand the call to an in-person team. Referrals open Care
Navigation follow-ups with first contact and outcome in CN hours. Shifts start and end on the
units' wall-clock windows.

Two ways to run, same domain events: :meth:`Simulator.run_until` (history: as fast as
possible, no AVL) and :meth:`Simulator.step` (live: also AVL fixes of moving units every
``avl.moving_interval_s`` of simulated time, positions interpolated on the route geometry, and
of parked units every ``avl.idle_interval_s``).

Randomness: three ``numpy`` Generators spawned from the seed: demand (arrivals and every
call's own random numbers, so calls and their fates do not depend on the roster), handoffs,
and operations (check-in intervals).

Two ways to dispatch (``dispatch=``):

``"auto"`` (the default)
    The simulator is its own dispatcher, as described above.
``"manual"``
    A person dispatches (the live board). Calls arrive and are triaged and screened as in auto
    mode; calls no program of their stream can take are still handed to police/EMS at once,
    but every other call waits in :meth:`Simulator.pending_calls`, with no time limit, until
    the app calls :meth:`Simulator.assign` (the team then turns out, drives its road route,
    works the scene and clears exactly as in auto mode) or closes it with
    :meth:`Simulator.close_call`. With ``auto_dispatch_after`` a simulated dispatcher assigns
    the auto-mode choice (the top recommended unit of the first program with a free team) to
    any call that has waited that long since it was received, so an unattended demo keeps
    moving. :meth:`Simulator.set_status` takes the dispatcher's status changes that make sense
    for a simulated team: out of service and back; clearing or cancelling a unit (its call is
    closed if the team reached the scene, else it waits again for another team); and the
    emergency status, which freezes the team's call until the dispatcher resolves it.

In auto mode the guards manual mode needs (events of a closed or re-queued call do nothing,
a step already recorded is not recorded again) never fire, so auto mode's event stream is
the one it was before manual mode existed.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from heartops.core.avl import AvlFix
from heartops.core.calls import Call, new_call, required_capabilities
from heartops.core.care import CARE_PROGRAM, FollowUpTask, follow_up_for
from heartops.core.clock import ensure_utc
from heartops.core.codes import CallLink, CallStep, CodeTables, Priority, default_tables
from heartops.core.eligibility import EligibilityResult, ledger_outcome, screen
from heartops.core.errors import (
    AssignmentRefused,
    InvalidTransition,
    NotFound,
    TableError,
)
from heartops.core.geo import GeoPoint
from heartops.core.programs import Program, is_open
from heartops.core.recommend import Assignment, assign, recommend
from heartops.core.safety import SafetyEvent, SafetyEventKind, SafetyMonitor
from heartops.core.units import Unit, UnitState, on_shift
from heartops.feeds.sim.demand import (
    ArrivalProcess,
    CallDraw,
    SpatialDemand,
    StreamRates,
    handoff_type,
    place_destinations,
    solve_stream_rates,
)
from heartops.feeds.sim.motion import Leg, RoadCache
from heartops.feeds.sim.profile import Response, SimProfile, Stream
from heartops.feeds.sim.roster import Roster
from heartops.feeds.sim.sinks import NullSink, SimulationSink
from heartops.routing.engine import TravelTimeEngine

log = logging.getLogger(__name__)

AUTHOR = "simulator"
"""Author of the notes the simulator writes on calls."""
_OPEN_SEARCH_STEP = timedelta(minutes=15)
_OPEN_SEARCH_LIMIT = 7 * 24 * 4

DispatchMode = Literal["auto", "manual"]
"""Who dispatches: the simulator itself (``"auto"``) or a person through the app."""

_Deferred = tuple[Callable[..., None], tuple[Any, ...]]


class ZoneLookup(Protocol):
    """Assigns points to zones (``heartops.routing.zones.ZoneIndex`` is one)."""

    def assign(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.object_]:
        """Return the zone id of each point, ``None`` outside every zone."""
        ...


@dataclass(frozen=True, slots=True)
class _Statuses:
    """The status codes the simulator moves units through, found by role in the tables."""

    available: str
    out_of_service: str
    dispatched: str
    en_route: str
    on_scene: str
    transporting: str
    at_destination: str | None
    emergency: str
    assignable: frozenset[str]

    @classmethod
    def from_tables(cls, tables: CodeTables) -> _Statuses:
        rows = list(tables.statuses.values())

        def by_step(step: CallStep) -> str:
            return next(s.code for s in rows if s.call_step is step)

        try:
            return cls(
                available=next(s.code for s in rows if s.assignable and s.call is CallLink.NONE),
                out_of_service=next(s.code for s in rows if not s.assignable and not s.emergency
                                    and s.call is CallLink.NONE),
                dispatched=tables.dispatch_status, en_route=by_step(CallStep.EN_ROUTE),
                on_scene=by_step(CallStep.ON_SCENE), transporting=by_step(CallStep.TRANSPORT),
                at_destination=next((s.code for s in rows if s.call is CallLink.REQUIRED
                                     and s.call_step is None and not s.emergency), None),
                emergency=tables.emergency_status,
                assignable=frozenset(s.code for s in rows if s.assignable))
        except StopIteration:
            raise TableError("unit_statuses.csv lacks a status the simulator needs (available, "
                             "out of service, en route, on scene or transporting)") from None


@dataclass(slots=True)
class _Team:
    """A unit's running state."""

    unit: Unit
    program: Program
    state: UnitState
    node: int
    post_node: int
    complete: bool
    leg: Leg | None = None
    case: _Case | None = None
    next_idle_fix: float = 0.0
    # Manual mode: a dispatcher-declared emergency freezes the team's call; the handlers that
    # would have moved it on wait here until the dispatcher resolves the emergency.
    held: bool = False
    before_hold: str | None = None
    deferred: list[_Deferred] = field(default_factory=list)


@dataclass(slots=True)
class _Outcome:
    """How a served call ends, decided when the team arrives (or picks up)."""

    at_scene_s: float
    dispositions: tuple[str, ...]
    destination: int | None = None
    drive_s: float = 0.0
    handover_s: float = 0.0
    pd_backup: bool = False
    ems: bool = False
    emergency: bool = False
    handoff: bool = False
    referral: bool = False


@dataclass(slots=True)
class _Case:
    """A call's running state."""

    call: Call
    draw: CallDraw
    stream: Stream
    inside: bool
    received_screen: EligibilityResult | None = None
    queued: bool = False
    team: _Team | None = None
    program: str | None = None
    scene_node: int = -1
    eta_s: float = 0.0
    traffic: float = 1.0
    outcome: _Outcome | None = None
    scene_end: float = 0.0
    served_logged: bool = False


class Simulator:
    """Simulates a department's shifts: calls, dispatch, drives, scenes and follow-ups.

    Parameters
    ----------
    engine
        Drive times and routes over the city's road network.
    roster
        The teams and their posts (:func:`heartops.feeds.sim.roster.default_roster`).
    profile
        Calibration and assumptions (:func:`heartops.feeds.sim.profile.load_profile`).
    seed
        The same seed (with the same inputs) gives the same event stream.
    start
        Aware instant at which simulated time starts.
    sink
        Receives the events; may be replaced later through :attr:`sink`.
    tables
        Code tables (the packaged ones by default).
    zones
        Zone lookup (police beats) for calls' ``zone_id``; ``None`` leaves it empty.
    service_area
        Lookup whose zones are the service area; points in no zone are outside it and their
        calls go to the ledger as ``OUTSIDE_SERVICE_AREA``. ``None``: everywhere is inside.
    call_id_prefix
        Prefix of call ids (``"S<seed>-"`` by default), to keep runs apart in one store.
    dispatch
        ``"auto"``: the simulator dispatches every call itself; ``"manual"``: calls wait for
        :meth:`assign` (see the module docstring).
    auto_dispatch_after
        Manual mode only: a simulated dispatcher assigns the auto-mode choice to a call that
        has waited this long since it was received (``None``: never).
    volume
        Calls arrive at this multiple of the city's calibrated volume (a busier demo shift:
        the same teams, more calls); 1 reproduces the published figures.
    rates
        Yearly stream rates solved beforehand (:attr:`rates` of another run). What-if runs
        pass the current plan's, so a roster with other hours sees the same calls; by default
        they are solved for this roster.

    Raises
    ------
    ValueError
        On an unknown dispatch mode, ``auto_dispatch_after`` outside manual mode or negative,
        or a volume that is not positive.
    """

    def __init__(self, engine: TravelTimeEngine, roster: Roster, profile: SimProfile,
                 seed: int, start: datetime, *, sink: SimulationSink | None = None,
                 tables: CodeTables | None = None, zones: ZoneLookup | None = None,
                 service_area: ZoneLookup | None = None,
                 call_id_prefix: str | None = None, dispatch: DispatchMode = "auto",
                 auto_dispatch_after: timedelta | None = None, volume: float = 1.0,
                 rates: StreamRates | None = None) -> None:
        if not (math.isfinite(volume) and volume > 0):
            raise ValueError(f"volume must be a positive multiple, got {volume!r}")
        if dispatch not in ("auto", "manual"):
            raise ValueError(f"dispatch must be 'auto' or 'manual', got {dispatch!r}")
        if auto_dispatch_after is not None:
            if dispatch != "manual":
                raise ValueError("auto_dispatch_after is for manual dispatch only")
            if auto_dispatch_after < timedelta():
                raise ValueError(f"auto_dispatch_after must not be negative, got "
                                 f"{auto_dispatch_after}")
        self.dispatch_mode: DispatchMode = dispatch
        self.auto_dispatch_after = auto_dispatch_after
        self.tables = tables or default_tables()
        self.profile = profile
        self.roster = roster
        self.seed = seed
        self.start = ensure_utc(start, what="simulation start")
        self.sink: SimulationSink = sink or NullSink()
        self.safety_monitor = SafetyMonitor(tables=self.tables)
        self._status = _Statuses.from_tables(self.tables)
        self._zone = self.tables.timezone
        self._roads = RoadCache(engine)
        network = engine.network
        self._inside = None if service_area is None else np.array(
            [z is not None for z in service_area.assign(network.node_lat, network.node_lon)])
        self._zone_ids = None if zones is None else zones.assign(network.node_lat,
                                                                 network.node_lon)
        self.demand = SpatialDemand(network, profile.space, inside=self._inside)
        solved = rates or solve_stream_rates(profile, self.tables, units=roster.units,
                                             inside_share=self.demand.inside_share)
        self.rates: StreamRates = replace(solved, per_year={
            stream: rate * volume for stream, rate in solved.per_year.items()})
        demand_seed, handoff_seed, ops_seed = np.random.SeedSequence(seed).spawn(3)
        self._arrivals = ArrivalProcess(profile, self.rates, self.demand, self._zone,
                                        np.random.default_rng(demand_seed),
                                        care_needs=len(profile.care.needs))
        self._handoff_rng = np.random.default_rng(handoff_seed)
        self._ops_rng = np.random.default_rng(ops_seed)
        self._destinations = place_destinations(network, profile.destinations,
                                                profile.destination_seed, inside=self._inside)
        self._destination_cdf = np.cumsum([d.weight for d in profile.destinations])
        self._teams = self._make_teams(engine)
        self._by_program: dict[str, list[_Team]] = {}
        for team in self._teams.values():
            self._by_program.setdefault(team.unit.program, []).append(team)
        self._drivers = [t for t in self._teams.values() if t.program.in_person]
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._t = 0.0
        self._cases: dict[str, _Case] = {}
        self._queue: list[_Case] = []
        self._retry_pending = False
        self._tasks: dict[str, FollowUpTask] = {}
        self._numbers = itertools.count(1)
        self._prefix = f"S{seed}-" if call_id_prefix is None else call_id_prefix
        self._live = False
        self._next_tick = 0.0
        self._schedule(0.0, self._on_start)

    def _make_teams(self, engine: TravelTimeEngine) -> dict[str, _Team]:
        posts = list(self.roster.posts.items())
        nodes, _ = engine.snap_many([p.lat for _, p in posts], [p.lon for _, p in posts])
        post_node = {post_id: int(node) for (post_id, _), node in zip(posts, nodes.tolist(),
                                                                       strict=True)}
        teams = {}
        for unit in self.roster.units:
            node = post_node[str(unit.home_post_id)]
            program = self.tables.program(unit.program)
            status = (self._status.available if on_shift(unit, self.start, self._zone)
                      else self._status.out_of_service)
            state = UnitState(unit.unit_id, status, self.start, position=self._roads.point(node))
            teams[unit.unit_id] = _Team(
                unit=unit, program=program, state=state, node=node, post_node=node,
                complete=all(role in unit.team for role in program.team_roles))
        return teams

    # -- public API ------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The current simulated instant (aware UTC)."""
        return self._at(self._t)

    @property
    def clock(self) -> SimulationClock:
        """A :class:`~heartops.core.clock.Clock` reading simulated time.

        Give it to whatever judges time while the simulator drives the app (board timers, the
        AVL validator): at 60x, simulated fixes are "in the future" by the wall clock.
        """
        return SimulationClock(self)

    def unit_states(self) -> dict[str, UnitState]:
        """Return every unit's current state, by unit id, in roster order."""
        return {unit_id: team.state for unit_id, team in self._teams.items()}

    def open_calls(self) -> dict[str, Call]:
        """Return the calls not yet cleared, by call id, in arrival order."""
        return {call_id: case.call for call_id, case in self._cases.items()}

    def pending_calls(self) -> list[Call]:
        """Return the calls waiting for a team, most urgent first, then oldest."""
        return [case.call for case in sorted(self._queue, key=_queue_key)]

    def call(self, call_id: str) -> Call | None:
        """Return the current version of an open call, or ``None`` once it is closed."""
        case = self._cases.get(call_id)
        return None if case is None else case.call

    def unit_state(self, unit_id: str) -> UnitState:
        """Return one unit's current state.

        Raises
        ------
        NotFound
            If the unit is not on the roster.
        """
        return self._team(unit_id).state

    # -- the dispatcher (manual mode) ------------------------------------------------------------

    def check_assign(self, unit_id: str, call_id: str) -> None:
        """Raise the error :meth:`assign` would raise, without changing anything.

        The live session asks first, so that it writes to the store only what the simulation
        will then do.
        """
        self._assignable(unit_id, call_id)

    def assign(self, unit_id: str, call_id: str, at: datetime | None = None, *,
               assignment: Assignment | None = None) -> Assignment:
        """Send ``unit_id`` to ``call_id`` (the dispatcher's decision).

        The team turns out, drives its road route (AVL in live mode), works the scene, clears
        and drives back to its post exactly as in auto mode. Whether the unit is the right one
        is the app's business (``core.recommend.assign``); the simulator only refuses what
        cannot happen.

        Parameters
        ----------
        unit_id, call_id
            Who goes where; the call must be open and without a team (it may still be in
            triage), the unit free (an assignable status, no call).
        at
            When the dispatcher decided; defaults to now. The simulated world cannot act in
            the past, so an earlier time (a decision that arrived late) takes effect now.
        assignment
            The app's record of the decision (rank, override reason, ...), passed to the sink
            as is. Without it the simulator records the dispatcher's choice as rank 1.

        Returns
        -------
        Assignment
            What was passed to the sink.

        Raises
        ------
        NotFound
            Unknown unit, or a call that is not open.
        AssignmentRefused
            The call already has a team, the unit is busy or its program does not respond to
            calls, or no road leads from the unit to the call.
        ValueError
            If ``at`` is in the simulated future, or ``assignment`` is of another unit or call.
        """
        now = self.now
        if at is not None and ensure_utc(at, what="assignment time") > now:
            raise ValueError(f"cannot assign at {at.isoformat()}, in the simulated future "
                             f"(the simulation is at {now.isoformat()})")
        case, team, eta_s = self._assignable(unit_id, call_id)
        if assignment is None:
            assignment = Assignment(
                call_id=call_id, unit_id=unit_id, program=team.unit.program, at=now, rank=1,
                recommended_unit_id=unit_id, override_reason=None, eta_seconds=eta_s,
                explanation=f"{unit_id} · assigned by the dispatcher")
        elif (assignment.unit_id, assignment.call_id) != (unit_id, call_id):
            raise ValueError(f"the assignment is of {assignment.unit_id} to "
                             f"{assignment.call_id}, not {unit_id} to {call_id}")
        if case.received_screen is None:  # assigned while still in triage
            case.received_screen = screen(case.call, case.call.received_at, self._area(case),
                                          tables=self.tables)
        if case.queued:
            case.queued = False
            self._queue.remove(case)
        self._dispatch(case, assignment, eta_s=eta_s)
        return assignment

    def _assignable(self, unit_id: str, call_id: str) -> tuple[_Case, _Team, float | None]:
        """Return the case, the team and its drive time (``None`` by phone), or raise."""
        case = self._open_case(call_id)
        team = self._team(unit_id)
        if case.team is not None:
            raise AssignmentRefused(f"call {call_id} already has unit {case.team.unit.unit_id}")
        state = team.state
        if team.case is not None or state.status not in self._status.assignable:
            label = self.tables.status(state.status).label
            where = f" on call {state.call_id}" if state.call_id else ""
            raise AssignmentRefused(f"{unit_id} is {label.lower()}{where}; it cannot take call "
                                    f"{call_id}")
        if team.unit.program not in self.profile.responses:
            raise AssignmentRefused(f"{unit_id}: program {team.unit.program} does not respond "
                                    "to calls")
        if not team.program.in_person:
            return case, team, None
        origin = self._roads.point(self._dispatch_node(team))
        eta = self._roads.engine.etas_to(case.call.location, {unit_id: origin})[unit_id]
        if not eta.reachable:
            raise AssignmentRefused(f"{unit_id} cannot reach call {call_id}: "
                                    f"{eta.note or 'no road route'}")
        return case, team, eta.seconds

    def check_status(self, unit_id: str, status: str) -> None:
        """Raise the error :meth:`set_status` would raise, without changing anything."""
        self._status_action(self._team(unit_id), status)

    def set_status(self, unit_id: str, status: str) -> UnitState:
        """Apply a dispatcher's status change to a simulated team, now.

        What is taken (the transitions table must allow it too):

        * out of service / available for a unit without a call (a break, back in service);
        * available or out of service for a unit on a call: the team leaves it. If the team
          reached the scene the call is closed (resolved, plus any backup, EMS or referral the
          scene had); otherwise the call waits again for another team. The unit drives back to
          its post;
        * the emergency status, from any status: the team's call is frozen (nothing the
          simulation planned happens) until the dispatcher resolves the emergency, either back
          to on scene (if the team was on scene; what was frozen then happens) or to available
          / out of service as above.

        Statuses that report a team's progress (en route, on scene, transporting, ...) come
        from the simulated team itself and are refused, as is a dispatch (use :meth:`assign`).

        Returns
        -------
        UnitState
            The unit's new state.

        Raises
        ------
        NotFound
            Unknown unit.
        UnknownCodeError
            Unknown status.
        InvalidTransition
            A change the transitions table or the rules above refuse.
        """
        team = self._team(unit_id)
        action = self._status_action(team, status)
        if action == "same":
            return team.state
        if action == "hold":
            self._hold(team)
        elif action == "resume":
            self._resume(team)
        elif team.case is None:
            self._release_team(team, status)
            if status == self._status.available:
                self._retry_queue()
        elif action == "close":
            case = team.case
            self._finish_case(case, self._cut_short_dispositions(case), None, to_status=status)
        else:
            self._requeue(team.case, status)
        return team.state

    def _status_action(self, team: _Team, to: str) -> str:
        """Return what a dispatcher's change to ``to`` means, or raise if it is refused."""
        target = self.tables.status(to)
        state = team.state
        who = team.unit.unit_id
        if to == state.status:
            return "same"
        if not self.tables.can_transition(state.status, to):
            allowed = ", ".join(self.tables.next_statuses(state.status)) or "none"
            raise InvalidTransition(f"unit {who}: {state.status} -> {to} is not allowed "
                                    f"(from {state.status}: {allowed})")
        if target.emergency:
            return "hold"
        case = team.case
        if target.call is CallLink.NONE:
            if case is None:
                return "plain"
            return "close" if case.call.time_of(CallStep.ON_SCENE) is not None else "requeue"
        before = team.before_hold or self._status.on_scene
        if (case is not None and self.tables.status(state.status).emergency
                and to == self._status.on_scene == before):
            return "resume"
        if self.tables.status(state.status).emergency:
            raise InvalidTransition(f"unit {who} was {before} before the emergency; resolve "
                                    f"it to {self._status.available} or "
                                    f"{self._status.out_of_service}")
        raise InvalidTransition(f"unit {who}: {to} is reported by the simulated team itself; "
                                "dispatch with assign, or clear the unit")

    def _hold(self, team: _Team) -> None:
        """Freeze the team where it is, in emergency (its call kept)."""
        team.before_hold = team.state.status
        team.held = True
        self._set_status(team, self._status.emergency)
        leg = team.leg
        if team.program.in_person and leg is not None and leg.active(self._t):
            cut = leg.cut_at(self._t)  # the team stops at the next crossing
            team.leg = cut
            self._schedule(cut.end, self._on_leg_end, team, cut)

    def _resume(self, team: _Team) -> None:
        """End a held emergency back on scene; what was frozen happens now, in order."""
        team.held = False
        team.before_hold = None
        self._set_status(team, self._status.on_scene)
        deferred, team.deferred = team.deferred, []
        for handler, args in deferred:
            handler(*args)

    def check_close(self, call_id: str, dispositions: Collection[str],
                    destination: str | None = None) -> None:
        """Raise the error :meth:`close_call` would raise, without changing anything."""
        self._closable(call_id, dispositions, destination)

    def close_call(self, call_id: str, dispositions: Collection[str],
                   destination: str | None = None) -> Call:
        """Close an open call now (the dispatcher's decision), and release its team.

        A call that was never served gets its unmet-demand ledger entry; the team (if any)
        becomes available (out of service off shift) and drives back to its post; a referral
        disposition opens a follow-up. Every event planned for the call is dropped.

        Raises
        ------
        NotFound
            If the call is not open.
        InvalidTransition
            If its team is in emergency (resolve that first), or the call cannot close now.
        UnknownCodeError, ValueError
            On a bad disposition or a missing destination.
        """
        case = self._closable(call_id, dispositions, destination)
        return self._finish_case(case, tuple(dispositions), destination, to_status=None)

    def _closable(self, call_id: str, dispositions: Collection[str],
                  destination: str | None) -> _Case:
        case = self._open_case(call_id)
        team = case.team
        if team is not None and self.tables.status(team.state.status).emergency:
            raise InvalidTransition(f"unit {team.unit.unit_id} is in emergency on call "
                                    f"{call_id}; resolve the emergency before closing the call")
        case.call.close(self.now, dispositions=dispositions, destination=destination,
                        tables=self.tables)  # checks the codes and times; the result is dropped
        return case

    def add_note(self, call_id: str, text: str, *, author: str) -> Call:
        """Append a dispatcher's note to an open call (later versions of the call keep it).

        Raises
        ------
        NotFound
            If the call is not open.
        ValueError
            On an empty note.
        """
        case = self._open_case(call_id)
        case.call = case.call.add_note(self.now, text, author=author)
        return case.call

    def _open_case(self, call_id: str) -> _Case:
        case = self._cases.get(call_id)
        if case is None:
            raise NotFound(f"call {call_id!r} is not open in the simulation")
        return case

    def _team(self, unit_id: str) -> _Team:
        team = self._teams.get(unit_id)
        if team is None:
            raise NotFound(f"unit {unit_id!r} is not on the simulated roster")
        return team

    def _finish_case(self, case: _Case, dispositions: tuple[str, ...], destination: str | None,
                     *, to_status: str | None) -> Call:
        """Close ``case`` now with ``dispositions``; release its team into ``to_status``."""
        team = case.team
        if case.queued:
            case.queued = False
            self._queue.remove(case)
        closed = self._close(case, case.call, dispositions, destination)
        if not case.served_logged:
            received = case.received_screen or screen(
                case.call, case.call.received_at, self._area(case), tables=self.tables)
            entry = ledger_outcome(received, served=False)
            if entry is not None:
                self.sink.ledger(entry)
        if team is not None:
            self._release_team(team, to_status)
        self._open_follow_up(closed, case)
        if team is not None and team.state.status == self._status.available:
            self._retry_queue()
        return closed

    def _requeue(self, case: _Case, to_status: str) -> None:
        """Take the team off a call it has not reached; the call waits for another team."""
        team = self._team_of(case)
        fresh = _Case(call=case.call, draw=case.draw, stream=case.stream, inside=case.inside,
                      received_screen=case.received_screen, served_logged=case.served_logged)
        self._cases[case.call.call_id] = fresh  # the old case's planned events now do nothing
        self._release_team(team, to_status)
        if self.dispatch_mode == "manual":
            self._wait_for_dispatcher(fresh)
        elif not self._try_dispatch(fresh):
            fresh.queued = True
            self._queue.append(fresh)
            self._schedule(max(self._t, fresh.draw.at + fresh.stream.max_wait_s),
                           self._on_queue_timeout, fresh)
            self._ensure_retry()

    def _release_team(self, team: _Team, to_status: str | None) -> None:
        """Put a team that leaves its call (or its emergency) in ``to_status``, headed home.

        ``None`` means available, or out of service off shift.
        """
        team.case = None
        team.held, team.before_hold, team.deferred = False, None, []
        if to_status is None:
            to_status = (self._status.available if on_shift(team.unit, self.now, self._zone)
                         else self._status.out_of_service)
        if not self.tables.can_transition(team.state.status, to_status):
            # e.g. dispatched -> out of service is not a move; go through available.
            self._set_status(team, self._status.available)
        self._set_status(team, to_status)
        if not team.program.in_person:
            return
        leg = team.leg
        if leg is not None and leg.active(self._t):
            cut = leg.cut_at(self._t)  # finish the street, then turn for home
            team.leg = cut
            self._schedule(cut.end, self._on_leg_end_then_home, team, cut)
        elif team.node != team.post_node:
            self._drive_home(team, 1.0)

    def _on_leg_end_then_home(self, team: _Team, leg: Leg) -> None:
        if team.leg is leg:
            self._park(team, leg.target)
            if team.case is None and not team.held:
                self._drive_home(team, 1.0)

    def _cut_short_dispositions(self, case: _Case) -> tuple[str, ...]:
        """Dispositions of a scene the dispatcher ended: resolved, plus what already happened."""
        outcome = case.outcome
        if outcome is None:
            return (self.profile.resolved_disposition,)
        codes = [self.profile.resolved_disposition]
        if outcome.pd_backup:
            codes.append(self._disposition_with("pd_backup"))
        if outcome.ems:
            codes.append(self._disposition_with("ems"))
        if outcome.referral:
            codes.append(self._disposition_with("follow_up"))
        return tuple(dict.fromkeys(codes))

    def run_until(self, until: datetime) -> None:
        """Run as fast as possible up to ``until`` (history mode: no AVL fixes).

        Raises
        ------
        ValueError
            If ``until`` is earlier than :attr:`now`.
        """
        target = (ensure_utc(until, what="run_until time") - self.start).total_seconds()
        if target < self._t:
            raise ValueError(f"cannot run back in time to {until.isoformat()} "
                             f"(now {self.now.isoformat()})")
        self._process(target)
        self._t = target

    def step(self, dt: timedelta | float) -> None:
        """Advance by ``dt`` (a timedelta or seconds), emitting AVL fixes (live mode).

        Call it from a timer with ``dt = tick x speed`` to run at 1x-60x.

        Raises
        ------
        ValueError
            If ``dt`` is negative.
        """
        seconds = dt.total_seconds() if isinstance(dt, timedelta) else float(dt)
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"a step must be a finite, non-negative time, got {dt!r}")
        target = self._t + seconds
        interval = self.profile.avl_moving_s
        self._next_tick = max(self._next_tick, math.ceil(self._t / interval) * interval)
        self._live = True
        try:
            while self._next_tick <= target:
                tick = self._next_tick
                self._process(tick)
                self._t = tick
                self._emit_fixes(tick)
                self._next_tick = tick + interval
            self._process(target)
            self._t = target
        finally:
            self._live = False

    # -- event loop ------------------------------------------------------------------------------

    def _schedule(self, t: float, handler: Callable[..., None], *args: Any) -> None:
        # Auto mode never schedules into the past; a handler replayed late in manual mode
        # (after an emergency) may compute such a time, and time must not run backwards.
        heapq.heappush(self._heap, (max(t, self._t), next(self._order), handler, args))

    def _process(self, limit: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= limit:
            t, _, handler, args = heapq.heappop(heap)
            self._t = t
            handler(*args)

    def _at(self, t: float) -> datetime:
        return self.start + timedelta(seconds=t)

    def _minutes(self, value: float) -> float:
        """Return the simulated seconds ``value`` minutes from now."""
        return self._t + value * 60.0

    # -- start, hours and shifts -----------------------------------------------------------------

    def _on_start(self) -> None:
        now = self.now
        for team in self._teams.values():
            self.sink.unit_status(team.unit.unit_id, None, team.state.status, now, None)
            self._schedule_shift_change(team)
        self._on_hour()

    def _on_hour(self) -> None:
        begin = self.now
        end = begin.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        t1 = (end - self.start).total_seconds()
        for draw in self._arrivals.between(begin, self._t, t1):
            self._schedule(draw.at, self._on_arrival, draw)
        self._schedule(t1, self._on_hour)

    def _schedule_shift_change(self, team: _Team) -> None:
        change = self._next_shift_change(team.unit)
        if change is not None:
            self._schedule(change, self._on_shift_change, team)

    def _next_shift_change(self, unit: Unit) -> float | None:
        """Return when the unit's shift next starts or ends, in simulated seconds (or None)."""
        now = self.now
        working = on_shift(unit, now, self._zone)
        today = now.astimezone(self._zone).date()
        candidates = sorted(
            datetime.combine(today + timedelta(days=offset), clock, tzinfo=self._zone)
            for offset in range(-1, 9)
            for clock in (unit.shift.start, unit.shift.end, time(0, 0)))
        for instant in candidates:
            if instant > now and on_shift(unit, instant, self._zone) != working:
                return (instant - self.start).total_seconds()
        return None

    def _on_shift_change(self, team: _Team) -> None:
        working = on_shift(team.unit, self.now, self._zone)
        if working and team.state.status == self._status.out_of_service:
            self._set_status(team, self._status.available)
            self._retry_queue()
        elif not working and team.state.status == self._status.available:
            self._set_status(team, self._status.out_of_service)
        self._schedule_shift_change(team)

    # -- calls -----------------------------------------------------------------------------------

    def _on_arrival(self, draw: CallDraw) -> None:
        call_id = f"{self._prefix}{next(self._numbers):06d}"
        node = draw.node
        call = new_call(
            call_id, call_type=draw.call_type, location=self._roads.point(node),
            received_at=self.now, priority=Priority.P if draw.priority_p else None,
            zone_id=None if self._zone_ids is None else self._zone_ids[node],
            flags=draw.flags, needs=draw.needs, address=self._address(node), tables=self.tables)
        if draw.parent_call_id is not None:
            call = call.add_note(self.now, f"in-person response requested by phone call "
                                 f"{draw.parent_call_id}", author=AUTHOR)
        case = _Case(call=call, draw=draw, stream=self.profile.streams[draw.stream],
                     inside=self._inside is None or bool(self._inside[node]))
        self._cases[call_id] = case
        self.sink.call_received(call)
        self._schedule(self._minutes(self.profile.triage.at(draw.luck.z_triage)),
                       self._on_triaged, case)

    def _address(self, node: int) -> str:
        network = self._roads.network
        edge = int(network.fwd_indptr[node])
        if edge >= int(network.fwd_indptr[node + 1]):
            return ""
        return str(network.street_names[int(network.fwd_name[edge])])

    def _area(self, case: _Case) -> Callable[[GeoPoint], bool] | None:
        if self._inside is None:
            return None
        inside = case.inside
        return lambda _point: inside

    def _on_triaged(self, case: _Case) -> None:
        if self._stale(case) or case.team is not None:
            return  # closed, or a dispatcher sent a team before triage finished
        self._record(case, CallStep.TRIAGED)
        received = screen(case.call, case.call.received_at, self._area(case), tables=self.tables)
        case.received_screen = received
        if not set(received.eligible_programs) & set(case.stream.dispatch):
            self._turn_away(case)
        elif self.dispatch_mode == "manual":
            self._wait_for_dispatcher(case)
        elif not self._try_dispatch(case):
            case.queued = True
            self._queue.append(case)
            # The wait counts from receipt, like the pending queue's ageing timer.
            give_up = max(self._t, case.draw.at + case.stream.max_wait_s)
            self._schedule(give_up, self._on_queue_timeout, case)
            self._ensure_retry()

    def _turn_away(self, case: _Case) -> None:
        """Give the call to police/EMS: its ledger outcome, then close it."""
        assert case.received_screen is not None
        entry = ledger_outcome(case.received_screen, served=False)
        why = "not a HEART call" if entry is None else entry.outcome.value.replace("_", " ")
        if entry is not None:
            self.sink.ledger(entry)
        call = case.call.add_note(self.now, f"not served by HEART ({why.lower()}); handed to "
                                  "police/EMS", author=AUTHOR)
        self._close(case, call, (self.profile.unserved_disposition,), None)

    def _close(self, case: _Case, call: Call, dispositions: tuple[str, ...],
               destination: str | None) -> Call:
        closed = call.close(self.now, dispositions=dispositions, destination=destination,
                            tables=self.tables)
        case.call = closed
        del self._cases[closed.call_id]
        self.sink.call_closed(closed)
        return closed

    def _record(self, case: _Case, step: CallStep) -> None:
        if case.call.time_of(step) is not None:
            return  # a call sent a second team (the first was cancelled) keeps its first times
        case.call = case.call.record(step, self.now)
        self.sink.call_step(case.call.call_id, step, self.now)

    # -- dispatch and the queue ------------------------------------------------------------------

    def _try_dispatch(self, case: _Case) -> bool:
        """Dispatch the top recommended unit of the first program that has one."""
        now = self.now
        call = case.call
        required = required_capabilities(call, tables=self.tables)
        result: EligibilityResult | None = None
        for program in case.stream.dispatch:
            free = [t for t in self._by_program.get(program, ()) if self._free(t, required, now)]
            if not free:
                continue  # cheap pre-check: recommend would leave every unit out
            if result is None:
                result = screen(call, now, self._area(case), tables=self.tables)
            if program not in result.eligible_programs:
                continue
            etas = {}
            if self.tables.program(program).in_person:
                where = {t.unit.unit_id: self._roads.point(self._dispatch_node(t)) for t in free}
                etas = self._roads.engine.etas_to(call.location, where)
            pool = [(t.unit, t.state) for t in self._by_program[program]]
            ranking = recommend(call, result, pool, etas, now, tables=self.tables)
            if ranking.top is not None:
                self._dispatch(case, assign(ranking, ranking.top.unit_id, at=now))
                return True
        return False

    def _free(self, team: _Team, required: frozenset[str], now: datetime) -> bool:
        return (team.state.status in self._status.assignable and team.complete
                and required <= team.unit.provides and on_shift(team.unit, now, self._zone))

    def _dispatch_node(self, team: _Team) -> int:
        """Return where the unit drives from: its node, or the next one on its way back."""
        if team.leg is not None and team.leg.active(self._t):
            return team.leg.next_node(self._t)[0]
        return team.node

    def _ensure_retry(self) -> None:
        if self.dispatch_mode == "manual" and self.auto_dispatch_after is None:
            return  # only the person at the board dispatches
        if self._queue and not self._retry_pending:
            self._retry_pending = True
            self._schedule(self._t + self.profile.queue_retry_s, self._on_retry)

    def _on_retry(self) -> None:
        self._retry_pending = False
        self._retry_queue()
        self._ensure_retry()

    def _retry_queue(self) -> None:
        for case in sorted(self._queue, key=_queue_key):
            if self._dispatch_due(case) and self._try_dispatch(case):
                case.queued = False
                self._queue.remove(case)

    def _wait_for_dispatcher(self, case: _Case) -> None:
        """Manual mode: put the call in the pending queue until someone assigns a team."""
        case.queued = True
        self._queue.append(case)
        after = self.auto_dispatch_after
        if after is not None:
            self._schedule(max(self._t, case.draw.at + after.total_seconds()),
                           self._on_dispatch_due, case)

    def _dispatch_due(self, case: _Case) -> bool:
        """Return whether the simulator may dispatch ``case`` itself now."""
        if self.dispatch_mode == "auto":
            return True
        after = self.auto_dispatch_after
        return after is not None and self._t >= case.draw.at + after.total_seconds()

    def _on_dispatch_due(self, case: _Case) -> None:
        """Manual mode with ``auto_dispatch_after``: the simulated dispatcher's turn."""
        if self._stale(case) or not case.queued:
            return
        if self._try_dispatch(case):
            case.queued = False
            self._queue.remove(case)
        else:
            self._ensure_retry()

    def _on_queue_timeout(self, case: _Case) -> None:
        if case.queued and not self._stale(case):
            case.queued = False
            self._queue.remove(case)
            self._turn_away(case)

    def _dispatch(self, case: _Case, assignment: Assignment, *,
                  eta_s: float | None = None) -> None:
        team = self._teams[assignment.unit_id]
        self.sink.assignment(assignment)
        case.call = case.call.add_unit(team.unit.unit_id)
        self._record(case, CallStep.DISPATCHED)
        self._set_status(team, self._status.dispatched, call_id=case.call.call_id)
        case.team, case.program, team.case = team, assignment.program, case
        assert case.received_screen is not None
        if not case.served_logged:
            case.served_logged = True
            entry = ledger_outcome(case.received_screen, served=True)
            if entry is not None:
                self.sink.ledger(entry)
        response = self.profile.responses[assignment.program]
        luck = case.draw.luck
        if response.pickup is not None:
            self._schedule(self._minutes(response.pickup.at(luck.z_pickup)), self._on_pickup,
                           case)
            return
        assert response.turnout is not None
        ready = self._t
        if team.leg is not None and team.leg.active(self._t):
            # The team finishes the street it is on while it turns out, then heads off.
            team.leg = team.leg.cut_at(self._t)
            self._schedule(team.leg.end, self._on_leg_end, team, team.leg)
            ready = team.leg.end
        case.scene_node = self._roads.engine.snap(case.call.location, what="call").node
        case.eta_s = (assignment.eta_seconds or 0.0) if eta_s is None else eta_s
        case.traffic = max(1.0, self.profile.traffic.at(luck.z_traffic))
        turnout = self._minutes(response.turnout.at(luck.z_turnout))
        self._schedule(max(turnout, ready), self._on_en_route, case)

    # -- the drive and the scene -----------------------------------------------------------------

    def _on_en_route(self, case: _Case) -> None:
        if self._stale(case) or self._held(case, self._on_en_route):
            return
        team = self._team_of(case)
        self._record(case, CallStep.EN_ROUTE)
        self._set_status(team, self._status.en_route)
        leg = Leg(team.node, case.scene_node, self._t, self._t + case.eta_s * case.traffic,
                  self._roads, via_tree=False)
        team.leg = leg
        self._schedule(leg.end, self._on_arrive, case)

    def _on_arrive(self, case: _Case) -> None:
        if self._stale(case) or self._held(case, self._on_arrive):
            return
        team = self._team_of(case)
        self._park(team, case.scene_node)
        self._record(case, CallStep.ON_SCENE)
        self._set_status(team, self._status.on_scene)
        self._start_scene(case, self.profile.responses[str(case.program)])

    def _on_pickup(self, case: _Case) -> None:
        if self._stale(case) or self._held(case, self._on_pickup):
            return
        team = self._team_of(case)
        self._record(case, CallStep.ON_SCENE)
        self._set_status(team, self._status.on_scene)
        self._start_scene(case, self.profile.responses[str(case.program)])

    def _start_scene(self, case: _Case, response: Response) -> None:
        outcome = (self._in_person_outcome(case, response) if response.in_person
                   else self._phone_outcome(case, response))
        case.outcome = outcome
        case.scene_end = self._t + outcome.at_scene_s
        self._schedule(case.scene_end, self._on_scene_end, case)
        if response.check_in is not None:
            self._schedule_check_in(case, response)
        if outcome.pd_backup or outcome.ems:
            start, end = self.profile.incident_window
            share = start + (end - start) * case.draw.luck.u_incident
            self._schedule(self._t + share * outcome.at_scene_s, self._on_incident, case)

    def _in_person_outcome(self, case: _Case, response: Response) -> _Outcome:
        luck = case.draw.luck
        total = response.on_scene.at(luck.z_on_scene) * 60.0
        outcome = _Outcome(at_scene_s=total, dispositions=(),
                           pd_backup=luck.u_pd_backup < response.pd_backup,
                           ems=luck.u_ems < response.ems,
                           referral=luck.u_referral < response.referral)
        outcome.emergency = outcome.pd_backup and \
            luck.u_emergency < response.emergency_share_of_pd_backup
        if luck.u_transport < response.transport:
            destination = self._destination(luck.u_destination)
            drive = self._roads.seconds_to(case.scene_node, int(self._destinations[destination]))
            if math.isfinite(drive):
                assert response.handover is not None
                outcome.destination = destination
                outcome.drive_s = drive * case.traffic
                outcome.handover_s = response.handover.at(luck.z_handover) * 60.0
                # The transport is part of "on scene" (arrived -> cleared): carve it out of the
                # drawn time so the metric keeps the published mean.
                outcome.at_scene_s = max(response.min_scene * 60.0,
                                         total - outcome.drive_s - outcome.handover_s)
        outcome.dispositions = self._in_person_codes(outcome)
        return outcome

    def _phone_outcome(self, case: _Case, response: Response) -> _Outcome:
        luck = case.draw.luck
        outcome = _Outcome(at_scene_s=response.on_scene.at(luck.z_on_scene) * 60.0,
                           dispositions=(), referral=luck.u_referral < response.referral)
        if luck.u_phone < response.phone_resolution:
            outcome.dispositions = (self._disposition_with("by_phone"),)
            return outcome
        # The rates are shares of all the program's calls; they all fall in the remainder.
        rest = 1.0 - response.phone_resolution
        transport = response.transport / rest
        if luck.u_handoff < transport:
            outcome.destination = self._destination(luck.u_destination)
            outcome.dispositions = (self._disposition_with("transport"),)
        elif luck.u_handoff < transport + response.handoff / rest:
            outcome.handoff = True
            outcome.dispositions = (response.handoff_disposition,)
        else:
            outcome.dispositions = (response.other_disposition,)
        outcome.pd_backup = luck.u_pd_backup < response.pd_backup / rest
        outcome.ems = luck.u_ems < response.ems / rest
        return outcome

    def _in_person_codes(self, outcome: _Outcome) -> tuple[str, ...]:
        if outcome.destination is not None:
            return (self._disposition_with("transport"),)
        return (self.profile.resolved_disposition,)

    def _final_dispositions(self, case: _Case) -> tuple[str, ...]:
        outcome = case.outcome
        assert outcome is not None
        luck = case.draw.luck
        response = self.profile.responses[str(case.program)]
        codes = list(outcome.dispositions)
        if outcome.pd_backup:
            codes.append(self._disposition_with("pd_backup"))
        if outcome.ems:
            codes.append(self._disposition_with("ems"))
        if outcome.referral:
            codes.append(self._disposition_with("follow_up"))
        if luck.u_connected < response.connected:
            codes.append(self.profile.connected_disposition)
        return tuple(dict.fromkeys(codes))

    def _disposition_with(self, flag: str) -> str:
        """Return the first disposition row with ``flag`` set (transport, ems, by_phone ...)."""
        for code, row in self.tables.dispositions.items():
            if getattr(row, flag):
                return code
        raise TableError(f"dispositions.csv has no row with {flag} = true")

    def _destination(self, u: float) -> int:
        cdf = self._destination_cdf
        return min(int(np.searchsorted(cdf, u * cdf[-1], side="right")), cdf.size - 1)

    def _schedule_check_in(self, case: _Case, response: Response) -> None:
        assert response.check_in is not None
        gap = response.check_in.at(float(self._ops_rng.standard_normal()))
        self._schedule(self._minutes(gap), self._on_check_in, case, response)

    def _on_check_in(self, case: _Case, response: Response) -> None:
        team = case.team
        if team is None or team.case is not case or self._t >= case.scene_end:
            return
        if self._held(case, self._on_check_in, response):
            return
        if team.state.status == self._status.on_scene:
            self._safety(SafetyEvent(SafetyEventKind.CHECK_IN, self.now, team.unit.unit_id))
        self._schedule_check_in(case, response)

    def _on_incident(self, case: _Case) -> None:
        if self._stale(case) or self._held(case, self._on_incident):
            return
        team = self._team_of(case)
        outcome = case.outcome
        assert outcome is not None
        unit_id, call_id = team.unit.unit_id, case.call.call_id
        if outcome.emergency and team.program.in_person:
            self._set_status(team, self._status.emergency)
            response = self.profile.responses[str(case.program)]
            assert response.emergency is not None
            length = response.emergency.at(case.draw.luck.z_emergency) * 60.0
            # Back on scene before the scene ends, so the team clears from on scene.
            end = self._t + min(length, 0.9 * (case.scene_end - self._t))
            self._schedule(end, self._on_emergency_end, case)
        if outcome.pd_backup:
            self._safety(SafetyEvent(SafetyEventKind.PD_BACKUP_REQUESTED, self.now, unit_id,
                                     call_id))
        if outcome.ems:
            self._safety(SafetyEvent(SafetyEventKind.EMS_REQUESTED, self.now, unit_id, call_id))

    def _on_emergency_end(self, case: _Case) -> None:
        if self._stale(case) or self._held(case, self._on_emergency_end):
            return
        self._set_status(self._team_of(case), self._status.on_scene)

    def _on_scene_end(self, case: _Case) -> None:
        if self._stale(case) or self._held(case, self._on_scene_end):
            return
        team = self._team_of(case)
        outcome = case.outcome
        assert outcome is not None
        if outcome.destination is None or not team.program.in_person:
            self._clear(case)
            return
        self._record(case, CallStep.TRANSPORT)
        self._set_status(team, self._status.transporting)
        node = int(self._destinations[outcome.destination])
        leg = Leg(team.node, node, self._t, self._t + outcome.drive_s, self._roads,
                  via_tree=True)
        team.leg = leg
        self._schedule(leg.end, self._on_at_destination, case)

    def _on_at_destination(self, case: _Case) -> None:
        if self._stale(case) or self._held(case, self._on_at_destination):
            return
        team = self._team_of(case)
        outcome = case.outcome
        assert outcome is not None and outcome.destination is not None
        self._park(team, int(self._destinations[outcome.destination]))
        if self._status.at_destination is not None:
            self._set_status(team, self._status.at_destination)
        self._schedule(self._t + outcome.handover_s, self._clear, case)

    def _clear(self, case: _Case) -> None:
        if self._stale(case) or self._held(case, self._clear):
            return
        team = self._team_of(case)
        outcome = case.outcome
        assert outcome is not None
        destination = (None if outcome.destination is None
                       else self.profile.destinations[outcome.destination].name)
        closed = self._close(case, case.call, self._final_dispositions(case), destination)
        team.case = None
        working = on_shift(team.unit, self.now, self._zone)
        self._set_status(team, self._status.available if working
                         else self._status.out_of_service)
        if team.program.in_person and team.node != team.post_node:
            self._drive_home(team, case.traffic)
        self._open_follow_up(closed, case)
        if outcome.handoff:
            program = str(case.program)
            response = self.profile.responses[program]
            draw = self._arrivals.handoff(
                case.draw, closed.call_id, stream=response.handoff_stream,
                call_type=handoff_type(self.profile, program, closed.call_type, self.tables),
                at=self._t, rng=self._handoff_rng)
            self._schedule(self._t, self._on_arrival, draw)
        if working:
            self._retry_queue()

    def _drive_home(self, team: _Team, traffic: float) -> None:
        seconds = self._roads.seconds_to(team.node, team.post_node)
        if not math.isfinite(seconds):
            log.warning("unit %s cannot drive back to its post from node %d; it stays put",
                        team.unit.unit_id, team.node)
            return
        leg = Leg(team.node, team.post_node, self._t, self._t + seconds * traffic, self._roads,
                  via_tree=True)
        team.leg = leg
        self._schedule(leg.end, self._on_leg_end, team, leg)

    def _on_leg_end(self, team: _Team, leg: Leg) -> None:
        if team.leg is leg:
            self._park(team, leg.target)

    def _team_of(self, case: _Case) -> _Team:
        assert case.team is not None
        return case.team

    def _stale(self, case: _Case) -> bool:
        """Return whether ``case`` was closed or replaced since an event for it was scheduled.

        A re-queued call gets a new case, so the old team's pending events do nothing. Never
        true in auto mode.
        """
        return self._cases.get(case.call.call_id) is not case

    def _held(self, case: _Case, handler: Callable[..., None], *args: Any) -> bool:
        """Defer ``handler`` while the case's team is held by a dispatcher's emergency."""
        team = case.team
        if team is None or not team.held:
            return False
        team.deferred.append((handler, (case, *args)))
        return True

    # -- units -----------------------------------------------------------------------------------

    def _set_status(self, team: _Team, to: str, *, call_id: str | None = None) -> None:
        before = team.state
        after = before.transition(to, self.now, call_id=call_id, tables=self.tables)
        if after is before:
            return
        team.state = after
        self.sink.unit_status(team.unit.unit_id, before.status, after.status, self.now,
                              after.call_id)
        for event in self.safety_monitor.observe(team.unit, before, after, tables=self.tables):
            self.sink.safety(event)

    def _safety(self, event: SafetyEvent) -> None:
        self.safety_monitor.apply(event)
        self.sink.safety(event)

    def _park(self, team: _Team, node: int) -> None:
        """Stop the unit at ``node`` (the end of a drive)."""
        team.leg = None
        team.node = node
        point = self._roads.point(node)
        team.state = team.state.move(point, self.now)
        if self._live and team.program.in_person:
            self._fix(team, point, self._t, 0.0, None)

    # -- Care Navigation -------------------------------------------------------------------------

    def _open_follow_up(self, call: Call, case: _Case) -> None:
        luck = case.draw.luck
        needs = [code for (code, p), u in zip(self.profile.care.needs, luck.u_care_needs,
                                               strict=True) if u < p]
        if not needs and self.profile.care.needs:
            needs = [self.profile.care.needs[0][0]]  # a referral always names a need
        task = follow_up_for(call, needs=needs, tables=self.tables)
        if task is None:
            return
        self._tasks[task.task_id] = task
        self.sink.follow_up(task)
        days = self.profile.care.first_contact_days.at(luck.z_first_contact)
        contact = self._next_open(CARE_PROGRAM, self._t + days * 86400.0)
        self._schedule(contact, self._on_first_contact, task.task_id, case)

    def _on_first_contact(self, task_id: str, case: _Case) -> None:
        task = self._tasks[task_id].record_attempt(self.now)
        self._tasks[task_id] = task
        self.sink.follow_up(task)
        luck = case.draw.luck
        days = self.profile.care.outcome_days.at(luck.z_outcome)
        done = self._next_open(CARE_PROGRAM, self._t + days * 86400.0)
        connected = luck.u_follow_up_connected < self.profile.care.connected_share
        self._schedule(done, self._on_follow_up_outcome, task_id, connected)

    def _on_follow_up_outcome(self, task_id: str, connected: bool) -> None:
        task = self._tasks.pop(task_id).complete(
            self.now, connected=connected,
            note="connected to care" if connected else "not connected to care")
        self.sink.follow_up(task)

    def _next_open(self, program: str, t: float) -> float:
        """``t`` if the program is open then, else its next opening (quarter-hour steps)."""
        spec = self.tables.programs.get(program)
        if spec is None:
            return t
        at = self._at(t)
        for _ in range(_OPEN_SEARCH_LIMIT):
            if is_open(spec, at):
                return (at - self.start).total_seconds()
            at += _OPEN_SEARCH_STEP
        return t

    # -- AVL -------------------------------------------------------------------------------------

    def _emit_fixes(self, t: float) -> None:
        for team in self._drivers:
            leg = team.leg
            if leg is not None and leg.active(t):
                sample = leg.sample(t)
                self._fix(team, sample.point, t, sample.speed_mps, sample.heading_deg)
            elif t >= team.next_idle_fix:
                self._fix(team, self._roads.point(team.node), t, 0.0, None)

    def _fix(self, team: _Team, point: GeoPoint, t: float, speed: float,
             heading: float | None) -> None:
        at = self._at(t)
        team.state = team.state.move(point, at)
        team.next_idle_fix = t + self.profile.avl_idle_s
        self.sink.fix(AvlFix(team.unit.unit_id, point, at, speed, heading,
                             self.profile.avl_source))


class SimulationClock:
    """The simulator's current instant as a :class:`~heartops.core.clock.Clock`."""

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator

    def now(self) -> datetime:
        """Return the current simulated instant (aware UTC)."""
        return self._simulator.now


def _queue_key(case: _Case) -> tuple[int, datetime, str]:
    return (case.call.priority.rank, case.call.received_at, case.call.call_id)
