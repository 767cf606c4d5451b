"""heartops.exports: map layers as GeoPackage, GeoJSON, CSV or offline HTML, under a profile.

::

    from heartops.exports import ExportRequest, export_layers

    result = export_layers(ExportRequest(kinds=(ExportKind.CALLS,), format=ExportFormat.GPKG,
                                         profile=Profile.PUBLIC, out=Path("calls.gpkg")),
                           progress, store=store)

Modules: :mod:`~heartops.exports.model` (requests, results, errors),
:mod:`~heartops.exports.layers` (full-detail layers from core values),
:mod:`~heartops.exports.profiles` (internal / partner / public),
:mod:`~heartops.exports.suppression` (small-count and complementary suppression),
:mod:`~heartops.exports.validate` (the public disclosure check), :mod:`~heartops.exports.writers`
(formats, atomic writes) and :mod:`~heartops.exports.run` (:func:`export_layers`).

``heartops.exports`` imports geopandas, so the CLI imports it only inside the export command.
"""

from __future__ import annotations

from heartops.exports.model import (
    DisclosureError,
    ExportError,
    ExportFormat,
    ExportKind,
    ExportRequest,
    ExportResult,
    LayerSummary,
    Profile,
)
from heartops.exports.run import export_layers, kinds_from_text

__all__ = [
    "DisclosureError",
    "ExportError",
    "ExportFormat",
    "ExportKind",
    "ExportRequest",
    "ExportResult",
    "LayerSummary",
    "Profile",
    "export_layers",
    "kinds_from_text",
]
