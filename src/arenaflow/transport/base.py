"""The transport seam: a partitioned, replayable event log with consumer groups and acks.

Semantics every backend keeps:

* A topic has a fixed number of partitions; an event's partition comes from a stable hash of its
  key, so one key always lands in one partition and is delivered in publish order.
* Delivery is at-least-once: a consumer group reads from its committed offset; what it fetched but
  did not ack is delivered again after :meth:`Transport.rewind` (a restart or a failover).
* Retention is bounded. Events every registered group has committed may be trimmed; when a
  partition is full of uncommitted events, publishing waits (``publish``) or raises
  :class:`~arenaflow.errors.BackpressureError` (``publish_nowait``). Nothing is dropped silently.
* Backends shared by several processes (``redis``) give each partition of a group to one process
  at a time (a lease): :meth:`Transport.owns` and :meth:`Transport.assignment` say which and
  since when, and writes made on behalf of a partition carry a :class:`Fence`, so a process
  that lost the partition (paused past its lease) cannot write after the new owner; it gets
  :class:`~arenaflow.errors.PartitionLost` instead. A single-process backend owns everything.

Example:
    >>> import asyncio
    >>> from arenaflow.transport.memory import MemoryTransport
    >>> async def main():
    ...     log = MemoryTransport(default_partitions=1)
    ...     log.register_group("tracking", "speed")
    ...     await log.publish("tracking", {"x": 1.0}, key="g1")
    ...     [event] = await log.fetch("tracking", "speed", 0, max_events=10, timeout_s=0.1)
    ...     await log.ack("tracking", "speed", 0, [event.offset])
    ...     return event.value, log.lag("tracking", "speed")
    >>> asyncio.run(main())
    ({'x': 1.0}, 0)
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from arenaflow.errors import BackpressureError
from arenaflow.events import Event


def partition_for(key: str | None, partitions: int) -> int:
    """Stable partition of ``key`` (CRC-32, identical in every process, unlike ``hash``)."""
    if key is None or partitions == 1:
        return 0
    return zlib.crc32(key.encode()) % partitions


#: One event to append: (topic, value, key, headers).
Entry = tuple[str, Any, str | None, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledgement to make together with a publish (:meth:`Transport.publish_batch`)."""

    topic: str
    group: str
    partition: int
    offsets: Sequence[int]


@dataclass(frozen=True, slots=True)
class Fence:
    """A lease the writer must still hold when its write lands.

    Backends that keep leases check it atomically with the write; others ignore it.

    Attributes:
        key: Where the lease lives (a backend's own name for it).
        token: The holder's token for this tenure of the lease.
    """

    key: str
    token: str


