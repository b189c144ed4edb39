"""Real fleets for the fault tests: a Redis server of the test's own (AOF on, a free port, a
temporary directory), ``arenaflow worker`` processes under a small supervisor that restarts
the ones that exit (as Kubernetes would), a feeder, and readers of what the fleet published."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from arenaflow import App, Settings
from arenaflow.sports.schemas import MetricUpdate
from arenaflow.sports.sources import Simulator, pump

PARTITIONS = 4
LEASE_MS = 800
#: Cumulative metrics the aggregate publishes once a second: what "final metrics" compares.
CUMULATIVE = ("distance", "hsr_distance", "top_speed", "sprints", "trimp")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """A redis-server of the test's own, with AOF (``appendfsync everysec``)."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("ARENAFLOW_REQUIRE_SERVICES") == "1":
                pytest.fail("redis-server is not installed (scripts/services installs it)")
            pytest.skip("redis-server is not installed (scripts/services installs it)")
        self.binary = binary
        self.dir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "dir": str(self.dir),
            "appendonly": "yes",
            "appendfsync": "everysec",
            "save": "",
            "logfile": str(self.dir / "redis.log"),
        }
        args = [part for name, value in options.items() for part in (f"--{name}", value)]
        self.proc = subprocess.Popen([self.binary, *args])
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        """A clean shutdown (the AOF is flushed), as an operator's restart does."""
        if self.proc is None:
            return
        with suppress(redis.ConnectionError):
            redis.Redis(port=self.port).shutdown(nosave=False)
        self.proc.wait(10)
        self.proc = None


@dataclass
class Worker:
    name: str
    log: Path
    proc: subprocess.Popen[bytes]
    restarts: int = 0


@dataclass
class Fleet:
    """``arenaflow worker`` processes against one Redis, restarted when they exit."""

    url: str
    workdir: Path
    app: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        url = f"{self.url}?lease_ms={LEASE_MS}"
        return {
            **os.environ,
            "ARENAFLOW_TRANSPORT": url,
            "ARENAFLOW_STATE": url,
            "ARENAFLOW_STORE": "none",
            "ARENAFLOW_PARTITIONS": str(PARTITIONS),
            "ARENAFLOW_LOG_LEVEL": os.environ.get("FLEET_LOG", "INFO"),
            "ARENAFLOW_DATA_DIR": str(self.workdir),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")])
            ),
            **self.env,
        }

    def _spawn(self, name: str, log: Path) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "arenaflow", "worker", "--metrics-port", "0"]
        if self.app:
            command.append(self.app)
        out = log.open("ab")
        return subprocess.Popen(command, env=self.environment(), stdout=out, stderr=out)

    def start(self, n: int) -> None:
        for _ in range(n):
            name = f"w{len(self.workers)}"
            log = self.workdir / f"{name}.log"
            self.workers.append(Worker(name, log, self._spawn(name, log)))

    def supervise(self) -> None:
        """Restart workers that exited (call it now and then)."""
        for w in self.workers:
            if w.proc.poll() is not None:
                w.restarts += 1
                w.proc = self._spawn(w.name, w.log)

    def signal(self, index: int, sig: int) -> None:
        self.workers[index].proc.send_signal(sig)

    def stop(self) -> None:
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGCONT)
                w.proc.terminate()
        for w in self.workers:
            try:
                w.proc.wait(10)
            except subprocess.TimeoutExpired:
                w.proc.kill()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {w.name}\n{w.log.read_text(errors='replace')[-tail:]}" for w in self.workers
        )


@contextmanager
def fleet(url: str, workdir: Path, n: int, **kw: Any) -> Iterator[Fleet]:
    f = Fleet(url, workdir, **kw)
    f.start(n)
    try:
        yield f
    finally:
        f.stop()


def game(games: int = 2, seconds: float = 16.0, seed: int = 11) -> list[tuple[str, str, Any]]:
    """The same simulated football games every time (deterministic by seed)."""
    return list(Simulator("football", games=games, seed=seed, start_time=1.7e9).frames_for(seconds))


