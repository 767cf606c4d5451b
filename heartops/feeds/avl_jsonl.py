"""AVL as JSON lines: one object per line, parsed into :class:`~heartops.core.avl.AvlFix`.

Format (one line, UTF-8)::

    {"unit_id": "HEART-12", "lat": 35.9940, "lon": -78.8986,
     "time": "2024-01-24T15:04:05.250-05:00", "speed": 8.3, "heading": 271.5}

- ``unit_id``: a string (an integer is accepted and turned into its decimal string).
- ``lat``/``lon``: JSON numbers in decimal degrees (WGS 84). Strings are rejected: a feed that
  quotes numbers is misconfigured, and guessing hides that.
- ``time``: ISO 8601 *with* a UTC offset (``Z`` or ``±hh:mm``), or epoch seconds as a number.
  A time without an offset is rejected: the local zone of the sender is unknown.
- ``speed`` (m/s, >= 0) and ``heading`` (degrees, 0-360, 360 meaning north) are optional;
  ``null`` means absent. Other keys are ignored.

Non-finite numbers (``NaN``, ``Infinity``, ``1e400``) and booleans are rejected wherever a number
is expected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

from heartops.core.avl import AvlFix, RejectReason, is_valid_unit_id
from heartops.core.geo import GeoPoint

#: Longest line accepted, in characters (a fix is about 150; the limit also bounds JSON nesting).
MAX_JSON_LINE_LEN = 4096


class _NonFiniteError(ValueError):
    """``NaN``/``Infinity`` literals, which the json module accepts by default."""


def _refuse_constant(name: str) -> NoReturn:
    raise _NonFiniteError(name)


def parse_json_line(line: str | bytes, *, source: str = "jsonl") -> AvlFix | RejectReason:
    """Parse one JSON line into a fix.

    Parameters
    ----------
    line
        One JSON object (str, or UTF-8 bytes); surrounding whitespace and a BOM are ignored.
    source
        Stored in :attr:`AvlFix.source`.

    Returns
    -------
    AvlFix or RejectReason
        The fix, or why the line is unusable. Never raises on any input.
    """
    obj = _load_object(line)
    if isinstance(obj, RejectReason):
        return obj
    return fix_from_mapping(obj, source=source)


def fix_from_mapping(obj: Mapping[str, Any], *, source: str = "jsonl") -> AvlFix | RejectReason:
    """Build a fix from an already decoded JSON object (see the module docstring for keys)."""
    unit_id = _unit_id(obj.get("unit_id"))
    lat, lon = _number(obj.get("lat")), _number(obj.get("lon"))
    when = _time(obj.get("time"))
    speed, heading = _optional_number(obj.get("speed")), _optional_number(obj.get("heading"))
    if lat is None or lon is None or when is None:
        return RejectReason.MALFORMED
    if isinstance(speed, RejectReason) or isinstance(heading, RejectReason):
        return RejectReason.MALFORMED
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return RejectReason.BAD_COORDINATES
    if unit_id is None:
        return RejectReason.UNKNOWN_UNIT
    try:
        return AvlFix(
            unit_id=unit_id,
            position=GeoPoint(lat, lon),
            time=when,
            speed_mps=speed,
            heading_deg=None if heading is None else _heading(heading),
            source=source,
        )
    except ValueError:
        # Negative speed, heading beyond 360: well-typed but meaningless values.
        return RejectReason.MALFORMED


def format_json_line(fix: AvlFix) -> str:
    """Write ``fix`` as one JSON line (no newline); absent speed/heading are left out.

    Time is ISO 8601 in UTC with microseconds when it has them, so the line parses back to an
    equal fix (apart from ``source``).
    """
    obj: dict[str, Any] = {
        "unit_id": fix.unit_id,
        "lat": fix.position.lat,
        "lon": fix.position.lon,
        "time": fix.time.astimezone(UTC).isoformat(),
    }
    if fix.speed_mps is not None:
        obj["speed"] = fix.speed_mps
    if fix.heading_deg is not None:
        obj["heading"] = fix.heading_deg
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _load_object(line: str | bytes) -> dict[str, Any] | RejectReason:
    """Decode one line into a JSON object, or say why it is not one."""
    if len(line) > MAX_JSON_LINE_LEN:
        return RejectReason.TOO_LONG
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return RejectReason.MALFORMED
    text = line.strip().lstrip("\ufeff")
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, NaN/Infinity and over-long integer literals;
        # RecursionError deeply nested arrays.
        return RejectReason.MALFORMED
    if not isinstance(obj, dict):
        return RejectReason.MALFORMED
    return obj


def _unit_id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value) if abs(value) < 10**20 else None
    return value if isinstance(value, str) and is_valid_unit_id(value) else None


def _number(value: object) -> float | None:
    """Return a finite JSON number as float; ``None`` for anything else (bools, strings, 1e400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too big for a float
        return None
    return number if math.isfinite(number) else None


def _optional_number(value: object) -> float | RejectReason | None:
    """``None`` when absent or null, the number when valid, else ``MALFORMED``."""
    if value is None:
        return None
    number = _number(value)
    return RejectReason.MALFORMED if number is None else number


def _heading(degrees: float) -> float:
    """Fold 360 (north, as many devices write it) onto 0; leave other values to AvlFix."""
    return 0.0 if degrees == 360.0 else degrees


def _time(value: object) -> datetime | None:
    """ISO 8601 with an offset, or epoch seconds, as aware UTC; ``None`` if neither."""
    try:
        if isinstance(value, str):
            when = datetime.fromisoformat(value)
            if when.tzinfo is None or when.utcoffset() is None:
                return None
            return when.astimezone(UTC)
        seconds = _number(value)
        if seconds is None:
            return None
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        # Bad ISO text, or a time outside what datetime/the platform can represent.
        return None
