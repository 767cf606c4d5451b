"""Local wall-clock times to UTC, refusing the ones a daylight-saving change makes unclear.

CAD exports write local wall-clock times without an offset. Twice a year that is not enough:

* when clocks go back (America/New_York, 2024-11-03), 01:00-01:59 happens twice, so
  ``01:30`` is *ambiguous* (05:30Z or 06:30Z);
* when clocks go forward (2024-03-10), 02:00-02:59 never happens, so ``02:30`` is
  *non-existent*.

:func:`to_utc` refuses both unless told how to resolve them, because guessing silently moves a
call by an hour and corrupts response-time metrics. Detection follows PEP 495: a wall time is
ambiguous or non-existent exactly when ``fold=0`` and ``fold=1`` give different UTC offsets; it
is non-existent when converting the ``fold=0`` reading to UTC and back does not give the same wall
time.

Resolutions (the names follow pandas' ``tz_localize``):

``ambiguous="earlier"`` / ``"later"``
    The first (daylight-time) or second (standard-time) occurrence.
``nonexistent="shift_forward"``
    The first instant after the gap (02:30 on a spring-forward night becomes 03:00 local).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from heartops.core.errors import AmbiguousTimeError, LocalTimeError, NonexistentTimeError

__all__ = ["Ambiguous", "LocalTimeConverter", "Nonexistent", "to_utc", "zone"]

Ambiguous = Literal["raise", "earlier", "later"]
"""How to resolve a wall time that happens twice."""

Nonexistent = Literal["raise", "shift_forward"]
"""How to resolve a wall time skipped by a spring-forward change."""

AMBIGUOUS_CHOICES: tuple[str, ...] = get_args(Ambiguous)
NONEXISTENT_CHOICES: tuple[str, ...] = get_args(Nonexistent)


def zone(name: str | ZoneInfo) -> ZoneInfo:
    """Return the IANA zone ``name`` (a :class:`ZoneInfo` is returned as is).

    Raises
    ------
    LocalTimeError
        When the name is not a known IANA zone.
    """
    if isinstance(name, ZoneInfo):
        return name
    return _zone(name)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LocalTimeError(f"unknown time zone {name!r}; use an IANA name such as "
                             "'America/New_York' or 'UTC'") from None


def to_utc(local: datetime, tz: str | ZoneInfo, *, ambiguous: Ambiguous = "raise",
           nonexistent: Nonexistent = "raise") -> datetime:
    """Return the aware UTC instant of the naive wall-clock time ``local`` in zone ``tz``.

    Parameters
    ----------
    local
        A naive datetime read as wall-clock time in ``tz``.
    tz
        IANA zone name or :class:`ZoneInfo`.
    ambiguous
        ``"raise"`` (default), ``"earlier"`` or ``"later"`` for a time that happens twice.
    nonexistent
        ``"raise"`` (default) or ``"shift_forward"`` for a time skipped by the change.

    Returns
    -------
    datetime
        Aware, in UTC.

    Raises
    ------
    LocalTimeError
        When ``local`` is aware, ``tz`` is unknown or an option is invalid; its subclasses
        :class:`~heartops.core.errors.AmbiguousTimeError` and
        :class:`~heartops.core.errors.NonexistentTimeError` when the time is ambiguous /
        non-existent and the matching option is ``"raise"``. The message is one line naming the
        time and the zone.
    """
    if local.tzinfo is not None:
        raise LocalTimeError(f"{local.isoformat()} already has a time zone; to_utc takes a "
                             "naive wall-clock time")
    _check_options(ambiguous, nonexistent)
    where = zone(tz)
    early = local.replace(tzinfo=where, fold=0)
    late = local.replace(tzinfo=where, fold=1)
    offset = early.utcoffset()
    if offset == late.utcoffset():
        # The common case: one reading, no DST change near this wall time.
        return (local - _offset(offset, local, where)).replace(tzinfo=UTC)
    if early.astimezone(UTC).astimezone(where).replace(tzinfo=None) == local:
        return _ambiguous(local, where, early, late, ambiguous)
    return _nonexistent(local, where, early, late, nonexistent)


class LocalTimeConverter:
    """:func:`to_utc` with its zone and options fixed, for converting many times fast.

    UTC offsets only change at a zone's transitions, which are months apart. A local day whose
    midnight and next midnight have the same single offset holds no transition, so that offset
    is cached for the whole day; a million CAD rows then cost a dict lookup each instead of four
    ``utcoffset`` calls. Days with a transition are never cached: every time on them goes
    through :func:`to_utc` and its ambiguity checks.

    Parameters
    ----------
    tz, ambiguous, nonexistent
        As for :func:`to_utc`.
    """

    __slots__ = ("_days", "ambiguous", "nonexistent", "zone")

    _CACHE_LIMIT = 100_000

    def __init__(self, tz: str | ZoneInfo, *, ambiguous: Ambiguous = "raise",
                 nonexistent: Nonexistent = "raise") -> None:
        _check_options(ambiguous, nonexistent)
        self.zone = zone(tz)
        self.ambiguous: Ambiguous = ambiguous
        self.nonexistent: Nonexistent = nonexistent
        self._days: dict[tuple[int, int, int], timedelta | None] = {}

    def __call__(self, local: datetime) -> datetime:
        """Return the aware UTC instant of the naive wall-clock time ``local``.

        Raises
        ------
        LocalTimeError
            As :func:`to_utc`.
        """
        key = (local.year, local.month, local.day)
        try:
            offset = self._days[key]
        except KeyError:
            offset = self._day_offset(local)
        if offset is None or local.tzinfo is not None:
            return to_utc(local, self.zone, ambiguous=self.ambiguous,
                          nonexistent=self.nonexistent)
        return (local - offset).replace(tzinfo=UTC)

    def _day_offset(self, local: datetime) -> timedelta | None:
        """Return the offset of ``local``'s whole day, or ``None`` if it may change that day."""
        if len(self._days) >= self._CACHE_LIMIT:
            self._days.clear()
        midnight = datetime(local.year, local.month, local.day)
        offsets = set()
        for wall in (midnight, midnight + timedelta(days=1)):
            for fold in (0, 1):
                offsets.add(wall.replace(tzinfo=self.zone, fold=fold).utcoffset())
        offset = offsets.pop() if len(offsets) == 1 else None
        self._days[(local.year, local.month, local.day)] = offset
        return offset