class Transport(ABC):
    """Abstract event log. Backends: ``memory`` (embedded default), ``redis``."""

    name: str = "abstract"
    #: How values travel: None, as the objects published (in process); "msgpack", as msgpack
    #: bytes that the consumer decodes (with its trigger's schema when it has one).
    codec: ClassVar[str | None] = None

    async def start(self) -> None:  # noqa: B027 - optional lifecycle hook
        """Connect or allocate resources; called once before use."""

    async def aclose(self) -> None:  # noqa: B027 - optional lifecycle hook
        """Release resources."""

    @abstractmethod
    def partitions(self, topic: str) -> int:
        """Number of partitions of ``topic`` (created with the default count on first use)."""

    @abstractmethod
    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        """Declare ``topic`` with ``partitions`` partitions (idempotent; counts never change)."""

    @abstractmethod
    def register_group(self, topic: str, group: str) -> None:
        """Register consumer ``group`` on ``topic``; retention keeps what it did not read."""

    @abstractmethod
    async def publish(
        self, topic: str, value: Any, key: str | None = None, headers: dict[str, str] | None = None
    ) -> Event:
        """Append an event, waiting for room when the partition is full."""

    def publish_nowait(
        self, topic: str, value: Any, key: str | None = None, headers: dict[str, str] | None = None
    ) -> Event:
        """Append an event without waiting; raise BackpressureError when there is no room.

        Backends that cannot append synchronously raise NotImplementedError.
        """
        raise NotImplementedError

    def publish_many_nowait(
        self, topic: str, values: list[Any], key: str | None, headers: dict[str, str]
    ) -> int:
        """Append events with one key and the same headers, in order, as many as there is room
        for without waiting; return how many. The headers dict is shared by the events.

        Backends that cannot append synchronously raise NotImplementedError.
        """
        done = 0
        for value in values:
            try:
                self.publish_nowait(topic, value, key, headers)
            except BackpressureError:
                break
            done += 1
        return done

    @abstractmethod
    async def fetch(
        self, topic: str, group: str, partition: int, max_events: int, timeout_s: float
    ) -> list[Event]:
        """Return up to ``max_events`` undelivered events, waiting up to ``timeout_s`` for one."""

    @abstractmethod
    async def ack(self, topic: str, group: str, partition: int, offsets: Iterable[int]) -> None:
        """Mark events as processed; the group's committed offset advances over contiguous acks."""

    @abstractmethod
    async def rewind(self, topic: str, group: str, partition: int) -> None:
        """Deliver every fetched-but-unacked event again (after a restart or a failover)."""

    @abstractmethod
    async def seek(self, topic: str, group: str, partition: int, offset: int) -> None:
        """Replay: make ``offset`` the next event the group receives (and its committed offset)."""

    @abstractmethod
    def lag(self, topic: str, group: str) -> int:
        """Events published but not yet acked by ``group``, over all partitions."""

    @abstractmethod
    def end_offset(self, topic: str, partition: int) -> int:
        """Offset the next event published to ``partition`` will get."""

    # -- sharing partitions between processes (single-process backends own everything) --------
    def owns(self, topic: str, group: str, partition: int) -> bool:
        """Whether this process holds ``partition`` of ``topic`` for ``group`` now."""
        return True

    def assignment(self, topic: str, group: str, partition: int) -> int:
        """Tenure of this process on the partition: 0 for a backend that never hands
        partitions between processes, else a number that changes whenever this process
        (re)acquires it, so state kept in memory can be rebuilt."""
        return 0

    def expect_rebuild(self, topic: str, group: str) -> None:  # noqa: B027 - optional hook
        """``group`` rebuilds in-memory state from ``topic``'s history whenever this process
        takes a partition (:meth:`assignment` changes); until it calls :meth:`rebuilt`, the
        partition is not :meth:`owns`."""

    def rebuilt(self, topic: str, group: str, partition: int) -> None:  # noqa: B027
        """``group`` has rebuilt its state of ``partition`` (see :meth:`expect_rebuild`)."""

    def rebuild_end(self, topic: str, group: str, partition: int) -> int:
        """Below this offset everything was acknowledged when this process took the partition:
        what a rebuild replays."""
        return 0

    def fence(self, topic: str, group: str, partition: int) -> Fence | None:
        """The fence for writes made on behalf of the partition (None: nothing to check).

        Raises:
            PartitionLost: this process no longer holds the partition.
        """
        return None

    async def publish_batch(
        self, entries: Sequence[Entry], fence: Fence | None = None, ack: Ack | None = None
    ) -> None:
        """Append ``entries`` in order (in one round trip where the backend can), with a
        ``fence`` only while it holds, then make ``ack`` (atomically with the entries where the
        backend can: a batch's outputs and its acknowledgement land together or not at all).

        Raises:
            PartitionLost: the fence no longer holds; nothing was appended.
        """
        for topic, value, key, headers in entries:
            await self.publish(topic, value, key, headers)
        if ack is not None:
            await self.ack(ack.topic, ack.group, ack.partition, ack.offsets)

    async def history(
        self, topic: str, partition: int, start: int, end: int, max_events: int
    ) -> list[Event]:
        """Retained events of ``partition`` with ``start <= offset < end``, oldest first, at
        most ``max_events`` (replays that rebuild state; no group is involved)."""
        raise NotImplementedError(f"the {self.name} transport keeps no readable history")
