"""Colours of the charts per theme.

pyqtgraph draws outside the reach of Qt style sheets, so the charts take their colours from
here, next to the QSS themes they sit in (``resources/themes/*.qss``). Dark first: the
chart background is the panels' background, text is the panels' soft off-white (never pure
white), and the program colours are light and saturated enough to read on it; the light
theme uses darker versions of the same hues, so a program keeps its colour across themes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from heartops.qt.theme import Theme

__all__ = ["CHART_PALETTES", "ChartPalette", "chart_palette"]


@dataclass(frozen=True, slots=True)
class ChartPalette:
    """Every colour of the charts for one theme (``#rrggbb`` or ``#rrggbbaa``).

    Attributes
    ----------
    background, axis, title, grid_alpha
        Plot background, axis lines and tick labels, titles, grid line opacity (0-255).
    programs
        Program -> colour; ``other`` for programs not listed.
    marker
        Median and 90th-percentile markers on the bars (contrasts with every program colour).
    target
        Published reference lines when not drawn in a program's colour.
    line
        The weekly median line.
    colormap
        pyqtgraph colour map name of the heatmap (perceptually uniform, readable as grey).
    message
        Text of an error message under the filters.
    """

    background: str
    axis: str
    title: str
    grid_alpha: int
    programs: Mapping[str, str]
    marker: str
    target: str
    line: str
    colormap: str
    message: str

    def program(self, name: str) -> str:
        """Return the colour of program ``name``."""
        return self.programs.get(name, self.programs["other"])


DARK_CHARTS = ChartPalette(
    background="#121922", axis="#aebccb", title="#c9d3de", grid_alpha=40,
    programs={"CCD": "#4fc3f7", "CRT": "#ffb74d", "COR": "#ce93d8", "CN": "#81c784",
              "other": "#90a4ae"},
    marker="#e6edf3", target="#ff8a80", line="#4fd3a0", colormap="viridis",
    message="#ff8a80")

LIGHT_CHARTS = ChartPalette(
    background="#ffffff", axis="#33414f", title="#1e2a36", grid_alpha=50,
    programs={"CCD": "#0277bd", "CRT": "#e65100", "COR": "#7b1fa2", "CN": "#2e7d32",
              "other": "#546e7a"},
    marker="#10181f", target="#c62828", line="#00796b", colormap="viridis",
    message="#b00020")

CHART_PALETTES: Mapping[Theme, ChartPalette] = {Theme.DARK: DARK_CHARTS,
                                                Theme.LIGHT: LIGHT_CHARTS}


def chart_palette(theme: Theme) -> ChartPalette:
    """Return the chart colours of ``theme``."""
    return CHART_PALETTES[theme]

