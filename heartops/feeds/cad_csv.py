r"""Calls from CAD CSV exports, driven by a column-mapping file.

Every CAD system exports calls differently, so the columns are described in a small TOML file
(a *mapping*) instead of code. :func:`load_mapping` reads and checks one (built-in names resolve
to ``heartops/resources/mappings/NAME.toml``); :func:`read_calls` streams a CSV through it, row by
row with the :mod:`csv` module, and returns the accepted :class:`~heartops.core.calls.Call` s and
every rejected row with its spreadsheet row number (header = row 1) and the reason. No row is
lost or invented: ``accepted_rows + len(rejected) == rows_read`` always holds, also when one call
spans several rows. :class:`CsvCallReader` is the same import as a stream, for files too big to
hold as one list (the store takes the calls in batches).

Mapping format (every section but ``[call_id]``, ``[steps.received]``, ``[location]`` and
``[call_type]`` is optional; unknown keys are errors)::

    description = "Seattle PD dispatches"

    [source]
    delimiter = ","                    # one character
    quote = '"'
    encoding = "utf-8-sig"             # default; a BOM is skipped
    null = ["NULL", ""]                # cell values meaning "no value" (default [""])
    timezone = "America/Los_Angeles"   # zone of local times (default UTC)
    ambiguous = "raise"                # raise | earlier | later   (DST fall-back hour)
    nonexistent = "raise"              # raise | shift_forward     (DST spring-forward gap)

    [call_id]
    columns = ["cad_id"]               # several columns are joined with `separator` ("-")
    group = false                      # true: rows sharing the id are one call (one row per unit)

    [steps.received]                   # received (required), triaged, dispatched, en_route,
    column = "Queued"                  # on_scene, transport, cleared
    format = "%Y-%m-%d %H:%M:%S"       # strptime pattern, "iso", "epoch" or "epoch_ms"
    timezone = "UTC"                   # optional, overrides [source]; also ambiguous/nonexistent
    required = true                    # default: true for received, false for the others
    combine = "earliest"               # grouped calls: earliest (default; cleared: latest)

    [steps.dispatched]                 # a duration after another step instead of a time
    column = "dispatch_delay"
    after = "received"
    unit = "seconds"                   # seconds | minutes | hours

    [location]
    lat = "latitude"                   # either lat + lon columns ...
    lon = "longitude"
    # column = "Location"              # ... or one column and a regex with (?P<lat>) (?P<lon>)
    # pattern = '^\((?P<lat>[^,]+), *(?P<lon>[^)]+)\)$'
    bbox = [-122.46, 47.48, -122.22, 47.74]   # optional: min_lon, min_lat, max_lon, max_lat

    [call_type]
    columns = ["Initial Call Type", "Final Call Type"]   # the first column with a mapped value
    unmapped = "other"                 # a call-type code, or "reject"
    # constant = "other"               # instead of columns: one type for every row
    [call_type.map]
    "PERSON IN BEHAVIORAL/EMOTIONAL CRISIS" = "mental_health_crisis"

    [priority]                         # without it, every call gets its type's default priority
    column = "priority"
    unmapped = "type_default"          # type_default, reject, P, 1, 2 or 3
    [priority.map]
    "1" = "P"

    [disposition]                      # only used for calls with a cleared time
    column = "Final Disposition"
    unmapped = "none"                  # none, reject, or a disposition code
    [disposition.map]
    "Gone on Arrival" = "gone_on_arrival"

    [address]
    columns = ["Address", "City"]      # non-empty cells joined with `separator` (", ")
    [zone]
    column = "Beat"
    [units]
    column = "UnitID"                  # grouped sources: every row's unit is added to the call
    [notes]
    columns = ["Final Call Type"]      # kept as one note "Final Call Type: ...; ..." at received
    [validation]
    step_without_prerequisite = "reject"   # or "note" (see below)

Value-map keys match case-insensitively, with runs of spaces collapsed.

Rules (each broken rule rejects the row with a reason; the summary counts reasons by kind):

* the row has exactly as many cells as the header, is valid CSV (quoting) and valid text;
* the call id and the received time are present; required steps are present;
* times match their format; local times exist and are unambiguous in their zone unless the
  mapping says how to resolve them (:mod:`heartops.core.localtime`); durations are finite and
  not negative;
* step times do not decrease along the lifecycle;
* coordinates parse, are finite, in range, not (0, 0), and inside ``bbox`` if given;
* the call type, priority and disposition map (or have an ``unmapped`` default);
* a call id appears once, unless ``group = true``; then the rows of one call must agree on the
  call's own fields (type, priority, location, address, zone, disposition) - a row that does not
  is rejected, naming the row it disagrees with - and each step takes the earliest time of its
  rows (``cleared``: the latest, as a call clears when its last unit does);
* a step whose predecessor is missing (on scene without dispatched) cannot be recorded by
  :class:`~heartops.core.calls.Call`; ``step_without_prerequisite = "note"`` keeps the call and
  the time as a note at that time, ``"reject"`` rejects the row(s).

A date-only time format (no hour directive, as SF Fire's ``CallDate``) gives midnight local time
and the call gets a note saying the time is known to the day only.

Row numbers count CSV records as a spreadsheet shows them: a quoted cell with line breaks is one
row. An unterminated quote makes the rest of the file one malformed record (as in a
spreadsheet); its reason names the lines it swallowed.

Speed: the hot path avoids ``strptime`` (formats built from ``%Y %m %d %H %I %M %S %f %p %y``
are compiled to a regex with the same rules; others fall back to ``strptime``), caches UTC
offsets per local day (:class:`~heartops.core.localtime.LocalTimeConverter`), builds each
:class:`Call` once, and pauses the cyclic garbage collector while :func:`read_calls` collects the
calls. Measured on 1,000,000 rows: about 11 µs per row to parse and check (SF Fire's 28 columns
with grouping: 19 µs), plus the core's ``Call`` construction.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, NoReturn

from heartops.core.calls import PREREQUISITE, Call, CallNote
from heartops.core.codes import CallStep, CodeTables, Priority, default_tables
from heartops.core.errors import (
    AmbiguousTimeError,
    HeartopsError,
    InputFileError,
    LocalTimeError,
    MappingError,
    UnknownCodeError,
)
from heartops.core.geo import GeoPoint
from heartops.core.localtime import (
    AMBIGUOUS_CHOICES,
    NONEXISTENT_CHOICES,
    Ambiguous,
    LocalTimeConverter,
    Nonexistent,
    zone,
)
from heartops.core.progress import Progress, no_progress
from heartops.gc_pause import gc_paused

__all__ = [
    "CsvCallReader",
    "CsvImportResult",
    "CsvMapping",
    "LocationColumns",
    "RejectedRow",
    "StepColumn",
    "TimeColumn",
    "ValueMap",
    "builtin_mappings",
    "load_mapping",
    "read_calls",
    "summary_lines",
]

log = logging.getLogger(__name__)


def _mappings_folder() -> Traversable:
    """Where built-in mappings live (``NAME.toml``), inside the package."""
    return files("heartops") / "resources" / "mappings"


NOTE_AUTHOR = "import"
"""Author of the notes an import adds (source columns, date-only times, unrecorded steps)."""

_STEP_UNITS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}
_PROGRESS_EVERY = 50_000
# CallStep.order scans the enum on every call; the hot path sorts by this table instead.
_STEP_ORDER = {step: n for n, step in enumerate(CallStep)}
# Mapped priority codes are checked at load time (Priority.parse); rows look them up here.
_PRIORITIES = {p.value: p for p in Priority}


# -- the mapping ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeColumn:
    """How to read an absolute time from a column.

    Attributes
    ----------
    format
        A ``strptime`` pattern, ``"iso"`` (ISO 8601; an offset in the value wins over
        ``timezone``), ``"epoch"`` or ``"epoch_ms"`` (always UTC).
    timezone
        IANA zone of the wall-clock times, or ``"UTC"``.
    ambiguous, nonexistent
        How to resolve DST-ambiguous and non-existent local times (see
        :func:`heartops.core.localtime.to_utc`).
    """

    format: str
    timezone: str
    ambiguous: Ambiguous
    nonexistent: Nonexistent

    @property
    def date_only(self) -> bool:
        """Whether the format carries no time of day (a ``strptime`` pattern without hours)."""
        if self.format in ("iso", "epoch", "epoch_ms"):
            return False
        return not any(d in self.format for d in ("%H", "%I", "%T", "%X", "%c", "%R"))


@dataclass(frozen=True, slots=True)
class StepColumn:
    """Where a lifecycle step's time comes from.

    Attributes
    ----------
    step
        The lifecycle step.
    column
        The CSV column.
    required
        Whether a row without this time is rejected.
    combine
        ``"earliest"`` or ``"latest"``: the time a grouped call takes from its rows.
    time
        How to read an absolute time (``None`` for a duration).
    after, unit_seconds
        For a duration: the step it counts from, and the seconds in one unit of the column.
    """

    step: CallStep
    column: str
    required: bool
    combine: str
    time: TimeColumn | None = None
    after: CallStep | None = None
    unit_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class ValueMap:
    """Source values (codes or labels) mapped to heartops codes.

    Attributes
    ----------
    columns
        Columns tried in order; the first whose value is in ``values`` decides.
    values
        Normalized source value (case-folded, spaces collapsed) -> heartops code.
    unmapped
        What a row gets when no column maps: a code, or a keyword of the field (``reject``,
        ``type_default``, ``none``).
    constant
        One value for every row (then ``columns`` is empty).
    """

    columns: tuple[str, ...]
    values: Mapping[str, str]
    unmapped: str
    constant: str | None = None


@dataclass(frozen=True, slots=True)
class LocationColumns:
    """Where the call's coordinates come from: ``lat`` + ``lon``, or ``column`` + ``pattern``."""

    lat: str | None
    lon: str | None
    column: str | None
    pattern: re.Pattern[str] | None
    bbox: tuple[float, float, float, float] | None


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """A checked column-mapping file (see the module docstring for the format)."""

    name: str
    path: Path | None
    description: str
    delimiter: str
    quote: str
    encoding: str
    nulls: frozenset[str]
    id_columns: tuple[str, ...]
    id_separator: str
    group: bool
    steps: tuple[StepColumn, ...]
    location: LocationColumns
    call_type: ValueMap
    priority: ValueMap | None
    disposition: ValueMap | None
    address: tuple[str, ...] = ()
    address_separator: str = ", "
    zone: str | None = None
    units: str | None = None
    notes: tuple[str, ...] = ()
    step_without_prerequisite: str = "reject"

    def columns(self) -> tuple[str, ...]:
        """Return every CSV column the mapping reads, in mapping order, each once."""
        wanted: list[str] = [*self.id_columns, *(s.column for s in self.steps)]
        loc = self.location
        wanted += [c for c in (loc.lat, loc.lon, loc.column) if c]
        for values in (self.call_type, self.priority, self.disposition):
            if values is not None:
                wanted += values.columns
        wanted += [*self.address, *(c for c in (self.zone, self.units) if c), *self.notes]
        return tuple(dict.fromkeys(wanted))

    def step(self, step: CallStep) -> StepColumn | None:
        """Return how ``step`` is read, or ``None`` if the mapping does not read it."""
        return next((s for s in self.steps if s.step is step), None)


