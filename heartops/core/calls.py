"""Calls for service: what was reported, and the lifecycle from received to cleared.

A :class:`Call` is an immutable value; :meth:`Call.record`, :meth:`Call.close`,
:meth:`Call.add_note`, :meth:`Call.add_unit` and :meth:`Call.reclassify` return the next
version. Lifecycle rules (enforced here, so no layer can store an impossible call):

* every time is timezone-aware and kept in UTC; naive datetimes are refused;
* steps go in :class:`~heartops.core.codes.CallStep` order, each at most once, and a step needs
  its predecessor (``en_route`` and ``on_scene`` need ``dispatched``; ``transport`` needs
  ``on_scene``); optional steps may be skipped (a CCD call goes received -> triaged ->
  cleared, a unit may press on scene without en route);
* times never decrease along the lifecycle;
* ``cleared`` is recorded by :meth:`Call.close`, with one or more dispositions from
  ``dispositions.csv`` (and a destination when one of them needs it).

Metric intervals follow PRODUCT.md: to scene = dispatched -> on scene, on scene = on scene ->
cleared, total = dispatched -> cleared.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from heartops.core.clock import ensure_utc
from heartops.core.codes import CallStep, CodeTables, Priority, default_tables
from heartops.core.errors import InvalidTransition
from heartops.core.geo import GeoPoint

__all__ = ["Call", "CallNote", "CallStep", "Priority", "new_call", "required_capabilities"]

PREREQUISITE: dict[CallStep, CallStep] = {
    CallStep.TRIAGED: CallStep.RECEIVED,
    CallStep.DISPATCHED: CallStep.RECEIVED,
    CallStep.EN_ROUTE: CallStep.DISPATCHED,
    CallStep.ON_SCENE: CallStep.DISPATCHED,
    CallStep.TRANSPORT: CallStep.ON_SCENE,
    CallStep.CLEARED: CallStep.RECEIVED,
}
"""The step that must already be recorded before each step."""


@dataclass(frozen=True, slots=True)
class CallNote:
    """A line in the call's narrative."""

    at: datetime
    text: str
    author: str = ""


