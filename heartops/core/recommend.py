"""The recommendation policy (which unit to send, and why) and assignment with logged overrides.

:func:`recommend` is a pure function over values the board already holds: the call, its
eligibility screen, every unit with its state, and a table of drive times (from
:class:`~heartops.core.ports.TravelTimes`). A unit is ranked when

* its program is eligible for the call,
* its status is assignable (available),
* it is on shift at ``at``,
* its team has every role its program requires,
* it has every capability the call requires (the call's needs, e.g. ``spanish``, and its
  type's, e.g. ``transport``), and
* it can reach the call (programs that work by phone, CCD, need no drive time).

Ranked units are ordered by drive time, then unit id, so equal ETAs always rank the same way;
phone programs count as zero minutes away. Every other unit is listed as left out with every
reason that applies. Reachability is judged last and only for units that pass everything else,
because the board asks for drive times of available units only.

:func:`assign` turns a choice into an :class:`Assignment`. Taking anyone but the top unit needs
a written reason (stored with the assignment by the store layer); a left-out unit is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from heartops.core.calls import Call, required_capabilities
from heartops.core.clock import ensure_utc
from heartops.core.codes import CodeTables, default_tables
from heartops.core.eligibility import EligibilityResult
from heartops.core.errors import AssignmentRefused, OverrideReasonRequired
from heartops.core.ports import Eta
from heartops.core.units import Unit, UnitState, on_shift

SEPARATOR = " · "


class LeftOutReason(StrEnum):
    """Why a unit is not among the recommended ones."""

    PROGRAM_NOT_ELIGIBLE = "PROGRAM_NOT_ELIGIBLE"
    BUSY = "BUSY"
    OFF_SHIFT = "OFF_SHIFT"
    INCOMPLETE_TEAM = "INCOMPLETE_TEAM"
    MISSING_CAPABILITY = "MISSING_CAPABILITY"
    UNREACHABLE = "UNREACHABLE"


@dataclass(frozen=True, slots=True)
class LeftOutCause:
    """One reason a unit is left out, with the particulars (``"busy: On scene, call C-3"``)."""

    code: LeftOutReason
    detail: str


@dataclass(frozen=True, slots=True)
class LeftOutUnit:
    """A unit that cannot take the call.

    Attributes
    ----------
    unit_id, program
        The unit.
    causes
        Every reason, headline first.
    """

    unit_id: str
    program: str
    causes: tuple[LeftOutCause, ...]

    @property
    def reason(self) -> LeftOutReason:
        """The headline reason."""
        return self.causes[0].code

    @property
    def explanation(self) -> str:
        """One line for the board (``"CRT-1 · left out · missing capability: speaks Spanish"``)."""
        return SEPARATOR.join((self.unit_id, "left out", *(c.detail for c in self.causes)))


@dataclass(frozen=True, slots=True)
class RankedUnit:
    """A unit that can take the call.

    Attributes
    ----------
    rank
        1 for the recommended unit.
    unit_id, program
        The unit.
    eta
        Its drive to the call; ``None`` for a phone program.
    explanation
        One line for the board (``"CRT-2 · 6.4 min · 3.1 km · CRT eligible · speaks Spanish"``).
    """

    rank: int
    unit_id: str
    program: str
    eta: Eta | None
    explanation: str

    @property
    def seconds(self) -> float:
        """Drive time in seconds (0 for a phone program)."""
        return 0.0 if self.eta is None else self.eta.seconds


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The ranked units for one call at one time.

    Attributes
    ----------
    call_id
        The call.
    at
        When it was computed (a later board state may make it stale).
    eligible_programs
        Programs the screen found eligible.
    ranked
        Units that can take the call, best first.
    left_out
        Every other unit, by unit id.
    """

    call_id: str
    at: datetime
    eligible_programs: tuple[str, ...]
    ranked: tuple[RankedUnit, ...]
    left_out: tuple[LeftOutUnit, ...]

    @property
    def top(self) -> RankedUnit | None:
        """The recommended unit, or ``None`` when no unit can take the call."""
        return self.ranked[0] if self.ranked else None

    def ranked_unit(self, unit_id: str) -> RankedUnit | None:
        """Return the ranking of ``unit_id``, or ``None`` if it is not ranked."""
        return next((r for r in self.ranked if r.unit_id == unit_id), None)

    def left_out_unit(self, unit_id: str) -> LeftOutUnit | None:
        """Return why ``unit_id`` is left out, or ``None`` if it is not."""
        return next((u for u in self.left_out if u.unit_id == unit_id), None)

    def lines(self) -> list[str]:
        """Return the explanation of every unit, ranked ones first."""
        return [r.explanation for r in self.ranked] + [u.explanation for u in self.left_out]