class _Table:
    """One TOML table of a mapping file, read with checks that name the file and section."""

    def __init__(self, data: object, where: str, source: str, allowed: Sequence[str]) -> None:
        self.where, self.source = where, source
        if not isinstance(data, dict):
            self.fail(f"must be a table, got {_kind(data)}")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            self.fail(f"unknown key{'s' if len(unknown) > 1 else ''} "
                      f"{', '.join(map(repr, unknown))} (known: {', '.join(allowed)})")
        self.data: dict[str, Any] = data

    def fail(self, problem: str) -> NoReturn:
        where = f" [{self.where}]" if self.where else ""
        raise MappingError(f"{self.source}:{where} {problem}")

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, default: str | None = None, *, choices: Sequence[str] = ()) -> str:
        value = self.data.get(key, default)
        if value is None:
            self.fail(f"missing required key {key!r}")
        if not isinstance(value, str):
            self.fail(f"{key} must be a string, got {_kind(value)}")
        if choices and value not in choices:
            self.fail(f"{key} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def texts(self, key: str, default: Sequence[str] | None = None) -> tuple[str, ...]:
        """Read a string or a list of strings."""
        value = self.data.get(key, default)
        if value is None:
            self.fail(f"missing required key {key!r}")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            self.fail(f"{key} must be a string or a list of strings")
        return tuple(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{key} must be true or false, got {_kind(value)}")
        return bool(value)

    def table(self, key: str, allowed: Sequence[str], *, required: bool = False) -> _Table | None:
        if key not in self.data:
            if required:
                self.fail(f"missing required section [{self._child(key)}]")
            return None
        return _Table(self.data[key], self._child(key), self.source, allowed)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.fail(f"{key} must be a table of strings (\"source value\" = \"code\")")
        return dict(value)

    def _child(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key


def builtin_mappings() -> tuple[str, ...]:
    """Return the names of the mappings shipped with heartops."""
    folder = _mappings_folder()
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def load_mapping(path_or_name: str | Path) -> CsvMapping:
    """Read and check a mapping file.

    Parameters
    ----------
    path_or_name
        A ``.toml`` path, or the name of a built-in mapping (``"sf_fire"``).

    Raises
    ------
    MappingError
        When the file is missing, not TOML, has unknown or missing keys, or bad values; the
        message is one line naming the file, the section and the problem.
    """
    path, text = _mapping_text(path_or_name)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path.name}: not valid TOML ({exc})") from None
    return _parse_mapping(doc, name=path.stem, path=path)


def _mapping_text(path_or_name: str | Path) -> tuple[Path, str]:
    text_name = str(path_or_name)
    is_name = (isinstance(path_or_name, str) and not text_name.endswith(".toml")
               and "/" not in text_name and "\\" not in text_name)
    if is_name:
        resource = _mappings_folder() / f"{text_name}.toml"
        if not resource.is_file():
            raise MappingError(f"no built-in mapping {text_name!r}; built-in: "
                               f"{', '.join(builtin_mappings())} (or give a .toml path)")
        return Path(str(resource)), resource.read_text(encoding="utf-8")
    path = Path(path_or_name)
    try:
        return path, path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"mapping file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read mapping file {path}: {exc}") from None


_TOP_KEYS = ("description", "source", "call_id", "steps", "location", "call_type", "priority",
             "disposition", "address", "zone", "units", "notes", "validation")


def _parse_mapping(doc: Mapping[str, Any], *, name: str, path: Path | None) -> CsvMapping:
    source = path.name if path is not None else f"{name}.toml"
    top = _Table(dict(doc), "", source, _TOP_KEYS)
    src = top.table("source", ("delimiter", "quote", "encoding", "null", "timezone", "ambiguous",
                               "nonexistent")) or _Table({}, "source", source, ())
    delimiter = src.text("delimiter", ",")
    quote = src.text("quote", '"')
    for key, value in (("delimiter", delimiter), ("quote", quote)):
        if len(value) != 1 or value in "\r\n":
            src.fail(f"{key} must be one character (not a line break), got {value!r}")
    encoding = src.text("encoding", "utf-8-sig")
    try:
        "".encode(encoding)
    except LookupError:
        src.fail(f"unknown encoding {encoding!r}")
    defaults = TimeColumn(
        format="iso", timezone=_zone_name(src, src.text("timezone", "UTC")),
        ambiguous=_ambiguous(src.text("ambiguous", "raise", choices=AMBIGUOUS_CHOICES)),
        nonexistent=_nonexistent(src.text("nonexistent", "raise",
                                               choices=NONEXISTENT_CHOICES)))
    ident = top.table("call_id", ("columns", "separator", "group"), required=True)
    assert ident is not None
    validation = top.table("validation", ("step_without_prerequisite",))
    return CsvMapping(
        name=name, path=path, description=top.text("description", ""),
        delimiter=delimiter, quote=quote, encoding=encoding,
        nulls=frozenset(src.texts("null", ("",))),
        id_columns=_nonempty(ident, "columns"), id_separator=ident.text("separator", "-"),
        group=ident.flag("group", False),
        steps=_parse_steps(top, defaults),
        location=_parse_location(top),
        call_type=_required(_parse_values(top, "call_type", ("reject",), required=True,
                                          default="reject")),
        priority=_priority_codes(_parse_values(top, "priority", ("type_default", "reject"),
                                               default="type_default"), source),
        disposition=_parse_values(top, "disposition", ("none", "reject"), default="none"),
        address=_optional_columns(top, "address", ("columns", "separator")),
        address_separator=_address_separator(top),
        zone=_single_column(top, "zone"), units=_single_column(top, "units"),
        notes=_optional_columns(top, "notes", ("columns",)),
        step_without_prerequisite=(validation.text(
            "step_without_prerequisite", "reject", choices=("reject", "note"))
            if validation else "reject"))


def _required(values: ValueMap | None) -> ValueMap:
    assert values is not None  # _parse_values(required=True) raises instead of returning None
    return values


def _nonempty(table: _Table, key: str) -> tuple[str, ...]:
    columns = table.texts(key)
    if not columns or not all(c.strip() for c in columns):
        table.fail(f"{key} must name at least one column, without empty names")
    return columns


def _zone_name(table: _Table, name: str) -> str:
    if name.upper() == "UTC":
        return "UTC"
    try:
        zone(name)
    except LocalTimeError as exc:
        table.fail(str(exc))
    return name


def _ambiguous(value: str) -> Ambiguous:
    """Return ``value`` (already checked against the choices) as the Literal type."""
    if value == "earlier":
        return "earlier"
    return "later" if value == "later" else "raise"


def _nonexistent(value: str) -> Nonexistent:
    """Return ``value`` (already checked against the choices) as the Literal type."""
    return "shift_forward" if value == "shift_forward" else "raise"


_STEP_KEYS = ("column", "format", "timezone", "ambiguous", "nonexistent", "required", "combine",
              "after", "unit")


def _parse_steps(top: _Table, defaults: TimeColumn) -> tuple[StepColumn, ...]:
    steps_table = top.table("steps", [s.value for s in CallStep], required=True)
    assert steps_table is not None
    if "received" not in steps_table.data:
        steps_table.fail("missing required section [steps.received] (every call needs the time "
                         "it was received)")
    found: dict[CallStep, StepColumn] = {}
    for step in CallStep:
        table = steps_table.table(step.value, _STEP_KEYS)
        if table is not None:
            found[step] = _parse_step(table, step, defaults)
    for spec in found.values():
        if spec.after is not None:
            base = found.get(spec.after)
            if base is None or base.time is None:
                top.fail(f"[steps.{spec.step}] after = {spec.after.value!r} needs "
                         f"[steps.{spec.after}] with an absolute time column")
    return tuple(found.values())


def _parse_step(table: _Table, step: CallStep, defaults: TimeColumn) -> StepColumn:
    column = table.text("column")
    required = table.flag("required", step is CallStep.RECEIVED)
    if step is CallStep.RECEIVED and not required:
        table.fail("the received time is always required")
    combine = table.text("combine", "latest" if step is CallStep.CLEARED else "earliest",
                         choices=("earliest", "latest"))
    if table.has("after"):
        after_name = table.text("after", choices=[s.value for s in CallStep])
        after = CallStep(after_name)
        if after.order >= step.order:
            table.fail(f"after must be an earlier step than {step}, got {after}")
        for key in ("format", "timezone", "ambiguous", "nonexistent"):
            if table.has(key):
                table.fail(f"{key} does not apply to a duration (after = {after_name!r})")
        unit = table.text("unit", "seconds", choices=tuple(_STEP_UNITS))
        return StepColumn(step, column, required, combine, after=after,
                          unit_seconds=_STEP_UNITS[unit])
    if table.has("unit"):
        table.fail("unit only applies to a duration (with after = \"<step>\")")
    fmt = table.text("format")
    if fmt not in ("iso", "epoch", "epoch_ms") and "%" not in fmt:
        table.fail(f"format must be a strptime pattern, 'iso', 'epoch' or 'epoch_ms', got {fmt!r}")
    time = TimeColumn(
        format=fmt, timezone=_zone_name(table, table.text("timezone", defaults.timezone)),
        ambiguous=_ambiguous(table.text("ambiguous", defaults.ambiguous,
                                               choices=AMBIGUOUS_CHOICES)),
        nonexistent=_nonexistent(table.text("nonexistent", defaults.nonexistent,
                                                   choices=NONEXISTENT_CHOICES)))
    try:
        _time_parser(time)
    except re.error as exc:  # pragma: no cover - the compiler escapes literals
        table.fail(f"format {fmt!r} cannot be compiled ({exc})")
    return StepColumn(step, column, required, combine, time=time)


def _parse_location(top: _Table) -> LocationColumns:
    table = top.table("location", ("lat", "lon", "column", "pattern", "bbox"), required=True)
    assert table is not None
    bbox = _bbox(table) if table.has("bbox") else None
    if table.has("column"):
        if table.has("lat") or table.has("lon"):
            table.fail("give either lat + lon, or column + pattern, not both")
        try:
            pattern = re.compile(table.text("pattern"))
        except re.error as exc:
            table.fail(f"pattern is not a valid regular expression ({exc})")
        if not {"lat", "lon"} <= set(pattern.groupindex):
            table.fail("pattern needs the named groups (?P<lat>...) and (?P<lon>...)")
        return LocationColumns(None, None, table.text("column"), pattern, bbox)
    if table.has("pattern"):
        table.fail("pattern needs column")
    return LocationColumns(table.text("lat"), table.text("lon"), None, None, bbox)


def _bbox(table: _Table) -> tuple[float, float, float, float]:
    value = table.data["bbox"]
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        table.fail("bbox must be [min_lon, min_lat, max_lon, max_lat] (four numbers)")
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in value)
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        table.fail(f"bbox {value} is not [min_lon, min_lat, max_lon, max_lat] with min < max")
    return min_lon, min_lat, max_lon, max_lat


