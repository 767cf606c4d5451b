"""`heartops avl listen` end to end: a real process receiving UDP datagrams on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from heartops.core.geo import GeoPoint


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