@dataclass(frozen=True, slots=True)
class Call:
    """A call for service.

    Attributes
    ----------
    call_id
        The CAD incident id.
    call_type
        Code from ``call_types.csv``.
    priority
        P (immediate threat to life), 1, 2 or 3.
    location
        Where help is needed.
    received_at
        When the 911 center received the call (aware; stored in UTC).
    zone_id
        The zone (police beat, ...) containing ``location``, if known.
    flags
        Codes from ``call_flags.csv`` (``weapon``, ``imminent_risk_to_others``, ...).
    needs
        Capabilities every responding unit must have (``"spanish"`` when the person speaks
        Spanish, ``"naloxone"``).
    address
        Address as given, for people.
    steps
        ``(step, time)`` of every recorded step, in lifecycle order; starts with ``received``.
    dispositions
        How the call ended (empty while open), in table order.
    destination
        Where the person was taken, when a disposition needs it.
    unit_ids
        Units assigned to the call, in the order assigned.
    notes
        The narrative.
    """

    call_id: str
    call_type: str
    priority: Priority
    location: GeoPoint
    received_at: datetime
    zone_id: str | None = None
    flags: frozenset[str] = field(default_factory=frozenset)
    needs: frozenset[str] = field(default_factory=frozenset)
    address: str = ""
    steps: tuple[tuple[CallStep, datetime], ...] = ()
    dispositions: tuple[str, ...] = ()
    destination: str | None = None
    unit_ids: tuple[str, ...] = ()
    notes: tuple[CallNote, ...] = ()

    def __post_init__(self) -> None:
        if not self.call_id or self.call_id != self.call_id.strip():
            raise ValueError(f"call id must be non-empty without surrounding spaces: "
                             f"{self.call_id!r}")
        # Calls are built a million at a time by imports: the checks below take the common
        # case (UTC times, enum members, frozensets) without building messages or copies.
        received = _utc(self.received_at, "received", self.call_id)
        object.__setattr__(self, "received_at", received)
        if not isinstance(self.priority, Priority):
            object.__setattr__(self, "priority", Priority.parse(self.priority))
        if not isinstance(self.flags, frozenset):
            object.__setattr__(self, "flags", frozenset(self.flags))
        if not isinstance(self.needs, frozenset):
            object.__setattr__(self, "needs", frozenset(self.needs))
        steps = tuple((step if type(step) is CallStep else CallStep(step),
                       _utc(at, step, self.call_id))
                      for step, at in self.steps) or ((CallStep.RECEIVED, received),)
        if steps[0] != (CallStep.RECEIVED, received):
            raise InvalidTransition(f"call {self.call_id}: the first step must be received at "
                                    f"{received.isoformat()}")
        for index in range(1, len(steps)):
            _check_step(self.call_id, steps[:index], *steps[index])
        object.__setattr__(self, "steps", steps)

    # -- reading -------------------------------------------------------------------------------

    def time_of(self, step: CallStep) -> datetime | None:
        """Return when ``step`` was recorded, or ``None``."""
        return next((at for recorded, at in self.steps if recorded is step), None)

    @property
    def last_step(self) -> CallStep:
        """The latest step recorded."""
        return self.steps[-1][0]

    @property
    def is_open(self) -> bool:
        """Whether the call has not been cleared."""
        return self.time_of(CallStep.CLEARED) is None

    def interval(self, start: CallStep, end: CallStep) -> timedelta | None:
        """Return the time from ``start`` to ``end``, or ``None`` if either is missing."""
        begin, finish = self.time_of(start), self.time_of(end)
        return None if begin is None or finish is None else finish - begin

    @property
    def to_scene(self) -> timedelta | None:
        """Dispatched -> on scene (``None`` for a call resolved by phone)."""
        return self.interval(CallStep.DISPATCHED, CallStep.ON_SCENE)

    @property
    def on_scene_time(self) -> timedelta | None:
        """On scene -> cleared."""
        return self.interval(CallStep.ON_SCENE, CallStep.CLEARED)

    @property
    def total_time(self) -> timedelta | None:
        """Dispatched -> cleared."""
        return self.interval(CallStep.DISPATCHED, CallStep.CLEARED)

    def age(self, at: datetime) -> timedelta:
        """Return the time since the call was received (the pending queue's ageing timer)."""
        return ensure_utc(at) - self.received_at

    # -- changing ------------------------------------------------------------------------------

    def record(self, step: CallStep, at: datetime) -> Call:
        """Return the call with ``step`` recorded at ``at``.

        Raises
        ------
        InvalidTransition
            If the step is out of order, repeated, missing its predecessor, earlier than the
            step before it, or is ``cleared`` (use :meth:`close`).
        """
        step = CallStep(step)
        if step is CallStep.CLEARED:
            raise InvalidTransition(f"call {self.call_id}: clear it with close() and a "
                                    "disposition")
        at = ensure_utc(at, what=f"{step} time of call {self.call_id}")
        _check_step(self.call_id, self.steps, step, at)
        return replace(self, steps=(*self.steps, (step, at)))

    def close(self, at: datetime, *, dispositions: Collection[str],
              destination: str | None = None, tables: CodeTables | None = None) -> Call:
        """Return the call cleared at ``at`` with its dispositions.

        Parameters
        ----------
        at
            When the last unit cleared, or the call-taker closed the call.
        dispositions
            One or more codes from ``dispositions.csv``.
        destination
            Where the person was taken; required when a disposition needs one.
        tables
            Code tables (the packaged ones by default).

        Raises
        ------
        InvalidTransition
            If the call is already cleared, or the time is earlier than its last step.
        UnknownCodeError
            On an unknown disposition.
        ValueError
            With no disposition, or a missing destination.
        """
        tables = tables or default_tables()
        if not dispositions:
            raise ValueError(f"call {self.call_id}: closing needs at least one disposition")
        rows = [tables.disposition(code) for code in dispositions]
        destination = (destination or "").strip() or None
        needing = [row.label for row in rows if row.needs_destination]
        if needing and destination is None:
            raise ValueError(f"call {self.call_id}: {needing[0]} needs a destination")
        at = ensure_utc(at, what=f"cleared time of call {self.call_id}")
        _check_step(self.call_id, self.steps, CallStep.CLEARED, at)
        in_table_order = tuple(code for code in tables.dispositions if code in set(dispositions))
        return replace(self, steps=(*self.steps, (CallStep.CLEARED, at)),
                       dispositions=in_table_order, destination=destination)

    def add_note(self, at: datetime, text: str, *, author: str = "") -> Call:
        """Return the call with a note appended (notes may be added after clearing)."""
        text = text.strip()
        if not text:
            raise ValueError(f"call {self.call_id}: a note needs text")
        at = ensure_utc(at, what=f"note time of call {self.call_id}")
        return replace(self, notes=(*self.notes, CallNote(at, text, author)))

    def add_unit(self, unit_id: str) -> Call:
        """Return the call with ``unit_id`` among its assigned units (no duplicates)."""
        if unit_id in self.unit_ids:
            return self
        return replace(self, unit_ids=(*self.unit_ids, unit_id))

    def reclassify(self, *, call_type: str | None = None, priority: Priority | str | None = None,
                   flags: Iterable[str] | None = None, needs: Iterable[str] | None = None,
                   tables: CodeTables | None = None) -> Call:
        """Return the call with what triage learned (type, priority, flags, needs) updated.

        Raises
        ------
        InvalidTransition
            If the call is already cleared.
        UnknownCodeError
            On an unknown call type, flag or capability.
        """
        if not self.is_open:
            raise InvalidTransition(f"call {self.call_id} is cleared; it cannot be reclassified")
        tables = tables or default_tables()
        changed = replace(
            self,
            call_type=self.call_type if call_type is None else call_type,
            priority=self.priority if priority is None else Priority.parse(priority),
            flags=self.flags if flags is None else frozenset(flags),
            needs=self.needs if needs is None else frozenset(needs))
        return _checked(changed, tables)


