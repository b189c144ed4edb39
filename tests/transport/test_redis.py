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
from redis.exceptions import ConnectionError as RedisConnectionError

from arenaflow.errors import ConfigError, PartitionLost, TransportError
from arenaflow.transport.base import Ack, partition_for
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
    """Fetch every partition for ``seconds`` (as dispatcher readers do: a reader whose tenure
    ended starts afresh), acking nothing."""
    got: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for p in partitions:
            try:
                got += await log.fetch("frames", "speed", p, 100, 0.02)
            except PartitionLost:
                await log.rewind("frames", "speed", p)
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


async def redelivered_batches(
    log: RedisTransport, n: int, *, ack_first: int | None = None
) -> list[list[Any]]:
    """Fetch until ``n`` events came, acking each batch (only the first ``ack_first``)."""
    batches: list[list[Any]] = []
    started = time.monotonic()
    while sum(map(len, batches)) < n:
        batch = await log.fetch("frames", "speed", 0, 100, 0.05)
        if batch:
            batches.append(batch)
            if ack_first is None or len(batches) <= ack_first:
                await log.ack("frames", "speed", 0, [ev.offset for ev in batch])
            elif sum(map(len, batches)) < n:
                break  # unacknowledged: the gate holds the rest back
        assert time.monotonic() - started < 5
    return batches


def values(batch: list[Any]) -> list[tuple[int, int]]:
    return [(msgspec.msgpack.decode(ev.value)["i"], ev.deliveries) for ev in batch]


async def test_a_dead_members_pending_events_go_to_the_survivor_in_growing_batches_in_order(
    redis_url: str,
) -> None:
    """One at first (maybe the poison that killed it), then twice as many after each success;
    an event delivered more than once already always goes alone."""
    dead = RedisTransport(f"{redis_url}&lease_ms={LEASE_MS}", default_partitions=1, worker_id="d")
    dead.register_group("frames", "speed")
    await dead.start()
    for i in range(12):
        await dead.publish("frames", {"i": i}, key="g")
    taken = await poll(dead, range(1), 0.2)
    assert len(taken) == 12
    await dead.ack("frames", "speed", 0, [taken[0].offset])
    await die(dead)
    async with member(redis_url, "survivor", partitions=1) as survivor:
        started = time.monotonic()
        # It acks the first two batches, then dies holding the third (events 4 to 7).
        first = await redelivered_batches(survivor, 11, ack_first=2)
        took = time.monotonic() - started
        assert [values(b) for b in first] == [
            [(1, 2)],
            [(2, 2), (3, 2)],
            [(4, 2), (5, 2), (6, 2), (7, 2)],
        ]
        assert took < LEASE_MS / 1000 * 4
        assert survivor.assignment("frames", "speed", 0) == 1
        await die(survivor)
    async with member(redis_url, "third", partitions=1) as third:
        rest = await redelivered_batches(third, 8)
        assert [values(b) for b in rest] == [
            [(4, 3)],  # delivered twice already: alone, each of them
            [(5, 3)],
            [(6, 3)],
            [(7, 3)],
            [(8, 2), (9, 2)],  # delivered once (to the first): growing again
            [(10, 2), (11, 2)],
        ]


def lose_a_reply(log: RedisTransport, script: str) -> None:
    """The next call of ``script`` runs in Redis but its reply never arrives (a connection cut
    as Redis shuts down)."""
    real = log._scripts[script]

    async def cut(*args: Any, **kwargs: Any) -> Any:
        log._scripts[script] = real
        await real(*args, **kwargs)
        raise RedisConnectionError("Connection reset by peer (the reply is lost)")

    log._scripts[script] = cut


async def test_entries_read_without_a_reply_are_delivered_again(redis_url: str) -> None:
    async with member(redis_url, "a", partitions=1) as a:
        assert await poll(a, range(1), 0.05) == []  # holds the partition
        for i in range(3):
            await a.publish("frames", {"i": i}, key="g")
        lose_a_reply(a, "read")
        assert await a.fetch("frames", "speed", 0, 100, 0.05) == []  # Redis took them
        got = await redelivered_batches(a, 3)
        assert [v for b in got for v in values(b)] == [(0, 2), (1, 2), (2, 2)]


