"""The four charts of the Charts dock, each a pyqtgraph layout that draws one series.

Each chart is a ``GraphicsLayoutWidget`` (so an export of its scene takes the legend and the
colour bar along) with :meth:`ChartView.show_series` to draw a :class:`ChartSeries` and
:meth:`ChartView.table` to hand the drawn numbers to the CSV export. The items a chart draws
are kept as attributes so tests can read the plotted data back. Charts are static pictures
of a report: mouse pan/zoom and pyqtgraph's own context menu are off (the dock offers its own
export menu, with atomic writes).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from heartops.analysis.charts_data import DAY_NAMES, INTERVALS, ChartSeries
from heartops.qt.charts.style import ChartPalette

__all__ = ["CHART_TITLES", "ChartView", "HeatmapChart", "HistogramChart", "MetricsChart",
           "WeeklyChart"]

INTERVAL_LABELS = {"to_scene": "to scene", "on_scene": "on scene", "total": "total"}

CHART_TITLES = {"metrics": "Minutes per program",
                "weekly": "Calls and median minutes to scene per week",
                "heatmap": "Eligible demand by day and hour",
                "histogram": "Minutes to scene per program"}
"""Chart key -> title shown above it (the key also names exported files)."""

def _font(points: float) -> QtGui.QFont:
    font = QtGui.QFont()
    font.setPointSizeF(points)
    return font


class ChartView(pg.GraphicsLayoutWidget):  # type: ignore[misc]
    """Base of the charts: themed background and axes, a table for the CSV export."""

    key = ""

    def __init__(self, palette: ChartPalette, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent=parent)
        self.palette_ = palette
        self.setBackground(palette.background)
        self.ci.setContentsMargins(4, 4, 8, 4)
        self._table = pd.DataFrame()
        self.setMinimumSize(280, 200)

    def _plot(self, row: int = 0, col: int = 0, **axis_items: pg.AxisItem) -> pg.PlotItem:
        """Add a plot with the theme's axes, no mouse interaction and no pyqtgraph menu."""
        plot = self.addPlot(row=row, col=col, axisItems=axis_items or None)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        plot.getViewBox().setDefaultPadding(0.02)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(self.palette_.axis))
            axis.setTextPen(pg.mkPen(self.palette_.axis))
            axis.setStyle(tickFont=_font(8))
        return plot

    def _legend(self, plot: pg.PlotItem, *, offset: tuple[int, int] = (-6, 6),
                columns: int = 1) -> pg.LegendItem:
        legend = plot.addLegend(offset=offset, labelTextColor=self.palette_.title,
                                labelTextSize="8pt", colCount=columns,
                                brush=pg.mkBrush(self.palette_.background + "d0"))
        return legend

    def table(self) -> pd.DataFrame:
        """Return the numbers the chart shows, one row per point (the CSV export)."""
        return self._table

    def show_series(self, series: ChartSeries) -> None:
        """Draw ``series`` (replaces what was drawn)."""
        raise NotImplementedError


class MetricsChart(ChartView):
    """Mean minutes per program and interval as bars, median and p90 markers, published means.

    Attributes
    ----------
    bars, medians, p90s
        Program -> the bar item / the median markers / the p90 markers, x at the bars.
    published
        Short dashed segments over each bar at the department's published mean.
    """

    key = "metrics"

    def __init__(self, palette: ChartPalette, parent: QtCore.QObject | None = None) -> None:
        super().__init__(palette, parent)
        self.plot = self._plot()
        self.plot.setLabel("left", "minutes", color=palette.axis)
        self.plot.showGrid(y=True, alpha=palette.grid_alpha / 255)
        names = list(INTERVALS)
        self.plot.getAxis("bottom").setTicks([[(i, INTERVAL_LABELS[n])
                                               for i, n in enumerate(names)]])
        # Top left, in rows: the "to scene" bars are short, so the legend covers nothing.
        self.legend = self._legend(self.plot, offset=(6, 4), columns=3)
        self.bars: dict[str, pg.BarGraphItem] = {}
        self.medians: dict[str, pg.ScatterPlotItem] = {}
        self.p90s: dict[str, pg.ScatterPlotItem] = {}
        self.published = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(
            palette.target, width=2, style=QtCore.Qt.PenStyle.DashLine))

    def show_series(self, series: ChartSeries) -> None:
        """Draw the per-program bars of ``series.program_stats``."""
        stats = series.program_stats
        self._table = stats
        self.plot.clear()
        self.legend.clear()
        self.bars, self.medians, self.p90s = {}, {}, {}
        programs = list(dict.fromkeys(stats["program"]))
        width = 0.8 / max(len(programs), 1)
        pairs_x: list[float] = []
        pairs_y: list[float] = []
        for k, program in enumerate(programs):
            rows = stats[stats["program"] == program]
            x = (rows["interval"].map(list(INTERVALS).index).to_numpy(dtype=float)
                 - 0.4 + width * (k + 0.5))
            colour = self.palette_.program(program)
            bar = pg.BarGraphItem(x=x, height=rows["mean_min"].fillna(0).to_numpy(),
                                  width=width * 0.9, brush=pg.mkBrush(colour),
                                  pen=pg.mkPen(None))
            self.plot.addItem(bar)
            self.legend.addItem(bar, program)
            self.bars[program] = bar
            self.medians[program] = self._markers(x, rows["median_min"], "o", 7)
            self.p90s[program] = self._markers(x, rows["p90_min"], "t1", 9)
            for xi, target in zip(x, rows["published_mean_min"], strict=True):
                if not math.isnan(target):
                    pairs_x += [xi - width * 0.5, xi + width * 0.5]
                    pairs_y += [target, target]
        self.published.setData(pairs_x, pairs_y)
        self.plot.addItem(self.published)
        if programs:
            # One legend entry per marker kind, not one per program.
            first = programs[0]
            self.legend.addItem(self.medians[first], "median")
            self.legend.addItem(self.p90s[first], "p90")
            if pairs_x:
                self.legend.addItem(self.published, "published mean")
        self.plot.setXRange(-0.5, len(INTERVALS) - 0.5, padding=0)
        top = np.nanmax(stats[["mean_min", "p90_min", "published_mean_min"]].to_numpy(
            dtype=float), initial=0.0) if not stats.empty else 0.0
        # Head room for the two legend rows above the tallest marker.
        self.plot.setYRange(0, max(float(top), 1.0) * 1.3, padding=0)

    def _markers(self, x: np.ndarray, values: pd.Series, symbol: str,
                 size: int) -> pg.ScatterPlotItem:
        y = values.to_numpy(dtype=float)
        keep = ~np.isnan(y)
        item = pg.ScatterPlotItem(x=x[keep], y=y[keep], symbol=symbol, size=size,
                                  brush=pg.mkBrush(self.palette_.marker),
                                  pen=pg.mkPen(self.palette_.background, width=1))
        self.plot.addItem(item)
        return item


