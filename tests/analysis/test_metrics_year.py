"""A simulated year, stored and measured by heartops.analysis, lands near PRODUCT.md's table."""

from __future__ import annotations

import pytest

from heartops.analysis.metrics import compute_metrics
from heartops.store import open_store
from tests.conftest import YearRun

# PRODUCT.md, "The metrics the department publishes".
PUBLISHED = {  # calls, min to scene, min on scene, total min, % transport
    "CCD": (5161, 1.37, 27.94, 29.31, 3.76),
    "CRT": (14241, 12.19, 34.06, 46.25, 6.52),
    "COR": (5372, 12.67, 51.99, 64.66, 7.80),
}
CARE = (3618, 33.0, 2.9)  # neighbors supported, % connected, days to first follow-up


@pytest.mark.slow
def test_a_stored_simulated_year_reproduces_the_published_table(
    simulated_year: YearRun, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    history = simulated_year.history
    with open_store(str(tmp_path_factory.mktemp("year") / "year.db")) as store:
        # What heartops.history writes after a run, through the same public Store calls.
        store.add_units(simulated_year.roster.units, at=simulated_year.start, desk="t",
                        operator="t")
        latest = {c.call_id: c for c in history.received} | {c.call_id: c
                                                             for c in history.closed}
        store.import_calls(list(latest.values()), source="year")
        store.record_ledger(history.ledger_entries)
        store.import_history(safety_events=history.safety_events,
                             follow_ups=list(history.latest_follow_ups().values()),
                             source="year")
        report = compute_metrics(store)
    groups = {g.value("program"): g for g in report.groups}
    print("\n" + "\n".join(f"{p}: {g.calls} calls, {g.to_scene.mean:.2f} / "
                           f"{g.on_scene.mean:.2f} / {g.total.mean:.2f} min, "
                           f"{g.transport_pct:.2f}% transport" for p, g in groups.items()))
    assert set(groups) == set(PUBLISHED)
    total = sum(g.calls for g in groups.values())
    published_total = sum(row[0] for row in PUBLISHED.values())
    for program, (calls, to_scene, on_scene, total_min, transport) in PUBLISHED.items():
        group = groups[program]
        assert group.calls / total == pytest.approx(calls / published_total, abs=0.03)
        assert group.calls == pytest.approx(calls, rel=0.15)
        assert group.to_scene.mean == pytest.approx(to_scene, rel=0.25)
        assert group.on_scene.mean == pytest.approx(on_scene, rel=0.25)
        assert group.total.mean == pytest.approx(total_min, rel=0.25)
        assert group.transport_pct == pytest.approx(transport, abs=3.0)
        assert group.pd_backup_pct < 0.5  # HEART asks for emergent backup in < 0.5% of calls
        assert group.to_scene.median is not None and group.to_scene.p90 is not None
        assert group.to_scene.median <= group.to_scene.p90
    assert groups["CCD"].phone_pct == pytest.approx(66.0, abs=6.0)
    neighbors, connected, days = CARE
    assert report.care.neighbors_supported == pytest.approx(neighbors, rel=0.25)
    assert report.care.connected_pct == pytest.approx(connected, abs=10.0)
    assert report.care.mean_days_to_first_follow_up == pytest.approx(days, rel=0.25)
