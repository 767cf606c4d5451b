"""Hypothesis-generated input: the parsers and the feed never raise, whatever arrives.

Every result must be either a well-formed AvlFix or a RejectReason; corrupted sentences must be
rejected; valid fixes must survive a write/parse round trip.
"""

from __future__ import annotations

import json
import math
import operator
from datetime import UTC, datetime, timedelta
from functools import reduce

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from heartops.core.avl import AvlFix, AvlValidator, RejectReason
from heartops.core.geo import GeoPoint
from heartops.feeds.avl_jsonl import format_json_line, parse_json_line
from heartops.feeds.avl_listen import AvlFeed, LineSplitter
from heartops.feeds.nmea import format_nmea_line, format_rmc, parse_nmea_line, parse_rmc

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=100, deadline=None)

T0 = datetime(2024, 1, 24, 15, 0, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return T0


def assert_well_formed(result: object) -> None:
    """Either a reason, or a fix whose every field keeps the documented invariants."""
    if isinstance(result, RejectReason):
        return
    assert isinstance(result, AvlFix), result
    assert -90 <= result.position.lat <= 90 and -180 <= result.position.lon <= 180
    assert math.isfinite(result.position.lat) and math.isfinite(result.position.lon)
    assert result.time.utcoffset() == timedelta(0)
    assert result.speed_mps is None or (math.isfinite(result.speed_mps) and result.speed_mps >= 0)
    assert result.heading_deg is None or 0 <= result.heading_deg < 360
    assert 0 < len(result.unit_id) <= 64 and result.unit_id.isprintable()


def checksum(body: str) -> str:
    return f"{reduce(operator.xor, body.encode('ascii'), 0):02X}"


# --- strategies -------------------------------------------------------------------------------

unit_ids = st.from_regex(r"[A-Z][A-Z0-9_-]{0,11}", fullmatch=True)
fixes = st.builds(
    AvlFix,
    unit_id=unit_ids,
    position=st.builds(GeoPoint, st.floats(-90, 90), st.floats(-180, 180)),
    time=st.datetimes(datetime(1980, 1, 1), datetime(2079, 12, 31),
                      timezones=st.just(UTC)),
    speed_mps=st.none() | st.floats(0, 100),
    heading_deg=st.none() | st.floats(0, 360, exclude_max=True),
    source=st.just("fuzz"),
)
printable_ascii = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
                | st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
fix_keys = st.sampled_from(["unit_id", "lat", "lon", "time", "speed", "heading"])


# --- arbitrary input never raises ---------------------------------------------------------------


@FUZZ
@given(st.text(max_size=300))
def test_any_text_as_nmea(text: str) -> None:
    assert_well_formed(parse_rmc(text, unit_id="U"))
    assert_well_formed(parse_nmea_line(text))
    assert_well_formed(parse_nmea_line(text, unit_id="U"))


@FUZZ
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_text_or_bytes_as_json(data: str | bytes) -> None:
    assert_well_formed(parse_json_line(data))


@FUZZ
@given(st.dictionaries(fix_keys | st.text(max_size=5), json_values, max_size=8))
def test_random_json_objects(obj: dict[str, object]) -> None:
    assert_well_formed(parse_json_line(json.dumps(obj)))


@FUZZ
@given(fixes, st.sampled_from(["unit_id", "lat", "lon", "time", "speed", "heading"]), json_values)
def test_valid_json_with_one_field_replaced(fix: AvlFix, key: str, value: object) -> None:
    obj = json.loads(format_json_line(fix))
    obj[key] = value
    assert_well_formed(parse_json_line(json.dumps(obj)))


# --- mutated sentences --------------------------------------------------------------------------


@FUZZ
@given(fixes, st.data())
def test_changed_character_with_stale_checksum_is_rejected(fix: AvlFix, data: st.DataObject
                                                           ) -> None:
    text = format_rmc(fix)
    star = text.rindex("*")
    where = data.draw(st.integers(1, star - 1), label="position")
    new = data.draw(printable_ascii.filter(lambda c: c != text[where]), label="character")
    mutated = text[:where] + new + text[where + 1 :]
    # Any single changed printable character changes the XOR, so the checksum must catch it.
    assert parse_rmc(mutated, unit_id="U") is RejectReason.BAD_CHECKSUM
    assert parse_nmea_line(f"{fix.unit_id},{mutated}") is RejectReason.BAD_CHECKSUM


@FUZZ
@given(fixes, st.integers(0, 255))
def test_corrupted_checksum_is_rejected(fix: AvlFix, wrong: int) -> None:
    text = format_rmc(fix)
    assume(f"{wrong:02X}" != text[-2:])
    assert parse_rmc(text[:-2] + f"{wrong:02X}", unit_id="U") is RejectReason.BAD_CHECKSUM


@FUZZ
@given(fixes, st.lists(st.tuples(st.integers(0, 200), st.characters(max_codepoint=0x7F)),
                       min_size=1, max_size=6))
def test_mutated_sentence_with_recomputed_checksum_never_raises(
    fix: AvlFix, edits: list[tuple[int, str]]
) -> None:
    body = format_rmc(fix)[1:].rsplit("*", 1)[0]
    chars = list(body)
    for where, new in edits:
        chars[where % len(chars)] = new
    body = "".join(chars)
    assert_well_formed(parse_rmc(f"${body}*{checksum(body)}", unit_id="U"))


# --- round trips ------------------------------------------------------------------------------


@FUZZ
@given(fixes, st.sampled_from(["GP", "GN", "GL"]), st.booleans())
def test_nmea_round_trip(fix: AvlFix, talker: str, tag_block: bool) -> None:
    back = parse_nmea_line(format_nmea_line(fix, tag_block=tag_block, talker=talker))
    assert isinstance(back, AvlFix), back
    assert back.unit_id == fix.unit_id
    # 5 decimals of minutes: 1e-5 / 60 degree, about 2 cm.
    assert abs(back.position.lat - fix.position.lat) <= 1e-5 / 60 / 2 + 1e-12
    assert abs(back.position.lon - fix.position.lon) <= 1e-5 / 60 / 2 + 1e-12
    assert timedelta(0) <= fix.time - back.time < timedelta(milliseconds=10)
    if fix.speed_mps is None:
        assert back.speed_mps is None
    else:
        assert back.speed_mps is not None
        assert abs(back.speed_mps - fix.speed_mps) <= 0.005 * 1852 / 3600 + 1e-9
    if fix.heading_deg is None:
        assert back.heading_deg is None
    else:
        assert back.heading_deg is not None
        diff = abs(back.heading_deg - fix.heading_deg) % 360
        assert min(diff, 360 - diff) <= 0.005 + 1e-9


@FUZZ
@given(fixes)
def test_json_round_trip(fix: AvlFix) -> None:
    assert parse_json_line(format_json_line(fix), source="fuzz") == fix


# --- the feed and the splitter ----------------------------------------------------------------


@FEW
@given(st.lists(st.binary(max_size=200) | st.text(max_size=200)
                | fixes.map(format_json_line) | fixes.map(format_nmea_line), max_size=30))
def test_feed_never_raises_and_counts_every_line(lines: list[str | bytes]) -> None:
    delivered: list[AvlFix] = []
    feed = AvlFeed(delivered.append, validator=AvlValidator(FixedClock(), max_age_s=None),
                   max_line_bytes=150)
    counted = 0
    for line in lines:
        result = feed.feed_line(line)
        if result is not None:
            assert_well_formed(result)
            counted += 1
    stats = feed.stats()
    assert stats.accepted + stats.total_rejected == counted
    assert stats.accepted == len(delivered)
    # Accepted fixes of a unit only ever move forward in time.
    for unit in {f.unit_id for f in delivered}:
        times = [f.time for f in delivered if f.unit_id == unit]
        assert times == sorted(set(times))


@FEW
@given(st.binary(max_size=2000))
def test_feed_data_never_raises(data: bytes) -> None:
    feed = AvlFeed(lambda fix: None, validator=AvlValidator(FixedClock()))
    feed.feed_data(data)


@FEW
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20),
       st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_splitter_reassembles_any_chunking(lines: list[bytes], sizes: list[int]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    splitter = LineSplitter(max_line_bytes=20)
    out: list[bytes | None] = []
    start, i = 0, 0
    while start < len(data):
        size = sizes[i % len(sizes)]
        out += splitter.push(data[start : start + size])
        start, i = start + size, i + 1
    out += splitter.flush()
    assert out == [line if len(line) <= 20 else None for line in lines]