class WeeklyChart(ChartView):
    """Calls per week (bars, top) over the median minutes to scene per week (line, bottom).

    Weeks are placed at x = 0, 1, 2, ... (one slot per week of the series, quiet weeks
    included) and labelled with their Monday, so the labels name weeks rather than the
    arbitrary days a date axis would pick.

    Attributes
    ----------
    calls_bars
        One bar per week.
    median_line
        The weekly median; weeks without a time to scene are gaps.
    target_line
        The published mean minutes to scene of the filtered program (hidden without one).
    """

    key = "weekly"
    MAX_LABELS = 8

    def __init__(self, palette: ChartPalette, parent: QtCore.QObject | None = None) -> None:
        super().__init__(palette, parent)
        self.top = self._plot(0, 0)
        self.bottom = self._plot(1, 0)
        self.bottom.setXLink(self.top)
        self.top.getAxis("bottom").setStyle(showValues=False)
        self.top.setLabel("left", "calls", color=palette.axis)
        self.bottom.setLabel("left", "median min", color=palette.axis)
        self.bottom.setLabel("bottom", "week starting", color=palette.axis)
        for plot in (self.top, self.bottom):
            plot.showGrid(y=True, alpha=palette.grid_alpha / 255)
        self.calls_bars = pg.BarGraphItem(x=[], height=[], width=0.8,
                                          brush=pg.mkBrush(palette.programs["CCD"] + "c0"),
                                          pen=pg.mkPen(None))
        self.top.addItem(self.calls_bars)
        self.median_line = pg.PlotDataItem(pen=pg.mkPen(palette.line, width=2), symbol="o",
                                           symbolSize=6, symbolBrush=palette.line,
                                           symbolPen=None, connect="finite")
        self.bottom.addItem(self.median_line)
        self.target_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(
            palette.target, width=1, style=QtCore.Qt.PenStyle.DashLine),
            label="published mean {value:.1f}", labelOpts={
                "position": 0.02, "color": palette.target, "anchors": [(0, 1), (0, 1)]})
        self.bottom.addItem(self.target_line)

    def show_series(self, series: ChartSeries) -> None:
        """Draw ``series.weekly``."""
        weekly = series.weekly
        self._table = weekly
        x = np.arange(len(weekly), dtype=float)
        self.calls_bars.setOpts(x=x, height=weekly["calls"].to_numpy(dtype=float), width=0.8)
        self.median_line.setData(x, weekly["median_to_scene_min"].to_numpy(dtype=float))
        step = max(1, math.ceil(len(weekly) / self.MAX_LABELS))
        labels = [(float(i), f"{day:%b} {day.day}")
                  for i, day in enumerate(weekly["week_start"])][::step]
        for plot in (self.top, self.bottom):
            plot.getAxis("bottom").setTicks([labels, [(float(i), "") for i in x]])
        program = series.filters.program
        target = series.targets.get(program or "", {}).get("to_scene")
        self.target_line.setVisible(target is not None)
        if target is not None:
            self.target_line.setValue(target)
        self.top.setXRange(-0.6, max(len(weekly) - 0.4, 0.6), padding=0)
        peak = float(weekly["calls"].max()) if len(weekly) else 0.0
        self.top.setYRange(0, max(peak, 1.0) * 1.1, padding=0)
        medians = weekly["median_to_scene_min"].to_numpy(dtype=float)
        high = np.nanmax(medians, initial=0.0) if medians.size else 0.0
        self.bottom.setYRange(0, max(float(high), target or 0.0, 1.0) * 1.25, padding=0)