def _parse_values(top: _Table, key: str, keywords: tuple[str, ...], *, default: str,
                  required: bool = False) -> ValueMap | None:
    table = top.table(key, ("column", "columns", "map", "unmapped", "constant"),
                      required=required)
    if table is None:
        return None
    if table.has("column") and table.has("columns"):
        table.fail("give column or columns, not both")
    which = "columns" if table.has("columns") else "column"
    if table.has("constant"):
        if table.has(which) or table.has("map") or table.has("unmapped"):
            table.fail("constant excludes column(s), map and unmapped")
        return ValueMap((), {}, table.text("constant"), constant=table.text("constant"))
    columns = _nonempty(table, which)
    values = {_normalize(k): v.strip() for k, v in table.string_map("map").items()}
    unmapped = table.text("unmapped", default)
    if unmapped in keywords:
        return ValueMap(columns, values, unmapped)
    if not unmapped.strip():
        table.fail(f"unmapped must be {', '.join(keywords)} or a code")
    return ValueMap(columns, values, unmapped.strip())


def _optional_columns(top: _Table, key: str, allowed: Sequence[str]) -> tuple[str, ...]:
    table = top.table(key, allowed)
    return _nonempty(table, "columns") if table is not None else ()


def _address_separator(top: _Table) -> str:
    table = top.table("address", ("columns", "separator"))
    return table.text("separator", ", ") if table is not None else ", "


