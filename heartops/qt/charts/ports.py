"""What the Charts dock calls on the world outside Qt: one small Protocol, injected by the app.

``heartops.qt`` must not import the store (import-linter keeps ``heartops.qt`` and
``heartops.store`` independent), so the dock describes the data it needs here and
``heartops/app.py`` hands it an object that satisfies :class:`ChartData` structurally,
normally :class:`heartops.analysis.charts_data.FrameChartData` over a store.

The types crossing the port (:class:`ChartFilters`, :class:`ChartChoices`,
:class:`ChartSeries`) are plain frozen dataclasses of pandas tables from
:mod:`heartops.analysis.charts_data`; that module imports only ``heartops.core``, pandas and
numpy, so importing its types here brings no store into the Qt layer (``lint-imports``
checks the chain).
"""

from __future__ import annotations

from typing import Protocol

from heartops.analysis.charts_data import ChartChoices, ChartFilters, ChartSeries

__all__ = ["ChartChoices", "ChartData", "ChartFilters", "ChartSeries"]


class ChartData(Protocol):
    """Chart data for the Charts dock; both methods run on the dock's worker thread.

    They may read a database and take seconds; they must be safe to call from a thread other
    than the one that built the object (one call at a time: the dock has one worker).
    """

    def choices(self) -> ChartChoices:
        """Return the programs, zones and day span the filters can offer."""
        ...

    def series(self, filters: ChartFilters) -> ChartSeries:
        """Return every chart's series for ``filters``."""
        ...
