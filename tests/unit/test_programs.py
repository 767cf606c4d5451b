"""Program hours in the city's zone (DST, boundaries, windows crossing midnight) and clocks."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from heartops.core.clock import (
    DailyWindow,
    FixedClock,
    ManualClock,
    SystemClock,
    ensure_utc,
    parse_weekdays,
)
from heartops.core.codes import default_tables, load_tables
from heartops.core.errors import NaiveDatetimeError, TableError
from heartops.core.programs import Program, is_open

NY = ZoneInfo("America/New_York")


def ny(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


def program(code: str) -> Program:
    return default_tables().program(code)


def test_programs_have_the_published_hours() -> None:
    hours = {code: (p.hours.start, p.hours.end) for code, p in default_tables().programs.items()}
    assert hours == {
        "CCD": (time(9, 0), time(21, 0)),
        "CRT": (time(9, 15), time(23, 45)),
        "COR": (time(6, 0), time(21, 0)),
        "CN": (time(9, 0), time(21, 0)),
    }
    for p in default_tables().programs.values():
        assert p.hours.days == frozenset(range(7))
        assert p.citywide
        assert str(p.timezone) == "America/New_York"


def test_crt_closes_at_2345_exclusive_and_opens_at_0915() -> None:
    crt = program("CRT")
    assert is_open(crt, ny(2024, 6, 30, 23, 44, 59))
    assert not is_open(crt, ny(2024, 6, 30, 23, 45))
    assert not is_open(crt, ny(2024, 7, 1, 0, 30))
    assert not is_open(crt, ny(2024, 7, 1, 9, 14, 59))
    assert is_open(crt, ny(2024, 7, 1, 9, 15))
    # The same boundary given in UTC: 23:45 EDT is 03:45Z the next day.
    assert is_open(crt, datetime(2024, 7, 1, 3, 44, tzinfo=UTC))
    assert not is_open(crt, datetime(2024, 7, 1, 3, 45, tzinfo=UTC))


def test_hours_follow_local_time_across_spring_forward() -> None:
    ccd = program("CCD")
    # 13:30Z is 08:30 EST the day before the change, 09:30 EDT on the day of it.
    assert not is_open(ccd, datetime(2024, 3, 9, 13, 30, tzinfo=UTC))
    assert is_open(ccd, datetime(2024, 3, 10, 13, 30, tzinfo=UTC))


def test_hours_follow_local_time_across_fall_back() -> None:
    cor = program("COR")  # opens 06:00
    # 10:30Z is 06:30 EDT on 2 Nov, 05:30 EST on 3 Nov (clocks went back at 02:00).
    assert is_open(cor, datetime(2024, 11, 2, 10, 30, tzinfo=UTC))
    assert not is_open(cor, datetime(2024, 11, 3, 10, 30, tzinfo=UTC))
    assert is_open(cor, datetime(2024, 11, 3, 11, 0, tzinfo=UTC))


def test_naive_time_is_refused() -> None:
    with pytest.raises(NaiveDatetimeError, match="timezone-aware"):
        is_open(program("CRT"), datetime(2024, 6, 1, 12, 0))


def test_window_crossing_midnight_belongs_to_the_day_it_opens() -> None:
    friday_nights = DailyWindow(time(20, 0), time(4, 0), frozenset({4}))
    assert friday_nights.crosses_midnight
    assert friday_nights.contains(ny(2024, 6, 7, 23, 0), NY)      # Friday 23:00
    assert friday_nights.contains(ny(2024, 6, 8, 3, 59), NY)      # Saturday 03:59
    assert not friday_nights.contains(ny(2024, 6, 8, 4, 0), NY)   # Saturday 04:00
    assert not friday_nights.contains(ny(2024, 6, 8, 21, 0), NY)  # Saturday night
    assert not friday_nights.contains(ny(2024, 6, 7, 3, 0), NY)   # Thursday's night
    assert friday_nights.describe() == "20:00–04:00 fri"


def test_window_crossing_midnight_on_the_night_clocks_spring_forward() -> None:
    nights = DailyWindow(time(22, 0), time(2, 30))
    assert nights.contains(datetime(2024, 3, 10, 6, 30, tzinfo=UTC), NY)     # 01:30 EST
    assert not nights.contains(datetime(2024, 3, 10, 7, 30, tzinfo=UTC), NY)  # 03:30 EDT
    assert nights.contains(datetime(2024, 3, 11, 2, 30, tzinfo=UTC), NY)     # 22:30 EDT


def test_whole_day_window() -> None:
    always = DailyWindow(time(0), time(0))
    assert always.contains(ny(2024, 1, 1, 0, 0), NY)
    assert always.contains(ny(2024, 1, 1, 23, 59), NY)


def test_agency_tables_with_night_program_in_another_zone(tmp_path: Path) -> None:
    (tmp_path / "programs.toml").write_text("""
timezone = "America/Los_Angeles"

[programs.CCD]
name = "Crisis line"
opens = "08:00"
closes = "20:00"
dispatchable = true
in_person = false
team_roles = ["clinician"]

[programs.CRT]
name = "Night team"
opens = "18:00"
closes = "02:00"
days = ["fri", "sat"]
dispatchable = true
in_person = true
team_roles = ["clinician", "peer_support", "emt"]
check_in = { due_minutes = 15, supervisor_minutes = 25, backup_minutes = 35 }

[programs.COR]
name = "Co-response"
opens = "06:00"
closes = "21:00"
dispatchable = true
in_person = true
team_roles = ["clinician", "police_officer"]
""", encoding="utf-8")
    tables = load_tables(tmp_path)
    night = tables.program("CRT")
    la = ZoneInfo("America/Los_Angeles")
    assert tables.timezone == la
    assert is_open(night, datetime(2024, 6, 8, 1, 30, tzinfo=la))       # Saturday 01:30
    assert is_open(night, datetime(2024, 6, 9, 1, 30, tzinfo=la))       # Sunday 01:30
    assert not is_open(night, datetime(2024, 6, 10, 1, 30, tzinfo=la))  # Monday 01:30
    assert night.check_in is not None
    assert night.check_in.backup == timedelta(minutes=35)
    # The same instant is judged by its local time in LA, not in New York.
    assert is_open(night, datetime(2024, 6, 8, 8, 30, tzinfo=UTC))  # 01:30 PDT
    # Other tables come from the package.
    assert "welfare_check" in tables.call_types


def test_bad_program_table_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "programs.toml").write_text("""
[programs.CRT]
name = "x"
opens = "9am"
closes = "21:00"
dispatchable = true
in_person = true
""", encoding="utf-8")
    with pytest.raises(TableError, match=r"programs\.CRT.*9am"):
        load_tables(tmp_path)


def test_parse_weekdays() -> None:
    assert parse_weekdays("daily") == frozenset(range(7))
    assert parse_weekdays(["Mon", "friday"]) == frozenset({0, 4})
    with pytest.raises(ValueError, match="unknown weekday"):
        parse_weekdays(["someday"])


def test_clocks() -> None:
    start = ny(2024, 6, 1, 9, 0)
    fixed = FixedClock(start)
    assert fixed.now() == start and fixed.now().tzinfo is UTC
    manual = ManualClock(start)
    assert manual.advance(minutes=5) == start + timedelta(minutes=5)
    with pytest.raises(ValueError):
        manual.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        manual.set(start)
    now = SystemClock().now()
    assert now.tzinfo is UTC
    with pytest.raises(NaiveDatetimeError):
        FixedClock(datetime(2024, 1, 1))
    assert ensure_utc(start).utcoffset() == timedelta(0)
