"""`heartops demo` runs headless, builds the demo city on first use and saves a screenshot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6 import QtGui

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _distinct_colours(image: QtGui.QImage, step: int = 4) -> int:
    colours = {image.pixel(x, y) for x in range(0, image.width(), step)
               for y in range(0, image.height(), step)}
    return len(colours)


def test_demo_runs_offscreen_and_saves_a_screenshot(tmp_path: Path) -> None:
    shot = tmp_path / "shots" / "shot.png"
    # HEARTOPS_CACHE_DIR/HEARTOPS_DATA_DIR come from the autouse fixture; keep Qt's own
    # settings and caches in the test's dir too.
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    run = subprocess.run(
        [sys.executable, "-m", "heartops.cli", "demo", "--offscreen", "--duration", "3",
         "--screenshot", str(shot)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    assert shot.is_file(), run.stderr[-3000:]
    image = QtGui.QImage(str(shot))
    assert not image.isNull()
    assert 1200 <= image.width() <= 1400 and 700 <= image.height() <= 900
    assert _distinct_colours(image) > 20  # a map, not a blank window
    assert Path(env["HEARTOPS_CACHE_DIR"], "networks", "demo.npz").is_file()
