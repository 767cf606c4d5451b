"""The eligibility screen (which program fits a call, and why not) and the unmet-demand ledger.

:func:`screen` checks a call against every dispatchable program and records, for each program
that does not fit, every :class:`~heartops.core.codes.ScreenReason` that applies, in this order:

1. ``CALL_TYPE_NOT_ELIGIBLE`` — the call type is not one the program takes (``call_types.csv``);
2. ``PRIORITY_P`` — the program never takes the call's priority (``excluded_priorities``);
3. flag reasons (``WEAPON``, ``IMMINENT_RISK_TO_OTHERS``) — a flag in ``call_flags.csv``
   excludes the program (CRT and CCD for a weapon; COR takes weapon calls);
4. ``OUTSIDE_SERVICE_AREA`` — outside the city (``service_area_contains``) or the program's
   zones;
5. ``OUTSIDE_PROGRAM_HOURS`` — the program is closed at the time of the screen.

The first reason is the headline; the rest are kept so analysis can ask "what if we opened
longer" without re-screening.

:func:`ledger_outcome` then gives every call whose *type* HEART takes one outcome for the
unmet-demand ledger (:class:`LedgerOutcome`); calls of other types are not HEART demand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from heartops.core.calls import Call
from heartops.core.clock import ensure_utc
from heartops.core.codes import CodeTables, ScreenReason, default_tables
from heartops.core.geo import GeoPoint
from heartops.core.programs import Program, is_open

__all__ = ["EXCLUSIONS", "EligibilityResult", "LedgerEntry", "LedgerOutcome", "ProgramScreen",
           "ScreenReason", "ledger_outcome", "screen"]

EXCLUSIONS = (ScreenReason.PRIORITY_P, ScreenReason.WEAPON, ScreenReason.IMMINENT_RISK_TO_OTHERS)
"""Reasons about the call itself (clinical/safety), most serious first; HEART cannot take the
call whatever its capacity, hours or area."""


class LedgerOutcome(StrEnum):
    """What happened to a call HEART could take by type."""

    SERVED = "SERVED"
    NO_TEAM_AVAILABLE = "NO_TEAM_AVAILABLE"
    OUTSIDE_HOURS = "OUTSIDE_HOURS"
    OUTSIDE_SERVICE_AREA = "OUTSIDE_SERVICE_AREA"
    EXCLUDED = "EXCLUDED"


@dataclass(frozen=True, slots=True)
class ProgramScreen:
    """One program's verdict on a call.

    Attributes
    ----------
    program
        Program code.
    reasons
        Every reason it does not fit, headline first; empty when it fits.
    """

    program: str
    reasons: tuple[ScreenReason, ...] = ()

    @property
    def eligible(self) -> bool:
        """Whether the program can take the call."""
        return not self.reasons

    @property
    def reason(self) -> ScreenReason | None:
        """The headline reason, or ``None`` when eligible."""
        return self.reasons[0] if self.reasons else None


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    """The screen of one call at one time.

    Attributes
    ----------
    call_id
        The call.
    at
        When it was screened (program hours are judged at this instant).
    heart_eligible
        Whether any program takes the call type (the call is HEART demand).
    screens
        Every dispatchable program's verdict, in table order.
    """

    call_id: str
    at: datetime
    heart_eligible: bool
    screens: tuple[ProgramScreen, ...]

    @property
    def eligible_programs(self) -> tuple[str, ...]:
        """Programs that can take the call now."""
        return tuple(s.program for s in self.screens if s.eligible)

    def screen_of(self, program: str) -> ProgramScreen:
        """Return the verdict of ``program``.

        Raises
        ------
        KeyError
            If the program was not screened (not dispatchable or unknown).
        """
        for verdict in self.screens:
            if verdict.program == program:
                return verdict
        raise KeyError(f"program {program!r} was not screened")

    def reasons(self, program: str) -> tuple[ScreenReason, ...]:
        """Return every reason ``program`` does not fit (empty when it does)."""
        return self.screen_of(program).reasons

    def explain(self, *, tables: CodeTables | None = None) -> list[str]:
        """Return one line per program for the board (``"CRT: no — Weapon involved"``)."""
        tables = tables or default_tables()
        lines = []
        for verdict in self.screens:
            if verdict.eligible:
                lines.append(f"{verdict.program}: eligible")
            else:
                why = "; ".join(tables.reason_label(r) for r in verdict.reasons)
                lines.append(f"{verdict.program}: no — {why}")
        return lines


def screen(call: Call, at: datetime,
           service_area_contains: Callable[[GeoPoint], bool] | None = None, *,
           tables: CodeTables | None = None) -> EligibilityResult:
    """Screen ``call`` against every dispatchable program at ``at``.

    Parameters
    ----------
    call
        The call (type, priority, flags, location, zone).
    at
        When to judge program hours (usually when the call was received or is being
        dispatched).
    service_area_contains
        Whether a point is inside the department's service area (the city boundary); ``None``
        means everywhere. Programs limited to zones are also checked against ``call.zone_id``;
        a call without a zone is outside such a program's area, since it cannot be shown to be
        inside.
    tables
        Code tables (the packaged ones by default).
    """
    tables = tables or default_tables()
    at = ensure_utc(at, what=f"screen time of call {call.call_id}")
    kind = tables.call_type(call.call_type)
    in_city = service_area_contains is None or service_area_contains(call.location)
    for code in sorted(call.flags):
        tables.flag(code)  # an unknown flag must fail loudly, not be screened as harmless
    raised_flags = [flag for code, flag in tables.flags.items() if code in call.flags]
    screens = []
    for program in tables.dispatchable_programs:
        reasons: list[ScreenReason] = []
        if program.code not in kind.programs:
            reasons.append(ScreenReason.CALL_TYPE_NOT_ELIGIBLE)
        if call.priority.value in program.excluded_priorities:
            reasons.append(ScreenReason.PRIORITY_P)
        for flag in raised_flags:
            if program.code in flag.excludes and flag.reason is not None \
                    and flag.reason not in reasons:
                reasons.append(flag.reason)
        if not (in_city and _in_program_area(program, call.zone_id)):
            reasons.append(ScreenReason.OUTSIDE_SERVICE_AREA)
        if not is_open(program, at):
            reasons.append(ScreenReason.OUTSIDE_PROGRAM_HOURS)
        screens.append(ProgramScreen(program.code, tuple(reasons)))
    return EligibilityResult(call_id=call.call_id, at=at, heart_eligible=kind.heart_eligible,
                             screens=tuple(screens))


def _in_program_area(program: Program, zone_id: str | None) -> bool:
    return program.citywide or zone_id in program.service_zones


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A line of the unmet-demand ledger.

    Attributes
    ----------
    call_id
        The call.
    at
        When it was screened.
    outcome
        What happened to it.
    reason
        For ``EXCLUDED``, the most serious exclusion (``PRIORITY_P`` before ``WEAPON`` before
        ``IMMINENT_RISK_TO_OTHERS``); for ``OUTSIDE_*`` the matching screen reason; ``None``
        for ``SERVED`` and ``NO_TEAM_AVAILABLE``.
    programs
        The programs that take the call type.
    """

    call_id: str
    at: datetime
    outcome: LedgerOutcome
    reason: ScreenReason | None
    programs: tuple[str, ...]


