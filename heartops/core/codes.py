"""The code tables, and the few fixed code sets the rules are written against.

Statuses, call types, call flags, dispositions, capabilities, care needs and programs are
*data* (CSV/TOML under ``heartops/resources/tables``), so an agency can rename, recolour and
remap them to APCO common codes without touching code. :func:`load_tables` reads and checks
them together (every reference between tables must resolve) into one immutable
:class:`CodeTables`; :func:`default_tables` is the packaged set, loaded once.

What stays in code are the sets that the rules themselves name: call :class:`Priority`
(P = immediate threat to life), the call lifecycle :class:`CallStep`, the eligibility
:class:`ScreenReason` and how a status relates to a call (:class:`CallLink`). The tables
reference them (a status's ``call_step``, a flag's ``reason``) and are checked against them.

Table files (columns):

``unit_statuses.csv``
    code, label, apco_code, colour, flashing, shape, key, assignable, call, call_step,
    check_in_timer, emergency
``unit_status_transitions.csv``
    from, to, why (``from`` may be ``*``: every status)
``call_types.csv``
    code, label, default_priority, programs, requires, description
``call_flags.csv``
    code, label, excludes, reason, description
``dispositions.csv``
    code, label, needs_destination, transport, pd_backup, ems, follow_up, by_phone
``capabilities.csv``
    code, kind, label, phrase (kind ``role`` = a team member, the rest are carried/spoken)
``care_needs.csv``
    code, label
``screen_reasons.csv``
    code, label
``programs.toml``
    see :func:`heartops.core.programs.programs_from_toml`

Lists inside a cell (``programs``, ``requires``, ``excludes``) are separated by spaces.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar
from zoneinfo import ZoneInfo

from heartops.core.errors import TableError, UnknownCodeError
from heartops.core.programs import Program, programs_from_toml

ANY_STATUS = "*"
"""``from`` value in the transitions table meaning every status."""

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class Priority(StrEnum):
    """Call priority; P is an immediate threat to life, then 1 (highest) to 3."""

    P = "P"
    ONE = "1"
    TWO = "2"
    THREE = "3"

    @property
    def rank(self) -> int:
        """Sort key: 0 for P, then 1, 2, 3 (lower is more urgent)."""
        return 0 if self is Priority.P else int(self.value)

    @property
    def label(self) -> str:
        """Text for the board (``"Priority P"``)."""
        return f"Priority {self.value}"

    @classmethod
    def parse(cls, value: str | int) -> Priority:
        """Return the priority written as ``"P"``, ``"p"``, ``"1"`` or ``1``.

        Raises
        ------
        UnknownCodeError
            For anything else.
        """
        text = str(value).strip().upper()
        try:
            return cls(text)
        except ValueError:
            raise UnknownCodeError(f"unknown priority {value!r}; use P, 1, 2 or 3") from None


class CallStep(StrEnum):
    """The steps of a call's lifecycle, in order."""

    RECEIVED = "received"
    TRIAGED = "triaged"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    TRANSPORT = "transport"
    CLEARED = "cleared"

    @property
    def order(self) -> int:
        """Position in the lifecycle (received = 0)."""
        return _STEP_ORDER[self]


_STEP_ORDER = {step: n for n, step in enumerate(CallStep)}  # asked for every call in an import

class ScreenReason(StrEnum):
    """Why a program does not fit a call (labels are in ``screen_reasons.csv``)."""

    CALL_TYPE_NOT_ELIGIBLE = "CALL_TYPE_NOT_ELIGIBLE"
    PRIORITY_P = "PRIORITY_P"
    WEAPON = "WEAPON"
    IMMINENT_RISK_TO_OTHERS = "IMMINENT_RISK_TO_OTHERS"
    OUTSIDE_SERVICE_AREA = "OUTSIDE_SERVICE_AREA"
    OUTSIDE_PROGRAM_HOURS = "OUTSIDE_PROGRAM_HOURS"


class CallLink(StrEnum):
    """How a unit status relates to a call."""

    REQUIRED = "required"
    """The unit is working a call (dispatched, en route, on scene, ...)."""
    KEPT = "kept"
    """The unit keeps whatever call it had (emergency)."""
    NONE = "none"
    """The unit has no call (available, out of service)."""


