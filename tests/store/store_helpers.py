"""Values shared by the store tests (imported as ``store_helpers``: tests/ has no packages)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from heartops.core.calls import Call, new_call
from heartops.core.codes import Priority
from heartops.core.geo import GeoPoint
from heartops.core.units import Unit

T0 = datetime(2025, 3, 14, 13, 0, tzinfo=UTC)


class Who(TypedDict):
    """Keyword arguments naming who makes a change (``**DESK``)."""

    desk: str
    operator: str


DESK: Who = {"desk": "desk-1", "operator": "dispatcher-a"}


def crt(unit_id: str = "CRT-1", **changes: object) -> Unit:
    """A complete CRT team (clinician, peer support, EMT)."""
    fields: dict[str, object] = {"unit_id": unit_id, "program": "CRT",
                                 "team": ("clinician", "peer_support", "emt")}
    fields.update(changes)
    return Unit(**fields)  # type: ignore[arg-type]


def call(call_id: str = "C-1", *, minutes: float = 0, call_type: str = "welfare_check",
         **changes: object) -> Call:
    """A call received ``minutes`` after T0, in Durham."""
    return new_call(call_id, call_type=call_type, location=GeoPoint(35.9940, -78.8986),
                    received_at=T0 + timedelta(minutes=minutes), **changes)  # type: ignore[arg-type]


def synthetic_calls(count: int, *, prefix: str = "CAD") -> Iterator[Call]:
    """Cheap valid calls for imports (one every 30 s from T0)."""
    for index in range(count):
        yield Call(call_id=f"{prefix}-{index:07d}", call_type="welfare_check",
                   priority=Priority.TWO,
                   location=GeoPoint(35.9 + (index % 100) * 0.001, -78.9),
                   received_at=T0 + timedelta(seconds=30 * index))


def minutes(value: float) -> datetime:
    """T0 plus ``value`` minutes."""
    return T0 + timedelta(minutes=value)
