"""Where heartops keeps its files on this machine.

Road-network caches are rebuildable, so they live in the user cache dir; zone layers and the
database are user data. ``HEARTOPS_CACHE_DIR`` and ``HEARTOPS_DATA_DIR`` override both (tests and
bundled desks use them).

A desktop bundle (``packaging/``) carries the demo city ready-built in ``seed/cache`` and
``seed/data``: the first time a bundled desk asks for a directory, the seed's files it lacks are
copied in (never over the desk's own), so a new desk opens on the demo city at once.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import platformdirs

APP_NAME = "heartops"
SEEDED_MARK = ".heartops-seeded"


def cache_dir() -> Path:
    """Return (and create) the directory for rebuildable caches."""
    path = Path(os.environ.get("HEARTOPS_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    _seed_from_bundle(path, "cache")
    return path


def data_dir() -> Path:
    """Return (and create) the directory for user data (zones, database)."""
    path = Path(os.environ.get("HEARTOPS_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    _seed_from_bundle(path, "data")
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


def bundle_dir() -> Path | None:
    """Return the desktop bundle's data directory when running from one, else ``None``."""
    base = getattr(sys, "_MEIPASS", None)
    return None if base is None else Path(base)


def _seed_from_bundle(path: Path, kind: str) -> None:
    """Copy the bundle's seed files that ``path`` lacks (once per directory)."""
    bundle = bundle_dir()
    seed = None if bundle is None else bundle / "seed" / kind
    if seed is None or not seed.is_dir() or (path / SEEDED_MARK).exists():
        return
    for source in seed.rglob("*"):
        target = path / source.relative_to(seed)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            shutil.copy2(source, target)
    (path / SEEDED_MARK).touch()

