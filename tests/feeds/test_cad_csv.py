"""CSV call import through mapping files: real CAD samples, every rule, and fuzzed input.

Expected counts on the real samples are computed here with plain pandas/csv logic from the
mapping's documented rules, never by calling the importer.
"""

from __future__ import annotations

import csv
import io
import math
import re
import string
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartops.core.codes import CallStep, CodeTables, Priority, load_tables
from heartops.core.errors import InputFileError, MappingError
from heartops.feeds import cad_csv
from heartops.feeds.cad_csv import (
    CsvImportResult,
    builtin_mappings,
    load_mapping,
    read_calls,
    summary_lines,
)
from tests.conftest import REPO, require_shared

MAPPINGS = REPO / "heartops" / "resources" / "mappings"
SEATTLE_BBOX = (-122.46, 47.48, -122.22, 47.74)
SF_BBOX = (-122.53, 37.60, -122.35, 37.84)
OTHER_ROW = "other,Other (not a HEART call type),3,,,Imported call of a type HEART does not take"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> CodeTables:
    """The packaged tables plus an ``other`` call type (not HEART-eligible), as the mappings need.

    Until ``other`` is in the packaged call_types.csv, it is added here in an agency override.
    """
    packaged = (REPO / "heartops" / "resources" / "tables" / "call_types.csv").read_text()
    folder = tmp_path_factory.mktemp("tables")
    if not re.search(r"^other,", packaged, re.MULTILINE):
        packaged = packaged.rstrip("\n") + "\n" + OTHER_ROW + "\n"
    (folder / "call_types.csv").write_text(packaged)
    return load_tables(folder)


def check_invariants(result: CsvImportResult) -> None:
    """Every row is accepted or rejected once, with a one-line reason."""
    numbers = [r.row_number for r in result.rejected]
    assert numbers == sorted(set(numbers))
    assert all(2 <= n <= result.rows_read + 1 for n in numbers)
    assert result.accepted_rows + len(result.rejected) == result.rows_read
    assert len(result.calls) <= result.accepted_rows
    assert len({c.call_id for c in result.calls}) == len(result.calls)
    for rejected in result.rejected:
        assert rejected.reason and "\n" not in rejected.reason and rejected.kind


# --------------------------------------------------------------------------------------------
# real samples


