"""Automatic vehicle location (AVL): the fix value type and the rules that vet each fix.

A feed (``heartops.feeds``) turns bytes into :class:`AvlFix` values or a :class:`RejectReason`;
an :class:`AvlValidator` then decides whether each well-formed fix is believable, given the
clock and the unit's last accepted fix. Nothing here touches a socket or a file, so the rules are
tested on plain values and shared by every transport (UDP, TCP, files, the simulator).

The validator is not thread-safe: one feed owns it and serialises calls (see
``heartops.feeds.avl_listen.AvlFeed``).

Beyond the plain "consecutive accepted fixes" teleport rule, the validator recovers from a bad
*anchor*: if the unit's last accepted fix was itself a glitch, every later true fix would look like
a teleport and the unit would freeze on the map. So when a fix rejected as a teleport and the
next fix agree with each other (a plausible speed between them) but not with the anchor, the next
fix is accepted and becomes the new anchor. A single outlier is still always rejected.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from heartops.core.clock import Clock
from heartops.core.geo import GeoPoint, haversine_m

#: Longest unit id accepted from any transport; ids are short call signs like ``HEART-12``.
MAX_UNIT_ID_LEN = 64

#: Key of :attr:`AvlValidator.counts` that counts accepted fixes.
ACCEPTED = "accepted"


class RejectReason(StrEnum):
    """Why a line, datagram or fix was not accepted.

    Values are stable snake_case strings, used as counter keys and in logs.
    """

    BAD_CHECKSUM = "bad_checksum"
    INVALID_FIX = "invalid_fix"
    BAD_COORDINATES = "bad_coordinates"
    NULL_ISLAND = "null_island"
    FUTURE_TIME = "future_time"
    TOO_OLD = "too_old"
    BAD_SPEED = "bad_speed"
    TELEPORT = "teleport"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    MALFORMED = "malformed"
    UNKNOWN_UNIT = "unknown_unit"
    TOO_LONG = "too_long"
    UNSUPPORTED_SENTENCE = "unsupported_sentence"

    @property
    def description(self) -> str:
        """A short human-readable explanation, for summaries and the UI."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[RejectReason, str] = {
    RejectReason.BAD_CHECKSUM: "bad or missing NMEA checksum",
    RejectReason.INVALID_FIX: "receiver reports no valid fix (status V / mode N)",
    RejectReason.BAD_COORDINATES: "coordinates out of range",
    RejectReason.NULL_ISLAND: "position (0, 0)",
    RejectReason.FUTURE_TIME: "time in the future",
    RejectReason.TOO_OLD: "time too old",
    RejectReason.BAD_SPEED: "reported speed above the limit",
    RejectReason.TELEPORT: "implied speed from the last fix above the limit",
    RejectReason.DUPLICATE: "same time as the last accepted fix",
    RejectReason.OUT_OF_ORDER: "older than the last accepted fix",
    RejectReason.MALFORMED: "malformed line",
    RejectReason.UNKNOWN_UNIT: "no or unknown unit id",
    RejectReason.TOO_LONG: "line too long",
    RejectReason.UNSUPPORTED_SENTENCE: "ignored: not an RMC sentence",
}


@dataclass(frozen=True, slots=True)
class AvlFix:
    """One reported position of one unit.

    Attributes
    ----------
    unit_id
        The unit (vehicle) id: 1 to :data:`MAX_UNIT_ID_LEN` printable characters, no surrounding
        whitespace.
    position
        Where the unit was.
    time
        When it was there: aware, in UTC.
    speed_mps
        Reported ground speed in metres per second (finite, >= 0), if any.
    heading_deg
        Reported course over ground in degrees clockwise from true north, in [0, 360), if any.
    source
        Where the fix came from (``"udp 10.0.0.5:4001"``, ``"file avl.log:12"``), for logs.

    Raises
    ------
    ValueError
        If a field breaks the rules above (parsers turn that into a :class:`RejectReason`).
    """

    unit_id: str
    position: GeoPoint
    time: datetime
    speed_mps: float | None = None
    heading_deg: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        _check_unit_id(self.unit_id)
        if self.time.tzinfo is None or self.time.utcoffset() != timedelta(0):
            raise ValueError(f"fix time must be aware UTC, got {self.time!r}")
        speed = self.speed_mps
        if speed is not None and not (math.isfinite(speed) and speed >= 0.0):
            raise ValueError(f"speed must be a finite number >= 0, got {speed!r}")
        heading = self.heading_deg
        if heading is not None and not (math.isfinite(heading) and 0.0 <= heading < 360.0):
            raise ValueError(f"heading must be in [0, 360), got {heading!r}")


