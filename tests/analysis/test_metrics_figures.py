"""Metrics from a store recomputed independently: hand-built calls and a simulated history."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from heartops.analysis.demand import demand_report, screen_calls, zone_area_test
from heartops.analysis.frames import Window, calls_frame, prepare
from heartops.analysis.metrics import compute_metrics, metrics_from_frame
from heartops.core.calls import Call
from heartops.core.codes import CallStep, Priority, default_tables
from heartops.core.geo import GeoPoint
from heartops.core.units import Unit
from heartops.history import simulate_history
from heartops.store import Store, open_store

TABLES = default_tables()
T0 = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)  # Monday 11:00 in Durham


def _call(call_id: str, *, unit: str | None, minutes: tuple[float | None, ...],
          dispositions: tuple[str, ...], call_type: str = "welfare_check",
          zone: str = "111", offset_h: float = 0.0) -> Call:
    """A closed call; ``minutes`` = (dispatched, on_scene, cleared) after received."""
    received = T0 + timedelta(hours=offset_h)
    steps = [(CallStep.RECEIVED, received)]
    for step, after in zip((CallStep.DISPATCHED, CallStep.ON_SCENE), minutes[:2], strict=True):
        if after is not None:
            steps.append((step, received + timedelta(minutes=after)))
    call = Call(call_id=call_id, call_type=call_type, priority=Priority.TWO,
                location=GeoPoint(35.99, -78.90), received_at=received, zone_id=zone,
                steps=tuple(steps), unit_ids=(unit,) if unit else ())
    cleared = minutes[2]
    assert cleared is not None
    return call.close(received + timedelta(minutes=cleared), dispositions=dispositions,
                      destination="Hospital" if "transported" in dispositions else None)


HAND_CALLS = [
    _call("H1", unit="CRT-1", minutes=(1, 11, 41), dispositions=("resolved_on_scene",)),
    _call("H2", unit="CRT-1", minutes=(2, 22, 52), dispositions=("transported",), zone="112"),
    _call("H3", unit="CRT-2", minutes=(0, 6, 66), dispositions=("ems_requested",),
          offset_h=1),
    _call("H4", unit="CRT-2", minutes=(1, 31, 91),
          dispositions=("resolved_on_scene", "pd_backup_requested"), offset_h=25),
    _call("C1", unit="CCD-1", minutes=(0, None, 20), dispositions=("resolved_by_phone",),
          call_type="crisis_call_diversion"),
    _call("C2", unit="CCD-1", minutes=(1, 3, 33), dispositions=("resolved_on_scene",),
          call_type="mental_health_crisis"),
    _call("P1", unit=None, minutes=(5, 15, 75), dispositions=("resolved_on_scene",),
          call_type="other"),
]


@pytest.fixture
def hand_store(tmp_path: Path) -> Store:
    store = open_store(str(tmp_path / "hand.db"))
    units = [Unit(unit_id=u, program=u.split("-")[0], team=(), capabilities=frozenset())
             for u in ("CRT-1", "CRT-2", "CCD-1")]
    store.add_units(units, at=T0 - timedelta(days=1), desk="t", operator="t")
    store.import_calls(HAND_CALLS, source="hand")
    return store


def test_hand_built_calls_give_hand_computed_figures(hand_store: Store) -> None:
    report = compute_metrics(hand_store)
    crt, ccd = (next(g for g in report.groups if g.value("program") == p) for p in ("CRT", "CCD"))
    assert [g.value("program") for g in report.groups] == ["CCD", "CRT"]  # P1: no HEART unit
    assert crt.calls == 4
    # to scene: 10, 20, 6, 30 -> mean 16.5, median 15, p90 = 20 + 0.7 * 10 = 27
    assert (crt.to_scene.mean, crt.to_scene.median, crt.to_scene.p90) == pytest.approx(
        (16.5, 15.0, 27.0))
    assert crt.on_scene.mean == pytest.approx((30 + 30 + 60 + 60) / 4)
    assert crt.total.mean == pytest.approx((40 + 50 + 66 + 90) / 4)
    assert (crt.transport_pct, crt.pd_backup_pct, crt.ems_pct) == (25.0, 25.0, 25.0)
    # The phone call has no "to scene"; it still counts as a call and in the total.
    assert ccd.calls == 2 and ccd.to_scene.count == 1 and ccd.to_scene.mean == 2.0
    assert ccd.total.mean == pytest.approx((20 + 32) / 2)
    assert ccd.phone_pct == 50.0
    assert crt.top_call_types == (("welfare_check", 4),)


def test_window_and_zone_grouping(hand_store: Store) -> None:
    window = Window(T0, T0 + timedelta(hours=24))
    report = compute_metrics(hand_store, by=("program", "zone"), window=window)
    keys = {g.key: g.calls for g in report.groups}
    assert keys == {(("program", "CCD"), ("zone", "111")): 2,
                    (("program", "CRT"), ("zone", "111")): 2,
                    (("program", "CRT"), ("zone", "112")): 1}
    other = compute_metrics(hand_store, include_other=True)
    assert {g.value("program"): g.calls for g in other.groups} == {"CCD": 2, "CRT": 4,
                                                                   "other": 1}
    with pytest.raises(ValueError, match="district"):
        compute_metrics(hand_store, by=("district",))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory,
              demo_city_dirs: tuple[Path, Path]) -> Store:
    cache, data = demo_city_dirs
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTOPS_CACHE_DIR", str(cache))
        patch.setenv("HEARTOPS_DATA_DIR", str(data))
        store = open_store(str(tmp_path_factory.mktemp("sim") / "sim.db"))
        simulate_history(store, network="demo", days=6, seed=41,
                         start=datetime(2025, 6, 2, 4, tzinfo=UTC))
    return store


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds() / 60


def test_simulated_history_figures_match_a_plain_recount(simulated: Store) -> None:
    # Independent recount from the store's core values: program = the roster program of the
    # call's first unit, intervals from the steps, shares from the disposition table.
    roster = {record.unit.unit_id: record.unit.program for record in simulated.units()}
    spans: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    flags: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for call in simulated.calls():
        if not call.unit_ids:
            continue
        program = roster[call.unit_ids[0]]
        flags[program]["calls"] += 1
        for name, (a, b) in {"to_scene": (CallStep.DISPATCHED, CallStep.ON_SCENE),
                             "on_scene": (CallStep.ON_SCENE, CallStep.CLEARED),
                             "total": (CallStep.DISPATCHED, CallStep.CLEARED)}.items():
            value = _minutes(call.time_of(a), call.time_of(b))
            if value is not None:
                spans[program][name].append(value)
        for flag in ("transport", "pd_backup", "ems", "by_phone"):
            flags[program][flag] += any(getattr(TABLES.disposition(d), flag)
                                        for d in call.dispositions)
    report = compute_metrics(simulated)
    assert {g.value("program") for g in report.groups} == set(flags) == {"CCD", "CRT", "COR"}
    for group in report.groups:
        program = str(group.value("program"))
        assert group.calls == flags[program]["calls"]
        for name in ("to_scene", "on_scene", "total"):
            values = spans[program][name]
            stats = getattr(group, name)
            assert stats.count == len(values)
            assert stats.mean == pytest.approx(statistics.fmean(values), abs=1e-6)
            assert stats.median == pytest.approx(statistics.median(values), abs=1e-6)
            assert stats.p90 == pytest.approx(
                statistics.quantiles(values, n=10, method="inclusive")[-1], abs=1e-6)
        n = flags[program]["calls"]
        assert group.transport_pct == pytest.approx(100 * flags[program]["transport"] / n)
        assert group.ems_pct == pytest.approx(100 * flags[program]["ems"] / n)
        assert group.phone_pct == pytest.approx(100 * flags[program]["by_phone"] / n)

    tasks = simulated.follow_ups()
    done = [t for t in tasks if t.completed_at is not None]
    assert report.care.neighbors_supported == len(tasks) > 0
    assert report.care.connected_pct == pytest.approx(
        100 * sum(bool(t.connected) for t in done) / len(done))
    days = [(t.first_contact_at - t.created_at).total_seconds() / 86400 for t in tasks
            if t.first_contact_at is not None]
    assert report.care.mean_days_to_first_follow_up == pytest.approx(statistics.fmean(days))
    ledger = simulated.ledger()
    assert sum(u.calls for u in report.unmet) == len(ledger)
    served = sum(e.outcome.value == "SERVED" for e in ledger)
    assert next(u.calls for u in report.unmet if u.outcome == "SERVED") == served


def test_hour_of_week_is_local_time(simulated: Store) -> None:
    frame = prepare(calls_frame(simulated))
    first = frame.iloc[0]
    local = first["received_at"].tz_convert("America/New_York")
    assert first["hour_of_week"] == local.day_of_week * 24 + local.hour
    groups = metrics_from_frame(frame, by=("program", "hour"))
    assert sum(g.calls for g in groups) == frame["program"].notna().sum()
    assert all(0 <= int(str(g.value("hour"))) < 168 for g in groups)


def test_demand_rescreen_reproduces_the_simulators_ledger(simulated: Store,
                                                          demo_city: None) -> None:
    # Same core rules as live dispatch: re-screening the stored calls with the demo city's
    # service area gives every call the ledger outcome the simulator recorded when it ran.
    frame = calls_frame(simulated)
    programs = dict(zip(frame["call_id"], frame["program"], strict=True))
    screened = screen_calls(simulated.calls(), programs=programs,
                            in_service_area=zone_area_test("demo-service-area"))
    ledger = {e.call_id: e for e in simulated.ledger()}
    assert len(ledger) > 100
    for row in screened.itertuples():
        entry = ledger.get(row.call_id)
        assert row.outcome == (None if entry is None else entry.outcome.value), row.call_id
        reason = row.reason if isinstance(row.reason, str) else None
        assert reason == (None if entry is None or entry.reason is None
                          else entry.reason.value)
    report = demand_report(screened, by=("zone",))
    assert report.total.demand == len(ledger)
    assert report.total.served == sum(e.outcome.value == "SERVED" for e in ledger.values())
    assert sum(g.demand for g in report.groups) == report.total.demand
    share = report.total.share_served_pct
    assert share is not None and not math.isnan(share) and 0 < share <= 100
