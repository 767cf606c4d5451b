"""The shift simulator on the demo city: determinism, calibration, invariants, live AVL, speed."""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

from heartops.core.avl import AvlValidator
from heartops.core.codes import CallStep, default_tables
from heartops.core.eligibility import LedgerOutcome, screen
from heartops.core.errors import TableError
from heartops.core.geo import GeoPoint, haversine_m
from heartops.core.programs import is_open
from heartops.core.safety import SafetyEventKind, SafetyMonitor
from heartops.core.units import on_shift
from heartops.feeds.simulator import (
    HistoryCollector,
    Roster,
    SimProfile,
    Simulator,
    calibration_lines,
    default_roster,
    load_profile,
    solve_stream_rates,
)
from heartops.routing.demo_setup import build_demo
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import load_network
from heartops.routing.posts import Post, load_posts
from heartops.routing.zones import ZoneIndex
from tests.conftest import YearRun

TABLES = default_tables()
START = datetime(2025, 3, 3, 5, 0, tzinfo=UTC)  # Monday 00:00 in Durham; DST starts Mar 9
CALIBRATION_DAYS = 30
SEED = 2025


@dataclass(frozen=True)
class City:
    engine: TravelTimeEngine
    posts: list[Post]
    beats: ZoneIndex
    area: ZoneIndex


@dataclass(frozen=True)
class Run:
    sim: Simulator
    history: HistoryCollector
    seconds: float
    days: float


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    root = tmp_path_factory.mktemp("sim-demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTOPS_CACHE_DIR", str(root / "cache"))
        patch.setenv("HEARTOPS_DATA_DIR", str(root / "data"))
        build_demo()
        return City(TravelTimeEngine(load_network("demo")), load_posts("demo"),
                    ZoneIndex.from_layer("demo-beats"),
                    ZoneIndex.from_layer("demo-service-area"))


@pytest.fixture(scope="module")
def profile() -> SimProfile:
    return load_profile()


@pytest.fixture(scope="module")
def roster(city: City, profile: SimProfile) -> Roster:
    return default_roster(city.posts, profile)


def simulator(city: City, roster: Roster, profile: SimProfile, seed: int,
              sink: HistoryCollector, start: datetime = START) -> Simulator:
    return Simulator(city.engine, roster, profile, seed, start, sink=sink, zones=city.beats,
                     service_area=city.area)


def history(city: City, roster: Roster, profile: SimProfile, seed: int,
            days: float) -> Run:
    sink = HistoryCollector()
    sim = simulator(city, roster, profile, seed, sink)
    began = time.perf_counter()
    sim.run_until(START + timedelta(days=days))
    return Run(sim, sink, time.perf_counter() - began, days)


@pytest.fixture(scope="module")
def month(city: City, roster: Roster, profile: SimProfile) -> Run:
    return history(city, roster, profile, SEED, CALIBRATION_DAYS)


def events(sink: HistoryCollector) -> tuple[object, ...]:
    """Every domain event (everything but AVL fixes)."""
    return (sink.received, sink.statuses, sink.assignments, sink.steps, sink.closed,
            sink.ledger_entries, sink.follow_ups, sink.safety_events)


# -- profile, rates, roster -------------------------------------------------------------------


def test_profile_carries_the_published_table(profile: SimProfile) -> None:
    crt = profile.published["CRT"]
    assert (crt.calls, crt.to_scene_minutes, crt.on_scene_minutes, crt.transport_pct) == \
        (14241, 12.19, 34.06, 6.52)
    assert profile.published["CCD"].phone_resolution_pct == 66.0
    assert profile.published["COR"].calls == 5372
    assert sum(profile.hour_of_day) > 0 and len(profile.day_of_week) == 7
    assert profile.responses["CRT"].on_scene.mean == 34.06  # means come from the table


@pytest.mark.parametrize(("old", "new", "message"), [
    ('welfare_check = 0.22', 'wellfare_check = 0.22', "wellfare_check"),
    ('dispatch = ["CRT", "COR"]', 'dispatch = ["CRT", "CN"]', "CN does not take calls"),
    ('schema = 1', 'schema = 2', "schema"),
    ('priority_p = 0.01', 'priority_p = 1.5', "between 0 and 1"),
])
def test_a_bad_profile_names_the_problem(tmp_path: Path, old: str, new: str,
                                         message: str) -> None:
    text = (Path(__file__).parents[2] / "heartops/resources/tables/sim_profile.toml").read_text()
    assert old in text
    bad = tmp_path / "profile.toml"
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(TableError, match=message):
        load_profile(bad)


