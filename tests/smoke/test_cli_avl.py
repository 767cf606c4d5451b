"""`heartops avl listen` end to end: a real process receiving UDP datagrams on loopback."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heartops.cli import main
from heartops.core.avl import AvlFix
from heartops.core.geo import GeoPoint
from heartops.core.units import Unit
from heartops.feeds.avl_jsonl import format_json_line
from heartops.feeds.nmea import format_nmea_line
from heartops.store import open_store


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_avl_listen_prints_accepted_fixes_and_counts_rejected() -> None:
    port = _free_udp_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "heartops.cli", "avl", "listen", "--udp", str(port),
         "--duration", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    assert "listening on udp 127.0.0.1" in process.stderr.readline()
    point = GeoPoint(35.994, -78.899)
    now = time.time()
    lines = [
        f'{{"unit_id": "CRT-1", "lat": {point.lat}, "lon": {point.lon}, "time": {now - 2}}}',
        f'{{"unit_id": "CRT-1", "lat": {point.lat + 0.0001}, "lon": {point.lon}, '
        f'"time": {now - 1}}}',
        '{"unit_id": "CRT-2", "lat": 0, "lon": 0, "time": 1}',
        "\x00\xffgarbage",
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for line in lines:
            sender.sendto(line.encode("utf-8", "surrogateescape"), ("127.0.0.1", port))
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.count("CRT-1") == 2 and "CRT-2" not in out
    assert "accepted: 2" in err and "rejected: 2" in err


def test_avl_read_validates_a_recorded_file_and_stores_rostered_fixes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    recorded = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)  # old: replay accepts old fixes
    fixes = [AvlFix("CRT-1", GeoPoint(35.99 + i * 1e-4, -78.9), recorded + dt.timedelta(seconds=i),
                    5.0, 0.0, "test") for i in range(3)]
    path = tmp_path / "fixes.log"
    path.write_text("\n".join([*map(format_json_line, fixes),
                               format_nmea_line(fixes[0]).replace("*", "*0"), "junk"]) + "\n")
    db = tmp_path / "desk.db"
    with open_store(str(db)) as store:
        store.add_units([Unit("CRT-1", "CRT", team=("clinician", "peer_support", "emt"))],
                        at=recorded, desk="test", operator="test")
    assert main(["avl", "read", str(path), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "accepted: 3" in out and "rejected: 2" in out
    assert "stored 3 fixes" in out
    with open_store(str(db)) as store:
        assert [f.time for f in store.fixes("CRT-1")] == [f.time for f in fixes]