@dataclass(frozen=True, slots=True)
class Assignment:
    """A dispatcher's choice of unit for a call (persisted by the store with desk and operator).

    Attributes
    ----------
    call_id, unit_id, program
        Who goes where.
    at
        When the dispatcher assigned it.
    rank
        The unit's rank in the recommendation (1 = recommended).
    recommended_unit_id
        The top-ranked unit at the time.
    override_reason
        Why a unit other than the top one was chosen; ``None`` when the top one was.
    eta_seconds
        The chosen unit's drive time when assigned (``None`` for a phone program).
    explanation
        The chosen unit's recommendation line, kept for after-action review.
    desk, operator
        Who assigned it (empty until a desk records it).
    """

    call_id: str
    unit_id: str
    program: str
    at: datetime
    rank: int
    recommended_unit_id: str
    override_reason: str | None
    eta_seconds: float | None
    explanation: str
    desk: str = ""
    operator: str = ""

    @property
    def is_override(self) -> bool:
        """Whether the dispatcher chose a unit other than the recommended one."""
        return self.override_reason is not None


def recommend(call: Call, eligibility: EligibilityResult,
              units: Sequence[tuple[Unit, UnitState]], etas: Mapping[str, Eta], at: datetime,
              *, tables: CodeTables | None = None) -> Recommendation:
    """Rank the units that can take ``call``.

    Parameters
    ----------
    call
        The call.
    eligibility
        Its screen (see :func:`heartops.core.eligibility.screen`).
    units
        Every unit on the board with its state.
    etas
        Drive times to the call by unit id; units of in-person programs without one are left
        out as unreachable.
    at
        Now (shifts are judged at this instant).
    tables
        Code tables (the packaged ones by default).

    Raises
    ------
    ValueError
        If the screen is of another call, or a state belongs to another unit.
    """
    tables = tables or default_tables()
    at = ensure_utc(at, what=f"recommendation time of call {call.call_id}")
    if eligibility.call_id != call.call_id:
        raise ValueError(f"screen of call {eligibility.call_id} given for call {call.call_id}")
    eligible = set(eligibility.eligible_programs)
    required = required_capabilities(call, tables=tables)
    candidates: list[tuple[float, str, Unit, Eta | None]] = []
    left_out: list[LeftOutUnit] = []
    for unit, state in units:
        if state.unit_id != unit.unit_id:
            raise ValueError(f"state of unit {state.unit_id} given for unit {unit.unit_id}")
        causes = _causes(unit, state, eligibility, eligible, required, at, tables)
        program = tables.program(unit.program)
        eta = etas.get(unit.unit_id) if program.in_person else None
        if not causes and program.in_person:
            if eta is None:
                causes = [LeftOutCause(LeftOutReason.UNREACHABLE, "unreachable: no drive time")]
            elif not eta.reachable:
                causes = [LeftOutCause(LeftOutReason.UNREACHABLE,
                                       f"unreachable: {eta.note or 'no road route'}")]
        if causes:
            left_out.append(LeftOutUnit(unit.unit_id, unit.program, tuple(causes)))
        else:
            candidates.append((0.0 if eta is None else eta.seconds, unit.unit_id, unit, eta))
    candidates.sort(key=lambda c: (c[0], c[1]))
    ranked = tuple(
        RankedUnit(rank, unit.unit_id, unit.program, eta,
                   _explain(unit, eta, required, tables))
        for rank, (_, _, unit, eta) in enumerate(candidates, start=1))
    return Recommendation(call_id=call.call_id, at=at,
                          eligible_programs=eligibility.eligible_programs, ranked=ranked,
                          left_out=tuple(sorted(left_out, key=lambda u: u.unit_id)))


