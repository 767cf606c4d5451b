"""UDP and TCP servers on 127.0.0.1 (OS-chosen ports), file reading, line framing, port errors."""

from __future__ import annotations

import errno
import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from heartops.core.avl import AvlFix, AvlValidator, RejectReason
from heartops.core.errors import FeedError, InputFileError
from heartops.core.geo import GeoPoint
from heartops.feeds.avl_jsonl import format_json_line
from heartops.feeds.avl_listen import (
    AvlFeed,
    FeedServer,
    LineSplitter,
    listen,
    read_file,
    serve_tcp,
    serve_udp,
)
from heartops.feeds.nmea import format_nmea_line, format_rmc

HOST = "127.0.0.1"
T0 = datetime(2024, 1, 24, 15, 0, 0, tzinfo=UTC)


class FakeClock:
    def now(self) -> datetime:
        return T0 + timedelta(hours=1)


def track(unit: str, n: int) -> list[AvlFix]:
    """``n`` fixes of one unit, 1 s and ~10 m apart, heading north through downtown Durham."""
    return [
        AvlFix(unit, GeoPoint(35.99 + i * 0.0001, -78.90), T0 + timedelta(seconds=i), 10.0,
               0.0, "")
        for i in range(n)
    ]


def as_line(fix: AvlFix, i: int) -> str:
    """Alternate the three line styles so every transport sees all of them."""
    if i % 3 == 0:
        return format_json_line(fix)
    return format_nmea_line(fix, tag_block=i % 3 == 2)


class Collector:
    """A thread-safe on_fix that can wait for a count."""

    def __init__(self) -> None:
        self.fixes: list[AvlFix] = []
        self._cond = threading.Condition()

    def __call__(self, fix: AvlFix) -> None:
        with self._cond:
            self.fixes.append(fix)
            self._cond.notify_all()

    def wait_for(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.fixes) >= n, timeout)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:  # closed with our bytes unread: RST instead of FIN
        return True


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def feed(collector: Collector) -> AvlFeed:
    return AvlFeed(collector, validator=AvlValidator(FakeClock(), max_age_s=None))


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def stop_and_join(event: threading.Event, *servers: FeedServer) -> float:
    started = time.monotonic()
    event.set()
    for server in servers:
        assert server.join(timeout=2.0)
    return time.monotonic() - started


# --- LineSplitter -----------------------------------------------------------------------------


def test_splitter_joins_pieces_and_splits_batches() -> None:
    s = LineSplitter(max_line_bytes=10)
    assert s.push(b"ab") == []
    assert s.push(b"c\nde") == [b"abc"]
    assert s.push(b"f\n\nxy\n") == [b"def", b"", b"xy"]
    assert s.push(b"tail") == []
    assert s.flush() == [b"tail"]
    assert s.flush() == []


def test_splitter_drops_over_long_lines_once_each() -> None:
    s = LineSplitter(max_line_bytes=4)
    assert s.push(b"1234") == []
    assert s.push(b"5") == [None]  # crossed the limit: reported now
    assert s.push(b"6789" * 100) == []  # still the same line: nothing held, nothing reported
    assert s.push(b"0\nok\n12345\n") == [b"ok", None]
    assert s.push(b"123456") == [None]
    assert s.flush() == []


# --- UDP --------------------------------------------------------------------------------------


def test_udp_round_trip(feed: AvlFeed, collector: Collector, stop: threading.Event) -> None:
    server = serve_udp(HOST, 0, feed, stop)
    assert server.address[0] == HOST and server.address[1] > 0
    fixes = track("HEART-1", 300)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for start in range(0, 300, 50):
            batch = fixes[start : start + 50]
            # One datagram per fix, except every fifth datagram carries two lines.
            i = 0
            while i < len(batch):
                n = 2 if i % 5 == 4 and i + 1 < len(batch) else 1
                payload = "\r\n".join(as_line(f, start + i + k) for k, f in
                                      enumerate(batch[i : i + n]))
                client.sendto(payload.encode(), server.address)
                i += n
            assert collector.wait_for(start + len(batch)), feed.stats()
        client.sendto(b"\xff\x00 binary garbage", server.address)
        client.sendto(b"x" * 60_000, server.address)
        client.sendto(format_nmea_line(fixes[-1]).encode(), server.address)  # duplicate
        assert wait_until(lambda: feed.stats().total_rejected == 3)
    assert stop_and_join(stop, server) < 1.0
    assert [f.time for f in collector.fixes] == [f.time for f in fixes]
    assert collector.fixes[0].source.startswith(f"udp {HOST}:")
    stats = feed.stats()
    assert stats.accepted == 300
    assert stats.rejected == {RejectReason.MALFORMED: 1, RejectReason.TOO_LONG: 1,
                              RejectReason.DUPLICATE: 1}


def test_udp_unit_from_sender_address(collector: Collector, stop: threading.Event) -> None:
    feed = AvlFeed(collector, validator=AvlValidator(FakeClock(), max_age_s=None),
                   unit_map={HOST: "HEART-9"})
    server = serve_udp(HOST, 0, feed, stop)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(format_rmc(track("x", 1)[0]).encode(), server.address)
        assert collector.wait_for(1)
    assert collector.fixes[0].unit_id == "HEART-9"


