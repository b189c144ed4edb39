"""The Redis transport shared by several processes (here: several transports with their own
worker ids on one loop, against the real Redis): fair shares, takeover, fencing, redelivery
counts, backpressure and trimming."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest

from arenaflow.errors import ConfigError, PartitionLost, TransportError
from arenaflow.transport.base import partition_for
from arenaflow.transport.redis import RedisTransport

LEASE_MS = 300


@asynccontextmanager
async def member(
    url: str, name: str, *, partitions: int = 4, retention: int = 100_000
) -> AsyncIterator[RedisTransport]:
    log = RedisTransport(
        f"{url}&lease_ms={LEASE_MS}",
        default_partitions=partitions,
        retention=retention,
        worker_id=name,
    )
    log.register_group("frames", "speed")
    await log.start()
    try:
        yield log
    finally:
        await log.aclose()


async def die(log: RedisTransport) -> None:
    """What kill -9 leaves behind: leases and pending entries nobody releases."""
    assert log._keeper is not None and log._redis is not None
    log._keeping = False
    log._keeper.cancel()
    await asyncio.wait({log._keeper}, timeout=2)
    log._keeper = None
    await log._redis.aclose()
    log._redis = None


def freeze(log: RedisTransport) -> None:
    """A paused process: it stops renewing (its loop does nothing else meanwhile)."""
    assert log._keeper is not None
    log._keeping = False
    log._keeper.cancel()


async def poll(log: RedisTransport, partitions: range, seconds: float) -> list[Any]:
    """Fetch every partition for ``seconds`` (as dispatcher readers do), acking nothing."""
    got: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for p in partitions:
            got += await log.fetch("frames", "speed", p, 100, 0.02)
    return got


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def owned(log: RedisTransport, partitions: int = 4) -> set[int]:
    return {p for p in range(partitions) if log.owns("frames", "speed", p)}


async def test_two_members_share_the_partitions_fairly(redis_url: str) -> None:
    async with member(redis_url, "a") as a, member(redis_url, "b") as b:
        await asyncio.sleep(LEASE_MS / 1000)  # both heartbeats seen: two members
        for _ in range(20):
            await poll(a, range(4), 0.05)
            await poll(b, range(4), 0.05)
            if len(owned(a)) == 2 and len(owned(b)) == 2:
                break
        assert owned(a) | owned(b) == {0, 1, 2, 3} and not owned(a) & owned(b)
        assert len(owned(a)) == len(owned(b)) == 2


async def test_a_member_that_joins_late_gets_its_share_handed_back(redis_url: str) -> None:
    async with member(redis_url, "a") as a:
        await poll(a, range(4), 0.3)
        assert owned(a) == {0, 1, 2, 3}
        async with member(redis_url, "b") as b:
            for _ in range(40):
                await poll(a, range(4), 0.03)
                await poll(b, range(4), 0.03)
                if len(owned(b)) == 2:
                    break
            assert len(owned(a)) == 2 and len(owned(b)) == 2


async def test_a_dead_members_pending_events_go_to_the_survivor_one_at_a_time_in_order(
    redis_url: str,
) -> None:
    async with member(redis_url, "survivor", partitions=1) as survivor:
        dead = RedisTransport(
            f"{redis_url}&lease_ms={LEASE_MS}", default_partitions=1, worker_id="dead"
        )
        dead.register_group("frames", "speed")
        await dead.start()
        for i in range(5):
            await dead.publish("frames", {"i": i}, key="g")
        taken = await poll(dead, range(1), 0.2)
        assert len(taken) == 5
        await dead.ack("frames", "speed", 0, [taken[0].offset])
        await die(dead)
        started = time.monotonic()
        redelivered: list[Any] = []
        while len(redelivered) < 4:
            batch = await survivor.fetch("frames", "speed", 0, 100, 0.05)
            assert len(batch) <= 1  # redelivered events come one at a time
            redelivered += batch
            if batch:
                await survivor.ack("frames", "speed", 0, [batch[0].offset])
            assert time.monotonic() - started < 5
        took = time.monotonic() - started
        assert [msgspec.msgpack.decode(ev.value)["i"] for ev in redelivered] == [1, 2, 3, 4]
        assert [ev.deliveries for ev in redelivered] == [2, 2, 2, 2]
        assert took < LEASE_MS / 1000 * 4
        assert survivor.assignment("frames", "speed", 0) == 1


async def test_a_paused_member_cannot_ack_publish_or_read_after_the_takeover(
    redis_url: str,
) -> None:
    async with (
        member(redis_url, "paused", partitions=1) as paused,
        member(redis_url, "other", partitions=1) as other,
    ):
        await paused.publish("frames", {"i": 0}, key="g")
        [event] = await poll(paused, range(1), 0.2)
        fence = paused.fence("frames", "speed", 0)
        freeze(paused)
        await asyncio.sleep(LEASE_MS / 1000 * 1.5)  # its lease lapses
        assert not paused.owns("frames", "speed", 0)  # its own clock says so too
        [again] = [ev for ev in await poll(other, range(1), 0.5) if ev.offset == event.offset]
        assert again.deliveries == 2
        with pytest.raises(PartitionLost):
            await paused.ack("frames", "speed", 0, [event.offset])
        with pytest.raises(PartitionLost):
            await paused.publish_batch([("frames", {"i": "late"}, "g", {})], fence)
        with pytest.raises(PartitionLost):
            await paused.fetch("frames", "speed", 0, 10, 0.05)
        await other.ack("frames", "speed", 0, [again.offset])
        # Nothing the paused member tried landed: the stream holds the one event.
        assert [ev.offset for ev in await other.history("frames", 0, 0, 100, 100)] == [0]


async def test_a_full_partition_makes_publish_wait_until_acks_free_room(redis_url: str) -> None:
    async with member(redis_url, "a", partitions=1, retention=5) as a:
        for i in range(5):
            await a.publish("frames", {"i": i}, key="g")
        await a._refresh(trim=True)  # the keeper does this every second
        blocked = asyncio.create_task(a.publish("frames", {"i": 5}, key="g"))
        await asyncio.sleep(0.4)
        assert not blocked.done()
        got = await poll(a, range(1), 0.2)
        await a.ack("frames", "speed", 0, [ev.offset for ev in got])
        await a._refresh(trim=True)
        event = await asyncio.wait_for(blocked, 5)
        assert event.offset == 5


async def test_acknowledged_events_beyond_retention_are_trimmed_unacknowledged_never(
    redis_url: str,
) -> None:
    async with member(redis_url, "a", partitions=1, retention=50) as a:
        await a.publish_batch([("frames", {"i": i}, "g", {}) for i in range(400)])
        got: list[Any] = []
        while len(got) < 400:
            got += await a.fetch("frames", "speed", 0, 400, 0.2)
        await a.ack("frames", "speed", 0, [ev.offset for ev in got[:300]])
        await a._refresh(trim=True)
        kept = [ev.offset for ev in await a.history("frames", 0, 0, 400, 1000)]
        assert kept[-1] == 399 and 100 <= len(kept) < 400  # approximate trimming (MINID ~)
        assert set(range(300, 400)) <= set(kept)


async def test_processes_must_agree_on_a_topics_partitions(redis_url: str) -> None:
    async with member(redis_url, "a", partitions=4) as a:
        await a.publish("frames", {"i": 0}, key="g")
        other = RedisTransport(redis_url, default_partitions=8, worker_id="b")
        other.register_group("frames", "speed")
        with pytest.raises(ConfigError, match="ARENAFLOW_PARTITIONS=4"):
            await other.start()
        await other.aclose()


async def test_a_value_msgpack_cannot_carry_is_a_clear_error(redis_url: str) -> None:
    async with member(redis_url, "a") as a:
        with pytest.raises(TransportError, match="cannot publish to 'frames'"):
            await a.publish("frames", object(), key="g")


def test_bad_urls_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match="lease_ms"):
        RedisTransport("redis://127.0.0.1:6379/0?lease_ms=soon")
    with pytest.raises(ConfigError, match="unknown URL parameter"):
        RedisTransport("redis://127.0.0.1:6379/0?leas_ms=100")


def test_keys_land_where_every_process_computes_them() -> None:
    log = RedisTransport("redis://127.0.0.1:6379/0", default_partitions=8)
    assert log.stream_key("tracking", partition_for("g7", 8)) == (
        f"arenaflow:stream:tracking:{partition_for('g7', 8)}"
    )


async def test_a_replay_on_takeover_function_rebuilds_its_memory_and_its_committed_view(
    redis_url: str,
) -> None:
    from arenaflow import App, Settings, stream

    def counting() -> tuple[App, dict[str, int], dict[str, int]]:
        app = App(
            transport=f"{redis_url}&lease_ms={LEASE_MS}",
            settings=Settings(partitions=2, store="none"),
        )
        memory: dict[str, int] = {}  # what the function keeps in process memory
        table: dict[str, int] = {}  # what others read: updated once a batch has landed

        @app.function(stream("plays", key="game"), batch_size=5, replay_on_takeover=True)
        async def count(events: list[Any], ctx: Any) -> None:
            for ev in events:
                memory[ev.key] = memory.get(ev.key, 0) + 1
            if not ctx.replaying:
                ctx.publish("counts", dict(memory))
            seen = dict(memory)
            ctx.on_commit(lambda: table.update(seen))

        return app, memory, table

    first, _, _ = counting()
    async with first:
        for i in range(40):
            await first.publish("plays", {"game": f"g{i % 4}"})
        await first.drain(timeout=10)
    # The first process left (handing its partitions back); the next one takes them over.
    second, memory, table = counting()
    async with second:
        await eventually(lambda: table == {f"g{k}": 10 for k in range(4)})
        assert second.metrics("count").replayed == 40
        for i in range(8):
            await second.publish("plays", {"game": f"g{i % 4}"})
        await second.drain(timeout=10)
        assert memory == table == {f"g{k}": 12 for k in range(4)}
