"""Themes: the Qt style sheet of the window and the colours of the map, as one choice.

Dark is the default: dispatch rooms are dim, and a bright screen at night hurts the eyes of
the people reading it. Neither theme uses pure white text on dark (it glares).

The style sheets live in ``heartops/resources/themes/*.qss`` (shipped in the wheel through the
``resources/**`` package-data rule), so a designer can edit them without touching Python. The
map colours are here instead because the map is drawn by pyqtgraph, which style sheets do not
reach.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from heartops.routing.roads import RoadClass


class Theme(enum.StrEnum):
    """The themes a user can pick."""

    DARK = "dark"
    LIGHT = "light"


DEFAULT_THEME = Theme.DARK


@dataclass(frozen=True, slots=True)
class RoadStyle:
    """How one road class is drawn: colour and width in pixels (cosmetic)."""

    color: str
    width: float


@dataclass(frozen=True, slots=True)
class MapPalette:
    """Every colour of the map canvas for one theme.

    Colours are ``#rrggbb`` or ``#rrggbbaa`` strings, as pyqtgraph's ``mkColor`` reads them.

    Unit status colours are not here: they are agency data (``unit_statuses.csv``) and look
    the same in both themes, as dispatchers expect. The live-layer fields are the rest:
    ``marker_outline`` (thin outline of unit and call markers), ``stale_fill`` (inside of a
    unit with no recent position), ``heading``, ``selection`` (halo), ``route`` over
    ``route_casing``, the live labels, and ``priority_fill`` (call marker colour by priority
    ``P``/``1``/``2``/``3``; darker in the light theme so yellow stays visible on paper white)
    and ``priority_label`` (the text of call labels: in the light theme darker still, since
    thin text needs more contrast than a filled badge).
    """

    background: str
    roads: dict[RoadClass, RoadStyle]
    beat_outline: str
    district_outline: str
    beat_label: str
    post_fill: str
    post_outline: str
    post_label: str
    label_background: str
    isochrone_fill: dict[int, str]
    isochrone_outline: dict[int, str]
    origin: str
    legend_background: str
    legend_border: str
    legend_text: str
    scale_bar: str
    marker_outline: str
    stale_fill: str
    heading: str
    selection: str
    route: str
    route_casing: str
    live_label_text: str
    live_label_background: str
    priority_fill: dict[str, str]
    priority_label: dict[str, str]


DARK_MAP = MapPalette(
    background="#0b0f14",
    roads={
        RoadClass.FREEWAY: RoadStyle("#d9963f", 2.0),
        RoadClass.RAMP: RoadStyle("#a77a3e", 1.0),
        RoadClass.ARTERIAL: RoadStyle("#a9bccf", 1.0),
        RoadClass.COLLECTOR: RoadStyle("#7a8ea5", 1.0),
        RoadClass.LOCAL: RoadStyle("#4f6075", 1.0),
    },
    beat_outline="#3b7ea3c0",
    district_outline="#5fa8d8",
    beat_label="#7fb0cf",
    post_fill="#4fd3a0",
    post_outline="#0b0f14",
    post_label="#d2e6dd",
    label_background="#0b0f14a0",
    isochrone_fill={8: "#3fbf9a33", 12: "#e0b04a24"},
    isochrone_outline={8: "#3fbf9a", 12: "#e0b04a"},
    origin="#f2f5f8",
    legend_background="#10161ee0",
    legend_border="#2c3847",
    legend_text="#b8c5d3",
    scale_bar="#b8c5d3",
    marker_outline="#0b0f14",
    stale_fill="#0b0f14c0",
    heading="#e8eef4",
    selection="#ffffff",
    route="#00e5ff",
    route_casing="#0b0f14",
    live_label_text="#e3ebf3",
    live_label_background="#0b0f14c8",
    priority_fill={"P": "#e040fb", "1": "#ff5252", "2": "#ff9100", "3": "#ffd740"},
    priority_label={"P": "#e040fb", "1": "#ff6e6e", "2": "#ffa033", "3": "#ffd740"},
)

LIGHT_MAP = MapPalette(
    background="#f4f2ec",
    roads={
        RoadClass.FREEWAY: RoadStyle("#d0842a", 2.0),
        RoadClass.RAMP: RoadStyle("#d9a25e", 1.0),
        RoadClass.ARTERIAL: RoadStyle("#4f5d6b", 1.0),
        RoadClass.COLLECTOR: RoadStyle("#7f8c99", 1.0),
        RoadClass.LOCAL: RoadStyle("#bfc6cd", 1.0),
    },
    beat_outline="#6f94b8b0",
    district_outline="#25588a",
    beat_label="#2f5878",
    post_fill="#14885a",
    post_outline="#f4f2ec",
    post_label="#0f3d2a",
    label_background="#f4f2ecb0",
    isochrone_fill={8: "#1a9a7440", 12: "#d08a2a30"},
    isochrone_outline={8: "#1a9a74", 12: "#c27a1a"},
    origin="#1e2a36",
    legend_background="#ffffffe0",
    legend_border="#c9d1d9",
    legend_text="#1e2a36",
    scale_bar="#1e2a36",
    marker_outline="#1e2a36",
    stale_fill="#f4f2ecc0",
    heading="#1e2a36",
    selection="#0a0a0a",
    route="#0066ff",
    route_casing="#ffffff",
    live_label_text="#10181f",
    live_label_background="#ffffffd0",
    priority_fill={"P": "#aa00ff", "1": "#d50000", "2": "#ef6c00", "3": "#f9a825"},
    priority_label={"P": "#7b00b8", "1": "#b00000", "2": "#a04400", "3": "#6b5000"},
)

MAP_PALETTES: dict[Theme, MapPalette] = {Theme.DARK: DARK_MAP, Theme.LIGHT: LIGHT_MAP}


class _Styleable(Protocol):
    """Anything with a style sheet: a QApplication or a QWidget."""

    def setStyleSheet(self, sheet: str, /) -> None: ...  # noqa: N802


def stylesheet(theme: Theme) -> str:
    """Return the Qt style sheet of ``theme``.

    Parameters
    ----------
    theme
        The theme.

    Returns
    -------
    str
        The contents of ``heartops/resources/themes/<theme>.qss``.
    """
    sheet = resources.files("heartops") / "resources" / "themes" / f"{theme.value}.qss"
    return sheet.read_text(encoding="utf-8")


def map_palette(theme: Theme) -> MapPalette:
    """Return the map colours of ``theme``."""
    return MAP_PALETTES[theme]


def apply_stylesheet(target: _Styleable, theme: Theme) -> None:
    """Set the style sheet of ``theme`` on a widget (and its children) or the whole app.

    Parameters
    ----------
    target
        A ``QWidget`` (styles it and every child, including its menus and docks) or the
        ``QApplication`` (styles every window).
    theme
        The theme.
    """
    target.setStyleSheet(stylesheet(theme))
