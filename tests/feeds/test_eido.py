"""NENA EIDO JSON: export -> import gives equal calls; malformed EIDOs are rejected with reasons."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartops.core.calls import Call, CallNote, new_call
from heartops.core.codes import CallStep, CodeTables, Priority, default_tables, load_tables
from heartops.core.errors import InputFileError
from heartops.core.geo import GeoPoint
from heartops.feeds.cad_csv import read_calls
from heartops.feeds.eido import (
    EXTENSION_KEY,
    call_to_eido,
    calls_to_json,
    eido_to_call,
    parse_eido,
    read_eido,
    write_eido,
)
from tests.conftest import REPO, require_shared

T0 = datetime(2024, 6, 3, 18, 0, 0, 123_456, tzinfo=UTC)
HERE = GeoPoint(35.99403718, -78.89862123)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def full_call() -> Call:
    """A call that uses every field: steps, close with destination, units, notes, flags."""
    call = new_call("DUR-2024-000123", call_type="mental_health_crisis", location=HERE,
                    received_at=T0, priority="1", zone_id="212", flags={"intoxication"},
                    needs={"spanish", "naloxone"}, address="101 City Hall Plaza, Durham & <NC>")
    call = call.record(CallStep.TRIAGED, at(1)).record(CallStep.DISPATCHED, at(2))
    call = call.add_unit("CRT-1").add_unit("CRT-2")
    call = call.record(CallStep.EN_ROUTE, at(3)).record(CallStep.ON_SCENE, at(11))
    call = call.record(CallStep.TRANSPORT, at(30))
    call = call.add_note(at(12), 'Person calm; "agrees" to go <b>voluntarily</b> & safely',
                         author="CRT-1")
    call = call.add_note(at(13), "Family on scene\nsecond line")
    return call.close(at(55), dispositions=["connected_to_care", "transported"],
                      destination="Durham Recovery Response Center")


def test_full_call_round_trips_through_eido(tmp_path: Path) -> None:
    call = full_call()
    doc = call_to_eido(call, issuer="heart.durhamnc.gov")

    incident = doc["incidentComponent"]
    assert incident["incidentTrackingIdentifier"] == (
        "urn:emergency:uid:incidentid:DUR-2024-000123:heart.durhamnc.gov")
    assert incident["incidentTypeInternalCode"] == "mental_health_crisis"
    assert incident["incidentStatusCommonRegistryText"] == ["Closed"]
    assert incident["incidentPriorityInternalText"] == "1"
    assert incident["incidentCommonPriorityNumber"] == 8
    assert incident["locationReference"] == [{"$ref": "location-1"}]
    assert "<gml:pos>35.99403718 -78.89862123</gml:pos>" in (
        doc["locationComponent"][0]["locationByValue"])
    assert doc["dispatchComponent"][0]["emergencyResourceReference"] == [
        {"$ref": "resource-1"}, {"$ref": "resource-2"}]
    assert [r["emergencyResourceName"] for r in doc["emergencyResourceComponent"]] == [
        "CRT-1", "CRT-2"]
    assert doc["lastUpdateTimeStamp"] == "2024-06-03T18:55:00.123456+00:00"

    assert eido_to_call(json.loads(json.dumps(doc))) == call
    path = write_eido([call, call.add_note(at(60), "follow-up")], tmp_path / "out.json")
    back = read_eido(path)
    assert back.rejected == [] and back.calls[0] == call and back.read == 2


def test_minimal_open_call_round_trips() -> None:
    call = new_call("A", call_type="welfare_check", location=GeoPoint(0.5, -0.25),
                    received_at=datetime(2024, 1, 1, tzinfo=UTC))
    doc = call_to_eido(call)
    assert doc["incidentComponent"]["incidentStatusCommonRegistryText"] == ["Active"]
    assert "dispatchComponent" not in doc and "notesComponent" not in doc
    assert parse_eido(json.dumps(doc)).calls == [call]


@pytest.mark.shared_data
def test_real_imported_calls_round_trip(tmp_path: Path) -> None:
    packaged = (REPO / "heartops" / "resources" / "tables" / "call_types.csv").read_text()
    if not re.search(r"^other,", packaged, re.MULTILINE):
        packaged = packaged.rstrip("\n") + "\nother,Other,3,,,Not a HEART call type\n"
    (tmp_path / "call_types.csv").write_text(packaged)
    tables = load_tables(tmp_path)
    calls: list[Call] = []
    for name, relative in (("sf_fire", "cad/sf_fire/sf_fire_calls_sample_1000.csv"),
                           ("seattle_spd_calls",
                            "cad/seattle_spd/spd_call_data_east_C3_2018-2023.csv"),
                           ("seattle_spd_dispatch",
                            "cad/seattle_spd/spd_dispatch_2024_sample_1000.csv")):
        calls += read_calls(require_shared(relative), name, tables=tables).calls
    result = parse_eido(calls_to_json(calls, tables=tables), tables=tables)
    assert result.rejected == []
    assert result.calls == calls


TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
IDS = st.text(st.characters(exclude_categories=["Cs", "Zs", "Cc"]), min_size=1, max_size=12)


@st.composite
def calls(draw: st.DrawFn) -> Call:
    tables = default_tables()
    received = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                                 timezones=st.just(UTC)))
    call = new_call(
        draw(IDS), call_type=draw(st.sampled_from(sorted(tables.call_types))),
        location=GeoPoint(draw(st.floats(-90, 90)), draw(st.floats(-180, 180))),
        received_at=received, priority=draw(st.sampled_from(list(Priority))),
        zone_id=draw(st.none() | TEXT), address=draw(TEXT),
        flags=draw(st.frozensets(st.sampled_from(sorted(tables.flags)))),
        needs=draw(st.frozensets(st.sampled_from(sorted(tables.capabilities)))))
    moment = received
    for step in (CallStep.TRIAGED, CallStep.DISPATCHED, CallStep.EN_ROUTE, CallStep.ON_SCENE):
        if draw(st.booleans()) and (step is not CallStep.EN_ROUTE
                                    or call.time_of(CallStep.DISPATCHED)):
            if step is CallStep.ON_SCENE and not call.time_of(CallStep.DISPATCHED):
                continue
            moment += timedelta(seconds=draw(st.integers(0, 7200)), microseconds=draw(
                st.integers(0, 999_999)))
            call = call.record(step, moment)
    for unit in draw(st.lists(IDS, max_size=3)):
        call = call.add_unit(unit)
    for _ in range(draw(st.integers(0, 3))):
        text = draw(TEXT.filter(str.strip))
        call = call.add_note(moment + timedelta(minutes=draw(st.integers(0, 90))), text,
                             author=draw(TEXT))
    if draw(st.booleans()):
        codes = draw(st.lists(st.sampled_from(sorted(tables.dispositions)), min_size=1,
                              max_size=3, unique=True))
        call = call.close(moment + timedelta(minutes=1), dispositions=codes,
                          destination=draw(TEXT.filter(str.strip)))
    return call


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=calls())
def test_generated_calls_round_trip(call: Call) -> None:
    assert parse_eido(calls_to_json([call])).calls == [call]


# --------------------------------------------------------------------------------------------
# malformed EIDOs


def broken(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(call_to_eido(full_call()))
    change(doc)
    return doc


def setitem(path: tuple[Any, ...], value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


_DELETE = object()


@pytest.mark.parametrize(("change", "reason"), [
    (setitem(("incidentComponent",), _DELETE), "no incidentComponent object"),
    (setitem(("incidentComponent",), [1, 2]), "expected one incidentComponent, found 2"),
    (setitem(("incidentComponent", "internalIncidentId"), 12), "no usable incident id"),
    (setitem(("incidentComponent", "incidentTypeInternalCode"), "Burglary"),
     "incident type 'Burglary' is not a heartops call type"),
    (setitem(("incidentComponent", "locationReference"), [{"$ref": "nowhere"}]),
     "locationReference points at 'nowhere', which is not in the EIDO"),
    (setitem(("incidentComponent", "locationReference"), _DELETE), "no locationReference"),
    (setitem(("locationComponent", 0, "locationByValue"), "<gml:pos>1 2"),
     "locationByValue is not valid XML"),
    (setitem(("locationComponent", 0, "locationByValue"),
              '<!DOCTYPE x [<!ENTITY a "b">]><x/>'), "must not declare a DOCTYPE"),
    (setitem(("locationComponent", 0, "locationByValue"),
              '<p xmlns:gml="http://www.opengis.net/gml"><gml:pos>north 2</gml:pos></p>'),
     "gml:pos 'north 2' is not 'lat lon' numbers"),
    (setitem(("locationComponent", 0, "locationByValue"),
              '<p xmlns:gml="http://www.opengis.net/gml"><gml:pos>91 2</gml:pos></p>'),
     "coordinates out of range"),
    (setitem((EXTENSION_KEY, "steps", 0, "timeStamp"), "2024-06-03T18:00:00"),
     "received time '2024-06-03T18:00:00' has no UTC offset"),
    (setitem((EXTENSION_KEY, "steps", 1, "step"), "landed"), "unknown lifecycle step 'landed'"),
    (setitem((EXTENSION_KEY, "steps", 2, "timeStamp"), "2024-06-03T17:00:00Z"),
     "earlier than triaged"),
    (setitem((EXTENSION_KEY,), _DELETE),
     "no received time (neither x-heartops.steps nor callComponent.callStartTimestamp)"),
    (setitem((EXTENSION_KEY, "flags"), ["armed"]), "unknown call flag 'armed'"),
    (setitem(("incidentComponent", "dispositionComponent", 0,
              "dispositionCommonRegistryCode"), "vanished"), "unknown disposition 'vanished'"),
    (setitem(("incidentComponent", "incidentPriorityInternalText"), "urgent"),
     "unknown priority 'urgent'"),
    (setitem(("notesComponent",), "notes"), "notesComponent must be a list of objects"),
    (setitem(("dispatchComponent", 0, "emergencyResourceReference"), [{"$ref": 5}]),
     "emergencyResourceReference is not a {\"$ref\": id} reference"),
])
def test_malformed_eidos_are_rejected_with_a_reason(change: Any, reason: str) -> None:
    text = json.dumps([call_to_eido(full_call()), broken(change)])
    result = parse_eido(text)
    assert len(result.calls) == 1 and len(result.rejected) == 1
    rejected = result.rejected[0]
    assert rejected.number == 2
    assert reason in rejected.reason, rejected.reason
    assert "\n" not in rejected.reason


def test_foreign_eido_without_extension_uses_call_start_and_type_map() -> None:
    doc = {
        "eidoVersion": "1.0",
        "incidentComponent": [{
            "incidentTrackingIdentifier": "urn:emergency:uid:incidentid:F-77:psap.example.gov",
            "incidentTypeCommonRegistryText": "Behavioral Health",
            "incidentCommonPriorityNumber": 6,
            "locationReference": {"$ref": "#loc-1"}}],
        "locationComponent": [{"$id": "loc-1", "locationByValue": (
            '<location xmlns:gml="http://www.opengis.net/gml"><gml:Point>'
            "<gml:pos>32.590 -116.495</gml:pos></gml:Point></location>")}],
        "callComponent": [{"$id": "c1", "callStartTimestamp": "2024-05-15T10:30:00-07:00"}],
    }
    result = parse_eido(json.dumps(doc), type_map={"Behavioral Health": "mental_health_crisis"})
    (call,) = result.calls
    assert (call.call_id, call.call_type, call.priority) == ("F-77", "mental_health_crisis",
                                                             Priority.TWO)
    assert call.received_at == datetime(2024, 5, 15, 17, 30, tzinfo=UTC)
    assert (call.location.lat, call.location.lon) == (32.59, -116.495)
    assert parse_eido(json.dumps(doc)).rejected[0].reason.endswith("(pass type_map)")


def test_files_that_are_not_eido_json(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="EIDO file not found"):
        read_eido(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputFileError, match=r"bad\.json: not valid JSON"):
        read_eido(bad)
    with pytest.raises(InputFileError, match="expected an EIDO object or an array of them, got "
                                             "a number"):
        parse_eido("42")
    with pytest.raises(InputFileError, match="not valid JSON"):
        parse_eido('{"lat": NaN}')
    assert parse_eido("[]").read == 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["incidentComponent", "locationComponent", "$id", "$ref",
                         "locationReference", EXTENSION_KEY, "steps", "step", "timeStamp",
                         "internalIncidentId", "incidentTypeInternalCode",
                         "locationByValue", "notesComponent", "dispatchComponent",
                         "emergencyResourceReference", "x"]) | st.text(max_size=6),
        children, max_size=5),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(JSON, max_size=4))
def test_random_json_never_crashes(docs: list[Any]) -> None:
    result = parse_eido(json.dumps(docs))
    assert result.read == len(docs)
    assert all(r.reason and "\n" not in r.reason for r in result.rejected)


@settings(max_examples=200, deadline=None)
@given(path_index=st.integers(0, 10_000), value=JSON)
def test_damaging_any_field_of_a_real_eido_never_crashes(path_index: int, value: Any) -> None:
    doc = call_to_eido(full_call())
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, prefix: tuple[Any, ...]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
            node, list) else []
        for key, child in items:
            paths.append((*prefix, key))
            walk(child, (*prefix, key))

    walk(doc, ())
    setitem(paths[path_index % len(paths)], value)(doc)
    result = parse_eido(json.dumps(doc))
    assert result.read == 1
    if result.calls:
        assert isinstance(result.calls[0], Call)
        assert all(isinstance(n, CallNote) for n in result.calls[0].notes)


def test_tables_parameter_is_used(tmp_path: Path) -> None:
    tables: CodeTables = default_tables()
    assert eido_to_call(call_to_eido(full_call(), tables=tables), tables=tables) == full_call()
