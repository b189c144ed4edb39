"""Real PostgreSQL outages: the server is stopped and started again under the store.

The store raises StoreError while the server is down and is back by itself on its next call once
the server is; with the pipeline, the writers retry with back-off, their backlog grows on the
transport, and after the restart every row published lands exactly once.

These tests stop the local cluster (``pg_ctlcluster``, as root) and always start it again, even
when they fail. They skip where the server is unreachable or cannot be controlled from here,
unless ``ARENAFLOW_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from arenaflow import App, Settings
from arenaflow.errors import StoreError
from arenaflow.pipeline import build_pipeline
from arenaflow.pipeline.shots import ENRICHED_TOPIC
from arenaflow.sports import topics
from arenaflow.sports.schemas import (
    Alert,
    BiometricSample,
    GameEvent,
    MetricUpdate,
    TrackingFrame,
)
from arenaflow.sports.sources import Simulator, pump
from arenaflow.store.postgres import PostgresStore
from arenaflow.transport.memory import MemoryTransport
from tests.store.conftest import POSTGRES_URL, _skip_or_fail, postgres_unavailable

pytestmark = pytest.mark.slow

#: Capture time of the simulated kick-off: a date, so the archive's day partitions are used.
KICK_OFF = 1_800_000_000.0
#: The shortest outage of the pipeline test, in seconds.
OUTAGE_S = 4.0


class Server:
    """The local PostgreSQL cluster behind ``POSTGRES_URL``, driven with ``pg_ctlcluster``."""

    def __init__(self, version: str, cluster: str) -> None:
        self.version = version
        self.cluster = cluster

    def _ctl(self, *args: str) -> None:
        cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.cluster, *args]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def running(self) -> bool:
        cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.cluster, "status"]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def start(self, timeout_s: float = 60.0) -> None:
        if not self.running():
            self._ctl("start")
        deadline = time.monotonic() + timeout_s
        while postgres_unavailable() is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not come back within {timeout_s:g} s")
            time.sleep(0.2)


def _control() -> Server | str:
    """The server to stop and start, or why this process cannot."""
    if os.name != "posix" or os.geteuid() != 0:
        return "stopping and starting PostgreSQL needs root (pg_ctlcluster)"
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        return "pg_ctlcluster is not installed (Debian's postgresql-common)"
    params = conninfo_to_dict(POSTGRES_URL)
    if str(params.get("host") or "localhost") not in ("127.0.0.1", "localhost", "::1"):
        return f"PostgreSQL at {params.get('host')} is not local: the test cannot stop it"
    port = str(params.get("port") or 5432)
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, timeout=30
    ).stdout
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == port and fields[3].startswith("online"):
            return Server(fields[0], fields[1])
    return f"no online local cluster on port {port} in pg_lsclusters"


@pytest.fixture
def server() -> Iterator[Server]:
    reason = postgres_unavailable()
    control = _control() if reason is None else reason
    if isinstance(control, str):
        _skip_or_fail(control)
    assert isinstance(control, Server)
    try:
        yield control
    finally:
        control.start()  # always: later tests and CI need the server


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    PostgresStore.drop_schema(POSTGRES_URL, name)


def _query(schema: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(POSTGRES_URL) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return conn.execute(query).fetchall()


def test_the_store_reconnects_after_a_restart(server: Server, schema: str) -> None:
    store = PostgresStore(POSTGRES_URL, schema=schema)
    store.open()
    try:
        speed = [
            MetricUpdate(game_id="g1", subject_id="p1", metric="speed", value=float(i), unit="m/s",
                         timestamp=KICK_OFF + i)
            for i in range(4)
        ]  # fmt: skip
        assert store.write_metrics(speed[:2]) == 2
        server.stop()
        with pytest.raises(StoreError, match="unreachable"):
            store.write_metrics(speed[2:])
        with pytest.raises(StoreError, match=r"PostgreSQL at \S+ is unreachable \(latest\)"):
            store.latest("g1")
        server.start()
        # No reopening: the next call reconnects.
        assert store.write_metrics(speed[2:]) == 2
        assert [p.value for p in store.window("g1", "p1", "speed")] == [0.0, 1.0, 2.0, 3.0]
        # A restart while the pool holds connections: the next call does not even fail.
        server.stop()
        server.start()
        assert [p.value for p in store.latest("g1")] == [3.0]
    finally:
        store.close()


async def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(0.05)


def _published(app: App, topic: str) -> list[Any]:
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    return [e.value for p in range(transport.partitions(topic)) for e in transport.read(topic, p)]


WRITERS = ("archive_frames", "archive_samples", "store_metrics", "store_events")


async def test_a_pipeline_rides_out_an_outage_and_loses_nothing(
    server: Server, schema: str
) -> None:
    store = PostgresStore(POSTGRES_URL, schema=schema)
    store.open()
    app, _ = build_pipeline(App(settings=Settings(partitions=2)), store=store)
    items = list(Simulator("football", games=1, seed=1, start_time=KICK_OFF).frames_for(30.0))
    phases = [
        [i for i in items if lo <= (i[2].timestamp - KICK_OFF) < hi]
        for lo, hi in ((0.0, 10.0), (10.0, 20.0), (20.0, 30.0))
    ]
    try:
        async with app:
            await pump(app, phases[0], speed=None)
            await app.drain(timeout=60)
            assert _query(schema, "SELECT count(*) FROM frames")[0][0] > 0

            await asyncio.to_thread(server.stop)
            down_at = time.monotonic()
            await pump(app, phases[1], speed=None)
            # The writers fail, retry with back-off, and their backlog grows meanwhile.
            await _until(
                lambda: all(app.metrics(w).errors > 0 and app.metrics(w).lag > 0 for w in WRITERS),
                30.0,
                "every writer failing with a backlog while the server is down",
            )
            # The live pipeline does not wait for the store.
            await _until(lambda: app.metrics("tracking").lag == 0, 30.0, "live tracking")
            # Down long enough for the back-off to reach its cap (2 s) before the restart.
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
            await asyncio.to_thread(server.start)

            await pump(app, phases[2], speed=None)
            await app.drain(timeout=120)
        for name in WRITERS:
            after = app.metrics(name)
            assert after.retries > 0 and after.dead_lettered == 0 and after.lag == 0, name
    finally:
        store.close()

    # Every frame row, sample, metric update, event and alert published: in the store, once.
    frames = [v for t, _, v in items if t == topics.TRACKING]
    assert all(isinstance(f, TrackingFrame) for f in frames)
    want_rows = {(f.game_id, f.frame, o.id) for f in frames for o in f.objects}
    got_rows = _query(schema, "SELECT game_id, frame, object_id FROM frames")
    assert len(got_rows) == len(want_rows) == sum(len(f.objects) for f in frames)
    assert set(got_rows) == want_rows

    samples = [v for t, _, v in items if isinstance(v, BiometricSample)]
    got_samples = _query(schema, 'SELECT athlete_id, "timestamp" FROM samples')
    assert sorted(got_samples) == sorted((s.athlete_id, s.timestamp) for s in samples)

    updates = [u for u in _published(app, topics.METRICS) if isinstance(u, MetricUpdate)]
    want_metrics = {(u.game_id, u.subject_id, u.metric, u.timestamp) for u in updates}
    got_metrics = _query(schema, 'SELECT game_id, subject_id, metric, "timestamp" FROM metrics')
    assert len(want_metrics) > 1000
    assert len(got_metrics) == len(want_metrics) and set(got_metrics) == want_metrics
    # The per-game summary counted each row once, retries and redeliveries included.
    assert _query(schema, "SELECT sum(n)::bigint FROM metric_games")[0][0] == len(want_metrics)

    events = [e for e in _published(app, ENRICHED_TOPIC) if isinstance(e, GameEvent)]
    stored = PostgresStore(POSTGRES_URL, schema=schema)
    stored.open()
    try:
        got_events = stored.events("g0")
        assert events and len(got_events) == len({e.event_id for e in events})
        assert {e.event_id: e for e in got_events} == {e.event_id: e for e in events}
        alerts = {a.alert_id: a for a in _published(app, topics.ALERTS) if isinstance(a, Alert)}
        assert {a.alert_id: a for a in stored.alerts("g0")} == alerts
    finally:
        stored.close()
