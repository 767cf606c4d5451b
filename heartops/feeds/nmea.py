r"""NMEA 0183 RMC sentences: parse them into :class:`~heartops.core.avl.AvlFix`, and write them.

Only RMC ("recommended minimum") sentences carry what dispatch needs in one line: time, date,
validity, position, speed and course. Any talker is accepted (``$GPRMC`` GPS, ``$GNRMC`` multi-
constellation, ``$GLRMC``, ``$GARMC``, ``$BDRMC`` ...). Other sentences (GGA, GSA, GSV, proprietary
``$P...``) are reported as ``UNSUPPORTED_SENTENCE``, so a receiver that streams everything works.

Unit id convention
------------------
An RMC sentence does not say which vehicle sent it, so the unit id comes from the transport. A
line is one of (first match wins):

1. an NMEA 4.x TAG block whose ``s:`` (source) parameter is the unit id, checksum required::

       \s:HEART-12*hh\$GPRMC,...*hh

2. the unit id, a comma, then the sentence (what most AVL modems can be configured to send)::

       HEART-12,$GPRMC,...*hh

   The id may not contain ``,``, ``$``, ``\`` or ``*`` and is not covered by the checksum.

3. a bare sentence; the caller supplies the unit id, e.g. from a map of the sender's address to
   a unit (``AvlFeed(unit_map={"10.0.0.5": "HEART-12"})``). Without one it is ``UNKNOWN_UNIT``.

Validation here is about the sentence alone: checksum (``*hh``, required), status ``A`` (``V``
and NMEA 2.3 mode ``N`` are ``INVALID_FIX``), field syntax and coordinate ranges. Whether the
fix is believable (time, speed, order) is :class:`heartops.core.avl.AvlValidator`'s job.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from heartops.core.avl import AvlFix, RejectReason, is_valid_unit_id
from heartops.core.geo import GeoPoint

#: One knot in metres per second (exactly one nautical mile, 1852 m, per hour).
KNOT_MPS = 1852.0 / 3600.0

#: Longest sentence accepted. The standard says 82 characters including CRLF, but real receivers
#: (NMEA 4.1 extra fields, high-precision coordinates) exceed it; far longer text is garbage.
MAX_SENTENCE_LEN = 200

#: Longest line accepted, including a unit id prefix or TAG block.
MAX_LINE_LEN = 512

# ASCII digits only: ``\d`` would also match other scripts' digits.
_TIME_RE = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})(?:\.([0-9]{1,6}))?")
_DATE_RE = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})")
_LAT_RE = re.compile(r"([0-9]{2})([0-9]{2}(?:\.[0-9]{1,9})?)")
_LON_RE = re.compile(r"([0-9]{3})([0-9]{2}(?:\.[0-9]{1,9})?)")
# Strict decimals: float() would also take "nan", "inf", "1e9", "1_0" and surrounding spaces.
_NUMBER_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{0,9})?|\.[0-9]{1,9}")
# Talker (two letters, not proprietary "P...") then the sentence formatter.
_RMC_ADDRESS_RE = re.compile(r"[A-OQ-Z][A-Z]RMC")
_ANY_ADDRESS_RE = re.compile(r"[A-Z][A-Z0-9]{2,7}")
_PREFIX_RE = re.compile(r"([^,$\\*]{1,64}),(\$.*)", re.DOTALL)
_TAG_PARAM_RE = re.compile(r"([a-z]{1,4}):([^,*\\]*)")

# RMC field positions (field 0 is the address, e.g. "GPRMC").
_TIME, _STATUS, _LAT, _NS, _LON, _EW, _SPEED, _COURSE, _DATE = range(1, 10)
_MODE = 12
_MIN_FIELDS = 10  # up to and including the date (NMEA 2.0 without variation fields)
_MAX_FIELDS = 14  # NMEA 4.1 adds variation, mode and navigational status


def nmea_checksum(body: str) -> int:
    """Return the NMEA checksum of ``body``: the XOR of its characters (between ``$`` and ``*``)."""
    value = 0
    for char in body.encode("ascii", errors="replace"):
        value ^= char
    return value


def parse_rmc(sentence: str, *, unit_id: str, source: str = "nmea") -> AvlFix | RejectReason:
    """Parse one RMC sentence into a fix.

    Parameters
    ----------
    sentence
        ``$xxRMC,...*hh``, surrounding whitespace (CR/LF) ignored.
    unit_id
        The unit that sent it (from the transport; see the module docstring).
    source
        Stored in :attr:`AvlFix.source`.

    Returns
    -------
    AvlFix or RejectReason
        The fix, or why the sentence is unusable. Never raises on any text.
    """
    fields = _verified_fields(sentence.strip())
    if isinstance(fields, RejectReason):
        return fields
    if not _RMC_ADDRESS_RE.fullmatch(fields[0]):
        known = _ANY_ADDRESS_RE.fullmatch(fields[0])
        return RejectReason.UNSUPPORTED_SENTENCE if known else RejectReason.MALFORMED
    if not _MIN_FIELDS <= len(fields) <= _MAX_FIELDS:
        return RejectReason.MALFORMED
    reason = _fix_status(fields)
    if reason is not None:
        return reason
    return _build_fix(fields, unit_id=unit_id, source=source)


def parse_nmea_line(
    line: str, *, unit_id: str | None = None, source: str = "nmea"
) -> AvlFix | RejectReason:
    """Parse one line holding an RMC sentence and, optionally, the unit id.

    Parameters
    ----------
    line
        A TAG-block line, a ``UNIT,$xxRMC,...`` line or a bare sentence (module docstring).
    unit_id
        The unit for a bare sentence (e.g. looked up from the sender's address); ignored when
        the line names its unit.
    source
        Stored in :attr:`AvlFix.source`.

    Returns
    -------
    AvlFix or RejectReason
        Never raises on any text.
    """
    text = line.strip()
    if len(text) > MAX_LINE_LEN or not text.isascii():
        return RejectReason.MALFORMED
    split = split_unit_id(text)
    if isinstance(split, RejectReason):
        return split
    named, sentence = split
    chosen = named if named is not None else unit_id
    return parse_rmc(sentence, unit_id=chosen or "", source=source)


def split_unit_id(line: str) -> tuple[str | None, str] | RejectReason:
    """Split a line into the unit id it names (TAG ``s:`` or prefix) and the sentence.

    Returns
    -------
    tuple or RejectReason
        ``(unit_id or None, sentence)``; ``BAD_CHECKSUM``/``MALFORMED`` for a broken TAG block.
    """
    if line.startswith("\\"):
        end = line.find("\\", 1)
        if end < 0:
            return RejectReason.MALFORMED
        params = _tag_params(line[1:end])
        if isinstance(params, RejectReason):
            return params
        return params.get("s"), line[end + 1 :]
    match = _PREFIX_RE.fullmatch(line)
    if match:
        return match[1], match[2]
    return None, line


def format_rmc(fix: AvlFix, *, talker: str = "GP") -> str:
    """Write ``fix`` as an RMC sentence with checksum (no CR/LF, no unit id).

    Latitude/longitude get 5 decimals of minutes (about 2 cm), time centiseconds (truncated),
    speed and course 2 decimals; the mode indicator is ``A`` (autonomous).

    Raises
    ------
    ValueError
        If ``talker`` is not two letters or the date falls outside RMC's 1980-2079 range.
    """
    if not _RMC_ADDRESS_RE.fullmatch(f"{talker}RMC"):
        raise ValueError(f"talker must be two capital letters not starting with P, got {talker!r}")
    when = fix.time.astimezone(UTC)
    if not 1980 <= when.year <= 2079:
        raise ValueError(f"RMC two-digit years cover 1980-2079, got {when.year}")
    lat, ns = _format_angle(fix.position.lat, 2), "N" if fix.position.lat >= 0 else "S"
    lon, ew = _format_angle(fix.position.lon, 3), "E" if fix.position.lon >= 0 else "W"
    speed = "" if fix.speed_mps is None else f"{fix.speed_mps / KNOT_MPS:.2f}"
    course = "" if fix.heading_deg is None else f"{fix.heading_deg:.2f}"
    body = ",".join(
        [
            f"{talker}RMC",
            f"{when:%H%M%S}.{when.microsecond // 10_000:02d}",
            "A",
            lat,
            ns,
            lon,
            ew,
            speed,
            course,
            f"{when:%d%m%y}",
            "",
            "",
            "A",
        ]
    )
    return f"${body}*{nmea_checksum(body):02X}"


def format_nmea_line(fix: AvlFix, *, tag_block: bool = False, talker: str = "GP") -> str:
    r"""Write ``fix`` as one line naming its unit: ``UNIT,$GPRMC,...`` or a TAG block line.

    Raises
    ------
    ValueError
        If the unit id cannot be carried (it contains ``,``, ``$``, ``\`` or ``*``), or as
        :func:`format_rmc`.
    """
    if any(char in fix.unit_id for char in ",$\\*"):
        raise ValueError(f"unit id {fix.unit_id!r} cannot be written in an NMEA line")
    sentence = format_rmc(fix, talker=talker)
    if not tag_block:
        return f"{fix.unit_id},{sentence}"
    tag = f"s:{fix.unit_id}"
    return f"\\{tag}*{nmea_checksum(tag):02X}\\{sentence}"


def _verified_fields(text: str) -> list[str] | RejectReason:
    """Check framing and checksum of ``$...*hh``; return the comma-separated fields."""
    if len(text) > MAX_SENTENCE_LEN or not text.isascii() or not text.startswith("$"):
        return RejectReason.MALFORMED
    body, star, given = text[1:].rpartition("*")
    if not star or not _checksum_matches(body, given):
        return RejectReason.BAD_CHECKSUM
    return body.split(",")


def _checksum_matches(body: str, given: str) -> bool:
    if len(given) != 2 or any(char not in "0123456789abcdefABCDEF" for char in given):
        return False
    return int(given, 16) == nmea_checksum(body)


def _tag_params(block: str) -> dict[str, str] | RejectReason:
    """Parse a TAG block's ``k:v,k:v*hh`` content (checksum required)."""
    content, star, given = block.rpartition("*")
    if not star or not _checksum_matches(content, given):
        return RejectReason.BAD_CHECKSUM
    params: dict[str, str] = {}
    for item in content.split(","):
        match = _TAG_PARAM_RE.fullmatch(item)
        if match is None:
            return RejectReason.MALFORMED
        params[match[1]] = match[2]
    return params


def _fix_status(fields: list[str]) -> RejectReason | None:
    """``INVALID_FIX`` when the receiver says the fix is void (status V, or mode N)."""
    status = fields[_STATUS]
    if status == "V":
        return RejectReason.INVALID_FIX
    if status != "A":
        return RejectReason.MALFORMED
    if len(fields) > _MODE and fields[_MODE] == "N":
        return RejectReason.INVALID_FIX
    return None


def _build_fix(fields: list[str], *, unit_id: str, source: str) -> AvlFix | RejectReason:
    """Turn the fields of a valid-status RMC sentence into a fix."""
    lat = _angle(fields[_LAT], fields[_NS], _LAT_RE, "NS", 90.0)
    if isinstance(lat, RejectReason):
        return lat
    lon = _angle(fields[_LON], fields[_EW], _LON_RE, "EW", 180.0)
    if isinstance(lon, RejectReason):
        return lon
    when = _utc(fields[_TIME], fields[_DATE])
    if isinstance(when, RejectReason):
        return when
    knots = _optional_number(fields[_SPEED])
    if isinstance(knots, RejectReason):
        return knots
    course = _optional_number(fields[_COURSE])
    if isinstance(course, RejectReason):
        return course
    if course is not None and course > 360.0:
        return RejectReason.MALFORMED
    if not is_valid_unit_id(unit_id):
        return RejectReason.UNKNOWN_UNIT
    return AvlFix(
        unit_id=unit_id,
        position=GeoPoint(lat, lon),
        time=when,
        speed_mps=None if knots is None else knots * KNOT_MPS,
        # Many receivers write 360.0 for due north.
        heading_deg=None if course is None else course % 360.0,
        source=source,
    )


def _angle(
    value: str, hemisphere: str, pattern: re.Pattern[str], signs: str, limit: float
) -> float | RejectReason:
    """Parse ``ddmm.mmmm``/``dddmm.mmmm`` and its hemisphere letter into signed degrees."""
    match = pattern.fullmatch(value)
    if match is None or len(hemisphere) != 1 or hemisphere not in signs:
        return RejectReason.MALFORMED
    degrees, minutes = int(match[1]), float(match[2])
    if minutes >= 60.0:
        return RejectReason.BAD_COORDINATES
    angle = degrees + minutes / 60.0
    if angle > limit:
        return RejectReason.BAD_COORDINATES
    return -angle if hemisphere == signs[1] else angle


def _utc(hhmmss: str, ddmmyy: str) -> datetime | RejectReason:
    """Combine RMC time and date fields into an aware UTC datetime."""
    time_match, date_match = _TIME_RE.fullmatch(hhmmss), _DATE_RE.fullmatch(ddmmyy)
    if time_match is None or date_match is None:
        return RejectReason.MALFORMED
    hour, minute, second = (int(time_match[i]) for i in (1, 2, 3))
    micro = int((time_match[4] or "").ljust(6, "0"))
    day, month, yy = (int(date_match[i]) for i in (1, 2, 3))
    # Two-digit years: NMEA receivers date from 1980 (GPS epoch) on.
    year = 1900 + yy if yy >= 80 else 2000 + yy
    # A leap second (ss = 60) is the instant after :59.
    leap = second == 60
    try:
        when = datetime(year, month, day, hour, minute, 59 if leap else second, micro, tzinfo=UTC)
    except ValueError:
        return RejectReason.MALFORMED
    return when + timedelta(seconds=1) if leap else when


def _optional_number(value: str) -> float | RejectReason | None:
    """Parse an optional non-negative decimal field (empty means absent)."""
    if value == "":
        return None
    if _NUMBER_RE.fullmatch(value) is None:
        return RejectReason.MALFORMED
    return float(value)


def _format_angle(value: float, degree_digits: int) -> str:
    """Write ``|value|`` as ``ddmm.mmmmm`` with integer arithmetic (no ``60.00000`` minutes)."""
    scale = 100_000
    total = round(abs(value) * 60 * scale)
    degrees, rest = divmod(total, 60 * scale)
    whole, fraction = divmod(rest, scale)
    return f"{degrees:0{degree_digits}d}{whole:02d}.{fraction:05d}"
