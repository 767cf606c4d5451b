"""Integrity of the packaged code tables, and errors for broken agency tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from heartops.core.codes import (
    ANY_STATUS,
    CallLink,
    CallStep,
    Priority,
    ScreenReason,
    default_tables,
    load_tables,
    packaged_tables_dir,
)
from heartops.core.errors import TableError, UnknownCodeError

TABLES = default_tables()

REQUIRED_STATUSES = ("available", "dispatched", "en_route", "on_scene", "transporting",
                     "at_destination", "out_of_service", "emergency")


def test_tables_ship_inside_the_package() -> None:
    names = {entry.name for entry in packaged_tables_dir().iterdir()}
    assert {"programs.toml", "unit_statuses.csv", "unit_status_transitions.csv",
            "call_types.csv", "call_flags.csv", "dispositions.csv", "capabilities.csv",
            "care_needs.csv", "screen_reasons.csv"} <= names


def test_every_status_has_apco_code_colour_key_and_shape() -> None:
    assert set(REQUIRED_STATUSES) <= set(TABLES.statuses)
    keys = [s.key.lower() for s in TABLES.statuses.values()]
    assert len(keys) == len(set(keys))
    for status in TABLES.statuses.values():
        assert status.apco_code and status.label and status.shape
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", status.colour)
    colours = [s.colour.lower() for s in TABLES.statuses.values()]
    assert len(colours) == len(set(colours)), "each status needs its own colour"


def test_status_semantics_match_console_conventions() -> None:
    status = TABLES.status
    assert status("available").assignable
    assert [s.code for s in TABLES.statuses.values() if s.assignable] == ["available"]
    assert status("emergency").emergency and status("emergency").flashing
    assert status("emergency").call is CallLink.KEPT
    assert status("on_scene").check_in_timer
    assert status("dispatched").call_step is CallStep.DISPATCHED
    assert status("transporting").call_step is CallStep.TRANSPORT
    assert status("available").call is CallLink.NONE
    assert TABLES.dispatch_status == "dispatched"
    assert TABLES.emergency_status == "emergency"
    assert TABLES.status_for_key("s").code == "on_scene"


def test_transitions_reference_known_statuses_and_emergency_is_reachable_everywhere() -> None:
    for source, target in TABLES.transitions:
        assert source in TABLES.statuses or source == ANY_STATUS
        assert target in TABLES.statuses
    for code in TABLES.statuses:
        assert TABLES.next_statuses(code), f"no way out of {code}"
        if code != "emergency":
            assert TABLES.can_transition(code, "emergency")


def test_call_types_reference_dispatchable_programs() -> None:
    dispatchable = {p.code for p in TABLES.dispatchable_programs}
    assert dispatchable == {"CCD", "CRT", "COR"}
    for kind in TABLES.call_types.values():
        assert kind.programs <= dispatchable
        assert isinstance(kind.default_priority, Priority)
        assert kind.requires <= set(TABLES.capabilities)


def test_call_types_cover_the_published_top_types() -> None:
    takes = {code: kind.programs for code, kind in TABLES.call_types.items()}
    for code in ("trespass", "welfare_check", "mental_health_crisis", "assist_person",
                 "nuisance_intoxicated", "suicide_threat"):
        assert "CRT" in takes[code], code
    for code in ("disturbance", "trespass", "domestic_violence", "involuntary_commitment",
                 "mental_health_crisis", "harassment_threats"):
        assert "COR" in takes[code], code
    for code in ("crisis_call_diversion", "mental_health_crisis", "suicide_threat"):
        assert "CCD" in takes[code], code
    for code in ("assault_in_progress", "shots_fired", "traffic_accident_injury"):
        assert not TABLES.call_type(code).heart_eligible, code


def test_flags_and_reasons() -> None:
    weapon = TABLES.flag("weapon")
    assert weapon.reason is ScreenReason.WEAPON
    assert "CRT" in weapon.excludes and "COR" not in weapon.excludes
    risk = TABLES.flag("imminent_risk_to_others")
    assert risk.reason is ScreenReason.IMMINENT_RISK_TO_OTHERS and "CRT" in risk.excludes
    assert set(TABLES.reason_labels) == set(ScreenReason)
    for p in TABLES.programs.values():
        assert "P" in p.excluded_priorities


def test_dispositions_cover_the_required_outcomes() -> None:
    for code in ("resolved_by_phone", "transported", "pd_backup_requested", "ems_requested",
                 "connected_to_care", "referred_to_care_navigation"):
        assert code in TABLES.dispositions
    assert TABLES.disposition("transported").needs_destination
    assert TABLES.disposition("transported").transport
    assert TABLES.disposition("referred_to_care_navigation").follow_up
    assert TABLES.disposition("resolved_by_phone").by_phone
    assert TABLES.disposition("pd_backup_requested").pd_backup
    assert TABLES.disposition("ems_requested").ems


def test_program_team_roles_are_role_capabilities() -> None:
    assert TABLES.program("CRT").team_roles == ("clinician", "peer_support", "emt")
    assert "police_officer" in TABLES.program("COR").team_roles
    for p in TABLES.programs.values():
        for role in p.team_roles:
            assert TABLES.capability(role).kind == "role"
    assert TABLES.capability("spanish").phrase == "speaks Spanish"
    assert set(TABLES.care_needs) == {"behavioral_healthcare", "housing", "food_security",
                                      "substance_use_support", "physical_healthcare", "benefits"}


def test_unknown_code_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCodeError, match="unknown call type 'bank_robbery'; known: "):
        TABLES.call_type("bank_robbery")
    assert Priority.parse("p") is Priority.P and Priority.parse(2) is Priority.TWO
    assert sorted(Priority, key=lambda p: p.rank)[0] is Priority.P
    with pytest.raises(UnknownCodeError):
        Priority.parse("4")


def _copy_tables(tmp_path: Path) -> Path:
    source = packaged_tables_dir()
    for entry in source.iterdir():
        if entry.name.endswith((".csv", ".toml")):
            (tmp_path / entry.name).write_text(entry.read_text(encoding="utf-8"),
                                               encoding="utf-8")
    return tmp_path


def test_copied_tables_load_identically(tmp_path: Path) -> None:
    tables = load_tables(_copy_tables(tmp_path))
    assert tables.statuses == TABLES.statuses
    assert tables.call_types == TABLES.call_types


@pytest.mark.parametrize(("name", "find", "replace", "message"), [
    ("unit_status_transitions.csv", "en_route,on_scene,arrived", "en_route,onscene,arrived",
     "unknown status 'onscene'"),
    ("unit_statuses.csv", "#2e7d32", "green", "colour must be #rrggbb"),
    ("unit_statuses.csv", ",O,false,none", ",A,false,none", "key 'a' is used by more than one"),
    ("call_types.csv", "welfare_check,Welfare check,2,CRT", "welfare_check,Welfare check,2,XYZ",
     "'XYZ' is not a dispatchable program"),
    ("call_types.csv", "welfare_check,Welfare check,2,", "welfare_check,Welfare check,7,",
     "unknown priority '7'"),
    ("call_flags.csv", "CRT CCD,WEAPON", "CRT CCD,GUN", "reason 'GUN' is not one of"),
    ("unit_status_transitions.csv", "*,emergency", "available,emergency",
     "emergency is not reachable from"),
])
def test_broken_tables_are_refused_with_the_reason(tmp_path: Path, name: str, find: str,
                                                   replace: str, message: str) -> None:
    directory = _copy_tables(tmp_path)
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert find in text
    path.write_text(text.replace(find, replace, 1), encoding="utf-8")
    with pytest.raises(TableError, match=re.escape(message)):
        load_tables(directory)


def test_missing_column_is_named(tmp_path: Path) -> None:
    directory = _copy_tables(tmp_path)
    (directory / "dispositions.csv").write_text("code,label\nx,y\n", encoding="utf-8")
    with pytest.raises(TableError, match="missing column"):
        load_tables(directory)