def _single_column(top: _Table, key: str) -> str | None:
    table = top.table(key, ("column",))
    return table.text("column") if table is not None else None


def _priority_codes(values: ValueMap | None, source: str) -> ValueMap | None:
    """Return the priority map with every target spelled as :class:`Priority` values (P, 1-3)."""
    if values is None:
        return None

    def code(target: str) -> str:
        if target in ("type_default", "reject"):
            return target
        try:
            return Priority.parse(target).value
        except UnknownCodeError as exc:
            raise MappingError(f"{source}: [priority] {exc}") from None

    constant = code(values.constant) if values.constant is not None else None
    return replace(values, values={k: code(v) for k, v in values.values.items()},
                   unmapped=code(values.unmapped), constant=constant)


def _check_codes(mapping: CsvMapping, tables: CodeTables) -> None:
    """Check every heartops code the mapping names against the code tables."""
    checks: list[tuple[str, ValueMap | None, Callable[[str], object], tuple[str, ...]]] = [
        ("call_type", mapping.call_type, tables.call_type, ("reject",)),
        ("disposition", mapping.disposition, tables.disposition, ("none", "reject")),
    ]
    source = mapping.path.name if mapping.path else mapping.name
    for section, values, lookup, keywords in checks:
        if values is None:
            continue
        codes = {*values.values.values(), values.unmapped, values.constant or ""}
        for code in sorted(codes - {"", *keywords}):
            try:
                lookup(code)
            except UnknownCodeError as exc:
                raise MappingError(f"{source}: [{section}] {exc}") from None


