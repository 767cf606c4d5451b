"""Where and when calls arrive, and what they are.

Arrivals are a non-homogeneous Poisson process per call stream, piecewise constant over local
hours: the intensity of stream ``s`` in the local hour ``(weekday d, hour h)`` is

    lambda_s / HOURS_PER_YEAR * w[d, h],     w = hour_of_day x day_of_week, weekly mean 1,

so the yearly count of stream ``s`` is ``lambda_s``. The simulator asks for one hour at a time
(:meth:`ArrivalProcess.between`), which keeps live mode cheap and a year's history exact.

The yearly rates ``lambda`` are *solved*, not copied: the published volumes are calls each
program served, and a stream also loses calls (outside hours, Priority P, outside the service
area) and leaks into other programs (dispatch fallbacks, CCD handoffs). :func:`solve_stream_rates`
works out, slot by slot over a reference week, which program would serve each kind of call with
unlimited teams, and solves the small linear system that makes the expected served volumes equal
the published ones. Calls lost because every team is busy are left to the roster.

Locations are road nodes drawn with weights (:class:`SpatialDemand`): road class, a downtown
kernel and a few hotspots, all fixed for a given network and profile.

Every call carries its own random numbers (:class:`Luck`), drawn when it arrives, so what
happens on scene does not depend on which team went: two runs with different rosters see the
same calls with the same fates (common random numbers, which keeps what-if comparisons sharp).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from heartops.core.calls import new_call
from heartops.core.codes import CodeTables, Priority, ScreenReason
from heartops.core.eligibility import screen
from heartops.core.geo import GeoPoint
from heartops.core.programs import is_open
from heartops.core.units import Unit, on_shift
from heartops.feeds.sim.profile import Destination, SimProfile, Space, Stream
from heartops.routing.network import RoadNetwork
from heartops.routing.roads import RoadClass

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

HOURS_PER_YEAR = 365.25 * 24.0
SLOTS_PER_HOUR = 4
"""The rate solve judges program hours per quarter hour (programs open at 09:15, 23:45)."""
REFERENCE_MONDAY = date(2025, 1, 6)
"""A week without a daylight-saving change, for the rate solve's slots."""
DENSEST_CELL_M = 1000.0
"""Grid cell in which the densest cluster of road nodes marks downtown."""
_IGNORED_BY_SOLVE = {ScreenReason.OUTSIDE_PROGRAM_HOURS, ScreenReason.OUTSIDE_SERVICE_AREA}


# -- per-call random numbers -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Luck:
    """A call's own random numbers: standard normals (``z_*``) and uniforms (``u_*``).

    Each is used for one decision, named by the attribute; see the simulator for how.
    """

    z_triage: float
    z_turnout: float
    z_traffic: float
    z_pickup: float
    z_on_scene: float
    z_handover: float
    z_first_contact: float
    z_outcome: float
    z_emergency: float
    u_phone: float
    u_handoff: float
    u_transport: float
    u_destination: float
    u_pd_backup: float
    u_ems: float
    u_emergency: float
    u_incident: float
    u_referral: float
    u_connected: float
    u_follow_up_connected: float
    u_care_needs: tuple[float, ...]


_LUCK_FIELDS = tuple(name for name in Luck.__dataclass_fields__ if name != "u_care_needs")
_NORMALS = sum(name.startswith("z_") for name in _LUCK_FIELDS)
_UNIFORMS = len(_LUCK_FIELDS) - _NORMALS


def draw_luck(rng: np.random.Generator, care_needs: int) -> Luck:
    """Draw a call's random numbers (always the same count, so streams stay aligned)."""
    z = rng.standard_normal(_NORMALS).tolist()
    u = rng.random(_UNIFORMS + care_needs).tolist()
    values = dict(zip(_LUCK_FIELDS, z + u[:_UNIFORMS], strict=True))
    return Luck(**values, u_care_needs=tuple(u[_UNIFORMS:]))


