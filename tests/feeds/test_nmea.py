"""NMEA 0183 RMC parsing and writing, on published sentences and crafted bad ones."""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from functools import reduce

import pytest

from heartops.core.avl import AvlFix, RejectReason
from heartops.core.geo import GeoPoint
from heartops.feeds.nmea import (
    format_nmea_line,
    format_rmc,
    parse_nmea_line,
    parse_rmc,
    split_unit_id,
)

KNOT = 1852 / 3600  # m/s, written out here rather than imported from the code under test


def xor_checksum(body: str) -> str:
    """Independent NMEA checksum: XOR of the bytes between '$' and '*', two hex digits."""
    return f"{reduce(operator.xor, body.encode('ascii'), 0):02X}"


def sentence(body: str) -> str:
    return f"${body}*{xor_checksum(body)}"


# Published example sentences (gpsd "NMEA Revealed", u-blox M8 protocol description) with the
# checksums they were published with; the first test proves those checksums independently.
PUBLISHED = {
    "munich": "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
    "melbourne": "$GPRMC,081836,A,3751.65,S,14507.36,E,000.0,360.0,130998,011.3,E*62",
    "ublox": "$GPRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A*57",
    "vancouver": "$GPRMC,225446,A,4916.45,N,12311.12,W,000.5,054.7,191194,020.3,E*68",
}


@pytest.mark.parametrize("text", PUBLISHED.values(), ids=PUBLISHED.keys())
def test_published_checksums_are_right(text: str) -> None:
    body, given = text[1:].rsplit("*", 1)
    assert xor_checksum(body) == given


def test_munich_example() -> None:
    fix = parse_rmc(PUBLISHED["munich"], unit_id="HEART-1")
    assert isinstance(fix, AvlFix)
    assert fix.unit_id == "HEART-1"
    assert fix.position.lat == pytest.approx(48 + 7.038 / 60, abs=1e-12)
    assert fix.position.lon == pytest.approx(11 + 31.0 / 60, abs=1e-12)
    assert fix.time == datetime(1994, 3, 23, 12, 35, 19, tzinfo=UTC)
    assert fix.speed_mps == pytest.approx(22.4 * KNOT)
    assert fix.heading_deg == pytest.approx(84.4)


def test_southern_hemisphere_and_course_360_is_north() -> None:
    fix = parse_rmc(PUBLISHED["melbourne"], unit_id="U")
    assert isinstance(fix, AvlFix)
    assert fix.position.lat == pytest.approx(-(37 + 51.65 / 60), abs=1e-12)
    assert fix.position.lon == pytest.approx(145 + 7.36 / 60, abs=1e-12)
    assert fix.time == datetime(1998, 9, 13, 8, 18, 36, tzinfo=UTC)
    assert fix.speed_mps == 0.0
    assert fix.heading_deg == 0.0


def test_western_hemisphere() -> None:
    fix = parse_rmc(PUBLISHED["vancouver"], unit_id="U")
    assert isinstance(fix, AvlFix)
    assert fix.position.lat == pytest.approx(49 + 16.45 / 60, abs=1e-12)
    assert fix.position.lon == pytest.approx(-(123 + 11.12 / 60), abs=1e-12)
    assert fix.time == datetime(1994, 11, 19, 22, 54, 46, tzinfo=UTC)


def test_nmea_23_sentence_with_fractional_seconds_and_mode() -> None:
    fix = parse_rmc(PUBLISHED["ublox"], unit_id="U")
    assert isinstance(fix, AvlFix)
    assert fix.position.lat == pytest.approx(47 + 17.11437 / 60, abs=1e-12)
    assert fix.position.lon == pytest.approx(8 + 33.91522 / 60, abs=1e-12)
    assert fix.time == datetime(2002, 12, 9, 8, 35, 59, tzinfo=UTC)
    assert fix.speed_mps == pytest.approx(0.004 * KNOT)
    assert fix.heading_deg == pytest.approx(77.52)


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "BD"])
def test_any_talker(talker: str) -> None:
    text = sentence(f"{talker}RMC,150405.25,A,3559.64000,N,07853.91600,W,5.0,270.0,240124,,,D")
    fix = parse_rmc(text, unit_id="HEART-12")
    assert isinstance(fix, AvlFix)
    # Durham NC, Wednesday 24 January 2024, 15:04:05.25 UTC.
    assert fix.position.lat == pytest.approx(35 + 59.64 / 60)
    assert fix.position.lon == pytest.approx(-(78 + 53.916 / 60))
    assert fix.time == datetime(2024, 1, 24, 15, 4, 5, 250_000, tzinfo=UTC)
    assert fix.speed_mps == pytest.approx(5 * KNOT)