def _check_options(ambiguous: str, nonexistent: str) -> None:
    if ambiguous not in AMBIGUOUS_CHOICES:
        raise LocalTimeError(f"ambiguous must be one of {', '.join(AMBIGUOUS_CHOICES)}, "
                             f"got {ambiguous!r}")
    if nonexistent not in NONEXISTENT_CHOICES:
        raise LocalTimeError(f"nonexistent must be one of {', '.join(NONEXISTENT_CHOICES)}, "
                             f"got {nonexistent!r}")


def _offset(offset: timedelta | None, local: datetime, where: ZoneInfo) -> timedelta:
    if offset is None:  # pragma: no cover - ZoneInfo always knows the offset
        raise LocalTimeError(f"{local.isoformat(sep=' ')} has no UTC offset in {where.key}")
    return offset


def _ambiguous(local: datetime, where: ZoneInfo, early: datetime, late: datetime,
               ambiguous: Ambiguous) -> datetime:
    first, second = early.astimezone(UTC), late.astimezone(UTC)
    if ambiguous == "earlier":
        return min(first, second)
    if ambiguous == "later":
        return max(first, second)
    raise AmbiguousTimeError(
        f"{local.isoformat(sep=' ')} is ambiguous in {where.key} (clocks went back; it happened "
        f"at {min(first, second):%H:%M}Z and {max(first, second):%H:%M}Z); "
        "resolve with ambiguous='earlier' or 'later'")


def _nonexistent(local: datetime, where: ZoneInfo, early: datetime, late: datetime,
                 nonexistent: Nonexistent) -> datetime:
    before = _offset(early.utcoffset(), local, where)
    after = _offset(late.utcoffset(), local, where)
    if nonexistent == "shift_forward":
        return _gap_end(local, where, before, after)
    raise NonexistentTimeError(
        f"{local.isoformat(sep=' ')} does not exist in {where.key} (clocks went forward by "
        f"{abs(after - before)}); resolve with nonexistent='shift_forward'")


def _gap_end(local: datetime, where: ZoneInfo, before: timedelta, after: timedelta) -> datetime:
    """Return the first instant after the DST gap that swallowed ``local``.

    Read with the offset before the change, ``local`` lands after the transition; read one gap
    earlier, before it. The transition lies between, and is found by bisection on whole seconds
    (every tz database transition falls on a whole second).
    """
    gap = abs(after - before)
    low = int((local - gap - before).replace(tzinfo=UTC).timestamp() // 1)
    high = int((local - before).replace(tzinfo=UTC).timestamp() // 1)
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(where).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)
