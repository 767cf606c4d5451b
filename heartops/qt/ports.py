"""What the main window calls on the world outside Qt: exports, zone figures, coverage.

``heartops.qt`` must not import :mod:`heartops.exports` or :mod:`heartops.analysis` (both
reach the store, and the import-linter contracts keep the store out of the Qt layer), so the
window describes here the little it needs, with plain values, and ``heartops/app.py`` hands it
adapters over :func:`heartops.exports.export_layers` and the per-zone metrics.

The coverage port (the Coverage dock, the map's coverage cells and the recommendation panel's
"Cover −%" column) follows the same rule: plain snapshots in, plain answers out.

Every port is called on a worker thread, never on the UI thread: an export or a first read of
the history database takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["EXPORT_FORMATS", "EXPORT_KINDS", "EXPORT_PROFILES", "ZONE_METRICS", "CoverageGrid",
           "CoveragePort", "CoverageReading", "CoverageSnapshot", "CoverageUnit", "ExportJob",
           "ExportPort", "MoveUpAdvice", "PlanChoice", "PlannedPost", "PostsPlanResult",
           "ProgressCallback", "ZoneMetric", "ZoneMetricsPort"]

#: What can be exported (the names :class:`heartops.exports.ExportKind` takes).
EXPORT_KINDS: tuple[str, ...] = ("calls", "zones", "units", "tracks", "isochrones")
#: File formats; GeoJSON and CSV write a folder of one file per kind.
EXPORT_FORMATS: tuple[str, ...] = ("gpkg", "geojson", "csv", "html")
#: Privacy profiles, most detailed first.
EXPORT_PROFILES: tuple[str, ...] = ("internal", "partner", "public")

ProgressCallback = Callable[[str, "float | None"], None]
"""Receives a step line and the fraction done (``None`` while unknown)."""


@dataclass(frozen=True, slots=True)
class ExportJob:
    """One export as the File → Export… dialog asks for it.

    Attributes
    ----------
    kinds
        Names from :data:`EXPORT_KINDS`, in output order.
    format
        One of :data:`EXPORT_FORMATS`.
    profile
        One of :data:`EXPORT_PROFILES`.
    out
        A file (GeoPackage, HTML) or a folder (GeoJSON, CSV).
    """

    kinds: tuple[str, ...]
    format: str
    profile: str
    out: Path


class ExportPort(Protocol):
    """Runs exports (``heartops/app.py`` adapts :func:`heartops.exports.export_layers`)."""

    def run(self, job: ExportJob, progress: ProgressCallback) -> str:
        """Export ``job``, reporting through ``progress``; return a short summary.

        An exception raised by ``progress`` aborts the export and leaves nothing written.

        Raises
        ------
        heartops.core.errors.HeartopsError
            With a one-line reason when the export cannot be made.
        """
        ...


@dataclass(frozen=True, slots=True)
class ZoneMetric:
    """A figure beats can be coloured by.

    Attributes
    ----------
    key
        What the port is asked for.
    title
        Menu and legend text.
    unit
        Appended to values in the legend (``"%"``, ``" min"``).
    digits
        Decimals shown.
    """

    key: str
    title: str
    unit: str = ""
    digits: int = 0

    def format(self, value: float) -> str:
        """Return ``value`` as the legend writes it."""
        return f"{value:.{self.digits}f}{self.unit}"


#: The figures offered in View → Colour beats by.
ZONE_METRICS: tuple[ZoneMetric, ...] = (
    ZoneMetric("calls", "Calls"),
    ZoneMetric("to_scene_median", "Median minutes to scene", " min", 1),
    ZoneMetric("response_median", "Median minutes received → on scene", " min", 1),
    ZoneMetric("transport_pct", "% needing transport", "%"),
    ZoneMetric("pd_backup_pct", "% needing PD backup", "%"),
    ZoneMetric("ems_pct", "% needing EMS support", "%"),
)


class ZoneMetricsPort(Protocol):
    """Per-zone figures of the desk's history (the same store as the charts)."""

    def zone_values(self, metric: str) -> Mapping[str, float]:
        """Return ``zone_id -> value`` of ``metric`` (a :data:`ZONE_METRICS` key).

        Zones without the figure (no calls, no times) are left out.

        Raises
        ------
        heartops.core.errors.HeartopsError
            When the history cannot be read.
        """
        ...


# -- coverage planning (the Coverage dock, the map's coverage cells, "Cover −%") ------------


@dataclass(frozen=True, slots=True)
class CoverageUnit:
    """An available in-person unit where it is now (what coverage is counted from).

    Attributes
    ----------
    unit_id
        The unit.
    lat, lon
        Its position (WGS 84).
    """

    unit_id: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class CoverageSnapshot:
    """The board's free in-person units at one instant (immutable; safe to hand over).

    Attributes
    ----------
    serial
        Increases with every snapshot; answers to older ones are dropped.
    at
        The board's instant (the hour of week of the demand).
    units
        Available, on-shift, in-person units with a position, in board order.
    """

    serial: int
    at: datetime
    units: tuple[CoverageUnit, ...]