# --- TCP --------------------------------------------------------------------------------------


def _send_all_at_once(port: int, lines: list[str]) -> None:
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall("".join(line + "\r\n" for line in lines).encode())


def _send_in_pieces(port: int, lines: list[str]) -> None:
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for line in lines:
            data = (line + "\n").encode()
            cut1, cut2 = len(data) // 3, 2 * len(data) // 3
            for piece in (data[:cut1], data[cut1:cut2], data[cut2:]):
                sock.sendall(piece)
                time.sleep(0.0005)


def test_tcp_two_clients_whole_and_split_lines(
    feed: AvlFeed, collector: Collector, stop: threading.Event
) -> None:
    server = serve_tcp(HOST, 0, feed, stop)
    port = server.address[1]
    a = [as_line(f, i) for i, f in enumerate(track("HEART-A", 200))]
    b = [as_line(f, i) for i, f in enumerate(track("HEART-B", 150))]
    senders = [threading.Thread(target=_send_all_at_once, args=(port, a)),
               threading.Thread(target=_send_in_pieces, args=(port, b))]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=10)
    assert collector.wait_for(350), feed.stats()
    assert stop_and_join(stop, server) < 1.0
    by_unit = {u: [f.time for f in collector.fixes if f.unit_id == u]
               for u in ("HEART-A", "HEART-B")}
    assert by_unit["HEART-A"] == [f.time for f in track("HEART-A", 200)]
    assert by_unit["HEART-B"] == [f.time for f in track("HEART-B", 150)]
    assert feed.stats().accepted == 350 and feed.stats().total_rejected == 0


def test_tcp_line_limit_garbage_and_unterminated_last_line(
    collector: Collector, stop: threading.Event
) -> None:
    feed = AvlFeed(collector, validator=AvlValidator(FakeClock(), max_age_s=None),
                   max_line_bytes=512)
    server = serve_tcp(HOST, 0, feed, stop)
    fixes = track("HEART-1", 3)
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(format_json_line(fixes[0]).encode() + b"\n")
        sock.sendall(b"A" * 100_000)  # no newline: must not be buffered without bound
        sock.sendall(b"still the same long line\n")
        sock.sendall(b"\x00\xff\xfe\n{\"unit_id\": NaN}\n")
        sock.sendall(format_json_line(fixes[1]).encode() + b"\n")
        sock.sendall(format_nmea_line(fixes[2]).encode())  # last line, no newline
    assert collector.wait_for(3), feed.stats()
    assert stop_and_join(stop, server) < 1.0
    assert feed.stats().rejected == {RejectReason.TOO_LONG: 1, RejectReason.MALFORMED: 2}


def test_tcp_refuses_clients_beyond_the_limit(
    feed: AvlFeed, collector: Collector, stop: threading.Event
) -> None:
    server = serve_tcp(HOST, 0, feed, stop, max_clients=1)
    first = socket.create_connection(server.address, timeout=5)
    try:
        first.sendall(format_json_line(track("A", 1)[0]).encode() + b"\n")
        assert collector.wait_for(1)  # the first client is registered
        with socket.create_connection(server.address, timeout=5) as second:
            assert closed_by_peer(second)
        first.sendall(format_json_line(track("A", 2)[1]).encode() + b"\n")
        assert collector.wait_for(2)
    finally:
        first.close()


def test_servers_stop_within_a_second_with_idle_clients_connected(
    feed: AvlFeed, stop: threading.Event
) -> None:
    udp = serve_udp(HOST, 0, feed, stop)
    tcp = serve_tcp(HOST, 0, feed, stop)
    idle = socket.create_connection(tcp.address, timeout=5)
    try:
        idle.sendall(b"half a li")
        time.sleep(0.1)
        assert udp.running and tcp.running
        assert stop_and_join(stop, udp, tcp) < 1.0
        assert closed_by_peer(idle)  # the server closed the connection on the way out
    finally:
        idle.close()
    # The ports are free again.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(udp.address)


# --- Port errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("serve", [serve_udp, serve_tcp])
@pytest.mark.parametrize("port", [-1, 65_536, 100_000])
def test_port_out_of_range(serve: Callable[..., FeedServer], port: int, feed: AvlFeed,
                           stop: threading.Event) -> None:
    with pytest.raises(FeedError, match=rf"port {port} is out of range") as info:
        serve(HOST, port, feed, stop)
    assert "\n" not in str(info.value)


def test_tcp_port_in_use(feed: AvlFeed, stop: threading.Event) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(FeedError, match=rf"^TCP port {port} on {HOST} is already in use"):
            serve_tcp(HOST, port, feed, stop)


def test_udp_port_in_use(feed: AvlFeed, stop: threading.Event) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((HOST, 0))
        port = taken.getsockname()[1]
        with pytest.raises(FeedError, match=rf"^UDP port {port} on {HOST} is already in use"):
            serve_udp(HOST, port, feed, stop)