@pytest.mark.shared_data
def test_seattle_dispatch_sample(tables: CodeTables) -> None:
    path = require_shared("cad/seattle_spd/spd_dispatch_2024_sample_1000.csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    lat = pd.to_numeric(raw["dispatch_latitude"], errors="coerce")
    lon = pd.to_numeric(raw["Dispatch_Longitude"], errors="coerce")
    null = raw.isin(["NULL", ""])
    zero = (lat == 0) & (lon == 0)
    outside = ~lon.between(SEATTLE_BBOX[0], SEATTLE_BBOX[2]) | ~lat.between(SEATTLE_BBOX[1],
                                                                          SEATTLE_BBOX[3])
    used = ["cad_id", "CAD_Event_Original_Time_Queued", "first_dispatch_delay",
            "dispatch_latitude", "Dispatch_Longitude", "priority"]
    bad = null[used].any(axis=1) | zero | outside | ~raw["priority"].isin(list("123456789"))
    expected_rejected = {i + 2 for i in raw.index[bad]}  # header is row 1

    result = read_calls(path, "seattle_spd_dispatch", tables=tables)

    check_invariants(result)
    assert result.rows_read == len(raw) == 1000
    assert {r.row_number for r in result.rejected} == expected_rejected
    assert (len(result.calls), len(result.rejected)) == (999, 1)
    assert result.reason_counts() == {"coordinates (0, 0)": int(zero.sum())}
    assert result.source == "seattle_spd_dispatch:spd_dispatch_2024_sample_1000.csv"

    first = result.calls[0]  # row 2: queued 2024-01-01 20:24:01 PST, +131 s, +516 s
    assert first.call_id == "2024000000800"
    assert first.steps == ((CallStep.RECEIVED, utc(2024, 1, 2, 4, 24, 1)),
                           (CallStep.DISPATCHED, utc(2024, 1, 2, 4, 26, 12)),
                           (CallStep.ON_SCENE, utc(2024, 1, 2, 4, 32, 37)))
    assert (first.location.lat, first.location.lon) == (47.66865279, -122.36563809)
    assert (first.call_type, first.priority) == ("other", Priority.P)
    by_row = {r.row_number: r for r in result.rejected}
    zero_row = int(raw.index[zero][0]) + 2
    assert by_row[zero_row].kind == "coordinates (0, 0)"
    no_arrival = {c.call_id: c for c in result.calls}[raw.loc[1, "cad_id"]]  # row 3: NULL
    assert no_arrival.time_of(CallStep.ON_SCENE) is None
    assert no_arrival.time_of(CallStep.DISPATCHED) is not None


SEATTLE_FORMAT = "%m/%d/%Y %I:%M:%S %p"


@pytest.mark.shared_data
def test_seattle_calls_sample(tables: CodeTables) -> None:
    path = require_shared("cad/seattle_spd/spd_call_data_east_C3_2018-2023.csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    queued = pd.to_datetime(raw["Original Time Queued"], format=SEATTLE_FORMAT, errors="coerce")
    arrived = pd.to_datetime(raw["Arrived Time"], format=SEATTLE_FORMAT, errors="coerce")
    bad = (queued.isna() | (arrived < queued)
           | ((raw["Arrived Time"] != "") & arrived.isna()))
    spec = tomllib.loads((MAPPINGS / "seattle_spd_calls.toml").read_text())["call_type"]
    type_map = {" ".join(k.split()).casefold(): v for k, v in spec["map"].items()}

    def expected_type(row: pd.Series) -> str:
        for column in spec["columns"]:
            code = type_map.get(" ".join(row[column].split()).casefold())
            if row[column] and code:
                return str(code)
        return str(spec["unmapped"])

    result = read_calls(path, "seattle_spd_calls", tables=tables)

    check_invariants(result)
    assert (result.rows_read, len(result.calls), len(result.rejected)) == (222, 222, 0)
    assert int(bad.sum()) == 0
    calls = {c.call_id: c for c in result.calls}
    types = {row["CAD Event Number"]: expected_type(row) for _, row in raw.iterrows()}
    assert {i: c.call_type for i, c in calls.items()} == types
    counts = pd.Series(list(types.values())).value_counts().to_dict()
    assert counts == {"other": 179, "disturbance": 12, "domestic_violence": 8,
                      "suicide_threat": 5, "welfare_check": 4, "assist_person": 4,
                      "harassment_threats": 3, "mental_health_crisis": 2,
                      "nuisance_intoxicated": 2, "shots_fired": 1, "traffic_accident_injury": 1,
                      "trespass": 1}

    first = calls["2023000319821"]  # 11/04/2023 6:08:26 PM PDT (the day before DST ended)
    assert first.received_at == utc(2023, 11, 5, 1, 8, 26)
    assert first.steps == ((CallStep.RECEIVED, utc(2023, 11, 5, 1, 8, 26)),)
    assert (first.priority, first.zone_id, first.call_type) == (Priority.ONE, "C3", "other")
    assert (first.location.lat, first.location.lon) == (47.6176603, -122.28112)
    arrival = [n for n in first.notes if n.text.startswith("on_scene")]
    assert [n.at for n in arrival] == [utc(2023, 11, 5, 1, 51, 6)]
    assert "Arrived Time" in arrival[0].text and "no dispatched time" in arrival[0].text
    assert "Initial Call Type: BURN - RECKLESS BURNING" in first.notes[0].text

    crisis = raw[raw["Initial Call Type"].str.startswith("SUICIDE")].iloc[0]
    assert calls[crisis["CAD Event Number"]].call_type == "suicide_threat"
    final_only = raw[(raw["Final Call Type"] == "--CRISIS COMPLAINT - GENERAL")
                     & ~raw["Initial Call Type"].str.casefold().isin(type_map)].iloc[0]
    assert calls[final_only["CAD Event Number"]].call_type == "mental_health_crisis"


SF_LOCATION = re.compile(r"^\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)$")


@pytest.mark.shared_data
def test_sf_fire_sample_groups_unit_rows_into_calls(tables: CodeTables) -> None:
    path = require_shared("cad/sf_fire/sf_fire_calls_sample_1000.csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    coords = raw["Location"].str.extract(SF_LOCATION).astype(float)
    available = pd.to_datetime(raw["AvailableDtTm"], format="%m/%d/%Y %I:%M:%S %p",
                               errors="coerce")
    bad = (coords.isna().any(axis=1)
           | ~coords[1].between(SF_BBOX[0], SF_BBOX[2]) | ~coords[0].between(SF_BBOX[1],
                                                                             SF_BBOX[3])
           | (available < pd.to_datetime(raw["CallDate"]))
           | ((raw["AvailableDtTm"] != "null") & available.isna()))
    good = raw[~bad]

    result = read_calls(path, "sf_fire", tables=tables)

    check_invariants(result)
    assert {r.row_number for r in result.rejected} == {i + 2 for i in raw.index[bad]}
    assert (result.rows_read, result.accepted_rows, len(result.calls),
            len(result.rejected)) == (1000, 1000, 961, 0)
    assert len(result.calls) == good["CallNumber"].nunique()
    calls = {c.call_id: c for c in result.calls}
    assert sum(len(c.unit_ids) for c in calls.values()) == len(good)

    first = calls["20110016"]
    assert first.received_at == utc(2002, 1, 11, 8, 0)  # CallDate, local midnight (PST)
    assert first.time_of(CallStep.CLEARED) == utc(2002, 1, 11, 9, 51, 44)
    assert (first.location.lat, first.location.lon) == (37.7895840679362, -122.428071912459)
    assert (first.unit_ids, first.call_type, first.priority) == (("T13",), "other",
                                                                Priority.ONE)
    assert first.address == "2000 Block of CALIFORNIA ST, SF" and first.zone_id == "B04"
    assert any("known to the day only: 2002-01-11 (CallDate)" in n.text for n in first.notes)

    three_units = calls["20150265"]  # B04 07:15:16 PM, T16 03:55:41 PM, UU1 07:49:05 PM
    assert three_units.unit_ids == ("B04", "T16", "UU1")
    assert three_units.time_of(CallStep.CLEARED) == utc(2002, 1, 16, 3, 49, 5)  # the latest

    assist = raw[raw["CallType"] == "Citizen Assist / Service Call"]["CallNumber"]
    assert {calls[i].call_type for i in assist} == {"assist_person"}
    gone = raw[raw["CallFinalDisposition"] == "Gone on Arrival"].iloc[0]
    gone_call = calls[gone["CallNumber"]]
    assert gone_call.dispositions == (("gone_on_arrival",) if not gone_call.is_open else ())
    open_calls = good.groupby("CallNumber")["AvailableDtTm"].agg(
        lambda s: bool((s == "null").all()))
    assert sum(c.is_open for c in calls.values()) == int(open_calls.sum())


def test_builtin_mappings_load() -> None:
    assert set(builtin_mappings()) >= {"seattle_spd_dispatch", "seattle_spd_calls", "sf_fire"}
    for name in builtin_mappings():
        mapping = load_mapping(name)
        assert mapping.name == name
        assert load_mapping(MAPPINGS / f"{name}.toml") == mapping


def test_mapping_codes_must_be_in_the_tables(tmp_path: Path) -> None:
    path = write(tmp_path, "m.toml", BASIC_MAPPING.replace('unmapped = "reject"',
                                                           'unmapped = "no_such_type"'))
    csv_path = write(tmp_path, "a.csv", "id,time,lat,lon,type\n1,2024-01-01 10:00:00,36,-78,x\n")
    with pytest.raises(MappingError, match=r"m\.toml: \[call_type\] unknown call type "
                                           r"'no_such_type'"):
        read_calls(csv_path, path)


# --------------------------------------------------------------------------------------------
# synthetic files: one rule at a time

BASIC_MAPPING = """
[source]
timezone = "America/New_York"

[call_id]
columns = ["id"]

[steps.received]
column = "time"
format = "%Y-%m-%d %H:%M:%S"

[location]
lat = "lat"
lon = "lon"
bbox = [-79.1, 35.8, -78.7, 36.2]

[call_type]
column = "type"
unmapped = "reject"

[call_type.map]
"crisis" = "mental_health_crisis"
"Welfare   CHECK" = "welfare_check"
"""

HEADER = "id,time,lat,lon,type\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def run(folder: Path, body: str | bytes, mapping: str = BASIC_MAPPING, *,
        tables: CodeTables | None = None) -> CsvImportResult:
    csv_path = write(folder, "calls.csv", body)
    map_path = write(folder, "test_map.toml", mapping)
    result = read_calls(csv_path, map_path, tables=tables)
    check_invariants(result)
    return result


def reasons(result: CsvImportResult) -> dict[int, str]:
    return {r.row_number: r.reason for r in result.rejected}


def test_good_rows_become_calls(tmp_path: Path) -> None:
    result = run(tmp_path, HEADER + "C-1,2024-01-24 10:04:05,35.99,-78.9,crisis\n"
                                    "C-2, 2024-07-04 12:00:00 ,36.0,-78.91,welfare check\n")
    assert result.rejected == [] and result.rows_read == 2
    one, two = result.calls
    assert (one.call_id, one.call_type, one.received_at) == ("C-1", "mental_health_crisis",
                                                             utc(2024, 1, 24, 15, 4, 5))
    assert (two.call_type, two.received_at) == ("welfare_check", utc(2024, 7, 4, 16, 0))
    assert one.priority == Priority.TWO  # the call type's default
    assert summary_lines(result) == ["test_map:calls.csv: 2 rows read; accepted 2, rejected 0"]


def test_each_bad_row_is_rejected_with_its_reason(tmp_path: Path) -> None:
    body = HEADER + "\n".join([
        "C-1,2024-01-24 10:04:05,35.99,-78.9,crisis",          # 2 good
        "C-2,2024-01-24 10:04:05,35.99,-78.9",                 # 3 missing cell
        "C-3,2024-01-24 10:04:05,35.99,-78.9,crisis,extra",    # 4 extra cell
        "C-4,24/01/2024 10:04,35.99,-78.9,crisis",             # 5 bad time
        "C-5,2024-02-30 10:04:05,35.99,-78.9,crisis",          # 6 no such date
        "C-6,2024-01-24 10:04:05,north,-78.9,crisis",          # 7 not a number
        "C-7,2024-01-24 10:04:05,0,0,crisis",                  # 8 (0, 0)
        "C-8,2024-01-24 10:04:05,95,-78.9,crisis",             # 9 out of range
        "C-9,2024-01-24 10:04:05,40.7,-74.0,crisis",           # 10 outside bbox
        "C-10,2024-01-24 10:04:05,35.99,-78.9,robbery",        # 11 unmapped type
        "C-1,2024-01-24 11:00:00,35.99,-78.9,crisis",          # 12 duplicate id
        ",2024-01-24 10:04:05,35.99,-78.9,crisis",             # 13 no id
        "C-13,,35.99,-78.9,crisis",                            # 14 no received time
        "C-14,2024-01-24 10:04:05,nan,-78.9,crisis",           # 15 not finite
        "",                                                    # 16 empty row
        "C-16,2024-11-03 01:30:00,35.99,-78.9,crisis",         # 17 ambiguous (DST ends)
        "C-17,2024-03-10 02:30:00,35.99,-78.9,crisis",         # 18 nonexistent (DST starts)
        "C-18,2024-01-24 10:04:05,35.99,-78.9,",               # 19 no type
    ]) + "\n"
    result = run(tmp_path, body)
    got = {r.row_number: (r.kind, r.reason) for r in result.rejected}
    assert [c.call_id for c in result.calls] == ["C-1"]
    assert got == {
        3: ("malformed row", "expected 5 cells as in the header, found 4"),
        4: ("malformed row", "expected 5 cells as in the header, found 6"),
        5: ("bad time", "received time '24/01/2024 10:04' in column 'time' does not match "
                        "format '%Y-%m-%d %H:%M:%S'"),
        6: ("bad time", "received time '2024-02-30 10:04:05' in column 'time' does not match "
                        "format '%Y-%m-%d %H:%M:%S'"),
        7: ("bad coordinates", "coordinates ('north', '-78.9') in 'lat/lon' are not numbers"),
        8: ("coordinates (0, 0)", "coordinates are (0, 0): no location"),
        9: ("bad coordinates", "coordinates out of range: lat 95.0, lon -78.9"),
        10: ("outside bbox", "coordinates (40.7, -74.0) are outside the mapping's bbox "
                             "[-79.1, 35.8, -78.7, 36.2]"),
        11: ("unmapped call type", "call type not in the mapping: type 'robbery'"),
        12: ("duplicate call id", "call id 'C-1' is already on row 2"),
        13: ("missing call id", "no call id in column 'id'"),
        14: ("missing received time", "no received time in column 'time'"),
        15: ("bad coordinates", "coordinates (nan, -78.9) are not finite"),
        16: ("malformed row", "empty row"),
        17: ("ambiguous local time", "received ('time'): 2024-11-03 01:30:00 is ambiguous in "
                                     "America/New_York (clocks went back; it happened at 05:30Z "
                                     "and 06:30Z); resolve with ambiguous='earlier' or 'later'"),
        18: ("nonexistent local time", "received ('time'): 2024-03-10 02:30:00 does not exist "
                                       "in America/New_York (clocks went forward by 1:00:00); "
                                       "resolve with nonexistent='shift_forward'"),
        19: ("unmapped call type", "no call type in 'type'"),
    }
    lines = summary_lines(result, examples=2)
    assert lines[0].startswith("test_map:calls.csv: 18 rows read; accepted 1, rejected 17 (")
    assert "malformed row: 3" in lines[0] and "bad time: 2" in lines[0]
    assert lines[1:] == ["  row 3: expected 5 cells as in the header, found 4",
                         "  row 4: expected 5 cells as in the header, found 6",
                         "  ... and 15 more rejected rows"]


def test_dst_times_import_when_the_mapping_says_how(tmp_path: Path) -> None:
    mapping = BASIC_MAPPING.replace('timezone = "America/New_York"',
                                    'timezone = "America/New_York"\nambiguous = "later"\n'
                                    'nonexistent = "shift_forward"')
    result = run(tmp_path, HEADER + "A,2024-11-03 01:30:00,35.99,-78.9,crisis\n"
                                    "B,2024-03-10 02:30:00,35.99,-78.9,crisis\n", mapping)
    assert [c.received_at for c in result.calls] == [utc(2024, 11, 3, 6, 30),
                                                     utc(2024, 3, 10, 7, 0)]


def test_step_columns_durations_and_order(tmp_path: Path) -> None:
    mapping = BASIC_MAPPING + """
[steps.dispatched]
column = "sent"
after = "received"
unit = "minutes"

[steps.on_scene]
column = "arrived"
format = "iso"

[steps.cleared]
column = "clear"
format = "epoch"
"""
    header = "id,time,lat,lon,type,sent,arrived,clear\n"
    body = header + "\n".join([
        "A,2024-01-24 10:00:00,36,-78.9,crisis,1.5,2024-01-24T15:05:00Z,1706109000",  # 2 good
        "B,2024-01-24 10:00:00,36,-78.9,crisis,-2,,",                                # 3 negative
        "C,2024-01-24 10:00:00,36,-78.9,crisis,x,,",                                 # 4 NaN-ish
        "D,2024-01-24 10:00:00,36,-78.9,crisis,10,2024-01-24T15:05:00+00:00,",       # 5 order
        "E,2024-01-24 10:00:00,36,-78.9,crisis,,2024-01-24T10:05:00,",               # 6 prereq
        "F,2024-01-24 10:00:00,36,-78.9,crisis,inf,,",                               # 7 infinite
    ]) + "\n"
    result = run(tmp_path, body, mapping)
    (call,) = result.calls
    assert call.steps == ((CallStep.RECEIVED, utc(2024, 1, 24, 15, 0)),
                          (CallStep.DISPATCHED, utc(2024, 1, 24, 15, 1, 30)),
                          (CallStep.ON_SCENE, utc(2024, 1, 24, 15, 5)),
                          (CallStep.CLEARED, utc(2024, 1, 24, 15, 10)))
    assert reasons(result) == {
        3: "dispatched duration '-2' in column 'sent' is negative",
        4: "dispatched duration 'x' in column 'sent' is not a number",
        5: "on_scene 2024-01-24T15:05:00Z is earlier than dispatched 2024-01-24T15:10:00Z",
        6: "call E: on_scene time (arrived) but no dispatched time; the call lifecycle needs "
           "it first",
        7: "dispatched duration 'inf' in column 'sent' is not a number",
    }
    # "note" keeps call E, its arrival (local 10:05 EST = 15:05Z) as a note at that time.
    noted = run(tmp_path, body, mapping.replace(
        "[location]", '[validation]\nstep_without_prerequisite = "note"\n\n[location]'))
    call_e = next(c for c in noted.calls if c.call_id == "E")
    assert call_e.steps == ((CallStep.RECEIVED, utc(2024, 1, 24, 15, 0)),)
    assert [(n.at, n.author) for n in call_e.notes] == [(utc(2024, 1, 24, 15, 5), "import")]


GROUPED = """
[source]
null = ["null", ""]

[call_id]
columns = ["call", "agency"]
group = true

[steps.received]
column = "received"
format = "iso"

[steps.dispatched]
column = "dispatched"
format = "iso"

[steps.cleared]
column = "available"
format = "iso"

[location]
column = "where"
pattern = '^\\((?P<lat>[^,]+), (?P<lon>[^)]+)\\)$'

[call_type]
constant = "welfare_check"

[priority]
column = "prio"
unmapped = "type_default"
[priority.map]
"E" = "1"
"3" = "p"

[units]
column = "unit"

[disposition]
column = "disp"
unmapped = "reject"
[disposition.map]
"GOA" = "gone_on_arrival"
"OK" = "resolved_on_scene"
"""


def test_grouped_rows_merge_into_one_call_per_id(tmp_path: Path) -> None:
    header = "call,agency,unit,received,dispatched,available,where,prio,disp\n"
    body = header + "\n".join([
        "7,F,E1,2024-01-24T10:00:00Z,2024-01-24T10:02:00Z,2024-01-24T11:00:00Z,"
        "\"(36.0, -78.9)\",E,OK",
        "8,F,M2,2024-01-24T10:10:00Z,null,null,\"(36.1, -78.8)\",2,OK",
        "7,F,M1,2024-01-24T10:00:05Z,2024-01-24T10:01:00Z,2024-01-24T11:30:00Z,"
        "\"(36.0, -78.9)\",E,OK",
        "7,F,T3,2024-01-24T10:00:00Z,null,2024-01-24T10:30:00Z,\"(36.0, -78.9)\",3,OK",   # conflict
        "7,F,E1,2024-01-24T10:00:00Z,null,null,\"(36.0, -78.9)\",E,OK",                # same unit
        "9,F,E9,2024-01-24T10:00:00Z,2024-01-24T09:00:00Z,null,\"(36.0, -78.9)\",E,OK",  # order
        "10,F,E9,2024-01-24T10:00:00Z,null,null,\"36.0 -78.9\",E,OK",                  # pattern
        "11,F,E9,2024-01-24T10:00:00Z,null,2024-01-24T10:40:00Z,\"(36.0, -78.9)\",E,XX",  # disp
        "12,F,E9,2024-01-24T10:00:00Z,2024-01-24T10:05:00Z,null,\"(36.0, -78.9)\",E,OK",
        "12,F,E8,2024-01-24T11:00:00Z,2024-01-24T11:05:00Z,2024-01-24T11:30:00Z,"
        "\"(36.0, -78.9)\",E,OK",
    ]) + "\n"
    result = run(tmp_path, body, GROUPED)
    calls = {c.call_id: c for c in result.calls}
    assert list(calls) == ["7-F", "8-F", "12-F"]
    seven = calls["7-F"]
    assert seven.unit_ids == ("E1", "M1")
    assert seven.steps == ((CallStep.RECEIVED, utc(2024, 1, 24, 10)),       # earliest
                           (CallStep.DISPATCHED, utc(2024, 1, 24, 10, 1)),  # earliest
                           (CallStep.CLEARED, utc(2024, 1, 24, 11, 30)))    # latest
    assert seven.priority == Priority.ONE and seven.dispositions == ("resolved_on_scene",)
    assert calls["8-F"].priority == Priority.TWO and calls["8-F"].dispositions == ()  # open
    assert calls["12-F"].steps == ((CallStep.RECEIVED, utc(2024, 1, 24, 10)),
                                   (CallStep.DISPATCHED, utc(2024, 1, 24, 10, 5)),
                                   (CallStep.CLEARED, utc(2024, 1, 24, 11, 30)))
    assert reasons(result) == {
        5: "call 7-F: priority 'P' differs from '1' on row 2",
        7: "dispatched 2024-01-24T09:00:00Z is earlier than received 2024-01-24T10:00:00Z",
        8: "location '36.0 -78.9' in 'where' does not match the mapping's pattern",
        9: "disposition not in the mapping: disp 'XX'",
    }
    assert result.accepted_rows == 6 and len(result.calls) == 3


def test_grouped_call_that_breaks_the_lifecycle_rejects_all_its_rows(tmp_path: Path) -> None:
    header = "call,agency,unit,received,dispatched,available,where,prio,disp\n"
    body = header + (
        "1,F,A,2024-01-24T10:00:00Z,null,2024-01-24T10:30:00Z,\"(36.0, -78.9)\",E,OK\n"
        "1,F,B,2024-01-24T10:05:00Z,2024-01-24T10:40:00Z,null,\"(36.0, -78.9)\",E,OK\n")
    result = run(tmp_path, body, GROUPED)
    assert result.calls == []
    assert [(r.row_number, r.kind) for r in result.rejected] == [(2, "invalid call"),
                                                                 (3, "invalid call")]
    assert "cleared" in result.rejected[0].reason and "earlier than dispatched" in (
        result.rejected[0].reason)


def test_malformed_csv_records_and_bad_bytes_are_rejected_not_fatal(tmp_path: Path) -> None:
    good = "2024-01-24 10:04:05,35.99,-78.9,crisis"
    body = (HEADER + f"A,{good}\n" + f'"B"x,{good}\n' + f"C,{good}\n").encode()
    body += b"D\xff\xfe," + good.encode() + b"\n" + b"E\x00," + good.encode() + b"\n"
    body += b'F,"2024-01-24 10:04:05,35.99,-78.9,crisis\nG,' + good.encode() + b"\n"
    result = run(tmp_path, body)
    assert [c.call_id for c in result.calls] == ["A", "C"]
    got = reasons(result)
    assert got[3] == "not valid CSV: ',' expected after '\"'"
    assert got[5].startswith("call id 'D") and "not valid in the file's encoding" in got[5]
    assert got[6] == "call id 'E\\x00' contains a NUL character"
    assert got[7] == "not valid CSV: unexpected end of data (lines 7-8)"
    assert result.rows_read == 6


def test_mapping_problems_are_one_line_errors(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "a.csv", HEADER + "1,2024-01-01 10:00:00,36,-78.9,crisis\n")
    cases = {
        BASIC_MAPPING.replace("[call_id]", "[call_id]\ncolumn = 'x'"):
            r"bad\.toml: \[call_id\] unknown key 'column' \(known: columns, separator, group\)",
        BASIC_MAPPING.replace('columns = ["id"]', ""):
            r"bad\.toml: \[call_id\] missing required key 'columns'",
        BASIC_MAPPING.replace("[location]", "[locaton]"):
            r"bad\.toml: unknown key 'locaton'",
        BASIC_MAPPING.replace('format = "%Y-%m-%d %H:%M:%S"', 'format = "yyyy-mm-dd"'):
            r"\[steps\.received\] format must be a strptime pattern",
        BASIC_MAPPING.replace('"America/New_York"', '"America/Durham"'):
            r"\[source\] unknown time zone 'America/Durham'",
        BASIC_MAPPING.replace("bbox = [-79.1, 35.8, -78.7, 36.2]", "bbox = [1, 2]"):
            r"\[location\] bbox must be \[min_lon, min_lat, max_lon, max_lat\]",
        BASIC_MAPPING + '[priority]\ncolumn = "type"\n[priority.map]\n"x" = "4"\n':
            r"\[priority\] unknown priority '4'",
        BASIC_MAPPING + "[steps.on_scene]\ncolumn = 'x'\nafter = 'dispatched'\n":
            r"\[steps\.on_scene\] after = 'dispatched' needs \[steps\.dispatched\]",
        BASIC_MAPPING.replace("[steps.received]", "[steps.recieved]"):
            r"\[steps\] unknown key 'recieved'",
        "[call_id\n": r"bad\.toml: not valid TOML",
    }
    for text, message in cases.items():
        with pytest.raises(MappingError, match=message) as info:
            read_calls(csv_path, write(tmp_path, "bad.toml", text))
        assert "\n" not in str(info.value)


def test_columns_missing_from_the_header_are_all_named(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "a.csv", "id,when,lat\n1,2024-01-01 10:00:00,36\n")
    with pytest.raises(MappingError) as info:
        read_calls(csv_path, write(tmp_path, "m.toml", BASIC_MAPPING))
    assert str(info.value) == ("m.toml: columns 'time', 'lon', 'type' not in the header of "
                               "a.csv (it has: 'id', 'when', 'lat')")


def test_missing_files_and_empty_csv(tmp_path: Path) -> None:
    mapping = write(tmp_path, "m.toml", BASIC_MAPPING)
    with pytest.raises(InputFileError, match=r"CSV file not found: .*nope\.csv"):
        read_calls(tmp_path / "nope.csv", mapping)
    with pytest.raises(InputFileError, match=r"empty\.csv: no header row"):
        read_calls(write(tmp_path, "empty.csv", ""), mapping)
    with pytest.raises(MappingError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.toml")
    with pytest.raises(MappingError, match="no built-in mapping 'nope'; built-in: "):
        load_mapping("nope")


def test_reader_streams_calls_as_rows_are_read(tmp_path: Path) -> None:
    rows = "".join(f"C{i},2024-01-24 10:04:05,35.99,-78.9,{kind}\n"
                   for i, kind in enumerate(["crisis", "robbery", "crisis", "crisis"]))
    csv_path = write(tmp_path, "a.csv", HEADER + rows)
    seen = []
    with cad_csv.CsvCallReader(csv_path, write(tmp_path, "m.toml", BASIC_MAPPING)) as reader:
        for call in reader:
            seen.append((call.call_id, reader.rows_read))
        result = reader.result([])
    assert seen == [("C0", 1), ("C2", 3), ("C3", 4)]  # each call as soon as its row is read
    assert summary_lines(reader, examples=0) == [
        "m:a.csv: 4 rows read; accepted 3, rejected 1 (unmapped call type: 1)"]
    assert (result.rows_read, [r.row_number for r in result.rejected]) == (4, [3])
    assert result.source == "m:a.csv"


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[tuple[str, float | None]] = []
    rows = "".join(f"C{i},2024-01-24 10:04:05,35.99,-78.9,crisis\n" for i in range(3))
    read_calls(write(tmp_path, "a.csv", HEADER + rows), write(tmp_path, "m.toml", BASIC_MAPPING),
               progress=lambda step, fraction=None: seen.append((step, fraction)))
    assert seen[-1] == ("read 3 rows", 1.0)


# --------------------------------------------------------------------------------------------
# the fast time parser against strptime

FORMATS = ["%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%d.%m.%y %H:%M",
           "%Y-%m-%dT%H:%M:%S.%f", "%I:%M %p %m/%d/%Y", "%Y%m%d%H%M%S", "%m/%d/%Y %I:%M:%S"]


@settings(max_examples=300, deadline=None)
@given(when=st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2068, 12, 31)),
       fmt=st.sampled_from(FORMATS), lower=st.booleans())
def test_fast_parser_reads_what_strftime_writes(when: datetime, fmt: str, lower: bool) -> None:
    parse = cad_csv._compile_format(fmt)
    assert parse is not None
    text = when.strftime(fmt)
    text = text.lower() if lower else text
    assert parse(text) == datetime.strptime(text, fmt)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(alphabet=string.digits + " /:-.APMapm", max_size=24),
                      st.text(max_size=24)),
       fmt=st.sampled_from(FORMATS))
