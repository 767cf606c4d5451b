"""Ports: the small interfaces the core needs from the adapters around it.

The core ranks units over a table of drive times; it does not know how those times are made.
:class:`TravelTimes` is implemented by :class:`heartops.routing.engine.TravelTimeEngine`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from heartops.core.geo import GeoPoint


@dataclass(frozen=True, slots=True)
class Eta:
    """One unit's drive to a call.

    Attributes
    ----------
    unit_id
        The unit.
    seconds
        Drive time over the road network; ``math.inf`` when the unit cannot reach the call.
    meters
        Length of that drive; ``math.inf`` when unreachable.
    snap_m
        How far the unit's reported position is from the road node it was snapped to.
    note
        Why the unit has no drive time (empty when it has one).
    """

    unit_id: str
    seconds: float
    meters: float
    snap_m: float
    note: str = ""

    @property
    def reachable(self) -> bool:
        """Whether the unit has a finite drive time to the call."""
        return math.isfinite(self.seconds)

    @property
    def minutes(self) -> float:
        """Drive time in minutes."""
        return self.seconds / 60.0


class TravelTimes(Protocol):
    """Drive times from many units to one call."""

    def etas_to(self, call: GeoPoint, units: Mapping[str, GeoPoint]) -> dict[str, Eta]:
        """Return every unit's drive time to ``call``, keyed by unit id."""
        ...
