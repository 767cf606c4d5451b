"""The shift simulator in manual dispatch mode: calls wait for the dispatcher's decisions."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import shapely

from heartops.core.codes import CallStep, default_tables
from heartops.core.eligibility import LedgerOutcome, screen
from heartops.core.errors import AssignmentRefused, InvalidTransition, NotFound
from heartops.core.geo import haversine_m
from heartops.core.recommend import recommend
from heartops.core.safety import SafetyEventKind
from heartops.feeds.simulator import (
    HistoryCollector,
    Roster,
    SimProfile,
    Simulator,
    default_roster,
    load_profile,
)
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import load_network
from heartops.routing.posts import load_posts
from heartops.routing.zones import ZoneIndex

TABLES = default_tables()
START = datetime(2025, 6, 4, 14, 0, tzinfo=UTC)  # Wednesday 10:00 in Durham: all open
SEED = 7  # three calls in the first half hour, one a welfare check (CRT only)
TICK = timedelta(seconds=15)  # a 250 ms timer at 60x


@dataclass(frozen=True)
class City:
    engine: TravelTimeEngine
    roster: Roster
    profile: SimProfile
    beats: ZoneIndex
    area: ZoneIndex


@pytest.fixture(scope="module")
def city(demo_city_dirs: tuple[Path, Path]) -> Iterator[City]:
    cache, data = demo_city_dirs
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTOPS_CACHE_DIR", str(cache))
        patch.setenv("HEARTOPS_DATA_DIR", str(data))
        profile = load_profile()
        yield City(TravelTimeEngine(load_network("demo")),
                   default_roster(load_posts("demo"), profile), profile,
                   ZoneIndex.from_layer("demo-beats"), ZoneIndex.from_layer("demo-service-area"))


def simulator(city: City, seed: int = SEED,
              **options: object) -> tuple[Simulator, HistoryCollector]:
    sink = HistoryCollector()
    sim = Simulator(city.engine, city.roster, city.profile, seed, START, sink=sink,
                    zones=city.beats, service_area=city.area,
                    **{"dispatch": "manual", **options})  # type: ignore[arg-type]
    return sim, sink


def live(sim: Simulator, span: timedelta) -> None:
    end = sim.now + span
    while sim.now < end:
        sim.step(TICK)


def live_until(sim: Simulator, done: object, limit: timedelta = timedelta(hours=4)) -> None:
    end = sim.now + limit
    while not done() and sim.now < end:  # type: ignore[operator]
        sim.step(TICK)
    assert done(), f"not done by {sim.now}"  # type: ignore[operator]


def top_unit(city: City, sim: Simulator, call_id: str) -> str:
    """The recommended in-person unit for the call, as the board would rank it."""
    call = sim.call(call_id)
    assert call is not None
    units = [(unit, sim.unit_state(unit.unit_id)) for unit in city.roster.units]
    where = {u.unit_id: s.position for u, s in units if s.position is not None
             and s.status == "available" and TABLES.program(u.program).in_person}
    ranking = recommend(call, screen(call, sim.now), units,
                        city.engine.etas_to(call.location, where), sim.now)
    return next(r.unit_id for r in ranking.ranked if r.eta is not None)


def statuses(sink: HistoryCollector, unit_id: str, since: datetime) -> list[str]:
    return [c.after for c in sink.statuses if c.unit_id == unit_id and c.at >= since]


@pytest.fixture
def waiting(city: City) -> tuple[Simulator, HistoryCollector, str]:
    """Half an hour of a manual shift, and the welfare check that is waiting."""
    sim, sink = simulator(city)
    live(sim, timedelta(minutes=30))
    call_id = next(c.call_id for c in sim.pending_calls() if c.call_type == "welfare_check")
    return sim, sink, call_id


def closed_ids(sink: HistoryCollector) -> set[str]:
    return {c.call_id for c in sink.closed}


# -- calls wait, and an assigned team works them ------------------------------------------------


def test_calls_queue_until_the_dispatcher_assigns(
        waiting: tuple[Simulator, HistoryCollector, str]) -> None:
    sim, sink, _ = waiting
    pending = sim.pending_calls()
    assert len(pending) == 3 and not sink.assignments
    assert not any(c.after == "dispatched" for c in sink.statuses)
    assert all(c.time_of(CallStep.TRIAGED) is not None and not c.unit_ids for c in pending)
    ranks = [(c.priority.rank, c.received_at) for c in pending]
    assert ranks == sorted(ranks)
    assert all(e.outcome is not LedgerOutcome.SERVED for e in sink.ledger_entries)
    live(sim, timedelta(hours=2))  # no time limit in manual mode: nobody takes them away
    assert {c.call_id for c in pending} <= {c.call_id for c in sim.pending_calls()}


def test_an_assigned_unit_drives_its_road_route_works_the_scene_and_goes_home(
        city: City, waiting: tuple[Simulator, HistoryCollector, str]) -> None:
    sim, sink, call_id = waiting
    unit_id = top_unit(city, sim, call_id)
    origin = sim.unit_state(unit_id).position
    assert origin is not None
    call = sim.call(call_id)
    assert call is not None
    assigned_at = sim.now
    assignment = sim.assign(unit_id, call_id)
    assert sink.assignments == [assignment] and assignment.unit_id == unit_id
    assert call_id not in {c.call_id for c in sim.pending_calls()}
    assert sim.unit_state(unit_id).status == "dispatched"
    assert [e.outcome for e in sink.ledger_entries if e.call_id == call_id] == \
        [LedgerOutcome.SERVED]

    live_until(sim, lambda: call_id in closed_ids(sink))
    seen = statuses(sink, unit_id, assigned_at)
    assert seen[:3] == ["dispatched", "en_route", "on_scene"] and seen[-1] == "available"
    closed = next(c for c in sink.closed if c.call_id == call_id)
    assert closed.unit_ids == (unit_id,) and closed.to_scene is not None

    # The drive: fixes every simulated second, each a little further along the road route.
    en_route = next(c.at for c in sink.statuses if c.unit_id == unit_id and c.after == "en_route")
    arrived = next(c.at for c in sink.statuses if c.unit_id == unit_id and c.after == "on_scene")
    drive = [f for f in sink.fixes if f.unit_id == unit_id and en_route <= f.time <= arrived]
    assert len(drive) > 30
    route = city.engine.route(origin, call.location)
    line = shapely.LineString(list(zip(route.lon, route.lat, strict=True)))
    for a, b in itertools.pairwise(drive):
        assert 0 < (b.time - a.time).total_seconds() <= 1.0 + 1e-6  # the last is the arrival
        assert a.position != b.position
    offsets = [line.distance(shapely.Point(f.position.lon, f.position.lat)) for f in drive]
    assert max(offsets) < 3e-5  # about 3 m: on the route
    scene = city.engine.snap(call.location).node
    network = city.engine.network
    last = drive[-1].position
    assert (float(network.node_lat[scene]), float(network.node_lon[scene])) == \
        pytest.approx((last.lat, last.lon))

    home = city.roster.home(next(u for u in city.roster.units if u.unit_id == unit_id))
    live_until(sim, lambda: (p := sim.unit_state(unit_id).position) is not None
               and haversine_m(p, home) < 200)


def test_auto_dispatch_after_assigns_the_top_unit_after_the_delay(city: City) -> None:
    delay = timedelta(minutes=3)
    sim, sink = simulator(city, auto_dispatch_after=delay)
    sim.run_until(START + timedelta(hours=6))
    received = {c.call_id: c.received_at for c in sink.received}
    waits = [a.at - received[a.call_id] for a in sink.assignments]
    assert len(waits) > 5
    assert all(w >= delay - timedelta(microseconds=1) for w in waits)
    assert sum(abs(w - delay) < timedelta(seconds=1) for w in waits) > len(waits) / 2
    assert all(a.rank == 1 and a.recommended_unit_id == a.unit_id for a in sink.assignments)
    served = {e.call_id for e in sink.ledger_entries if e.outcome is LedgerOutcome.SERVED}
    assert served == {a.call_id for a in sink.assignments}
    # Auto mode sends the same teams as soon as triage is done.
    auto = HistoryCollector()
    Simulator(city.engine, city.roster, city.profile, SEED, START, sink=auto, zones=city.beats,
              service_area=city.area).run_until(START + timedelta(hours=6))
    assert min(a.at - received[a.call_id] for a in auto.assignments
               if a.call_id in received) < delay


def test_calls_arrive_the_same_whoever_dispatches(city: City) -> None:
    manual, by_hand = simulator(city, seed=3)
    auto = HistoryCollector()
    Simulator(city.engine, city.roster, city.profile, 3, START, sink=auto, zones=city.beats,
              service_area=city.area).run_until(START + timedelta(hours=12))
    manual.run_until(START + timedelta(hours=12))

    def direct(sink: HistoryCollector) -> list[tuple[str, object, datetime]]:
        return [(c.call_type, c.location, c.received_at) for c in sink.received if not c.notes]

    assert direct(by_hand) == direct(auto) and len(direct(auto)) > 10


# -- the dispatcher's other decisions ------------------------------------------------------------


def test_closing_a_pending_call_logs_it_as_unserved(
        waiting: tuple[Simulator, HistoryCollector, str]) -> None:
    sim, sink, call_id = waiting
    closed = sim.close_call(call_id, ["cancelled"])
    assert closed.dispositions == ("cancelled",) and sink.closed[-1] == closed
    assert sim.call(call_id) is None
    assert call_id not in {c.call_id for c in sim.pending_calls()}
    assert [e.outcome for e in sink.ledger_entries if e.call_id == call_id] == \
        [LedgerOutcome.NO_TEAM_AVAILABLE]
    events = len(sink.steps), len(sink.statuses)
    live(sim, timedelta(minutes=30))
    assert not [s for s in sink.steps[events[0]:] if s.call_id == call_id]
    with pytest.raises(NotFound, match="not open"):
        sim.close_call(call_id, ["cancelled"])


def test_closing_an_assigned_call_sends_the_team_home(
        city: City, waiting: tuple[Simulator, HistoryCollector, str]) -> None:
    sim, sink, call_id = waiting
    unit_id = top_unit(city, sim, call_id)
    sim.assign(unit_id, call_id)
    live_until(sim, lambda: sim.unit_state(unit_id).status == "en_route")
    live(sim, timedelta(seconds=30))
    with pytest.raises(ValueError, match="destination"):
        sim.check_close(call_id, ["transported"])
    closed = sim.close_call(call_id, ["gone_on_arrival"])
    assert closed.dispositions == ("gone_on_arrival",)
    assert sim.unit_state(unit_id).status == "available"
    assert sim.unit_state(unit_id).call_id is None
    stopped_at = sim.now
    live(sim, timedelta(hours=1))
    assert not [s for s in sink.steps if s.call_id == call_id and s.at > stopped_at]
    after = [f for f in sink.fixes if f.unit_id == unit_id and f.time > stopped_at]
    assert any((f.speed_mps or 0) > 0 for f in after)  # it drove back
    home = city.roster.home(next(u for u in city.roster.units if u.unit_id == unit_id))
    position = sim.unit_state(unit_id).position
    assert position is not None and haversine_m(position, home) < 200


def test_cancelling_a_unit_puts_the_call_back_for_another_team(
        city: City, waiting: tuple[Simulator, HistoryCollector, str]) -> None:
    sim, sink, call_id = waiting
    first = top_unit(city, sim, call_id)
    sim.assign(first, call_id)
    live(sim, timedelta(minutes=3))
    state = sim.set_status(first, "available")
    assert state.status == "available" and state.call_id is None
    assert call_id in {c.call_id for c in sim.pending_calls()}
    second = top_unit(city, sim, call_id)
    sim.assign(second, call_id)
    live_until(sim, lambda: call_id in closed_ids(sink))
    closed = next(c for c in sink.closed if c.call_id == call_id)
    assert closed.unit_ids[-1] == second and first in closed.unit_ids
    steps = [step for step, _ in closed.steps]
    assert steps.count(CallStep.DISPATCHED) == 1 and CallStep.ON_SCENE in steps
    assert [e.outcome for e in sink.ledger_entries if e.call_id == call_id] == \
        [LedgerOutcome.SERVED]  # served once, not twice


def test_out_of_service_and_back(city: City,
                                 waiting: tuple[Simulator, HistoryCollector, str]) -> None:
    sim, _, call_id = waiting
    unit_id = top_unit(city, sim, call_id)
    assert sim.set_status(unit_id, "out_of_service").status == "out_of_service"
    with pytest.raises(AssignmentRefused, match="out of service"):
        sim.assign(unit_id, call_id)
    live(sim, timedelta(minutes=10))
    assert sim.unit_state(unit_id).status == "out_of_service"
    assert sim.set_status(unit_id, "available").status == "available"
    sim.assign(unit_id, call_id)
    assert sim.unit_state(unit_id).call_id == call_id


def test_a_dispatcher_emergency_freezes_the_call_until_resolved(
        city: City, waiting: tuple[Simulator, HistoryCollector, str]) -> None:
    sim, sink, call_id = waiting
    unit_id = top_unit(city, sim, call_id)
    sim.assign(unit_id, call_id)
    live_until(sim, lambda: sim.unit_state(unit_id).status == "on_scene")
    state = sim.set_status(unit_id, "emergency")
    assert (state.status, state.call_id) == ("emergency", call_id)
    assert sink.safety_events[-1].kind is SafetyEventKind.EMERGENCY
    live(sim, timedelta(hours=3))  # longer than any scene: nothing moves on
    assert sim.unit_state(unit_id).status == "emergency"
    assert sim.call(call_id) is not None
    with pytest.raises(InvalidTransition, match="resolve the emergency"):
        sim.close_call(call_id, ["resolved_on_scene"])
    with pytest.raises(InvalidTransition, match="not allowed"):
        sim.set_status(unit_id, "en_route")
    sim.set_status(unit_id, "on_scene")  # resolved, still on scene: the scene ends now
    assert sink.safety_events[-1].kind in (SafetyEventKind.EMERGENCY_CLEARED,
                                           SafetyEventKind.CLEARED)
    live(sim, timedelta(minutes=1))
    assert call_id in closed_ids(sink)
    assert sim.unit_state(unit_id).status in ("available", "transporting")


def test_an_emergency_on_the_way_ends_with_the_call_waiting_again(
        city: City, waiting: tuple[Simulator, HistoryCollector, str]) -> None:
    sim, _, call_id = waiting
    unit_id = top_unit(city, sim, call_id)
    sim.assign(unit_id, call_id)
    live_until(sim, lambda: sim.unit_state(unit_id).status == "en_route")
    live(sim, timedelta(seconds=20))
    sim.set_status(unit_id, "emergency")
    stopped = sim.unit_state(unit_id).position
    live(sim, timedelta(minutes=5))
    moved = sim.unit_state(unit_id).position
    assert stopped is not None and moved is not None and haversine_m(stopped, moved) < 300
    with pytest.raises(InvalidTransition, match="was en_route before the emergency"):
        sim.set_status(unit_id, "on_scene")
    sim.set_status(unit_id, "out_of_service")
    assert sim.unit_state(unit_id).call_id is None
    assert call_id in {c.call_id for c in sim.pending_calls()}


def test_refusals_name_the_problem(city: City,
                                   waiting: tuple[Simulator, HistoryCollector, str]) -> None:
    sim, _, call_id = waiting
    unit_id = top_unit(city, sim, call_id)
    with pytest.raises(InvalidTransition, match="reported by the simulated team"):
        sim.set_status(unit_id, "dispatched")
    with pytest.raises(NotFound, match="CRT-99"):
        sim.assign("CRT-99", call_id)
    with pytest.raises(NotFound, match="not open"):
        sim.assign(unit_id, "nope")
    with pytest.raises(AssignmentRefused, match="does not respond"):
        sim.assign("CN-1", call_id)
    with pytest.raises(ValueError, match="future"):
        sim.assign(unit_id, call_id, sim.now + timedelta(minutes=1))
    sim.assign(unit_id, call_id)
    with pytest.raises(AssignmentRefused, match="already has"):
        sim.assign(unit_id, call_id)
    with pytest.raises(ValueError, match="manual"):
        Simulator(city.engine, city.roster, city.profile, 1, START,
                  auto_dispatch_after=timedelta(minutes=3))
    with pytest.raises(ValueError, match="'auto' or 'manual'"):
        Simulator(city.engine, city.roster, city.profile, 1, START,
                  dispatch="sometimes")  # type: ignore[arg-type]