def test_rates_are_solved_to_reach_the_published_volumes(profile: SimProfile,
                                                         roster: Roster) -> None:
    rates = solve_stream_rates(profile, TABLES, units=roster.units, inside_share=0.97)
    for program, served in rates.expected_served().items():
        assert served == pytest.approx(profile.published[program].calls, rel=1e-9)
    # More calls arrive than HEART serves: outside hours, Priority P, outside the area.
    assert 25_000 < rates.total_per_year < 36_000


def test_default_roster_staffs_every_program_from_the_posts(roster: Roster,
                                                            city: City) -> None:
    by_program = Counter(unit.program for unit in roster.units)
    assert set(by_program) == {"CCD", "CRT", "COR", "CN"}
    assert len({u.unit_id for u in roster.units}) == len(roster.units)
    post_ids = {post.post_id for post in city.posts}
    for unit in roster.units:
        assert unit.home_post_id in post_ids
        assert set(TABLES.program(unit.program).team_roles) <= set(unit.team)
    assert any("spanish" in u.capabilities for u in roster.units if u.program == "CRT")
    assert all("transport" in u.capabilities for u in roster.units if u.program == "COR")


def test_roster_refuses_no_posts(profile: SimProfile) -> None:
    with pytest.raises(ValueError, match="post"):
        default_roster([], profile)


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_the_same_event_stream(city: City, roster: Roster,
                                               profile: SimProfile) -> None:
    first = history(city, roster, profile, 11, 2).history
    second = history(city, roster, profile, 11, 2).history
    assert len(first.received) > 50
    assert events(first) == events(second)


def test_another_seed_gives_another_event_stream(city: City, roster: Roster,
                                                 profile: SimProfile) -> None:
    first = history(city, roster, profile, 11, 2).history
    other = history(city, roster, profile, 12, 2).history
    assert [c.received_at for c in first.received] != [c.received_at for c in other.received]


def test_volume_multiplies_the_calls_for_a_busier_demo(city: City, roster: Roster,
                                                       profile: SimProfile) -> None:
    def calls(volume: float) -> int:
        sink = HistoryCollector()
        Simulator(city.engine, roster, profile, 11, START, sink=sink, zones=city.beats,
                  service_area=city.area, volume=volume).run_until(START + timedelta(days=2))
        return len(sink.received)

    normal, busy = calls(1.0), calls(3.0)
    assert 2.4 < busy / normal < 3.6  # Poisson noise on ~200 calls
    with pytest.raises(ValueError, match="positive"):
        Simulator(city.engine, roster, profile, 11, START, volume=0)


def test_calls_do_not_depend_on_the_roster(city: City, roster: Roster,
                                           profile: SimProfile) -> None:
    # Common random numbers: one team fewer changes who goes, not which calls arrive.
    smaller = roster.with_units(u for u in roster.units if u.unit_id != "CRT-1")
    full = HistoryCollector()
    less = HistoryCollector()
    for team, sink in ((roster, full), (smaller, less)):
        simulator(city, team, profile, 3, sink).run_until(START + timedelta(days=1))
    direct = [(c.call_type, c.location, c.received_at) for c in full.received
              if not c.notes]  # handed-off calls follow the phone calls, which may differ
    assert direct == [(c.call_type, c.location, c.received_at) for c in less.received
                      if not c.notes]


# -- calibration (30 days) -------------------------------------------------------------------