@dataclass(frozen=True, slots=True)
class UnitStatus:
    """A row of ``unit_statuses.csv``.

    Attributes
    ----------
    code
        Internal code (``"on_scene"``); what is stored.
    label
        Text on the board.
    apco_code
        The APCO common status code it maps to, for data exchange.
    colour
        ``#rrggbb`` colour on the board and map.
    flashing
        Whether the board flashes it (emergency).
    shape
        Marker shape name, so status never depends on colour alone.
    key
        Single keyboard key that sets the status.
    assignable
        Whether a unit in this status can be recommended for a new call.
    call
        Whether the status needs, keeps or drops the unit's call.
    call_step
        The call lifecycle step this status marks, if any (on_scene -> ``CallStep.ON_SCENE``).
    check_in_timer
        Whether the safety check-in timer runs in this status.
    emergency
        Whether this is the panic status.
    """

    code: str
    label: str
    apco_code: str
    colour: str
    flashing: bool
    shape: str
    key: str
    assignable: bool
    call: CallLink
    call_step: CallStep | None
    check_in_timer: bool
    emergency: bool


@dataclass(frozen=True, slots=True)
class CallType:
    """A row of ``call_types.csv``.

    Attributes
    ----------
    code, label, description
        Identity and text.
    default_priority
        Priority a new call of this type gets unless the call-taker sets one.
    programs
        Programs that can take the type; empty means not a HEART call type.
    requires
        Capability codes every responding unit must have (e.g. ``transport``).
    """

    code: str
    label: str
    default_priority: Priority
    programs: frozenset[str]
    requires: frozenset[str]
    description: str = ""

    @property
    def heart_eligible(self) -> bool:
        """Whether any program takes this type (the call then enters the unmet-demand ledger)."""
        return bool(self.programs)


@dataclass(frozen=True, slots=True)
class CallFlag:
    """A row of ``call_flags.csv``: something the call-taker learned, and what it rules out.

    Attributes
    ----------
    code, label, description
        Identity and text.
    excludes
        Programs that cannot take a call with this flag.
    reason
        The screen reason recorded for those programs.
    """

    code: str
    label: str
    excludes: frozenset[str]
    reason: ScreenReason | None
    description: str = ""


@dataclass(frozen=True, slots=True)
class Disposition:
    """A row of ``dispositions.csv``: how a call ended (a call may have several).

    Attributes
    ----------
    code, label
        Identity and text.
    needs_destination
        The call must name where the person was taken.
    transport, pd_backup, ems
        The disposition counts toward "% needed transport / PD backup / EMS support".
    follow_up
        Closing with it opens a Care Navigation follow-up task.
    by_phone
        The call was resolved without anyone going (CCD): it has no "minutes to scene".
    """

    code: str
    label: str
    needs_destination: bool
    transport: bool
    pd_backup: bool
    ems: bool
    follow_up: bool
    by_phone: bool


@dataclass(frozen=True, slots=True)
class Capability:
    """A row of ``capabilities.csv``: a team role, a language, a supply or a vehicle feature.

    Attributes
    ----------
    code
        What units list and calls require (``"spanish"``).
    kind
        ``role``, ``language``, ``supply``, ``vehicle``, ...
    label
        Name in lists.
    phrase
        Words in a recommendation line (``"speaks Spanish"``).
    """

    code: str
    kind: str
    label: str
    phrase: str


@dataclass(frozen=True, slots=True)
class CareNeed:
    """A row of ``care_needs.csv``: a need Care Navigation connects people to."""

    code: str
    label: str


_Row = TypeVar("_Row")


