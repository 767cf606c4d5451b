"""Where heartops keeps its files on this machine.

Road-network caches are rebuildable, so they live in the user cache dir; zone layers and the
database are user data. ``HEARTOPS_CACHE_DIR`` and ``HEARTOPS_DATA_DIR`` override both (tests and
bundled desks use them).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "heartops"


def cache_dir() -> Path:
    """Return (and create) the directory for rebuildable caches."""
    path = Path(os.environ.get("HEARTOPS_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Return (and create) the directory for user data (zones, database)."""
    path = Path(os.environ.get("HEARTOPS_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def networks_dir() -> Path:
    """Return (and create) the directory of compiled road-network caches."""
    path = cache_dir() / "networks"
    path.mkdir(parents=True, exist_ok=True)
    return path


def zones_dir() -> Path:
    """Return (and create) the directory of imported zone layers."""
    path = data_dir() / "zones"
    path.mkdir(parents=True, exist_ok=True)
    return path
