"""Hear other desks' changes: PostgreSQL ``LISTEN heartops_changes`` on a background thread.

Every state-changing commit sends ``NOTIFY heartops_changes`` with its change id (see
:mod:`heartops.store.tx`). A :class:`ChangeListener` keeps one dedicated connection listening
and calls ``on_change(change_id)`` from its own thread; the receiver then reads the changes with
:meth:`~heartops.store.Store.changes_since` (the notification only wakes it up, so a lost or
coalesced notification loses nothing). SQLite has no notifications: a SQLite desk is a single
desk, and :func:`supports_notifications` says so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from heartops.core.errors import StoreError
from heartops.store.engine import safe_url
from heartops.store.tx import CHANGES_CHANNEL

log = logging.getLogger(__name__)

POLL_TIMEOUT_S = 0.25  # how often the thread checks whether it should stop


def supports_notifications(url: str) -> bool:
    """Whether desks sharing the database at ``url`` hear each other's changes at once."""
    return make_url(url).get_backend_name() == "postgresql"


def _libpq_dsn(url: str) -> str:
    """Return the plain ``postgresql://`` form of a SQLAlchemy URL, password included."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class ChangeListener:
    """Calls ``on_change(change_id)`` when any desk commits a change (PostgreSQL only).

    Parameters
    ----------
    url
        The store's SQLAlchemy URL (``postgresql+psycopg://...``).
    on_change
        Called on the listener's thread with each announced change id; keep it quick (queue
        the id or emit a Qt signal).
    """

    def __init__(self, url: str, on_change: Callable[[int], None]) -> None:
        if not supports_notifications(url):
            raise StoreError(f"{safe_url(url)} cannot announce changes to other desks: "
                             "several desks need a shared PostgreSQL database")
        self._dsn = _libpq_dsn(url)
        self._on_change = on_change
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="heartops-change-listener",
                                        daemon=True)

    def start(self, *, timeout_s: float = 10.0) -> ChangeListener:
        """Connect and start listening; returns once LISTEN is in effect.

        Raises
        ------
        StoreError
            If the server cannot be reached.
        """
        self._thread.start()
        self._ready.wait(timeout_s)
        if self._error is not None:
            raise StoreError(f"cannot listen for changes on {safe_url(self._dsn)}: "
                             f"{' '.join(str(self._error).split())}") from None
        return self

    def stop(self) -> None:
        """Stop listening and close the connection (within about ``POLL_TIMEOUT_S``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            connection = psycopg.connect(self._dsn, autocommit=True)
        except psycopg.Error as exc:
            self._error = exc
            self._ready.set()
            return
        with connection:
            connection.execute(f"LISTEN {CHANGES_CHANNEL}")
            self._ready.set()
            while not self._stop.is_set():
                for notice in connection.notifies(timeout=POLL_TIMEOUT_S, stop_after=1):
                    self._deliver(notice.payload)

    def _deliver(self, payload: str) -> None:
        try:
            change_id = int(payload)
        except ValueError:
            log.warning("ignoring a malformed change notification %r", payload)
            return
        try:
            self._on_change(change_id)
        except Exception:  # one bad receiver must not stop the listener
            log.exception("change receiver failed for change %s", change_id)


CITY_LOCK_KEY = 0x6865_6172  # "hear": the advisory lock a database's city desk holds


class CityLease:
    """Proof that this process runs the (simulated) city on a shared PostgreSQL database.

    A PostgreSQL session-level advisory lock on one connection kept open: it ends when the
    lease is released or when the process dies, so a crashed city desk never blocks the next.
    """

    def __init__(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        self._connection: psycopg.Connection[tuple[object, ...]] | None = connection

    def release(self) -> None:
        """Give the city up (closing the connection frees the lock)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @property
    def held(self) -> bool:
        """Whether this lease still holds the city."""
        return self._connection is not None and not self._connection.closed


def try_city_lease(url: str) -> CityLease | None:
    """Take the database's city lease, or return ``None`` if another desk runs the city.

    Raises
    ------
    StoreError
        If ``url`` is not PostgreSQL or the server cannot be reached.
    """
    if not supports_notifications(url):
        raise StoreError(f"{safe_url(url)}: only a shared PostgreSQL database has a city to "
                         "share")
    try:
        connection = psycopg.connect(_libpq_dsn(url), autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"cannot reach {safe_url(url)}: {' '.join(str(exc).split())}") \
            from None
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (CITY_LOCK_KEY,)).fetchone()
    if row is None or not row[0]:
        connection.close()
        return None
    return CityLease(connection)