async def feed(url: str, items: Iterable[tuple[str, str, Any]], speed: float | None) -> None:
    app = App(transport=url, settings=Settings(partitions=PARTITIONS))
    await app.transport.start()
    try:
        await pump(app, items, speed=speed)
    finally:
        await app.transport.aclose()


def lag(url: str, topic: str, group: str) -> int:
    """Unacknowledged events of ``group`` on ``topic`` (-1 while a group does not exist)."""
    client = redis.Redis.from_url(url)
    total = 0
    for p in range(PARTITIONS):
        stream = f"arenaflow:stream:{topic}:{p}"
        try:
            info = client.xinfo_stream(stream)
            groups = {g["name"].decode(): g for g in client.xinfo_groups(stream)}
        except redis.ResponseError:
            return -1
        g = groups.get(group)
        if g is None:
            return -1
        end = int(info["last-generated-id"].split(b"-")[1])
        delivered = int(g["last-delivered-id"].split(b"-")[1])
        total += end - delivered + int(g["pending"])
    return total


def partitions_detail(url: str, topic: str, group: str) -> list[dict[str, Any]]:
    """Per partition: end, the group's last delivered and pending, and the lease's holder."""
    client = redis.Redis.from_url(url)
    out = []
    for p in range(PARTITIONS):
        stream = f"arenaflow:stream:{topic}:{p}"
        info = client.xinfo_stream(stream)
        g = next(g for g in client.xinfo_groups(stream) if g["name"].decode() == group)
        out.append(
            {
                "p": p,
                "end": info["last-generated-id"].decode(),
                "delivered": g["last-delivered-id"].decode(),
                "pending": g["pending"],
                "lease": (client.get(f"arenaflow:lease:{p}") or b"-").decode(),
            }
        )
    return out


def wait_idle(url: str, f: Fleet, groups: Iterable[tuple[str, str]], timeout: float) -> None:
    groups = list(groups)
    deadline = time.monotonic() + timeout
    while any(lag(url, topic, group) != 0 for topic, group in groups):
        f.supervise()
        if time.monotonic() >= deadline:
            for i in range(len(f.workers)):
                f.signal(i, signal.SIGUSR1)  # each logs where its tasks wait
            time.sleep(1.0)
            detail = {g: partitions_detail(url, t, g) for t, g in groups if lag(url, t, g)}
            raise AssertionError(f"still busy: {detail}\n{f.logs(tail=40_000)}")
        time.sleep(0.1)


def published(url: str, topic: str) -> list[tuple[str, int, dict[str, Any]]]:
    """Every retained event of ``topic``: (id, partition, decoded value), partition by
    partition in stream order."""
    client = redis.Redis.from_url(url)
    out = []
    for p in range(PARTITIONS):
        for entry_id, fields in client.xrange(f"arenaflow:stream:{topic}:{p}"):
            out.append((entry_id.decode(), p, msgspec.msgpack.decode(fields[b"v"])))
    return out


def final_metrics(url: str) -> dict[tuple[str, str, str], float]:
    """The last published value of every cumulative metric, per (game, athlete, metric)."""
    last: dict[tuple[str, str, str], float] = {}
    for _, _, value in published(url, "metrics"):
        update = msgspec.convert(value, MetricUpdate)
        if update.metric in CUMULATIVE:
            last[(update.game_id, update.subject_id, update.metric)] = update.value
    return last


def regressions(url: str) -> list[tuple[str, str, str, float, float]]:
    """Cumulative metrics whose published value went down (a stale value after a newer one)."""
    seen: dict[tuple[str, str, str], float] = {}
    bad = []
    for _, _, value in published(url, "metrics"):
        update = msgspec.convert(value, MetricUpdate)
        if update.metric not in CUMULATIVE:
            continue
        key = (update.game_id, update.subject_id, update.metric)
        if key in seen and update.value < seen[key] - 1e-9:
            bad.append((*key, seen[key], update.value))
        seen[key] = max(seen.get(key, update.value), update.value)
    return bad


def run_feed(url: str, items: list[Any], speed: float | None) -> asyncio.Task[None]:
    """Start feeding on the running loop."""
    return asyncio.get_running_loop().create_task(feed(url, items, speed))
