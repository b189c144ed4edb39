"""The Redis transport: topic partitions as Redis Streams, shared by every process of a fleet.

Layout (one Redis server; key prefix ``arenaflow``, ``?prefix=`` in the URL to change it)::

    {prefix}:stream:{topic}:{p}   one stream per partition; entry ids 0-<offset + 1>, so offsets
                                  stay dense integers from 0
    {prefix}:topic:{topic}        hash: ``partitions`` (every process must agree)
    {prefix}:lease:{p}            which process consumes partition p of every topic
    {prefix}:epoch:{p}            counter: each tenure of a lease has its own token
    {prefix}:members              sorted set: live consumers, scored by expiry (ms)

Consumer groups are the functions (a group per function name, created on every partition when
the transport starts, from the start of the stream like the memory transport's "earliest");
consumers are processes (``worker_id``).

Ownership. Partition p of every topic, for every group, is read by one process at a time: the
holder of lease p (``SET NX PX``), renewed every quarter of ``lease_ms``. Topics are partitioned
by the same key (a game), so a game's frames, samples, events and metrics, and the state the
functions keep of it in memory, are all one process's (co-partitioning, as Kafka Streams'
tasks). A process takes free partitions up to its fair share (partitions / live members,
rounded up) and hands extras back when members join: it stops reading them, waits for what it
fetched to be acknowledged, then deletes the lease.
Reads, acknowledgements and the outputs of an invocation go through Lua scripts
(:mod:`arenaflow.transport.redis_scripts`) that first check the lease token, so a process
paused past its lease (GC, SIGSTOP, a partition of the network) can neither read, acknowledge
nor publish for a partition someone else took over: it gets
:class:`~arenaflow.errors.PartitionLost`.

Takeover. The new holder claims every pending entry of each group (``XAUTOCLAIM``, any
consumer) and hands them out again one at a time, oldest first, each claimed (``XCLAIM``, which
counts the delivery) only when the previous one was acknowledged: a poison event that kills
its worker is isolated, and its delivery count feeds the dispatcher's dead-letter decision.
Then it reads new entries (``XREADGROUP >``). Groups that rebuild in-memory state by replay
(``expect_rebuild``) keep the partition from speaking (``owns`` is false) until they are done,
so nothing half-rebuilt is published.

Retention and backpressure. Entries every group has acknowledged beyond the newest
``retention`` of a partition are trimmed (``XTRIM MINID``); unacknowledged entries never are.
When a partition holds ``retention`` unacknowledged entries, ``publish`` waits for room.

Outages. Every call is retried with back-off (0.05 s doubling to 2 s) while Redis is
unreachable: fetches return nothing, acks and publishes wait; leases that lapse meanwhile are
taken again. Redis persistence decides what survives a Redis restart (see the README).

Example:
    >>> RedisTransport("redis://127.0.0.1:6379/0?prefix=demo").stream_key("tracking", 3)
    'demo:stream:tracking:3'
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import msgspec

from arenaflow.errors import ConfigError, MissingExtra, PartitionLost, TransportError
from arenaflow.events import Event
from arenaflow.transport.base import Ack, Entry, Fence, Transport, partition_for
from arenaflow.transport.redis_scripts import ROW, SCRIPTS, runs

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError, ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover (the extra is installed in development)
    raise MissingExtra("redis", "redis") from exc

log = logging.getLogger(__name__)

T = TypeVar("T")

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
_BACKOFF_START_S, _BACKOFF_MAX_S = 0.05, 2.0
_REFRESH_S = 0.25  # lag and stream ends
_TRIM_EVERY = 4  # refreshes between trims
_ACQUIRE_POLL_S = 0.1  # a reader without its partition looks again this often
_MAX_CONNECTIONS = 4096
_LOOP_STALL_S = 10.0  # a loop that has not ticked for this long is hung: stop renewing

_REDELIVER_MAX = 1000  # pending entries redelivered at once, at most


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _offset(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[1]) - 1


def _entry_id(offset: int) -> str:
    return f"0-{offset + 1}"


def _enc_hook(obj: Any) -> Any:
    item = getattr(obj, "item", None)  # numpy scalars
    if callable(item):
        return item()
    raise TypeError(f"cannot send a {type(obj).__name__} over the redis transport")


_encode = msgspec.msgpack.Encoder(enc_hook=_enc_hook).encode


def _event(topic: str, partition: int, entry: Any, deliveries: int) -> Event:
    """An Event from a stream entry ``[id, [field, value, ...]]`` (the value stays msgpack)."""
    entry_id, raw = entry[0], entry[1]
    if raw.__class__ is list and len(raw) >= 6 and raw[0] == b"v" and raw[2] == b"t":
        # As this transport writes them (v, t, h[, k]): read by position, no dict per entry.
        key = raw[7] if len(raw) == 8 and raw[6] == b"k" else None
        return Event(
            topic,
            partition,
            _offset(entry_id),
            key.decode() if key is not None else None,
            raw[1],
            _decode_headers(raw[5]),
            float(raw[3]),
            deliveries,
        )
    fields = dict(zip(raw[::2], raw[1::2], strict=True)) if isinstance(raw, list) else raw
    key = fields.get(b"k")
    return Event(
        topic,
        partition,
        _offset(entry_id),
        key.decode() if key is not None else None,
        fields[b"v"],
        _decode_headers(fields[b"h"]),
        float(fields[b"t"]),
        deliveries,
    )


_headers_decoder = msgspec.msgpack.Decoder(dict[str, str]).decode
_headers_seen: dict[bytes, dict[str, str]] = {}


def _decode_headers(raw: bytes) -> dict[str, str]:
    """Headers decoded once per distinct encoding (a batch's events share theirs, so an Event's
    headers are shared with others: read-only, as documented)."""
    headers = _headers_seen.get(raw)
    if headers is None:
        if len(_headers_seen) > 4096:
            _headers_seen.clear()
        headers = _headers_seen[raw] = _headers_decoder(raw)
    return headers


class _Lease:
    """This process's hold on one partition index: that partition of every topic, for every
    group (topics are co-partitioned by key, so a game's whole pipeline is one process's)."""

    __slots__ = (
        "draining",
        "draining_since",
        "epoch",
        "generation",
        "index",
        "key",
        "rebuilding",
        "token",
        "valid_until",
    )

    def __init__(self, index: int, key: str) -> None:
        self.index, self.key = index, key
        self.token: str | None = None
        self.epoch = 0  # of this process's latest tenure
        self.generation = 0  # changes when the continuity of this process's tenure breaks
        self.valid_until = 0.0  # monotonic: the lease surely holds until then
        self.draining = False  # handed back to the fleet once what was fetched is acked
        self.draining_since = 0.0  # monotonic
        #: (topic, group) whose in-memory state is being rebuilt: nobody speaks for it yet.
        self.rebuilding: set[tuple[str, str]] = set()

    def held(self) -> bool:
        return self.token is not None and time.monotonic() < self.valid_until


class _Partition:
    """This process's view of one partition of one topic for one group."""

    __slots__ = (
        "caught_up",
        "claimed",
        "gate",
        "generation",
        "group",
        "index",
        "inflight",
        "lost",
        "ramp",
        "rebuild_end",
        "redeliver",
        "stream",
        "topic",
        "unanswered",
    )

    def __init__(self, topic: str, group: str, index: int, stream: str) -> None:
        self.topic, self.group, self.index, self.stream = topic, group, index, stream
        self.claimed = 0  # the lease epoch this group's pending entries were claimed in
        self.generation = 0  # the lease's generation then
        self.lost = False  # lost while held: fetch raises PartitionLost until rewind()
        self.redeliver: list[tuple[bytes, int]] | None = None  # (id, deliveries so far)
        self.gate: int | None = None  # last offset of the redelivered events awaiting acks
        self.ramp = 1  # how many pending entries the next redelivery may take at once
        #: The last entry id the group read when it had read everything (else None).
        self.caught_up: bytes | None = None
        self.unanswered = False  # a fetch failed: it may have taken entries it never saw
        self.inflight: set[int] = set()  # fetched, not yet acked
        self.rebuild_end = 0  # below it, all was acknowledged when the partition was taken

    def forget_reads(self) -> None:
        """Nothing fetched is in flight or queued any more: what is pending in Redis comes
        again by the next claim."""
        self.redeliver, self.gate, self.caught_up, self.unanswered = None, None, None, False
        self.inflight.clear()


