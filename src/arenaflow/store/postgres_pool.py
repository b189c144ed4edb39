"""The PostgreSQL store's connections: a small thread-safe pool of psycopg 3 connections that
reconnects by itself after an outage.

Each call borrows a connection from the pool (a thread never shares it) and gives it back.
Failing to reach the server raises :class:`~arenaflow.errors.StoreError` naming it; a broken
connection is dropped, and a call that finds a pooled connection dead (the server restarted
meanwhile) drops the idle ones and tries once more on a fresh connection, so the store is back by
itself as soon as the server is. Going down and coming back are logged once each.

Example (needs a server)::

    pool = Pool({**CONNECT_DEFAULTS, "host": "127.0.0.1", "dbname": "test"}, "club",
                "127.0.0.1:5432/test", size=4)
    version = pool.run("reading the version", lambda c: c.execute("SELECT version()").fetchone())
    pool.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from arenaflow.errors import StoreError

__all__ = ["CONNECT_DEFAULTS", "Conn", "Pool"]

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]
T = TypeVar("T")

#: Connection options a URL may override.
CONNECT_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "application_name": "arenaflow",
}


class Pool:
    """Connections shared by threads: a call borrows one (only its thread uses it) and gives it
    back; broken ones are dropped, so the next call connects afresh.

    Args:
        params: ``psycopg.connect`` keyword arguments (connections are in autocommit mode).
        schema: Schema put on each new connection's ``search_path``.
        where: ``host:port/dbname``, to name the server in errors and logs.
        size: Most connections open at once; further calls wait for one (up to 60 s).
    """

    def __init__(self, params: dict[str, Any], schema: str, where: str, size: int) -> None:
        self._params = params
        self._schema = schema
        self._where = where
        self._size = size
        self._idle: list[Conn] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False
        self._down_since: float | None = None

    def run(self, what: str, fn: Callable[[Conn], T]) -> T:
        """``fn(connection)``, psycopg errors raised as StoreError. A pooled connection found
        dead (the server restarted) is replaced once by a fresh one: every write is idempotent."""
        if not self._slots.acquire(timeout=60.0):
            raise StoreError(f"PostgreSQL at {self._where}: {self._size} connections busy ({what})")
        try:
            for attempt in (1, 2):
                conn, pooled = self._borrow(what)
                try:
                    result = fn(conn)
                except psycopg.Error as exc:
                    if not conn.closed:  # the server said no; the connection is fine
                        self._give_back(conn)
                        raise StoreError(
                            f"PostgreSQL at {self._where} refused {what}: {exc}"
                        ) from exc
                    if pooled and attempt == 1:
                        self._drop_idle()  # as stale as this one
                        continue
                    raise self._unreachable(what, exc) from exc
                except BaseException:
                    conn.close()  # it may be mid-protocol
                    raise
                self._give_back(conn)
                if self._down_since is not None:
                    self._back()
                return result
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections; calls from now on fail (borrowed ones close on return)."""
        with self._lock:
            self._closed = True
        self._drop_idle()

    def _borrow(self, what: str) -> tuple[Conn, bool]:
        with self._lock:
            if self._closed:
                raise StoreError(f"the PostgreSQL store at {self._where} is closed ({what})")
            if self._idle:
                return self._idle.pop(), True
        try:
            conn = psycopg.connect(**self._params, autocommit=True)
        except psycopg.Error as exc:
            raise self._unreachable(what, exc) from exc
        try:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
        except psycopg.Error as exc:
            conn.close()
            raise self._unreachable(what, exc) from exc
        return conn, False

    def _give_back(self, conn: Conn) -> None:
        healthy = not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
        with self._lock:
            if healthy and not self._closed and len(self._idle) < self._size:
                self._idle.append(conn)
                return
        conn.close()

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _unreachable(self, what: str, exc: psycopg.Error) -> StoreError:
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        with self._lock:
            first, self._down_since = self._down_since is None, self._down_since or time.monotonic()
        if first:
            log.warning("PostgreSQL at %s is unreachable: %s", self._where, reason)
        return StoreError(
            f"PostgreSQL at {self._where} is unreachable ({what}): {reason}; "
            "the store reconnects on its next call"
        )

    def _back(self) -> None:
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            down_s = time.monotonic() - since
            log.warning("PostgreSQL at %s is reachable again (%.1f s)", self._where, down_s)