@dataclass(frozen=True, slots=True)
class CoverageGrid:
    """The demand cells and the service's settings, once the history is loaded.

    Attributes
    ----------
    lon, lat
        Cell centres (WGS 84).
    radius_m
        Centre-to-corner size of the hexagonal cells, in metres.
    minutes
        Thresholds of the readings (8 and 12 by default).
    cost_minutes
        Threshold of :meth:`CoveragePort.unit_costs` and the move-up.
    target
        How the target is set, for the dock (``"0.9 × best from posts"``).
    summary
        What the demand is built from (calls, period), one line.
    """

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    radius_m: float
    minutes: tuple[float, ...]
    cost_minutes: float
    target: str
    summary: str


@dataclass(frozen=True, slots=True)
class MoveUpAdvice:
    """Move one free unit to one post.

    Attributes
    ----------
    unit_id, post_id, post_name
        Who goes where.
    lat, lon
        The post.
    minutes
        Threshold of the gain.
    before, after
        Covered share before and after.
    gain_calls
        Expected calls per hour added to coverage.
    drive_min
        Modelled drive minutes to the post.
    """

    unit_id: str
    post_id: str
    post_name: str
    lat: float
    lon: float
    minutes: float
    before: float
    after: float
    gain_calls: float
    drive_min: float


@dataclass(frozen=True, eq=False)
class CoverageReading:
    """Coverage of this hour's expected demand by a snapshot's units.

    Attributes
    ----------
    serial, at
        Those of the snapshot answered.
    hour
        ``"Tue 14:00"``: the hour of week the demand is of.
    expected_calls
        Eligible calls expected city-wide in that hour.
    demand
        Per cell (the :class:`CoverageGrid` order): the weights of the shares.
    shares, best, targets
        Per threshold: covered share, best share from the posts, target share.
    covered
        Per threshold: which cells are covered.
    units
        How many units were counted.
    move_up
        The suggestion, when below target.
    """

    serial: int
    at: datetime
    hour: str
    expected_calls: float
    demand: npt.NDArray[np.float64]
    shares: Mapping[float, float]
    best: Mapping[float, float]
    targets: Mapping[float, float]
    covered: Mapping[float, npt.NDArray[np.bool_]]
    units: int
    move_up: MoveUpAdvice | None


@dataclass(frozen=True, slots=True)
class PlannedPost:
    """A post of a plan.

    Attributes
    ----------
    label
        ``"post 3: Library"`` or ``"cell 812"`` (a road node, not an existing post).
    lat, lon
        Where.
    existing
        Whether it is one of today's posts.
    """

    label: str
    lat: float
    lon: float
    existing: bool


@dataclass(frozen=True, slots=True)
class PlanChoice:
    """One answer of a post plan.

    Attributes
    ----------
    method
        ``"exact"``, ``"greedy"`` or ``"current"``.
    share
        Covered share of the week's expected demand.
    seconds
        Time to find it.
    optimal
        Proven optimal.
    posts
        The chosen posts.
    by_hour
        Covered share per hour of day (the week's hours averaged), 24 values, ``nan``
        without demand.
    """

    method: str
    share: float
    seconds: float
    optimal: bool
    posts: tuple[PlannedPost, ...]
    by_hour: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class PostsPlanResult:
    """Plan posts: k posts chosen for T minutes, exactly and greedily, beside today's.

    Attributes
    ----------
    k, minutes, candidates
        The question, and how many candidate sites were weighed.
    current, exact, greedy
        The answers.
    """

    k: int
    minutes: float
    candidates: int
    current: PlanChoice
    exact: PlanChoice
    greedy: PlanChoice


class CoveragePort(Protocol):
    """Coverage of the desk's history (``heartops/app.py`` adapts the live coverage service).

    Every method runs on a worker thread. :meth:`load` is slow the first time (it reads the
    history, which the demo simulates on first use); the others take milliseconds, except
    :meth:`plan_posts` (seconds).
    """

    def load(self) -> CoverageGrid:
        """Build the demand and the planner (once); return the cells.

        Raises
        ------
        heartops.core.errors.HeartopsError
            With a one-line reason when the history cannot be used.
        """
        ...

    def reading(self, snapshot: CoverageSnapshot) -> CoverageReading:
        """Return the coverage now of the snapshot's units (after :meth:`load`)."""
        ...

    def unit_costs(self, snapshot: CoverageSnapshot) -> Mapping[str, float] | None:
        """Return per unit the share of this hour's demand lost if it goes.

        ``None`` while :meth:`load` has not finished: this never waits for it.
        """
        ...

    def plan_posts(self, k: int, minutes: float) -> PostsPlanResult:
        """Choose ``k`` posts covering the most weekly demand within ``minutes``.

        Raises
        ------
        heartops.core.errors.HeartopsError
            On a bad ``k`` (one line).
        """
        ...
