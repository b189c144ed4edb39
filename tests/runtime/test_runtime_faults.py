"""The runtime's own failures (a backend outage mid-batch) and publishing before start."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable, Mapping
from typing import Any

import pytest

from arenaflow import ConfigError, StateError, TransportError, stream
from arenaflow.errors import PartitionLost
from arenaflow.state.base import WatermarkKey
from arenaflow.state.memory import MemoryState
from arenaflow.transport.memory import MemoryTransport

from .conftest import dead_letters, make_app, wait_until


class FlakyState(MemoryState):
    """Memory state whose commits fail ``failures`` times: a state backend outage."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def commit(
        self,
        namespace: str,
        writes: Mapping[Hashable, Any],
        watermarks: Mapping[WatermarkKey, int],
        fence: Any = None,
    ) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StateError("state backend unavailable")
        await super().commit(namespace, writes, watermarks, fence)


async def test_backend_outage_holds_the_lane_and_loses_nothing() -> None:
    state = FlakyState(failures=3)
    app = make_app(state=state)
    applied: list[int] = []

    @app.function(stream("frames", key="game"), batch_size=5)
    async def count(events, ctx):
        for ev in events:
            ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1
        applied.extend(ev.value["n"] for ev in events)

    for n in range(20):
        app.publish("frames", {"game": "g1", "n": n})
    async with app:
        await app.drain(timeout=10)
    assert state.failures == 0
    assert state.get("count", "g1") == 20  # every frame counted once despite the outage
    # The failed batch was retried before any later one: order per key holds.
    firsts = [n for i, n in enumerate(applied) if n not in applied[:i]]
    assert firsts == list(range(20))
    assert app.metrics("count").dead_lettered == 0


class DeadLetterOutage(MemoryTransport):
    """Publishing a dead letter fails once (the backend is down for a moment)."""

    def __init__(self) -> None:
        super().__init__(default_partitions=1)
        self.failures = 1

    async def publish(self, topic: str, value: Any, key: str | None = None, headers: Any = None):  # type: ignore[no-untyped-def]
        if topic.endswith(".dlq") and self.failures:
            self.failures -= 1
            raise TransportError("dead-letter topic unavailable")
        return await super().publish(topic, value, key, headers)


class WatermarkOutage(MemoryState):
    """Reading a watermark fails once, once armed."""

    armed = False

    def watermark(self, namespace: str, wkey: WatermarkKey) -> int:
        if self.armed:
            self.armed = False
            raise StateError("state backend unavailable")
        return super().watermark(namespace, wkey)


async def test_a_lane_outlives_failures_while_it_retries_a_batch() -> None:
    """The retry of a batch the runtime failed on (here: its dead letter could not be
    published) checks what was applied meanwhile; a failure there too must not end the lane,
    or its partition's reader would wait forever for room the lane never makes."""
    state = WatermarkOutage()
    app = make_app(transport=DeadLetterOutage(), state=state)
    done: list[int] = []

    @app.function(stream("frames", key="game"), batch_size=1, max_retry_attempts=0)
    async def count(events, ctx):
        for ev in events:
            if ev.value["poison"]:
                state.armed = True  # the retry's watermark read fails too
                raise ValueError("poison")
            done.append(ev.value["n"])

    async with app:
        await app.publish("frames", {"game": "g1", "n": 0, "poison": True})
        for n in range(1, 30):
            await app.publish("frames", {"game": "g1", "n": n, "poison": False})
        await app.drain(timeout=10)
    assert done == list(range(1, 30))
    assert [letter.value["n"] for letter in dead_letters(app, "count")] == [0]


class LosesItsPartitionOnce(MemoryTransport):
    """The next fetch, once armed, says another process took the partition over."""

    def __init__(self) -> None:
        super().__init__(default_partitions=1)
        self.armed = False

    async def fetch(
        self, topic: str, group: str, partition: int, max_events: int, timeout_s: float
    ):  # type: ignore[no-untyped-def]
        if self.armed:
            self.armed = False
            raise PartitionLost(f"{topic}[{partition}] was taken over")
        return await super().fetch(topic, group, partition, max_events, timeout_s)


async def test_a_lane_that_swallows_a_cancellation_does_not_stall_its_partition() -> None:
    """A reader whose tenure ends cancels its lanes and waits for them; a lane inside a client
    library that turned the cancellation into something it recovers from is asked again,
    so the reader starts afresh instead of waiting for it forever."""
    transport = LosesItsPartitionOnce()
    app = make_app(transport=transport)
    done: list[int] = []

    @app.function(stream("frames", key="game"), batch_size=1)
    async def count(events, ctx):
        for ev in events:
            if ev.value["n"] == 0:
                transport.armed = True
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(5)  # as a library whose read timed out then would
            done.append(ev.value["n"])

    async with app:
        await app.publish("frames", {"game": "g1", "n": 0})
        await wait_until(lambda: transport.armed)
        await wait_until(lambda: not transport.armed)  # the tenure ended mid-invocation
        for n in range(1, 5):  # read only by a reader that started afresh
            await app.publish("frames", {"game": "g1", "n": n})
        await app.drain(timeout=10)
    assert sorted(set(done)) == list(range(5))


async def test_publish_before_start_from_async_code_waits_instead_of_raising() -> None:
    app = make_app(retention=2)
    seen: list[int] = []

    @app.function(stream("frames"), batch_size=10)
    async def record(events, ctx):
        seen.extend(ev.value for ev in events)

    receipts = [app.publish("frames", n) for n in range(4)]  # room for 2: the rest wait in line
    assert [r.done for r in receipts] == [True, True, False, False]
    async with app:
        for receipt in receipts:
            await receipt
        await app.drain(timeout=5)
    assert seen == [0, 1, 2, 3]


def test_option_errors_without_a_name_say_where() -> None:
    app = make_app()
    with pytest.raises(ConfigError, match=r"^app\.function\(\): batch_size must be"):
        app.function(stream("t"), batch_size=0)
