"""How the board panels write and colour things: timers, ids, statuses, levels.

One place for the board's visual language, so a timer reads the same in the queue, the unit
board and the alerts list. Status colours, shapes and labels are agency data (the code
tables); the timer colours are the console convention of PRODUCT.md (warning amber, alert
red, emergency flashing red) and are the same in both themes: a dispatcher who moves from a
dark desk to a light one must not have to relearn them. Every coloured cell also carries text
(and a shape for statuses), so colour is never the only signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6 import QtGui, QtWidgets

from heartops.core.board import TimerLevel
from heartops.core.codes import UnitStatus


@dataclass(frozen=True, slots=True)
class CellStyle:
    """Colours (and weight) of one table cell; ``None`` leaves the view's default."""

    background: str | None = None
    foreground: str | None = None
    bold: bool = False


#: Timer levels, the same everywhere (amber, then red with light text).
LEVEL_STYLES: dict[TimerLevel, CellStyle] = {
    TimerLevel.NORMAL: CellStyle(),
    TimerLevel.WARNING: CellStyle("#f2b233", "#1a1200", bold=True),
    TimerLevel.ALERT: CellStyle("#c62828", "#fff3f3", bold=True),
}
#: The two phases of a flashing (emergency) cell: bright red, then a dark red that still reads.
FLASH_ON = CellStyle("#ff1744", "#fff3f3", bold=True)
FLASH_OFF = CellStyle("#5c0010", "#ffd0d6", bold=True)
#: Text of rows that matter less (units off shift).
DIM_TEXT = "#7d8a98"
#: Text of "acknowledged" marks and other quiet confirmations.
OK_TEXT = "#3a9f4a"  # reads on the dark and on the light theme
ERROR_TEXT = "#ff6b6b"

#: Table shape name -> a glyph drawn before the status label (shape + colour + text).
SHAPE_GLYPHS: dict[str, str] = {
    "circle": "●",
    "diamond": "◆",
    "triangle": "▲",
    "square": "■",
    "triangle_down": "▼",
    "hexagon": "⬢",
    "cross": "✕",
    "plus": "✚",
    "star": "★",
    "pentagon": "⬟",
}

#: Short names of team roles for the unit board (the full labels are in the tooltip).
ROLE_ABBREVIATIONS: dict[str, str] = {
    "clinician": "Clin",
    "peer_support": "Peer",
    "emt": "EMT",
    "police_officer": "CIT",
}


def level_style(level: TimerLevel) -> CellStyle:
    """Return the cell style of a timer at ``level``."""
    return LEVEL_STYLES[level]


def status_text(status: UnitStatus) -> str:
    """Return a status as the board writes it: its shape glyph, then its label."""
    glyph = SHAPE_GLYPHS.get(status.shape.strip().lower(), "●")
    label = status.label.upper() if status.emergency else status.label
    return f"{glyph} {label}"


def status_style(status: UnitStatus, *, flash_on: bool = True) -> CellStyle:
    """Return the cell style of a status: its table colour, text dark or light to contrast."""
    if status.flashing:
        return FLASH_ON if flash_on else FLASH_OFF
    return CellStyle(status.colour, contrast_text(status.colour), bold=status.emergency)


def contrast_text(background: str) -> str:
    """Return near-black or near-white, whichever reads better on ``background``."""
    colour = QtGui.QColor(background)
    # Relative luminance (sRGB weights); 0.55 keeps white text off amber and light green.
    luminance = (0.2126 * colour.redF() + 0.7152 * colour.greenF()
                 + 0.0722 * colour.blueF())
    return "#10151c" if luminance > 0.45 else "#f4f7fa"


def format_timer(seconds: float | None) -> str:
    """Return elapsed time as a board timer: ``0:42``, ``12:05``, ``1h05``, ``2d03``."""
    if seconds is None:
        return "—"
    total = max(int(seconds), 0)
    if total < 3600:
        return f"{total // 60}:{total % 60:02d}"
    if total < 86_400:
        return f"{total // 3600}h{total % 3600 // 60:02d}"
    return f"{total // 86_400}d{total % 86_400 // 3600:02d}"


def format_avl_age(seconds: float | None) -> str:
    """Return the age of a unit's last AVL fix (``3 s``, ``2 min``, ``—`` if it never reported)."""
    if seconds is None:
        return "—"
    total = max(int(seconds), 0)
    if total < 120:
        return f"{total} s"
    if total < 7200:
        return f"{total // 60} min"
    return f"{total // 3600} h"


_NUMBER = re.compile(r"(\d+)$")


def short_call_id(call_id: str | None) -> str:
    """Return the number dispatchers say for a call (``L1-20261129T1000-000013`` -> ``13``).

    The command line accepts the same number (``assign CRT-2 13``); ids without a trailing
    number are returned whole.
    """
    if not call_id:
        return ""
    match = _NUMBER.search(call_id)
    return call_id if match is None else str(int(match.group(1)))