def ledger_outcome(result: EligibilityResult, *, served: bool) -> LedgerEntry | None:
    """Return the ledger entry of a screened call, or ``None`` if HEART does not take its type.

    Parameters
    ----------
    result
        The call's screen (at the time it was received).
    served
        Whether a HEART program responded (a unit was assigned, or CCD resolved it by phone).

    Notes
    -----
    The outcome names the cheapest thing that would have let HEART serve the call, judged
    over the programs that take its type: if every one of them is excluded by the call itself
    the call is ``EXCLUDED``; else if one could take it now, a team was missing
    (``NO_TEAM_AVAILABLE``); else if one serves the area but was closed, ``OUTSIDE_HOURS``;
    else ``OUTSIDE_SERVICE_AREA``.
    """
    by_type = [s for s in result.screens
               if ScreenReason.CALL_TYPE_NOT_ELIGIBLE not in s.reasons]
    if not result.heart_eligible or not by_type:
        return None
    programs = tuple(s.program for s in by_type)

    def entry(outcome: LedgerOutcome, reason: ScreenReason | None = None) -> LedgerEntry:
        return LedgerEntry(result.call_id, result.at, outcome, reason, programs)

    if served:
        return entry(LedgerOutcome.SERVED)
    admissible = [s for s in by_type if not set(s.reasons) & set(EXCLUSIONS)]
    if not admissible:
        found = {r for s in by_type for r in s.reasons}
        return entry(LedgerOutcome.EXCLUDED, next(r for r in EXCLUSIONS if r in found))
    if any(s.eligible for s in admissible):
        return entry(LedgerOutcome.NO_TEAM_AVAILABLE)
    if any(ScreenReason.OUTSIDE_SERVICE_AREA not in s.reasons for s in admissible):
        return entry(LedgerOutcome.OUTSIDE_HOURS, ScreenReason.OUTSIDE_PROGRAM_HOURS)
    return entry(LedgerOutcome.OUTSIDE_SERVICE_AREA, ScreenReason.OUTSIDE_SERVICE_AREA)