@dataclass(frozen=True, slots=True)
class CallDraw:
    """A call as the arrival process drew it (before it has an id).

    Attributes
    ----------
    at
        Arrival, in simulated seconds since the simulation start.
    stream
        The stream (program code) whose routing the call follows.
    node
        The road node where help is needed.
    call_type
        Code from ``call_types.csv``.
    priority_p
        Upgraded to Priority P (otherwise the type's default priority).
    flags, needs
        Call flags and required capabilities.
    luck
        The call's own random numbers.
    parent_call_id
        The phone call this one was handed off from, if any.
    """

    at: float
    stream: str
    node: int
    call_type: str
    priority_p: bool
    flags: frozenset[str]
    needs: frozenset[str]
    luck: Luck
    parent_call_id: str | None = None


# -- demand over time --------------------------------------------------------------------------


def weekly_intensity(profile: SimProfile) -> FloatArray:
    """Return the relative intensity by (local weekday, hour), shape (7, 24), mean 1."""
    grid = np.outer(np.asarray(profile.day_of_week), np.asarray(profile.hour_of_day))
    return np.asarray(grid / grid.mean(), dtype=np.float64)


@dataclass(frozen=True)
class StreamRates:
    """The solved stream rates and what they imply.

    Attributes
    ----------
    programs
        The programs, in profile order (rows and columns of ``served``).
    per_year
        Calls per year generated by each stream.
    served
        ``served[s, p]``: share of stream ``s``'s calls that program ``p`` would serve with
        unlimited teams.
    """

    programs: tuple[str, ...]
    per_year: Mapping[str, float]
    served: FloatArray

    @property
    def total_per_year(self) -> float:
        """All calls generated per year (served or not)."""
        return float(sum(self.per_year.values()))

    def expected_served(self) -> dict[str, float]:
        """Return the calls per year each program would serve with unlimited teams."""
        rates = np.array([self.per_year[p] for p in self.programs])
        return dict(zip(self.programs, (rates @ self.served).tolist(), strict=True))


def solve_stream_rates(profile: SimProfile, tables: CodeTables, *,
                       units: Sequence[Unit] | None = None,
                       inside_share: float = 1.0) -> StreamRates:
    """Solve the yearly stream rates that make each program serve its published volume.

    Parameters
    ----------
    profile
        The simulator profile (targets, streams, intensity).
    tables
        Code tables (eligibility rules and program hours).
    units
        The roster: a program counts as able to serve only while one of its units is on
        shift. ``None`` treats every program as staffed while open.
    inside_share
        Share of demand inside the service area (the rest is never served).

    Raises
    ------
    ValueError
        When no non-negative rates reach the published volumes (a program no stream can
        reach, say).
    """
    programs = tuple(profile.published)
    instants = _reference_slots(tables.timezone)
    weights = np.repeat(weekly_intensity(profile).ravel(), SLOTS_PER_HOUR)
    weights /= weights.sum()
    staffed = {p: _staffed(p, instants, tables, units) for p in programs}
    served = np.zeros((len(programs), len(programs)))
    for row, code in enumerate(programs):
        served[row] = _stream_outcomes(profile, profile.streams[code], programs, staffed,
                                       weights, tables) * inside_share
    target = np.array([profile.published[p].calls for p in programs], dtype=float)
    try:
        rates = np.linalg.solve(served.T, target)
    except np.linalg.LinAlgError:
        raise ValueError("the streams cannot reach the published volumes: some program is "
                         "served by no stream in any open hour") from None
    if not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError(f"the streams cannot reach the published volumes (solved rates "
                         f"{np.round(rates, 1).tolist()}); check the streams' dispatch order")
    return StreamRates(programs, dict(zip(programs, rates.tolist(), strict=True)), served)


def _reference_slots(zone: ZoneInfo) -> list[datetime]:
    """Mid-points of every quarter hour of the reference week, as aware instants."""
    step = timedelta(minutes=60 / SLOTS_PER_HOUR)
    first = datetime.combine(REFERENCE_MONDAY, time(0, 0), tzinfo=zone) + step / 2
    return [first + step * i for i in range(7 * 24 * SLOTS_PER_HOUR)]


def _staffed(program: str, instants: Sequence[datetime], tables: CodeTables,
             units: Sequence[Unit] | None) -> BoolArray:
    spec = tables.program(program)
    crew = None if units is None else [u for u in units if u.program == program]
    return np.array([is_open(spec, at) and (crew is None or any(
        on_shift(u, at, tables.timezone) for u in crew)) for at in instants], dtype=bool)