def alert_text(text: str, call_id: str | None) -> str:
    """Return an alert's text with its call id as dispatchers say it (``#13``)."""
    if not call_id or call_id not in text:
        return text
    return text.replace(call_id, f"#{short_call_id(call_id)}")


def team_text(roles: tuple[str, ...]) -> str:
    """Return a team's roles in a few letters (``Clin+Peer+EMT``)."""
    return "+".join(ROLE_ABBREVIATIONS.get(role, role) for role in roles) or "—"


# -- the board's widgets in each theme ---------------------------------------------------------
#
# The theme files style the window's surfaces; the board adds tool bar, headers, inputs,
# buttons and tabs, which would otherwise keep Qt's light defaults inside the dark theme.
# Same palette as the theme files (heartops/resources/themes/*.qss).

_BOARD_QSS = """
QToolBar#shiftToolbar {{ background-color: {bar}; border: none;
    border-bottom: 1px solid {line}; spacing: 4px; padding: 2px 6px; }}
QToolBar#shiftToolbar QLabel {{ color: {text}; }}
QToolBar#shiftToolbar::separator {{ background-color: {line}; width: 1px; margin: 4px 8px; }}
QToolBar#shiftToolbar QToolButton {{ color: {text}; padding: 3px 10px; border-radius: 3px;
    border: 1px solid {line}; background-color: {input}; }}
QToolBar#shiftToolbar QToolButton:hover {{ background-color: {hover}; }}
QToolBar#shiftToolbar QToolButton:checked {{ background-color: {accent}; color: {strong}; }}
QLabel#simClock {{ color: {strong}; font-family: monospace; font-size: 15px;
    font-weight: bold; padding: 0 12px 0 4px; }}
QHeaderView::section {{ background-color: {header}; color: {muted}; border: none;
    border-right: 1px solid {line}; border-bottom: 1px solid {line}; padding: 2px 4px;
    font-weight: bold; }}
QTableCornerButton::section {{ background-color: {header}; border: none; }}
QLineEdit {{ background-color: {input}; color: {strong}; border: 1px solid {line};
    border-radius: 3px; padding: 3px 6px; }}
QLineEdit:focus {{ border: 1px solid {focus}; }}
QLineEdit:disabled {{ color: {muted}; }}
QComboBox {{ background-color: {input}; color: {strong}; border: 1px solid {line};
    border-radius: 3px; padding: 2px 8px; }}
QComboBox QAbstractItemView {{ background-color: {input}; color: {strong};
    selection-background-color: {accent}; }}
QPushButton {{ background-color: {button}; color: {strong}; border: 1px solid {line};
    border-radius: 3px; padding: 4px 12px; }}
QPushButton:hover {{ background-color: {hover}; }}
QPushButton:checked {{ background-color: {accent}; }}
QPushButton:disabled {{ color: {muted}; }}
QPushButton#assignButton:enabled {{ background-color: #2e7d32; border: 1px solid #43a047;
    color: #f4f7fa; font-weight: bold; }}
QPushButton#assignButton:enabled:hover {{ background-color: #388e3c; }}
QTabBar::tab {{ background-color: {bar}; color: {muted}; padding: 4px 12px;
    border: 1px solid {line}; }}
QTabBar::tab:selected {{ background-color: {hover}; color: {strong}; font-weight: bold; }}
QCheckBox {{ color: {text}; spacing: 6px; }}
QCheckBox::indicator {{ width: 12px; height: 12px; border: 1px solid {muted};
    border-radius: 2px; background-color: {input}; }}
QCheckBox::indicator:checked {{ background-color: {focus}; border: 1px solid {focus}; }}
QLabel#statusKeys, QLabel#queueCount {{ color: {muted}; }}
QTableWidget#timeline {{ font-size: 12px; }}
"""

_BOARD_COLOURS = {
    "dark": dict(bar="#141b24", line="#2c3847", text="#c9d3de", strong="#e6edf3",
                 muted="#8d9cad", input="#0f151c", hover="#1f2b38", accent="#1f4a6e",
                 header="#18212c", button="#1b2430", focus="#3d7ab8"),
    "light": dict(bar="#f7f8fa", line="#c9d1d9", text="#1e2a36", strong="#0f1a24",
                  muted="#55657a", input="#ffffff", hover="#e1e7ed", accent="#cfe2f3",
                  header="#e9edf1", button="#f2f4f7", focus="#3d7ab8"),
}


def board_stylesheet(theme: str) -> str:
    """Return the style rules of the board's widgets for ``theme`` (``"dark"``/``"light"``)."""
    return _BOARD_QSS.format(**_BOARD_COLOURS[theme])


def set_style_sheet(widget: QtWidgets.QWidget, sheet: str) -> None:
    """Set ``widget``'s style sheet unless it already has it (every set re-polishes it)."""
    if widget.styleSheet() != sheet:
        widget.setStyleSheet(sheet)

