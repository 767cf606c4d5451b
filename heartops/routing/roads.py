"""Road classes, default speeds and osmnx's drive filter, as data.

Why our own default speed table: osmnx imputes a missing ``maxspeed`` with the mean of the
tagged edges of the same highway type, so a city with few tags gets arbitrary speeds. US
cities post speeds by road class, so heartops fills untagged roads from the table below
(posted US urban limits; a tagged ``maxspeed`` always wins). ``SpeedRule.OSMNX`` keeps
osmnx's own imputation, to reproduce figures computed with plain osmnx.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

MPH_TO_KPH = 1.609344


class SpeedRule(enum.StrEnum):
    """How edges without a ``maxspeed`` tag get a speed."""

    US_DEFAULT = "us-default"
    OSMNX = "osmnx"


class RoadClass(enum.IntEnum):
    """Road classes as the map draws them (a few layers, not one per highway tag)."""

    FREEWAY = 0
    RAMP = 1
    ARTERIAL = 2
    COLLECTOR = 3
    LOCAL = 4


@dataclass(frozen=True, slots=True)
class HighwayType:
    """One OSM ``highway`` value: its drawing class, default speed and importance rank."""

    road_class: RoadClass
    default_mph: float
    rank: int  # lower = more important; picks the class of a merged edge


#: US urban defaults for untagged roads, by OSM highway value.
HIGHWAY_TYPES: Mapping[str, HighwayType] = {
    "motorway": HighwayType(RoadClass.FREEWAY, 65, 0),
    "trunk": HighwayType(RoadClass.FREEWAY, 55, 1),
    "primary": HighwayType(RoadClass.ARTERIAL, 45, 2),
    "secondary": HighwayType(RoadClass.ARTERIAL, 35, 3),
    "tertiary": HighwayType(RoadClass.COLLECTOR, 30, 4),
    "motorway_link": HighwayType(RoadClass.RAMP, 35, 5),
    "trunk_link": HighwayType(RoadClass.RAMP, 30, 6),
    "primary_link": HighwayType(RoadClass.RAMP, 25, 7),
    "secondary_link": HighwayType(RoadClass.RAMP, 25, 8),
    "tertiary_link": HighwayType(RoadClass.RAMP, 25, 9),
    "unclassified": HighwayType(RoadClass.LOCAL, 25, 10),
    "residential": HighwayType(RoadClass.LOCAL, 25, 11),
    "road": HighwayType(RoadClass.LOCAL, 25, 12),
    "living_street": HighwayType(RoadClass.LOCAL, 15, 13),
    "service": HighwayType(RoadClass.LOCAL, 15, 14),
}
UNKNOWN_HIGHWAY = HighwayType(RoadClass.LOCAL, 25, 99)


def highway_type(value: str) -> HighwayType:
    """Return the table row of an OSM highway value (unknown values count as local roads)."""
    return HIGHWAY_TYPES.get(value, UNKNOWN_HIGHWAY)


def us_default_speeds_kph() -> dict[str, float]:
    """Return the default speed table in km/h, as osmnx's ``hwy_speeds`` expects."""
    return {name: row.default_mph * MPH_TO_KPH for name, row in HIGHWAY_TYPES.items()}


_CLAUSE = re.compile(r'\["(?P<key>[^"]+)"(?:(?P<op>!?~)"(?P<pattern>[^"]*)")?\]')


@dataclass(frozen=True, slots=True)
class _Clause:
    key: str
    op: str  # "" = key present, "~" = value matches, "!~" = absent or value does not match
    pattern: re.Pattern[str] | None

    def accepts(self, tags: Mapping[str, str]) -> bool:
        value = tags.get(self.key)
        if self.op == "":
            return value is not None
        assert self.pattern is not None
        matches = value is not None and self.pattern.search(value) is not None
        return matches if self.op == "~" else not matches


@dataclass(frozen=True, slots=True)
class WayFilter:
    """An Overpass way filter (``["highway"]["area"!~"yes"]...``) applied to tags locally.

    Files are filtered with exactly the query osmnx sends to Overpass for a place name, so a
    network built from a file keeps the same roads as one downloaded online.
    """

    clauses: tuple[_Clause, ...]

    @classmethod
    def parse(cls, query: str) -> WayFilter:
        """Parse an Overpass tag filter such as osmnx's ``drive`` filter."""
        clauses = []
        for match in _CLAUSE.finditer(query):
            pattern = match["pattern"]
            clauses.append(
                _Clause(match["key"], match["op"] or "",
                        re.compile(pattern) if pattern is not None else None)
            )
        if not clauses:
            raise ValueError(f"no tag clauses in way filter {query!r}")
        return cls(tuple(clauses))

    def accepts(self, tags: Mapping[str, str]) -> bool:
        """Return True when a way with these tags passes every clause."""
        return all(clause.accepts(tags) for clause in self.clauses)