async def test_a_redelivery_without_a_reply_keeps_the_order(redis_url: str) -> None:
    dead = RedisTransport(f"{redis_url}&lease_ms={LEASE_MS}", default_partitions=1, worker_id="d")
    dead.register_group("frames", "speed")
    await dead.start()
    for i in range(5):
        await dead.publish("frames", {"i": i}, key="g")
    assert len(await poll(dead, range(1), 0.2)) == 5
    await die(dead)
    async with member(redis_url, "survivor", partitions=1) as survivor:
        lose_a_reply(survivor, "claim_some")  # the first redelivered entry vanishes on the way
        got = await redelivered_batches(survivor, 5)
        assert [i for b in got for i, _ in values(b)] == [0, 1, 2, 3, 4]


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


async def test_a_late_renewal_alone_does_not_drop_a_batch(redis_url: str) -> None:
    """Renewals running late (Redis busy loading after a restart, a starved thread) lapse the
    local clock, not the lease: a commit is still fenced by the token Redis holds, so a batch
    its reader counts as in flight is not dropped by a lane while nobody delivers it again."""
    async with member(redis_url, "a", partitions=1) as a:
        await a.publish("frames", {"i": 0}, key="g")
        [event] = await poll(a, range(1), 0.2)
        a._leases[0].valid_until = 0.0  # the renewer is late
        assert not a.owns("frames", "speed", 0)  # it does not speak for the partition...
        fence = a.fence("frames", "speed", 0)  # ...but may still commit what it holds
        ack = Ack("frames", "speed", 0, [event.offset])
        await a.publish_batch([("out", {"i": 0}, "g", {})], fence, ack)
        assert a.lag("frames", "speed") == 0
        assert [ev.offset for ev in await a.history("out", 0, 0, 10, 10)] == [0]


async def test_a_partition_handed_back_mid_batch_restarts_its_readers(redis_url: str) -> None:
    """Handing a partition back ends the tenure for its readers as a takeover does: what
    they fetched and did not ack is the next holder's, and nothing of it is committed here
    (it is delivered again, not left pending with a reader that counts it done)."""
    async with member(redis_url, "a") as a:
        await poll(a, range(4), 0.3)
        keys = {partition_for(f"g{i}", 4): f"g{i}" for i in range(64)}
        for p, key in keys.items():
            await a.publish("frames", {"p": p}, key=key)
        held = {ev.partition: ev for ev in await poll(a, range(4), 0.2)}
        assert set(held) == {0, 1, 2, 3}
        async with member(redis_url, "b") as b:
            # a acks nothing: the partitions it hands back go after the draining grace.
            again: list[Any] = []
            restarted: set[int] = set()

            async def read_a() -> None:
                for p in range(4):
                    try:
                        await a.fetch("frames", "speed", p, 100, 0.01)
                    except PartitionLost:
                        restarted.add(p)
                        await a.rewind("frames", "speed", p)

            for _ in range(100):
                await read_a()
                again += await poll(b, range(4), 0.03)
                if len(owned(b)) == 2:
                    break
            await read_a()
            gone = owned(b)
            assert len(gone) == 2
            assert restarted == gone
            for p in gone:
                with pytest.raises(PartitionLost):
                    a.fence("frames", "speed", p)
            again += await poll(b, range(4), 0.3)
            assert {ev.partition for ev in again if ev.deliveries == 2} == gone


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


def counting(url: str) -> tuple[Any, dict[str, int], dict[str, int]]:
    """An App whose ``count`` keeps per-game counts in memory (``replay_on_takeover``) and a
    table of them that others read, updated once a batch has landed (``ctx.on_commit``)."""
    from arenaflow import App, Settings, stream

    app = App(transport=f"{url}&lease_ms={LEASE_MS}", settings=Settings(partitions=2, store="none"))
    memory: dict[str, int] = {}
    table: dict[str, int] = {}

    @app.function(stream("plays", key="game"), batch_size=5, replay_on_takeover=True)
    async def count(events: list[Any], ctx: Any) -> None:
        for ev in events:
            memory[ev.key] = memory.get(ev.key, 0) + 1
        seen = dict(memory)
        ctx.on_commit(lambda: table.update(seen))

    return app, memory, table


