"""Time for the domain: the :class:`Clock` port and the rules for datetimes.

Policies never call ``datetime.now()``; they take an ``at`` argument, and whoever calls them
reads a :class:`Clock`. The app injects :class:`SystemClock`; tests and replays use
:class:`FixedClock` or :class:`ManualClock`, so every timer and alert is reproducible.

Every instant the domain stores is a timezone-aware UTC ``datetime``. :func:`ensure_utc`
refuses naive datetimes (their meaning depends on the machine's zone, which differs between
desks) and converts other aware ones to UTC. Wall-clock rules (program hours, shifts) are
evaluated in the city's zone, :data:`DEFAULT_TIMEZONE` unless the programs table says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from heartops.core.errors import NaiveDatetimeError

DEFAULT_TIMEZONE = "America/New_York"
"""The city's zone when a table does not name one (Durham, NC)."""


class Clock(Protocol):
    """Source of the current instant."""

    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...


def ensure_utc(when: datetime, *, what: str = "time") -> datetime:
    """Return ``when`` in UTC, refusing a naive datetime.

    Parameters
    ----------
    when
        An aware datetime in any zone.
    what
        What the value is, for the error message (e.g. ``"on_scene time of call C-1"``).

    Raises
    ------
    NaiveDatetimeError
        When ``when`` has no time zone.
    """
    if when.tzinfo is UTC:
        return when  # the common case (the board asks thousands of times a tick): no copy
    if when.tzinfo is None or when.tzinfo.utcoffset(when) is None:
        raise NaiveDatetimeError(
            f"{what} must be timezone-aware (UTC), got naive {when.isoformat()}")
    return when.astimezone(UTC)


def city_zone(name: str = DEFAULT_TIMEZONE) -> ZoneInfo:
    """Return the IANA zone ``name`` (the city's local time)."""
    return ZoneInfo(name)


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FixedClock:
    """A clock stopped at one instant (for tests)."""

    instant: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "instant", ensure_utc(self.instant, what="FixedClock instant"))

    def now(self) -> datetime:
        """Return the fixed instant."""
        return self.instant


@dataclass(slots=True)
class ManualClock:
    """A clock that moves only when told to (for tests, replays and the simulator)."""

    instant: datetime

    def __post_init__(self) -> None:
        self.instant = ensure_utc(self.instant, what="ManualClock instant")

    def now(self) -> datetime:
        """Return the current instant."""
        return self.instant

    def advance(self, delta: timedelta | None = None, /, **parts: float) -> datetime:
        """Move forward by ``delta`` or by keyword parts (``minutes=5``) and return the new now.

        Raises
        ------
        ValueError
            When the step is negative (a replay never goes back in time).
        """
        step = (delta or timedelta()) + timedelta(**parts)
        if step < timedelta():
            raise ValueError(f"a clock cannot go back in time (step {step})")
        self.instant += step
        return self.instant

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (which may not be earlier than now)."""
        when = ensure_utc(when, what="ManualClock time")
        if when < self.instant:
            raise ValueError(f"a clock cannot go back in time ({when} < {self.instant})")
        self.instant = when


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names as the tables spell them, in ``datetime.weekday()`` order."""

EVERY_DAY = frozenset(range(7))


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """A wall-clock window that repeats on some weekdays, e.g. 09:15-23:45 every day.

    The window may cross midnight (``start`` later than ``end``, e.g. 20:00-04:00); it then
    belongs to the weekday on which it *starts*, so a Friday-only night shift covers Saturday
    04:00's early hours. ``start == end`` means the whole day. ``end`` is exclusive: a program
    closing at 23:45 is closed at 23:45:00.

    Attributes
    ----------
    start, end
        Local wall-clock times.
    days
        Weekdays (Monday = 0) on which the window starts.
    """

    start: time
    end: time
    days: frozenset[int] = EVERY_DAY

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall-clock times; give them without tzinfo")
        if not self.days or not self.days <= EVERY_DAY:
            raise ValueError(
                f"window days must be a non-empty subset of 0..6, got {sorted(self.days)}")

    @property
    def crosses_midnight(self) -> bool:
        """Whether the window ends on the day after it starts."""
        return self.end < self.start

    def contains(self, when: datetime, zone: ZoneInfo) -> bool:
        """Return whether the aware instant ``when`` falls inside the window in ``zone``.

        The comparison is on local wall-clock time, so a 09:00 opening is 09:00 on both sides of
        a daylight-saving change.
        """
        local = ensure_utc(when).astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        weekday = local.weekday()
        if self.start == self.end:
            return weekday in self.days
        if not self.crosses_midnight:
            return weekday in self.days and self.start <= clock < self.end
        if clock >= self.start:
            return weekday in self.days
        # Early hours: the window that is still open started yesterday.
        return clock < self.end and (weekday - 1) % 7 in self.days

    def describe(self) -> str:
        """Return a short text such as ``"09:15–23:45 daily"``."""
        span = f"{self.start:%H:%M}–{self.end:%H:%M}"
        if self.days == EVERY_DAY:
            return f"{span} daily"
        return f"{span} " + ",".join(WEEKDAYS[d] for d in sorted(self.days))


def parse_wall_time(text: str) -> time:
    """Parse ``"HH:MM"`` (or ``"HH:MM:SS"``) as a local wall-clock time; ``"24:00"`` is midnight.

    Raises
    ------
    ValueError
        When the text is not such a time.
    """
    text = text.strip()
    if text == "24:00":
        return time(0, 0)
    return time.fromisoformat(text)


def parse_weekdays(spec: str | list[str]) -> frozenset[int]:
    """Parse ``"daily"`` or a list of weekday names (``["mon", "tue"]``) into weekday numbers.

    Raises
    ------
    ValueError
        On an unknown weekday name.
    """
    if isinstance(spec, str):
        if spec.strip().lower() == "daily":
            return EVERY_DAY
        spec = [part for part in spec.replace(",", " ").split() if part]
    days = set()
    for name in spec:
        key = name.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ValueError(f"unknown weekday {name!r}; use {', '.join(WEEKDAYS)} or 'daily'")
        days.add(WEEKDAYS.index(key))
    return frozenset(days)