@dataclass(frozen=True, slots=True)
class CodeTables:
    """Every code table, checked against each other. Build with :func:`load_tables`.

    Lookups raise :class:`~heartops.core.errors.UnknownCodeError` naming the known codes.
    """

    programs: Mapping[str, Program]
    statuses: Mapping[str, UnitStatus]
    transitions: frozenset[tuple[str, str]]
    call_types: Mapping[str, CallType]
    flags: Mapping[str, CallFlag]
    dispositions: Mapping[str, Disposition]
    capabilities: Mapping[str, Capability]
    care_needs: Mapping[str, CareNeed]
    reason_labels: Mapping[ScreenReason, str]
    timezone: ZoneInfo

    def program(self, code: str) -> Program:
        """Return the program ``code``."""
        return _lookup(self.programs, code, "program")

    def status(self, code: str) -> UnitStatus:
        """Return the unit status ``code``."""
        return _lookup(self.statuses, code, "unit status")

    def call_type(self, code: str) -> CallType:
        """Return the call type ``code``."""
        return _lookup(self.call_types, code, "call type")

    def flag(self, code: str) -> CallFlag:
        """Return the call flag ``code``."""
        return _lookup(self.flags, code, "call flag")

    def disposition(self, code: str) -> Disposition:
        """Return the disposition ``code``."""
        return _lookup(self.dispositions, code, "disposition")

    def capability(self, code: str) -> Capability:
        """Return the capability ``code``."""
        return _lookup(self.capabilities, code, "capability")

    def care_need(self, code: str) -> CareNeed:
        """Return the care need ``code``."""
        return _lookup(self.care_needs, code, "care need")

    def reason_label(self, reason: ScreenReason) -> str:
        """Return the board text of a screen reason."""
        return self.reason_labels[reason]

    def can_transition(self, from_status: str, to_status: str) -> bool:
        """Return whether the transitions table allows ``from_status`` -> ``to_status``."""
        return ((from_status, to_status) in self.transitions
                or (ANY_STATUS, to_status) in self.transitions)

    def next_statuses(self, from_status: str) -> tuple[str, ...]:
        """Return the statuses reachable from ``from_status``, in table order (for menus)."""
        return tuple(code for code in self.statuses
                     if code != from_status and self.can_transition(from_status, code))

    def status_for_key(self, key: str) -> UnitStatus:
        """Return the status whose keyboard key is ``key`` (case-insensitive)."""
        for status in self.statuses.values():
            if status.key.lower() == key.lower():
                return status
        raise UnknownCodeError(f"no unit status on key {key!r}")

    @property
    def dispatch_status(self) -> str:
        """The status a unit takes when assigned to a call (the one marking ``dispatched``)."""
        return next(s.code for s in self.statuses.values() if s.call_step is CallStep.DISPATCHED)

    @property
    def emergency_status(self) -> str:
        """The panic status."""
        return next(s.code for s in self.statuses.values() if s.emergency)

    @property
    def dispatchable_programs(self) -> tuple[Program, ...]:
        """Programs the 911 center sends to incoming calls, in table order."""
        return tuple(p for p in self.programs.values() if p.dispatchable)


def _lookup(table: Mapping[str, _Row], code: str, what: str) -> _Row:
    try:
        return table[code]
    except KeyError:
        known = ", ".join(table)
        raise UnknownCodeError(f"unknown {what} {code!r}; known: {known}") from None


# -- loading -------------------------------------------------------------------------------------

Source = Traversable | Path


def packaged_tables_dir() -> Traversable:
    """Return the directory of the tables shipped in the package."""
    return files("heartops") / "resources" / "tables"


@cache
def default_tables() -> CodeTables:
    """Return the packaged tables (loaded and checked once per process)."""
    return load_tables()


