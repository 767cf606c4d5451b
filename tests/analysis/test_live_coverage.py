"""The live coverage service on the demo city, checked against CoveragePlanner directly."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pytest

from heartops.analysis.coverage import PlanningError
from heartops.analysis.live_coverage import LiveCoverage, UnitPosition, hour_label
from heartops.core.geo import GeoPoint

START = datetime(2025, 6, 2, 5, tzinfo=UTC)
AT = datetime(2025, 6, 10, 18, 20, tzinfo=UTC)  # Tuesday 14:20 in Durham


@pytest.fixture
def service(live_coverage: LiveCoverage) -> LiveCoverage:
    """The shared live coverage service over a simulated week of the demo city."""
    return live_coverage


def _units(service: LiveCoverage, posts: list[int]) -> list[UnitPosition]:
    return [UnitPosition(f"U{i}", service.node_point(int(service.post_nodes[p])))
            for i, p in enumerate(posts)]


def test_reading_shares_equal_the_planners_coverage(service: LiveCoverage) -> None:
    units = _units(service, [0, 3, 7])
    reading = service.reading(units, AT)
    planner = service.planner
    assert hour_label(reading.hour_of_week) == "Tue 14:00"
    weights = service.weights(reading.hour_of_week)
    np.testing.assert_allclose(reading.demand, weights)
    nodes = service.post_nodes[[0, 3, 7]]
    for minutes in (8.0, 12.0):
        cover = planner.coverage(nodes, weights, minutes)
        assert reading.shares[minutes] == pytest.approx(cover.share)
        assert np.array_equal(reading.covered[minutes], cover.covered)
        assert reading.best[minutes] >= reading.shares[minutes] - 1e-12
        assert reading.targets[minutes] == pytest.approx(0.9 * reading.best[minutes])
    assert reading.units == ("U0", "U1", "U2")
    assert reading.expected_calls == pytest.approx(weights.sum())


def test_pooling_off_is_the_hour_of_weeks_own_demand(service: LiveCoverage) -> None:
    plain = LiveCoverage(service.planner, service.demand, service.posts, pool_hours=0,
                         all_days=False)
    hour = plain.hour_of_week(AT)
    np.testing.assert_allclose(plain.weights(hour), service.demand.hour(hour))
    # Pooling keeps the hour's own total and spreads it over more cells.
    assert service.weights(hour).sum() == pytest.approx(service.demand.hour(hour).sum())
    assert (service.weights(hour) > 0).sum() >= (plain.weights(hour) > 0).sum()


def test_unit_costs_equal_the_planners_coverage_costs(service: LiveCoverage) -> None:
    units = _units(service, [0, 1, 5, 5])  # two units at one post cost nothing each
    costs = service.unit_costs(units, AT)
    expected = service.planner.coverage_costs(
        service.post_nodes[[0, 1, 5, 5]], service.weights(service.hour_of_week(AT)), 12.0)
    assert list(costs) == ["U0", "U1", "U2", "U3"]
    np.testing.assert_allclose(list(costs.values()), expected.cost_share)
    assert costs["U2"] == costs["U3"] == 0.0


def test_move_up_is_suggested_below_target_only(service: LiveCoverage) -> None:
    # Two units at the same post: the second one is wasted there.
    units = _units(service, [2, 2])
    strict = LiveCoverage(service.planner, service.demand, service.posts, target_share=1.0)
    reading = strict.reading(units, AT)
    move = reading.move_up
    assert move is not None and move.unit_id in {"U0", "U1"}
    expected = service.planner.move_up(service.post_nodes[[2, 2]], service.post_nodes,
                                       strict.weights(reading.hour_of_week), 12.0,
                                       target_share=1.0, max_drive_min=15.0)
    assert expected is not None
    assert move.post_id == service.posts[expected.post].post_id
    assert move.after == pytest.approx(expected.after) and move.after > move.before
    assert move.before == pytest.approx(reading.shares[12.0])
    lenient = LiveCoverage(service.planner, service.demand, service.posts, target_share=0.01)
    assert lenient.reading(units, AT).move_up is None


def test_no_units_cover_nothing_and_far_units_are_left_out(service: LiveCoverage) -> None:
    empty = service.reading([], AT)
    assert empty.shares[12.0] == 0.0 and empty.move_up is None and empty.units == ()
    far = [UnitPosition("far", GeoPoint(0.0, 0.0))]
    assert service.reading(far, AT).units == ()
    assert service.unit_costs(far, AT) == {}


def test_a_reading_takes_a_few_milliseconds(service: LiveCoverage) -> None:
    units = _units(service, [0, 2, 4, 6, 8])
    service.reading(units, AT)
    began = time.perf_counter()
    for _ in range(5):
        service.reading(units, AT)
        service.unit_costs(units, AT)
    assert (time.perf_counter() - began) / 5 < 0.2  # generous: a loaded CI box


def test_bad_targets_are_refused(service: LiveCoverage) -> None:
    with pytest.raises(PlanningError, match="target share"):
        LiveCoverage(service.planner, service.demand, service.posts, target_share=1.5)
