"""The safety ladder for unarmed teams, and the per-call record of backup and EMS requests.

A :class:`SafetyMonitor` is fed :class:`SafetyEvent` values (on scene, check-in, emergency,
emergency cleared, cleared, PD backup requested, EMS requested) and answers
:meth:`SafetyMonitor.alerts` for any instant. An on-scene unit whose program has check-in
thresholds (``programs.toml``: ``[programs.X.check_in]``) escalates with silence, counted from
arrival or the last check-in:

``CHECK_IN_DUE`` -> ``SUPERVISOR`` -> ``BACKUP_RECOMMENDED``

and a unit in emergency raises ``EMERGENCY``, the highest level, until the emergency is
cleared. Alerts are computed from the events, never stored, so the board may ask as often as it
repaints and a replay gives the same alerts at the same instants.

The events are the source of "% needed PD backup / EMS support": :meth:`SafetyMonitor.records`
gives one :class:`CallSafetyRecord` per call. The record's ``highest_level`` is the ladder level
a unit's silence reached, judged when the silence ended (check-in or clearing) and for
emergencies when raised, so it does not depend on how often anyone polled ``alerts``.

The monitor is a plain object owned by the main thread; the store persists :attr:`events` and
a new monitor rebuilt with :meth:`SafetyMonitor.replay` is in the same state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from heartops.core.clock import ensure_utc
from heartops.core.codes import CodeTables, default_tables
from heartops.core.errors import InvalidTransition
from heartops.core.programs import CheckInThresholds
from heartops.core.units import Unit, UnitState


class AlertLevel(IntEnum):
    """How urgent a safety alert is; higher is more urgent."""

    CHECK_IN_DUE = 1
    SUPERVISOR = 2
    BACKUP_RECOMMENDED = 3
    EMERGENCY = 4

    @property
    def label(self) -> str:
        """Text for the alerts list."""
        return _LEVEL_LABELS[self]


_LEVEL_LABELS = {
    AlertLevel.CHECK_IN_DUE: "check-in due",
    AlertLevel.SUPERVISOR: "supervisor alerted",
    AlertLevel.BACKUP_RECOMMENDED: "backup recommended",
    AlertLevel.EMERGENCY: "EMERGENCY",
}


class SafetyEventKind(StrEnum):
    """What happened."""

    ON_SCENE = "on_scene"
    CHECK_IN = "check_in"
    EMERGENCY = "emergency"
    EMERGENCY_CLEARED = "emergency_cleared"
    CLEARED = "cleared"
    PD_BACKUP_REQUESTED = "pd_backup_requested"
    EMS_REQUESTED = "ems_requested"


@dataclass(frozen=True, slots=True)
class SafetyEvent:
    """One safety-relevant event.

    Attributes
    ----------
    kind
        What happened.
    at
        When (aware; stored in UTC).
    unit_id
        The unit; required for every kind except the two requests, where it is who asked.
    call_id
        The call; required for on scene and the requests.
    program
        The unit's program; required for on scene (it sets the thresholds).
    """

    kind: SafetyEventKind
    at: datetime
    unit_id: str | None = None
    call_id: str | None = None
    program: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SafetyEventKind(self.kind))
        object.__setattr__(self, "at", ensure_utc(self.at, what=f"{self.kind} event time"))
        requests = (SafetyEventKind.PD_BACKUP_REQUESTED, SafetyEventKind.EMS_REQUESTED)
        if self.kind not in requests and not self.unit_id:
            raise ValueError(f"a {self.kind} event needs a unit")
        if (self.kind in requests or self.kind is SafetyEventKind.ON_SCENE) and not self.call_id:
            raise ValueError(f"a {self.kind} event needs a call")
        if self.kind is SafetyEventKind.ON_SCENE and not self.program:
            raise ValueError("an on_scene event needs the unit's program")


@dataclass(frozen=True, slots=True)
class SafetyAlert:
    """An alert to show now.

    Attributes
    ----------
    unit_id, call_id, program
        Who and where.
    level
        How urgent.
    since
        Start of the silence (arrival or last check-in), or when the emergency was raised.
    elapsed
        Time from ``since`` to the instant asked about.
    next_level_at
        When the alert escalates if nothing happens (``None`` at the top of the ladder).
    message
        One line for the alerts list and the status bar.
    """

    unit_id: str
    call_id: str | None
    program: str | None
    level: AlertLevel
    since: datetime
    elapsed: timedelta
    next_level_at: datetime | None
    message: str


@dataclass(frozen=True, slots=True)
class CallSafetyRecord:
    """What the safety ladder saw on one call (the input of "% needed PD backup / EMS").

    Attributes
    ----------
    call_id
        The call.
    pd_backup_requested_at, ems_requested_at
        First time each was requested.
    emergency_at
        First emergency raised by a unit on this call.
    highest_level
        Highest ladder level reached on the call.
    check_ins
        Number of check-ins received.
    """

    call_id: str
    pd_backup_requested_at: datetime | None = None
    ems_requested_at: datetime | None = None
    emergency_at: datetime | None = None
    highest_level: AlertLevel | None = None
    check_ins: int = 0

    @property
    def pd_backup(self) -> bool:
        """Whether PD backup was requested."""
        return self.pd_backup_requested_at is not None

    @property
    def ems(self) -> bool:
        """Whether EMS was requested."""
        return self.ems_requested_at is not None


@dataclass(slots=True)
class _Watch:
    """What the monitor tracks per unit."""

    last_event_at: datetime
    call_id: str | None = None
    program: str | None = None
    silence_since: datetime | None = None  # set while on scene
    emergency_at: datetime | None = None


class SafetyMonitor:
    """Tracks on-scene check-ins and emergencies; answers which alerts stand at an instant.

    Parameters
    ----------
    thresholds
        Check-in thresholds by program code; defaults to the programs' ``check_in`` tables.
        A program without thresholds (CCD, by phone) never escalates, but its emergencies and
        requests are still recorded.
    tables
        Code tables to take the default thresholds from (the packaged ones by default).
    """

    def __init__(self, thresholds: Mapping[str, CheckInThresholds] | None = None, *,
                 tables: CodeTables | None = None) -> None:
        if thresholds is None:
            programs = (tables or default_tables()).programs
            thresholds = {code: p.check_in for code, p in programs.items() if p.check_in}
        self.thresholds: Mapping[str, CheckInThresholds] = dict(thresholds)
        self._units: dict[str, _Watch] = {}
        self._records: dict[str, CallSafetyRecord] = {}
        self._events: list[SafetyEvent] = []

    @classmethod
    def replay(cls, events: Iterable[SafetyEvent], *,
               thresholds: Mapping[str, CheckInThresholds] | None = None,
               tables: CodeTables | None = None) -> SafetyMonitor:
        """Return a monitor that has applied ``events`` in order (restoring from the store)."""
        monitor = cls(thresholds, tables=tables)
        for event in events:
            monitor.apply(event)
        return monitor

    @property
    def events(self) -> tuple[SafetyEvent, ...]:
        """Every event applied, in order (what the store persists)."""
        return tuple(self._events)

    # -- feeding -------------------------------------------------------------------------------

    def apply(self, event: SafetyEvent) -> None:
        """Apply one event.

        Raises
        ------
        InvalidTransition
            If the event is earlier than the unit's previous event (events arrive in order
            per unit), or names a unit that is not being watched where one must be.
        """
        if event.unit_id is not None:
            watch = self._units.get(event.unit_id)
            if watch is not None and event.at < watch.last_event_at:
                raise InvalidTransition(
                    f"unit {event.unit_id}: {event.kind} at {event.at:%H:%M:%S}Z is earlier "
                    f"than its last safety event ({watch.last_event_at:%H:%M:%S}Z)")
        handler = {
            SafetyEventKind.ON_SCENE: self._on_scene,
            SafetyEventKind.CHECK_IN: self._check_in,
            SafetyEventKind.EMERGENCY: self._emergency,
            SafetyEventKind.EMERGENCY_CLEARED: self._emergency_cleared,
            SafetyEventKind.CLEARED: self._cleared,
            SafetyEventKind.PD_BACKUP_REQUESTED: self._request,
            SafetyEventKind.EMS_REQUESTED: self._request,
        }[event.kind]
        handler(event)
        self._events.append(event)

    def on_scene(self, unit_id: str, at: datetime, *, call_id: str, program: str) -> None:
        """Start the check-in timer of a unit arriving on scene."""
        self.apply(SafetyEvent(SafetyEventKind.ON_SCENE, at, unit_id, call_id, program))

    def check_in(self, unit_id: str, at: datetime) -> None:
        """Restart the unit's check-in timer."""
        self.apply(SafetyEvent(SafetyEventKind.CHECK_IN, at, unit_id))

    def emergency(self, unit_id: str, at: datetime, *, call_id: str | None = None,
                  program: str | None = None) -> None:
        """Raise the unit's emergency."""
        self.apply(SafetyEvent(SafetyEventKind.EMERGENCY, at, unit_id, call_id, program))

    def emergency_cleared(self, unit_id: str, at: datetime) -> None:
        """End the unit's emergency (its check-in timer restarts if it is still on scene)."""
        self.apply(SafetyEvent(SafetyEventKind.EMERGENCY_CLEARED, at, unit_id))

    def cleared(self, unit_id: str, at: datetime) -> None:
        """Stop watching the unit on its call (it left the scene)."""
        self.apply(SafetyEvent(SafetyEventKind.CLEARED, at, unit_id))

    def pd_backup_requested(self, call_id: str, at: datetime, *,
                            unit_id: str | None = None) -> None:
        """Record that PD backup was requested on ``call_id``."""
        self.apply(SafetyEvent(SafetyEventKind.PD_BACKUP_REQUESTED, at, unit_id, call_id))

    def ems_requested(self, call_id: str, at: datetime, *, unit_id: str | None = None) -> None:
        """Record that EMS was requested on ``call_id``."""
        self.apply(SafetyEvent(SafetyEventKind.EMS_REQUESTED, at, unit_id, call_id))

    def observe(self, unit: Unit, before: UnitState | None, after: UnitState, *,
                tables: CodeTables | None = None) -> list[SafetyEvent]:
        """Apply the events implied by a unit's status change, and return them.

        Arriving in a status with ``check_in_timer`` starts the timer; leaving it for a
        non-emergency status clears the unit; entering or leaving the emergency status raises
        or clears the emergency.
        """
        tables = tables or default_tables()
        old = tables.status(before.status) if before is not None else None
        new = tables.status(after.status)
        at = after.since
        events = []
        if new.emergency and not (old and old.emergency):
            events.append(SafetyEvent(SafetyEventKind.EMERGENCY, at, unit.unit_id,
                                      after.call_id, unit.program))
        if old and old.emergency and not new.emergency:
            events.append(SafetyEvent(SafetyEventKind.EMERGENCY_CLEARED, at, unit.unit_id))
        watched = self._units.get(unit.unit_id)
        timing = watched is not None and watched.silence_since is not None
        if new.check_in_timer and after.call_id and not (
                timing and watched is not None and watched.call_id == after.call_id):
            events.append(SafetyEvent(SafetyEventKind.ON_SCENE, at, unit.unit_id,
                                      after.call_id, unit.program))
        if timing and not new.check_in_timer and not new.emergency:
            events.append(SafetyEvent(SafetyEventKind.CLEARED, at, unit.unit_id))
        for event in events:
            self.apply(event)
        return events

    # -- asking --------------------------------------------------------------------------------

    def alerts(self, at: datetime) -> list[SafetyAlert]:
        """Return the alerts standing at ``at``: most urgent first, then longest-standing."""
        at = ensure_utc(at, what="alert time")
        found = []
        for unit_id, watch in self._units.items():
            alert = self._alert(unit_id, watch, at)
            if alert is not None:
                found.append(alert)
        return sorted(found, key=lambda a: (-a.level, a.since, a.unit_id))

    def record(self, call_id: str) -> CallSafetyRecord:
        """Return the safety record of ``call_id`` (empty if nothing happened on it)."""
        return self._records.get(call_id) or CallSafetyRecord(call_id)

    def records(self) -> list[CallSafetyRecord]:
        """Return the record of every call the monitor has seen, by call id."""
        return [self._records[c] for c in sorted(self._records)]

    def level(self, program: str | None, silence: timedelta) -> AlertLevel | None:
        """Return the ladder level a silence of ``silence`` reaches for ``program``."""
        limits = self.thresholds.get(program or "")
        if limits is None:
            return None
        for level, limit in ((AlertLevel.BACKUP_RECOMMENDED, limits.backup),
                             (AlertLevel.SUPERVISOR, limits.supervisor),
                             (AlertLevel.CHECK_IN_DUE, limits.check_in_due)):
            if silence >= limit:
                return level
        return None

    # -- internals -----------------------------------------------------------------------------

    def _alert(self, unit_id: str, watch: _Watch, at: datetime) -> SafetyAlert | None:
        where = f" on call {watch.call_id}" if watch.call_id else ""
        if watch.emergency_at is not None and at >= watch.emergency_at:
            elapsed = at - watch.emergency_at
            return SafetyAlert(unit_id, watch.call_id, watch.program, AlertLevel.EMERGENCY,
                               watch.emergency_at, elapsed, None,
                               f"{unit_id} EMERGENCY{where} ({_minutes(elapsed)} ago)")
        if watch.silence_since is None or at < watch.silence_since:
            return None
        silence = at - watch.silence_since
        level = self.level(watch.program, silence)
        if level is None:
            return None
        limits = self.thresholds[watch.program or ""]
        next_limit = {AlertLevel.CHECK_IN_DUE: limits.supervisor,
                      AlertLevel.SUPERVISOR: limits.backup}.get(level)
        return SafetyAlert(
            unit_id, watch.call_id, watch.program, level, watch.silence_since, silence,
            None if next_limit is None else watch.silence_since + next_limit,
            f"{unit_id} no check-in for {_minutes(silence)}{where}: {level.label}")

    def _watch(self, event: SafetyEvent) -> _Watch:
        assert event.unit_id is not None  # guaranteed by SafetyEvent for unit events
        watch = self._units.setdefault(event.unit_id, _Watch(event.at))
        watch.last_event_at = event.at
        return watch

    def _note(self, call_id: str | None) -> None:
        """Make sure the call has a record (a call with no incident still counts)."""
        if call_id is not None and call_id not in self._records:
            self._records[call_id] = CallSafetyRecord(call_id)

    def _end_silence(self, watch: _Watch, at: datetime) -> None:
        """Record the level the silence ending at ``at`` reached on the call."""
        if watch.silence_since is None or watch.call_id is None:
            return
        level = self.level(watch.program, at - watch.silence_since)
        self._raise_level(watch.call_id, level)

    def _raise_level(self, call_id: str, level: AlertLevel | None) -> None:
        current = self.record(call_id)
        if level is not None and (current.highest_level is None or level > current.highest_level):
            self._records[call_id] = replace(current, highest_level=level)

    def _on_scene(self, event: SafetyEvent) -> None:
        watch = self._watch(event)
        self._end_silence(watch, event.at)
        watch.call_id, watch.program, watch.silence_since = event.call_id, event.program, event.at
        self._note(event.call_id)

    def _check_in(self, event: SafetyEvent) -> None:
        watch = self._watch(event)
        if watch.silence_since is None:
            return  # a check-in off scene restarts nothing
        self._end_silence(watch, event.at)
        watch.silence_since = event.at
        if watch.call_id is not None:
            current = self.record(watch.call_id)
            self._records[watch.call_id] = replace(current, check_ins=current.check_ins + 1)

    def _emergency(self, event: SafetyEvent) -> None:
        watch = self._watch(event)
        if event.call_id is not None:
            watch.call_id = event.call_id
        if event.program is not None:
            watch.program = event.program
        if watch.emergency_at is None:
            watch.emergency_at = event.at
        if watch.call_id is not None:
            current = self.record(watch.call_id)
            if current.emergency_at is None:
                self._records[watch.call_id] = replace(current, emergency_at=event.at)
            self._raise_level(watch.call_id, AlertLevel.EMERGENCY)

    def _emergency_cleared(self, event: SafetyEvent) -> None:
        watch = self._watch(event)
        watch.emergency_at = None
        if watch.silence_since is not None:
            # The dispatcher has just spoken with the team: that counts as a check-in.
            self._end_silence(watch, event.at)
            watch.silence_since = event.at

    def _cleared(self, event: SafetyEvent) -> None:
        watch = self._watch(event)
        self._end_silence(watch, event.at)
        watch.silence_since = None
        if watch.emergency_at is None:
            watch.call_id = None

    def _request(self, event: SafetyEvent) -> None:
        assert event.call_id is not None  # guaranteed by SafetyEvent for requests
        current = self.record(event.call_id)
        # Only the first request counts: the metric is whether backup was needed, and when.
        if event.kind is SafetyEventKind.PD_BACKUP_REQUESTED:
            if current.pd_backup_requested_at is None:
                current = replace(current, pd_backup_requested_at=event.at)
        elif current.ems_requested_at is None:
            current = replace(current, ems_requested_at=event.at)
        self._records[event.call_id] = current
        if event.unit_id is not None:
            self._watch(event)


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.0f} min"