def load_tables(directory: Source | None = None) -> CodeTables:
    """Read and cross-check every code table.

    Parameters
    ----------
    directory
        An agency's tables. A file missing there is taken from the packaged defaults, so an
        agency can override only, say, ``unit_statuses.csv``.

    Raises
    ------
    TableError
        Naming the file, row and problem when a table is malformed or references an unknown
        code.
    """
    reader = _TableReader(directory)
    programs_doc, programs_name = reader.text("programs.toml")
    try:
        programs = programs_from_toml(tomllib.loads(programs_doc), source=programs_name)
    except tomllib.TOMLDecodeError as exc:
        raise TableError(f"{programs_name}: not valid TOML ({exc})") from None
    capabilities = _keyed(reader, "capabilities.csv", ("code", "kind", "label", "phrase"),
                          lambda r: Capability(r["code"], r["kind"], r["label"], r["phrase"]))
    statuses = _keyed(reader, "unit_statuses.csv", (
        "code", "label", "apco_code", "colour", "flashing", "shape", "key", "assignable", "call",
        "call_step", "check_in_timer", "emergency"), _status)
    transitions = frozenset(
        (line.row["from"], line.row["to"])
        for line in reader.rows("unit_status_transitions.csv", ("from", "to")))
    call_types = _keyed(reader, "call_types.csv",
                        ("code", "label", "default_priority", "programs", "requires"),
                        _call_type)
    flags = _keyed(reader, "call_flags.csv", ("code", "label", "excludes", "reason"), _flag)
    dispositions = _keyed(reader, "dispositions.csv", (
        "code", "label", "needs_destination", "transport", "pd_backup", "ems", "follow_up",
        "by_phone"), _disposition)
    care_needs = _keyed(reader, "care_needs.csv", ("code", "label"),
                        lambda r: CareNeed(r["code"], r["label"]))
    reasons = {}
    for line in reader.rows("screen_reasons.csv", ("code", "label")):
        try:
            reasons[_enum(ScreenReason, line.row["code"], "code")] = line.row["label"]
        except ValueError as exc:
            raise TableError(f"{line.where}: {exc}") from None
    zone = next(iter(programs.values())).timezone
    tables = CodeTables(
        programs=MappingProxyType(programs), statuses=statuses, transitions=transitions,
        call_types=call_types, flags=flags, dispositions=dispositions,
        capabilities=capabilities, care_needs=care_needs,
        reason_labels=MappingProxyType(reasons), timezone=zone)
    _check(tables)
    return tables


class _TableReader:
    """Finds each table in the agency directory, else in the package."""

    def __init__(self, directory: Source | None) -> None:
        self._override = directory
        self._packaged = packaged_tables_dir()

    def _locate(self, name: str) -> Traversable:
        if self._override is not None and (self._override / name).is_file():
            return self._override / name
        packaged = self._packaged / name
        if not packaged.is_file():
            raise TableError(f"table {name} not found (looked in {self._override or 'package'})")
        return packaged

    def text(self, name: str) -> tuple[str, str]:
        path = self._locate(name)
        return path.read_text(encoding="utf-8"), str(path)

    def rows(self, name: str, columns: tuple[str, ...]) -> list[_Line]:
        text, where = self.text(name)
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise TableError(f"{where}: missing column(s) {', '.join(missing)}")
        lines = []
        for number, row in enumerate(reader, start=2):
            clean = {key: (value or "").strip() for key, value in row.items() if key is not None}
            if any(clean.values()):
                lines.append(_Line(f"{where}: line {number}", clean))
        if not lines:
            raise TableError(f"{where}: no rows")
        return lines


@dataclass(frozen=True, slots=True)
class _Line:
    where: str
    row: dict[str, str]


def _keyed(reader: _TableReader, name: str, columns: tuple[str, ...],
           build: Callable[[dict[str, str]], _Row]) -> Mapping[str, _Row]:
    table: dict[str, _Row] = {}
    for line in reader.rows(name, columns):
        code = line.row["code"]
        if not code:
            raise TableError(f"{line.where}: empty code")
        if code in table:
            raise TableError(f"{line.where}: duplicate code {code!r}")
        try:
            table[code] = build(line.row)
        except (ValueError, UnknownCodeError) as exc:
            raise TableError(f"{line.where}: {_one_line(exc)}") from None
    return MappingProxyType(table)


def _one_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _bool(row: Mapping[str, str], column: str) -> bool:
    value = row[column].lower()
    if value not in ("true", "false"):
        raise ValueError(f"{column} must be true or false, got {row[column]!r}")
    return value == "true"


def _codes(row: Mapping[str, str], column: str) -> frozenset[str]:
    return frozenset(row.get(column, "").split())


_Enum = TypeVar("_Enum", bound=StrEnum)


def _enum(kind: type[_Enum], value: str, column: str) -> _Enum:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ValueError(f"{column} {value!r} is not one of {known}") from None


