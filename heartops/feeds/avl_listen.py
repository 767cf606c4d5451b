r"""Receive AVL over UDP, TCP or from files, and pass validated fixes to a callback.

:class:`AvlFeed` is the transport-free part: it takes raw lines (bytes or text), detects NMEA or
JSON per line, parses, validates with :class:`~heartops.core.avl.AvlValidator`, counts and logs
rejections, and calls ``on_fix`` with each accepted fix. The servers only move bytes into it.

Threads, not asyncio: the servers are plain sockets polled by one background thread each (UDP;
TCP with a selector for every client), which is all a few dozen vehicles need, keeps the code
free of an event loop the Qt side would have to host, and lets each server stop within one poll
interval (0.2 s) of its stop event.

Framing:

- UDP: one datagram holds one or more lines (separated by ``\n``); nothing spans datagrams.
- TCP: a byte stream of ``\n``-terminated lines; a line may arrive in pieces, several may arrive
  at once; a final unterminated line is used when the client disconnects. Lines longer than
  ``max_line_bytes`` are counted as ``TOO_LONG`` and skipped up to the next newline, so a client
  cannot make the server buffer without bound.
- Files: the same line rules (``.gz`` files are decompressed).

Logging: every rejection is logged at DEBUG; at WARNING, a summary of rejections by reason is
logged at most once per ``log_interval_s`` (a flood of garbage costs one line per interval).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import logging
import math
import os
import selectors
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from heartops.core.avl import AvlFix, AvlValidator, FeedStats, RejectReason
from heartops.core.clock import SystemClock
from heartops.core.errors import FeedError, InputFileError
from heartops.feeds.avl_jsonl import parse_json_line
from heartops.feeds.nmea import parse_nmea_line

__all__ = [
    "AvlFeed",
    "FeedFormat",
    "FeedServer",
    "FeedStats",
    "LineSplitter",
    "listen",
    "read_file",
    "serve_tcp",
    "serve_udp",
]

log = logging.getLogger(__name__)

FeedFormat = Literal["auto", "nmea", "jsonl"]
_FORMATS: tuple[str, ...] = ("auto", "nmea", "jsonl")

#: How often server threads look at their stop event, in seconds.
POLL_S = 0.2
#: Default longest line, in bytes (a JSON fix is about 150, an NMEA line under 120).
MAX_LINE_BYTES = 4096
#: Largest UDP payload over IPv4.
_MAX_DATAGRAM = 65_535
# Rejections that are expected in normal streams (a receiver sending GGA/GSV too): debug only.
_QUIET = frozenset({RejectReason.UNSUPPORTED_SENTENCE})

OnFix = Callable[[AvlFix], None]
Peer = tuple[str, int]


class _Throttle:
    """Says yes at most once per interval: rate-limits log lines."""

    def __init__(self, interval_s: float, monotonic: Callable[[], float]) -> None:
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._last = -math.inf

    def ready(self) -> bool:
        now = self._monotonic()
        if now - self._last < self._interval_s:
            return False
        self._last = now
        return True


def _preview(line: str | bytes, limit: int = 80) -> str:
    """Return a short, escaped rendering of a line for logs (binary stays readable and one line)."""
    shown = repr(line[:limit])
    return shown + ("..." if len(line) > limit else "")


class AvlFeed:
    """Turns raw lines into validated fixes and hands each accepted one to ``on_fix``.

    Thread-safe: servers call it from their threads. Validation and ``on_fix`` run under one lock,
    so fixes are delivered one at a time, in the order they were validated; ``on_fix`` should be
    quick (queue the fix or emit a signal) and must not call back into the feed.

    Parameters
    ----------
    on_fix
        Called with each accepted fix. Its exceptions are logged (rate-limited), not raised.
    validator
        The rules; default :class:`AvlValidator` on the system clock with its default limits.
    format
        ``"nmea"`` or ``"jsonl"`` to force a format; ``"auto"`` takes lines starting with ``{``
        as JSON and everything else as NMEA.
    unit_map
        Unit id for bare NMEA sentences, keyed by the sender's ``"host:port"`` or ``"host"``
        (``"host:port"`` wins). Lines naming their unit ignore it.
    max_line_bytes
        Longer lines are rejected as ``TOO_LONG``.
    log_interval_s
        At most one WARNING summary of rejections per this many seconds.
    monotonic
        Time source for the log throttles (tests pass a fake).

    Raises
    ------
    FeedError
        If ``format`` is unknown.
    """

    def __init__(
        self,
        on_fix: OnFix,
        *,
        validator: AvlValidator | None = None,
        format: FeedFormat = "auto",
        unit_map: Mapping[str, str] | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        log_interval_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if format not in _FORMATS:
            raise FeedError(f"unknown AVL format {format!r}: use one of {', '.join(_FORMATS)}")
        self.validator = validator if validator is not None else AvlValidator(SystemClock())
        self.format: FeedFormat = format
        self.unit_map: Mapping[str, str] = dict(unit_map or {})
        self.max_line_bytes = max_line_bytes
        self._on_fix = on_fix
        self._lock = threading.RLock()
        self._pending: Counter[RejectReason] = Counter()
        self._latest = ""
        self._reject_throttle = _Throttle(log_interval_s, monotonic)
        self._error_throttle = _Throttle(log_interval_s, monotonic)
        self.callback_errors = 0

    def feed_line(
        self, line: str | bytes, *, source: str = "", peer: Peer | None = None
    ) -> AvlFix | RejectReason | None:
        """Parse, validate and deliver one line.

        Parameters
        ----------
        line
            One line, with or without its line ending.
        source
            Where it came from (kept in the fix and in logs).
        peer
            The sender's address, for :attr:`unit_map`.

        Returns
        -------
        AvlFix, RejectReason or None
            The accepted fix, why it was rejected, or ``None`` for a blank line (not counted).
        """
        try:
            result = self._parse(line, source=source, peer=peer)
        except Exception:
            # The parsers are fuzz-tested never to raise; if one ever does, keep the feed alive.
            log.exception("AVL parser failed on %s from %s", _preview(line), source or "?")
            result = RejectReason.MALFORMED
        if result is None:
            return None
        with self._lock:
            if isinstance(result, RejectReason):
                self.validator.note_rejected(result)
                self._log_rejection(result, source, line)
                return result
            reason = self.validator.check(result)
            if reason is not None:
                self._log_rejection(reason, source, line)
                return reason
            self._deliver(result)
            return result

    def feed_data(self, data: bytes, *, source: str = "", peer: Peer | None = None) -> None:
        r"""Feed a datagram: one or more ``\n``-separated lines."""
        for line in data.split(b"\n"):
            self.feed_line(line, source=source, peer=peer)

    def reject(self, reason: RejectReason, *, source: str = "", line: str | bytes = b"") -> None:
        """Count and log a rejection found by a transport (e.g. a line that was too long)."""
        with self._lock:
            self.validator.note_rejected(reason)
            self._log_rejection(reason, source, line)

    def stats(self) -> FeedStats:
        """Return accepted and rejected counts so far."""
        with self._lock:
            return self.validator.stats()

    def flush_log(self) -> None:
        """Log the rejections not yet summarised (call when the feed stops)."""
        with self._lock:
            self._warn_pending()

    def _parse(
        self, line: str | bytes, *, source: str, peer: Peer | None
    ) -> AvlFix | RejectReason | None:
        if len(line) > self.max_line_bytes:
            return RejectReason.TOO_LONG
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                return RejectReason.MALFORMED
        text = line.strip()
        if not text:
            return None
        if self.format == "jsonl" or (self.format == "auto" and text.lstrip("\ufeff")[:1] == "{"):
            return parse_json_line(text, source=source)
        return parse_nmea_line(text, unit_id=self._unit_for(peer), source=source)

    def _unit_for(self, peer: Peer | None) -> str | None:
        if peer is None or not self.unit_map:
            return None
        host, port = peer[0], peer[1]
        return self.unit_map.get(f"{host}:{port}") or self.unit_map.get(host)

    def _deliver(self, fix: AvlFix) -> None:
        try:
            self._on_fix(fix)
        except Exception:
            self.callback_errors += 1
            if self._error_throttle.ready():
                log.exception(
                    "AVL fix handler failed (%d failure(s) so far); the feed goes on",
                    self.callback_errors,
                )

    def _log_rejection(self, reason: RejectReason, source: str, line: str | bytes) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rejected AVL line (%s) from %s: %s", reason.value, source or "?",
                      _preview(line))
        if reason in _QUIET:
            return
        self._pending[reason] += 1
        self._latest = f"{reason.value} from {source or '?'}: {_preview(line)}"
        if self._reject_throttle.ready():
            self._warn_pending()

    def _warn_pending(self) -> None:
        if not self._pending:
            return
        total = sum(self._pending.values())
        by_reason = ", ".join(f"{r.value} {n}" for r, n in self._pending.most_common())
        log.warning("AVL feed rejected %d line(s) since the last report (%s); latest: %s",
                    total, by_reason, self._latest)
        self._pending.clear()


class LineSplitter:
    r"""Cuts a byte stream into ``\n``-terminated lines, never holding more than one line.

    :meth:`push` returns complete lines (without the ``\n``) and ``None`` for each line longer
    than ``max_line_bytes``, whose bytes are dropped up to its newline.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._discarding = False

    def push(self, data: bytes) -> list[bytes | None]:
        """Add received bytes; return the lines they complete."""
        lines: list[bytes | None] = []
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            lines += self._end_line(data[start:newline])
            start = newline + 1
        rest = data[start:]
        if self._discarding or not rest:
            return lines
        if len(self._buffer) + len(rest) > self.max_line_bytes:
            lines.append(None)
            self._buffer.clear()
            self._discarding = True
        else:
            self._buffer += rest
        return lines

    def flush(self) -> list[bytes | None]:
        """End of stream: return the unterminated last line, if any."""
        lines: list[bytes | None] = []
        if self._buffer and not self._discarding:
            lines.append(bytes(self._buffer))
        self._buffer.clear()
        self._discarding = False
        return lines

    def _end_line(self, piece: bytes) -> list[bytes | None]:
        if self._discarding:
            # The over-long line was already reported when it crossed the limit.
            self._discarding = False
            return []
        if len(self._buffer) + len(piece) > self.max_line_bytes:
            self._buffer.clear()
            return [None]
        line = bytes(self._buffer) + piece
        self._buffer.clear()
        return [line]


@dataclass
class FeedServer:
    """A UDP or TCP listener running in a background thread until its stop event is set.

    Attributes
    ----------
    protocol
        ``"udp"`` or ``"tcp"``.
    address
        The bound ``(host, port)``; the real port when 0 was asked for.
    """

    protocol: str
    address: tuple[str, int]
    _thread: threading.Thread = field(repr=False)

    @property
    def running(self) -> bool:
        """Whether the server thread is still alive."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (after the stop event is set); return whether it ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __str__(self) -> str:
        return f"{self.protocol} {self.address[0]}:{self.address[1]}"


def serve_udp(
    host: str, port: int, feed: AvlFeed, stop_event: threading.Event
) -> FeedServer:
    """Bind a UDP port now and serve it in a background thread until ``stop_event`` is set.

    Raises
    ------
    FeedError
        One line naming the port: out of range, in use, not permitted, or unknown host.
    """
    sock = _bind("UDP", host, port)
    with contextlib.suppress(OSError):
        # Bursts from many units arrive while the thread is busy; a bigger buffer drops fewer.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return _start("udp", sock, lambda: _udp_loop(sock, feed, stop_event))


def serve_tcp(
    host: str,
    port: int,
    feed: AvlFeed,
    stop_event: threading.Event,
    *,
    max_clients: int = 64,
) -> FeedServer:
    """Bind a TCP port now and serve clients in a background thread until ``stop_event`` is set.

    Parameters
    ----------
    max_clients
        Connections beyond this many are closed at once (bounds memory and descriptors).

    Raises
    ------
    FeedError
        One line naming the port: out of range, in use, not permitted, or unknown host.
    """
    sock = _bind("TCP", host, port)
    loop = _TcpLoop(sock, feed, stop_event, max_clients=max_clients)
    return _start("tcp", sock, loop.run)


def _start(protocol: str, sock: socket.socket, target: Callable[[], None]) -> FeedServer:
    address = sock.getsockname()
    bound = (str(address[0]), int(address[1]))
    thread = threading.Thread(target=target, name=f"avl-{protocol}-{bound[1]}", daemon=True)
    thread.start()
    log.info("listening for AVL on %s %s:%d", protocol, *bound)
    return FeedServer(protocol=protocol, address=bound, _thread=thread)


def _check_port(kind: str, port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise FeedError(f"{kind} port {port!r} is out of range: use 1-65535 (0 picks a free port)")
    return port


def _bind(kind: str, host: str, port: int) -> socket.socket:
    """Open, bind (and for TCP, listen on) a socket; turn every failure into one FeedError line."""
    port = _check_port(kind, port)
    sock_type = socket.SOCK_STREAM if kind == "TCP" else socket.SOCK_DGRAM
    try:
        infos = socket.getaddrinfo(host, port, type=sock_type, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise FeedError(f"cannot listen for {kind} on port {port}: unknown host {host!r} ({exc})"
                        ) from exc
    family, _, proto, _, address = infos[0]
    sock = socket.socket(family, sock_type, proto)
    try:
        if kind == "TCP" and os.name == "posix":
            # Lets a restarted listener reuse the port while old connections sit in TIME_WAIT.
            # (On Windows the same option would let two programs share the port.)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        if kind == "TCP":
            sock.listen(64)
    except OSError as exc:
        sock.close()
        raise FeedError(_bind_message(kind, host, port, exc)) from exc
    return sock


_IN_USE = {errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)}
_DENIED = {errno.EACCES, errno.EPERM, getattr(errno, "WSAEACCES", errno.EACCES)}
_NOT_HERE = {errno.EADDRNOTAVAIL, getattr(errno, "WSAEADDRNOTAVAIL", errno.EADDRNOTAVAIL)}


def _bind_message(kind: str, host: str, port: int, exc: OSError) -> str:
    where = f"{kind} port {port} on {host}"
    if exc.errno in _IN_USE:
        return f"{where} is already in use; stop the other program or choose another port"
    if exc.errno in _DENIED or isinstance(exc, PermissionError):
        return (f"{where}: permission denied (ports below 1024 usually need administrator "
                "rights); choose a port from 1024 to 65535")
    if exc.errno in _NOT_HERE:
        return f"cannot listen on {where}: {host} is not an address of this computer"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def _udp_loop(sock: socket.socket, feed: AvlFeed, stop_event: threading.Event) -> None:
    """Receive datagrams until the stop event is set; never let one end the thread."""
    errors = _Throttle(10.0, time.monotonic)
    sock.settimeout(POLL_S)
    with sock:
        while not stop_event.is_set():
            try:
                data, peer = sock.recvfrom(_MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError as exc:
                if errors.ready():
                    log.warning("AVL UDP receive failed: %s", exc)
                stop_event.wait(POLL_S)  # do not spin on a persistent error
                continue
            try:
                feed.feed_data(data, source=f"udp {peer[0]}:{peer[1]}", peer=peer)
            except Exception:
                if errors.ready():
                    log.exception("AVL UDP datagram handling failed; the feed goes on")


@dataclass
class _Client:
    sock: socket.socket
    peer: Peer
    splitter: LineSplitter

    @property
    def source(self) -> str:
        return f"tcp {self.peer[0]}:{self.peer[1]}"


class _TcpLoop:
    """One thread, one selector: accepts clients and reads their lines until stopped."""

    def __init__(
        self,
        listener: socket.socket,
        feed: AvlFeed,
        stop_event: threading.Event,
        *,
        max_clients: int,
    ) -> None:
        self._listener = listener
        self._feed = feed
        self._stop = stop_event
        self._max_clients = max_clients
        self._selector = selectors.DefaultSelector()
        self._clients: dict[socket.socket, _Client] = {}
        self._errors = _Throttle(10.0, time.monotonic)

    def run(self) -> None:
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                try:
                    self._poll_once()
                except Exception:
                    if self._errors.ready():
                        log.exception("AVL TCP server error; the feed goes on")
                    self._stop.wait(POLL_S)
        finally:
            for client in list(self._clients.values()):
                self._close(client)
            self._selector.close()
            self._listener.close()

    def _poll_once(self) -> None:
        for key, _ in self._selector.select(POLL_S):
            if key.fileobj is self._listener:
                self._accept()
            else:
                self._read(key.data)

    def _accept(self) -> None:
        try:
            sock, address = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # e.g. out of file descriptors: wait rather than spin
            if self._errors.ready():
                log.warning("AVL TCP accept failed: %s", exc)
            self._stop.wait(POLL_S)
            return
        peer = (str(address[0]), int(address[1]))
        if len(self._clients) >= self._max_clients:
            if self._errors.ready():
                log.warning("AVL TCP: refusing %s:%d, already %d clients",
                            *peer, len(self._clients))
            sock.close()
            return
        sock.setblocking(False)
        client = _Client(sock, peer, LineSplitter(self._feed.max_line_bytes))
        self._clients[sock] = client
        self._selector.register(sock, selectors.EVENT_READ, client)
        log.debug("AVL TCP client connected: %s", client.source)

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(65_536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # reset by peer: same as a close
        if not data:
            self._handle(client, client.splitter.flush())
            self._close(client)
            log.debug("AVL TCP client disconnected: %s", client.source)
            return
        self._handle(client, client.splitter.push(data))

    def _handle(self, client: _Client, lines: list[bytes | None]) -> None:
        for line in lines:
            if line is None:
                self._feed.reject(RejectReason.TOO_LONG, source=client.source)
            else:
                self._feed.feed_line(line, source=client.source, peer=client.peer)

    def _close(self, client: _Client) -> None:
        self._clients.pop(client.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(client.sock)
        client.sock.close()


def read_file(path: str | os.PathLike[str], feed: AvlFeed) -> FeedStats:
    """Feed every line of an NMEA/JSONL file (or ``.gz``) through ``feed``; formats may mix.

    For a recorded file, give the feed a validator that accepts old fixes, e.g.
    ``AvlValidator(clock, max_age_s=None)``; the default rejects fixes older than 5 minutes.

    Returns
    -------
    FeedStats
        The feed's counts after reading.

    Raises
    ------
    InputFileError
        If the file is missing, unreadable or a corrupt ``.gz``.
    """
    file = Path(path)
    try:
        with _open_binary(file) as stream:
            for number, line in enumerate(_file_lines(stream, feed.max_line_bytes), start=1):
                source = f"file {file.name}:{number}"
                if line is None:
                    feed.reject(RejectReason.TOO_LONG, source=source)
                else:
                    feed.feed_line(line, source=source)
    except FileNotFoundError as exc:
        raise InputFileError(f"AVL file not found: {file}") from exc
    except (OSError, EOFError, zlib.error) as exc:
        # gzip.BadGzipFile is an OSError; a truncated .gz raises EOFError.
        raise InputFileError(f"cannot read AVL file {file}: {exc}") from exc
    finally:
        feed.flush_log()
    return feed.stats()


def _open_binary(file: Path) -> io.BufferedIOBase:
    if file.suffix.lower() == ".gz":
        return gzip.open(file, "rb")
    return file.open("rb")


def _file_lines(stream: io.BufferedIOBase, max_line_bytes: int) -> Iterator[bytes | None]:
    splitter = LineSplitter(max_line_bytes)
    while chunk := stream.read(65_536):
        yield from splitter.push(chunk)
    yield from splitter.flush()


def listen(
    *,
    udp_port: int | None = None,
    tcp_port: int | None = None,
    host: str = "127.0.0.1",
    on_fix: OnFix,
    stop_event: threading.Event,
    format: FeedFormat = "auto",
    unit_map: Mapping[str, str] | None = None,
    validator: AvlValidator | None = None,
    on_ready: Callable[[list[FeedServer]], None] | None = None,
) -> FeedStats:
    """Listen for AVL on a UDP and/or TCP port until ``stop_event`` is set (for the CLI).

    Binds every port before serving, so a bad port fails at once and nothing is left running.
    Blocks the calling thread; Ctrl-C (KeyboardInterrupt) also stops the servers.

    Parameters
    ----------
    udp_port, tcp_port
        Ports to listen on (0 picks a free one); at least one is required.
    host
        Address to bind: ``127.0.0.1`` (default, this computer only) or ``0.0.0.0`` (the LAN).
    on_fix
        Called with each accepted fix, from a server thread.
    stop_event
        Set it (from another thread or a signal handler) to stop; it is only read here.
    format, unit_map, validator
        As for :class:`AvlFeed`.
    on_ready
        Called once the ports are bound, with the servers (their real addresses).

    Returns
    -------
    FeedStats
        Accepted and rejected counts; ``str()`` prints them as lines.

    Raises
    ------
    FeedError
        No port given, a port out of range, in use or not permitted, an unknown host or format.
    """
    if udp_port is None and tcp_port is None:
        raise FeedError("give a UDP port, a TCP port or both to listen for AVL on")
    feed = AvlFeed(on_fix, validator=validator, format=format, unit_map=unit_map)
    halt = threading.Event()  # ours, so a failed start does not set the caller's event
    servers: list[FeedServer] = []
    try:
        if udp_port is not None:
            servers.append(serve_udp(host, udp_port, feed, halt))
        if tcp_port is not None:
            servers.append(serve_tcp(host, tcp_port, feed, halt))
        if on_ready is not None:
            on_ready(list(servers))
        stop_event.wait()
    finally:
        halt.set()
        for server in servers:
            server.join(timeout=2 * POLL_S + 1.0)
        feed.flush_log()
    return feed.stats()
