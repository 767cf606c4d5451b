"""The eligibility screen and the unmet-demand ledger."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from heartops.core.calls import Call, new_call
from heartops.core.codes import CodeTables, ScreenReason, load_tables, packaged_tables_dir
from heartops.core.eligibility import LedgerOutcome, ledger_outcome, screen
from heartops.core.errors import UnknownCodeError
from heartops.core.geo import GeoPoint

NY = ZoneInfo("America/New_York")
AFTERNOON = datetime(2024, 6, 3, 14, 0, tzinfo=NY)
HERE = GeoPoint(35.994, -78.899)


def call(call_type: str, *, when: datetime = AFTERNOON, tables: CodeTables | None = None,
         **options: object) -> Call:
    return new_call("C-1", call_type=call_type, location=HERE, received_at=when, tables=tables,
                    **options)  # type: ignore[arg-type]


def test_mental_health_crisis_in_the_afternoon_fits_every_program() -> None:
    result = screen(call("mental_health_crisis"), AFTERNOON)
    assert result.heart_eligible
    assert result.eligible_programs == ("CCD", "CRT", "COR")
    assert result.explain() == ["CCD: eligible", "CRT: eligible", "COR: eligible"]


def test_weapon_call_goes_to_cor_only_with_crt_reason_weapon() -> None:
    result = screen(call("mental_health_crisis", flags={"weapon"}), AFTERNOON)
    assert result.eligible_programs == ("COR",)
    assert result.reasons("CRT") == (ScreenReason.WEAPON,)
    assert result.screen_of("CRT").reason is ScreenReason.WEAPON
    assert result.reasons("CCD") == (ScreenReason.WEAPON,)
    assert "CRT: no — Weapon involved" in result.explain()


def test_imminent_risk_to_others_excludes_crt_not_cor() -> None:
    result = screen(call("suicide_threat", flags={"imminent_risk_to_others"}), AFTERNOON)
    assert result.eligible_programs == ("COR",)
    assert result.reasons("CRT") == (ScreenReason.IMMINENT_RISK_TO_OTHERS,)


def test_priority_p_is_excluded_everywhere() -> None:
    result = screen(call("mental_health_crisis", priority="P"), AFTERNOON)
    assert result.eligible_programs == ()
    for program in ("CCD", "CRT", "COR"):
        assert result.reasons(program) == (ScreenReason.PRIORITY_P,)
    entry = ledger_outcome(result, served=False)
    assert entry is not None
    assert (entry.outcome, entry.reason) == (LedgerOutcome.EXCLUDED, ScreenReason.PRIORITY_P)
    assert entry.programs == ("CCD", "CRT", "COR")


def test_every_reason_is_kept_headline_first() -> None:
    late = datetime(2024, 6, 3, 23, 50, tzinfo=NY)
    result = screen(call("welfare_check", when=late, priority="P", flags={"weapon"}), late,
                    lambda point: False)
    assert result.reasons("CRT") == (ScreenReason.PRIORITY_P, ScreenReason.WEAPON,
                                     ScreenReason.OUTSIDE_SERVICE_AREA,
                                     ScreenReason.OUTSIDE_PROGRAM_HOURS)
    assert result.reasons("COR")[0] is ScreenReason.CALL_TYPE_NOT_ELIGIBLE


def test_crt_2345_boundary_in_the_screen_and_ledger() -> None:
    open_ = datetime(2024, 6, 3, 23, 44, tzinfo=NY)
    closed = datetime(2024, 6, 3, 23, 45, tzinfo=NY)
    before = screen(call("welfare_check", when=open_), open_)
    after = screen(call("welfare_check", when=closed), closed)
    assert before.eligible_programs == ("CRT",)
    assert after.eligible_programs == ()
    assert after.reasons("CRT") == (ScreenReason.OUTSIDE_PROGRAM_HOURS,)
    unserved = ledger_outcome(before, served=False)
    assert unserved is not None and unserved.outcome is LedgerOutcome.NO_TEAM_AVAILABLE
    served = ledger_outcome(before, served=True)
    assert served is not None and served.outcome is LedgerOutcome.SERVED
    late = ledger_outcome(after, served=False)
    assert late is not None
    assert (late.outcome, late.reason) == (LedgerOutcome.OUTSIDE_HOURS,
                                           ScreenReason.OUTSIDE_PROGRAM_HOURS)


def test_weapon_trespass_at_night_is_outside_hours_not_excluded() -> None:
    # CRT is excluded by the weapon, but COR (closed at 22:00) could have taken it by day:
    # the ledger should say longer COR hours would have served it.
    night = datetime(2024, 6, 3, 22, 0, tzinfo=NY)
    result = screen(call("trespass", when=night, flags={"weapon"}), night)
    assert result.reasons("CRT") == (ScreenReason.WEAPON,)
    assert result.reasons("COR") == (ScreenReason.OUTSIDE_PROGRAM_HOURS,)
    entry = ledger_outcome(result, served=False)
    assert entry is not None and entry.outcome is LedgerOutcome.OUTSIDE_HOURS


def test_weapon_only_for_crt_type_is_excluded_with_weapon() -> None:
    result = screen(call("welfare_check", flags={"weapon"}), AFTERNOON)
    entry = ledger_outcome(result, served=False)
    assert entry is not None
    assert (entry.outcome, entry.reason) == (LedgerOutcome.EXCLUDED, ScreenReason.WEAPON)


def test_outside_the_city() -> None:
    result = screen(call("assist_person"), AFTERNOON, lambda point: point.lat > 40)
    assert result.reasons("CRT") == (ScreenReason.OUTSIDE_SERVICE_AREA,)
    entry = ledger_outcome(result, served=False)
    assert entry is not None
    assert (entry.outcome, entry.reason) == (LedgerOutcome.OUTSIDE_SERVICE_AREA,
                                             ScreenReason.OUTSIDE_SERVICE_AREA)


def test_non_heart_call_types_are_not_in_the_ledger() -> None:
    result = screen(call("shots_fired"), AFTERNOON)
    assert not result.heart_eligible
    assert result.reasons("CRT") == (ScreenReason.CALL_TYPE_NOT_ELIGIBLE,
                                     ScreenReason.PRIORITY_P)
    assert ledger_outcome(result, served=False) is None
    assert ledger_outcome(screen(call("traffic_accident_injury"), AFTERNOON),
                          served=False) is None


def test_unknown_flag_on_a_hand_built_call_fails_loudly() -> None:
    bad = Call("C-1", "welfare_check", "2", HERE, AFTERNOON,  # type: ignore[arg-type]
               flags=frozenset({"knife"}))
    with pytest.raises(UnknownCodeError, match="knife"):
        screen(bad, AFTERNOON)


def pilot_tables(tmp_path: Path) -> CodeTables:
    """CRT limited to two pilot beats, as in the first months of the program."""
    text = (packaged_tables_dir() / "programs.toml").read_text(encoding="utf-8")
    marker = 'team_roles = ["clinician", "peer_support", "emt"]\nservice_zones = []'
    assert marker in text
    text = text.replace(marker, marker.replace("[]", '["B12", "B13"]'))
    (tmp_path / "programs.toml").write_text(text, encoding="utf-8")
    return load_tables(tmp_path)


def test_zone_limited_program(tmp_path: Path) -> None:
    tables = pilot_tables(tmp_path)
    inside = screen(call("welfare_check", zone_id="B12", tables=tables), AFTERNOON,
                    tables=tables)
    outside = screen(call("welfare_check", zone_id="B40", tables=tables), AFTERNOON,
                     tables=tables)
    unknown = screen(call("welfare_check", tables=tables), AFTERNOON, tables=tables)
    assert inside.eligible_programs == ("CRT",)
    assert outside.reasons("CRT") == (ScreenReason.OUTSIDE_SERVICE_AREA,)
    assert unknown.reasons("CRT") == (ScreenReason.OUTSIDE_SERVICE_AREA,)
    # A citywide program is unaffected by the zone.
    cor = screen(call("trespass", zone_id="B40", tables=tables), AFTERNOON, tables=tables)
    assert cor.eligible_programs == ("COR",)
    entry = ledger_outcome(cor, served=False)
    assert entry is not None and entry.outcome is LedgerOutcome.NO_TEAM_AVAILABLE