# -- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A CSV row that was not imported.

    Attributes
    ----------
    row_number
        1-based, as a spreadsheet shows it (the header is row 1).
    reason
        One line: what is wrong, naming the column and value.
    kind
        A short category for the summary counts (``"bad time"``, ``"coordinates (0, 0)"``, ...).
    """

    row_number: int
    reason: str
    kind: str


@dataclass(frozen=True, slots=True)
class CsvImportResult:
    """What :func:`read_calls` made of a CSV file.

    Attributes
    ----------
    calls
        The accepted calls, in the order their first row appears.
    rejected
        Every rejected row, by row number.
    rows_read
        Data rows read (the header is not counted).
    source
        ``"<mapping name>:<file name>"``, for the store's import record.
    """

    calls: list[Call]
    rejected: list[RejectedRow]
    rows_read: int
    source: str

    @property
    def accepted_rows(self) -> int:
        """Rows that went into a call (more than ``len(calls)`` when calls span rows)."""
        return self.rows_read - len(self.rejected)

    @property
    def call_count(self) -> int:
        """How many calls were accepted."""
        return len(self.calls)

    def reason_counts(self) -> Counter[str]:
        """Return how many rows were rejected per kind of reason."""
        return Counter(r.kind for r in self.rejected)


def summary_lines(result: CsvImportResult | CsvCallReader, *, examples: int = 5) -> list[str]:
    """Return the lines the CLI prints after an import (or a streamed one, from its reader).

    The first line reads ``accepted N, rejected M (reason: count, ...)``; then up to
    ``examples`` rejected rows with their reasons, and how many more there are.
    """
    rejected = result.rejected
    counts = Counter(r.kind for r in rejected).most_common()
    reasons = ", ".join(f"{kind}: {n}" for kind, n in counts)
    rows = "" if result.accepted_rows == result.call_count else (
        f" rows as {result.call_count} calls")
    head = (f"{result.source}: {result.rows_read} rows read; accepted {result.accepted_rows}"
            f"{rows}, rejected {len(rejected)}" + (f" ({reasons})" if reasons else ""))
    lines = [head]
    lines += [f"  row {r.row_number}: {r.reason}" for r in rejected[:examples]]
    if 0 < examples < len(rejected):
        lines.append(f"  ... and {len(rejected) - examples} more rejected rows")
    return lines


def read_calls(csv_path: str | Path, mapping: CsvMapping | str | Path, *,
               progress: Progress = no_progress,
               tables: CodeTables | None = None) -> CsvImportResult:
    """Read calls from a CAD CSV export through a column mapping.

    Parameters
    ----------
    csv_path
        The CSV file.
    mapping
        A :class:`CsvMapping`, a mapping file path or a built-in mapping name.
    progress
        Told every 50,000 rows, with the fraction of the file read.
    tables
        Code tables the mapping's codes must be in (the packaged ones by default).

    Returns
    -------
    CsvImportResult
        Accepted calls and rejected rows; every data row is one or the other.

    Raises
    ------
    InputFileError
        When the file is missing, unreadable or has no header row.
    MappingError
        When the mapping is invalid, names codes not in the tables, or names columns missing
        from the header (all of them are listed).
    """
    with CsvCallReader(csv_path, mapping, progress=progress, tables=tables) as reader, \
            gc_paused():
        calls = list(reader)
    result = reader.result(calls)
    log.info("%s", summary_lines(result, examples=0)[0])
    return result


class CsvCallReader:
    """Streams the calls of a CAD CSV export, for imports too big to hold in memory.

    Opening checks the mapping, the file and its header (raising as :func:`read_calls` does);
    iterating yields each accepted call as soon as its row is read, and collects the rejected
    rows in :attr:`rejected`. A grouped mapping (one row per unit) yields its calls when the
    whole file has been read, as a later row may still belong to any call.

    Examples
    --------
    >>> with CsvCallReader("calls.csv", "seattle_spd_dispatch") as reader:  # doctest: +SKIP
    ...     store.import_calls(reader, source=reader.source, batch_size=1000)
    >>> for line in summary_lines(reader):  # doctest: +SKIP
    ...     print(line)
    """

    def __init__(self, csv_path: str | Path, mapping: CsvMapping | str | Path, *,
                 progress: Progress = no_progress, tables: CodeTables | None = None) -> None:
        self.mapping = mapping if isinstance(mapping, CsvMapping) else load_mapping(mapping)
        tables = tables or default_tables()
        _check_codes(self.mapping, tables)
        self.path = Path(csv_path)
        self.source = f"{self.mapping.name}:{self.path.name}"
        self._progress = progress
        self._yielded = 0
        try:
            self._raw = self.path.open("rb")
        except FileNotFoundError:
            raise InputFileError(f"CSV file not found: {self.path}") from None
        except OSError as exc:
            raise InputFileError(f"cannot open CSV file {self.path}: "
                                 f"{exc.strerror or exc}") from None
        # Undecodable bytes become lone surrogates, so one bad row is rejected (not valid text)
        # instead of the decoder stopping the whole file.
        self._text = io.TextIOWrapper(self._raw, encoding=self.mapping.encoding,
                                      errors="surrogateescape", newline="")
        try:
            self._reader = csv.reader(self._text, delimiter=self.mapping.delimiter,
                                      quotechar=self.mapping.quote, strict=True)
            header = _read_header(self._reader, self.path)
            self._importer = _Importer(self.mapping, header, tables, self.path)
        except BaseException:
            self.close()
            raise

    @property
    def rejected(self) -> list[RejectedRow]:
        """The rows rejected so far (in row order once iteration is over)."""
        return self._importer.rejected

    @property
    def rows_read(self) -> int:
        """Data rows read so far."""
        return self._importer.rows_read

    @property
    def accepted_rows(self) -> int:
        """Rows that went into the calls yielded so far (or into groups still being read)."""
        return self.rows_read - len(self.rejected)

    @property
    def call_count(self) -> int:
        """How many calls have been yielded."""
        return self._yielded

    def __iter__(self) -> Iterator[Call]:
        """Yield the accepted calls; the file is closed when they are all read."""
        size = max(self.path.stat().st_size, 1)
        importer = self._importer
        try:
            for number, record in enumerate(_records(self._reader), start=2):
                call = importer.add(number, record)
                if call is not None:
                    self._yielded += 1
                    yield call
                if number % _PROGRESS_EVERY == 0:
                    self._progress(f"read {number - 1:,} rows",
                                   min(self._raw.tell() / size, 1.0))
            for call in importer.finish():
                self._yielded += 1
                yield call
            self._progress(f"read {importer.rows_read:,} rows", 1.0)
        finally:
            self.close()

    def result(self, calls: list[Call]) -> CsvImportResult:
        """Return the import result, with ``calls`` as the accepted calls."""
        return CsvImportResult(calls=calls, rejected=self.rejected, rows_read=self.rows_read,
                               source=self.source)

    def close(self) -> None:
        """Close the file (iterating to the end does it too)."""
        self._text.close()

    def __enter__(self) -> CsvCallReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()




def _read_header(reader: Iterator[list[str]], path: Path) -> list[str]:
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputFileError(f"{path.name}: the header row is not valid CSV ({exc})") from None
    if not header or not any(cell.strip() for cell in header):
        raise InputFileError(f"{path.name}: no header row (the file is empty)")
    return [cell.strip() for cell in header]


_Record = list[str] | str
"""A CSV record's cells, or (a str) why the record is not valid CSV."""


def _records(reader: Any) -> Iterator[_Record]:
    """Yield every record after the header, turning CSV errors into a rejection reason."""
    while True:
        first_line = reader.line_num + 1
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = reader.line_num
            lines = (f" (lines {first_line}-{last_line})" if last_line > first_line else "")
            yield f"not valid CSV: {exc}{lines}"


class _RowError(Exception):
    """A row breaks a rule (internal; becomes a :class:`RejectedRow`)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


@dataclass(slots=True)
class _Row:
    """One accepted row's values, before they become (part of) a call."""

    number: int
    call_id: str
    times: dict[CallStep, datetime]
    location: GeoPoint
    call_type: str
    priority: Priority | None
    address: str
    zone: str | None
    unit: str | None
    disposition: str | None
    note: str
    date_only: tuple[tuple[CallStep, str, str], ...]

    def call_fields(self) -> tuple[tuple[str, object], ...]:
        """Return the fields of the call itself, which all rows of a grouped call must share."""
        return (("call type", self.call_type), ("priority", self.priority),
                ("location", (self.location.lat, self.location.lon)),
                ("address", self.address), ("zone", self.zone),
                ("disposition", self.disposition))


@dataclass(slots=True)
class _Group:
    rows: list[_Row] = field(default_factory=list)