def test_empty_speed_and_course_are_absent_and_crlf_lowercase_hex_accepted() -> None:
    body = "GNRMC,150405,A,3559.64,N,07853.916,W,,,240124,,,A"
    fix = parse_rmc(f"${body}*{xor_checksum(body).lower()}\r\n", unit_id="U")
    assert isinstance(fix, AvlFix)
    assert fix.speed_mps is None and fix.heading_deg is None


def test_two_digit_years_pivot_at_1980() -> None:
    for ddmmyy, year in [("010180", 1980), ("311299", 1999), ("010100", 2000), ("311279", 2079)]:
        fix = parse_rmc(sentence(f"GPRMC,000000,A,3559.64,N,07853.916,W,0,0,{ddmmyy}"),
                        unit_id="U")
        assert isinstance(fix, AvlFix) and fix.time.year == year


def test_leap_second_is_the_instant_after_59() -> None:
    fix = parse_rmc(sentence("GPRMC,235960,A,3559.64,N,07853.916,W,0,0,311216"), unit_id="U")
    assert isinstance(fix, AvlFix)
    assert fix.time == datetime(2017, 1, 1, 0, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # Checksums: wrong, missing, not hex, one digit.
        (PUBLISHED["munich"][:-2] + "6B", RejectReason.BAD_CHECKSUM),
        (PUBLISHED["munich"][:-3], RejectReason.BAD_CHECKSUM),
        (PUBLISHED["munich"][:-2] + "ZZ", RejectReason.BAD_CHECKSUM),
        (PUBLISHED["munich"][:-1], RejectReason.BAD_CHECKSUM),
        (PUBLISHED["munich"].replace("4807.038", "4807.039"), RejectReason.BAD_CHECKSUM),
        # Receiver says the fix is void: status V (typical cold-start line), or NMEA 2.3 mode N.
        ("$GPRMC,,V,,,,,,,,,,N*53", RejectReason.INVALID_FIX),
        (sentence("GPRMC,123519,V,4807.038,N,01131.000,E,0,0,230394,,"), RejectReason.INVALID_FIX),
        (sentence("GPRMC,123519,A,4807.038,N,01131.000,E,0,0,230394,,,N"),
         RejectReason.INVALID_FIX),
        # Coordinates out of range.
        (sentence("GPRMC,123519,A,9100.000,N,01131.000,E,0,0,230394,,"),
         RejectReason.BAD_COORDINATES),
        (sentence("GPRMC,123519,A,4860.500,N,01131.000,E,0,0,230394,,"),
         RejectReason.BAD_COORDINATES),
        (sentence("GPRMC,123519,A,4807.038,N,18100.000,E,0,0,230394,,"),
         RejectReason.BAD_COORDINATES),
        # Malformed fields.
        (sentence("GPRMC,123519,A,4807.038,X,01131.000,E,0,0,230394,,"), RejectReason.MALFORMED),
        (sentence("GPRMC,123519,A,,N,01131.000,E,0,0,230394,,"), RejectReason.MALFORMED),
        (sentence("GPRMC,123519,A,48O7.038,N,01131.000,E,0,0,230394,,"), RejectReason.MALFORMED),
        (sentence("GPRMC,256000,A,4807.038,N,01131.000,E,0,0,230394,,"), RejectReason.MALFORMED),
        (sentence("GPRMC,123519,A,4807.038,N,01131.000,E,0,0,310299,,"), RejectReason.MALFORMED),
        (sentence("GPRMC,123519,A,4807.038,N,01131.000,E,nan,0,230394,,"),
         RejectReason.MALFORMED),
        (sentence("GPRMC,123519,A,4807.038,N,01131.000,E,-3,0,230394,,"), RejectReason.MALFORMED),
        (sentence("GPRMC,123519,A,4807.038,N,01131.000,E,1e3,0,230394,,"),
         RejectReason.MALFORMED),
        (sentence("GPRMC,123519,A,4807.038,N,01131.000,E,0,361,230394,,"),
         RejectReason.MALFORMED),
        (sentence("GPRMC,123519,A,4807.038,N,01131.000,E"), RejectReason.MALFORMED),
        (sentence("GPRMC,123519,X,4807.038,N,01131.000,E,0,0,230394,,"), RejectReason.MALFORMED),
        (sentence("GPRMC" + ",1" * 20), RejectReason.MALFORMED),
        (sentence("gprmc,123519,A,4807.038,N,01131.000,E,0,0,230394,,"), RejectReason.MALFORMED),
        ("GPRMC,123519,A,4807.038,N,01131.000,E,0,0,230394,,*00", RejectReason.MALFORMED),
        ("$GPRMC,123519,A,4807.038,N,01131.000,E,0,0,230394,,é*00", RejectReason.MALFORMED),
        ("$" + "A" * 300 + "*00", RejectReason.MALFORMED),
        ("", RejectReason.MALFORMED),
        # Not RMC: other standard and proprietary sentences are ignored, not errors.
        ("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
         RejectReason.UNSUPPORTED_SENTENCE),
        (sentence("PGRME,15.0,M,45.0,M,25.0,M"), RejectReason.UNSUPPORTED_SENTENCE),
    ],
)
def test_rejections(text: str, reason: RejectReason) -> None:
    assert parse_rmc(text, unit_id="U") is reason