def _stream_outcomes(profile: SimProfile, stream: Stream, programs: tuple[str, ...],
                     staffed: Mapping[str, BoolArray], weights: FloatArray,
                     tables: CodeTables) -> FloatArray:
    """Share of the stream's calls each program serves, with unlimited teams."""
    out = np.zeros(len(programs))
    for call_type, type_share in stream.call_types:
        for flags, flag_share in _flag_combinations(stream, tables):
            for upgraded, p_share in ((True, stream.priority_p), (False, 1 - stream.priority_p)):
                share = type_share * flag_share * p_share
                if share <= 0:
                    continue
                allowed = _admissible(call_type, flags, upgraded, tables)
                first = _first_program(stream.dispatch, allowed, staffed)
                for index, program in enumerate(programs):
                    mass = share * weights[first == program].sum() if program in allowed else 0.0
                    out[index] += mass
                    response = profile.responses[program]
                    if mass and response.handoff > 0:
                        handed = _admissible(
                            handoff_type(profile, program, call_type, tables), flags, upgraded,
                            tables)
                        out += _handoff_outcomes(profile, response.handoff_stream, handed,
                                                 staffed, weights, first == program, programs,
                                                 share * response.handoff,
                                                 _handoff_delay_slots(profile, program))
    return out


def handoff_type(profile: SimProfile, program: str, call_type: str, tables: CodeTables) -> str:
    """Return the type of the in-person call a ``program`` phone call of ``call_type`` becomes."""
    response = profile.responses[program]
    takers = set(profile.streams[response.handoff_stream].dispatch)
    return call_type if tables.call_type(call_type).programs & takers \
        else response.handoff_call_type


def _handoff_outcomes(profile: SimProfile, stream_code: str, allowed: frozenset[str],
                      staffed: Mapping[str, BoolArray], weights: FloatArray, origin: BoolArray,
                      programs: tuple[str, ...], share: float, delay: int) -> FloatArray:
    """Where handed-off calls go: the handoff stream's routing, ``delay`` slots later."""
    stream = profile.streams[stream_code]
    later = {p: np.roll(mask, -delay) for p, mask in staffed.items()}
    first = _first_program(stream.dispatch, allowed, later)
    return np.array([share * weights[origin & (first == p)].sum() for p in programs])


def _handoff_delay_slots(profile: SimProfile, program: str) -> int:
    response = profile.responses[program]
    minutes = response.on_scene.mean + (response.pickup.mean if response.pickup else 0.0)
    return round(minutes / (60 / SLOTS_PER_HOUR))


def _first_program(dispatch: tuple[str, ...], allowed: frozenset[str],
                   staffed: Mapping[str, BoolArray]) -> npt.NDArray[np.object_]:
    """Per slot, the first program in ``dispatch`` that may take the call and is staffed."""
    size = len(next(iter(staffed.values())))
    first = np.full(size, None, dtype=object)
    for program in dispatch:
        if program in allowed and program in staffed:
            first[(first == None) & staffed[program]] = program  # noqa: E711 (elementwise)
    return first


def _flag_combinations(stream: Stream,
                       tables: CodeTables) -> list[tuple[frozenset[str], float]]:
    """Every combination of the stream's program-excluding flags, with its probability."""
    relevant = [(code, p) for code, p in stream.flags if tables.flag(code).excludes]
    combos = []
    for raised in itertools.product((False, True), repeat=len(relevant)):
        probability = math.prod(p if up else 1 - p for (_, p), up in zip(relevant, raised,
                                                                          strict=True))
        flags = frozenset(code for (code, _), up in zip(relevant, raised, strict=True) if up)
        combos.append((flags, probability))
    return combos


def _admissible(call_type: str, flags: frozenset[str], upgraded: bool,
                tables: CodeTables) -> frozenset[str]:
    """Programs that may take such a call at some hour, anywhere in the service area."""
    at = datetime.combine(REFERENCE_MONDAY, time(12, 0), tzinfo=tables.timezone)
    call = new_call("rate-solve", call_type=call_type, location=GeoPoint(0.0, 0.0),
                    received_at=at, priority=Priority.P if upgraded else None, flags=flags,
                    tables=tables)
    result = screen(call, at, tables=tables)
    return frozenset(s.program for s in result.screens
                     if not set(s.reasons) - _IGNORED_BY_SOLVE)


