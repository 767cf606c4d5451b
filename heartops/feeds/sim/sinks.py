"""Where the simulator's events go: the sink protocol, and an in-memory collector.

A :class:`SimulationSink` receives the same core values the live board and the store handle
(:class:`~heartops.core.calls.Call`, :class:`~heartops.core.recommend.Assignment`,
:class:`~heartops.core.avl.AvlFix`, :class:`~heartops.core.eligibility.LedgerEntry`,
:class:`~heartops.core.care.FollowUpTask`, :class:`~heartops.core.safety.SafetyEvent`), in
simulated-time order. :class:`NullSink` ignores everything, so a sink can override only what
it needs; :class:`HistoryCollector` keeps everything in lists (tests, the store writer) and
summarises a run like the department's published table (:meth:`HistoryCollector.figures`).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from heartops.core.avl import AvlFix
from heartops.core.calls import Call
from heartops.core.care import FollowUpTask
from heartops.core.codes import CallStep, CodeTables, default_tables
from heartops.core.eligibility import LedgerEntry, LedgerOutcome
from heartops.core.recommend import Assignment
from heartops.core.safety import SafetyEvent
from heartops.feeds.sim.profile import SimProfile


class SimulationSink(Protocol):
    """Receives the simulation's domain events, in simulated-time order."""

    def call_received(self, call: Call) -> None:
        """Take a call that reached the 911 center (its first version: only ``received``)."""

    def unit_status(self, unit_id: str, before: str | None, after: str, at: datetime,
                    call_id: str | None) -> None:
        """Take a unit's status change (``before`` is ``None`` for the initial status)."""

    def assignment(self, assignment: Assignment) -> None:
        """Take an assignment of a unit to a call (always the recommended unit)."""

    def call_step(self, call_id: str, step: CallStep, at: datetime) -> None:
        """Take a lifecycle step recorded on an open call (triaged ... transport)."""

    def call_closed(self, call: Call) -> None:
        """Take a cleared call: its final version (steps, dispositions, notes)."""

    def fix(self, fix: AvlFix) -> None:
        """Take an AVL fix (live mode only)."""

    def ledger(self, entry: LedgerEntry) -> None:
        """Take a HEART-type call's unmet-demand ledger outcome (once per call)."""

    def follow_up(self, task: FollowUpTask) -> None:
        """Take a new or changed Care Navigation task (same ``task_id``, newer version)."""

    def safety(self, event: SafetyEvent) -> None:
        """Take a safety event (on scene, check-in, cleared, emergency, backup/EMS)."""


class NullSink:
    """A sink that ignores every event; subclass it and override what you need."""

    def call_received(self, call: Call) -> None:
        """Ignore the call."""

    def unit_status(self, unit_id: str, before: str | None, after: str, at: datetime,
                    call_id: str | None) -> None:
        """Ignore the status change."""

    def assignment(self, assignment: Assignment) -> None:
        """Ignore the assignment."""

    def call_step(self, call_id: str, step: CallStep, at: datetime) -> None:
        """Ignore the step."""

    def call_closed(self, call: Call) -> None:
        """Ignore the closed call."""

    def fix(self, fix: AvlFix) -> None:
        """Ignore the fix."""

    def ledger(self, entry: LedgerEntry) -> None:
        """Ignore the ledger entry."""

    def follow_up(self, task: FollowUpTask) -> None:
        """Ignore the task."""

    def safety(self, event: SafetyEvent) -> None:
        """Ignore the safety event."""


@dataclass(frozen=True, slots=True)
class UnitStatusChange:
    """One :meth:`SimulationSink.unit_status` call."""

    unit_id: str
    before: str | None
    after: str
    at: datetime
    call_id: str | None


@dataclass(frozen=True, slots=True)
class CallStepRecord:
    """One :meth:`SimulationSink.call_step` call."""

    call_id: str
    step: CallStep
    at: datetime


@dataclass(frozen=True, slots=True)
class ProgramFigures:
    """One program's row of the published metrics table (simulated or published).

    Minutes are means; percentages are of the program's calls. ``None`` where there is
    nothing to average.
    """

    program: str
    calls: float
    to_scene_minutes: float | None
    on_scene_minutes: float | None
    total_minutes: float | None
    transport_pct: float
    pd_backup_pct: float
    ems_pct: float
    phone_resolution_pct: float | None = None
    to_scene_median: float | None = None
    to_scene_p90: float | None = None


