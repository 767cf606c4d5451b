"""The simulator profile: published targets and modelling assumptions, read from TOML.

Everything the simulator needs that is not the road network or the roster lives in
``heartops/resources/tables/sim_profile.toml`` (read by :func:`load_profile`): the department's
published figures (the calibration targets), the hour-of-day and weekday shape of demand, the
call streams (call-type mix, flags, how the 911 center routes them), response-time spreads,
rates, Care Navigation timings, the default roster and the AVL intervals. The file documents
the source of every figure and marks what is an assumption.

Loading checks every code against the code tables (programs, call types, flags, capabilities,
dispositions, care needs), so a typo fails when the profile is read, naming the key.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from heartops.core.clock import parse_wall_time
from heartops.core.codes import CodeTables, default_tables
from heartops.core.errors import TableError, UnknownCodeError

PROFILE_FILE = "sim_profile.toml"
SCHEMA = 1
ROAD_CLASS_KEYS = ("freeway", "ramp", "arterial", "collector", "local")
"""Keys of ``road_class_weight``, in :class:`heartops.routing.roads.RoadClass` order."""


@dataclass(frozen=True, slots=True)
class Lognormal:
    """A positive, right-skewed duration given by its mean and coefficient of variation.

    Attributes
    ----------
    mean
        Mean (in the unit of the key it came from, usually minutes).
    cv
        Standard deviation / mean; 0 gives the mean every time.
    """

    mean: float
    cv: float

    def __post_init__(self) -> None:
        if not (self.mean > 0 and math.isfinite(self.mean)) or not self.cv >= 0:
            raise ValueError(f"lognormal needs mean > 0 and cv >= 0, got {self.mean}, {self.cv}")

    @property
    def sigma(self) -> float:
        """Standard deviation of the underlying normal."""
        return math.sqrt(math.log1p(self.cv * self.cv))

    def at(self, z: float) -> float:
        """Return the value at standard-normal draw ``z`` (so draws can be made in advance)."""
        sigma = self.sigma
        return self.mean * math.exp(sigma * z - sigma * sigma / 2.0)

    def scaled(self, factor: float) -> Lognormal:
        """Return the same shape with the mean multiplied by ``factor``."""
        return Lognormal(self.mean * factor, self.cv)


@dataclass(frozen=True, slots=True)
class Published:
    """One program's row of the department's published metrics table.

    Percentages are kept as published (6.52 means 6.52%).
    """

    calls: int
    to_scene_minutes: float
    on_scene_minutes: float
    total_minutes: float
    transport_pct: float
    pd_backup_pct: float
    ems_pct: float
    phone_resolution_pct: float | None = None


@dataclass(frozen=True, slots=True)
class Stream:
    """The calls the 911 center's triage routes to one program.

    Attributes
    ----------
    program
        The program the stream is named after (whose published volume it targets).
    dispatch
        Programs tried in order when looking for a team.
    call_types
        ``(code, share)`` pairs, shares summing to 1.
    flags, needs
        ``(code, probability)`` of each flag / required capability, drawn independently.
    priority_p
        Share of calls upgraded to Priority P.
    max_wait_s
        Seconds a call waits for a team before it goes to police/EMS.
    """

    program: str
    dispatch: tuple[str, ...]
    call_types: tuple[tuple[str, float], ...]
    flags: tuple[tuple[str, float], ...]
    needs: tuple[tuple[str, float], ...]
    priority_p: float
    max_wait_s: float


@dataclass(frozen=True, slots=True)
class Response:
    """How one program's teams work a call.

    Attributes
    ----------
    program
        Program code.
    in_person
        Whether teams drive to the scene (from ``programs.toml``).
    turnout
        Dispatched -> en route, minutes (in-person programs).
    pickup
        Dispatched -> on the line, minutes (phone programs).
    on_scene
        Arrived -> cleared, minutes.
    handover
        Time at a transport destination, minutes (in-person programs).
    check_in
        Interval between on-scene check-ins, minutes (``None``: no check-ins).
    transport, pd_backup, ems, referral, connected
        Shares of calls closed with each outcome.
    phone_resolution
        Share resolved by phone (phone programs).
    handoff
        Share handed to an in-person team (phone programs).
    handoff_disposition
        Disposition of a handed-off phone call.
    handoff_stream
        The stream whose routing a handed-off call follows.
    handoff_call_type
        Type a handed-off call is reclassified to when the handoff stream's programs do not
        take its own type.
    other_disposition
        Disposition of a phone call neither resolved by phone, transported nor handed off.
    emergency_share_of_pd_backup
        PD backup requests that come with a panic.
    emergency
        How long a panic lasts, minutes (in-person programs).
    min_scene
        Minutes on scene at least before leaving with a transported person.
    """

    program: str
    in_person: bool
    turnout: Lognormal | None
    pickup: Lognormal | None
    on_scene: Lognormal
    handover: Lognormal | None
    check_in: Lognormal | None
    transport: float
    pd_backup: float
    ems: float
    referral: float
    connected: float
    phone_resolution: float
    handoff: float
    handoff_disposition: str
    handoff_stream: str
    handoff_call_type: str
    other_disposition: str
    emergency_share_of_pd_backup: float
    emergency: Lognormal | None
    min_scene: float


@dataclass(frozen=True, slots=True)
class ShiftSpec:
    """A local wall-clock shift staffed by ``units`` teams."""

    start: time
    end: time
    units: int


@dataclass(frozen=True, slots=True)
class RosterSpec:
    """How many teams a program fields, when, where and with what."""

    program: str
    shifts: tuple[ShiftSpec, ...]
    capabilities: frozenset[str]
    extra_capabilities: tuple[frozenset[str], ...]
    posts: tuple[int, ...]
    post_offset: int


@dataclass(frozen=True, slots=True)
class Destination:
    """A place people are transported to (placed on the network if it has no coordinates)."""

    name: str
    weight: float
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Space:
    """The spatial demand model (see ``[demand.space]`` in the profile)."""

    road_class_weight: tuple[float, ...]
    downtown_boost: float
    downtown_radius_m: float
    downtown_center: tuple[float, float] | None
    hotspots: int
    hotspot_seed: int
    hotspot_boost: float
    hotspot_radius_m: float
    outside_service_area_weight: float


@dataclass(frozen=True, slots=True)
class CareNavigation:
    """Care Navigation follow-up timings and outcomes."""

    neighbors_per_year: int
    connected_share: float
    first_contact_days: Lognormal
    outcome_days: Lognormal
    needs: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class SimProfile:
    """Everything the simulator is calibrated with. Build with :func:`load_profile`.

    Attributes
    ----------
    published
        The department's published figures by program.
    hour_of_day, day_of_week
        Relative demand by local hour (24) and weekday (7, Monday first), as written.
    triage
        Received -> triaged, minutes.
    queue_retry_s
        Seconds between retries of the pending queue.
    resolved_disposition, connected_disposition, unserved_disposition
        Dispositions of a call resolved on scene, connected to care on the spot, and not
        served by HEART.
    incident_window
        When backup/EMS requests happen, as shares of the time on scene.
    space
        Spatial demand.
    streams
        Call streams by program, in file order.
    responses
        Response model by program.
    traffic
        Multiplier of free-flow drive times (never below 1).
    destination_seed, destinations
        Transport destinations and the seed placing those without coordinates.
    care
        Care Navigation follow-ups.
    roster
        Default roster by program.
    avl_moving_s, avl_idle_s, avl_source
        Live AVL intervals (simulated seconds) and the fixes' source label.
    source
        Where the profile was read from.
    """

    published: Mapping[str, Published]
    hour_of_day: tuple[float, ...]
    day_of_week: tuple[float, ...]
    triage: Lognormal
    queue_retry_s: float
    resolved_disposition: str
    connected_disposition: str
    unserved_disposition: str
    incident_window: tuple[float, float]
    space: Space
    streams: Mapping[str, Stream]
    responses: Mapping[str, Response]
    traffic: Lognormal
    destination_seed: int
    destinations: tuple[Destination, ...]
    care: CareNavigation
    roster: Mapping[str, RosterSpec]
    avl_moving_s: float
    avl_idle_s: float
    avl_source: str
    source: str = ""


def load_profile(path: Path | str | None = None, *,
                 tables: CodeTables | None = None) -> SimProfile:
    """Read and check a simulator profile.

    Parameters
    ----------
    path
        A profile TOML file; the packaged ``sim_profile.toml`` by default.
    tables
        Code tables to check codes against (the packaged ones by default).

    Raises
    ------
    TableError
        Naming the file and key when the profile is malformed or names an unknown code.
    """
    tables = tables or default_tables()
    if path is None:
        resource = files("heartops") / "resources" / "tables" / PROFILE_FILE
        text, where = resource.read_text(encoding="utf-8"), str(resource)
    else:
        try:
            text, where = Path(path).read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise TableError(f"{path}: cannot read the simulator profile ({exc})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TableError(f"{where}: not valid TOML ({exc})") from None
    try:
        return _profile(doc, tables, where)
    except (KeyError, TypeError, ValueError, UnknownCodeError) as exc:
        detail = f"missing key {exc}" if type(exc) is KeyError else _one_line(exc)
        raise TableError(f"{where}: {detail}") from None


# -- parsing -------------------------------------------------------------------------------------


def _profile(doc: Mapping[str, Any], tables: CodeTables, where: str) -> SimProfile:
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"schema must be {SCHEMA}, got {doc.get('schema')!r}")
    demand = _table(doc, "demand")
    published = {code: _published(code, spec, tables)
                 for code, spec in _table(doc, "published").items()}
    streams = {code: _stream(code, spec, tables) for code, spec in _table(doc, "streams").items()}
    if set(streams) != set(published):
        raise ValueError("streams and published must name the same programs, got "
                         f"{sorted(streams)} and {sorted(published)}")
    responses = {code: _response(code, spec, published.get(code), tables)
                 for code, spec in _table(doc, "response").items()}
    for stream in streams.values():
        for program in stream.dispatch:
            if program not in responses:
                raise ValueError(f"streams.{stream.program}: no [response.{program}]")
    for response in responses.values():
        if response.handoff > 0 and response.handoff_stream not in streams:
            raise ValueError(f"response.{response.program}.handoff_stream must name a stream, "
                             f"got {response.handoff_stream!r}")
        if response.handoff > 0 and not tables.call_type(response.handoff_call_type).programs \
                & set(streams[response.handoff_stream].dispatch):
            raise ValueError(f"response.{response.program}.handoff_call_type "
                             f"{response.handoff_call_type} is taken by no program of "
                             f"streams.{response.handoff_stream}")
    dispositions = _table(doc, "dispositions")
    for role in ("resolved", "connected", "unserved"):
        tables.disposition(str(dispositions[role]))
    window = tuple(float(v) for v in _table(doc, "scene")["incident_window"])
    if len(window) != 2 or not 0.0 <= window[0] <= window[1] <= 1.0:
        raise ValueError(f"scene.incident_window must be [start, end] within [0, 1], got {window}")
    transport = _table(doc, "transport")
    avl = _table(doc, "avl")
    return SimProfile(
        published=published,
        hour_of_day=_weights(demand["hour_of_day"], 24, "demand.hour_of_day"),
        day_of_week=_weights(demand["day_of_week"], 7, "demand.day_of_week"),
        triage=_lognormal(demand["triage"], "demand.triage"),
        queue_retry_s=_positive(demand["queue_retry_seconds"], "demand.queue_retry_seconds"),
        resolved_disposition=str(dispositions["resolved"]),
        connected_disposition=str(dispositions["connected"]),
        unserved_disposition=str(dispositions["unserved"]),
        incident_window=(window[0], window[1]),
        space=_space(_table(demand, "space")),
        streams=streams,
        responses=responses,
        traffic=_lognormal(_table(doc, "traffic")["factor"], "traffic.factor"),
        destination_seed=int(transport["destination_seed"]),
        destinations=tuple(_destination(d) for d in transport["destinations"]),
        care=_care(_table(doc, "care_navigation"), tables),
        roster={code: _roster(code, spec, tables) for code, spec in _table(doc, "roster").items()},
        avl_moving_s=_positive(avl["moving_interval_s"], "avl.moving_interval_s"),
        avl_idle_s=_positive(avl["idle_interval_s"], "avl.idle_interval_s"),
        avl_source=str(avl.get("source", "simulator")),
        source=where,
    )


def _published(code: str, spec: Mapping[str, Any], tables: CodeTables) -> Published:
    tables.program(code)
    phone = spec.get("phone_resolution_pct")
    return Published(
        calls=int(spec["calls"]),
        to_scene_minutes=float(spec["to_scene_minutes"]),
        on_scene_minutes=float(spec["on_scene_minutes"]),
        total_minutes=float(spec["total_minutes"]),
        transport_pct=float(spec["transport_pct"]),
        pd_backup_pct=float(spec["pd_backup_pct"]),
        ems_pct=float(spec["ems_pct"]),
        phone_resolution_pct=None if phone is None else float(phone),
    )


def _stream(code: str, spec: Mapping[str, Any], tables: CodeTables) -> Stream:
    where = f"streams.{code}"
    dispatch = tuple(str(p) for p in spec["dispatch"])
    for program in dispatch:
        if not tables.program(program).dispatchable:
            raise ValueError(f"{where}.dispatch: {program} does not take calls")
    types = _shares(spec["call_types"], f"{where}.call_types", normalise=True)
    for type_code, _ in types:
        if not tables.call_type(type_code).programs & set(dispatch):
            raise ValueError(f"{where}: call type {type_code} is taken by none of {dispatch}")
    flags = _shares(spec.get("flags", {}), f"{where}.flags")
    for flag, _ in flags:
        tables.flag(flag)
    needs = _shares(spec.get("needs", {}), f"{where}.needs")
    for need, _ in needs:
        tables.capability(need)
    return Stream(program=code, dispatch=dispatch, call_types=types, flags=flags, needs=needs,
                  priority_p=_share(spec.get("priority_p", 0.0), f"{where}.priority_p"),
                  max_wait_s=_positive(spec["max_wait"], f"{where}.max_wait") * 60.0)


def _response(code: str, spec: Mapping[str, Any], published: Published | None,
              tables: CodeTables) -> Response:
    where = f"response.{code}"
    program = tables.program(code)
    if published is None:
        raise ValueError(f"{where}: no [published.{code}] figures")
    handoff_disposition = str(spec.get("handoff_disposition", "connected_to_care"))
    other_disposition = str(spec.get("other_disposition", "connected_to_care"))
    for disposition in (handoff_disposition, other_disposition):
        tables.disposition(disposition)
    phone = (published.phone_resolution_pct or 0.0) / 100.0
    check_in = spec.get("check_in")
    return Response(
        program=code,
        in_person=program.in_person,
        turnout=_lognormal(spec["turnout"], f"{where}.turnout") if program.in_person else None,
        pickup=None if program.in_person else Lognormal(
            published.to_scene_minutes, float(spec["pickup_cv"])),
        on_scene=Lognormal(published.on_scene_minutes, float(spec["on_scene_cv"])),
        handover=_lognormal(spec["handover"], f"{where}.handover") if program.in_person else None,
        check_in=None if check_in is None else _lognormal(check_in, f"{where}.check_in"),
        transport=published.transport_pct / 100.0,
        pd_backup=published.pd_backup_pct / 100.0,
        ems=published.ems_pct / 100.0,
        referral=_share(spec.get("referral", 0.0), f"{where}.referral"),
        connected=_share(spec.get("connected", 0.0), f"{where}.connected"),
        phone_resolution=phone,
        handoff=_share(spec.get("handoff", 0.0), f"{where}.handoff"),
        handoff_disposition=handoff_disposition,
        handoff_stream=str(spec.get("handoff_stream", "")),
        handoff_call_type=tables.call_type(str(spec.get("handoff_call_type",
                                                        "mental_health_crisis"))).code,
        other_disposition=other_disposition,
        emergency_share_of_pd_backup=_share(spec.get("emergency_share_of_pd_backup", 0.0),
                                            f"{where}.emergency_share_of_pd_backup"),
        emergency=_lognormal(spec["emergency"], f"{where}.emergency")
        if program.in_person else None,
        min_scene=_positive(spec["min_scene"], f"{where}.min_scene") if program.in_person
        else 0.0,
    )


def _space(spec: Mapping[str, Any]) -> Space:
    weights = spec["road_class_weight"]
    center = spec.get("downtown_center")
    return Space(
        road_class_weight=tuple(float(weights[key]) for key in ROAD_CLASS_KEYS),
        downtown_boost=float(spec["downtown_boost"]),
        downtown_radius_m=_positive(spec["downtown_radius_m"], "downtown_radius_m"),
        downtown_center=None if center is None else (float(center[0]), float(center[1])),
        hotspots=int(spec["hotspots"]),
        hotspot_seed=int(spec["hotspot_seed"]),
        hotspot_boost=float(spec["hotspot_boost"]),
        hotspot_radius_m=_positive(spec["hotspot_radius_m"], "hotspot_radius_m"),
        outside_service_area_weight=_share(spec["outside_service_area_weight"],
                                           "outside_service_area_weight"),
    )


def _destination(spec: Mapping[str, Any]) -> Destination:
    lat, lon = spec.get("lat"), spec.get("lon")
    if (lat is None) != (lon is None):
        raise ValueError(f"destination {spec.get('name')!r}: give both lat and lon or neither")
    return Destination(name=str(spec["name"]), weight=_positive(spec["weight"], "weight"),
                       lat=None if lat is None else float(lat),
                       lon=None if lon is None else float(lon))


def _care(spec: Mapping[str, Any], tables: CodeTables) -> CareNavigation:
    needs = _shares(spec["needs"], "care_navigation.needs")
    for need, _ in needs:
        tables.care_need(need)
    return CareNavigation(
        neighbors_per_year=int(spec["published_neighbors_per_year"]),
        connected_share=float(spec["published_connected_pct"]) / 100.0,
        first_contact_days=Lognormal(float(spec["published_first_follow_up_days"]),
                                     float(spec["first_contact_cv"])),
        outcome_days=_lognormal(spec["outcome"], "care_navigation.outcome"),
        needs=needs,
    )


def _roster(code: str, spec: Mapping[str, Any], tables: CodeTables) -> RosterSpec:
    where = f"roster.{code}"
    tables.program(code)
    capabilities = frozenset(str(c) for c in spec.get("capabilities", []))
    extras = tuple(frozenset(str(c) for c in group)
                   for group in spec.get("extra_capabilities", [[]])) or (frozenset(),)
    for capability in sorted(capabilities.union(*extras)):
        tables.capability(capability)
    shifts = tuple(
        ShiftSpec(parse_wall_time(str(s["start"])), parse_wall_time(str(s["end"])),
                  int(s["units"]))
        for s in spec["shifts"])
    if any(s.units < 0 for s in shifts):
        raise ValueError(f"{where}: a shift has a negative unit count")
    return RosterSpec(program=code, shifts=shifts, capabilities=capabilities,
                      extra_capabilities=extras,
                      posts=tuple(int(p) for p in spec.get("posts", [])),
                      post_offset=int(spec.get("post_offset", 0)))


# -- small checks --------------------------------------------------------------------------------


def _table(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc[key]
    if not isinstance(value, Mapping):
        raise TypeError(f"{key} must be a table")
    return value


def _lognormal(spec: Any, where: str) -> Lognormal:
    if not isinstance(spec, Mapping):
        raise TypeError(f"{where} must be {{ mean = ..., cv = ... }}")
    try:
        return Lognormal(float(spec["mean"]), float(spec["cv"]))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _weights(values: Any, count: int, where: str) -> tuple[float, ...]:
    weights = tuple(float(v) for v in values)
    if len(weights) != count or any(not (w >= 0 and math.isfinite(w)) for w in weights) \
            or not sum(weights) > 0:
        raise ValueError(f"{where} must be {count} non-negative numbers, not all zero")
    return weights


def _shares(spec: Any, where: str, *, normalise: bool = False) -> tuple[tuple[str, float], ...]:
    if not isinstance(spec, Mapping):
        raise TypeError(f"{where} must be a table of code = share")
    pairs = tuple((str(code), _share(value, f"{where}.{code}")) for code, value in spec.items())
    if normalise:
        total = sum(share for _, share in pairs)
        if not total > 0:
            raise ValueError(f"{where}: the shares are all zero")
        pairs = tuple((code, share / total) for code, share in pairs)
    return pairs


def _share(value: Any, where: str) -> float:
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{where} must be between 0 and 1, got {value!r}")
    return share


def _positive(value: Any, where: str) -> float:
    number = float(value)
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{where} must be a positive number, got {value!r}")
    return number


def _one_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
