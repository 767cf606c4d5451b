"""Intervals and demand on the real Seattle PD samples, against values computed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from heartops.analysis.demand import demand_report, screen_calls
from heartops.analysis.frames import calls_frame, prepare
from heartops.core.codes import Priority, default_tables
from heartops.feeds.cad_csv import CsvCallReader, read_calls
from heartops.store import open_store
from tests.conftest import require_shared

DISPATCH = "cad/seattle_spd/spd_dispatch_2024_sample_1000.csv"
EAST_C3 = "cad/seattle_spd/spd_call_data_east_C3_2018-2023.csv"

# Hand-checked from the CSV rows (first_dispatch_delay and first_response_time are seconds
# after CAD_Event_Original_Time_Queued):
#   row 2  2024000000800: delay 131, response 516  -> queued->arrived 8.6 min, to scene 6.4167
#   row 3  2024000000801: delay 10220, response NULL -> no arrival
#   row 4  2024000000802: delay 71, response 71    -> 1.1833 min, to scene 0
#   row 5  2024000000803: delay 33, response 191   -> 3.1833 min, to scene 2.6333
#   row 6  2024000000804: delay 90, response 459   -> 7.65 min, to scene 6.15
EXPECTED = {"2024000000800": (516 / 60, 385 / 60), "2024000000801": (None, None),
            "2024000000802": (71 / 60, 0.0), "2024000000803": (191 / 60, 158 / 60),
            "2024000000804": (459 / 60, 369 / 60)}


def test_queued_to_arrived_of_the_dispatch_sample(tmp_path: Path) -> None:
    source = require_shared(DISPATCH)
    with open_store(str(tmp_path / "spd.db")) as store:
        with CsvCallReader(source, "seattle_spd_dispatch") as reader:
            store.import_calls(reader, source=reader.source)
        frame = prepare(calls_frame(store)).set_index("call_id")
    assert len(frame) == 999  # one row has (0, 0) coordinates and is rejected
    for call_id, (response, to_scene) in EXPECTED.items():
        row = frame.loc[call_id]
        for value, expected in ((row["response_min"], response),
                                (row["to_scene_min"], to_scene)):
            if expected is None:
                assert math.isnan(value), call_id
            else:
                assert value == pytest.approx(expected, abs=1e-9), call_id
    # No call of this police extract was answered by a HEART program.
    assert frame["program"].isna().all()
    # Every arrival counts from the queued time: never before it.
    assert (frame["response_min"].dropna() >= 0).all()


def test_eligible_demand_of_beat_c3() -> None:
    source = require_shared(EAST_C3)
    result = read_calls(source, "seattle_spd_calls")
    screened = screen_calls(result.calls)
    report = demand_report(screened, by=("zone",), source=result.source,
                           rejected_rows=len(result.rejected))
    # Plain recount: HEART takes a call type if any program lists it; this extract has no
    # flags, so only Priority P (SPD priority 1) excludes a HEART-type call.
    heart_types = {code for code, kind in default_tables().call_types.items()
                   if kind.programs}
    demand = [c for c in result.calls if c.call_type in heart_types]
    excluded = [c for c in demand if c.priority is Priority.P]
    assert report.total.calls == len(result.calls)
    assert report.total.demand == len(demand) > 0
    assert report.total.excluded == len(excluded)
    assert report.total.eligible == len(demand) - len(excluded)
    assert report.total.served == 0  # police answered every call
    assert (report.total.no_team + report.total.outside_hours + report.total.outside_area
            == report.total.eligible)
    assert [dict(g.key)["zone"] for g in report.groups] == ["C3"]
    assert report.groups[0].demand == report.total.demand
    # The extract has no dispatched/cleared times: no police time can be measured.
    assert report.total.police_calls_timed == 0 and report.total.police_hours_estimated is None