@dataclass
class HistoryCollector(NullSink):
    """Keeps every event in memory, in arrival order (for tests and the store writer).

    Attributes
    ----------
    received, statuses, assignments, steps, closed, fixes, ledger_entries, follow_ups,
    safety_events
        One list per kind of event.
    """

    received: list[Call] = field(default_factory=list)
    statuses: list[UnitStatusChange] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    steps: list[CallStepRecord] = field(default_factory=list)
    closed: list[Call] = field(default_factory=list)
    fixes: list[AvlFix] = field(default_factory=list)
    ledger_entries: list[LedgerEntry] = field(default_factory=list)
    follow_ups: list[FollowUpTask] = field(default_factory=list)
    safety_events: list[SafetyEvent] = field(default_factory=list)

    def call_received(self, call: Call) -> None:
        """Keep the call."""
        self.received.append(call)

    def unit_status(self, unit_id: str, before: str | None, after: str, at: datetime,
                    call_id: str | None) -> None:
        """Keep the status change."""
        self.statuses.append(UnitStatusChange(unit_id, before, after, at, call_id))

    def assignment(self, assignment: Assignment) -> None:
        """Keep the assignment."""
        self.assignments.append(assignment)

    def call_step(self, call_id: str, step: CallStep, at: datetime) -> None:
        """Keep the step."""
        self.steps.append(CallStepRecord(call_id, step, at))

    def call_closed(self, call: Call) -> None:
        """Keep the closed call."""
        self.closed.append(call)

    def fix(self, fix: AvlFix) -> None:
        """Keep the fix."""
        self.fixes.append(fix)

    def ledger(self, entry: LedgerEntry) -> None:
        """Keep the ledger entry."""
        self.ledger_entries.append(entry)

    def follow_up(self, task: FollowUpTask) -> None:
        """Keep the task version."""
        self.follow_ups.append(task)

    def safety(self, event: SafetyEvent) -> None:
        """Keep the safety event."""
        self.safety_events.append(event)

    # -- summaries -------------------------------------------------------------------------------

    def program_of_calls(self) -> dict[str, str]:
        """Return the program that served each call (its first assignment's)."""
        programs: dict[str, str] = {}
        for assignment in self.assignments:
            programs.setdefault(assignment.call_id, assignment.program)
        return programs

    def ledger_counts(self) -> Counter[LedgerOutcome]:
        """Return how many calls got each ledger outcome."""
        return Counter(entry.outcome for entry in self.ledger_entries)

    def latest_follow_ups(self) -> dict[str, FollowUpTask]:
        """Return the newest version of every follow-up task, by task id."""
        latest: dict[str, FollowUpTask] = {}
        for task in self.follow_ups:
            latest[task.task_id] = task
        return latest

    def figures(self, *, tables: CodeTables | None = None) -> dict[str, ProgramFigures]:
        """Summarise the closed, served calls per program like the published table.

        This is a calibration check, not the analysis layer: means over the calls that were
        cleared within the run.
        """
        tables = tables or default_tables()
        served = self.program_of_calls()
        by_program: dict[str, list[Call]] = {}
        for call in self.closed:
            program = served.get(call.call_id)
            if program is not None:
                by_program.setdefault(program, []).append(call)
        return {program: _figures(program, calls, tables)
                for program, calls in sorted(by_program.items())}


def _figures(program: str, calls: list[Call], tables: CodeTables) -> ProgramFigures:
    def share(flag: str) -> float:
        hits = sum(any(getattr(tables.disposition(d), flag) for d in c.dispositions)
                   for c in calls)
        return 100.0 * hits / len(calls)

    to_scene = _minutes(c.to_scene for c in calls)
    by_phone = share("by_phone")
    return ProgramFigures(
        program=program, calls=len(calls),
        to_scene_minutes=_mean(to_scene),
        on_scene_minutes=_mean(_minutes(c.on_scene_time for c in calls)),
        total_minutes=_mean(_minutes(c.total_time for c in calls)),
        transport_pct=share("transport"), pd_backup_pct=share("pd_backup"),
        ems_pct=share("ems"), phone_resolution_pct=by_phone if by_phone else None,
        to_scene_median=statistics.median(to_scene) if to_scene else None,
        to_scene_p90=_quantile(to_scene, 0.9))


def _minutes(spans: Iterable[timedelta | None]) -> list[float]:
    return [span.total_seconds() / 60.0 for span in spans if span is not None]


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _quantile(values: list[float], q: float) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def published_figures(profile: SimProfile) -> dict[str, ProgramFigures]:
    """Return the department's published table from the profile, as :class:`ProgramFigures`."""
    return {code: ProgramFigures(
        program=code, calls=row.calls, to_scene_minutes=row.to_scene_minutes,
        on_scene_minutes=row.on_scene_minutes, total_minutes=row.total_minutes,
        transport_pct=row.transport_pct, pd_backup_pct=row.pd_backup_pct, ems_pct=row.ems_pct,
        phone_resolution_pct=row.phone_resolution_pct) for code, row in profile.published.items()}


def calibration_lines(simulated: Mapping[str, ProgramFigures], profile: SimProfile, *,
                      days: float) -> list[str]:
    """Return a printable table of simulated against published figures.

    Parameters
    ----------
    simulated
        :meth:`HistoryCollector.figures` of a run.
    profile
        The profile holding the published figures.
    days
        Length of the run, to scale call counts to a year.
    """
    published = published_figures(profile)
    lines = [f"{'program':8}{'':4}{'calls/yr':>9}{'to scene':>9}{'on scene':>9}{'total':>8}"
             f"{'transp%':>8}{'PD%':>6}{'EMS%':>6}{'phone%':>7}"]
    for code, target in published.items():
        sim = simulated.get(code)
        for label, row, scale in (("pub", target, 1.0), ("sim", sim, 365.25 / days)):
            if row is None:
                lines.append(f"{code:8}{label:4}  (no calls)")
                continue
            lines.append(
                f"{code:8}{label:4}{row.calls * scale:9.0f}{_fmt(row.to_scene_minutes):>9}"
                f"{_fmt(row.on_scene_minutes):>9}{_fmt(row.total_minutes):>8}"
                f"{row.transport_pct:8.2f}{row.pd_backup_pct:6.2f}{row.ems_pct:6.2f}"
                f"{_fmt(row.phone_resolution_pct, 1):>7}")
    return lines


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
