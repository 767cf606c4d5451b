"""What the main window calls on the world outside Qt for exports and zone figures.

``heartops.qt`` must not import :mod:`heartops.exports` or :mod:`heartops.analysis` (both
reach the store, and the import-linter contracts keep the store out of the Qt layer), so the
window describes here the little it needs, with plain values, and ``heartops/app.py`` hands it
adapters over :func:`heartops.exports.export_layers` and the per-zone metrics.

Both ports are called on a worker thread, never on the UI thread: an export or a first read of
the history database takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["EXPORT_FORMATS", "EXPORT_KINDS", "EXPORT_PROFILES", "ZONE_METRICS", "ExportJob",
           "ExportPort", "ProgressCallback", "ZoneMetric", "ZoneMetricsPort"]

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
