"""The simulated roster: teams with shifts, seeded at the city's staging posts.

A :class:`Roster` pairs the core :class:`~heartops.core.units.Unit` values with the locations of
their home posts, because the simulator needs to know where each team starts and returns to,
and a ``Unit`` only names its post. :func:`default_roster` builds one from the profile's
``[roster.*]`` tables (how many teams each program fields on which shift, what they carry) and
the city's posts file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from heartops.core.clock import DailyWindow
from heartops.core.codes import CodeTables, default_tables
from heartops.core.geo import GeoPoint
from heartops.core.units import Unit, check_unit
from heartops.feeds.sim.profile import RosterSpec, SimProfile, load_profile
from heartops.routing.posts import Post


@dataclass(frozen=True)
class Roster:
    """The teams of a simulation and where their posts are.

    Attributes
    ----------
    units
        The teams, in the order their ids are numbered.
    posts
        Post locations by post id; every unit's ``home_post_id`` is a key.
    """

    units: tuple[Unit, ...]
    posts: Mapping[str, GeoPoint] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = [unit.unit_id for unit in self.units]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate unit ids in the roster: {', '.join(duplicates)}")
        for unit in self.units:
            if unit.home_post_id not in self.posts:
                raise ValueError(f"unit {unit.unit_id}: home post {unit.home_post_id!r} is not "
                                 "among the roster's posts")
        object.__setattr__(self, "units", tuple(self.units))
        object.__setattr__(self, "posts", MappingProxyType(dict(self.posts)))

    def home(self, unit: Unit) -> GeoPoint:
        """Return where ``unit`` is based."""
        return self.posts[str(unit.home_post_id)]

    def with_units(self, units: Iterable[Unit]) -> Roster:
        """Return a roster with other units on the same posts (for what-if runs)."""
        return Roster(tuple(units), self.posts)


def default_roster(posts: Sequence[Post], profile: SimProfile | None = None, *,
                   tables: CodeTables | None = None) -> Roster:
    """Return the profile's roster, its teams spread over ``posts``.

    Parameters
    ----------
    posts
        The city's staging posts (``heartops.routing.posts.load_posts``), in file order; the
        profile refers to them by 1-based position.
    profile
        The simulator profile (the packaged one by default).
    tables
        Code tables, for team roles and checking capabilities.

    Raises
    ------
    ValueError
        With no posts, or when the profile names a post number beyond the list.
    """
    if not posts:
        raise ValueError("the roster needs at least one staging post")
    tables = tables or default_tables()
    profile = profile or load_profile(tables=tables)
    units = [unit for spec in profile.roster.values()
             for unit in _program_units(spec, posts, tables)]
    return Roster(tuple(units), {post.post_id: post.location for post in posts})


def _program_units(spec: RosterSpec, posts: Sequence[Post], tables: CodeTables) -> list[Unit]:
    team = tables.program(spec.program).team_roles
    units = []
    number = 0
    for shift in spec.shifts:
        window = DailyWindow(shift.start, shift.end)
        for _ in range(shift.units):
            extras = spec.extra_capabilities[number % len(spec.extra_capabilities)]
            unit = Unit(unit_id=f"{spec.program}-{number + 1}", program=spec.program,
                        team=team, capabilities=spec.capabilities | extras,
                        home_post_id=_post_for(spec, number, posts).post_id, shift=window,
                        name=f"{spec.program} team {number + 1} ({window.describe()})")
            units.append(check_unit(unit, tables=tables))
            number += 1
    return units


def _post_for(spec: RosterSpec, number: int, posts: Sequence[Post]) -> Post:
    if spec.posts:
        position = spec.posts[number % len(spec.posts)]
        if not 1 <= position <= len(posts):
            raise ValueError(f"roster.{spec.program}: post {position} does not exist "
                             f"(the city has {len(posts)} posts)")
        return posts[position - 1]
    return posts[(spec.post_offset + number) % len(posts)]

