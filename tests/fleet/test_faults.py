"""The faults a fleet must survive, with real worker processes and a real Redis (issue 6):
kill -9 mid-game, a worker frozen past its lease, Redis restarted mid-game, a poison event.

Every run plays the same simulated games (deterministic by seed); "identical" means every
player's final cumulative metrics (distance, high-speed distance, top speed, sprints, TRIMP)
equal those of a clean run with one worker, and no cumulative value ever went down in the
published stream (a stale value published after a newer one would be a reordering)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from tests.fleet.harness import (
    LEASE_MS,
    RedisServer,
    final_metrics,
    fleet,
    game,
    lag,
    published,
    regressions,
    run_feed,
    wait_idle,
)

pytestmark = pytest.mark.slow

GROUPS = [("tracking", "tracking"), ("biometrics", "biometrics")]
SPEED = 4.0  # 16 s of play in 4 s
ITEMS = game()


async def settle(url: str, f: Any, timeout: float = 60.0) -> None:
    """Wait until the fleet processed everything and the 1 Hz aggregate has said all it will
    (a partition handed to a restarted worker speaks again once it is rebuilt)."""
    deadline = time.monotonic() + timeout
    await asyncio.to_thread(wait_idle, url, f, GROUPS, timeout)
    last, quiet_since = final_metrics(url), time.monotonic()
    while time.monotonic() - quiet_since < 3.0:
        assert time.monotonic() < deadline, f.logs()
        await asyncio.sleep(0.5)
        now = final_metrics(url)
        if now != last:
            last, quiet_since = now, time.monotonic()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], float]:
    """The reference: one worker, nothing goes wrong."""
    from tests.redis_service import require_redis

    require_redis()
    workdir = tmp_path_factory.mktemp("clean")
    server = RedisServer(workdir)
    server.start()
    try:
        with fleet(server.url, workdir, 1) as f:

            async def main() -> None:
                await run_feed(server.url, ITEMS, None)
                await settle(server.url, f)

            asyncio.run(main())
            result = final_metrics(server.url)
    finally:
        server.stop()
    assert len(result) >= 40 * 4  # 2 games x 22 players x the cumulative metrics
    return result


def assert_same(got: dict[Any, float], want: dict[Any, float], logs: str) -> None:
    assert got.keys() == want.keys(), logs
    off = {k: (got[k], want[k]) for k in want if abs(got[k] - want[k]) > 1e-9 * max(1, want[k])}
    assert not off, f"{len(off)} differ, e.g. {list(off.items())[:5]}\n{logs}"


async def test_kill_9_of_a_worker_mid_game_loses_nothing(
    server: RedisServer, tmp_path: Path, clean: dict[Any, float]
) -> None:
    with fleet(server.url, tmp_path, 2) as f:
        feeding = run_feed(server.url, ITEMS, SPEED)
        await asyncio.sleep(2.0)
        f.signal(0, signal.SIGKILL)
        killed = time.monotonic()
        await feeding
        await settle(server.url, f)
        assert f.workers[0].restarts or f.workers[0].proc.poll() == -signal.SIGKILL
        took = time.monotonic() - killed
        assert_same(final_metrics(server.url), clean, f.logs())
        assert regressions(server.url) == []
        assert took < 30


async def test_a_worker_frozen_past_its_lease_neither_double_counts_nor_reorders(
    server: RedisServer, tmp_path: Path, clean: dict[Any, float]
) -> None:
    with fleet(server.url, tmp_path, 2) as f:
        feeding = run_feed(server.url, ITEMS, SPEED)
        await asyncio.sleep(1.5)
        f.signal(0, signal.SIGSTOP)
        await asyncio.sleep(LEASE_MS / 1000 * 3)  # its partitions are taken over meanwhile
        f.signal(0, signal.SIGCONT)
        await feeding
        await settle(server.url, f)
        assert_same(final_metrics(server.url), clean, f.logs())
        assert regressions(server.url) == [], f.logs()
        assert "lost" in f.workers[0].log.read_text() or "took" in f.workers[1].log.read_text()


async def test_redis_restarted_mid_game_workers_reconnect_and_go_on(
    server: RedisServer, tmp_path: Path, clean: dict[Any, float]
) -> None:
    with fleet(server.url, tmp_path, 2) as f:
        feeding = run_feed(server.url, ITEMS, SPEED)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(server.start)
        await feeding
        await settle(server.url, f, timeout=90)
        assert_same(final_metrics(server.url), clean, f.logs())
        assert regressions(server.url) == [], f.logs()


async def test_a_poison_event_is_dead_lettered_after_the_retry_limit_and_the_game_goes_on(
    server: RedisServer, tmp_path: Path
) -> None:
    from arenaflow import App, Settings

    with fleet(server.url, tmp_path, 2, app="tests.fleet.poison_app:app") as f:
        publisher = App(transport=server.url, settings=Settings(partitions=4))
        await publisher.transport.start()
        for i in range(60):
            await publisher.publish("plays", {"game_id": "g1", "i": i, "poison": i == 30}, key="g1")
        await publisher.transport.aclose()
        deadline = time.monotonic() + 60
        while lag(server.url, "plays", "count") != 0:
            f.supervise()  # workers the poison kills come back, as under Kubernetes
            assert time.monotonic() < deadline, f.logs()
            await asyncio.sleep(0.1)
        client = redis.Redis.from_url(server.url)
        counts = {
            msgspec.msgpack.decode(k): msgspec.msgpack.decode(v)
            for k, v in client.hgetall("arenaflow:state:count").items()
        }
        assert counts == {"g1": 59}, f.logs()  # every event but the poison, exactly once
        [letter] = [value for _, _, value in published(server.url, "count.dlq")]
        assert letter["reason"] == "redelivered" and letter["value"]["i"] == 30
        assert sum(w.restarts for w in f.workers) >= 2  # it did kill its takers