async def test_a_replay_on_takeover_function_rebuilds_its_memory_and_its_committed_view(
    redis_url: str,
) -> None:
    first, _, _ = counting(redis_url)
    async with first:
        for i in range(40):
            await first.publish("plays", {"game": f"g{i % 4}"})
        await first.drain(timeout=10)
    # The first process left (handing its partitions back); the next one takes them over.
    second, memory, table = counting(redis_url)
    async with second:
        await eventually(lambda: table == {f"g{k}": 10 for k in range(4)})
        assert second.metrics("count").replayed == 40
        for i in range(8):
            await second.publish("plays", {"game": f"g{i % 4}"})
        await second.drain(timeout=10)
        assert memory == table == {f"g{k}": 12 for k in range(4)}


async def test_taking_a_partition_back_replays_only_what_others_processed_meanwhile(
    redis_url: str,
) -> None:
    games = [f"g{k}" for k in range(8)]
    a, a_memory, _ = counting(redis_url)
    async with a:
        for i in range(40):
            await a.publish("plays", {"game": games[i % 8]})
        await a.drain(timeout=10)
        b, b_memory, _ = counting(redis_url)
        async with b:  # b joins: a hands one of its two partitions back
            moved = await _handed_over(b)
            for i in range(16):
                await a.publish("plays", {"game": games[i % 8]})
            theirs = [g for g in games if partition_for(g, 2) == moved]
            await eventually(lambda: all(b_memory.get(g) == 7 for g in theirs))
        # b left: a takes the partition back and replays only the events b processed.
        await eventually(lambda: all(a.transport.owns("plays", "count", p) for p in (0, 1)))
        await a.drain(timeout=10)
        assert a_memory == {g: 7 for g in games}  # nothing counted twice, nothing missed
        assert a.metrics("count").replayed == 2 * len(theirs) > 0


async def test_memory_that_ran_ahead_is_found_even_when_the_same_process_takes_it_back(
    redis_url: str,
) -> None:
    """A commit refused because the lease lapsed in Redis (an outage, a pause) leaves the
    function's memory ahead of what was acknowledged, even when this process takes the
    partition back next in line (nobody else held it): it must say so (a worker restarts
    afresh) instead of running those events again into memory that has them already, which
    would swallow their outputs."""
    import redis

    from arenaflow import App, Settings, stream

    app = App(transport=f"{redis_url}&lease_ms={LEASE_MS}", settings=Settings(partitions=2))
    stale: list[tuple[str, str, int]] = []
    app.transport.on_stale = lambda *where: stale.append(where)  # type: ignore[attr-defined]
    client = redis.Redis.from_url(app.transport.url)  # type: ignore[attr-defined]
    prefix = app.transport.prefix  # type: ignore[attr-defined]
    memory: dict[str, int] = {}
    lapse = {"g1"}  # the lease of g1's partition lapses while its first batch runs

    @app.function(stream("plays", key="game"), batch_size=5, replay_on_takeover=True)
    async def count(events: list[Any], ctx: Any) -> None:
        for ev in events:
            if ev.key in lapse:
                lapse.discard(ev.key)
                client.delete(f"{prefix}:lease:{ev.partition}")
            memory[ev.key] = memory.get(ev.key, 0) + 1

    async with app:
        await app.publish("plays", {"game": "g0"})
        await app.drain(timeout=10)
        await app.publish("plays", {"game": "g1"})
        await eventually(lambda: len(stale) > 0, 10)
    assert stale[0] == ("plays", "count", partition_for("g1", 2))


async def _handed_over(b: Any) -> int:
    deadline = time.monotonic() + 5
    while True:
        held = [p for p in (0, 1) if b.transport.owns("plays", "count", p)]
        if held:
            return held[0]
        assert time.monotonic() < deadline, "no partition was handed over"
        await asyncio.sleep(0.02)