def test_fast_parser_accepts_and_refuses_like_strptime(text: str, fmt: str) -> None:
    parse = cad_csv._compile_format(fmt)
    assert parse is not None
    try:
        expected: datetime | None = datetime.strptime(text, fmt)
    except ValueError:
        expected = None
    try:
        got: datetime | None = parse(text)
    except ValueError:
        got = None
    assert got == expected


# --------------------------------------------------------------------------------------------
# fuzzing: whatever the cells hold, nothing crashes and no row is lost

CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "NULL", "0", "-0", "nan", "1e400", "36.0", "-78.9", "crisis",
                     "2024-01-24 10:04:05", "2024-11-03 01:30:00", '"', '""', "a\nb", ",",
                     "\x00", "\r"]),
)
ROW = st.lists(CELL, min_size=0, max_size=8)


def to_csv(rows: list[list[str]], *, raw_quotes: bool) -> str:
    out = io.StringIO()
    if raw_quotes:
        # Join without quoting, so quotes, commas and line breaks in cells break the CSV.
        out.write("\n".join(",".join(row) for row in rows) + "\n")
    else:
        csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def count_records(text: str) -> int:
    """Count the records a spreadsheet would show (every record, valid CSV or not)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    count = 0
    while True:
        try:
            next(reader)
        except StopIteration:
            return count - 1  # minus the header
        except csv.Error:
            pass
        count += 1


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=15), raw_quotes=st.booleans(),
       mapping_text=st.sampled_from([BASIC_MAPPING, GROUPED]))
def test_fuzzed_rows_never_crash_and_every_row_is_counted(
        tmp_path: Path, rows: list[list[str]], raw_quotes: bool, mapping_text: str) -> None:
    mapping = cad_csv._parse_mapping(tomllib.loads(mapping_text), name="fuzz", path=None)
    header = [*mapping.columns(), "spare"]
    text = ",".join(header) + "\n" + to_csv(rows, raw_quotes=raw_quotes)
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8", newline="")

    result = read_calls(path, mapping)

    check_invariants(result)
    assert result.rows_read == count_records(text)
    for call in result.calls:
        assert call.received_at.tzinfo is UTC
        assert all(at.tzinfo is UTC for _, at in call.steps)
        assert math.isfinite(call.location.lat) and (call.location.lat, call.location.lon) != (
            0, 0)


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.tuples(
    st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=10),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    st.floats(35.81, 36.19), st.floats(-79.09, -78.71),
    st.sampled_from(["crisis", "CRISIS", "welfare check"])), min_size=1, max_size=20,
    unique_by=lambda c: c[0]))
def test_valid_generated_rows_are_all_accepted_with_their_values(
        tmp_path: Path, calls: list[tuple[str, datetime, float, float, str]]) -> None:
    mapping = BASIC_MAPPING.replace('timezone = "America/New_York"',
                                    'timezone = "America/New_York"\nambiguous = "earlier"\n'
                                    'nonexistent = "shift_forward"')
    rows = [[i, when.strftime("%Y-%m-%d %H:%M:%S"), repr(lat), repr(lon), kind]
            for i, when, lat, lon, kind in calls]
    result = run(tmp_path, HEADER + to_csv(rows, raw_quotes=False), mapping)
    assert result.rejected == []
    for call, (i, when, lat, lon, kind) in zip(result.calls, calls, strict=True):
        assert (call.call_id, call.location.lat, call.location.lon) == (i, lat, lon)
        local = call.received_at.astimezone(ZoneInfo("America/New_York"))
        assert abs(local.replace(tzinfo=None) - when.replace(microsecond=0)) <= timedelta(hours=1)
        assert call.call_type == ("welfare_check" if "welfare" in kind else
                                  "mental_health_crisis")