class ArrivalProcess:
    """Draws the calls of every stream, one local hour (or part of one) at a time.

    Parameters
    ----------
    profile
        The simulator profile.
    rates
        Solved stream rates.
    space
        Where calls happen.
    zone
        The city's time zone (local hours and weekdays).
    rng
        The demand random stream (arrivals and call attributes only).
    care_needs
        Number of care needs (the length of :attr:`Luck.u_care_needs`).
    """

    def __init__(self, profile: SimProfile, rates: StreamRates, space: SpatialDemand,
                 zone: ZoneInfo, rng: np.random.Generator, *, care_needs: int) -> None:
        self._profile = profile
        self._per_hour = {code: rate / HOURS_PER_YEAR for code, rate in rates.per_year.items()}
        self._intensity = weekly_intensity(profile)
        self._space = space
        self._zone = zone
        self._rng = rng
        self._care_needs = care_needs
        self._type_cdf = {code: (tuple(t for t, _ in s.call_types),
                                 np.cumsum([share for _, share in s.call_types]))
                          for code, s in profile.streams.items()}

    def between(self, begin: datetime, t0: float, t1: float) -> list[CallDraw]:
        """Return the calls arriving in ``[t0, t1)`` simulated seconds, in time order.

        ``begin`` is the aware instant of ``t0``; the span must lie within one local hour.
        """
        local = begin.astimezone(self._zone)
        weight = float(self._intensity[local.weekday(), local.hour])
        hours = (t1 - t0) / 3600.0
        draws: list[CallDraw] = []
        for code, stream in self._profile.streams.items():
            count = int(self._rng.poisson(self._per_hour[code] * weight * hours))
            times = np.sort(t0 + self._rng.random(count) * (t1 - t0))
            draws += [self._call(stream, float(at)) for at in times]
        draws.sort(key=lambda d: d.at)
        return draws

    def handoff(self, parent: CallDraw, parent_call_id: str, *, stream: str, call_type: str,
                at: float, rng: np.random.Generator) -> CallDraw:
        """Return the in-person call a phone call is handed off to (same person and place)."""
        return CallDraw(at=at, stream=stream, node=parent.node, call_type=call_type,
                        priority_p=parent.priority_p, flags=parent.flags, needs=parent.needs,
                        luck=draw_luck(rng, self._care_needs), parent_call_id=parent_call_id)

    def _call(self, stream: Stream, at: float) -> CallDraw:
        rng = self._rng
        codes, cdf = self._type_cdf[stream.program]
        u = rng.random(3 + len(stream.flags) + len(stream.needs)).tolist()
        index = min(int(np.searchsorted(cdf, u[0] * cdf[-1], side="right")), len(codes) - 1)
        flag_u = u[3:3 + len(stream.flags)]
        need_u = u[3 + len(stream.flags):]
        return CallDraw(
            at=at, stream=stream.program, node=self._space.node_at(u[1]),
            call_type=codes[index], priority_p=u[2] < stream.priority_p,
            flags=frozenset(code for (code, p), x in zip(stream.flags, flag_u, strict=True)
                            if x < p),
            needs=frozenset(code for (code, p), x in zip(stream.needs, need_u, strict=True)
                            if x < p),
            luck=draw_luck(rng, self._care_needs))


# -- demand over space -----------------------------------------------------------------------


class SpatialDemand:
    """Road nodes weighted by how likely a call is there.

    Parameters
    ----------
    network
        The road network.
    space
        The profile's spatial model.
    inside
        Per node, whether it is inside the service area (``None``: all of them).

    Attributes
    ----------
    weights
        Relative weight of every node.
    center
        The downtown node.
    hotspots
        The hotspot nodes.
    inside_share
        Share of the demand inside the service area.
    """

    def __init__(self, network: RoadNetwork, space: Space, *,
                 inside: BoolArray | None = None) -> None:
        class_weight, busy_road = _road_weights(network, space)
        x, y = network.node_x, network.node_y
        self.center = _center(network, space)
        base = class_weight * (1.0 + space.downtown_boost * _kernel(
            x, y, x[self.center], y[self.center], space.downtown_radius_m))
        self.hotspots = _hotspots(base, busy_road, space)
        boost = np.ones_like(base)
        for node in self.hotspots.tolist():
            boost += space.hotspot_boost * _kernel(x, y, x[node], y[node], space.hotspot_radius_m)
        weights = base * boost
        if inside is not None:
            weights = np.where(inside, weights, weights * space.outside_service_area_weight)
        if not weights.sum() > 0:
            raise ValueError("no road node can hold a call (all weights are zero)")
        self.weights: FloatArray = weights
        self.inside_share = 1.0 if inside is None else float(weights[inside].sum() /
                                                             weights.sum())
        self._cdf = np.cumsum(weights)

    def node_at(self, u: float) -> int:
        """Return the node at quantile ``u`` in [0, 1) of the weight distribution."""
        index = int(np.searchsorted(self._cdf, u * self._cdf[-1], side="right"))
        return min(index, self._cdf.size - 1)


