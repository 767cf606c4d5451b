"""Helpers of the window tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import threading
from typing import Any

import shiboken6
from PySide6 import QtWidgets

from heartops.qt.main_window import WORKER_THREAD_PREFIX

# The offscreen platform says these when a window is shown, a dock raised or a completion list
# pops up; they are about the platform plugin, not about heartops.
BENIGN_WARNINGS = ("This plugin does not support propagateSizeHints()",
                   "This plugin does not support raise()",
                   "This plugin does not support grabbing the keyboard")


def cpp_address(widget: QtWidgets.QWidget) -> int:
    """The C++ object's address (Python wrappers of one widget may differ)."""
    return int(shiboken6.getCppPointer(widget)[0])


def worker_threads() -> list[threading.Thread]:
    """heartops' worker threads still alive (every Qt-side worker uses the prefix)."""
    return [t for t in threading.enumerate() if t.name.startswith(WORKER_THREAD_PREFIX)]


def close_windows(windows: list[Any]) -> None:
    """Close and delete ``windows`` (newest first); none may leave a worker running."""
    while windows:
        window = windows.pop()
        if shiboken6.isValid(window):
            window.close()
            assert not worker_threads(), "a worker thread outlived its window"
            window.deleteLater()
        del window  # the Python wrappers too, so pyqtgraph's Python-owned objects go