def _status(row: Mapping[str, str]) -> UnitStatus:
    if not _COLOUR.match(row["colour"]):
        raise ValueError(f"colour must be #rrggbb, got {row['colour']!r}")
    if len(row["key"]) != 1:
        raise ValueError(f"key must be one character, got {row['key']!r}")
    if not row["apco_code"]:
        raise ValueError("apco_code is empty")
    return UnitStatus(
        code=row["code"], label=row["label"], apco_code=row["apco_code"], colour=row["colour"],
        flashing=_bool(row, "flashing"), shape=row["shape"], key=row["key"],
        assignable=_bool(row, "assignable"), call=_enum(CallLink, row["call"], "call"),
        call_step=_enum(CallStep, row["call_step"], "call_step") if row["call_step"] else None,
        check_in_timer=_bool(row, "check_in_timer"), emergency=_bool(row, "emergency"))


def _call_type(row: Mapping[str, str]) -> CallType:
    return CallType(code=row["code"], label=row["label"],
                    default_priority=Priority.parse(row["default_priority"]),
                    programs=_codes(row, "programs"), requires=_codes(row, "requires"),
                    description=row.get("description", ""))


def _flag(row: Mapping[str, str]) -> CallFlag:
    excludes = _codes(row, "excludes")
    reason = _enum(ScreenReason, row["reason"], "reason") if row["reason"] else None
    if bool(excludes) != (reason is not None):
        raise ValueError("a flag that excludes programs needs a reason, and only then")
    return CallFlag(code=row["code"], label=row["label"], excludes=excludes, reason=reason,
                    description=row.get("description", ""))


def _disposition(row: Mapping[str, str]) -> Disposition:
    return Disposition(
        code=row["code"], label=row["label"], needs_destination=_bool(row, "needs_destination"),
        transport=_bool(row, "transport"), pd_backup=_bool(row, "pd_backup"),
        ems=_bool(row, "ems"), follow_up=_bool(row, "follow_up"), by_phone=_bool(row, "by_phone"))


def _check(tables: CodeTables) -> None:
    """Check the references between tables; raise TableError on the first broken one."""
    problems = list(_problems(tables))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise TableError(problems[0] + more)


def _problems(t: CodeTables) -> Iterable[str]:
    statuses = t.statuses.values()
    keys = [s.key.lower() for s in statuses]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        yield f"unit_statuses.csv: key {key!r} is used by more than one status"
    for role, count in (("dispatched call_step", sum(s.call_step is CallStep.DISPATCHED
                                                     for s in statuses)),
                        ("emergency", sum(s.emergency for s in statuses))):
        if count != 1:
            yield f"unit_statuses.csv: exactly one status must be {role}, found {count}"
    if not any(s.assignable for s in statuses):
        yield "unit_statuses.csv: no status is assignable"
    for source, target in sorted(t.transitions):
        for end, code in (("from", source), ("to", target)):
            if code not in t.statuses and not (end == "from" and code == ANY_STATUS):
                yield f"unit_status_transitions.csv: {source} -> {target}: unknown status {code!r}"
    emergency = [s.code for s in statuses if s.emergency]
    for status in statuses:
        if not t.next_statuses(status.code):
            yield f"unit_status_transitions.csv: no way out of status {status.code!r}"
        if emergency and not status.emergency and not t.can_transition(status.code, emergency[0]):
            yield f"unit_status_transitions.csv: emergency is not reachable from {status.code!r}"
    for call_type in t.call_types.values():
        for program in sorted(call_type.programs):
            if program not in t.programs or not t.programs[program].dispatchable:
                yield (f"call_types.csv: {call_type.code}: {program!r} is not a dispatchable "
                       "program")
        for need in sorted(call_type.requires - set(t.capabilities)):
            yield f"call_types.csv: {call_type.code}: unknown capability {need!r}"
    for flag in t.flags.values():
        for program in sorted(flag.excludes - set(t.programs)):
            yield f"call_flags.csv: {flag.code}: unknown program {program!r}"
    roles = {c.code for c in t.capabilities.values() if c.kind == "role"}
    for spec in t.programs.values():
        for role in spec.team_roles:
            if role not in roles:
                yield f"programs.toml: {spec.code}: team role {role!r} is not a role capability"
        for priority in sorted(spec.excluded_priorities):
            if priority not in {p.value for p in Priority}:
                yield f"programs.toml: {spec.code}: unknown priority {priority!r}"
    for reason in ScreenReason:
        if reason not in t.reason_labels:
            yield f"screen_reasons.csv: no label for {reason.value}"