def _road_weights(network: RoadNetwork, space: Space) -> tuple[FloatArray, BoolArray]:
    """Per node, the highest class weight among its roads, and whether it is on a busy road."""
    by_class = np.asarray(space.road_class_weight)[network.fwd_class.astype(np.int64)]
    weights = np.zeros(network.node_count)
    np.maximum.at(weights, network.edge_tail, by_class)
    np.maximum.at(weights, network.fwd_indices, by_class)
    busy_edge = np.isin(network.fwd_class, (RoadClass.ARTERIAL, RoadClass.COLLECTOR))
    busy = np.zeros(network.node_count, dtype=bool)
    busy[network.edge_tail[busy_edge]] = True
    busy[network.fwd_indices[busy_edge]] = True
    return weights, busy


def _center(network: RoadNetwork, space: Space) -> int:
    """Return the downtown node: the profile's, else the middle of the densest node cell."""
    if space.downtown_center is not None:
        lat, lon = space.downtown_center
        return _nearest_node(network, lat, lon)
    x, y = network.node_x, network.node_y
    ix = np.floor((x - x.min()) / DENSEST_CELL_M).astype(np.int64)
    iy = np.floor((y - y.min()) / DENSEST_CELL_M).astype(np.int64)
    cell = ix * (int(iy.max()) + 1) + iy
    densest = int(np.argmax(np.bincount(cell)))
    members = np.flatnonzero(cell == densest)
    cx, cy = x[members].mean(), y[members].mean()
    return int(members[np.argmin((x[members] - cx) ** 2 + (y[members] - cy) ** 2)])


def _hotspots(base: FloatArray, busy: BoolArray, space: Space) -> IntArray:
    candidates = np.flatnonzero(busy & (base > 0))
    count = min(space.hotspots, candidates.size)
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(space.hotspot_seed)
    p = base[candidates] / base[candidates].sum()
    return np.sort(rng.choice(candidates, size=count, replace=False, p=p)).astype(np.int64)


def _kernel(x: FloatArray, y: FloatArray, cx: float, cy: float, radius: float) -> FloatArray:
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2.0 * radius * radius))


def _nearest_node(network: RoadNetwork, lat: float, lon: float) -> int:
    scale = math.cos(math.radians(lat))
    d2 = (network.node_lat - lat) ** 2 + ((network.node_lon - lon) * scale) ** 2
    return int(np.argmin(d2))


def place_destinations(network: RoadNetwork, destinations: Sequence[Destination], seed: int, *,
                       inside: BoolArray | None = None) -> IntArray:
    """Return the road node of every transport destination.

    A destination with coordinates goes to its nearest node; one without goes to an arterial
    node inside the service area picked with ``seed`` (the same on every run).
    """
    arterial = np.zeros(network.node_count, dtype=bool)
    edges = network.fwd_class == RoadClass.ARTERIAL
    arterial[network.edge_tail[edges]] = True
    if inside is not None:
        arterial &= inside
    candidates = np.flatnonzero(arterial)
    if candidates.size == 0:
        candidates = np.arange(network.node_count)
    rng = np.random.default_rng(seed)
    picks = rng.choice(candidates, size=len(destinations), replace=len(destinations) >
                       candidates.size)
    return np.array([
        _nearest_node(network, d.lat, d.lon) if d.lat is not None and d.lon is not None
        else int(pick) for d, pick in zip(destinations, picks.tolist(), strict=True)],
        dtype=np.int64)
