"""Recommendation ranking with reasons, and assignment with logged overrides."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from heartops.core.calls import Call, new_call
from heartops.core.clock import DailyWindow
from heartops.core.eligibility import screen
from heartops.core.errors import AssignmentRefused, OverrideReasonRequired
from heartops.core.geo import GeoPoint
from heartops.core.ports import Eta
from heartops.core.recommend import LeftOutReason, Recommendation, assign, recommend
from heartops.core.units import Unit, UnitState

NY = ZoneInfo("America/New_York")
NOW = datetime(2024, 6, 3, 15, 0, tzinfo=NY)
HERE = GeoPoint(35.994, -78.899)
CRT_TEAM = ("clinician", "peer_support", "emt")
COR_TEAM = ("clinician", "police_officer")


def crt(unit_id: str, *extras: str, team: tuple[str, ...] = CRT_TEAM,
        shift: DailyWindow | None = None) -> Unit:
    return Unit(unit_id, "CRT", team, frozenset(extras), home_post_id="P1",
                **({"shift": shift} if shift else {}))


def free(unit: Unit) -> tuple[Unit, UnitState]:
    return unit, UnitState(unit.unit_id, "available", NOW - timedelta(hours=1), position=HERE)


def eta(unit_id: str, minutes: float, km: float, note: str = "") -> Eta:
    return Eta(unit_id, minutes * 60, km * 1000, 12.0, note)


def call(call_type: str = "welfare_check", **options: object) -> Call:
    return new_call("C-1", call_type=call_type, location=HERE, received_at=NOW,
                    **options)  # type: ignore[arg-type]


def rank(the_call: Call, units: list[tuple[Unit, UnitState]],
         etas: dict[str, Eta]) -> Recommendation:
    return recommend(the_call, screen(the_call, NOW), units, etas, NOW)


def test_ranks_by_eta_with_explanations() -> None:
    units = [free(crt("CRT-1")), free(crt("CRT-2")), free(crt("CRT-3"))]
    etas = {"CRT-1": eta("CRT-1", 9.0, 5.2), "CRT-2": eta("CRT-2", 6.4, 3.1),
            "CRT-3": eta("CRT-3", 12.5, 7.0)}
    result = rank(call(), units, etas)
    assert [r.unit_id for r in result.ranked] == ["CRT-2", "CRT-1", "CRT-3"]
    assert [r.rank for r in result.ranked] == [1, 2, 3]
    assert result.top is not None
    assert result.top.explanation == "CRT-2 · 6.4 min · 3.1 km · CRT eligible"
    assert result.left_out == ()
    assert result.eligible_programs == ("CRT",)


def test_spanish_requirement_skips_the_closer_unit_and_says_why() -> None:
    units = [free(crt("CRT-1", "naloxone")), free(crt("CRT-2", "spanish"))]
    etas = {"CRT-1": eta("CRT-1", 3.0, 1.4), "CRT-2": eta("CRT-2", 6.4, 3.1)}
    result = rank(call(needs={"spanish"}), units, etas)
    assert [r.unit_id for r in result.ranked] == ["CRT-2"]
    assert result.ranked[0].explanation == (
        "CRT-2 · 6.4 min · 3.1 km · CRT eligible · speaks Spanish")
    skipped = result.left_out_unit("CRT-1")
    assert skipped is not None
    assert skipped.reason is LeftOutReason.MISSING_CAPABILITY
    assert skipped.explanation == "CRT-1 · left out · missing capability: speaks Spanish"


def test_equal_etas_rank_by_unit_id() -> None:
    units = [free(crt("CRT-9")), free(crt("CRT-10")), free(crt("CRT-2"))]
    etas = {u.unit_id: eta(u.unit_id, 5.0, 2.0) for u, _ in units}
    assert [r.unit_id for r in rank(call(), units, etas).ranked] == ["CRT-10", "CRT-2", "CRT-9"]


def test_every_left_out_unit_has_its_reasons() -> None:
    cor = Unit("COR-1", "COR", COR_TEAM)
    busy = crt("CRT-4")
    night = crt("CRT-5", shift=DailyWindow(time(19, 0), time(7, 0)))
    short = crt("CRT-6", team=("clinician", "peer_support"))
    far = crt("CRT-7")
    lost = crt("CRT-8")
    ok = crt("CRT-1")
    units = [free(cor), (busy, UnitState("CRT-4", "on_scene", NOW, call_id="C-9")),
             free(night), free(short), free(far), free(lost), free(ok)]
    etas = {"CRT-1": eta("CRT-1", 8.0, 4.0),
            "CRT-7": Eta("CRT-7", math.inf, math.inf, 900.0, "position 900 m from any road"),
            "COR-1": eta("COR-1", 2.0, 1.0), "CRT-5": eta("CRT-5", 1.0, 0.5)}
    result = rank(call(), units, etas)
    assert [r.unit_id for r in result.ranked] == ["CRT-1"]
    reasons = {u.unit_id: (u.reason, u.explanation) for u in result.left_out}
    assert [u.unit_id for u in result.left_out] == sorted(reasons)
    assert reasons["COR-1"] == (LeftOutReason.PROGRAM_NOT_ELIGIBLE,
                                "COR-1 · left out · COR not eligible: "
                                "Call type is not one this program takes")
    assert reasons["CRT-4"] == (LeftOutReason.BUSY, "CRT-4 · left out · busy: On scene, call C-9")
    assert reasons["CRT-5"] == (LeftOutReason.OFF_SHIFT,
                                "CRT-5 · left out · off shift (19:00–07:00 daily)")
    assert reasons["CRT-6"] == (LeftOutReason.INCOMPLETE_TEAM, "CRT-6 · left out · team lacks EMT")
    assert reasons["CRT-7"] == (LeftOutReason.UNREACHABLE,
                                "CRT-7 · left out · unreachable: position 900 m from any road")
    assert reasons["CRT-8"] == (LeftOutReason.UNREACHABLE,
                                "CRT-8 · left out · unreachable: no drive time")
    assert len(result.lines()) == 7


def test_several_reasons_are_all_listed() -> None:
    unit = crt("CRT-4")
    state = UnitState("CRT-4", "out_of_service", NOW)
    result = rank(call(needs={"spanish"}), [(unit, state)], {})
    left = result.left_out_unit("CRT-4")
    assert left is not None
    assert [c.code for c in left.causes] == [LeftOutReason.BUSY,
                                             LeftOutReason.MISSING_CAPABILITY]


def test_weapon_call_recommends_cor_and_says_why_not_crt() -> None:
    units = [free(crt("CRT-1")), free(Unit("COR-1", "COR", COR_TEAM))]
    etas = {"CRT-1": eta("CRT-1", 2.0, 1.0), "COR-1": eta("COR-1", 11.0, 6.0)}
    result = rank(call("mental_health_crisis", flags={"weapon"}), units, etas)
    assert result.top is not None and result.top.unit_id == "COR-1"
    left = result.left_out_unit("CRT-1")
    assert left is not None
    assert left.explanation == "CRT-1 · left out · CRT not eligible: Weapon involved"


def test_phone_program_needs_no_drive_time() -> None:
    units = [free(Unit("CCD-1", "CCD", ("clinician",))), free(crt("CRT-1"))]
    result = rank(call("mental_health_crisis"), units, {"CRT-1": eta("CRT-1", 4.0, 2.0)})
    assert [r.explanation for r in result.ranked] == [
        "CCD-1 · by phone · CCD eligible", "CRT-1 · 4.0 min · 2.0 km · CRT eligible"]
    assert result.ranked[0].eta is None and result.ranked[0].seconds == 0.0


def test_call_type_requirements_apply() -> None:
    plain = Unit("COR-1", "COR", COR_TEAM)
    van = Unit("COR-2", "COR", COR_TEAM, frozenset({"transport"}))
    etas = {"COR-1": eta("COR-1", 3.0, 1.0), "COR-2": eta("COR-2", 9.0, 5.0)}
    result = rank(call("involuntary_commitment"), [free(plain), free(van)], etas)
    assert [r.unit_id for r in result.ranked] == ["COR-2"]
    assert result.ranked[0].explanation.endswith("COR eligible · can transport")


def test_mismatched_inputs_are_refused() -> None:
    the_call = call()
    other = new_call("C-2", call_type="welfare_check", location=HERE, received_at=NOW)
    with pytest.raises(ValueError, match="screen of call C-2"):
        recommend(the_call, screen(other, NOW), [], {}, NOW)
    with pytest.raises(ValueError, match="state of unit CRT-2"):
        recommend(the_call, screen(the_call, NOW),
                  [(crt("CRT-1"), UnitState("CRT-2", "available", NOW))], {}, NOW)


# -- assignment ----------------------------------------------------------------------------------

def two_ranked() -> Recommendation:
    units = [free(crt("CRT-1")), free(crt("CRT-2")),
             (crt("CRT-3"), UnitState("CRT-3", "en_route", NOW, call_id="C-5"))]
    etas = {"CRT-1": eta("CRT-1", 5.0, 2.5), "CRT-2": eta("CRT-2", 7.0, 4.0)}
    return rank(call(), units, etas)


def test_assigning_the_top_unit_needs_no_reason() -> None:
    done = assign(two_ranked(), "CRT-1", at=NOW + timedelta(seconds=20))
    assert (done.unit_id, done.rank, done.recommended_unit_id) == ("CRT-1", 1, "CRT-1")
    assert done.override_reason is None and not done.is_override
    assert done.eta_seconds == 300.0
    assert done.at == NOW + timedelta(seconds=20)
    assert done.explanation.startswith("CRT-1 · 5.0 min")


def test_override_without_reason_is_refused() -> None:
    recommendation = two_ranked()
    with pytest.raises(OverrideReasonRequired, match=r"CRT-2 is ranked #2.*CRT-1 is recommended"):
        assign(recommendation, "CRT-2")
    with pytest.raises(OverrideReasonRequired):
        assign(recommendation, "CRT-2", "   ")


def test_override_with_reason_is_recorded() -> None:
    done = assign(two_ranked(), "CRT-2", "CRT-1 is low on fuel")
    assert done.is_override and done.override_reason == "CRT-1 is low on fuel"
    assert (done.rank, done.recommended_unit_id, done.program) == (2, "CRT-1", "CRT")


def test_left_out_or_unknown_units_are_refused() -> None:
    recommendation = two_ranked()
    with pytest.raises(AssignmentRefused, match="CRT-3 cannot take call C-1: busy: En route"):
        assign(recommendation, "CRT-3", "closest")
    with pytest.raises(AssignmentRefused, match="not considered"):
        assign(recommendation, "CRT-99", "because")