def new_call(call_id: str, *, call_type: str, location: GeoPoint, received_at: datetime,
             priority: Priority | str | None = None, zone_id: str | None = None,
             flags: Iterable[str] = (), needs: Iterable[str] = (), address: str = "",
             tables: CodeTables | None = None) -> Call:
    """Return a new call, its codes checked against the tables.

    Parameters
    ----------
    call_id
        The CAD incident id.
    call_type
        Code from ``call_types.csv``.
    location, received_at, zone_id, address
        See :class:`Call`.
    priority
        Defaults to the call type's default priority.
    flags
        Codes from ``call_flags.csv``.
    needs
        Capability codes from ``capabilities.csv`` every responding unit must have.
    tables
        Code tables (the packaged ones by default).

    Raises
    ------
    UnknownCodeError
        On an unknown call type, flag, capability or priority.
    NaiveDatetimeError
        When ``received_at`` is naive.
    """
    tables = tables or default_tables()
    kind = tables.call_type(call_type)
    call = Call(call_id=call_id, call_type=call_type,
                priority=kind.default_priority if priority is None else Priority.parse(priority),
                location=location, received_at=received_at, zone_id=zone_id,
                flags=frozenset(flags), needs=frozenset(needs), address=address)
    return _checked(call, tables)


def required_capabilities(call: Call, *, tables: CodeTables | None = None) -> frozenset[str]:
    """Return what every responding unit must have: the call's needs and its type's."""
    tables = tables or default_tables()
    return call.needs | tables.call_type(call.call_type).requires


def _checked(call: Call, tables: CodeTables) -> Call:
    tables.call_type(call.call_type)
    for flag in sorted(call.flags):
        tables.flag(flag)
    for need in sorted(call.needs):
        tables.capability(need)
    return call


def _utc(when: datetime, what: object, call_id: str) -> datetime:
    """Return ``when`` in UTC; the error names the step and the call (built only on error)."""
    return when if when.tzinfo is UTC else ensure_utc(when, what=f"{what} time of call {call_id}")


def _check_step(call_id: str, recorded: tuple[tuple[CallStep, datetime], ...],
                step: CallStep, at: datetime) -> None:
    """Raise InvalidTransition unless ``step`` at ``at`` may follow ``recorded``."""
    last_step, last_at = recorded[-1]
    done = {s for s, _ in recorded}
    if step in done:
        raise InvalidTransition(f"call {call_id}: {step} is already recorded")
    if step.order < last_step.order:
        raise InvalidTransition(f"call {call_id}: {step} cannot follow {last_step}")
    needed = PREREQUISITE.get(step)
    if needed is not None and needed not in done:
        raise InvalidTransition(f"call {call_id}: {step} needs {needed} first")
    if at < last_at:
        raise InvalidTransition(f"call {call_id}: {step} at {at:%H:%M:%S}Z is earlier than "
                                f"{last_step} at {last_at:%H:%M:%S}Z")
