"""The fix rules (AvlValidator), the JSON-lines parser, and how AvlFeed counts and logs."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from heartops.core.avl import ACCEPTED, AvlFix, AvlValidator, FeedStats, RejectReason
from heartops.core.errors import FeedError
from heartops.core.geo import GeoPoint
from heartops.feeds.avl_jsonl import format_json_line, parse_json_line
from heartops.feeds.avl_listen import AvlFeed
from heartops.feeds.nmea import format_nmea_line

T0 = datetime(2024, 1, 24, 15, 0, 0, tzinfo=UTC)
DURHAM = GeoPoint(35.9940, -78.8986)
# About 1 degree of latitude north: ~111 km.
FAR = GeoPoint(36.9940, -78.8986)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def fix(t: float, *, unit: str = "HEART-1", north_m: float = 0.0, speed: float | None = None,
        at: GeoPoint | None = None) -> AvlFix:
    """A fix ``t`` seconds after T0, ``north_m`` metres north of downtown Durham."""
    point = at or GeoPoint(DURHAM.lat + north_m / 111_195.0, DURHAM.lon)
    return AvlFix(unit, point, T0 + timedelta(seconds=t), speed, None, "test")


def validator(now_s: float = 0.0, **kw: float | None) -> AvlValidator:
    return AvlValidator(FakeClock(T0 + timedelta(seconds=now_s)), **kw)  # type: ignore[arg-type]


# --- AvlFix invariants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"time": datetime(2024, 1, 24)},  # naive
        {"time": datetime(2024, 1, 24, tzinfo=timezone(timedelta(hours=-5)))},  # not UTC
        {"speed_mps": -1.0},
        {"speed_mps": math.nan},
        {"heading_deg": 360.0},
        {"heading_deg": -0.5},
        {"unit_id": ""},
        {"unit_id": " HEART-1"},
        {"unit_id": "x" * 65},
        {"unit_id": "HEART\n1"},
    ],
)
def test_fix_refuses_bad_fields(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"unit_id": "HEART-1", "position": DURHAM, "time": T0}
    with pytest.raises(ValueError):
        AvlFix(**{**base, **kwargs})  # type: ignore[arg-type]


# --- AvlValidator -----------------------------------------------------------------------------


def test_accepts_and_counts() -> None:
    v = validator()
    assert v.check(fix(-10)) is None
    assert v.check(fix(-5, north_m=50)) is None
    assert v.counts[ACCEPTED] == 2
    assert v.last_fix("HEART-1") == fix(-5, north_m=50)
    assert v.last_fix("HEART-2") is None


def test_null_island() -> None:
    assert validator().check(fix(0, at=GeoPoint(0.0, 0.0))) is RejectReason.NULL_ISLAND
    # Near but not at (0, 0) is a real place (Gulf of Guinea) and passes.
    assert validator().check(fix(0, at=GeoPoint(0.0001, 0.0))) is None


def test_future_time_beyond_tolerance_only() -> None:
    v = validator(future_tolerance_s=5.0)
    assert v.check(fix(5.0)) is None
    assert v.check(fix(5.5, unit="HEART-2")) is RejectReason.FUTURE_TIME


def test_too_old_is_configurable() -> None:
    assert validator(max_age_s=60).check(fix(-61)) is RejectReason.TOO_OLD
    assert validator(max_age_s=60).check(fix(-59)) is None
    assert validator(max_age_s=None).check(fix(-10 * 365 * 86400)) is None


def test_reported_speed_above_limit() -> None:
    v = validator(max_speed_mps=70)
    assert v.check(fix(0, speed=71.0)) is RejectReason.BAD_SPEED
    assert v.check(fix(0, speed=69.0)) is None


def test_unknown_unit_when_a_roster_is_given() -> None:
    v = AvlValidator(FakeClock(T0), known_units={"HEART-1"})
    assert v.check(fix(0, unit="HEART-9")) is RejectReason.UNKNOWN_UNIT
    assert v.check(fix(0)) is None


def test_duplicate_and_out_of_order() -> None:
    v = validator()
    assert v.check(fix(-10)) is None
    assert v.check(fix(-10)) is RejectReason.DUPLICATE
    assert v.check(fix(-10, north_m=5)) is RejectReason.DUPLICATE  # same time, other place
    assert v.check(fix(-11)) is RejectReason.OUT_OF_ORDER
    assert v.check(fix(-9)) is None
    # Rejections do not move the anchor.
    assert v.last_fix("HEART-1") == fix(-9)


def test_units_are_independent() -> None:
    v = validator()
    assert v.check(fix(-10, unit="A")) is None
    assert v.check(fix(-20, unit="B")) is None  # older than A's fix, but B is another unit
    assert v.check(fix(-20, unit="B", north_m=10)) is RejectReason.DUPLICATE


def test_teleport_single_outlier_is_rejected_and_the_track_goes_on() -> None:
    v = validator(max_speed_mps=70)
    assert v.check(fix(-30)) is None
    assert v.check(fix(-29, at=FAR)) is RejectReason.TELEPORT  # 111 km in 1 s
    assert v.check(fix(-28, north_m=20)) is None  # back on track
    assert v.last_fix("HEART-1") == fix(-28, north_m=20)


def test_teleport_limit_is_the_implied_speed() -> None:
    v = validator(max_speed_mps=70, jitter_m=0)
    assert v.check(fix(-100)) is None
    assert v.check(fix(-90, north_m=690)) is None  # 69 m/s
    assert v.check(fix(-80, north_m=690 + 720)) is RejectReason.TELEPORT  # 72 m/s


def test_jitter_forgiven_for_fixes_close_in_time() -> None:
    v = validator(max_speed_mps=70, jitter_m=25)
    assert v.check(fix(-10)) is None
    # 20 m of scatter in 0.1 s would be 200 m/s without the jitter allowance.
    assert v.check(fix(-9.9, north_m=20)) is None


def test_bad_anchor_is_replaced_by_two_agreeing_fixes() -> None:
    v = validator(max_speed_mps=70)
    assert v.check(fix(-30, at=FAR)) is None  # first fix was a glitch, nothing to compare to
    assert v.check(fix(-20)) is RejectReason.TELEPORT
    assert v.check(fix(-10, north_m=50)) is None  # agrees with the previous fix: re-anchored
    assert v.check(fix(-5, north_m=100)) is None
    assert v.counts[RejectReason.TELEPORT] == 1


def test_two_disagreeing_outliers_do_not_reanchor() -> None:
    v = validator(max_speed_mps=70)
    assert v.check(fix(-30)) is None
    assert v.check(fix(-20, at=FAR)) is RejectReason.TELEPORT
    assert v.check(fix(-10, at=GeoPoint(34.0, -78.8986))) is RejectReason.TELEPORT
    assert v.last_fix("HEART-1") == fix(-30)


def test_memory_is_bounded_forgetting_the_longest_silent_unit() -> None:
    v = AvlValidator(FakeClock(T0), max_units=2)
    v.check(fix(-3, unit="A"))
    v.check(fix(-2, unit="B"))
    v.check(fix(-1, unit="A"))
    v.check(fix(-1, unit="C"))
    assert v.last_fix("B") is None
    assert v.last_fix("A") is not None and v.last_fix("C") is not None


def test_naive_clock_is_taken_as_utc() -> None:
    v = AvlValidator(FakeClock(T0.replace(tzinfo=None)))
    assert v.check(fix(0)) is None


@pytest.mark.parametrize(
    "kwargs",
    [{"max_age_s": 0}, {"future_tolerance_s": -1}, {"max_speed_mps": 0}, {"jitter_m": -1},
     {"max_units": 0}, {"max_speed_mps": math.nan}],
)
def test_validator_refuses_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AvlValidator(FakeClock(T0), **kwargs)  # type: ignore[arg-type]


def test_stats_lines() -> None:
    v = validator()
    v.check(fix(-10))
    v.check(fix(-10))
    v.note_rejected(RejectReason.BAD_CHECKSUM)
    v.note_rejected(RejectReason.BAD_CHECKSUM)
    stats = v.stats()
    assert stats == FeedStats(accepted=1, rejected={RejectReason.BAD_CHECKSUM: 2,
                                                    RejectReason.DUPLICATE: 1})
    assert stats.total_rejected == 3
    assert stats.lines() == [
        "accepted: 1",
        "rejected: 3",
        "  bad_checksum: 2 (bad or missing NMEA checksum)",
        "  duplicate: 1 (same time as the last accepted fix)",
    ]
    assert str(stats).splitlines() == stats.lines()
    assert str(FeedStats()) == "accepted: 0\nrejected: 0"


# --- JSON lines -------------------------------------------------------------------------------


def line(**kw: object) -> str:
    obj: dict[str, object] = {"unit_id": "HEART-1", "lat": 35.994, "lon": -78.8986,
                              "time": "2024-01-24T15:00:00Z"}
    obj.update(kw)
    return json.dumps({k: v for k, v in obj.items() if v is not _DROP})


_DROP = object()


def test_json_line_good() -> None:
    got = parse_json_line(line(speed=8.5, heading=271.5, extra="ignored"))
    assert got == AvlFix("HEART-1", GeoPoint(35.994, -78.8986), T0, 8.5, 271.5, "jsonl")


def test_json_time_offset_epoch_and_bytes() -> None:
    a = parse_json_line(line(time="2024-01-24T10:00:00-05:00"))
    b = parse_json_line(line(time=T0.timestamp()).encode())
    c = parse_json_line(line(time=int(T0.timestamp()), unit_id=12), source="udp x")
    assert isinstance(a, AvlFix) and isinstance(b, AvlFix) and isinstance(c, AvlFix)
    assert a.time == b.time == c.time == T0
    assert a.time.tzinfo is UTC
    assert c.unit_id == "12" and c.source == "udp x"


def test_json_heading_360_is_north_and_nulls_are_absent() -> None:
    got = parse_json_line(line(heading=360, speed=None))
    assert isinstance(got, AvlFix) and got.heading_deg == 0.0 and got.speed_mps is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (line(lat=_DROP), RejectReason.MALFORMED),
        (line(time=_DROP), RejectReason.MALFORMED),
        (line(lat="35.994"), RejectReason.MALFORMED),
        (line(lat=True), RejectReason.MALFORMED),
        (line(lon=[1]), RejectReason.MALFORMED),
        (line(time="2024-01-24T15:00:00"), RejectReason.MALFORMED),  # no offset
        (line(time="yesterday"), RejectReason.MALFORMED),
        (line(time=1e30), RejectReason.MALFORMED),
        (line(time=None), RejectReason.MALFORMED),
        (line(speed=-1), RejectReason.MALFORMED),
        (line(speed="fast"), RejectReason.MALFORMED),
        (line(heading=400), RejectReason.MALFORMED),
        (line(lat=91), RejectReason.BAD_COORDINATES),
        (line(lon=-180.5), RejectReason.BAD_COORDINATES),
        (line(unit_id=_DROP), RejectReason.UNKNOWN_UNIT),
        (line(unit_id=""), RejectReason.UNKNOWN_UNIT),
        (line(unit_id=True), RejectReason.UNKNOWN_UNIT),
        (line(unit_id={"a": 1}), RejectReason.UNKNOWN_UNIT),
        ('{"unit_id":"U","lat":NaN,"lon":1,"time":0}', RejectReason.MALFORMED),
        ('{"unit_id":"U","lat":1e400,"lon":1,"time":0}', RejectReason.MALFORMED),
        ('{"unit_id":"U","lat":1,"lon":1,"time":Infinity}', RejectReason.MALFORMED),
        ('{"unit_id":"U","lat":1,"lon":' + "9" * 400 + ',"time":0}', RejectReason.MALFORMED),
        ("[1, 2]", RejectReason.MALFORMED),
        ('"just a string"', RejectReason.MALFORMED),
        ("{", RejectReason.MALFORMED),
        ("", RejectReason.MALFORMED),
        ("[" * 3000, RejectReason.MALFORMED),
        ("{" + " " * 5000 + "}", RejectReason.TOO_LONG),
    ],
)
def test_json_rejections(text: str, reason: RejectReason) -> None:
    assert parse_json_line(text) is reason


def test_json_invalid_utf8_and_bom() -> None:
    assert parse_json_line(b'{"unit_id":"\xff"}') is RejectReason.MALFORMED
    assert isinstance(parse_json_line("\ufeff" + line()), AvlFix)


def test_json_round_trip_is_exact() -> None:
    original = AvlFix("HEART-1", GeoPoint(35.99401234567, -78.8986), T0 + timedelta(
        microseconds=123_456), 3.25, 12.5, "x")
    text = format_json_line(original)
    assert "\n" not in text
    back = parse_json_line(text, source="x")
    assert back == original


# --- AvlFeed: counting, logging, callbacks ----------------------------------------------------


class Ticker:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_feed(fixes: list[AvlFix], ticker: Ticker | None = None, **kw: object) -> AvlFeed:
    return AvlFeed(fixes.append, validator=validator(), monotonic=ticker or Ticker(),
                   **kw)  # type: ignore[arg-type]


def test_feed_detects_format_per_line_and_counts_everything() -> None:
    got: list[AvlFix] = []
    feed = make_feed(got)
    assert isinstance(feed.feed_line(format_nmea_line(fix(-20)) + "\r\n", source="s"), AvlFix)
    assert isinstance(feed.feed_line(format_json_line(fix(-10, north_m=30)).encode()), AvlFix)
    assert feed.feed_line("   \r\n") is None
    assert feed.feed_line(b"\xff\xfe garbage") is RejectReason.MALFORMED
    assert feed.feed_line("x" * 5000) is RejectReason.TOO_LONG
    assert feed.feed_line(format_json_line(fix(-10, north_m=30))) is RejectReason.DUPLICATE
    feed.reject(RejectReason.TOO_LONG, source="tcp")
    assert [f.time for f in got] == [fix(-20).time, fix(-10).time]
    assert got[0].source == "s"
    stats = feed.stats()
    assert stats.accepted == 2
    assert stats.rejected == {RejectReason.MALFORMED: 1, RejectReason.TOO_LONG: 2,
                              RejectReason.DUPLICATE: 1}


def test_feed_forced_format() -> None:
    feed = make_feed([], format="jsonl")
    assert feed.feed_line(format_nmea_line(fix(-20))) is RejectReason.MALFORMED
    with pytest.raises(FeedError, match="unknown AVL format 'xml'"):
        make_feed([], format="xml")


def test_feed_unit_map_by_address() -> None:
    got: list[AvlFix] = []
    feed = make_feed(got, unit_map={"10.0.0.5": "HEART-5", "10.0.0.6:4001": "HEART-6"})
    bare = format_nmea_line(fix(-20)).split(",", 1)[1]
    assert isinstance(feed.feed_line(bare, peer=("10.0.0.5", 9999)), AvlFix)
    assert isinstance(feed.feed_line(bare, peer=("10.0.0.6", 4001)), AvlFix)
    assert feed.feed_line(bare, peer=("10.0.0.6", 4002)) is RejectReason.UNKNOWN_UNIT
    assert feed.feed_line(bare) is RejectReason.UNKNOWN_UNIT
    assert [f.unit_id for f in got] == ["HEART-5", "HEART-6"]


def test_rejections_are_logged_at_debug_and_summarised_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticker = Ticker()
    feed = make_feed([], ticker, log_interval_s=10.0)
    caplog.set_level(logging.DEBUG, logger="heartops.feeds.avl_listen")
    for _ in range(1000):
        feed.feed_line(b"\x00garbage\xff")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    debugs = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(warnings) == 1  # the first one at once, then quiet for the interval
    assert len(debugs) == 1000
    assert "malformed" in warnings[0].getMessage()
    ticker.t = 10.0
    feed.feed_line("$GPRMC,bad*11")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "1000 line(s)" in warnings[1].getMessage()
    assert "malformed 999, bad_checksum 1" in warnings[1].getMessage()
    feed.flush_log()  # nothing pending: no extra line
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_unsupported_sentences_are_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    feed = make_feed([])
    caplog.set_level(logging.INFO, logger="heartops.feeds.avl_listen")
    feed.feed_line("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47")
    assert not caplog.records
    assert feed.stats().rejected == {RejectReason.UNSUPPORTED_SENTENCE: 1}


def test_a_failing_callback_does_not_stop_the_feed(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[AvlFix] = []

    def on_fix(f: AvlFix) -> None:
        seen.append(f)
        raise RuntimeError("handler bug")

    feed = AvlFeed(on_fix, validator=validator(), monotonic=Ticker())
    for i in range(3):
        assert isinstance(feed.feed_line(format_json_line(fix(-30 + i))), AvlFix)
    assert len(seen) == 3 and feed.callback_errors == 3
    assert feed.stats().accepted == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "handler bug" in (errors[0].exc_text or "")
