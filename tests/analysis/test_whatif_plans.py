"""What-if plans on the demo city: same calls for every plan, more teams never less coverage."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from heartops.analysis.coverage import CoveragePlanner, PlanningError
from heartops.analysis.demand_grid import HexGrid, calls_to_frame, expected_demand
from heartops.analysis.whatif import (
    add_teams,
    compare_plans,
    move_teams,
    parse_shift,
    roster_coverage_by_hour,
    set_hours,
)
from heartops.feeds.simulator import HistoryCollector, Simulator, default_roster, load_profile
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.network import load_network
from heartops.routing.posts import load_posts

START = datetime(2025, 6, 2, 5, tzinfo=UTC)


@pytest.fixture
def setting(demo_city: None) -> tuple:
    engine = TravelTimeEngine(load_network("demo"))
    profile = load_profile()
    roster = default_roster(load_posts("demo"), profile)
    sink = HistoryCollector()
    Simulator(engine, roster, profile, 11, START, sink=sink).run_until(
        START.replace(day=9))  # a week of calls for the expected demand
    planner = CoveragePlanner(engine, HexGrid.over(engine.network, cell_m=600.0))
    demand = expected_demand(calls_to_frame(sink.received), engine, planner.grid,
                             start=START, end=START.replace(day=9))
    return engine, planner, demand, profile, roster


def test_one_more_team_never_lowers_coverage(setting: tuple) -> None:
    _, planner, demand, _, roster = setting
    for post in ("3", "9", "11"):
        bigger = add_teams(roster, "CRT", 1, shift=parse_shift("06:00-24:00"), post_id=post)
        for minutes in (8.0, 12.0):
            before = roster_coverage_by_hour(planner, roster, demand, minutes)
            after = roster_coverage_by_hour(planner, bigger, demand, minutes)
            has = np.isfinite(before)
            assert np.array_equal(has, np.isfinite(after))
            assert (after[has] >= before[has] - 1e-12).all()
            assert (after[has] > before[has]).any() or minutes == 8.0


def test_compare_plans_replays_the_same_calls(setting: tuple) -> None:
    engine, planner, demand, profile, roster = setting
    longer = set_hours(roster, "COR", parse_shift("06:00-23:00"))
    more = add_teams(roster, "CRT", 2, shift=parse_shift("09:00-17:30"), post_id="9")
    report = compare_plans(engine, planner, demand,
                           [("today", roster), ("longer COR", longer), ("+2 CRT", more)],
                           profile=profile, start=START, days=1.0, seed=5)
    today, longer_out, more_out = report.plans
    assert today.eligible == longer_out.eligible == more_out.eligible > 0
    assert more_out.units == today.units + 2
    assert 0 <= today.served <= today.eligible
    for minutes in report.minutes:
        assert more_out.mean_coverage(minutes) >= today.mean_coverage(minutes)
    lines = report.lines()
    assert "served share of eligible" in "\n".join(lines) and "+2 CRT" in lines[0]


def test_bad_plan_edits_are_clear_errors(setting: tuple) -> None:
    roster = setting[4]
    with pytest.raises(PlanningError, match="unknown post '99'"):
        add_teams(roster, "CRT", 1, shift=parse_shift("09:00-17:00"), post_id="99")
    with pytest.raises(PlanningError, match="unknown unit"):
        move_teams(roster, {"CRT-99": "1"})
    with pytest.raises(PlanningError, match="HH:MM-HH:MM"):
        parse_shift("nine to five")