class HeatmapChart(ChartView):
    """Eligible calls per local day of week (rows, Monday on top) and hour (columns).

    Attributes
    ----------
    image
        7 x 24 counts (row-major: ``image.image[day, hour]``).
    color_bar
        Scale of the counts.
    """

    key = "heatmap"

    def __init__(self, palette: ChartPalette, parent: QtCore.QObject | None = None) -> None:
        super().__init__(palette, parent)
        self.plot = self._plot()
        self.plot.invertY(True)
        self.plot.getAxis("left").setTicks([[(i + 0.5, day) for i, day in enumerate(DAY_NAMES)]])
        hours = [(h + 0.5, str(h)) for h in range(24)]
        # Every hour labelled would crowd a dock-sized chart: label every third, tick all.
        self.plot.getAxis("bottom").setTicks([hours[::3], hours])
        self.plot.setLabel("bottom", "hour of day", color=palette.axis)
        self.image = pg.ImageItem(np.zeros((7, 24)), axisOrder="row-major")
        self.plot.addItem(self.image)
        self.plot.setXRange(0, 24, padding=0)
        self.plot.setYRange(0, 7, padding=0)
        self.color_bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(
            palette.colormap), interactive=False, width=12)
        self.color_bar.setImageItem(self.image, insert_in=self.plot)
        bar_axis = self.color_bar.axis
        bar_axis.setPen(pg.mkPen(palette.axis))
        bar_axis.setTextPen(pg.mkPen(palette.axis))
        bar_axis.setStyle(tickFont=_font(8))
        bar_axis.setLabel("calls", color=palette.axis)

    def show_series(self, series: ChartSeries) -> None:
        """Draw ``series.heatmap``."""
        self._table = series.heatmap
        counts = series.heatmap_array()
        self.image.setImage(counts, autoLevels=False)
        self.image.setRect(QtCore.QRectF(0, 0, 24, 7))
        self.color_bar.setLevels((0.0, max(float(counts.max(initial=0.0)), 1.0)))


class HistogramChart(ChartView):
    """Histograms of minutes to scene per program, with the published means as lines.

    Attributes
    ----------
    curves
        Program -> stepped histogram (``xData`` bin edges, ``yData`` counts).
    target_lines
        Program -> vertical line at the program's published mean minutes to scene.
    """

    key = "histogram"

    def __init__(self, palette: ChartPalette, parent: QtCore.QObject | None = None) -> None:
        super().__init__(palette, parent)
        self.plot = self._plot()
        self.plot.setLabel("bottom", "minutes to scene (last bin: and later)",
                           color=palette.axis)
        self.plot.setLabel("left", "calls", color=palette.axis)
        self.plot.showGrid(y=True, alpha=palette.grid_alpha / 255)
        self.legend = self._legend(self.plot)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.target_lines: dict[str, pg.InfiniteLine] = {}

    def show_series(self, series: ChartSeries) -> None:
        """Draw ``series.histogram``."""
        bins = series.histogram
        self._table = bins
        self.plot.clear()
        self.legend.clear()
        self.curves, self.target_lines = {}, {}
        programs = list(dict.fromkeys(bins["program"]))
        for k, program in enumerate(programs):
            rows = bins[bins["program"] == program]
            edges = np.append(rows["bin_start_min"].to_numpy(dtype=float),
                              rows["bin_end_min"].to_numpy(dtype=float)[-1:])
            colour = self.palette_.program(program)
            curve = pg.PlotDataItem(edges, rows["calls"].to_numpy(dtype=float),
                                    stepMode="center", fillLevel=0,
                                    brush=pg.mkBrush(colour + "50"),
                                    pen=pg.mkPen(colour, width=1.5))
            self.plot.addItem(curve)
            self.legend.addItem(curve, program)
            self.curves[program] = curve
            target = series.targets.get(program, {}).get("to_scene")
            if target is not None:
                # Staggered label heights: CRT's and COR's published means are 0.5 min apart.
                line = pg.InfiniteLine(pos=target, angle=90, movable=False, pen=pg.mkPen(
                    colour, width=1.5, style=QtCore.Qt.PenStyle.DashLine),
                    label=f"{program} published {target:.1f}",
                    labelOpts={"position": 0.95 - 0.12 * k, "color": colour,
                               "anchors": [(0, 0.5), (0, 0.5)]})
                self.plot.addItem(line)
                self.target_lines[program] = line
        if not bins.empty:
            self.plot.setXRange(0, float(bins["bin_end_min"].max()), padding=0.01)
            self.plot.setYRange(0, max(float(bins["calls"].max()), 1.0) * 1.15, padding=0)