def _check_unit_id(unit_id: object) -> None:
    """Raise ValueError unless ``unit_id`` is a short printable id."""
    if not isinstance(unit_id, str) or not 0 < len(unit_id) <= MAX_UNIT_ID_LEN:
        raise ValueError(f"unit id must be 1 to {MAX_UNIT_ID_LEN} characters")
    if not unit_id.isprintable() or unit_id != unit_id.strip():
        raise ValueError(f"unit id must be printable without surrounding spaces: {unit_id!r}")


def is_valid_unit_id(unit_id: object) -> bool:
    """Return whether ``unit_id`` may be used as :attr:`AvlFix.unit_id`."""
    try:
        _check_unit_id(unit_id)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class FeedStats:
    """How many fixes a feed accepted, and how many it rejected for each reason.

    Attributes
    ----------
    accepted
        Fixes that passed every check.
    rejected
        Rejected lines/fixes by reason (reasons never seen are absent).
    """

    accepted: int = 0
    rejected: Mapping[RejectReason, int] = field(default_factory=dict)

    @property
    def total_rejected(self) -> int:
        """All rejections, whatever the reason."""
        return sum(self.rejected.values())

    def lines(self) -> list[str]:
        """Return the summary as printable lines, most frequent reason first."""
        out = [f"accepted: {self.accepted}", f"rejected: {self.total_rejected}"]
        ranked = sorted(self.rejected.items(), key=lambda item: (-item[1], item[0].value))
        out += [f"  {reason.value}: {n} ({reason.description})" for reason, n in ranked]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass(slots=True)
class _UnitTrack:
    """What the validator remembers about one unit."""

    anchor: AvlFix
    # The last fix rejected as a teleport, kept to detect that the anchor was the outlier.
    suspect: AvlFix | None = None


