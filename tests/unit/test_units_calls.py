"""Unit status transitions, shifts, AVL moves, and the call lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from heartops.core.calls import Call, CallStep, Priority, new_call, required_capabilities
from heartops.core.clock import DailyWindow
from heartops.core.codes import default_tables
from heartops.core.errors import InvalidTransition, NaiveDatetimeError, UnknownCodeError
from heartops.core.geo import GeoPoint
from heartops.core.units import Unit, UnitState, check_unit, on_shift, team_gaps

NY = ZoneInfo("America/New_York")
T0 = datetime(2024, 6, 3, 18, 0, tzinfo=UTC)  # 14:00 EDT
HERE = GeoPoint(35.994, -78.899)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def available(unit_id: str = "CRT-1") -> UnitState:
    return UnitState(unit_id, "available", T0)


# -- units ---------------------------------------------------------------------------------------

def test_full_status_cycle_keeps_the_call_until_cleared() -> None:
    state = available().transition("dispatched", at(1), call_id="C-1")
    assert (state.status, state.call_id, state.since) == ("dispatched", "C-1", at(1))
    for step, minute in (("en_route", 2), ("on_scene", 10), ("transporting", 40),
                         ("at_destination", 55)):
        state = state.transition(step, at(minute))
        assert state.call_id == "C-1"
    state = state.transition("available", at(60))
    assert state.call_id is None
    assert state.time_in_status(at(75)) == timedelta(minutes=15)


@pytest.mark.parametrize(("start", "target"), [
    ("available", "transporting"),
    ("available", "en_route"),
    ("out_of_service", "dispatched"),
    ("on_scene", "dispatched"),
    ("at_destination", "on_scene"),
])
def test_forbidden_transitions_raise(start: str, target: str) -> None:
    call = None if default_tables().status(start).call.value == "none" else "C-1"
    state = UnitState("CRT-1", start, T0, call_id=call)
    with pytest.raises(InvalidTransition, match=f"{start} -> {target} is not allowed"):
        state.transition(target, at(1), call_id="C-1" if call is None else None)


@pytest.mark.parametrize("start", list(default_tables().statuses))
def test_emergency_is_reachable_from_every_status(start: str) -> None:
    if start == "emergency":
        return
    call = None if default_tables().status(start).call.value == "none" else "C-7"
    state = UnitState("CRT-1", start, T0, call_id=call).transition("emergency", at(1))
    assert state.status == "emergency"
    assert state.call_id == call  # emergency keeps whatever call the unit had


def test_emergency_then_back_on_scene_keeps_the_call() -> None:
    state = UnitState("CRT-1", "on_scene", T0, call_id="C-2")
    state = state.transition("emergency", at(5)).transition("on_scene", at(9))
    assert (state.status, state.call_id) == ("on_scene", "C-2")


def test_transition_rules_about_calls_and_time() -> None:
    with pytest.raises(InvalidTransition, match="needs a call"):
        available().transition("dispatched", at(1))
    with pytest.raises(InvalidTransition, match="takes no call"):
        UnitState("CRT-1", "on_scene", T0, call_id="C-1").transition("available", at(1),
                                                                      call_id="C-1")
    with pytest.raises(InvalidTransition, match="earlier than"):
        available().transition("dispatched", T0 - timedelta(seconds=1), call_id="C-1")
    busy = UnitState("CRT-1", "en_route", T0, call_id="C-1")
    with pytest.raises(InvalidTransition, match="needs a dispatch first"):
        busy.transition("on_scene", at(1), call_id="C-2")
    diverted = busy.transition("dispatched", at(1), call_id="C-2")
    assert diverted.call_id == "C-2"
    with pytest.raises(UnknownCodeError, match="unknown unit status 'lunch'"):
        available().transition("lunch", at(1))
    with pytest.raises(NaiveDatetimeError):
        available().transition("out_of_service", datetime(2024, 6, 3, 14, 0))


def test_same_status_again_is_a_no_op() -> None:
    state = UnitState("CRT-1", "on_scene", T0, call_id="C-1")
    assert state.transition("on_scene", at(3)) is state


def test_moves_ignore_older_fixes() -> None:
    moved = available().move(HERE, at(2))
    assert moved.position == HERE and moved.last_avl_at == at(2)
    assert moved.move(GeoPoint(36.0, -78.9), at(1)) is moved
    assert moved.avl_age(at(5)) == timedelta(minutes=3)


def test_shift_crossing_midnight() -> None:
    night = Unit("CRT-9", "CRT", ("clinician", "peer_support", "emt"),
                 shift=DailyWindow(time(19, 0), time(7, 0)))
    assert on_shift(night, datetime(2024, 6, 3, 23, 30, tzinfo=NY), NY)
    assert on_shift(night, datetime(2024, 6, 4, 6, 59, tzinfo=NY), NY)
    assert not on_shift(night, datetime(2024, 6, 4, 7, 0, tzinfo=NY), NY)
    assert not on_shift(night, datetime(2024, 6, 4, 12, 0, tzinfo=NY), NY)


def test_unit_codes_are_checked() -> None:
    unit = Unit("CRT-1", "CRT", ("clinician", "peer_support"), frozenset({"spanish"}))
    assert check_unit(unit) is unit
    assert team_gaps(unit) == ("emt",)
    assert unit.provides == {"clinician", "peer_support", "spanish"}
    assert unit.roles == {"clinician": 1, "peer_support": 1}
    with pytest.raises(UnknownCodeError, match="klingon"):
        check_unit(Unit("CRT-1", "CRT", ("clinician",), frozenset({"klingon"})))
    with pytest.raises(UnknownCodeError, match="not a team role"):
        check_unit(Unit("CRT-1", "CRT", ("spanish",)))
    with pytest.raises(UnknownCodeError, match="unknown program"):
        check_unit(Unit("X-1", "SWAT"))


# -- calls ---------------------------------------------------------------------------------------

def welfare(**options: object) -> Call:
    return new_call("C-1", call_type="welfare_check", location=HERE, received_at=T0,
                    **options)  # type: ignore[arg-type]


def test_new_call_takes_the_type_default_priority_and_checks_codes() -> None:
    call = welfare()
    assert call.priority is Priority.TWO
    assert call.steps == ((CallStep.RECEIVED, T0),)
    assert call.is_open and call.last_step is CallStep.RECEIVED
    assert new_call("C-2", call_type="shots_fired", location=HERE,
                    received_at=T0).priority is Priority.P
    assert welfare(priority="p").priority is Priority.P
    with pytest.raises(UnknownCodeError, match="call type"):
        new_call("C-3", call_type="alien_landing", location=HERE, received_at=T0)
    with pytest.raises(UnknownCodeError, match="call flag"):
        welfare(flags={"knife"})
    with pytest.raises(UnknownCodeError, match="capability"):
        welfare(needs={"klingon"})
    with pytest.raises(NaiveDatetimeError, match="received time of call C-9"):
        new_call("C-9", call_type="welfare_check", location=HERE,
                 received_at=datetime(2024, 6, 3, 14, 0))


def test_received_time_is_stored_in_utc() -> None:
    call = new_call("C-1", call_type="trespass", location=HERE,
                    received_at=datetime(2024, 6, 3, 14, 0, tzinfo=NY))
    assert call.received_at == T0 and call.received_at.tzinfo is UTC


def test_lifecycle_in_order_with_intervals() -> None:
    call = (welfare().record(CallStep.TRIAGED, at(1)).record(CallStep.DISPATCHED, at(2))
            .record(CallStep.EN_ROUTE, at(3)).record(CallStep.ON_SCENE, at(12))
            .record(CallStep.TRANSPORT, at(40))
            .close(at(55), dispositions=["transported"], destination="Duke ED"))
    assert [s for s, _ in call.steps] == list(CallStep)
    assert not call.is_open
    assert call.to_scene == timedelta(minutes=10)
    assert call.on_scene_time == timedelta(minutes=43)
    assert call.total_time == timedelta(minutes=53)
    assert call.destination == "Duke ED"


def test_optional_steps_may_be_skipped() -> None:
    by_phone = welfare().record(CallStep.TRIAGED, at(1)).close(
        at(20), dispositions=["resolved_by_phone"])
    assert by_phone.to_scene is None and by_phone.total_time is None
    no_en_route = welfare().record(CallStep.DISPATCHED, at(1)).record(CallStep.ON_SCENE, at(9))
    assert no_en_route.to_scene == timedelta(minutes=8)


@pytest.mark.parametrize(("steps", "bad", "message"), [
    ((), CallStep.ON_SCENE, "on_scene needs dispatched first"),
    ((), CallStep.EN_ROUTE, "en_route needs dispatched first"),
    ((CallStep.DISPATCHED,), CallStep.TRANSPORT, "transport needs on_scene first"),
    ((CallStep.DISPATCHED, CallStep.ON_SCENE), CallStep.EN_ROUTE,
     "en_route cannot follow on_scene"),
    ((CallStep.DISPATCHED,), CallStep.DISPATCHED, "dispatched is already recorded"),
    ((CallStep.DISPATCHED,), CallStep.TRIAGED, "triaged cannot follow dispatched"),
])
def test_steps_out_of_order_raise(steps: tuple[CallStep, ...], bad: CallStep,
                                  message: str) -> None:
    call = welfare()
    for minute, step in enumerate(steps, start=1):
        call = call.record(step, at(minute))
    with pytest.raises(InvalidTransition, match=message):
        call.record(bad, at(30))


def test_times_may_not_decrease_and_must_be_aware() -> None:
    call = welfare().record(CallStep.DISPATCHED, at(5))
    with pytest.raises(InvalidTransition, match="earlier than dispatched"):
        call.record(CallStep.EN_ROUTE, at(4))
    assert call.record(CallStep.EN_ROUTE, at(5)).time_of(CallStep.EN_ROUTE) == at(5)
    with pytest.raises(NaiveDatetimeError):
        call.record(CallStep.EN_ROUTE, datetime(2024, 6, 3, 18, 10))
    with pytest.raises(InvalidTransition, match="earlier than received"):
        welfare().record(CallStep.TRIAGED, T0 - timedelta(minutes=1))


def test_closing_rules() -> None:
    call = welfare().record(CallStep.DISPATCHED, at(1))
    with pytest.raises(InvalidTransition, match="close"):
        call.record(CallStep.CLEARED, at(2))
    with pytest.raises(ValueError, match="at least one disposition"):
        call.close(at(2), dispositions=[])
    with pytest.raises(ValueError, match="Transported needs a destination"):
        call.close(at(2), dispositions=["transported"])
    with pytest.raises(UnknownCodeError, match="disposition"):
        call.close(at(2), dispositions=["vanished"])
    closed = call.close(at(30), dispositions=["referred_to_care_navigation",
                                              "resolved_on_scene"])
    assert closed.dispositions == ("resolved_on_scene", "referred_to_care_navigation")
    with pytest.raises(InvalidTransition, match="already recorded"):
        closed.close(at(31), dispositions=["resolved_on_scene"])
    with pytest.raises(InvalidTransition, match="cannot follow cleared"):
        closed.record(CallStep.ON_SCENE, at(31))
    with pytest.raises(InvalidTransition, match="cannot be reclassified"):
        closed.reclassify(priority="1")
    assert closed.add_note(at(32), "family called back").notes[-1].text == "family called back"


def test_rebuilding_a_stored_call_checks_its_steps() -> None:
    steps = ((CallStep.RECEIVED, T0), (CallStep.DISPATCHED, at(2)), (CallStep.ON_SCENE, at(1)))
    with pytest.raises(InvalidTransition, match="earlier than dispatched"):
        Call("C-1", "welfare_check", Priority.TWO, HERE, T0, steps=steps)
    with pytest.raises(InvalidTransition, match="first step must be received"):
        Call("C-1", "welfare_check", Priority.TWO, HERE, T0,
             steps=((CallStep.DISPATCHED, T0),))
    good = Call("C-1", "welfare_check", "1", HERE, T0,  # type: ignore[arg-type]
                steps=steps[:2])
    assert good.priority is Priority.ONE and good.last_step is CallStep.DISPATCHED


def test_reclassify_notes_units_and_requirements() -> None:
    call = welfare(needs={"spanish"})
    triaged = call.reclassify(call_type="involuntary_commitment", flags={"weapon"}, priority="1")
    assert triaged.call_type == "involuntary_commitment" and triaged.flags == {"weapon"}
    assert triaged.priority is Priority.ONE
    assert required_capabilities(triaged) == {"spanish", "transport"}
    with pytest.raises(UnknownCodeError):
        call.reclassify(flags={"knife"})
    assert call.add_unit("CRT-1").add_unit("CRT-1").unit_ids == ("CRT-1",)
    with pytest.raises(ValueError, match="needs text"):
        call.add_note(at(1), "   ")
    assert call.age(at(7)) == timedelta(minutes=7)
