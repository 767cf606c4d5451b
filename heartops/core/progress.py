"""Progress reporting for long work, without tying the core to a UI.

Long operations take a ``progress`` callback; the CLI prints it, the Qt layer turns it into a
signal. ``fraction`` is ``None`` while the total is unknown.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol


class Progress(Protocol):
    """Receives progress of a long operation."""

    def __call__(self, step: str, fraction: float | None = None) -> None:
        """Report that ``step`` is under way, ``fraction`` (0..1) done if known."""


def no_progress(step: str, fraction: float | None = None) -> None:
    """Ignore progress reports (the default for library calls)."""


class ConsoleProgress:
    """Prints each step of long work on stderr with the time elapsed (CLI, first app run)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, step: str, fraction: float | None = None) -> None:
        """Print one progress line."""
        done = f" {fraction:4.0%}" if fraction is not None else ""
        print(f"[{time.perf_counter() - self.started:6.1f}s]{done} {step}", file=sys.stderr,
              flush=True)