class _Importer:
    """Turns records into calls for one file: the column plan, and the calls so far."""

    def __init__(self, mapping: CsvMapping, header: list[str], tables: CodeTables,
                 path: Path) -> None:
        self.mapping, self.tables = mapping, tables
        self.width = len(header)
        self.index = _column_index(mapping, header, path)
        m = mapping
        self.id_indexes = [self.index[c] for c in m.id_columns]
        self.nulls = m.nulls
        self.steps = [_StepReader(s, self.index[s.column]) for s in
                      sorted(m.steps, key=lambda s: (s.after is not None, _STEP_ORDER[s.step]))]
        self.order = sorted((s.step for s in m.steps), key=_STEP_ORDER.__getitem__)
        self.prerequisites = [(step, PREREQUISITE.get(step)) for step in self.order]
        self.date_only = [r for r in self.steps if r.date_only]
        self.location = _LocationReader(m.location, self.index)
        self.call_type = _ValueReader(m.call_type, self.index, "call type")
        self.priority = (_ValueReader(m.priority, self.index, "priority") if m.priority
                         else None)
        self.disposition = (_ValueReader(m.disposition, self.index, "disposition")
                            if m.disposition else None)
        self.address = [self.index[c] for c in m.address]
        self.zone = self.index[m.zone] if m.zone else None
        self.unit = self.index[m.units] if m.units else None
        self.notes = [(c, self.index[c]) for c in m.notes]
        self.default_priority: dict[str, Priority] = {}
        self.groups: dict[str, _Group] = {}
        self.first_row: dict[str, int] = {}
        self.rejected: list[RejectedRow] = []
        self.rows_read = 0

    # -- one row ---------------------------------------------------------------------------------

    def add(self, number: int, record: _Record) -> Call | None:
        """Take one record; return its call if it completes one (never for grouped sources)."""
        self.rows_read += 1
        try:
            row = self._row(number, record)
            if not self.mapping.group:
                return self._single(row)
            self._add_to_group(row)
        except _RowError as reject:
            self.rejected.append(RejectedRow(number, reject.reason, reject.kind))
        return None

    def _row(self, number: int, record: _Record) -> _Row:
        if isinstance(record, str):
            raise _RowError("malformed row", record)
        if len(record) != self.width:
            if not record or record == [""]:
                raise _RowError("malformed row", "empty row")
            raise _RowError("malformed row",
                            f"expected {self.width} cells as in the header, found {len(record)}")
        cells = list(map(str.strip, record))
        call_id = self._call_id(cells)
        times: dict[CallStep, datetime] = {}
        for reader in self.steps:
            reader.read(cells, times, self.nulls)
        self._check_order(times)
        call_type = self.call_type.read(cells, self.nulls)
        if call_type is None:
            raise _RowError("unmapped call type", self.call_type.unmapped_reason(cells, self.nulls))
        priority = None
        if self.priority is not None:
            code = self.priority.read(cells, self.nulls)
            if code is None:
                raise _RowError("unmapped priority",
                                self.priority.unmapped_reason(cells, self.nulls))
            priority = None if code == "type_default" else _PRIORITIES[code]
        disposition = None
        if self.disposition is not None:
            code = self.disposition.read(cells, self.nulls)
            if code is None:
                raise _RowError("unmapped disposition",
                                self.disposition.unmapped_reason(cells, self.nulls))
            disposition = None if code == "none" else code
        return _Row(
            number=number, call_id=call_id, times=times,
            location=self.location.read(cells, self.nulls),
            call_type=call_type, priority=priority,
            address=self._address(cells) if self.address else "",
            zone=self._optional_text(cells, self.zone, "zone"),
            unit=self._optional_text(cells, self.unit, "unit"),
            disposition=disposition,
            note=self._note(cells) if self.notes else "",
            date_only=tuple((r.spec.step, r.spec.column, cells[r.index]) for r in self.date_only
                            if r.spec.step in times) if self.date_only else ())

    def _address(self, cells: list[str]) -> str:
        return self.mapping.address_separator.join(
            _text(cells[i], "address") for i in self.address if cells[i] not in self.nulls)

    def _note(self, cells: list[str]) -> str:
        return "; ".join(f"{name}: {_text(cells[i], name)}" for name, i in self.notes
                         if cells[i] not in self.nulls)

    def _call_id(self, cells: list[str]) -> str:
        parts: list[str] = []
        for i in self.id_indexes:
            value = cells[i]
            if value in self.nulls:
                column = self.mapping.id_columns[len(parts)]
                raise _RowError("missing call id", f"no call id in column {column!r}")
            parts.append(_text(value, "call id"))
        return self.mapping.id_separator.join(parts)

    def _optional_text(self, cells: list[str], index: int | None, what: str) -> str | None:
        if index is None or cells[index] in self.nulls:
            return None
        return _text(cells[index], what)

    def _check_order(self, times: dict[CallStep, datetime]) -> None:
        previous: tuple[CallStep, datetime] | None = None
        for step in self.order:
            at = times.get(step)
            if at is None:
                continue
            if previous is not None and at < previous[1]:
                raise _RowError("times out of order",
                                f"{step} {_iso(at)} is earlier than {previous[0]} "
                                f"{_iso(previous[1])}")
            previous = (step, at)

    # -- rows into calls -------------------------------------------------------------------------

    def _single(self, row: _Row) -> Call:
        first = self.first_row.get(row.call_id)
        if first is not None:
            raise _RowError("duplicate call id",
                            f"call id {row.call_id!r} is already on row {first}")
        call = self._call([row])
        self.first_row[row.call_id] = row.number
        return call

    def _add_to_group(self, row: _Row) -> None:
        group = self.groups.get(row.call_id)
        if group is None:
            self.groups[row.call_id] = _Group([row])
            return
        first = group.rows[0]
        for (what, mine), (_, theirs) in zip(row.call_fields(), first.call_fields(), strict=True):
            if mine != theirs:
                raise _RowError("conflicting rows",
                                f"call {row.call_id}: {what} {_show(mine)} differs from "
                                f"{_show(theirs)} on row {first.number}")
        group.rows.append(row)

    def finish(self) -> Iterator[Call]:
        """Yield the grouped calls, once every row has been read."""
        if not self.mapping.group:
            return
        for group in self.groups.values():
            try:
                yield self._call(group.rows)
            except _RowError as reject:
                self.rejected.extend(RejectedRow(r.number, reject.reason, reject.kind)
                                     for r in group.rows)
        self.groups.clear()
        self.rejected.sort(key=lambda r: r.row_number)

    def _call(self, rows: list[_Row]) -> Call:
        """Return the call made of ``rows`` (one, unless the source has a row per unit)."""
        first = rows[0]
        times = first.times if len(rows) == 1 else _combine(self.mapping, rows)
        steps, notes = self._recordable(first.call_id, times)
        received = times[CallStep.RECEIVED]
        if first.date_only:
            notes += [CallNote(received, f"{step} time known to the day only: {value} "
                               f"({column})", NOTE_AUTHOR) for step, column, value in
                      first.date_only]
        if first.note:
            notes.insert(0, CallNote(received, first.note, NOTE_AUTHOR))
        if len(notes) > 1:
            notes.sort(key=lambda n: n.at)
        cleared = steps[-1][0] is CallStep.CLEARED
        if len(rows) == 1:
            units: tuple[str, ...] = (first.unit,) if first.unit else ()
        else:
            units = tuple(dict.fromkeys(r.unit for r in rows if r.unit))
        try:
            # Built directly rather than with new_call() + replace(): the call type comes from
            # the mapping, already checked against the tables, and one construction instead of
            # two halves the cost of a row (Call re-checks the whole lifecycle on each).
            return Call(
                call_id=first.call_id, call_type=first.call_type,
                priority=(first.priority if first.priority is not None
                          else self._default_priority(first.call_type)),
                location=first.location, received_at=received, zone_id=first.zone,
                address=first.address, steps=steps,
                dispositions=(first.disposition,) if cleared and first.disposition else (),
                unit_ids=units, notes=tuple(notes))
        except (HeartopsError, ValueError) as exc:
            # The core has the last word on what a valid call is; its message is one line.
            raise _RowError("invalid call", str(exc)) from None

    def _default_priority(self, call_type: str) -> Priority:
        """Return the call type's default priority (looked up in the tables once per type)."""
        priority = self.default_priority.get(call_type)
        if priority is None:
            priority = self.tables.call_type(call_type).default_priority
            self.default_priority[call_type] = priority
        return priority

    def _recordable(self, call_id: str, times: dict[CallStep, datetime],
                    ) -> tuple[tuple[tuple[CallStep, datetime], ...], list[CallNote]]:
        """Split the times into steps the lifecycle allows, and notes for the rest."""
        steps: list[tuple[CallStep, datetime]] = []
        notes: list[CallNote] = []
        kept: set[CallStep] = set()
        for step, needed in self.prerequisites:
            at = times.get(step)
            if at is None:
                continue
            if needed is None or needed in kept:
                steps.append((step, at))
                kept.add(step)
                continue
            spec = self.mapping.step(step)
            column = spec.column if spec else step.value
            if self.mapping.step_without_prerequisite == "reject":
                raise _RowError("step without prerequisite",
                                f"call {call_id}: {step} time ({column}) but no {needed} time; "
                                "the call lifecycle needs it first")
            notes.append(CallNote(at, f"{step} at {_iso(at)} ({column}) not recorded as a step: "
                                  f"the source has no {needed} time", NOTE_AUTHOR))
        return tuple(steps), notes


