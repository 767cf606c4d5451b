"""The department's programs (CCD, CRT, COR, CN) and their hours of operation.

A :class:`Program` is configuration, read from ``resources/tables/programs.toml`` by
:mod:`heartops.core.codes`: who responds; when it is open (a
:class:`~heartops.core.clock.DailyWindow` in the city's zone); whether the 911 center
dispatches it to incoming calls (CN only follows up); whether it goes in person (CCD works by
phone); the team roles its units carry; its service zones; which call priorities it never
takes; and the on-scene check-in thresholds of its safety ladder.

This module owns the parsing of that TOML so the rules about a program live next to its type;
it does not read files (see :mod:`heartops.core.codes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from heartops.core.clock import DEFAULT_TIMEZONE, DailyWindow, parse_wall_time, parse_weekdays
from heartops.core.errors import TableError


@dataclass(frozen=True, slots=True)
class CheckInThresholds:
    """When an on-scene team's silence escalates, measured from arrival or the last check-in.

    Attributes
    ----------
    check_in_due
        The team should check in now (the dispatcher calls them).
    supervisor
        The supervisor is alerted.
    backup
        Backup (PD/EMS) is recommended.
    """

    check_in_due: timedelta
    supervisor: timedelta
    backup: timedelta

    def __post_init__(self) -> None:
        if not timedelta() < self.check_in_due < self.supervisor < self.backup:
            raise ValueError("check-in thresholds must be positive and increasing "
                             f"(due {self.check_in_due}, supervisor {self.supervisor}, "
                             f"backup {self.backup})")


@dataclass(frozen=True, slots=True)
class Program:
    """One program of the department.

    Attributes
    ----------
    code
        Short code used everywhere (``"CRT"``).
    name
        Full name (``"Community Response Team"``).
    responders
        Who responds, for people reading the board.
    hours
        When the program takes calls, in ``timezone``.
    timezone
        The city's zone the hours are written in.
    dispatchable
        Whether the 911 center sends it to incoming calls (Care Navigation only follows up).
    in_person
        Whether its units drive to the scene (CCD resolves calls by phone from the 911 center).
    team_roles
        Roles every unit of the program must have on board (``("clinician", "peer_support",
        "emt")`` for CRT).
    service_zones
        Zone ids the program serves; empty means citywide.
    excluded_priorities
        Call priorities the program never takes (Priority P: immediate threat to life).
    check_in
        On-scene check-in ladder; ``None`` for programs that are never on scene.
    follow_up
        Time allowed to reach a person after a referral (Care Navigation); ``None`` otherwise.
    """

    code: str
    name: str
    responders: str
    hours: DailyWindow
    timezone: ZoneInfo
    dispatchable: bool
    in_person: bool
    team_roles: tuple[str, ...] = ()
    service_zones: frozenset[str] = frozenset()
    excluded_priorities: frozenset[str] = frozenset()
    check_in: CheckInThresholds | None = None
    follow_up: timedelta | None = None

    @property
    def covers_calls(self) -> bool:
        """Whether its units count for coverage: sent to 911 calls, and driving to them."""
        return self.dispatchable and self.in_person

    @property
    def citywide(self) -> bool:
        """Whether the program serves the whole city (no zone restriction)."""
        return not self.service_zones


def is_open(program: Program, when: datetime, *, zone: ZoneInfo | None = None) -> bool:
    """Return whether ``program`` takes calls at the aware instant ``when``.

    Parameters
    ----------
    program
        The program.
    when
        Any aware datetime (naive ones are refused).
    zone
        Evaluate the hours in this zone instead of the program's own.
    """
    return program.hours.contains(when, zone or program.timezone)


def programs_from_toml(data: Mapping[str, Any], *, source: str) -> dict[str, Program]:
    """Build the programs from the parsed ``programs.toml``.

    Parameters
    ----------
    data
        The TOML document: top-level ``timezone`` and a ``[programs.CODE]`` table per program.
    source
        Where the document came from, for error messages.

    Raises
    ------
    TableError
        Naming the program and field when something is missing or malformed.
    """
    zone_name = str(data.get("timezone", DEFAULT_TIMEZONE))
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TableError(f"{source}: unknown time zone {zone_name!r}") from None
    tables = data.get("programs")
    if not isinstance(tables, Mapping) or not tables:
        raise TableError(f"{source}: no [programs.CODE] tables")
    programs = {}
    for code, spec in tables.items():
        if not isinstance(spec, Mapping):
            raise TableError(f"{source}: programs.{code} must be a table")
        try:
            programs[code] = _program(code, spec, zone)
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise TableError(f"{source}: programs.{code}: {detail}") from None
    return programs


def _program(code: str, spec: Mapping[str, Any], zone: ZoneInfo) -> Program:
    hours = DailyWindow(parse_wall_time(spec["opens"]), parse_wall_time(spec["closes"]),
                        parse_weekdays(spec.get("days", "daily")))
    check_in = spec.get("check_in")
    follow_up_hours = spec.get("follow_up_hours")
    return Program(
        code=code,
        name=str(spec["name"]),
        responders=str(spec.get("responders", "")),
        hours=hours,
        timezone=zone,
        dispatchable=_flag(spec, "dispatchable"),
        in_person=_flag(spec, "in_person"),
        team_roles=tuple(_strings(spec, "team_roles")),
        service_zones=frozenset(_strings(spec, "service_zones")),
        excluded_priorities=frozenset(_strings(spec, "excluded_priorities")),
        check_in=None if check_in is None else CheckInThresholds(
            check_in_due=timedelta(minutes=float(check_in["due_minutes"])),
            supervisor=timedelta(minutes=float(check_in["supervisor_minutes"])),
            backup=timedelta(minutes=float(check_in["backup_minutes"])),
        ),
        follow_up=None if follow_up_hours is None else _positive_hours(follow_up_hours),
    )


def _flag(spec: Mapping[str, Any], key: str) -> bool:
    value = spec[key]
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be true or false, got {value!r}")
    return value


def _strings(spec: Mapping[str, Any], key: str) -> list[str]:
    value = spec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{key} must be a list of strings, got {value!r}")
    return [str(v) for v in value]


def _positive_hours(value: Any) -> timedelta:
    hours = float(value)
    if hours <= 0:
        raise ValueError(f"follow_up_hours must be positive, got {value!r}")
    return timedelta(hours=hours)