def test_privileged_port_permission_denied(
    feed: AvlFeed, stop: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests may run as root, where binding port 80 works: simulate what a normal user gets.
    def denied(self: socket.socket, address: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", denied)
    with pytest.raises(FeedError, match=r"TCP port 80 on 127\.0\.0\.1: permission denied"):
        serve_tcp(HOST, 80, feed, stop)


def test_address_not_on_this_computer(feed: AvlFeed, stop: threading.Event) -> None:
    # 192.0.2.0/24 is TEST-NET-1: never assigned to a real interface.
    with pytest.raises(FeedError, match=r"192\.0\.2\.1 is not an address of this computer"):
        serve_udp("192.0.2.1", 0, feed, stop)


def test_unknown_host(
    feed: AvlFeed, stop: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No DNS here: fake the resolver's answer.
    def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(FeedError, match=r"port 5000: unknown host 'avl\.example'"):
        serve_tcp("avl.example", 5000, feed, stop)


# --- listen() (what the CLI calls) ------------------------------------------------------------


def test_listen_udp_and_tcp_until_stopped(collector: Collector) -> None:
    stop = threading.Event()
    ready: list[FeedServer] = []
    result: list[object] = []

    def run() -> None:
        result.append(listen(udp_port=0, tcp_port=0, host=HOST, on_fix=collector,
                             stop_event=stop, on_ready=ready.extend,
                             validator=AvlValidator(FakeClock(), max_age_s=None)))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert wait_until(lambda: len(ready) == 2)
        udp, tcp = ready
        assert (udp.protocol, tcp.protocol) == ("udp", "tcp")
        fixes = track("HEART-1", 2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(format_json_line(fixes[0]).encode(), udp.address)
        assert collector.wait_for(1)
        _send_all_at_once(tcp.address[1], [format_nmea_line(fixes[1]), "garbage"])
        assert collector.wait_for(2)
    finally:
        started = time.monotonic()
        stop.set()
        thread.join(timeout=2)
    assert time.monotonic() - started < 1.0
    assert not any(s.running for s in ready)
    stats = result[0]
    assert str(stats).splitlines()[:2] == ["accepted: 2", "rejected: 1"]


def test_listen_needs_a_port_and_valid_arguments(collector: Collector) -> None:
    stop = threading.Event()
    with pytest.raises(FeedError, match="give a UDP port, a TCP port or both"):
        listen(udp_port=None, tcp_port=None, on_fix=collector, stop_event=stop)
    with pytest.raises(FeedError, match="TCP port 70000 is out of range"):
        listen(udp_port=None, tcp_port=70000, on_fix=collector, stop_event=stop)
    with pytest.raises(FeedError, match="unknown AVL format"):
        listen(udp_port=0, tcp_port=None, on_fix=collector, stop_event=stop,
               format="csv")  # type: ignore[arg-type]
    assert not stop.is_set()


def test_listen_releases_the_udp_port_when_the_tcp_port_fails(collector: Collector) -> None:
    stop = threading.Event()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(FeedError, match=f"TCP port {port} on {HOST} is already in use"):
            listen(udp_port=0, tcp_port=port, host=HOST, on_fix=collector, stop_event=stop)
    assert not stop.is_set()  # the caller's event is left alone
    assert wait_until(lambda: not any(t.name.startswith("avl-udp") and t.is_alive()
                                      for t in threading.enumerate()), timeout=1.0)


# --- Files ------------------------------------------------------------------------------------


def _write_log(path: Path) -> list[AvlFix]:
    fixes = track("HEART-1", 30)
    lines = [as_line(f, i) for i, f in enumerate(fixes)]
    lines[5:5] = ["", "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
                  "x" * 10_000, "not a fix"]
    data = ("\r\n".join(lines)).encode()  # CRLF, no newline at the end
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return fixes


@pytest.mark.parametrize("name", ["avl.log", "avl.log.gz"])
def test_read_file_mixed_formats(tmp_path: Path, name: str, feed: AvlFeed,
                                 collector: Collector) -> None:
    fixes = _write_log(tmp_path / name)
    stats = read_file(tmp_path / name, feed)
    assert [f.time for f in collector.fixes] == [f.time for f in fixes]
    assert collector.fixes[0].source == f"file {name}:1"
    assert collector.fixes[-1].source == f"file {name}:34"
    assert stats.accepted == 30
    assert stats.rejected == {RejectReason.UNSUPPORTED_SENTENCE: 1, RejectReason.TOO_LONG: 1,
                              RejectReason.MALFORMED: 1}


def test_read_file_errors(tmp_path: Path, feed: AvlFeed) -> None:
    with pytest.raises(InputFileError, match="AVL file not found"):
        read_file(tmp_path / "missing.log", feed)
    with pytest.raises(InputFileError, match="cannot read AVL file"):
        read_file(tmp_path, feed)
    (tmp_path / "bad.gz").write_bytes(b"this is not gzip")
    with pytest.raises(InputFileError, match=r"cannot read AVL file .*bad\.gz"):
        read_file(tmp_path / "bad.gz", feed)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(b"x" * 1000)[:20])
    with pytest.raises(InputFileError, match=r"cut\.gz"):
        read_file(tmp_path / "cut.gz", feed)