def test_thirty_days_land_near_the_published_figures(month: Run, profile: SimProfile) -> None:
    figures = month.history.figures()
    print("\n" + "\n".join(calibration_lines(figures, profile, days=month.days)))
    total = sum(f.calls for f in figures.values())
    published_total = sum(p.calls for p in profile.published.values())
    for code, target in profile.published.items():
        sim = figures[code]
        assert sim.calls / total == pytest.approx(target.calls / published_total, abs=0.03), code
    assert total * 365.25 / month.days == pytest.approx(published_total, rel=0.12)
    for code in ("CRT", "COR"):
        sim, target = figures[code], profile.published[code]
        assert sim.to_scene_minutes == pytest.approx(target.to_scene_minutes, rel=0.15), code
        assert sim.on_scene_minutes == pytest.approx(target.on_scene_minutes, rel=0.15), code
        assert sim.total_minutes == pytest.approx(target.total_minutes, rel=0.15), code
        assert sim.transport_pct == pytest.approx(target.transport_pct, abs=3.0), code
    ccd = figures["CCD"]
    assert ccd.phone_resolution_pct == pytest.approx(66.0, abs=5.0)
    assert ccd.to_scene_minutes == pytest.approx(1.37, rel=0.15)
    assert ccd.on_scene_minutes == pytest.approx(27.94, rel=0.15)
    assert ccd.transport_pct == pytest.approx(3.76, abs=2.5)


def test_care_navigation_follows_the_published_pattern(month: Run, profile: SimProfile) -> None:
    tasks = month.history.latest_follow_ups()
    referred = [c for c in month.history.closed if "referred_to_care_navigation" in
                c.dispositions]
    assert len(tasks) == len(referred) > 0
    yearly = len(tasks) * 365.25 / month.days
    assert yearly == pytest.approx(profile.care.neighbors_per_year, rel=0.2)
    first = [t for t in tasks.values() if t.first_contact_at is not None]
    days = statistics.fmean((t.first_contact_at - t.created_at).total_seconds() / 86400
                            for t in first if t.first_contact_at is not None)
    assert days == pytest.approx(2.9, rel=0.2)
    cn = TABLES.program("CN")
    assert all(is_open(cn, t.first_contact_at) for t in first if t.first_contact_at)
    done = [t for t in tasks.values() if t.completed_at is not None]
    assert sum(bool(t.connected) for t in done) / len(done) == pytest.approx(0.33, abs=0.1)


def test_run_time_extrapolates_to_a_year_in_under_five_minutes(month: Run) -> None:
    year = month.seconds * 365.25 / month.days
    print(f"\n{month.days:.0f} simulated days: {len(month.history.received)} calls in "
          f"{month.seconds:.1f} s; a year extrapolates to {year:.0f} s")
    assert year < 300


# -- invariants ----------------------------------------------------------------------------------


def test_every_call_lifecycle_is_ordered(month: Run) -> None:
    for call in month.history.closed:
        times = [at for _, at in call.steps]
        assert times == sorted(times), call.call_id
        orders = [step.order for step, _ in call.steps]
        assert orders == sorted(orders), call.call_id
        assert call.steps[-1][0] is CallStep.CLEARED
        if call.unit_ids:
            assert call.time_of(CallStep.DISPATCHED) is not None
    steps_by_call: dict[str, list[datetime]] = defaultdict(list)
    for record in month.history.steps:
        steps_by_call[record.call_id].append(record.at)
    assert all(times == sorted(times) for times in steps_by_call.values())


def test_no_unit_ever_works_two_calls_at_once(month: Run) -> None:
    working: dict[str, str | None] = {}
    for change in month.history.statuses:  # emitted in time order
        before = working.get(change.unit_id)
        if change.after == "dispatched":
            assert before is None, f"{change.unit_id} sent to {change.call_id} while on {before}"
        elif change.call_id is not None:
            assert change.call_id == before, change
        working[change.unit_id] = change.call_id
    assert all(len(c.unit_ids) == 1 for c in month.history.closed if c.unit_ids)


def test_units_are_dispatched_only_on_shift_and_eligible(month: Run, city: City,
                                                         roster: Roster) -> None:
    units = {u.unit_id: u for u in roster.units}
    received = {c.call_id: c for c in month.history.received}
    status_before: dict[str, str] = {}
    for change in month.history.statuses:
        if change.after == "dispatched":
            assert status_before[change.unit_id] == "available"
        status_before[change.unit_id] = change.after
    for assignment in month.history.assignments:
        unit = units[assignment.unit_id]
        assert on_shift(unit, assignment.at, TABLES.timezone), assignment
        call = received[assignment.call_id]
        inside = city.area.assign([call.location.lat], [call.location.lon])[0] is not None
        verdict = screen(call, assignment.at, _constant(inside), tables=TABLES)
        assert unit.program in verdict.eligible_programs, assignment
        assert assignment.rank == 1 and not assignment.is_override
        assert unit.program == assignment.program