def _combine(mapping: CsvMapping, rows: list[_Row]) -> dict[CallStep, datetime]:
    if len(rows) == 1:
        return rows[0].times
    combined: dict[CallStep, datetime] = {}
    for spec in mapping.steps:
        values = [r.times[spec.step] for r in rows if spec.step in r.times]
        if values:
            combined[spec.step] = max(values) if spec.combine == "latest" else min(values)
    return combined


def _column_index(mapping: CsvMapping, header: list[str], path: Path) -> dict[str, int]:
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        positions.setdefault(name, []).append(i)
    wanted = mapping.columns()
    missing = [c for c in wanted if c not in positions]
    source = mapping.path.name if mapping.path else mapping.name
    if missing:
        raise MappingError(
            f"{source}: column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} not in the header of {path.name} "
            f"(it has: {', '.join(map(repr, header[:40]))}{' ...' if len(header) > 40 else ''})")
    doubled = [c for c in wanted if len(positions[c]) > 1]
    if doubled:
        raise MappingError(f"{source}: column {doubled[0]!r} appears more than once in the "
                           f"header of {path.name}; the mapping cannot tell which to read")
    return {c: positions[c][0] for c in wanted}


# -- cells ---------------------------------------------------------------------------------------


def _text(value: str, what: str) -> str:
    """Return ``value`` if it is storable text (no NUL, no undecodable bytes)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _RowError("not valid text", f"{what} {value!r} has bytes that are not "
                                              "valid in the file's encoding") from None
    if "\x00" in value:
        raise _RowError("not valid text", f"{what} {value!r} contains a NUL character")
    return value


def _normalize(value: str) -> str:
    return " ".join(value.split()).casefold()


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _show(value: object) -> str:
    return repr(value.value if isinstance(value, Priority) else value)


def _kind(value: object) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


class _StepReader:
    """Reads one step's time from a row."""

    __slots__ = ("date_only", "index", "parse", "spec", "unit")

    def __init__(self, spec: StepColumn, index: int) -> None:
        self.spec, self.index = spec, index
        self.parse = _time_parser(spec.time) if spec.time is not None else None
        self.unit = spec.unit_seconds
        self.date_only = spec.time.date_only if spec.time is not None else False
        if self.parse is not None and self.date_only:
            # A file holds few distinct dates; parse each once.
            self.parse = _memoized(self.parse)

    def read(self, cells: list[str], times: dict[CallStep, datetime],
             nulls: frozenset[str]) -> None:
        spec = self.spec
        value = cells[self.index]
        if value in nulls:
            if spec.required:
                raise _RowError(f"missing {spec.step} time",
                                f"no {spec.step} time in column {spec.column!r}")
            return
        if self.parse is not None:
            times[spec.step] = self._absolute(value)
            return
        assert spec.after is not None
        base = times.get(spec.after)
        if base is None:
            if spec.required:
                raise _RowError(f"missing {spec.step} time",
                                f"no {spec.after} time to count {spec.step} ({spec.column!r}) from")
            return
        times[spec.step] = base + self._duration(value)

    def _absolute(self, value: str) -> datetime:
        spec = self.spec
        assert self.parse is not None and spec.time is not None
        try:
            return self.parse(value)
        except LocalTimeError as exc:
            kind = ("ambiguous local time" if isinstance(exc, AmbiguousTimeError)
                    else "nonexistent local time")
            raise _RowError(kind, f"{spec.step} ({spec.column!r}): {exc}") from None
        except (ValueError, OverflowError, OSError):
            raise _RowError("bad time", f"{spec.step} time {value!r} in column {spec.column!r} "
                            f"does not match format {spec.time.format!r}") from None

    def _duration(self, value: str) -> timedelta:
        spec = self.spec
        try:
            amount = float(value)
            if not math.isfinite(amount):
                raise ValueError(value)
            if amount < 0:
                raise _RowError("bad duration", f"{spec.step} duration {value!r} in column "
                                f"{spec.column!r} is negative")
            return timedelta(seconds=amount * self.unit)
        except (ValueError, OverflowError):
            raise _RowError("bad duration", f"{spec.step} duration {value!r} in column "
                            f"{spec.column!r} is not a number") from None


class _LocationReader:
    """Reads and checks the coordinates of a row."""

    __slots__ = ("bbox", "columns", "lat", "lon", "pattern", "single")

    def __init__(self, spec: LocationColumns, index: Mapping[str, int]) -> None:
        self.pattern, self.bbox = spec.pattern, spec.bbox
        self.single = index[spec.column] if spec.column else None
        self.lat = index[spec.lat] if spec.lat else 0
        self.lon = index[spec.lon] if spec.lon else 0
        self.columns = spec.column or f"{spec.lat}/{spec.lon}"

    def read(self, cells: list[str], nulls: frozenset[str]) -> GeoPoint:
        lat_text, lon_text = self._texts(cells, nulls)
        try:
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            raise _RowError("bad coordinates", f"coordinates ({lat_text!r}, {lon_text!r}) in "
                            f"{self.columns!r} are not numbers") from None
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise _RowError("bad coordinates", f"coordinates ({lat_text}, {lon_text}) are not "
                            "finite")
        if lat == 0 and lon == 0:
            raise _RowError("coordinates (0, 0)", "coordinates are (0, 0): no location")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise _RowError("bad coordinates", f"coordinates out of range: lat {lat}, lon {lon}")
        box = self.bbox
        if box is not None and not (box[0] <= lon <= box[2] and box[1] <= lat <= box[3]):
            raise _RowError("outside bbox", f"coordinates ({lat}, {lon}) are outside the mapping's "
                            f"bbox {list(box)}")
        return GeoPoint(lat, lon)

    def _texts(self, cells: list[str], nulls: frozenset[str]) -> tuple[str, str]:
        if self.single is None:
            lat_text, lon_text = cells[self.lat], cells[self.lon]
            if lat_text in nulls or lon_text in nulls:
                raise _RowError("missing coordinates", f"no coordinates in {self.columns!r}")
            return lat_text, lon_text
        value = cells[self.single]
        if value in nulls:
            raise _RowError("missing coordinates", f"no coordinates in {self.columns!r}")
        assert self.pattern is not None
        match = self.pattern.fullmatch(value)
        if match is None:
            raise _RowError("bad coordinates", f"location {value[:80]!r} in {self.columns!r} does "
                            "not match the mapping's pattern")
        return match.group("lat").strip(), match.group("lon").strip()


