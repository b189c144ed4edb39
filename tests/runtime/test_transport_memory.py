"""The memory transport: partitions, offsets, consumer groups, acks, replay, bounded retention."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from arenaflow import BackpressureError, OffsetOutOfRange, TransportError
from arenaflow.transport.base import partition_for
from arenaflow.transport.memory import MemoryTransport


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(5):
        await asyncio.sleep(0)


async def fetch_all(log: MemoryTransport, topic: str, group: str, p: int = 0) -> list[int]:
    return [ev.offset for ev in await log.fetch(topic, group, p, 1_000, 0)]


# -- partitioning and offsets ---------------------------------------------------------------------
def test_partition_for_is_crc32_of_the_key() -> None:
    for key in ("g1", "g2", "arsenal-chelsea", "ü"):
        assert partition_for(key, 8) == zlib.crc32(key.encode()) % 8
    assert partition_for(None, 8) == 0
    assert partition_for("g1", 1) == 0


async def test_events_of_a_key_land_in_the_key_partition_in_order() -> None:
    log = MemoryTransport(default_partitions=4)
    keys = [f"g{i}" for i in range(12)]
    published = [await log.publish("t", (key, n), key) for n in range(3) for key in keys]
    assert len({partition_for(key, 4) for key in keys}) > 1  # the keys do spread out
    for ev in published:
        assert ev.partition == partition_for(ev.key, 4)
    for key in keys:
        p = partition_for(key, 4)
        assert [ev.value for ev in log.read("t", p) if ev.key == key] == [
            (key, n) for n in range(3)
        ]
    # Keyless events go to partition 0.
    assert log.publish_nowait("t", "no key").partition == 0


async def test_offsets_are_dense_per_partition_from_zero() -> None:
    log = MemoryTransport(default_partitions=3)
    for i in range(30):
        await log.publish("t", i, key=f"k{i % 5}")
    for p in range(3):
        offsets = [ev.offset for ev in log.read("t", p)]
        assert offsets == list(range(len(offsets)))
        assert log.end_offset("t", p) == len(offsets)
    assert sum(log.end_offset("t", p) for p in range(3)) == 30


def test_topic_partition_counts_are_fixed() -> None:
    log = MemoryTransport(default_partitions=8)
    log.create_topic("a", 2)
    log.create_topic("a", 2)  # idempotent
    log.create_topic("a")  # no count given: keeps its count
    assert log.partitions("a") == 2
    assert log.partitions("b") == 8  # created on first use with the default
    with pytest.raises(TransportError, match="already has 2 partitions"):
        log.create_topic("a", 3)
    with pytest.raises(ValueError):
        MemoryTransport(default_partitions=0)
    with pytest.raises(ValueError):
        MemoryTransport(retention=0)


def test_a_group_registered_before_its_topic_exists_does_not_fix_the_partition_count() -> None:
    log = MemoryTransport(default_partitions=8)
    log.register_group("t", "g")
    log.create_topic("t", 2)
    assert log.partitions("t") == 2
    log.publish_nowait("t", 1, key="k")
    assert log.lag("t", "g") == 1  # the group was attached when the topic was created


# -- consuming ------------------------------------------------------------------------------------
async def test_fetch_returns_events_in_order_up_to_max_and_waits_for_data() -> None:
    log = MemoryTransport(default_partitions=1)
    log.register_group("t", "g")
    assert await log.fetch("t", "g", 0, 10, timeout_s=0.01) == []
    for i in range(5):
        log.publish_nowait("t", i)
    assert [ev.value for ev in await log.fetch("t", "g", 0, 3, 0)] == [0, 1, 2]
    assert [ev.value for ev in await log.fetch("t", "g", 0, 3, 0)] == [3, 4]
    # A waiting fetch returns as soon as an event is published.
    waiting = asyncio.create_task(log.fetch("t", "g", 0, 10, timeout_s=30))
    await settle()
    assert not waiting.done()
    await log.publish("t", 5)
    assert [ev.value for ev in await asyncio.wait_for(waiting, 5)] == [5]


async def test_unregistered_group_is_an_error() -> None:
    log = MemoryTransport(default_partitions=1)
    log.publish_nowait("t", 1)
    with pytest.raises(TransportError, match="not registered"):
        await log.fetch("t", "nobody", 0, 10, 0)
    with pytest.raises(TransportError):
        await log.ack("t", "nobody", 0, [0])


async def test_consumer_groups_read_and_ack_independently() -> None:
    log = MemoryTransport(default_partitions=1)
    log.register_group("t", "speed")
    log.register_group("t", "alerts")
    for i in range(4):
        await log.publish("t", i)
    assert await fetch_all(log, "t", "speed") == [0, 1, 2, 3]
    await log.ack("t", "speed", 0, [0, 1, 2, 3])
    assert log.lag("t", "speed") == 0
    assert log.lag("t", "alerts") == 4
    assert await fetch_all(log, "t", "alerts") == [0, 1, 2, 3]
    assert log.committed("t", "alerts", 0) == 0


async def test_a_group_registered_late_starts_at_the_oldest_retained_event() -> None:
    log = MemoryTransport(default_partitions=1)
    for i in range(3):
        await log.publish("t", i)
    log.register_group("t", "late")
    assert await fetch_all(log, "t", "late") == [0, 1, 2]


async def test_committed_offset_advances_only_over_contiguous_acks() -> None:
    log = MemoryTransport(default_partitions=1)
    log.register_group("t", "g")
    for i in range(6):
        await log.publish("t", i)
    assert await fetch_all(log, "t", "g") == list(range(6))
    assert log.lag("t", "g") == 6
    await log.ack("t", "g", 0, [2, 1])
    assert log.committed("t", "g", 0) == 0
    assert log.lag("t", "g") == 4  # acked out of order: no longer lagging, not yet committed
    await log.ack("t", "g", 0, [4])
    await log.ack("t", "g", 0, [0])
    assert log.committed("t", "g", 0) == 3  # 0, 1, 2 are contiguous; 3 is missing
    assert log.lag("t", "g") == 2
    await log.ack("t", "g", 0, [3, 3, 0])  # repeated and stale acks are harmless
    assert log.committed("t", "g", 0) == 5
    await log.ack("t", "g", 0, [5])
    assert log.committed("t", "g", 0) == 6
    assert log.lag("t", "g") == 0


async def test_lag_sums_over_partitions() -> None:
    log = MemoryTransport(default_partitions=4)
    log.register_group("t", "g")
    for i in range(20):
        await log.publish("t", i, key=f"k{i}")
    assert log.lag("t", "g") == 20
    p = next(p for p in range(4) if log.end_offset("t", p))
    offsets = await fetch_all(log, "t", "g", p)
    await log.ack("t", "g", p, offsets)
    assert log.lag("t", "g") == 20 - len(offsets)


async def test_rewind_redelivers_what_was_fetched_but_not_acked() -> None:
    log = MemoryTransport(default_partitions=1)
    log.register_group("t", "g")
    for i in range(5):
        await log.publish("t", i)
    assert await fetch_all(log, "t", "g") == [0, 1, 2, 3, 4]
    await log.ack("t", "g", 0, [0, 1])
    assert await fetch_all(log, "t", "g") == []  # fetched once: not delivered again by itself
    await log.rewind("t", "g", 0)
    assert await fetch_all(log, "t", "g") == [2, 3, 4]
    await log.rewind("t", "g", 0)
    assert await fetch_all(log, "t", "g") == [2, 3, 4]  # still unacked: delivered again


async def test_rewind_does_not_redeliver_events_acked_out_of_order() -> None:
    log = MemoryTransport(default_partitions=1)
    log.register_group("t", "g")
    for i in range(6):
        await log.publish("t", i)
    await fetch_all(log, "t", "g")
    await log.ack("t", "g", 0, [0, 2, 4])  # e.g. two lanes, one of them slower
    assert log.lag("t", "g") == 3
    await log.rewind("t", "g", 0)
    await log.rewind("t", "g", 0)  # a restart during the restart
    assert log.lag("t", "g") == 3
    assert await fetch_all(log, "t", "g") == [1, 3, 5]
    await log.ack("t", "g", 0, [1, 3, 5])
    assert log.committed("t", "g", 0) == 6
    assert log.lag("t", "g") == 0


async def test_seek_replays_from_an_offset() -> None:
    log = MemoryTransport(default_partitions=1)
    log.register_group("t", "g")
    for i in range(5):
        await log.publish("t", i)
    await log.ack("t", "g", 0, await fetch_all(log, "t", "g"))
    assert log.lag("t", "g") == 0
    await log.seek("t", "g", 0, 2)
    assert log.committed("t", "g", 0) == 2
    assert log.lag("t", "g") == 3
    assert [ev.value for ev in await log.fetch("t", "g", 0, 10, 0)] == [2, 3, 4]
    await log.seek("t", "g", 0, 5)  # the end: nothing to replay, allowed
    assert await fetch_all(log, "t", "g") == []
    with pytest.raises(OffsetOutOfRange):
        await log.seek("t", "g", 0, 6)
    with pytest.raises(OffsetOutOfRange):
        await log.seek("t", "g", 0, -1)


async def test_seek_before_retained_events_is_out_of_range() -> None:
    log = MemoryTransport(default_partitions=1, retention=4)
    log.register_group("t", "g")
    for i in range(12):
        await log.publish("t", i)
        await log.ack("t", "g", 0, await fetch_all(log, "t", "g"))
    first = log.read("t", 0)[0].offset
    assert first > 0  # the oldest events were trimmed
    with pytest.raises(OffsetOutOfRange, match=str(first)):
        await log.seek("t", "g", 0, first - 1)
    await log.seek("t", "g", 0, first)
    assert await fetch_all(log, "t", "g") == list(range(first, 12))


# -- bounded retention and backpressure -----------------------------------------------------------
async def test_retention_trims_committed_events_to_make_room() -> None:
    log = MemoryTransport(default_partitions=1, retention=4)
    log.register_group("t", "g")
    for i in range(100):
        log.publish_nowait("t", i)  # never raises: the consumer keeps up
        await log.ack("t", "g", 0, await fetch_all(log, "t", "g"))
        assert len(log.read("t", 0)) <= 4
    assert log.end_offset("t", 0) == 100
    assert log.read("t", 0)[-1].value == 99


async def test_full_partition_raises_on_publish_nowait_and_nothing_is_dropped() -> None:
    log = MemoryTransport(default_partitions=1, retention=3)
    log.register_group("t", "g")
    for i in range(3):
        log.publish_nowait("t", i)
    await fetch_all(log, "t", "g")  # fetched is not committed: still needed
    with pytest.raises(BackpressureError, match="full"):
        log.publish_nowait("t", 3)
    assert [ev.value for ev in log.read("t", 0)] == [0, 1, 2]
    await log.ack("t", "g", 0, [0])
    assert log.publish_nowait("t", 3).offset == 3
    assert [ev.value for ev in log.read("t", 0)] == [1, 2, 3]


async def test_the_slowest_group_holds_retention() -> None:
    log = MemoryTransport(default_partitions=1, retention=2)
    log.register_group("t", "fast")
    log.register_group("t", "slow")
    for i in range(2):
        log.publish_nowait("t", i)
    await log.ack("t", "fast", 0, await fetch_all(log, "t", "fast"))
    with pytest.raises(BackpressureError):
        log.publish_nowait("t", 2)
    await log.ack("t", "slow", 0, await fetch_all(log, "t", "slow"))
    log.publish_nowait("t", 2)


async def test_await_publish_waits_until_an_ack_frees_room() -> None:
    log = MemoryTransport(default_partitions=1, retention=2)
    log.register_group("t", "g")
    for i in range(2):
        await log.publish("t", i)
    blocked = asyncio.create_task(log.publish("t", 2))
    await settle()
    assert not blocked.done()
    await fetch_all(log, "t", "g")
    await settle()
    assert not blocked.done()  # fetched but not acked frees nothing
    await log.ack("t", "g", 0, [1])
    await settle()
    assert not blocked.done()  # acked out of order: offset 0 still holds the committed offset
    await log.ack("t", "g", 0, [0])
    event = await asyncio.wait_for(blocked, 5)
    assert (event.offset, event.value) == (2, 2)


async def test_blocked_publishers_go_in_fifo_order() -> None:
    log = MemoryTransport(default_partitions=1, retention=2)
    log.register_group("t", "g")
    for i in range(2):
        await log.publish("t", i, key="g1")
    blocked = []
    for value in ("a", "b", "c", "d"):
        blocked.append(asyncio.create_task(log.publish("t", value, key="g1")))
        await settle()
    # While publishers wait, a non-waiting publish cannot jump the queue.
    with pytest.raises(BackpressureError):
        log.publish_nowait("t", "jumper", key="g1")
    # A consumer acks one event at a time.
    while not all(task.done() for task in blocked):
        events = await log.fetch("t", "g", 0, 1, timeout_s=1)
        await log.ack("t", "g", 0, [ev.offset for ev in events])
        await settle()
    assert [task.result().offset for task in blocked] == [2, 3, 4, 5]
    assert [task.result().value for task in blocked] == ["a", "b", "c", "d"]


async def test_one_ack_that_frees_room_for_many_releases_every_waiter() -> None:
    log = MemoryTransport(default_partitions=1, retention=4)
    log.register_group("t", "g")
    for i in range(4):
        await log.publish("t", i)
    blocked = [asyncio.create_task(log.publish("t", v)) for v in "abc"]
    await settle()
    assert not any(task.done() for task in blocked)
    await log.ack("t", "g", 0, await fetch_all(log, "t", "g"))
    # Four committed events can be trimmed: all three publishers fit without another ack.
    done, _ = await asyncio.wait(blocked, timeout=5)
    assert len(done) == 3
    assert [task.result().value for task in blocked] == ["a", "b", "c"]
    assert [task.result().offset for task in blocked] == [4, 5, 6]


async def test_a_cancelled_blocked_publisher_leaves_the_queue() -> None:
    log = MemoryTransport(default_partitions=1, retention=1)
    log.register_group("t", "g")
    await log.publish("t", 0)
    first = asyncio.create_task(log.publish("t", "first"))
    second = asyncio.create_task(log.publish("t", "second"))
    await settle()
    first.cancel()
    await settle()
    await log.ack("t", "g", 0, await fetch_all(log, "t", "g"))
    event = await asyncio.wait_for(second, 5)
    assert (event.offset, event.value) == (1, "second")
    assert first.cancelled()


def test_topics_without_groups_just_trim() -> None:
    log = MemoryTransport(default_partitions=1, retention=3)
    for i in range(10):
        log.publish_nowait("outputs", i)  # nobody consumes: no backpressure
    values = [ev.value for ev in log.read("outputs", 0)]
    assert len(values) <= 3
    assert values == list(range(10 - len(values), 10))
    assert log.end_offset("outputs", 0) == 10