def _constant(value: bool) -> Callable[[GeoPoint], bool]:
    return lambda _point: value


def test_every_call_gets_one_ledger_outcome(month: Run, profile: SimProfile) -> None:
    ledger = Counter(entry.call_id for entry in month.history.ledger_entries)
    assert all(n == 1 for n in ledger.values())
    closed = {c.call_id: c for c in month.history.closed}
    assert set(closed) <= set(ledger)
    outcomes = month.history.ledger_counts()
    assert {LedgerOutcome.SERVED, LedgerOutcome.OUTSIDE_HOURS,
            LedgerOutcome.NO_TEAM_AVAILABLE, LedgerOutcome.OUTSIDE_SERVICE_AREA,
            LedgerOutcome.EXCLUDED} <= set(outcomes)
    served = set(month.history.program_of_calls())
    for entry in month.history.ledger_entries:
        call = closed.get(entry.call_id)
        if call is None:
            continue
        assert (entry.outcome is LedgerOutcome.SERVED) == (entry.call_id in served)
        if entry.outcome is not LedgerOutcome.SERVED:
            assert call.dispositions == (profile.unserved_disposition,)
            assert not call.unit_ids


def test_calls_nobody_could_take_wait_at_most_their_max_wait(month: Run,
                                                             profile: SimProfile) -> None:
    closed = {c.call_id: c for c in month.history.closed}
    waited = [closed[e.call_id] for e in month.history.ledger_entries
              if e.outcome is LedgerOutcome.NO_TEAM_AVAILABLE and e.call_id in closed]
    longest = max(s.max_wait_s for s in profile.streams.values())
    assert waited
    for call in waited:
        age = call.interval(CallStep.RECEIVED, CallStep.CLEARED)
        assert age is not None and age.total_seconds() <= longest + 1e-3


def test_safety_events_cover_every_scene(month: Run) -> None:
    kinds = Counter(e.kind for e in month.history.safety_events)
    arrivals = sum(r.step is CallStep.ON_SCENE for r in month.history.steps)
    assert kinds[SafetyEventKind.ON_SCENE] == arrivals
    assert kinds[SafetyEventKind.CHECK_IN] > kinds[SafetyEventKind.ON_SCENE]
    # The events replay into the same records the simulator's own monitor holds.
    replayed = SafetyMonitor.replay(month.history.safety_events)
    assert replayed.records() == month.sim.safety_monitor.records()
    on_scene_crt = [c for c in month.history.closed if c.unit_ids and
                    c.unit_ids[0].startswith("CRT") and c.on_scene_time is not None and
                    c.on_scene_time > timedelta(minutes=45)]
    with_check_in = {r.call_id for r in replayed.records() if r.check_ins > 0}
    assert sum(c.call_id in with_check_in for c in on_scene_crt) / len(on_scene_crt) > 0.95


def test_handed_off_phone_calls_become_in_person_calls(month: Run) -> None:
    notes = [c for c in month.history.received if c.notes]
    assert notes
    closed = {c.call_id: c for c in month.history.closed}
    served = month.history.program_of_calls()
    for call in notes:
        parent = call.notes[0].text.rsplit(" ", 1)[-1]
        assert served.get(parent) == "CCD"
        assert closed[parent].time_of(CallStep.CLEARED) == call.received_at
        assert call.call_type != "crisis_call_diversion"