def _causes(unit: Unit, state: UnitState, eligibility: EligibilityResult, eligible: set[str],
            required: frozenset[str], at: datetime, tables: CodeTables) -> list[LeftOutCause]:
    causes = []
    program = tables.program(unit.program)
    if unit.program not in eligible:
        if program.dispatchable:
            why = ", ".join(tables.reason_label(r) for r in eligibility.reasons(unit.program))
        else:
            why = "does not take calls"
        causes.append(LeftOutCause(LeftOutReason.PROGRAM_NOT_ELIGIBLE,
                                   f"{unit.program} not eligible: {why}"))
    status = tables.status(state.status)
    if not status.assignable:
        on_call = f", call {state.call_id}" if state.call_id else ""
        causes.append(LeftOutCause(LeftOutReason.BUSY, f"busy: {status.label}{on_call}"))
    if not on_shift(unit, at, tables.timezone):
        causes.append(LeftOutCause(LeftOutReason.OFF_SHIFT,
                                   f"off shift ({unit.shift.describe()})"))
    gaps = [role for role in program.team_roles if role not in unit.team]
    if gaps:
        names = ", ".join(tables.capability(r).label for r in gaps)
        causes.append(LeftOutCause(LeftOutReason.INCOMPLETE_TEAM, f"team lacks {names}"))
    missing = sorted(required - unit.provides)
    if missing:
        names = ", ".join(tables.capability(c).phrase for c in missing)
        causes.append(LeftOutCause(LeftOutReason.MISSING_CAPABILITY,
                                   f"missing capability: {names}"))
    return causes


def _explain(unit: Unit, eta: Eta | None, required: frozenset[str],
             tables: CodeTables) -> str:
    parts = [unit.unit_id]
    if eta is None:
        parts.append("by phone")
    else:
        parts += [f"{eta.minutes:.1f} min", f"{eta.meters / 1000:.1f} km"]
    parts.append(f"{unit.program} eligible")
    parts += [tables.capability(c).phrase for c in sorted(required)]
    if eta is not None and eta.note:
        parts.append(eta.note)
    return SEPARATOR.join(parts)


def assign(recommendation: Recommendation, unit_id: str, override_reason: str | None = None,
           *, at: datetime | None = None) -> Assignment:
    """Record the dispatcher's choice of ``unit_id`` for the recommended call.

    Parameters
    ----------
    recommendation
        The recommendation the dispatcher acted on.
    unit_id
        The chosen unit.
    override_reason
        Why, when the chosen unit is not the top-ranked one (required then; ignored for the
        top one).
    at
        When the assignment was made; defaults to the recommendation's time.

    Raises
    ------
    AssignmentRefused
        If the unit was left out (the message gives its reasons) or not considered at all.
    OverrideReasonRequired
        If the unit is not the top-ranked one and no reason is given.
    """
    call_id = recommendation.call_id
    left_out = recommendation.left_out_unit(unit_id)
    if left_out is not None:
        why = "; ".join(c.detail for c in left_out.causes)
        raise AssignmentRefused(f"{unit_id} cannot take call {call_id}: {why}")
    chosen = recommendation.ranked_unit(unit_id)
    top = recommendation.top
    if chosen is None or top is None:
        raise AssignmentRefused(f"{unit_id} was not considered for call {call_id}; "
                                "recompute the recommendation")
    when = recommendation.at if at is None else ensure_utc(at, what="assignment time")
    reason = (override_reason or "").strip() or None
    if chosen.rank != 1 and reason is None:
        raise OverrideReasonRequired(f"{unit_id} is ranked #{chosen.rank} for call {call_id}; "
                                     f"{top.unit_id} is recommended — give a reason to override")
    return Assignment(
        call_id=call_id, unit_id=unit_id, program=chosen.program, at=when, rank=chosen.rank,
        recommended_unit_id=top.unit_id,
        override_reason=reason if chosen.rank != 1 else None,
        eta_seconds=None if chosen.eta is None else chosen.eta.seconds,
        explanation=chosen.explanation)
