"""In-process event log: the embedded default transport and the test double.

It is confined to one asyncio event loop (no locks on the hot path); other threads publish through
the loop (see :meth:`arenaflow.App.publish`). Publishing and fetching are list appends and slices.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from arenaflow.errors import BackpressureError, OffsetOutOfRange, TransportError
from arenaflow.events import Event
from arenaflow.transport.base import Transport, partition_for


class _Group:
    __slots__ = ("acked", "committed", "next", "redeliver_end")

    def __init__(self, start: int) -> None:
        self.next = start  # next offset to deliver
        self.committed = start  # every offset below this is acked
        self.acked: set[int] = set()  # acked offsets at or above ``committed``
        # After a rewind, offsets below this are delivered again unless acked out of order.
        self.redeliver_end = start


class _Partition:
    __slots__ = ("base", "data_waiters", "events", "groups", "room_waiters")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.base = 0  # offset of events[0]
        self.groups: dict[str, _Group] = {}
        self.data_waiters: list[asyncio.Future[None]] = []
        self.room_waiters: list[asyncio.Future[None]] = []

    @property
    def end(self) -> int:
        return self.base + len(self.events)

    def min_committed(self) -> int:
        if not self.groups:
            return self.end
        return min(g.committed for g in self.groups.values())


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for fut in waiters:
        if not fut.done():
            fut.set_result(None)
    waiters.clear()


def _wake_first(waiters: list[asyncio.Future[None]]) -> None:
    while waiters:
        fut = waiters.pop(0)
        if not fut.done():
            fut.set_result(None)
            return


class MemoryTransport(Transport):
    """Partitioned in-memory log.

    Args:
        default_partitions: Partitions of a topic created on first use.
        retention: Events kept per partition. Committed events are trimmed to make room; a
            partition full of uncommitted events applies backpressure to publishers.
    """

    name = "memory"

    def __init__(self, default_partitions: int = 8, retention: int = 100_000) -> None:
        if default_partitions < 1:
            raise ValueError("default_partitions must be >= 1")
        if retention < 1:
            raise ValueError("retention must be >= 1")
        self.default_partitions = default_partitions
        self.retention = retention
        self._topics: dict[str, list[_Partition]] = {}
        self._key_partition: dict[tuple[str, str], int] = {}
        # Groups registered before their topic exists: attached when it is created, so that
        # registering a consumer does not fix the topic's partition count.
        self._early_groups: dict[str, list[str]] = {}

    # -- topics and groups -------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        count = partitions or self.default_partitions
        existing = self._topics.get(topic)
        if existing is not None:
            if partitions is not None and len(existing) != partitions:
                raise TransportError(
                    f"topic {topic!r} already has {len(existing)} partitions, not {partitions}"
                )
            return
        self._topics[topic] = [_Partition() for _ in range(count)]
        for group in self._early_groups.pop(topic, []):
            self.register_group(topic, group)

    def _parts(self, topic: str) -> list[_Partition]:
        parts = self._topics.get(topic)
        if parts is None:
            self.create_topic(topic)
            parts = self._topics[topic]
        return parts

    def partitions(self, topic: str) -> int:
        return len(self._parts(topic))

    def register_group(self, topic: str, group: str) -> None:
        parts = self._topics.get(topic)
        if parts is None:
            self._early_groups.setdefault(topic, []).append(group)
            return
        for part in parts:
            if group not in part.groups:
                # A new group starts at the oldest retained event, like Kafka's "earliest".
                part.groups[group] = _Group(part.base)

    def topics(self) -> list[str]:
        return list(self._topics)

    # -- publishing ---------------------------------------------------------------------------
    def _partition_of(self, topic: str, key: str | None, count: int) -> int:
        if key is None or count == 1:
            return 0
        cache_key = (topic, key)
        p = self._key_partition.get(cache_key)
        if p is None:
            p = partition_for(key, count)
            self._key_partition[cache_key] = p
        return p

    def _make_room(self, part: _Partition) -> bool:
        if len(part.events) < self.retention:
            return True
        # Trim committed events in chunks of a quarter of retention so trimming stays amortised.
        trimmable = part.min_committed() - part.base
        if trimmable <= 0:
            return False
        drop = min(trimmable, max(1, self.retention // 4))
        del part.events[:drop]
        part.base += drop
        return True

    def publish_nowait(
        self, topic: str, value: Any, key: str | None = None, headers: dict[str, str] | None = None
    ) -> Event:
        parts = self._parts(topic)
        index = self._partition_of(topic, key, len(parts))
        part = parts[index]
        if part.room_waiters or not self._make_room(part):
            raise BackpressureError(
                f"topic {topic!r} partition {index} is full ({self.retention} unacknowledged "
                "events); await app.publish(...) to wait for room"
            )
        event = Event(
            topic, index, part.base + len(part.events), key, value, headers or {}, time.time()
        )
        part.events.append(event)
        if part.data_waiters:
            _wake(part.data_waiters)
        return event

    def publish_many_nowait(
        self, topic: str, values: list[Any], key: str | None, headers: dict[str, str]
    ) -> int:
        parts = self._parts(topic)
        index = self._partition_of(topic, key, len(parts))
        part = parts[index]
        if part.room_waiters:
            return 0
        room = self.retention - len(part.events)
        if room < len(values) and self._make_room(part):
            room = self.retention - len(part.events)
        if room < len(values):
            values = values[: max(room, 0)]
        if values:
            now = time.time()
            offset = part.base + len(part.events)
            append = part.events.append
            for value in values:
                append(Event(topic, index, offset, key, value, headers, now))
                offset += 1
            if part.data_waiters:
                _wake(part.data_waiters)
        return len(values)

    async def publish(
        self, topic: str, value: Any, key: str | None = None, headers: dict[str, str] | None = None
    ) -> Event:
        parts = self._parts(topic)
        index = self._partition_of(topic, key, len(parts))
        part = parts[index]
        if part.room_waiters or not self._make_room(part):
            # Queue behind earlier blocked publishers (FIFO keeps per-key order), then wait to be
            # woken as the head of the queue when an ack frees room.
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            part.room_waiters.append(fut)
            while True:
                try:
                    await fut
                except BaseException:
                    if fut in part.room_waiters:
                        part.room_waiters.remove(fut)
                    _wake_first(part.room_waiters)
                    raise
                if self._make_room(part):
                    break
                fut = loop.create_future()
                part.room_waiters.insert(0, fut)
        event = Event(
            topic, index, part.base + len(part.events), key, value, headers or {}, time.time()
        )
        part.events.append(event)
        if part.data_waiters:
            _wake(part.data_waiters)
        # Pass the turn on while there is room, counting committed events that can still be
        # trimmed: one ack can free room for many waiters, and only the head is woken by it.
        if part.room_waiters and (
            len(part.events) < self.retention or part.min_committed() > part.base
        ):
            _wake_first(part.room_waiters)
        return event

    # -- consuming ----------------------------------------------------------------------------
    def _group(self, topic: str, group: str, partition: int) -> tuple[_Partition, _Group]:
        part = self._parts(topic)[partition]
        g = part.groups.get(group)
        if g is None:
            raise TransportError(f"consumer group {group!r} is not registered on {topic!r}")
        return part, g

    async def fetch(
        self, topic: str, group: str, partition: int, max_events: int, timeout_s: float
    ) -> list[Event]:
        part, g = self._group(topic, group, partition)
        if g.next >= part.end and timeout_s > 0:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            part.data_waiters.append(fut)
            try:
                await asyncio.wait_for(fut, timeout_s)
            except TimeoutError:
                return []
        if g.next < part.base:  # retention trimmed what this group had not read: cannot happen
            raise OffsetOutOfRange(f"{topic}[{partition}] offset {g.next} < {part.base}")
        start = g.next - part.base
        batch = part.events[start : start + max_events]
        g.next += len(batch)
        if batch and batch[0].offset < g.redeliver_end:
            # Redelivery after a rewind: events acked out of order were processed, skip them.
            acked = g.acked
            batch = [ev for ev in batch if ev.offset not in acked]
            while not batch and g.next < part.end:
                start = g.next - part.base
                more = part.events[start : start + max_events]
                g.next += len(more)
                batch = [ev for ev in more if ev.offset not in acked]
        return batch

    async def ack(self, topic: str, group: str, partition: int, offsets: Iterable[int]) -> None:
        part, g = self._group(topic, group, partition)
        committed = g.committed
        acked = g.acked
        for offset in offsets:
            if offset == committed:
                committed += 1
                while committed in acked:
                    acked.remove(committed)
                    committed += 1
            elif offset > committed:
                acked.add(offset)
        moved = committed != g.committed
        g.committed = committed
        if moved and part.room_waiters:
            _wake_first(part.room_waiters)

    async def rewind(self, topic: str, group: str, partition: int) -> None:
        _, g = self._group(topic, group, partition)
        # Only the unacked are delivered again: events acked out of order (a faster lane) keep
        # their acks, as Redis Streams' pending list does. Clearing them would redeliver
        # processed events and overstate the lag.
        g.redeliver_end = max(g.redeliver_end, g.next)
        g.next = g.committed

    async def seek(self, topic: str, group: str, partition: int, offset: int) -> None:
        part, g = self._group(topic, group, partition)
        if offset < part.base or offset > part.end:
            raise OffsetOutOfRange(
                f"{topic}[{partition}] holds offsets {part.base}..{part.end}, not {offset}"
            )
        g.next = g.committed = offset
        g.acked.clear()

    def lag(self, topic: str, group: str) -> int:
        total = 0
        for part in self._parts(topic):
            g = part.groups.get(group)
            if g is not None:
                total += part.end - g.committed - len(g.acked)
        return total

    def end_offset(self, topic: str, partition: int) -> int:
        return self._parts(topic)[partition].end

    def committed(self, topic: str, group: str, partition: int) -> int:
        """The group's committed offset (every event below it is acked)."""
        return self._group(topic, group, partition)[1].committed

    async def history(
        self, topic: str, partition: int, start: int, end: int, max_events: int
    ) -> list[Event]:
        part = self._parts(topic)[partition]
        first = max(start, part.base) - part.base
        last = min(end, part.end) - part.base
        return part.events[first : min(last, first + max_events)] if last > first else []

    def read(self, topic: str, partition: int, start: int = 0) -> list[Event]:
        """Every retained event of a partition from ``start`` (tests, DLQ inspection)."""
        part = self._parts(topic)[partition]
        return part.events[max(0, start - part.base) :]
