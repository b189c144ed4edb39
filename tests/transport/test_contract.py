"""What every transport keeps (transport/base.py), on the memory transport and on a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from arenaflow.transport.base import Transport, partition_for
from arenaflow.transport.memory import MemoryTransport


@pytest.fixture(params=["memory", "redis"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    if request.param == "memory":
        log: Transport = MemoryTransport(default_partitions=2)
    else:
        from arenaflow.transport.redis import RedisTransport

        url = request.getfixturevalue("redis_url")
        log = RedisTransport(url + "&lease_ms=500", default_partitions=2)
    log.register_group("frames", "speed")
    log.register_group("frames", "store")
    await log.start()
    try:
        yield log
    finally:
        await log.aclose()


def value(ev: Any, log: Transport) -> Any:
    """What a consumer decodes: the object, or msgpack bytes on a wire transport."""
    return msgspec.msgpack.decode(ev.value) if log.codec == "msgpack" else ev.value


async def fetch_all(log: Transport, group: str, partition: int, n: int) -> list[Any]:
    got: list[Any] = []
    for _ in range(50):
        got += await log.fetch("frames", group, partition, n - len(got), 0.2)
        if len(got) >= n:
            break
    return got


async def test_events_of_a_key_arrive_in_order_with_dense_offsets(transport: Transport) -> None:
    for i in range(20):
        await transport.publish("frames", {"i": i}, key="g1")
    p = partition_for("g1", 2)
    got = await fetch_all(transport, "speed", p, 20)
    assert [value(ev, transport)["i"] for ev in got] == list(range(20))
    assert [ev.offset for ev in got] == list(range(20))
    assert {ev.key for ev in got} == {"g1"} and got[0].headers == {}
    assert all(ev.deliveries == 1 for ev in got)


async def test_groups_are_independent_and_lag_counts_what_is_not_acked(
    transport: Transport,
) -> None:
    for i in range(10):
        await transport.publish("frames", {"i": i}, key="g1")
    p = partition_for("g1", 2)
    got = await fetch_all(transport, "speed", p, 10)
    await transport.ack("frames", "speed", p, [ev.offset for ev in got[:6]])
    await refresh(transport)
    assert transport.lag("frames", "speed") == 4
    assert transport.lag("frames", "store") == 10
    store = await fetch_all(transport, "store", p, 10)
    assert [value(ev, transport)["i"] for ev in store] == list(range(10))


async def test_rewind_delivers_what_was_fetched_but_not_acked_again(transport: Transport) -> None:
    for i in range(6):
        await transport.publish("frames", {"i": i}, key="g1")
    p = partition_for("g1", 2)
    got = await fetch_all(transport, "speed", p, 6)
    await transport.ack("frames", "speed", p, [got[0].offset, got[1].offset])
    await transport.rewind("frames", "speed", p)
    again: list[Any] = []
    for _ in range(50):  # a shared transport hands redelivered events out one at a time
        batch = await transport.fetch("frames", "speed", p, 10, 0.2)
        again += batch
        if batch:
            await transport.ack("frames", "speed", p, [ev.offset for ev in batch])
        if len(again) >= 4:
            break
    assert [value(ev, transport)["i"] for ev in again] == [2, 3, 4, 5]


async def test_seek_replays_from_an_offset(transport: Transport) -> None:
    for i in range(8):
        await transport.publish("frames", {"i": i}, key="g1")
    p = partition_for("g1", 2)
    got = await fetch_all(transport, "speed", p, 8)
    await transport.ack("frames", "speed", p, [ev.offset for ev in got])
    await transport.seek("frames", "speed", p, 5)
    await transport.rewind("frames", "speed", p)
    again = await fetch_all(transport, "speed", p, 3)
    assert [value(ev, transport)["i"] for ev in again] == [5, 6, 7]


async def test_history_reads_a_range_without_a_group(transport: Transport) -> None:
    for i in range(10):
        await transport.publish("frames", {"i": i}, key="g1")
    p = partition_for("g1", 2)
    window = await transport.history("frames", p, 3, 7, 100)
    assert [ev.offset for ev in window] == [3, 4, 5, 6]
    assert [ev.offset for ev in await transport.history("frames", p, 0, 10, 4)] == [0, 1, 2, 3]
    assert await transport.history("frames", p, 5, 5, 10) == []


async def test_publish_batch_appends_in_order_across_topics(transport: Transport) -> None:
    transport.register_group("other", "speed")
    entries = [("frames", {"i": i}, "g1", {"trace_id": "t"}) for i in range(5)]
    entries.append(("other", {"i": 99}, "g1", {}))
    await transport.publish_batch(entries)
    p = partition_for("g1", 2)
    got = await fetch_all(transport, "speed", p, 5)
    assert [value(ev, transport)["i"] for ev in got] == [0, 1, 2, 3, 4]
    assert got[0].headers == {"trace_id": "t"}
    other = await transport.fetch("other", "speed", p, 10, 1.0)
    assert [value(ev, transport)["i"] for ev in other] == [99]


async def test_a_single_process_owns_what_it_reads(transport: Transport) -> None:
    await transport.publish("frames", {"i": 0}, key="g1")
    p = partition_for("g1", 2)
    await fetch_all(transport, "speed", p, 1)
    assert transport.owns("frames", "speed", p)
    assert transport.assignment("frames", "speed", p) in (0, 1)


async def refresh(log: Transport) -> None:
    refresher = getattr(log, "refresh", None)
    if refresher is not None:
        await refresher()
