"""The composition root: loads data, builds the engine, the live session and the window.

The only module that knows every layer. Qt is imported inside :func:`run_demo`, after
``QT_QPA_PLATFORM`` is settled, so importing this module stays cheap.

``heartops demo`` opens the live dispatch board on the demo city: a
:class:`~heartops.live.LiveSession` (the simulated shift, already an hour in, so teams are out
on calls) is handed to the window, which advances it from a timer. Interactive runs start at
1× (real time); headless runs (``--offscreen``) run at :data:`HEADLESS_SPEED` so a few
seconds show a moving board, and save a screenshot.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heartops.live import LiveSession
    from heartops.qt.main_window import MainWindow

DEMO_CITY_NAME = "Demo city"
WINDOW_SIZE = (1280, 800)
HEADLESS_DEMO_SECONDS = 10.0
HEADLESS_SCREENSHOT = "heartops-demo.png"
INTERACTIVE_SPEED = 1.0
"""Simulated seconds per wall second when a person watches: real time."""
HEADLESS_SPEED = 60.0
"""Headless runs last seconds: at 60x a 3-second run is 3 simulated minutes."""
WARMUP_MINUTES = 60.0
"""The demo shift is run this far (simulated) before the window opens: teams are out."""


@dataclass(frozen=True)
class DemoData:
    """Everything the demo window shows, loaded from the user dirs."""

    network: Any
    engine: Any
    beats: Any
    districts: Any
    posts: list[Any]


class SessionCommands:
    """The command line of a live session (:class:`heartops.qt.panels.CommandPort`).

    The parser and completer are functions of :mod:`heartops.live` over the board; the Qt
    layer may not import that module, so the composition root joins them here.
    """

    def __init__(self, session: LiveSession) -> None:
        self._session = session

    def complete(self, prefix: str) -> list[str]:
        """Return whole-line completions of ``prefix``."""
        from heartops.live import complete

        return complete(prefix, self._session.board)

    def run(self, line: str) -> str:
        """Parse and run ``line``; raise :class:`HeartopsError` with the one-line reason."""
        from heartops.core.errors import HeartopsError
        from heartops.live import CommandError, parse_command

        command = parse_command(line, self._session.board)
        if isinstance(command, CommandError):
            raise HeartopsError(command.message)
        return self._session.execute(command)


def warm_up(session: LiveSession, minutes: float, *, step_s: float = 60.0) -> None:
    """Run ``session`` for ``minutes`` simulated minutes, in ``step_s`` simulated steps."""
    steps = int(minutes * 60 / step_s)
    for _ in range(steps):
        session.advance(step_s / session.speed)


def load_demo() -> DemoData:
    """Build the demo city if needed (about half a minute the first time), then load it."""
    from heartops.core.errors import ZoneError
    from heartops.core.progress import ConsoleProgress
    from heartops.routing.demo_setup import demo_layer, ensure_demo
    from heartops.routing.engine import TravelTimeEngine
    from heartops.routing.network import DEMO_NAME, load_network
    from heartops.routing.posts import load_posts
    from heartops.routing.zones import load_zone_layer

    ensure_demo(progress=ConsoleProgress())
    network = load_network(DEMO_NAME)
    try:
        districts = load_zone_layer(demo_layer(DEMO_NAME, "districts"))
    except ZoneError:
        districts = None  # optional: the map just draws no district outlines
    return DemoData(network=network, engine=TravelTimeEngine(network),
                    beats=load_zone_layer(demo_layer(DEMO_NAME, "beats")),
                    districts=districts, posts=load_posts(DEMO_NAME))


def run_demo(*, offscreen: bool = False, duration_s: float | None = None,
             screenshot: str | None = None, speed: float | None = None,
             warmup_minutes: float = WARMUP_MINUTES) -> int:
    """Run the live dispatch board on the built-in demo city.

    Parameters
    ----------
    offscreen
        Render without a display (``QT_QPA_PLATFORM=offscreen``); the window layout is then
        neither read from nor saved to the user's settings.
    duration_s
        Quit after this many seconds (for smoke tests and screenshots).
    screenshot
        Save a PNG of the window here just before quitting (needs ``duration_s``).
    speed
        Simulation speed; :data:`INTERACTIVE_SPEED` on a display, :data:`HEADLESS_SPEED`
        offscreen.
    warmup_minutes
        Simulated minutes the shift runs before the window opens.

    Returns
    -------
    int
        0, or 1 if any exception was raised while the app ran (also inside Qt slots).
    """
    if not offscreen and not _display_available():
        # A headless terminal (ssh, CI): show what the app does instead of failing on xcb.
        offscreen = True
        duration_s = HEADLESS_DEMO_SECONDS if duration_s is None else duration_s
        screenshot = screenshot or HEADLESS_SCREENSHOT
        print(f"no display found (DISPLAY is not set): running the demo offscreen for "
              f"{duration_s:g} s and saving a screenshot to {screenshot}", file=sys.stderr)
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    data = load_demo()
    session = _demo_session(speed if speed is not None
                            else HEADLESS_SPEED if offscreen else INTERACTIVE_SPEED,
                            warmup_minutes)

    from PySide6 import QtCore, QtWidgets

    from heartops.qt.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    settings = None if offscreen else QtCore.QSettings("heartops", "heartops")
    with _recording_exceptions() as errors:
        # The session's engine draws the map too: one network in memory, one set of ETAs.
        window = MainWindow(network=session.engine.network, engine=session.engine,
                            beats=data.beats, districts=data.districts, posts=data.posts,
                            city_name=DEMO_CITY_NAME, settings=settings, session=session,
                            commands=SessionCommands(session))
        if offscreen or screenshot:
            window.resize(*WINDOW_SIZE)  # screenshots are always the same size
        window.show()
        _open_on_the_queue(window)
        if duration_s is not None:
            QtCore.QTimer.singleShot(int(duration_s * 1000),
                                     lambda: _finish(app, window, screenshot))
        app.exec()
    session.close()
    return 1 if errors else 0


def _demo_session(speed: float, warmup_minutes: float) -> LiveSession:
    """Return the demo city's live session, already ``warmup_minutes`` into its shift."""
    from heartops.live import LiveSession

    session = LiveSession.demo(speed=speed)
    warm_up(session, warmup_minutes)
    return session


def _open_on_the_queue(window: MainWindow) -> None:
    """Select the head of the queue (its ranking and route show), if a call is waiting."""
    board = window.board
    if board is None:
        return
    rows = board.queue.model.rows
    if rows:
        board.select_call(rows[0].call_id)


def _display_available() -> bool:
    """Whether a window can be shown (always on Windows/macOS; on Linux, X11 or Wayland)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _finish(app: Any, window: MainWindow, screenshot: str | None) -> None:
    if screenshot:
        path = Path(screenshot)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(path)):
            raise OSError(f"could not write the screenshot {path}")
        print(f"screenshot saved to {path}", file=sys.stderr)
    window.close()
    app.quit()


@contextmanager
def _recording_exceptions() -> Iterator[list[BaseException]]:
    """Record exceptions that reach ``sys.excepthook`` (PySide reports slot errors there)."""
    errors: list[BaseException] = []
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException,
             traceback: TracebackType | None) -> None:
        errors.append(value)
        previous(kind, value, traceback)  # still print the traceback

    sys.excepthook = hook
    try:
        yield errors
    finally:
        sys.excepthook = previous
