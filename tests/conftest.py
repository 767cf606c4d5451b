"""Shared fixtures: isolated user dirs, and the real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before any QApplication exists (STACK.md: headless Qt).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Return where the real test data lives (``HEARTOPS_SHARED_DATA`` overrides)."""
    return Path(os.environ.get("HEARTOPS_SHARED_DATA") or REPO.parent / "shared" / "data")


def require_shared(relative: str) -> Path:
    """Return a file of the shared data; skip without it, except in CI where that fails."""
    path = shared_data_dir() / relative
    if not path.exists():
        reason = f"shared data file missing: {path}"
        if os.environ.get("HEARTOPS_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(reason + " (HEARTOPS_REQUIRE_SHARED_DATA=1)")
        pytest.skip(reason)
    return path


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every test its own cache and data dirs, so no test sees another's files."""
    monkeypatch.setenv("HEARTOPS_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.setenv("HEARTOPS_DATA_DIR", str(tmp_path / "user-data"))


@pytest.fixture(scope="session")
def demo_city_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Build the demo city once per test session; return its (cache, data) dirs."""
    from heartops.routing.demo_setup import build_demo

    root = tmp_path_factory.mktemp("demo-city")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEARTOPS_CACHE_DIR", str(root / "cache"))
        patch.setenv("HEARTOPS_DATA_DIR", str(root / "data"))
        build_demo()
    return root / "cache", root / "data"


@pytest.fixture
def demo_city(demo_city_dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this test's user dirs at the session's demo city (treat them as read-only)."""
    cache, data = demo_city_dirs
    monkeypatch.setenv("HEARTOPS_CACHE_DIR", str(cache))
    monkeypatch.setenv("HEARTOPS_DATA_DIR", str(data))
