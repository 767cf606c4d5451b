"""The values an export is asked for and hands back, and its errors.

Requests and results are frozen so a Qt worker can take a request on one thread and hand the
result back to another without either side changing it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from heartops.core.errors import HeartopsError

__all__ = [
    "DisclosureError",
    "ExportError",
    "ExportFormat",
    "ExportKind",
    "ExportRequest",
    "ExportResult",
    "Layer",
    "LayerSummary",
    "Profile",
]


class ExportError(HeartopsError):
    """An export cannot be made: a kind the profile does not allow, a bad path, a failed write."""


class DisclosureError(ExportError):
    """A public export failed its disclosure check; nothing was written."""


class ExportKind(StrEnum):
    """What can be exported; each kind is one layer (one file for GeoJSON and CSV)."""

    CALLS = "calls"
    ZONES = "zones"
    UNITS = "units"
    TRACKS = "tracks"
    ISOCHRONES = "isochrones"


class ExportFormat(StrEnum):
    """File formats."""

    GPKG = "gpkg"
    GEOJSON = "geojson"
    CSV = "csv"
    HTML = "html"

    @property
    def is_folder(self) -> bool:
        """Whether the output is a folder of one file per kind (GeoJSON, CSV)."""
        return self in (ExportFormat.GEOJSON, ExportFormat.CSV)


class Profile(StrEnum):
    """Who the export is for; decides what detail leaves the building.

    ``internal``
        Staff: exact points and every field.
    ``partner``
        Agencies under a data-sharing agreement: no names, phone numbers or free text, and
        locations generalised to a 100 m grid cell (about one street block).
    ``public``
        Anyone: counts per zone, no points, no free text, small counts suppressed.
    """

    INTERNAL = "internal"
    PARTNER = "partner"
    PUBLIC = "public"


DEFAULT_MINUTES: tuple[float, ...] = (5.0, 10.0, 15.0)


@dataclass(frozen=True)
class ExportRequest:
    """One export, as the CLI or the app's File menu asks for it.

    Attributes
    ----------
    kinds
        What to export, in output order.
    format
        File format.
    profile
        Privacy profile.
    out
        A file for GeoPackage and HTML, a folder (one file per kind) for GeoJSON and CSV.
    db
        Database URL or SQLite path for calls, units and tracks (``None``: the default store).
    network
        Road network for isochrones and the default zone layer.
    zone_layer
        Zone layer for ``zones`` and for the public calls table (default ``<network>-beats``).
    received_from, received_before
        Window ``[from, before)`` on call received times and AVL fix times (aware datetimes).
    minutes
        Drive times of the isochrones around each staging post.
    """

    kinds: tuple[ExportKind, ...]
    format: ExportFormat
    profile: Profile
    out: Path
    db: str | None = None
    network: str = "demo"
    zone_layer: str | None = None
    received_from: dt.datetime | None = None
    received_before: dt.datetime | None = None
    minutes: tuple[float, ...] = DEFAULT_MINUTES

    def __post_init__(self) -> None:
        if not self.kinds:
            raise ExportError("an export needs at least one kind (calls, zones, units, "
                              "tracks, isochrones)")
        if len(set(self.kinds)) != len(self.kinds):
            raise ExportError("each kind may be asked for only once")
        for name in ("received_from", "received_before"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ExportError(f"{name} must carry a time zone")
        if any(not 0 < m <= 120 for m in self.minutes):
            raise ExportError("isochrone minutes must be between 0 and 120")


@dataclass(frozen=True)
class Layer:
    """One layer ready to write: a GeoDataFrame in EPSG:4326 and how to write it.

    Attributes
    ----------
    kind
        What it holds.
    frame
        The rows (a ``geopandas.GeoDataFrame``; typed loosely to keep this module light).
    geometry_type
        OGR geometry type of the layer (``Point``, ``LineString``, ``MultiPolygon``).
    count_columns
        Columns holding published counts (public tables), the row total last.
    total_row_id
        ``zone_id`` of the row holding column totals (public tables).
    """

    kind: ExportKind
    frame: Any
    geometry_type: str
    count_columns: tuple[str, ...] = ()
    total_row_id: str | None = None


@dataclass(frozen=True)
class LayerSummary:
    """What was written of one kind."""

    kind: ExportKind
    rows: int
    geometry_type: str
    suppressed_cells: int = 0


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes
    ----------
    paths
        Every file written (one for GeoPackage and HTML).
    layers
        One summary per kind.
    profile, format
        As asked.
    notes
        One-line remarks for people (what was generalised or suppressed, and why).
    """

    paths: tuple[Path, ...]
    layers: tuple[LayerSummary, ...]
    profile: Profile
    format: ExportFormat
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bytes_written(self) -> int:
        """Total size of the files written."""
        return sum(path.stat().st_size for path in self.paths)
