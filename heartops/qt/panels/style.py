"""How the board panels write and colour things: timers, ids, statuses, levels.

One place for the board's visual language, so a timer reads the same in the queue, the unit
board and the alerts list. Status colours, shapes and labels are agency data (the code
tables); the timer colours are the console convention of PRODUCT.md (warning amber, alert
red, emergency flashing red) and are the same in both themes: a dispatcher who moves from a
dark desk to a light one must not have to relearn them. Every coloured cell also carries text
(and a shape for statuses), so colour is never the only signal.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from PySide6 import QtGui, QtWidgets

from heartops.core.board import TimerLevel
from heartops.core.codes import CodeTables, UnitStatus
from heartops.core.eligibility import LedgerEntry, LedgerOutcome


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


@functools.lru_cache(maxsize=256)  # a handful of colours, asked for every cell on every tick
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


@functools.lru_cache(maxsize=4096)  # every call's id, rendered on every tick
def short_call_id(call_id: str | None) -> str:
    """Return the number dispatchers say for a call (``L1-20261129T1000-000013`` -> ``13``).

    The command line accepts the same number (``assign CRT-2 13``); ids without a trailing
    number are returned whole.
    """
    if not call_id:
        return ""
    match = _NUMBER.search(call_id)
    return call_id if match is None else str(int(match.group(1)))


_CALL_MENTION = re.compile(r"\bcall ([A-Za-z0-9]+(?:-[A-Za-z0-9]+)+)")


def short_call_mentions(text: str) -> str:
    """Return ``text`` with every ``call <id>`` shortened as dispatchers say it (``call #13``)."""
    return _CALL_MENTION.sub(lambda m: f"call #{short_call_id(m.group(1))}", text)


def alert_text(text: str, call_id: str | None) -> str:
    """Return an alert's text with its call id as dispatchers say it (``#13``)."""
    if not call_id or call_id not in text:
        return text
    return text.replace(call_id, f"#{short_call_id(call_id)}")


def team_text(roles: tuple[str, ...]) -> str:
    """Return a team's roles in a few letters (``Clin+Peer+EMT``)."""
    return "+".join(ROLE_ABBREVIATIONS.get(role, role) for role in roles) or "—"


def set_style_sheet(widget: QtWidgets.QWidget, sheet: str) -> None:
    """Set ``widget``'s style sheet unless it already has it (every set re-polishes it)."""
    if widget.styleSheet() != sheet:
        widget.setStyleSheet(sheet)


_UNMET_TEXT = {
    LedgerOutcome.OUTSIDE_SERVICE_AREA: "outside area",
    LedgerOutcome.OUTSIDE_HOURS: "closed now",
    LedgerOutcome.NO_TEAM_AVAILABLE: "no team now",
}


def unmet_text(entry: LedgerEntry, tables: CodeTables) -> str:
    """Return why no program can take a HEART call now, in a few words (the queue's cell)."""
    if entry.outcome is LedgerOutcome.EXCLUDED and entry.reason is not None:
        return f"excluded: {tables.reason_label(entry.reason).lower()}"
    return _UNMET_TEXT.get(entry.outcome, entry.outcome.value.replace("_", " ").lower())