class _ValueReader:
    """Maps a row's source value(s) to a heartops code."""

    __slots__ = ("columns", "exact", "indexes", "spec", "what")

    def __init__(self, spec: ValueMap, index: Mapping[str, int], what: str) -> None:
        self.spec, self.what = spec, what
        self.indexes = [index[c] for c in spec.columns]
        self.columns = spec.columns
        self.exact: dict[str, str] = {}

    def read(self, cells: list[str], nulls: frozenset[str]) -> str | None:
        """Return the code, the ``unmapped`` keyword/code, or ``None`` to reject the row."""
        spec = self.spec
        if spec.constant is not None:
            return spec.constant
        for i in self.indexes:
            value = cells[i]
            if value in nulls:
                continue
            # Most files repeat a few values: remember the exact spelling to skip normalizing.
            code = self.exact.get(value)
            if code is None:
                code = spec.values.get(_normalize(value), "")
                if len(self.exact) < 10_000:
                    self.exact[value] = code
            if code:
                return code
        return None if spec.unmapped == "reject" else spec.unmapped

    def unmapped_reason(self, cells: list[str], nulls: frozenset[str]) -> str:
        values = [f"{c} {cells[i]!r}" for c, i in zip(self.columns, self.indexes, strict=True)
                  if cells[i] not in nulls]
        if not values:
            return f"no {self.what} in {', '.join(map(repr, self.columns))}"
        return f"{self.what} not in the mapping: {', '.join(values)}"


# -- times ---------------------------------------------------------------------------------------

# strptime's own patterns for these directives (CPython _strptime), so both accept the same text.
_DIRECTIVE_PATTERNS = {
    "Y": r"(\d\d\d\d)", "y": r"(\d\d)", "m": r"(1[0-2]|0[1-9]|[1-9])",
    "d": r"(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])", "H": r"(2[0-3]|[0-1]\d|\d)",
    "I": r"(1[0-2]|0[1-9]|[1-9])", "M": r"([0-5]\d|\d)", "S": r"(6[0-1]|[0-5]\d|\d)",
    "f": r"([0-9]{1,6})", "p": r"(am|pm)",
}


def _compile_format(fmt: str) -> Callable[[str], datetime] | None:
    """Return a fast parser equivalent to ``datetime.strptime(text, fmt)``, or ``None``.

    ``None`` when the format uses a directive outside the fast set (or one twice); the caller
    then uses ``strptime``. Like ``strptime``, matching ignores case, whitespace in the format
    matches any run of whitespace, and an invalid date (Feb 30) raises ``ValueError``.
    """
    pattern: list[str] = []
    order: list[str] = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "%":
            if i + 1 >= len(fmt):
                return None
            directive = fmt[i + 1]
            i += 2
            if directive == "%":
                pattern.append("%")
            elif directive in _DIRECTIVE_PATTERNS and directive not in order:
                pattern.append(_DIRECTIVE_PATTERNS[directive])
                order.append(directive)
            else:
                return None
        elif char.isspace():
            while i < len(fmt) and fmt[i].isspace():
                i += 1
            pattern.append(r"\s+")
        else:
            pattern.append(re.escape(char))
            i += 1
    if "Y" in order and "y" in order:
        return None
    matcher = re.compile("".join(pattern), re.IGNORECASE | re.ASCII).fullmatch
    build = _builder({d: n for n, d in enumerate(order)})

    def parse(text: str) -> datetime:
        match = matcher(text)
        if match is None:
            raise ValueError(f"time data {text!r} does not match format {fmt!r}")
        return build(match.groups())

    return parse


def _builder(at: Mapping[str, int]) -> Callable[[Sequence[str]], datetime]:
    """Return a function building the datetime ``strptime`` would from the matched groups.

    The positions are looked up once here, not on every row.
    """
    year_at, short_at, month_at, day_at = at.get("Y"), at.get("y"), at.get("m"), at.get("d")
    hour_at, hour12_at, ampm_at = at.get("H"), at.get("I"), at.get("p")
    minute_at, second_at, micro_at = at.get("M"), at.get("S"), at.get("f")

    def build(groups: Sequence[str]) -> datetime:
        if year_at is not None:
            year = int(groups[year_at])
        elif short_at is not None:
            # strptime's pivot: 69-99 are 1969-1999, 00-68 are 2000-2068.
            short = int(groups[short_at])
            year = short + (1900 if short >= 69 else 2000)
        else:
            year = 1900
        if hour_at is not None:
            hour = int(groups[hour_at])
        elif hour12_at is not None:
            hour = int(groups[hour12_at]) % 12
            if ampm_at is not None and groups[ampm_at].lower() == "pm":
                hour += 12
        else:
            hour = 0
        return datetime(
            year, 1 if month_at is None else int(groups[month_at]),
            1 if day_at is None else int(groups[day_at]), hour,
            0 if minute_at is None else int(groups[minute_at]),
            0 if second_at is None else int(groups[second_at]),
            0 if micro_at is None else int(groups[micro_at].ljust(6, "0")))

    return build


def _time_parser(spec: TimeColumn) -> Callable[[str], datetime]:
    """Return a function from cell text to an aware UTC datetime for one time column."""
    to_utc = _zone_converter(spec)
    if spec.format == "iso":
        def iso(text: str) -> datetime:
            value = datetime.fromisoformat(text)
            if value.tzinfo is not None:
                return value.astimezone(UTC)
            return to_utc(value)
        return iso
    if spec.format in ("epoch", "epoch_ms"):
        scale = 1000.0 if spec.format == "epoch_ms" else 1.0

        def epoch(text: str) -> datetime:
            seconds = float(text) / scale
            if not math.isfinite(seconds):
                raise ValueError(text)
            return datetime.fromtimestamp(seconds, UTC)
        return epoch
    fast = _compile_format(spec.format)
    fmt = spec.format

    def pattern(text: str) -> datetime:
        value = fast(text) if fast is not None else datetime.strptime(text, fmt)
        if value.tzinfo is not None:  # %z in the pattern: the offset wins
            return value.astimezone(UTC)
        return to_utc(value)
    return pattern


def _memoized(parse: Callable[[str], datetime]) -> Callable[[str], datetime]:
    """Return ``parse`` remembering up to 10,000 results (errors are not remembered)."""
    seen: dict[str, datetime] = {}

    def cached(text: str) -> datetime:
        value = seen.get(text)
        if value is None:
            value = parse(text)
            if len(seen) < 10_000:
                seen[text] = value
        return value

    return cached


def _zone_converter(spec: TimeColumn) -> Callable[[datetime], datetime]:
    if spec.timezone == "UTC":
        return lambda value: value.replace(tzinfo=UTC)
    return LocalTimeConverter(spec.timezone, ambiguous=spec.ambiguous,
                              nonexistent=spec.nonexistent)