class RedisTransport(Transport):
    """Redis Streams, consumer groups and leases (see the module doc).

    Args:
        url: ``redis://[:password@]host:port/db`` with optional query parameters ``prefix``
            (key prefix, default ``arenaflow``) and ``lease_ms`` (default 1000: a dead
            process's partitions are taken over within about that long).
        default_partitions: Partitions of a topic created on first use (``ARENAFLOW_PARTITIONS``;
            must be the same in every process).
        retention: Acknowledged entries kept per partition; also how many unacknowledged ones
            a partition holds before publishing waits.
        worker_id: This process's consumer name (default: host, pid and a random suffix).
    """

    name = "redis"
    codec = "msgpack"

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        default_partitions: int = 8,
        retention: int = 100_000,
        worker_id: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.prefix = query.pop("prefix", "arenaflow")
        try:
            self.lease_ms = int(query.pop("lease_ms", "1000"))
        except ValueError:
            raise ConfigError(f"redis transport: lease_ms must be an integer in {url!r}") from None
        if self.lease_ms < 100:
            raise ConfigError(f"redis transport: lease_ms must be >= 100, got {self.lease_ms}")
        if query:
            raise ConfigError(f"redis transport: unknown URL parameter(s) {sorted(query)}")
        if default_partitions < 1 or retention < 1:
            raise ConfigError("redis transport: partitions and retention must be >= 1")
        self.url = urlunsplit(parts._replace(query=""))
        self.default_partitions = default_partitions
        self.retention = retention
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        #: Called (by a dispatcher) with (topic, group, partition) when what a
        #: ``replay_on_takeover`` function keeps in memory for a partition it takes back ran
        #: ahead of what was acknowledged, so no replay can rebuild it: ``arenaflow worker``
        #: restarts the process; the default logs.
        self.on_stale: Callable[[str, str, int], None] = self._log_stale
        self._redis: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._topics: dict[str, int] = {}
        self._groups: dict[str, set[str]] = {}  # topic -> groups this process consumes
        self._parts: dict[tuple[str, str, int], _Partition] = {}
        self._held: dict[int, int] = {}  # last epoch held, per partition index
        self._ready_streams: set[tuple[str, str, int]] = set()  # groups created
        self._checked_topics: set[str] = set()
        self._lag: dict[tuple[str, str], int] = {}
        self._delta: dict[tuple[str, str], int] = {}  # local changes since the last refresh
        self._ends: dict[tuple[str, int], int] = {}
        self._full: set[tuple[str, int]] = set()
        self._members = 1  # live consumers in the fleet
        self._leases: dict[int, _Lease] = {}
        self._rebuilds: set[tuple[str, str]] = set()
        self._keeper: asyncio.Task[None] | None = None
        #: Renews the leases and the membership from a thread of its own, so a loop kept busy
        #: (a replay after a takeover, a burst) never lets them lapse; it stops renewing when
        #: the loop has not ticked for _LOOP_STALL_S (a hung process gives its partitions up).
        self._renewer: threading.Thread | None = None
        self._loop_alive = 0.0
        self._renew_failed: set[tuple[int, str]] = set()  # (index, token) the renewer lost
        self._keeping = False
        self._outbox: list[tuple[Entry, asyncio.Future[Event]]] = []
        self._flusher: asyncio.Task[None] | None = None

    # -- naming -----------------------------------------------------------------------------------
    def stream_key(self, topic: str, partition: int) -> str:
        return f"{self.prefix}:stream:{topic}:{partition}"

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._redis is not None:
            return
        self._redis = aioredis.Redis.from_url(
            self.url,
            # A blocking read per (function, partition) holds a connection each: redis-py's
            # default pool of 100 runs out in a worker of a few functions on 16 partitions.
            max_connections=_MAX_CONNECTIONS,
            # No silent retries: a script whose reply was lost must not run again unseen (a
            # read would take more entries, a publish append twice); this transport retries
            # knowing what each command did.
            retry=AsyncRetry(NoBackoff(), 0),
            decode_responses=False,
            socket_keepalive=True,
            socket_connect_timeout=2.0,
            health_check_interval=10,
        )
        for name, source in SCRIPTS.items():
            self._scripts[name] = self._redis.register_script(source)
        await self._retry(self._redis.ping)
        for topic in list(self._topics):
            await self._check_topic(topic)
        # Every group on every partition from the start: lag (and so autoscalers such as KEDA)
        # and retention see a group before its first reader does.
        for topic, groups in list(self._groups.items()):
            for group in groups:
                for p in range(self.partitions(topic)):
                    await self._ensure_group(topic, group, p)
        await self._heartbeat()
        self._keeping = True
        self._loop_alive = time.monotonic()
        self._keeper = asyncio.get_running_loop().create_task(self._keep(), name="redis-keeper")
        self._renewer = threading.Thread(
            target=self._renew_forever, name="redis-lease-renewer", daemon=True
        )
        self._renewer.start()

    async def aclose(self) -> None:
        self._keeping = False
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.wait({self._keeper}, timeout=2.0)
            self._keeper = None
        if self._renewer is not None:
            await asyncio.to_thread(self._renewer.join, 2.0)
            self._renewer = None
        redis = self._redis
        if redis is None:
            return
        try:
            for lease in self._leases.values():  # hand partitions back at once
                if lease.token is not None:
                    await self._scripts["release"](keys=[lease.key], args=[lease.token])
                    lease.token = None
            await redis.zrem(f"{self.prefix}:members", self.worker_id)
        except (RedisError, *_UNREACHABLE):
            log.warning("redis transport: could not release leases on close", exc_info=True)
        await redis.aclose()
        self._redis = None

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise TransportError("the redis transport is not started (await transport.start())")
        return self._redis

    async def _retry(self, call: Callable[[], Awaitable[T]], *, attempts: int = 0) -> T:
        """``call()``, retried with back-off while Redis is unreachable (forever by default)."""
        delay, tries = _BACKOFF_START_S, 0
        while True:
            try:
                return await call()
            except _UNREACHABLE as exc:
                tries += 1
                if attempts and tries >= attempts:
                    raise TransportError(f"redis at {self.url} is unreachable: {exc}") from exc
                log.warning("redis transport: %s unreachable (%s); retrying", self.url, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)
            except ResponseError as exc:
                raise TransportError(f"redis refused a command: {exc}") from exc

    # -- topics and groups ------------------------------------------------------------------------
    def partitions(self, topic: str) -> int:
        count = self._topics.get(topic)
        if count is None:
            count = self._topics[topic] = self.default_partitions
        return count

    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        count = partitions or self.default_partitions
        known = self._topics.get(topic)
        if known is not None and partitions is not None and known != partitions:
            raise TransportError(
                f"topic {topic!r} already has {known} partitions, not {partitions}"
            )
        self._topics.setdefault(topic, count)

    def register_group(self, topic: str, group: str) -> None:
        self.partitions(topic)
        self._groups.setdefault(topic, set()).add(group)

    async def _check_topic(self, topic: str) -> None:
        """Record the topic's partition count in Redis, or check it against the recorded one."""
        if topic in self._checked_topics:
            return
        count = self.partitions(topic)
        meta = f"{self.prefix}:topic:{topic}"
        redis = self.redis
        await self._retry(lambda: redis.hsetnx(meta, "partitions", count))
        recorded = int(await self._retry(lambda: redis.hget(meta, "partitions")) or count)
        if recorded != count:
            raise ConfigError(
                f"topic {topic!r} has {recorded} partitions in redis, this process expects "
                f"{count}: set ARENAFLOW_PARTITIONS={recorded} (the same on every process)"
            )
        self._checked_topics.add(topic)

    async def _ensure_group(self, topic: str, group: str, partition: int) -> None:
        if (topic, group, partition) in self._ready_streams:
            return
        await self._check_topic(topic)
        stream = self.stream_key(topic, partition)
        try:
            await self._retry(
                lambda: self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            )
        except TransportError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready_streams.add((topic, group, partition))

    def _part(self, topic: str, group: str, partition: int) -> _Partition:
        key = (topic, group, partition)
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = _Partition(
                topic, group, partition, self.stream_key(topic, partition)
            )
        return part

    # -- publishing -------------------------------------------------------------------------------
    async def publish(
        self, topic: str, value: Any, key: str | None = None, headers: dict[str, str] | None = None
    ) -> Event:
        # Group commit: publishes made while one is in flight go out together, in call order
        # (one flusher), so concurrent publishers keep their order and share round trips.
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._outbox.append(((topic, value, key, headers or {}), fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox[:500], self._outbox[500:]
            try:
                events = await self._append([entry for entry, _ in batch], None)
            except BaseException as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for event, (_, fut) in zip(events, batch, strict=True):
                if not fut.done():
                    fut.set_result(event)

    async def publish_batch(
        self, entries: Sequence[Entry], fence: Fence | None = None, ack: Ack | None = None
    ) -> None:
        # In one script (atomic) when it fits: outputs and acknowledgement land together.
        if ack is not None and len(entries) <= 500:
            await self._append(entries, fence, ack)
            return
        for start in range(0, len(entries), 500):  # bounded script calls
            await self._append(entries[start : start + 500], fence)
        if ack is not None:
            await self.ack(ack.topic, ack.group, ack.partition, ack.offsets)

    async def _append(
        self, entries: Sequence[Entry], fence: Fence | None, ack: Ack | None = None
    ) -> list[Event]:
        if not entries and ack is None:
            return []
        streams: list[str] = []
        where: dict[str, int] = {}
        args: list[Any] = [fence.token if fence else ""]
        if ack is None:
            args += ["", ""]
        else:
            args += [ack.group, runs(ack.offsets)]
        placed: list[tuple[str, int, str | None, dict[str, str], float, Any]] = []
        now = time.time()
        rows: list[bytes] = []
        heads: list[bytes] = []
        head_of: dict[int, int] = {}  # id(headers) -> index (a publish_many's events share one)
        row = ROW.pack
        # (topic, key) -> partition and stream index, looked up once for a run of one.
        route: tuple[str, str | None, int, int] = ("", None, 0, 0)
        for topic, value, key, headers in entries:
            if route[0] != topic or route[1] != key:
                if topic not in self._checked_topics:
                    await self._check_topic(topic)
                p = partition_for(key, self.partitions(topic))
                while (topic, p) in self._full:  # noqa: ASYNC110 (backpressure: consumers catch up)
                    await asyncio.sleep(_REFRESH_S)
                stream = self.stream_key(topic, p)
                index = where.get(stream)
                if index is None:
                    streams.append(stream)
                    index = where[stream] = len(streams) + 2  # KEYS[1] fence, KEYS[2] acked
                route = (topic, key, p, index)
            p, index = route[2], route[3]
            try:
                payload = _encode(value)
            except TypeError as exc:
                raise TransportError(f"cannot publish to {topic!r}: {exc}") from exc
            head = head_of.get(id(headers))
            if head is None:
                head = head_of[id(headers)] = len(heads)
                heads.append(_encode(headers))
            kb = key.encode() if key is not None else b""
            if len(kb) > 0xFFFF:
                raise TransportError(f"cannot publish to {topic!r}: a key of {len(kb)} bytes")
            rows += (row(index, head, len(kb), len(payload)), kb, payload)
            placed.append((topic, p, key, headers, now, value))
        args += [repr(now), len(heads), *heads, b"".join(rows)]
        acked = self.stream_key(ack.topic, ack.partition) if ack is not None else ""
        keys = [fence.key if fence else "", acked, *streams]
        script = self._scripts["publish"]
        ids = await self._retry(lambda: script(keys=keys, args=args), attempts=12)
        if ids == -1:
            if ack is not None:
                await self._lose(self._lease(ack.partition))
            raise PartitionLost(f"{fence.key if fence else ''}: lost before its outputs landed")
        if ack is not None:
            self._acked(self._part(ack.topic, ack.group, ack.partition), ack.offsets)
        events = []
        for entry_id, (topic, p, key, headers, ts, value) in zip(ids, placed, strict=True):
            offset = _offset(entry_id)
            events.append(Event(topic, p, offset, key, value, headers, ts))
            self._ends[(topic, p)] = max(self._ends.get((topic, p), 0), offset + 1)
            for group in self._groups.get(topic, ()):
                self._delta[(topic, group)] = self._delta.get((topic, group), 0) + 1
                self._lag[(topic, group)] = self._lag.get((topic, group), 0) + 1
        return events

    # -- ownership --------------------------------------------------------------------------------
    def _lease(self, index: int) -> _Lease:
        lease = self._leases.get(index)
        if lease is None:
            lease = self._leases[index] = _Lease(index, f"{self.prefix}:lease:{index}")
        return lease

    def owns(self, topic: str, group: str, partition: int) -> bool:
        """Held (by its last renewal's clock too), not lost, and not being rebuilt: this
        process speaks for the partition."""
        lease = self._leases.get(partition)
        part = self._parts.get((topic, group, partition))
        return (
            lease is not None
            and lease.held()
            and not lease.rebuilding
            and (part is None or not part.lost)
        )

    def assignment(self, topic: str, group: str, partition: int) -> int:
        # The tenure in which this group last claimed the partition's pending entries (so its
        # rebuild_end is that tenure's): a tenure another group's reader took counts once this
        # group's reader has seen it.
        part = self._parts.get((topic, group, partition))
        return 0 if part is None else part.generation

    def fence(self, topic: str, group: str, partition: int) -> Fence | None:
        lease = self._leases.get(partition)
        part = self._parts.get((topic, group, partition))
        # No clock check here: the scripts a fence guards check the token in Redis, which is
        # what holds. A lapse of the local clock alone (renewals late in an outage) must not
        # drop a batch its reader still counts as in flight.
        if lease is None or lease.token is None or (part is not None and part.lost):
            raise PartitionLost(f"{topic}[{partition}] is not held by {self.worker_id}")
        return Fence(lease.key, lease.token)

    def expect_rebuild(self, topic: str, group: str) -> None:
        """``group`` rebuilds in-memory state from ``topic``'s history when this process takes
        a partition: until it says :meth:`rebuilt`, the partition is not :meth:`owns`."""
        self._rebuilds.add((topic, group))

    def rebuilt(self, topic: str, group: str, partition: int) -> None:
        lease = self._leases.get(partition)
        part = self._parts.get((topic, group, partition))
        # Only once the group has read the partition in the lease's current tenure.
        if lease is not None and part is not None and part.generation == lease.generation:
            lease.rebuilding.discard((topic, group))

    def rebuild_end(self, topic: str, group: str, partition: int) -> int:
        """Offsets below this were all acknowledged when this process took the partition (what
        a rebuild replays)."""
        return self._part(topic, group, partition).rebuild_end

    def _share(self) -> int:
        return math.ceil(self.default_partitions / max(1, self._members))

    async def _acquire(self, lease: _Lease) -> bool:
        """Take the partition index if it is free and within this process's fair share."""
        held = sum(1 for other in self._leases.values() if other.held() and not other.draining)
        if held >= self._share():
            return False
        sent = time.monotonic()
        got = await self._retry(
            lambda: self._scripts["acquire"](
                keys=[lease.key, f"{self.prefix}:epoch:{lease.index}"],
                args=[self.worker_id, self.lease_ms],
            )
        )
        if not got:
            return False
        token, epoch = got[0].decode(), int(got[1])
        lease.token, lease.draining = token, False
        lease.valid_until = sent + self.lease_ms / 1000.0 * 0.9
        previous = self._held.get(lease.index)
        if previous is None or epoch != previous + 1:
            # Someone else held it since this process did (or it never did): what this process
            # keeps in memory for it must be rebuilt before it speaks for it (the dispatchers
            # replay what it missed, or call on_stale where they cannot).
            lease.generation += 1
            lease.rebuilding = {
                (t, g) for t, g in self._rebuilds if lease.index < self.partitions(t)
            }
        self._held[lease.index] = lease.epoch = epoch
        log.info("%s: took partition %d", self.worker_id, lease.index)
        return True

    async def _claim_pending(self, part: _Partition, lease: _Lease) -> None:
        """Move every pending entry of the group to this consumer and queue them for
        redelivery in order, with their delivery counts."""
        redis = self.redis
        await self._ensure_group(part.topic, part.group, part.index)
        token = lease.token
        if token is None:  # lost meanwhile
            raise PartitionLost(f"{part.topic}[{part.index}] was lost while being taken")
        moved = await self._retry(
            lambda: self._scripts["claim_all"](
                keys=[lease.key, part.stream], args=[token, part.group, self.worker_id]
            )
        )
        if moved is None or moved is False:
            await self._lose(lease)
            raise PartitionLost(f"{part.topic}[{part.index}] was taken over")
        pending = await self._pending_here(part)
        groups = await self._retry(lambda: redis.xinfo_groups(part.stream))
        delivered = 0
        for g in groups:
            name = g["name"].decode() if isinstance(g["name"], bytes) else str(g["name"])
            if name == part.group:
                delivered = _offset(_as_bytes(g["last-delivered-id"])) + 1
        part.rebuild_end = _offset(pending[0][0]) if pending else delivered
        log.debug(
            "%s: %s[%d] for %s: %d pending from %d, %d delivered",
            self.worker_id, part.topic, part.index, part.group, len(pending),
            part.rebuild_end, delivered,
        )  # fmt: skip
        part.forget_reads()
        part.redeliver = pending or None
        part.ramp = 1
        part.claimed = lease.epoch
        part.generation = lease.generation

    async def _lose(self, lease: _Lease) -> None:
        """The lease is gone. Until each reader of the index starts afresh (rewind), nothing it
        fetched in the lost tenure can be committed: fence(), ack() and fetch() refuse a lost
        part, even once the lease is taken again."""
        if lease.token is not None:
            log.warning("%s: lost partition %d", self.worker_id, lease.index)
        self._forget(lease)

    def _forget(self, lease: _Lease) -> None:
        """Give the lease up here: its readers start afresh (what they fetched is delivered
        again to the next holder) and nothing fetched in this tenure is committed."""
        lease.token = None
        lease.draining = False
        # Taking it again, even next in line (epoch + 1), is a break: what this process keeps
        # in memory may hold events whose commit never landed, which must be found out (the
        # dispatchers compare it with what was acknowledged) before it speaks again.
        self._held.pop(lease.index, None)
        for (_, _, index), part in self._parts.items():
            if index == lease.index:
                part.lost = True
                part.forget_reads()

    # -- consuming --------------------------------------------------------------------------------
    async def fetch(
        self, topic: str, group: str, partition: int, max_events: int, timeout_s: float
    ) -> list[Event]:
        part = self._part(topic, group, partition)
        if part.lost:
            raise PartitionLost(f"{topic}[{partition}] is no longer held by {self.worker_id}")
        lease = self._lease(partition)
        try:
            if lease.token is None and not await self._acquire(lease):
                await asyncio.sleep(min(timeout_s, _ACQUIRE_POLL_S))
                return []
            if lease.draining:
                await asyncio.sleep(min(timeout_s, _ACQUIRE_POLL_S))
                return []
            if part.claimed != lease.epoch:
                await self._claim_pending(part, lease)
            elif part.unanswered:
                await self._recover_unanswered(part)
            if part.redeliver is not None:
                return await self._redeliver_next(part, lease, max_events, timeout_s)
            return await self._read_new(part, lease, max_events, timeout_s)
        except _UNREACHABLE as exc:
            # A read or claim that Redis carried out may have lost its reply on the way.
            part.unanswered, part.caught_up = True, None
            log.warning("redis transport: fetch failed (%s); retrying", exc)
            await asyncio.sleep(min(timeout_s, _BACKOFF_MAX_S))
            return []

    async def _pending_here(self, part: _Partition) -> list[tuple[bytes, int]]:
        """The group's entries pending for this consumer, oldest first, with their delivery
        counts (an outage raises: the caller's fetch tries again)."""
        pending: list[tuple[bytes, int]] = []
        low = "-"
        while True:
            rows = await self.redis.xpending_range(
                part.stream, part.group, low, "+", 1000, self.worker_id
            )
            pending += [(_as_bytes(row["message_id"]), int(row["times_delivered"])) for row in rows]
            if len(rows) < 1000:
                return pending
            low = "(" + pending[-1][0].decode()

    async def _recover_unanswered(self, part: _Partition) -> None:
        """Queue again, in order, every entry pending for this consumer that is not in flight:
        a read or claim whose reply was lost (Redis restarting, a connection cut) took entries
        nobody else would ever deliver again."""
        queued = [
            (entry_id, n)
            for entry_id, n in await self._pending_here(part)
            if _offset(entry_id) not in part.inflight
        ]
        unseen = len(queued) - len(part.redeliver or ())
        if unseen > 0:
            log.warning(
                "%s: %s[%d] for %s: %d entries taken without a reply: delivering them again",
                self.worker_id, part.topic, part.index, part.group, unseen,
            )  # fmt: skip
        part.redeliver = queued or None
        part.unanswered = False

    async def _read_new(
        self, part: _Partition, lease: _Lease, max_events: int, timeout_s: float
    ) -> list[Event]:
        script = self._scripts["read"]
        token = lease.token
        if token is None:  # lost or handed back while claiming
            return await self._refused(part, lease, token)
        args = [token, part.group, self.worker_id, max_events]
        caught_up = part.caught_up
        if caught_up is None:
            reply = await script(keys=[lease.key, part.stream], args=args)
            if not reply:
                return await self._refused(part, lease, token)
            if int(reply[0]) == 1:
                return self._took(part, reply[1], max_events)
            caught_up = reply[1]
        # Nothing new since ``caught_up``: wait for the next entry, then read it fenced (a
        # reader that read everything last time comes straight here: one round trip saved).
        got = await self.redis.xread({part.stream: caught_up}, count=1, block=int(timeout_s * 1000))
        if lease.token != token:
            return []  # handed back meanwhile
        part.caught_up = caught_up
        if not got:
            return []
        reply = await script(keys=[lease.key, part.stream], args=args)
        if not reply:
            return await self._refused(part, lease, token)
        if int(reply[0]) == 0:
            part.caught_up = reply[1]
            return []
        return self._took(part, reply[1], max_events)

    def _took(self, part: _Partition, entries: list[Any], max_events: int) -> list[Event]:
        events = [_event(part.topic, part.index, entry, 1) for entry in entries]
        part.inflight.update(ev.offset for ev in events)
        # Fewer than asked for: it read up to the end (as of then).
        part.caught_up = entries[-1][0] if len(entries) < max_events else None
        return events

    async def _refused(self, part: _Partition, lease: _Lease, token: str | None) -> list[Event]:
        """A fenced read was refused: fine if this process handed the partition back
        meanwhile, else someone took it over."""
        if (lease.token != token or token is None) and not part.lost:
            return []
        await self._lose(lease)
        raise PartitionLost(f"{part.topic}[{part.index}] was taken over from {self.worker_id}")

    async def _redeliver_next(
        self, part: _Partition, lease: _Lease, max_events: int, timeout_s: float
    ) -> list[Event]:
        """The next pending entries, once the previous ones were acknowledged: one at first,
        twice as many after each success (a dead process's hundreds of pending entries take a
        few round trips, not hundreds). An entry delivered more than once already (it was in
        flight when a taker died: maybe the poison) goes alone, and so does the first after a
        takeover, so a poison event takes at most one batch of others down with it once, and
        only its own delivery count reaches the retry limit."""
        deadline = time.monotonic() + timeout_s
        while part.gate is not None:
            if time.monotonic() >= deadline or part.lost:
                return []
            await asyncio.sleep(0.002)
        pending = part.redeliver
        while pending:
            token = lease.token
            if token is None:
                return await self._refused(part, lease, token)
            take = 1
            if pending[0][1] <= 1:
                limit = min(part.ramp, max_events, len(pending))
                while take < limit and pending[take][1] <= 1:
                    take += 1
            chosen, pending[:take] = pending[:take], []
            reply = await self._scripts["claim_some"](
                keys=[lease.key, part.stream],
                args=[token, part.group, self.worker_id, *(entry_id for entry_id, _ in chosen)],
            )
            if reply is False or reply is None:
                return await self._refused(part, lease, token)
            if not reply:  # trimmed or acked meanwhile
                continue
            counts = {_offset(entry_id): delivered for entry_id, delivered in chosen}
            events = []
            for entry in reply:
                offset = _offset(entry[0])
                events.append(_event(part.topic, part.index, entry, counts.get(offset, 0) + 1))
            part.gate = events[-1].offset
            part.inflight.update(ev.offset for ev in events)
            part.ramp = min(2 * take, _REDELIVER_MAX)
            return events
        part.redeliver = None
        return []

    async def ack(self, topic: str, group: str, partition: int, offsets: Iterable[int]) -> None:
        part = self._part(topic, group, partition)
        done = list(offsets)
        if not done:
            return
        lease = self._lease(partition)
        if lease.token is None or part.lost:
            raise PartitionLost(f"{topic}[{partition}] is no longer held by {self.worker_id}")
        script, token, acked = self._scripts["ack"], lease.token, runs(done)
        n = await self._retry(
            lambda: script(keys=[lease.key, part.stream], args=[token, group, acked])
        )
        if n == -1:
            await self._lose(lease)
            raise PartitionLost(f"{topic}[{partition}] was taken over before the ack")
        self._acked(part, done)

    def _acked(self, part: _Partition, done: Sequence[int]) -> None:
        part.inflight.difference_update(done)
        if part.gate is not None and part.gate in done:
            part.gate = None
        key = (part.topic, part.group)
        self._delta[key] = self._delta.get(key, 0) - len(done)
        self._lag[key] = max(0, self._lag.get(key, 0) - len(done))

    async def rewind(self, topic: str, group: str, partition: int) -> None:
        part = self._part(topic, group, partition)
        part.lost = False
        part.claimed = 0  # claim (and so redeliver) its pending entries on the next fetch
        # The reader dropped what it had fetched (it comes again by the claim): nothing is in
        # flight, so a partition being handed back is not held up waiting for acks of it.
        part.forget_reads()

    async def seek(self, topic: str, group: str, partition: int, offset: int) -> None:
        await self._ensure_group(topic, group, partition)
        stream = self.stream_key(topic, partition)
        redis = self.redis
        while True:  # forget what is pending: the group starts afresh at ``offset``
            rows = await self._retry(lambda: redis.xpending_range(stream, group, "-", "+", 1000))
            if not rows:
                break
            ids = [row["message_id"] for row in rows]
            await self._retry(lambda i=ids: redis.xack(stream, group, *i))  # type: ignore[misc]
        await self._retry(lambda: redis.xgroup_setid(stream, group, f"0-{offset}"))
        self._part(topic, group, partition).forget_reads()

    async def history(
        self, topic: str, partition: int, start: int, end: int, max_events: int
    ) -> list[Event]:
        if end <= start:
            return []
        stream = self.stream_key(topic, partition)
        rows = await self._retry(
            lambda: self.redis.xrange(stream, _entry_id(start), f"0-{end}", count=max_events)
        )
        return [_event(topic, partition, row, 1) for row in rows or ()]

    def lag(self, topic: str, group: str) -> int:
        return self._lag.get((topic, group), 0)

    def end_offset(self, topic: str, partition: int) -> int:
        return self._ends.get((topic, partition), 0)

    # -- the keeper: leases, membership, figures, trimming ----------------------------------------
    def _renew_forever(self) -> None:
        """The renewer thread: membership and leases every quarter lease, on a connection of
        its own, while the loop is alive."""
        import redis as sync_redis

        client = sync_redis.Redis.from_url(
            self.url, socket_timeout=self.lease_ms / 1000.0, socket_connect_timeout=2.0
        )
        renew = client.register_script(SCRIPTS["renew"])
        period = min(self.lease_ms / 4000.0, 0.5)  # membership stays fresh under long leases
        members = f"{self.prefix}:members"
        try:
            while self._keeping:
                started = time.monotonic()
                if started - self._loop_alive < _LOOP_STALL_S:
                    try:
                        self._renew_once(client, renew, members)
                    except (RedisError, *_UNREACHABLE) as exc:
                        log.warning("redis transport: cannot renew at %s (%s)", self.url, exc)
                time.sleep(max(0.0, period - (time.monotonic() - started)))
        finally:
            client.close()

    def _renew_once(self, client: Any, renew: Any, members: str) -> None:
        held = [(lease, lease.token) for lease in tuple(self._leases.values()) if lease.token]
        now_ms = int(time.time() * 1000)
        sent = time.monotonic()
        pipe = client.pipeline(transaction=False)
        if self._groups:  # say this process consumes, and count the live consumers
            pipe.zadd(members, {self.worker_id: now_ms + self.lease_ms})
            pipe.zremrangebyscore(members, "-inf", now_ms)
            pipe.zcard(members)
        for lease, token in held:  # a script in a pipeline is loaded first if Redis lost it
            renew(keys=[lease.key], args=[token, self.lease_ms], client=pipe)
        results = pipe.execute()
        if self._groups:
            self._members = max(1, int(results[2]))
            results = results[3:]
        for (lease, token), ok in zip(held, results, strict=True):
            if ok == 1:
                if lease.token == token:
                    lease.valid_until = sent + self.lease_ms / 1000.0 * 0.9
            else:
                self._renew_failed.add((lease.index, token))

    async def _keep(self) -> None:
        tick_s = min(self.lease_ms / 4000.0, _REFRESH_S)
        last_refresh, rounds = 0.0, 0
        # A flag as well as cancel(): redis-py can swallow a cancellation mid-command.
        while self._keeping:
            self._loop_alive = time.monotonic()
            try:
                while self._renew_failed:
                    index, token = self._renew_failed.pop()
                    lease = self._leases.get(index)
                    if lease is not None and lease.token == token:
                        await self._lose(lease)
                await self._rebalance()
                if time.monotonic() - last_refresh >= _REFRESH_S:
                    rounds += 1
                    await self._refresh(trim=rounds % _TRIM_EVERY == 0)
                    last_refresh = time.monotonic()
            except asyncio.CancelledError:
                raise
            except _UNREACHABLE as exc:
                log.warning("redis transport: keeper cannot reach %s (%s)", self.url, exc)
            except Exception:
                log.exception("redis transport: keeper failed; going on")
            await asyncio.sleep(tick_s)

    async def _heartbeat(self) -> None:
        """Say this process consumes (when it does), and count the live consumers."""
        if not self._groups:
            return
        members = f"{self.prefix}:members"
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(members, {self.worker_id: now_ms + self.lease_ms})
            pipe.zremrangebyscore(members, "-inf", now_ms)
            pipe.zcard(members)
            *_, count = await pipe.execute()
        self._members = max(1, int(count))

    async def _rebalance(self) -> None:
        """Hand back partitions above the fair share once what was fetched from them is acked."""
        share = self._share()
        active = sorted(
            (lease for lease in self._leases.values() if lease.held() and not lease.draining),
            key=lambda lease: lease.index,
        )
        now = time.monotonic()
        for lease in active[share:]:
            lease.draining, lease.draining_since = True, now
        for lease in list(self._leases.values()):
            if not lease.draining or lease.token is None:
                continue
            busy = any(
                part.inflight or part.gate is not None
                for (_, _, index), part in self._parts.items()
                if index == lease.index
            )
            # Not forever: what is still in flight then is delivered again to the next owner,
            # and nothing this process commits of it lands (the fence): duplicate work only.
            if not busy or now - lease.draining_since > max(2.0, 2 * self.lease_ms / 1000.0):
                token = lease.token
                self._forget(lease)  # before the release: it may fail, the lease lapses then
                log.info("%s: handing partition %d back", self.worker_id, lease.index)
                await self._scripts["release"](keys=[lease.key], args=[token])

    async def _refresh(self, *, trim: bool) -> None:
        """Lag per (topic, group) and stream ends from the streams' own figures; with ``trim``,
        also the oldest unacknowledged entry of every group (any process's) for trimming and
        backpressure."""
        streams = [(topic, p) for topic in self._groups for p in range(self.partitions(topic))]
        if not streams:
            return
        self._delta = {}  # what this process changes from now on is not in the answer
        redis = self.redis
        async with redis.pipeline(transaction=False) as pipe:
            for topic, p in streams:
                pipe.xinfo_stream(self.stream_key(topic, p))
                pipe.xinfo_groups(self.stream_key(topic, p))
            replies = await pipe.execute(raise_on_error=False)
        lag: dict[tuple[str, str], int] = {}
        seen: list[tuple[str, int, int, list[tuple[str, int]]]] = []
        for i, (topic, p) in enumerate(streams):
            info, groups = replies[2 * i], replies[2 * i + 1]
            if isinstance(info, Exception) or isinstance(groups, Exception):
                continue  # not created yet
            end = _offset(info["last-generated-id"]) + 1
            self._ends[(topic, p)] = end
            by_group: list[tuple[str, int]] = []
            for g in groups:
                name = g["name"].decode() if isinstance(g["name"], bytes) else str(g["name"])
                delivered = _offset(g["last-delivered-id"]) + 1
                pending = int(g["pending"])
                if name in self._groups.get(topic, ()):
                    lag[(topic, name)] = lag.get((topic, name), 0) + (end - delivered) + pending
                by_group.append((name, delivered if pending == 0 else -1))
            seen.append((topic, p, end, by_group))
        for key, value in lag.items():
            self._lag[key] = max(0, value + self._delta.get(key, 0))
        if not trim:
            return
        # Committed offset per group: below the oldest pending entry, or all it was given.
        asks = [(t, p, g) for t, p, _, groups in seen for g, committed in groups if committed < 0]
        oldest: dict[tuple[str, int, str], int] = {}
        if asks:
            async with redis.pipeline(transaction=False) as pipe:
                for t, p, g in asks:
                    pipe.xpending(self.stream_key(t, p), g)
                summaries = await pipe.execute(raise_on_error=False)
            for (t, p, g), summary in zip(asks, summaries, strict=True):
                if not isinstance(summary, Exception) and summary.get("min"):
                    oldest[(t, p, g)] = _offset(summary["min"])
        async with redis.pipeline(transaction=False) as pipe:
            for topic, p, end, groups in seen:
                committed = end
                for g, done in groups:
                    committed = min(committed, done if done >= 0 else oldest.get((topic, p, g), 0))
                if end - committed >= self.retention:
                    self._full.add((topic, p))
                else:
                    self._full.discard((topic, p))
                keep_from = min(committed, end - self.retention)
                if keep_from > 0:
                    pipe.xtrim(
                        self.stream_key(topic, p), minid=_entry_id(keep_from), approximate=True
                    )
            await pipe.execute(raise_on_error=False)

    async def refresh(self) -> None:
        """Read lag and stream ends from Redis now (they are otherwise refreshed every 0.25 s)."""
        await self._refresh(trim=False)

    def _log_stale(self, topic: str, group: str, partition: int) -> None:
        log.warning(
            "%s: took back %s[%d] for %s with memory of events nobody acknowledged: state "
            "kept in memory for it is stale",
            self.worker_id,
            topic,
            partition,
            group,
        )
