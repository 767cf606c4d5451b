"""Progress reporting for long work, without tying the core to a UI.

Long operations take a ``progress`` callback; the CLI prints it, the Qt layer turns it into a
signal. ``fraction`` is ``None`` while the total is unknown.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of a long operation."""

    def __call__(self, step: str, fraction: float | None = None) -> None:
        """Report that ``step`` is under way, ``fraction`` (0..1) done if known."""


def no_progress(step: str, fraction: float | None = None) -> None:
    """Ignore progress reports (the default for library calls)."""
