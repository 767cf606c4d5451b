"""Local wall-clock times to UTC: ordinary times, the DST fall-back hour and spring-forward gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartops.core.errors import (
    AmbiguousTimeError,
    HeartopsError,
    LocalTimeError,
    NonexistentTimeError,
)
from heartops.core.localtime import LocalTimeConverter, to_utc, zone

NY = "America/New_York"
AMBIGUOUS = datetime(2024, 11, 3, 1, 30)      # clocks went back 02:00 EDT -> 01:00 EST
NONEXISTENT = datetime(2024, 3, 10, 2, 30)    # clocks went forward 02:00 EST -> 03:00 EDT


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


@pytest.mark.parametrize(("local", "expected"), [
    (datetime(2024, 1, 24, 15, 4, 5), utc(2024, 1, 24, 20, 4, 5)),        # EST, UTC-5
    (datetime(2024, 7, 4, 12, 0, 0, 250_000), utc(2024, 7, 4, 16, 0, 0, 250_000)),  # EDT, UTC-4
    (datetime(2024, 11, 3, 0, 59, 59), utc(2024, 11, 3, 4, 59, 59)),      # just before the overlap
    (datetime(2024, 11, 3, 2, 0), utc(2024, 11, 3, 7, 0)),                # just after it
    (datetime(2024, 3, 10, 1, 59, 59), utc(2024, 3, 10, 6, 59, 59)),      # just before the gap
    (datetime(2024, 3, 10, 3, 0), utc(2024, 3, 10, 7, 0)),                # the gap's end
])
def test_ordinary_times_convert_with_their_offset(local: datetime, expected: datetime) -> None:
    got = to_utc(local, NY)
    assert got == expected
    assert got.tzinfo is UTC
    assert to_utc(local, ZoneInfo(NY)) == expected


def test_ambiguous_time_is_refused_naming_the_time_and_zone() -> None:
    with pytest.raises(AmbiguousTimeError) as info:
        to_utc(AMBIGUOUS, NY)
    message = str(info.value)
    assert "\n" not in message
    assert "2024-11-03 01:30:00" in message and NY in message and "ambiguous" in message
    assert "05:30Z" in message and "06:30Z" in message
    assert isinstance(info.value, HeartopsError)


def test_ambiguous_time_resolves_to_the_first_or_second_occurrence() -> None:
    assert to_utc(AMBIGUOUS, NY, ambiguous="earlier") == utc(2024, 11, 3, 5, 30)  # EDT
    assert to_utc(AMBIGUOUS, NY, ambiguous="later") == utc(2024, 11, 3, 6, 30)    # EST
    # The option for gaps does not resolve an overlap.
    with pytest.raises(LocalTimeError, match="ambiguous"):
        to_utc(AMBIGUOUS, NY, nonexistent="shift_forward")


def test_nonexistent_time_is_refused_naming_the_time_and_zone() -> None:
    with pytest.raises(NonexistentTimeError) as info:
        to_utc(NONEXISTENT, NY)
    message = str(info.value)
    assert "\n" not in message
    assert "2024-03-10 02:30:00" in message and NY in message and "does not exist" in message
    with pytest.raises(LocalTimeError, match="does not exist"):
        to_utc(NONEXISTENT, NY, ambiguous="earlier")


def test_nonexistent_time_shifts_forward_to_the_end_of_the_gap() -> None:
    assert to_utc(NONEXISTENT, NY, nonexistent="shift_forward") == utc(2024, 3, 10, 7, 0)
    # 03:00 EDT: the first wall-clock time that exists after the gap.
    assert (to_utc(datetime(2024, 3, 10, 2, 0), NY, nonexistent="shift_forward")
            == to_utc(datetime(2024, 3, 10, 3, 0), NY))


def test_aware_input_unknown_zone_and_bad_options_are_refused() -> None:
    with pytest.raises(LocalTimeError, match="already has a time zone"):
        to_utc(utc(2024, 1, 1), NY)
    with pytest.raises(LocalTimeError, match="unknown time zone 'Mars/Olympus'"):
        to_utc(datetime(2024, 1, 1), "Mars/Olympus")
    with pytest.raises(LocalTimeError, match="ambiguous must be one of"):
        to_utc(datetime(2024, 1, 1), NY, ambiguous="first")  # type: ignore[arg-type]
    with pytest.raises(LocalTimeError, match="nonexistent must be one of"):
        LocalTimeConverter(NY, nonexistent="skip")  # type: ignore[arg-type]
    with pytest.raises(LocalTimeError):
        zone("../etc/passwd")


def test_utc_zone_is_identity() -> None:
    assert to_utc(AMBIGUOUS, "UTC") == utc(2024, 11, 3, 1, 30)


def test_converter_refuses_like_to_utc_on_change_days() -> None:
    convert = LocalTimeConverter(NY)
    assert convert(datetime(2024, 11, 3, 12, 0)) == utc(2024, 11, 3, 17, 0)  # EST that afternoon
    with pytest.raises(LocalTimeError, match="ambiguous"):
        convert(AMBIGUOUS)
    with pytest.raises(LocalTimeError, match="does not exist"):
        convert(NONEXISTENT)
    assert LocalTimeConverter(NY, ambiguous="later")(AMBIGUOUS) == utc(2024, 11, 3, 6, 30)


OPTIONS = st.sampled_from([("earlier", "shift_forward"), ("later", "shift_forward"),
                           ("earlier", "raise"), ("raise", "raise")])


@settings(max_examples=400, deadline=None)
@given(minutes=st.integers(-3 * 24 * 60, 3 * 24 * 60), seconds=st.integers(0, 59),
       change=st.sampled_from([AMBIGUOUS, NONEXISTENT, datetime(2023, 3, 26, 1, 30),
                               datetime(2023, 10, 29, 1, 30)]),
       tz=st.sampled_from([NY, "America/Los_Angeles", "Europe/London"]), options=OPTIONS)
def test_converter_agrees_with_to_utc_around_dst_changes(
        minutes: int, seconds: int, change: datetime, tz: str, options: tuple[str, str]) -> None:
    local = change + timedelta(minutes=minutes, seconds=seconds)
    ambiguous, nonexistent = options
    convert = LocalTimeConverter(tz, ambiguous=ambiguous, nonexistent=nonexistent)  # type: ignore[arg-type]
    try:
        expected: datetime | str = to_utc(local, tz, ambiguous=ambiguous,  # type: ignore[arg-type]
                                          nonexistent=nonexistent)  # type: ignore[arg-type]
    except LocalTimeError as exc:
        expected = str(exc)
    # Warm the day cache with another time of the same day first, then convert.
    for first in (local.replace(hour=12), local):
        try:
            got: datetime | str = convert(first)
        except LocalTimeError as exc:
            got = str(exc)
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(local=st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2037, 12, 31)),
       tz=st.sampled_from([NY, "America/Los_Angeles", "Australia/Lord_Howe", "Asia/Kolkata"]))
def test_resolved_times_read_back_as_the_same_wall_time_or_later(local: datetime, tz: str) -> None:
    got = to_utc(local, tz, ambiguous="earlier", nonexistent="shift_forward")
    back = got.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    # An existing time reads back exactly; a skipped one moves forward, by less than the gap.
    assert local <= back < local + timedelta(hours=1) or back == local