def test_unit_id_from_prefix() -> None:
    fix = parse_nmea_line("HEART-12," + PUBLISHED["munich"], unit_id="ignored")
    assert isinstance(fix, AvlFix) and fix.unit_id == "HEART-12"


def test_unit_id_from_tag_block() -> None:
    tag = "s:HEART-7,c:1706108645"
    fix = parse_nmea_line(f"\\{tag}*{xor_checksum(tag)}\\{PUBLISHED['munich']}\r\n")
    assert isinstance(fix, AvlFix) and fix.unit_id == "HEART-7"


def test_tag_block_needs_a_good_checksum_and_well_formed_params() -> None:
    good = "s:HEART-7"
    assert parse_nmea_line(f"\\{good}*00\\{PUBLISHED['munich']}") is RejectReason.BAD_CHECKSUM
    assert parse_nmea_line(f"\\{good}\\{PUBLISHED['munich']}") is RejectReason.BAD_CHECKSUM
    bad = "s:HEART-7,nonsense"
    assert (parse_nmea_line(f"\\{bad}*{xor_checksum(bad)}\\{PUBLISHED['munich']}")
            is RejectReason.MALFORMED)
    assert parse_nmea_line(f"\\{good}*{xor_checksum(good)}") is RejectReason.MALFORMED


def test_bare_sentence_uses_the_transport_unit_or_is_unknown() -> None:
    fix = parse_nmea_line(PUBLISHED["munich"], unit_id="HEART-3")
    assert isinstance(fix, AvlFix) and fix.unit_id == "HEART-3"
    assert parse_nmea_line(PUBLISHED["munich"]) is RejectReason.UNKNOWN_UNIT
    assert parse_nmea_line(PUBLISHED["munich"], unit_id=" ") is RejectReason.UNKNOWN_UNIT
    # A sentence's own faults are reported before the missing unit.
    assert parse_nmea_line(PUBLISHED["munich"][:-2] + "00") is RejectReason.BAD_CHECKSUM


def test_split_unit_id() -> None:
    assert split_unit_id("U-1,$GPRMC,x*00") == ("U-1", "$GPRMC,x*00")
    assert split_unit_id("$GPRMC,x*00") == (None, "$GPRMC,x*00")
    assert split_unit_id("\\s:U*00\\$GPRMC") is RejectReason.BAD_CHECKSUM


def _fix(lat: float, lon: float, **kw: object) -> AvlFix:
    base: dict[str, object] = {
        "unit_id": "HEART-12",
        "position": GeoPoint(lat, lon),
        "time": datetime(2024, 1, 24, 15, 4, 5, 678_901, tzinfo=UTC),
        "speed_mps": 12.5,
        "heading_deg": 271.25,
    }
    base.update(kw)
    return AvlFix(**base)  # type: ignore[arg-type]


def test_format_rmc_is_valid_and_parses_back() -> None:
    fix = _fix(35.9940, -78.8986)
    text = format_rmc(fix)
    body, given = text[1:].rsplit("*", 1)
    assert given == xor_checksum(body)
    assert body.split(",")[:3] == ["GPRMC", "150405.67", "A"]
    back = parse_rmc(text, unit_id="HEART-12")
    assert isinstance(back, AvlFix)
    assert back.position.lat == pytest.approx(35.9940, abs=1e-7)
    assert back.position.lon == pytest.approx(-78.8986, abs=1e-7)
    assert back.time == datetime(2024, 1, 24, 15, 4, 5, 670_000, tzinfo=UTC)
    assert back.speed_mps == pytest.approx(12.5, abs=0.003)
    assert back.heading_deg == pytest.approx(271.25)


def test_format_never_writes_60_minutes() -> None:
    text = format_rmc(_fix(35.99999999999, -78.99999999999))
    assert ",3600.00000,N,07900.00000,W," in text


def test_format_nmea_line_both_conventions_round_trip() -> None:
    fix = _fix(-33.8688, 151.2093, speed_mps=None, heading_deg=None)
    for tag_block in (False, True):
        line = format_nmea_line(fix, tag_block=tag_block, talker="GN")
        back = parse_nmea_line(line)
        assert isinstance(back, AvlFix), line
        assert back.unit_id == "HEART-12" and back.speed_mps is None
    with pytest.raises(ValueError, match="cannot be written"):
        format_nmea_line(_fix(1, 1, unit_id="A,B"))
    with pytest.raises(ValueError, match="1980-2079"):
        format_rmc(_fix(1, 1, time=datetime(2090, 1, 1, tzinfo=UTC)))
    with pytest.raises(ValueError, match="talker"):
        format_rmc(_fix(1, 1), talker="P1")
