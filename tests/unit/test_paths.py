"""A desktop bundle seeds a new desk's directories with the ready-built demo city."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from heartops import paths


def test_a_bundled_desk_gets_the_seed_files_it_lacks_and_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "seed" / "cache" / "networks").mkdir(parents=True)
    (bundle / "seed" / "cache" / "networks" / "demo.npz").write_text("seed network")
    (bundle / "seed" / "cache" / "history.sqlite").write_text("seed history")
    desk = tmp_path / "desk-cache"
    desk.mkdir()
    (desk / "history.sqlite").write_text("the desk's own")
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setenv("HEARTOPS_CACHE_DIR", str(desk))

    assert paths.cache_dir() == desk
    assert (desk / "networks" / "demo.npz").read_text() == "seed network"
    assert (desk / "history.sqlite").read_text() == "the desk's own"  # never overwritten

    (desk / "networks" / "demo.npz").unlink()  # a desk that removed it keeps it removed
    paths.cache_dir()
    assert not (desk / "networks" / "demo.npz").exists()


def test_outside_a_bundle_nothing_is_seeded(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    monkeypatch.setenv("HEARTOPS_DATA_DIR", str(tmp_path / "data"))
    assert paths.bundle_dir() is None
    assert list(paths.data_dir().iterdir()) == []
