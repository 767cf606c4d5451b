"""The Charts dock (issue #5): response metrics per program, week, hour and minute.

``heartops/app.py`` builds the dock content as::

    ChartsWidget(FrameChartData(load, timezone=tables.timezone), theme=theme)

with :class:`heartops.analysis.charts_data.FrameChartData` (or anything that satisfies
:class:`ChartData`) and calls :meth:`ChartsWidget.shutdown` when the window closes.
"""

from heartops.qt.charts.export import ExportError, ExportFormat
from heartops.qt.charts.ports import ChartChoices, ChartData, ChartFilters, ChartSeries
from heartops.qt.charts.widget import CHART_THREAD_PREFIX, ChartsWidget, PathProvider

__all__ = ["CHART_THREAD_PREFIX", "ChartChoices", "ChartData", "ChartFilters", "ChartSeries",
           "ChartsWidget", "ExportError", "ExportFormat", "PathProvider"]
