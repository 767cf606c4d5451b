"""What every window test checks when it ends: nothing leaked, nothing warned.

``clean_qt`` records the top-level widgets before a test; the factory fixtures close what they
built, then it flushes deferred deletes and fails on a top-level widget left behind, a worker
thread still running or a Qt warning. Factories request it first, so it checks after they
have closed their windows (pytest tears fixtures down in reverse order).

``demo_window`` builds a real 1280×800 board window over a seeded demo shift with the live timer
off; tests pass the ports they exercise as keyword arguments.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from gui_helpers import BENIGN_WARNINGS, close_windows, cpp_address, worker_threads
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import QtMsgType

from heartops.app import load_demo, warm_up
from heartops.live import LiveSession
from heartops.qt.main_window import MainWindow

DEMO_START = datetime(2025, 6, 3, 10, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.fixture
def clean_qt(qtlog: Any) -> Iterator[None]:
    """Fail the test on leaked top-level widgets, running workers or Qt warnings."""
    app = QtWidgets.QApplication.instance()
    assert isinstance(app, QtWidgets.QApplication)
    before = {cpp_address(w) for w in app.topLevelWidgets()}
    yield
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    gc.collect()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    assert not worker_threads(), "a worker thread is still running"
    leaked = [w for w in app.topLevelWidgets() if cpp_address(w) not in before]
    assert not leaked, f"top-level widgets left after close: {leaked}"
    problems = [r.message for r in qtlog.records
                if r.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg,
                              QtMsgType.QtFatalMsg)
                and r.message.strip() not in BENIGN_WARNINGS]
    assert not problems, f"Qt warnings: {problems}"


@pytest.fixture
def demo_window(clean_qt: None, qtbot: Any,
                demo_city: None) -> Iterator[Callable[..., MainWindow]]:
    """Build 1280×800 board windows over seeded demo shifts (calls wait: no auto-dispatch)."""
    windows: list[MainWindow] = []
    sessions: list[LiveSession] = []
    data = load_demo()

    def make(**overrides: Any) -> MainWindow:
        session = LiveSession.demo(seed=1, start=DEMO_START, speed=60.0,
                                   auto_dispatch_after=None)
        sessions.append(session)
        warm_up(session, 20)
        options: dict[str, Any] = {
            "network": session.engine.network, "engine": session.engine,
            "beats": data.beats, "districts": data.districts, "posts": data.posts,
            "city_name": "Demo city", "session": session, "commands": session,
            "reason_provider": lambda _request: "test", "start_live": False,
        }
        options.update(overrides)
        window = MainWindow(**options)
        window.resize(1280, 800)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    close_windows(windows)
    for session in sessions:
        session.close()
