"""Calls as NENA EIDO JSON (Emergency Incident Data Object), export and import.

The EIDO data structure is NENA-STA-021 (conveyed per NENA-STA-024); its official JSON schema
and the IANA registries it names were not available offline, so this module reads and writes a
faithful *subset*, built from the structure as published (one incident component, components
that point at each other with ``{"$ref": "<$id>"}``, NENA timestamps with a UTC offset). Every
document written here is one EIDO per call; a file is one EIDO object or a JSON array of them.

Written and read (``C`` = the :class:`~heartops.core.calls.Call` field):

============================================================  ===============================
EIDO field                                                    Call
============================================================  ===============================
``$id``, ``eidoVersion`` ("1.0"), ``issuingElementIdentification``,
``lastUpdateTimeStamp`` (latest step or note)                  (written; ignored on import)
``incidentComponent.internalIncidentId``                      ``call_id``
``incidentComponent.incidentTrackingIdentifier``              ``urn:emergency:uid:incidentid:
                                                              <call_id>:<issuer>``; gives the
                                                              id on import when
                                                              ``internalIncidentId`` is absent
``incidentComponent.incidentTypeInternalCode``                ``call_type`` (heartops code)
``incidentComponent.incidentTypeInternalText`` and
``incidentTypeCommonRegistryText``                            the call type's label (the
                                                              registry's values are unknown
                                                              offline; import maps them with
                                                              ``type_map`` when the internal
                                                              code is not a heartops code)
``incidentComponent.incidentStatusCommonRegistryText``        ``["Active"]`` / ``["Closed"]``
``incidentComponent.incidentStatusInternalText``              ``[last step]`` (written only)
``incidentComponent.incidentPriorityInternalText``            ``priority`` (P, 1, 2, 3)
``incidentComponent.incidentCommonPriorityNumber``            0-10, 10 highest: P=10, 1=8,
                                                              2=5, 3=2 (read when the internal
                                                              text is absent)
``incidentComponent.beatOrDispatchGroupText``                 ``zone_id``
``incidentComponent.dispositionComponent[]``                  ``dispositions``:
   ``.dispositionCommonRegistryCode`` / ``DescriptionText``    heartops code / label
   ``.dispositionPrimaryIndicator``                            true for the first
``incidentComponent.locationReference[0]`` ->
``locationComponent[].locationByValue``                       ``location``: a PIDF-LO document
                                                              whose ``gml:pos`` is "lat lon"
                                                              (WGS 84, EPSG:4326)
``locationComponent[].locationDescriptionText``               ``address``
``locationComponent[].locationTypeDescriptionRegistryText``   "CurrentIncident" (written)
``dispatchComponent[].emergencyResourceReference[]`` ->
``emergencyResourceComponent[].emergencyResourceName``        ``unit_ids`` (in order)
``notesComponent[]``: ``notesActionComments`` (HTML-escaped
text), ``lastUpdateTimeStamp``                                ``notes`` (text, time)
``callComponent[0].callStartTimestamp``                       ``received_at`` when the
                                                              extension below is absent (read)
============================================================  ===============================

EIDO has no field for the time of each lifecycle step (a CAD sends a new EIDO at each change),
nor for HEART's flags, needs and transport destination. They travel in one namespaced
extension object, ``"x-heartops"``, which other consumers ignore::

    "x-heartops": {"version": 1,
                   "steps": [{"step": "received", "timeStamp": "2024-01-24T15:04:05+00:00"}, ...],
                   "flags": ["weapon"], "needs": ["spanish"], "destination": null,
                   "noteAuthors": {"note-1": "dispatcher 12"}}

With it, export followed by import gives back an equal :class:`Call`. Without it (an EIDO from
another system) the call gets only its received time, from ``callComponent``.

An EIDO is rejected, with the reason, when it is not an object; lacks the incident component, an
id, a known call type, a location with coordinates or a received time; has a timestamp without a
UTC offset; a reference to a missing component; an unknown disposition, flag or need; or steps
the call lifecycle forbids. A file that is not JSON, or not an object or array, is an
:class:`~heartops.core.errors.InputFileError`.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

from heartops.atomic import atomic_path
from heartops.core.calls import Call, CallNote, new_call
from heartops.core.codes import CallStep, CodeTables, Priority, default_tables
from heartops.core.errors import HeartopsError, InputFileError
from heartops.core.geo import GeoPoint

__all__ = [
    "EIDO_VERSION",
    "EXTENSION_KEY",
    "EidoImportResult",
    "RejectedEido",
    "call_to_eido",
    "calls_to_json",
    "eido_to_call",
    "parse_eido",
    "read_eido",
    "write_eido",
]

EIDO_VERSION = "1.0"
EXTENSION_KEY = "x-heartops"
"""The key of the heartops extension object in each EIDO."""

_GML = "http://www.opengis.net/gml"
_COMMON_PRIORITY = {Priority.P: 10, Priority.ONE: 8, Priority.TWO: 5, Priority.THREE: 2}
_TRACKING_ID = re.compile(r"^urn:emergency:uid:incidentid:(?P<id>[^:]+):")
_MAX_XML = 100_000


# -- export --------------------------------------------------------------------------------------


def call_to_eido(call: Call, *, issuer: str = "heartops",
                 tables: CodeTables | None = None) -> dict[str, Any]:
    """Return ``call`` as one EIDO (a JSON-ready dict).

    Parameters
    ----------
    call
        The call.
    issuer
        ``issuingElementIdentification``: the NENA id of this system (``"heart.durhamnc.gov"``).
    tables
        Code tables for labels (the packaged ones by default).
    """
    tables = tables or default_tables()
    label = tables.call_type(call.call_type).label
    updated = _stamp(max([at for _, at in call.steps] + [n.at for n in call.notes]))
    note_ids = [f"note-{n}" for n in range(1, len(call.notes) + 1)]
    incident: dict[str, Any] = {
        "$id": "incident-1",
        "lastUpdateTimeStamp": updated,
        "incidentTrackingIdentifier": f"urn:emergency:uid:incidentid:{call.call_id}:{issuer}",
        "internalIncidentId": call.call_id,
        "incidentTypeCommonRegistryText": label,
        "incidentTypeInternalCode": call.call_type,
        "incidentTypeInternalText": label,
        "incidentStatusCommonRegistryText": ["Active" if call.is_open else "Closed"],
        "incidentStatusInternalText": [call.last_step.value],
        "incidentPriorityInternalText": call.priority.value,
        "incidentCommonPriorityNumber": _COMMON_PRIORITY[call.priority],
        "locationReference": [{"$ref": "location-1"}],
    }
    if call.zone_id is not None:
        incident["beatOrDispatchGroupText"] = call.zone_id
    if note_ids:
        incident["notesReference"] = [{"$ref": i} for i in note_ids]
    if call.dispositions:
        incident["dispositionComponent"] = [
            {"dispositionCommonRegistryCode": code,
             "dispositionDescriptionText": tables.disposition(code).label,
             "dispositionPrimaryIndicator": n == 0}
            for n, code in enumerate(call.dispositions)]
    doc: dict[str, Any] = {
        "$id": f"urn:emergency:uid:eido:{call.call_id}:{issuer}",
        "eidoVersion": EIDO_VERSION,
        "lastUpdateTimeStamp": updated,
        "issuingElementIdentification": issuer,
        "incidentComponent": incident,
        "locationComponent": [_location_component(call)],
    }
    if call.unit_ids:
        dispatched = call.time_of(CallStep.DISPATCHED) or call.received_at
        resource_ids = [f"resource-{n}" for n in range(1, len(call.unit_ids) + 1)]
        doc["dispatchComponent"] = [{
            "$id": "dispatch-1", "lastUpdateTimeStamp": _stamp(dispatched),
            "emergencyResourceReference": [{"$ref": i} for i in resource_ids]}]
        doc["emergencyResourceComponent"] = [
            {"$id": rid, "lastUpdateTimeStamp": updated, "emergencyResourceName": unit}
            for rid, unit in zip(resource_ids, call.unit_ids, strict=True)]
    if call.notes:
        doc["notesComponent"] = [
            {"$id": nid, "lastUpdateTimeStamp": _stamp(note.at),
             "notesActionComments": html.escape(note.text)}
            for nid, note in zip(note_ids, call.notes, strict=True)]
    doc[EXTENSION_KEY] = {
        "version": 1,
        "steps": [{"step": step.value, "timeStamp": _stamp(at)} for step, at in call.steps],
        "flags": sorted(call.flags), "needs": sorted(call.needs),
        "destination": call.destination,
        "noteAuthors": {nid: note.author for nid, note in zip(note_ids, call.notes, strict=True)
                        if note.author},
    }
    return doc


def calls_to_json(calls: Iterable[Call], *, issuer: str = "heartops",
                  tables: CodeTables | None = None, indent: int | None = 2) -> str:
    """Return ``calls`` as a JSON array of EIDOs."""
    tables = tables or default_tables()
    return json.dumps([call_to_eido(c, issuer=issuer, tables=tables) for c in calls],
                      indent=indent, ensure_ascii=False)


def write_eido(calls: Iterable[Call], path: str | Path, *, issuer: str = "heartops",
               tables: CodeTables | None = None) -> Path:
    """Write ``calls`` to ``path`` as a JSON array of EIDOs (atomically); return the path."""
    target = Path(path)
    text = calls_to_json(calls, issuer=issuer, tables=tables)
    with atomic_path(target) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return target


def _location_component(call: Call) -> dict[str, Any]:
    component: dict[str, Any] = {
        "$id": "location-1",
        "lastUpdateTimeStamp": _stamp(call.received_at),
        "locationTypeDescriptionRegistryText": "CurrentIncident",
        "locationByValue": _pidf_lo(call.call_id, call.location),
    }
    if call.address:
        component["locationDescriptionText"] = call.address
    return component


def _pidf_lo(call_id: str, point: GeoPoint) -> str:
    """Return a minimal PIDF-LO presence document with the point (lat lon, EPSG:4326)."""
    # repr() round-trips floats exactly, so the coordinates survive export and import.
    entity = xml_escape(f"pres:{call_id}@heartops", {'"': "&quot;"})
    return (
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
        'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
        f'xmlns:gml="{_GML}" entity="{entity}">'
        '<tuple id="incident"><status><gp:geopriv><gp:location-info>'
        '<gml:Point srsName="urn:ogc:def:crs:EPSG::4326">'
        f"<gml:pos>{point.lat!r} {point.lon!r}</gml:pos>"
        "</gml:Point></gp:location-info></gp:geopriv></status></tuple></presence>")


def _stamp(at: datetime) -> str:
    """Return a NENA timestamp (RFC 3339 with an explicit offset; microseconds if any)."""
    return at.astimezone(UTC).isoformat()


# -- import --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejectedEido:
    """An EIDO that was not imported.

    Attributes
    ----------
    number
        1-based position of the EIDO in the file (1 for a file holding one EIDO).
    reason
        One line: what is wrong.
    """

    number: int
    reason: str


@dataclass(frozen=True, slots=True)
class EidoImportResult:
    """Calls read from EIDO JSON, and the EIDOs rejected."""

    calls: list[Call]
    rejected: list[RejectedEido]

    @property
    def read(self) -> int:
        """How many EIDOs the file held."""
        return len(self.calls) + len(self.rejected)


def read_eido(path: str | Path, *, tables: CodeTables | None = None,
              type_map: Mapping[str, str] | None = None) -> EidoImportResult:
    """Read calls from an EIDO JSON file (one EIDO object, or an array of them).

    Raises
    ------
    InputFileError
        When the file is missing, unreadable, not JSON, or neither an object nor an array.
    """
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(f"EIDO file not found: {target}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read EIDO file {target}: {exc}") from None
    return parse_eido(text, source=target.name, tables=tables, type_map=type_map)


def parse_eido(text: str, *, source: str = "EIDO", tables: CodeTables | None = None,
               type_map: Mapping[str, str] | None = None) -> EidoImportResult:
    """Read calls from EIDO JSON text; see :func:`read_eido`."""
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise InputFileError(f"{source}: not valid JSON ({exc})") from None
    if isinstance(doc, dict):
        docs: list[object] = [doc]
    elif isinstance(doc, list):
        docs = doc
    else:
        raise InputFileError(f"{source}: expected an EIDO object or an array of them, got "
                             f"{_kind(doc)}")
    tables = tables or default_tables()
    calls: list[Call] = []
    rejected: list[RejectedEido] = []
    for number, item in enumerate(docs, start=1):
        try:
            calls.append(eido_to_call(item, tables=tables, type_map=type_map))
        except _EidoError as exc:
            rejected.append(RejectedEido(number, str(exc)))
    return EidoImportResult(calls, rejected)


class _EidoError(ValueError):
    """An EIDO that cannot become a call (internal; becomes a :class:`RejectedEido`)."""


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def eido_to_call(doc: object, *, tables: CodeTables | None = None,
                 type_map: Mapping[str, str] | None = None) -> Call:
    """Return the call one EIDO describes.

    Parameters
    ----------
    doc
        A parsed EIDO.
    tables
        Code tables (the packaged ones by default).
    type_map
        Incident type texts (``incidentTypeCommonRegistryText`` or ``...InternalText``) of
        other systems -> heartops call-type codes, used when ``incidentTypeInternalCode`` is not
        a heartops code.

    Raises
    ------
    ValueError
        With a one-line reason, when the EIDO is malformed or does not make a valid call.
    """
    tables = tables or default_tables()
    eido = _Doc(doc)
    incident = eido.incident()
    call_id = _call_id(incident)
    try:
        steps = eido.steps()
        call = new_call(
            call_id, call_type=_call_type(incident, tables, type_map),
            location=eido.location(incident), received_at=steps[0][1],
            priority=_priority(incident), zone_id=_optional_text(incident,
                                                                 "beatOrDispatchGroupText"),
            flags=eido.extension_list("flags"), needs=eido.extension_list("needs"),
            address=eido.address(incident), tables=tables)
        dispositions = _dispositions(incident, tables)
        return replace(call, steps=steps, dispositions=dispositions,
                       destination=eido.destination(), unit_ids=eido.units(),
                       notes=eido.notes())
    except (HeartopsError, ValueError, TypeError) as exc:
        raise _EidoError(f"incident {call_id}: {exc}") from None


class _Doc:
    """One EIDO being read, with its components indexed by ``$id``."""

    def __init__(self, doc: object) -> None:
        if not isinstance(doc, dict):
            raise _EidoError(f"an EIDO must be a JSON object, got {_kind(doc)}")
        self.doc: dict[str, Any] = doc
        self.components: dict[str, dict[str, Any]] = {}
        for key, value in doc.items():
            if key.endswith("Component") and key != "incidentComponent":
                for item in _objects(value, key):
                    ident = item.get("$id")
                    if isinstance(ident, str):
                        self.components[ident] = item
        extension = doc.get(EXTENSION_KEY, {})
        if not isinstance(extension, dict):
            raise _EidoError(f"{EXTENSION_KEY} must be an object, got {_kind(extension)}")
        self.extension: dict[str, Any] = extension

    def incident(self) -> dict[str, Any]:
        value = self.doc.get("incidentComponent")
        if isinstance(value, list):
            if len(value) != 1:
                raise _EidoError(f"expected one incidentComponent, found {len(value)}")
            value = value[0]
        if not isinstance(value, dict):
            raise _EidoError("no incidentComponent object")
        return value

    def resolve(self, ref: object, what: str) -> dict[str, Any]:
        """Return the component a ``{"$ref": id}`` points at."""
        target = ref.get("$ref") if isinstance(ref, dict) else ref
        if not isinstance(target, str):
            raise ValueError(f"{what} is not a {{\"$ref\": id}} reference")
        ident = target.removeprefix("$ref:").removeprefix("#")
        component = self.components.get(ident)
        if component is None:
            raise ValueError(f"{what} points at {ident!r}, which is not in the EIDO")
        return component

    def location(self, incident: Mapping[str, Any]) -> GeoPoint:
        refs = _refs(incident.get("locationReference"), "locationReference")
        if not refs:
            raise ValueError("no locationReference")
        component = self.resolve(refs[0], "locationReference")
        pidf = component.get("locationByValue")
        if not isinstance(pidf, str):
            raise ValueError("the location has no locationByValue (PIDF-LO)")
        return _point_from_pidf(pidf)

    def address(self, incident: Mapping[str, Any]) -> str:
        refs = _refs(incident.get("locationReference"), "locationReference")
        component = self.resolve(refs[0], "locationReference") if refs else {}
        return _optional_text(component, "locationDescriptionText") or ""

    def steps(self) -> tuple[tuple[CallStep, datetime], ...]:
        raw = self.extension.get("steps")
        if raw is None:
            return ((CallStep.RECEIVED, self._call_start()),)
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"{EXTENSION_KEY}.steps must be a non-empty list")
        steps = []
        for item in raw:
            if not isinstance(item, dict):
                raise ValueError(f"{EXTENSION_KEY}.steps holds {_kind(item)}, not an object")
            name = item.get("step")
            if name not in {s.value for s in CallStep}:
                raise ValueError(f"unknown lifecycle step {name!r}")
            steps.append((CallStep(name), _timestamp(item.get("timeStamp"), f"{name} time")))
        return tuple(steps)

    def _call_start(self) -> datetime:
        calls = _objects(self.doc.get("callComponent", []), "callComponent")
        for component in calls:
            if "callStartTimestamp" in component:
                return _timestamp(component["callStartTimestamp"], "callStartTimestamp")
        raise ValueError(f"no received time (neither {EXTENSION_KEY}.steps nor "
                         "callComponent.callStartTimestamp)")

    def extension_list(self, key: str) -> list[str]:
        value = self.extension.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{EXTENSION_KEY}.{key} must be a list of strings")
        return value

    def destination(self) -> str | None:
        value = self.extension.get("destination")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{EXTENSION_KEY}.destination must be a string or null")
        return value

    def units(self) -> tuple[str, ...]:
        units: list[str] = []
        for dispatch in _objects(self.doc.get("dispatchComponent", []), "dispatchComponent"):
            for ref in _refs(dispatch.get("emergencyResourceReference"),
                             "emergencyResourceReference"):
                resource = self.resolve(ref, "emergencyResourceReference")
                name = resource.get("emergencyResourceName", resource.get("$id"))
                if not isinstance(name, str) or not name.strip():
                    raise ValueError("an emergency resource has no emergencyResourceName")
                units.append(name)
        return tuple(dict.fromkeys(units))

    def notes(self) -> tuple[CallNote, ...]:
        authors = self.extension.get("noteAuthors", {})
        if not isinstance(authors, dict):
            raise ValueError(f"{EXTENSION_KEY}.noteAuthors must be an object")
        notes = []
        for item in _objects(self.doc.get("notesComponent", []), "notesComponent"):
            text = item.get("notesActionComments")
            if not isinstance(text, str):
                raise ValueError("a note has no notesActionComments text")
            author = authors.get(item.get("$id"), "")
            if not isinstance(author, str):
                raise ValueError("a note author must be a string")
            notes.append(CallNote(_timestamp(item.get("lastUpdateTimeStamp"), "note time"),
                                  html.unescape(text), author))
        return tuple(notes)


def _call_id(incident: Mapping[str, Any]) -> str:
    value = incident.get("internalIncidentId")
    if value is None:
        tracking = incident.get("incidentTrackingIdentifier")
        match = _TRACKING_ID.match(tracking) if isinstance(tracking, str) else None
        value = match.group("id") if match else tracking
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise _EidoError(f"no usable incident id (internalIncidentId / "
                         f"incidentTrackingIdentifier): {value!r}")
    return value


def _call_type(incident: Mapping[str, Any], tables: CodeTables,
               type_map: Mapping[str, str] | None) -> str:
    code = incident.get("incidentTypeInternalCode")
    if isinstance(code, str) and code in tables.call_types:
        return code
    for key in ("incidentTypeCommonRegistryText", "incidentTypeInternalText"):
        text = incident.get(key)
        if isinstance(text, list) and text:
            text = text[0]
        if isinstance(text, str) and type_map and text in type_map:
            return type_map[text]
    seen = code if code is not None else incident.get("incidentTypeCommonRegistryText")
    raise ValueError(f"incident type {seen!r} is not a heartops call type (pass type_map)")


def _priority(incident: Mapping[str, Any]) -> Priority | None:
    text = incident.get("incidentPriorityInternalText")
    if text is not None:
        if not isinstance(text, str):
            raise ValueError("incidentPriorityInternalText must be a string")
        return Priority.parse(text)
    number = incident.get("incidentCommonPriorityNumber")
    if number is None:
        return None
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 10:
        raise ValueError(f"incidentCommonPriorityNumber must be an integer 0-10, got {number!r}")
    return next(p for p, floor in ((Priority.P, 9), (Priority.ONE, 7), (Priority.TWO, 4),
                                   (Priority.THREE, 0)) if number >= floor)


def _dispositions(incident: Mapping[str, Any], tables: CodeTables) -> tuple[str, ...]:
    codes = []
    for item in _objects(incident.get("dispositionComponent", []), "dispositionComponent"):
        code = item.get("dispositionCommonRegistryCode")
        if not isinstance(code, str):
            raise ValueError("a disposition has no dispositionCommonRegistryCode")
        tables.disposition(code)
        codes.append(code)
    # Kept in the EIDO's order (Call.close writes them in table order; an EIDO from heartops
    # therefore comes back equal).
    return tuple(dict.fromkeys(codes))


def _point_from_pidf(pidf: str) -> GeoPoint:
    if len(pidf) > _MAX_XML:
        raise ValueError(f"locationByValue is longer than {_MAX_XML} characters")
    if "<!DOCTYPE" in pidf.upper() or "<!ENTITY" in pidf.upper():
        # Entities are how XML bombs work; PIDF-LO never needs them.
        raise ValueError("locationByValue must not declare a DOCTYPE or entities")
    try:
        root = ElementTree.fromstring(pidf)
    except ElementTree.ParseError as exc:
        raise ValueError(f"locationByValue is not valid XML ({exc})") from None
    pos = next(root.iter(f"{{{_GML}}}pos"), None)
    if pos is None or not pos.text:
        raise ValueError("locationByValue has no gml:pos")
    parts = pos.text.split()
    if len(parts) < 2:
        raise ValueError(f"gml:pos {pos.text!r} is not 'lat lon'")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"gml:pos {pos.text!r} is not 'lat lon' numbers") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError(f"gml:pos {pos.text!r} is not finite")
    return GeoPoint(lat, lon)


def _timestamp(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a timestamp string, got {_kind(value)}")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an RFC 3339 timestamp") from None
    if at.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no UTC offset")
    return at.astimezone(UTC)


def _objects(value: object, what: str) -> list[dict[str, Any]]:
    """Return a component list (a single object counts as a list of one)."""
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _EidoError(f"{what} must be a list of objects")
    return value


def _refs(value: object, what: str) -> Sequence[object]:
    if value is None:
        return []
    if isinstance(value, dict | str):
        return [value]
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a reference or a list of them")
    return value


def _optional_text(component: Mapping[str, Any], key: str) -> str | None:
    value = component.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value),
                                                                      type(value).__name__)
