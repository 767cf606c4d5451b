"""Expected demand: which calls count, where they go and how hours are normalised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from heartops.analysis.demand_grid import (
    HOURS_PER_WEEK,
    HexGrid,
    calls_to_frame,
    eligible_mask,
    expected_demand,
    hour_occurrences,
)
from heartops.core.calls import new_call
from heartops.core.errors import HeartopsError
from heartops.core.geo import GeoPoint
from heartops.routing.build import add_travel_times, compile_network, load_graph
from heartops.routing.engine import TravelTimeEngine
from heartops.routing.roads import SpeedRule
from tests.conftest import require_shared

MONDAY_UTC = datetime(2025, 1, 6, 5, 0, tzinfo=UTC)  # Monday 00:00 in Durham (EST)


def _frame(rows: list[tuple[str, str, tuple[str, ...]]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["call_type", "priority", "flags"])


def test_eligibility_follows_the_core_rules() -> None:
    frame = _frame([
        ("welfare_check", "2", ()),                 # CRT: counts
        ("welfare_check", "P", ()),                 # Priority P: excluded
        ("welfare_check", "2", ("weapon",)),        # CRT only, weapon: excluded
        ("trespass", "3", ("weapon",)),             # COR still takes it: counts
        ("crisis_call_diversion", "3", ()),         # CCD only: by phone, no drive
        ("shots_fired", "P", ()),                   # not a HEART type
        ("no_such_type", "2", ()),                  # unknown code: not demand
    ])
    assert eligible_mask(frame).tolist() == [True, False, False, True, False, False, False]
    assert eligible_mask(frame, in_person_only=False)[4]


def test_hour_occurrences_counts_each_hour_of_week() -> None:
    two_weeks = hour_occurrences(MONDAY_UTC, MONDAY_UTC + timedelta(days=14))
    assert two_weeks.tolist() == [2.0] * HOURS_PER_WEEK
    partial = hour_occurrences(MONDAY_UTC + timedelta(minutes=30), MONDAY_UTC + timedelta(hours=2))
    assert partial[0] == pytest.approx(0.5) and partial[1] == 1.0 and partial.sum() == 1.5


@pytest.fixture(scope="module")
def engine() -> TravelTimeEngine:
    graph, meta = load_graph(str(require_shared("durham/osm/durham_downtown_drive.graphml")))
    add_travel_times(graph, SpeedRule.US_DEFAULT)
    return TravelTimeEngine(compile_network(graph, name="durham-test", meta=meta))


def test_expected_demand_is_calls_per_hour_in_the_call_cell(engine: TravelTimeEngine) -> None:
    grid = HexGrid.over(engine.network, cell_m=200.0)
    network = engine.network
    node = int(grid.node[3])
    here = GeoPoint(float(network.node_lat[node]), float(network.node_lon[node]))
    calls = [new_call(f"c{i}", call_type="welfare_check", location=here,
                      received_at=MONDAY_UTC + timedelta(days=7 * i, hours=17, minutes=10))
             for i in range(3)]
    calls.append(new_call("p", call_type="assault_in_progress", location=here,
                          received_at=MONDAY_UTC + timedelta(hours=17)))
    demand = expected_demand(calls_to_frame(calls), engine, grid, start=MONDAY_UTC,
                             end=MONDAY_UTC + timedelta(days=28))
    assert demand.per_hour.shape == (grid.size, HOURS_PER_WEEK)
    assert demand.calls == 3 and demand.dropped == 0
    assert demand.per_hour[3, 17] == pytest.approx(3 / 4)  # 3 calls over 4 Mondays 17:00
    assert demand.per_hour.sum() == pytest.approx(3 / 4)
    assert demand.weekly()[3] == pytest.approx(3 / 4)
    assert np.array_equal(demand.hour(17), demand.per_hour[:, 17])
    with pytest.raises(ValueError, match=r"0\.\.167"):
        demand.hour(168)


def test_no_eligible_history_is_a_clear_error(engine: TravelTimeEngine) -> None:
    grid = HexGrid.over(engine.network)
    with pytest.raises(HeartopsError, match="no eligible HEART calls"):
        expected_demand(calls_to_frame([]), engine, grid)


def test_bad_cell_size_is_refused(engine: TravelTimeEngine) -> None:
    with pytest.raises(ValueError, match="positive"):
        HexGrid.over(engine.network, cell_m=0.0)