class AvlValidator:
    """Decides whether each fix is believable, and remembers each unit's last accepted fix.

    Parameters
    ----------
    clock
        Source of "now" for the future/too-old checks (:class:`heartops.core.clock.Clock`; any
        object with ``now()``). A naive ``now()`` is taken as UTC rather than raised on, so a
        misconfigured clock cannot stop a live feed.
    max_age_s
        Reject fixes older than this many seconds; ``None`` disables the check (file replay).
    future_tolerance_s
        Accept fixes up to this many seconds ahead of ``clock`` (receiver vs. desk clock skew).
    max_speed_mps
        The fastest a unit can really go (70 m/s is about 157 mph); faster reported speeds and
        faster implied moves between fixes are rejected.
    jitter_m
        Position noise forgiven when computing the implied speed, so that two fixes a fraction of a
        second apart with ordinary GPS scatter do not look like a teleport.
    known_units
        If given, fixes of any other unit are rejected as ``UNKNOWN_UNIT``.
    max_units
        At most this many units are remembered; the one silent longest is forgotten first (bounds
        memory when a feed sends arbitrary ids).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        max_age_s: float | None = 300.0,
        future_tolerance_s: float = 5.0,
        max_speed_mps: float = 70.0,
        jitter_m: float = 25.0,
        known_units: Collection[str] | None = None,
        max_units: int = 10_000,
    ) -> None:
        if max_age_s is not None and not max_age_s > 0:
            raise ValueError(f"max_age_s must be > 0 or None, got {max_age_s!r}")
        if not future_tolerance_s >= 0:
            raise ValueError(f"future_tolerance_s must be >= 0, got {future_tolerance_s!r}")
        if not max_speed_mps > 0:
            raise ValueError(f"max_speed_mps must be > 0, got {max_speed_mps!r}")
        if not jitter_m >= 0:
            raise ValueError(f"jitter_m must be >= 0, got {jitter_m!r}")
        if max_units < 1:
            raise ValueError(f"max_units must be >= 1, got {max_units!r}")
        self._clock = clock
        self.max_age = None if max_age_s is None else timedelta(seconds=max_age_s)
        self.future_tolerance = timedelta(seconds=future_tolerance_s)
        self.max_speed_mps = max_speed_mps
        self.jitter_m = jitter_m
        self.known_units = None if known_units is None else frozenset(known_units)
        self.max_units = max_units
        self.counts: Counter[str] = Counter()
        # Least recently accepted first, so eviction drops the unit silent the longest.
        self._tracks: OrderedDict[str, _UnitTrack] = OrderedDict()

    def check(self, fix: AvlFix) -> RejectReason | None:
        """Vet ``fix``; remember it as the unit's latest when accepted.

        Returns
        -------
        RejectReason or None
            Why the fix is rejected, or ``None`` when it is accepted. Either way it is counted.
        """
        reason = self._judge(fix)
        self.counts[reason if reason is not None else ACCEPTED] += 1
        return reason

    def note_rejected(self, reason: RejectReason) -> None:
        """Count a rejection found before validation (a parser or transport error)."""
        self.counts[reason] += 1

    def last_fix(self, unit_id: str) -> AvlFix | None:
        """Return the last accepted fix of ``unit_id``, if any."""
        track = self._tracks.get(unit_id)
        return None if track is None else track.anchor

    def stats(self) -> FeedStats:
        """Return a snapshot of the counts."""
        rejected = {RejectReason(k): n for k, n in self.counts.items() if k != ACCEPTED and n}
        return FeedStats(accepted=self.counts[ACCEPTED], rejected=rejected)

    def _now(self) -> datetime:
        now = self._clock.now()
        return now.replace(tzinfo=UTC) if now.tzinfo is None else now

    def _judge(self, fix: AvlFix) -> RejectReason | None:
        """Return the first rule ``fix`` breaks, accepting it (updating the track) if none."""
        reason = self._check_alone(fix)
        if reason is not None:
            return reason
        track = self._tracks.get(fix.unit_id)
        if track is None:
            self._remember(fix)
            return None
        reason = self._check_against(track, fix)
        if reason is None:
            self._remember(fix)
        return reason

    def _check_alone(self, fix: AvlFix) -> RejectReason | None:
        """Rules that need only the fix and the clock."""
        if self.known_units is not None and fix.unit_id not in self.known_units:
            return RejectReason.UNKNOWN_UNIT
        if fix.position.lat == 0.0 and fix.position.lon == 0.0:
            # Receivers without a fix (and zero-initialised structs) report exactly (0, 0).
            return RejectReason.NULL_ISLAND
        now = self._now()
        if fix.time > now + self.future_tolerance:
            return RejectReason.FUTURE_TIME
        if self.max_age is not None and now - fix.time > self.max_age:
            return RejectReason.TOO_OLD
        if fix.speed_mps is not None and fix.speed_mps > self.max_speed_mps:
            return RejectReason.BAD_SPEED
        return None

    def _check_against(self, track: _UnitTrack, fix: AvlFix) -> RejectReason | None:
        """Rules that compare ``fix`` with the unit's last accepted fix."""
        last = track.anchor
        if fix.time == last.time:
            return RejectReason.DUPLICATE
        if fix.time < last.time:
            # A unit never moves backward in time: late UDP datagrams, replayed buffers.
            return RejectReason.OUT_OF_ORDER
        if self._plausible(last, fix):
            return None
        suspect = track.suspect
        if suspect is not None and fix.time > suspect.time and self._plausible(suspect, fix):
            # Two consecutive fixes agree with each other but not with the anchor: the anchor
            # was the outlier, so move the anchor rather than freeze the unit on a bad position.
            return None
        track.suspect = fix
        return RejectReason.TELEPORT

    def _plausible(self, earlier: AvlFix, later: AvlFix) -> bool:
        """Return whether a unit could drive from ``earlier`` to (strictly later) ``later``."""
        seconds = (later.time - earlier.time).total_seconds()
        metres = max(0.0, haversine_m(earlier.position, later.position) - self.jitter_m)
        return metres <= self.max_speed_mps * seconds

    def _remember(self, fix: AvlFix) -> None:
        self._tracks[fix.unit_id] = _UnitTrack(anchor=fix)
        self._tracks.move_to_end(fix.unit_id)
        while len(self._tracks) > self.max_units:
            self._tracks.popitem(last=False)