# -- live mode ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(city: City, roster: Roster, profile: SimProfile) -> Iterator[tuple[Run, Run]]:
    start = datetime(2025, 6, 4, 14, 0, tzinfo=UTC)  # 10:00 in Durham, every program open
    hours = 3
    stepped, ran = HistoryCollector(), HistoryCollector()
    sim = simulator(city, roster, profile, 9, stepped, start)
    began = time.perf_counter()
    for _ in range(hours * 3600 // 15):
        sim.step(timedelta(seconds=15))  # a 250 ms timer at 60x
    seconds = time.perf_counter() - began
    other = simulator(city, roster, profile, 9, ran, start)
    other.run_until(start + timedelta(hours=hours))
    yield Run(sim, stepped, seconds, hours / 24), Run(other, ran, 0.0, hours / 24)


def test_live_and_history_modes_give_the_same_domain_events(live: tuple[Run, Run]) -> None:
    stepped, ran = live
    assert stepped.history.fixes and not ran.history.fixes
    assert events(stepped.history) == events(ran.history)
    assert stepped.sim.now == ran.sim.now


def test_live_fixes_are_believable(live: tuple[Run, Run], city: City) -> None:
    stepped, _ = live
    fixes = stepped.history.fixes
    network = city.engine.network
    top_speed = float((network.fwd_length / network.fwd_time).max())
    by_unit = defaultdict(list)
    for fix in fixes:
        by_unit[fix.unit_id].append(fix)
    moving = 0
    for unit_fixes in by_unit.values():
        for a, b in itertools.pairwise(unit_fixes):
            seconds = (b.time - a.time).total_seconds()
            assert seconds > 0
            assert haversine_m(a.position, b.position) / seconds <= top_speed * 1.02
            if (b.speed_mps or 0) > 0 and (a.speed_mps or 0) > 0:
                assert seconds == pytest.approx(1.0)
                moving += 1
    assert moving > 1000
    assert max(f.speed_mps or 0 for f in fixes) <= top_speed * 1.02
    # Every fix passes the same validator the live AVL feeds use.
    validator = AvlValidator(stepped.sim.clock, max_age_s=None, jitter_m=0.0,
                             max_speed_mps=top_speed * 1.02)
    assert all(validator.check(fix) is None for fix in fixes)


def test_live_fixes_lie_on_the_roads(live: tuple[Run, Run], city: City) -> None:
    stepped, _ = live
    moving = [f for f in stepped.history.fixes if (f.speed_mps or 0) > 0][::10]
    network = city.engine.network
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
    lines = []
    for edge in range(network.edge_count):
        lon, lat = network.edge_coords(edge)
        x, y = to_xy.transform(lon, lat)
        lines.append(shapely.linestrings(np.column_stack([x, y])))
    tree = shapely.STRtree(lines)
    x, y = to_xy.transform([f.position.lon for f in moving], [f.position.lat for f in moving])
    _, distances = tree.query_nearest(shapely.points(x, y), return_distance=True)
    assert len(moving) > 100
    assert float(np.max(distances)) < 3.0


def test_live_mode_keeps_up_with_sixty_times_real_time(live: tuple[Run, Run]) -> None:
    stepped, _ = live
    simulated = stepped.days * 86400
    assert stepped.seconds < simulated / 60 / 4  # well under a quarter of the frame budget


def test_time_only_moves_forward(city: City, roster: Roster, profile: SimProfile) -> None:
    sim = simulator(city, roster, profile, 1, HistoryCollector())
    sim.run_until(START + timedelta(hours=1))
    with pytest.raises(ValueError, match="back in time"):
        sim.run_until(START)
    with pytest.raises(ValueError, match="non-negative"):
        sim.step(-1.0)
    assert sim.clock.now() == START + timedelta(hours=1)


def test_initial_statuses_follow_the_shifts(city: City, roster: Roster,
                                            profile: SimProfile) -> None:
    sink = HistoryCollector()
    sim = simulator(city, roster, profile, 1, sink)
    sim.step(0.0)
    first = {c.unit_id: c for c in sink.statuses if c.before is None}
    assert set(first) == {u.unit_id for u in roster.units}
    for unit in roster.units:
        expected = "available" if on_shift(unit, START, TABLES.timezone) else "out_of_service"
        assert first[unit.unit_id].after == expected
    assert sim.unit_states()["CRT-1"].position is not None
    assert not math.isnan(sim.unit_states()["CRT-1"].position.lat)  # type: ignore[union-attr]


# -- a year --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_year_of_history_lands_on_the_published_volumes(simulated_year: YearRun,
                                                          profile: SimProfile) -> None:
    # How long a year takes is measured by benchmarks/simulator.py, not asserted here. The
    # year is the session fixture the metrics tests reuse (tests/conftest.py).
    assert simulated_year.start == START
    figures = simulated_year.history.figures()
    print(f"\n365 days: {len(simulated_year.history.received)} calls in "
          f"{simulated_year.seconds:.0f} s")
    print("\n".join(calibration_lines(figures, profile, days=365)))
    assert sum(f.calls for f in figures.values()) == pytest.approx(
        sum(p.calls for p in profile.published.values()), rel=0.08)
