"""The stream dispatcher: Lambda's event-source mapping for one function and one topic.

Per partition a reader fetches events and routes them to ``parallelization`` lanes by key, so
events of one key stay in one lane and in order. Each lane gathers a batch (``batch_size``,
``max_batching_window_ms``), invokes the function, and handles failure:

1. a batch that raised is bisected (``bisect_on_error``) until the poison event stands alone;
2. a failing event (or unbisected batch) is retried with back-off up to ``max_retry_attempts``;
3. then it goes to the dead-letter topic with the error, and the lane moves on.

So a poison event holds its lane for a bounded time and never stalls a game. Events older than
``max_record_age_s`` and events that do not decode go to the dead-letter topic at once, and so do
events delivered more than ``max_retry_attempts + 1`` times without being acknowledged (they
crashed or stalled the process that took them: a transport shared by processes counts that).

On a transport shared by processes (``redis``), a partition's reader handles its partition being
taken over (:class:`~arenaflow.errors.PartitionLost`: the lanes drop what they hold, nothing they
commit lands, the reader starts afresh) and being (re)acquired: for a function with
``replay_on_takeover`` the partition's retained, acknowledged history is replayed through it
first, outputs and state writes discarded, so what it keeps in memory is rebuilt before it goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from asyncio import FIRST_COMPLETED
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec

from arenaflow.errors import DecodeError, FunctionTimeout, InstanceCrashed, PartitionLost
from arenaflow.events import Event
from arenaflow.runtime.dead_letter import DeadLetter
from arenaflow.runtime.function import BatchItemFailures, Function
from arenaflow.runtime.invoker import Invoker
from arenaflow.runtime.middleware.base import Invocation
from arenaflow.transport.base import Ack
from arenaflow.triggers import Stream

if TYPE_CHECKING:
    from arenaflow.state.base import State
    from arenaflow.transport.base import Transport

log = logging.getLogger(__name__)

_FETCH_WAIT_S = 0.25
_REPLAY_BATCH_MIN = 100


def _reason(error: BaseException | None) -> str:
    if error is None:
        return "reported"
    if isinstance(error, FunctionTimeout):
        return "timeout"
    if isinstance(error, InstanceCrashed):
        return "crashed"
    return "error"


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "reported as failed by the function"
    cause = error.__cause__ if isinstance(error, FunctionTimeout | InstanceCrashed) else None
    text = f"{type(error).__name__}: {error}"
    if cause is not None and not isinstance(cause, TimeoutError):
        text += f" (caused by {type(cause).__name__}: {cause})"
    return text


class _Lane:
    """Events of some keys of one partition, processed one batch at a time, in order."""

    __slots__ = ("buffer", "space", "wakeup")

    def __init__(self) -> None:
        self.buffer: deque[Event] = deque()
        self.wakeup: asyncio.Future[None] | None = None
        self.space: asyncio.Future[None] | None = None

    def put(self, events: list[Event]) -> None:
        self.buffer.extend(events)
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until they are done, asking again after a while: a
    cancellation landing just as a client library's read times out can come out as a timeout,
    which the library (or a lane's retry) goes on from (seen with redis-py: a reader waited
    forever for a lane that had swallowed its cancellation)."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    await asyncio.gather(*tasks, return_exceptions=True)


class StreamDispatcher:
    """Consumes ``trigger.topic`` for ``fn`` as consumer group ``fn.name``."""

    def __init__(
        self,
        fn: Function,
        trigger: Stream,
        transport: Transport,
        state: State,
        invoker: Invoker,
    ) -> None:
        self.fn = fn
        self.trigger = trigger
        self.topic = trigger.topic
        self.group = fn.name
        self._transport = transport
        self._state = state
        self._invoker = invoker
        self._tasks: list[asyncio.Task[None]] = []
        # Offsets below these were possibly delivered before a restart: check their watermarks.
        self._redelivery_end: list[int] = []
        #: Per partition, the tenure (Transport.assignment) whose state was last brought up to
        #: date: across readings of the partition, so a tenure is rebuilt once.
        self._assigned: dict[int, int] = {}
        #: Per partition, the newest offset this process ran through the function (so what a
        #: ``replay_on_takeover`` function keeps in memory for it covers offsets 0 to that).
        self._applied: dict[int, int] = {}
        self._decoder = self._make_decoder(trigger, transport.codec)

    @staticmethod
    def _make_decoder(trigger: Stream, wire: str | None) -> Any:
        if wire == "msgpack":  # every value arrives as msgpack bytes
            return msgspec.msgpack.Decoder(trigger.schema if trigger.schema is not None else Any)
        if trigger.schema is None:
            return None
        if trigger.codec == "msgpack":
            return msgspec.msgpack.Decoder(trigger.schema)
        return msgspec.json.Decoder(trigger.schema)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, replayed: set[int] | None = None) -> None:
        """Start reading every partition from the group's committed offset.

        Args:
            replayed: Partitions just seeked back for a replay: their events are processed again
                even where their keys' watermarks say they were applied.
        """
        transport = self._transport
        transport.register_group(self.topic, self.group)
        if self.fn.config.replay_on_takeover:
            transport.expect_rebuild(self.topic, self.group)
        partitions = transport.partitions(self.topic)
        self._redelivery_end = []
        for p in range(partitions):
            await transport.rewind(self.topic, self.group, p)
            redelivered = 0 if replayed and p in replayed else transport.end_offset(self.topic, p)
            self._redelivery_end.append(redelivered)
        loop = asyncio.get_running_loop()
        for p in range(partitions):
            self._tasks.append(loop.create_task(self._read_partition(p), name=f"{self.group}[{p}]"))

    async def stop(self) -> None:
        await _cancel(self._tasks)
        self._tasks.clear()

    def lag(self) -> int:
        return self._transport.lag(self.topic, self.group)

    # -- reading -------------------------------------------------------------------------------
    async def _read_partition(self, p: int) -> None:
        delay = 0.05
        while True:
            try:
                await self._read_tenure(p)
            except PartitionLost as exc:
                # Another process took the partition over: what the lanes held is its now.
                log.warning("%s: %s", self.group, exc)
            except Exception:
                # A backend failing in a way it does not retry itself: start the tenure afresh
                # (fetched, unacknowledged events are delivered again), never stop reading.
                log.exception("%s: partition %d: reading failed; starting again", self.group, p)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                return
            await self._rewind(p)

    async def _rewind(self, p: int) -> None:
        delay = 0.05
        while True:
            try:
                await self._transport.rewind(self.topic, self.group, p)
                return
            except Exception:
                log.exception("%s: partition %d: rewind failed; retrying", self.group, p)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _read_tenure(self, p: int) -> None:
        """Read partition ``p`` until it is lost (PartitionLost) or the dispatcher stops."""
        cfg = self.fn.config
        lanes = [_Lane() for _ in range(cfg.parallelization)]
        lane_tasks = [
            asyncio.get_running_loop().create_task(self._run_lane(lane, p)) for lane in lanes
        ]
        high_water = 4 * cfg.batch_size
        transport = self._transport
        fetch = transport.fetch
        try:
            while True:
                events = await fetch(
                    self.topic, self.group, p, cfg.batch_size * len(lanes) * 2, _FETCH_WAIT_S
                )
                assignment = transport.assignment(self.topic, self.group, p)
                if assignment != self._assigned.get(p, 0):  # others wrote its state meanwhile
                    await self._state.refresh(self.group)
                    if cfg.replay_on_takeover:
                        await self._rebuild(p, transport.rebuild_end(self.topic, self.group, p))
                    self._assigned[p] = assignment
                if cfg.replay_on_takeover:
                    transport.rebuilt(self.topic, self.group, p)
                if not events:
                    continue
                if events[0].offset < self._redelivery_end[p] or events[0].deliveries > 1:
                    events = await self._skip_applied(events, p)
                if len(lanes) == 1:
                    lanes[0].put(events)
                else:
                    groups: dict[int, list[Event]] = {}
                    n = len(lanes)
                    for ev in events:
                        groups.setdefault(hash(ev.key) % n, []).append(ev)
                    for i, group in groups.items():
                        lanes[i].put(group)
                # Backpressure: stop fetching while a lane holds more than a few batches.
                for lane, task in zip(lanes, lane_tasks, strict=True):
                    while len(lane.buffer) > high_water:
                        lane.space = asyncio.get_running_loop().create_future()
                        await asyncio.wait({lane.space, task}, return_when=FIRST_COMPLETED)
                        if task.done():  # a lane that ended makes no room: start afresh
                            why = "cancelled" if task.cancelled() else repr(task.exception())
                            raise RuntimeError(f"a lane of partition {p} ended ({why})")
        finally:
            await _cancel(lane_tasks)

    async def _rebuild(self, p: int, end: int) -> None:
        """Bring what the function keeps in memory for partition ``p`` up to ``end`` (below it,
        everything was acknowledged when this process took the partition): by replaying what
        it has not run yet. A process taking back a partition it held before replays only
        what others processed meanwhile; one whose memory ran ahead of what was acknowledged
        (it ran events whose commit never landed, and nobody acknowledged them since) cannot
        rebuild and says so (a worker process restarts afresh)."""
        start = self._applied.get(p, -1) + 1
        if start > end:
            on_stale = getattr(self._transport, "on_stale", None)
            if on_stale is not None:
                on_stale(self.topic, self.group, p)
            return
        await self._replay(p, start, end)
        self._applied[p] = max(self._applied.get(p, -1), end - 1)

    async def _replay(self, p: int, start: int, end: int) -> None:
        """Run the partition's retained history from ``start`` to below ``end`` (all of it
        acknowledged) through the function, discarding outputs and state writes."""
        transport, fn = self._transport, self.fn
        replayed, at = 0, start
        # Batches of the function's own size: live lanes get their turns between them.
        batch = max(_REPLAY_BATCH_MIN, fn.config.batch_size)
        while at < end:
            events = await transport.history(self.topic, p, at, end, batch)
            if not events:
                break
            at = events[-1].offset + 1
            ready = []
            for ev in events:
                try:
                    ready.append(self._decode(ev) if self._decoder is not None else ev)
                except DecodeError:
                    continue  # dead-lettered when it was first delivered
            if ready:
                inv = await self._invoker.invoke(fn, ready, partition=p, replay=True)
                inv.ctx.committed()  # what is replayed was committed
                replayed += len(ready)
        fn.metrics.replayed += replayed
        log.info(
            "%s: rebuilt partition %d from %d retained events (offsets %d to %d)",
            self.group, p, replayed, start, end - 1,
        )  # fmt: skip

    async def _skip_applied(self, events: list[Event], p: int) -> list[Event]:
        """Drop events whose key's watermark shows they were applied before a restart."""
        watermark = self._state.watermark
        fresh: list[Event] = []
        skipped: list[int] = []
        for ev in events:
            if watermark(self.group, (ev.topic, ev.partition, ev.key)) >= ev.offset:
                skipped.append(ev.offset)
            else:
                fresh.append(ev)
        if skipped:
            self.fn.metrics.duplicates_skipped += len(skipped)
            await self._transport.ack(self.topic, self.group, p, skipped)
        return fresh

    async def _run_lane(self, lane: _Lane, p: int) -> None:
        cfg = self.fn.config
        loop = asyncio.get_running_loop()
        window_s = cfg.max_batching_window_ms / 1000.0
        batch_size = cfg.batch_size
        buffer = lane.buffer
        while True:
            if not buffer:
                lane.wakeup = loop.create_future()
                await lane.wakeup
                lane.wakeup = None
            if window_s > 0 and len(buffer) < batch_size:
                deadline = loop.time() + window_s
                while len(buffer) < batch_size:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    lane.wakeup = loop.create_future()
                    try:
                        await asyncio.wait_for(lane.wakeup, remaining)
                    except TimeoutError:
                        break
                    finally:
                        lane.wakeup = None
            if len(buffer) <= batch_size:
                batch = list(buffer)
                buffer.clear()
            else:
                batch = [buffer.popleft() for _ in range(batch_size)]
            if lane.space is not None and not lane.space.done():
                lane.space.set_result(None)
            await self._process_until_done(batch, p)

    async def _process_until_done(self, batch: list[Event], p: int) -> None:
        """Process a batch, retrying when the runtime itself fails (a state commit, an ack or a
        dead-letter publish: a backend outage). The lane waits, its backlog grows, and nothing is
        skipped or reordered; events applied before the failure are skipped on the retry."""
        delay, retry = 0.05, False
        while True:
            # Everything inside the try: a lane that ended here would leave its reader waiting
            # forever for room in its buffer.
            try:
                if retry:
                    batch = await self._skip_applied(batch, p)
                    if not batch:
                        return
                await self.process(batch, p)
                return
            except asyncio.CancelledError:
                raise
            except PartitionLost as exc:
                # The next holder processes it (this lane's reader starts afresh).
                log.info("%s: dropped offsets %d-%d of partition %d (%s)", self.group,
                         batch[0].offset, batch[-1].offset, p, exc)  # fmt: skip
                return
            except Exception:
                log.exception("%s: partition %d: processing failed; retrying", self.group, p)
                await asyncio.sleep(delay)
                delay, retry = min(delay * 2, 2.0), True

    # -- processing ----------------------------------------------------------------------------
    async def process(self, batch: list[Event], p: int) -> None:
        """Run one batch to completion (success or dead letter) and ack it."""
        ack = Ack(self.topic, self.group, p, [ev.offset for ev in batch])
        acked = False
        ready = batch
        if (
            self._decoder is not None
            or self.fn.config.max_record_age_s is not None
            or batch[0].deliveries > 1
        ):
            ready = await self._admit(batch)
        if ready:
            # The common case inline (one invocation that succeeds); failures take _recover.
            invoker = self._invoker
            self._applied[p] = max(self._applied.get(p, -1), batch[-1].offset)
            inv = await invoker.invoke(self.fn, ready, attempt=1, partition=p)
            if inv.error is None and not isinstance(inv.result, BatchItemFailures):
                acked = await self._until_done(invoker.commit, inv, ready, ack)
            else:
                await self._recover(inv, ready, p)
        if not acked:
            await self._until_done(self._transport.ack, ack.topic, ack.group, p, ack.offsets)

    async def _until_done(self, op: Any, *args: Any) -> Any:
        """``await op(*args)``, retried with back-off while the backend fails (an outage): a
        commit or ack that fails is retried by itself, never by invoking the function again,
        which would apply the events twice to what it keeps in memory."""
        delay = 0.05
        while True:
            try:
                return await op(*args)
            except (asyncio.CancelledError, PartitionLost):
                raise
            except Exception:
                log.warning("%s: %s failed; retrying", self.group, op.__name__, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _admit(self, batch: list[Event]) -> list[Event]:
        """Dead-letter expired, undecodable and too often redelivered events; decode the rest."""
        max_age = self.fn.config.max_record_age_s
        max_deliveries = self.fn.config.max_retry_attempts + 1
        now = time.time()
        ready: list[Event] = []
        for ev in batch:
            if ev.deliveries > max_deliveries:
                if self._decoder is not None:  # the letter carries the value, not its bytes
                    with contextlib.suppress(DecodeError):
                        ev = self._decode(ev)
                await self._dead_letter(
                    [ev],
                    "redelivered",
                    f"delivered {ev.deliveries} times without completing: it crashed or "
                    "stalled the process that took it",
                    ev.deliveries - 1,
                )
                continue
            if max_age is not None and now - ev.timestamp > max_age:
                await self._dead_letter(
                    [ev], "expired", f"older than max_record_age_s={max_age:g}", 0
                )
                continue
            if self._decoder is not None:
                try:
                    ev = self._decode(ev)
                except DecodeError as exc:
                    self.fn.metrics.decode_errors += 1
                    await self._dead_letter([ev], "decode", str(exc), 0)
                    continue
            ready.append(ev)
        return ready

    def _decode(self, ev: Event) -> Event:
        value = ev.value
        schema = self.trigger.schema
        try:
            if isinstance(value, bytes | bytearray | memoryview):
                decoded = self._decoder.decode(value)
            elif isinstance(schema, type) and isinstance(value, schema):
                return ev
            else:
                decoded = msgspec.convert(value, schema)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"{self.topic}[{ev.partition}]@{ev.offset}: {exc}") from exc
        return Event(
            ev.topic,
            ev.partition,
            ev.offset,
            ev.key,
            decoded,
            ev.headers,
            ev.timestamp,
            ev.deliveries,
        )

    async def _recover(self, inv: Invocation, events: list[Event], p: int) -> None:
        """Handle a first try that failed: bisect, retry, dead-letter (see the module doc)."""
        await self._run(
            events, tries=1, retries_left=self.fn.config.max_retry_attempts, p=p, first=inv
        )

    async def _run(
        self,
        events: list[Event],
        *,
        tries: int,
        retries_left: int,
        p: int,
        first: Invocation | None = None,
    ) -> None:
        fn = self.fn
        while events:
            if first is not None:
                inv, first = first, None
            else:
                inv = await self._invoker.invoke(fn, events, attempt=tries, partition=p)
            error = inv.error
            if error is None:
                failed = self._failed(inv.result, events)
                if not failed:
                    await self._until_done(self._invoker.commit, inv, events)
                    return
                failed_ids = {id(ev) for ev in failed}
                applied = [ev for ev in events if id(ev) not in failed_ids]
                await self._until_done(self._invoker.commit, inv, applied)
                events = failed
            elif fn.config.bisect_on_error and len(events) > 1:
                # Bisection does not spend the retry budget (as on Lambda).
                mid = len(events) // 2
                await self._run(events[:mid], tries=tries + 1, retries_left=retries_left, p=p)
                await self._run(events[mid:], tries=tries + 1, retries_left=retries_left, p=p)
                return
            if retries_left <= 0:
                await self._dead_letter(events, _reason(error), _describe(error), tries)
                return
            fn.metrics.retries += 1
            await asyncio.sleep(fn.config.retry_delay_s(tries))
            tries += 1
            retries_left -= 1

    @staticmethod
    def _failed(result: Any, events: list[Event]) -> list[Event]:
        """Events to retry after a partial failure report: from each key's first failure on."""
        if not isinstance(result, BatchItemFailures) or not result.events:
            return []
        reported = {id(ev) for ev in result.events}
        failed_keys: set[str | None] = set()
        failed: list[Event] = []
        for ev in events:
            if ev.key in failed_keys or id(ev) in reported:
                failed_keys.add(ev.key)
                failed.append(ev)
        return failed

    async def _dead_letter(self, events: list[Event], reason: str, error: str, tries: int) -> None:
        now = time.time()
        fn = self.fn
        for ev in events:
            letter = DeadLetter(
                function=fn.name,
                topic=ev.topic,
                partition=ev.partition,
                offset=ev.offset,
                key=ev.key,
                value=ev.value,
                reason=reason,
                error=error,
                attempts=tries,
                trace_id=ev.headers.get("trace_id"),
                failed_at=now,
            )
            await self._transport.publish(fn.dead_letter_topic, letter, ev.key, dict(ev.headers))
        fn.metrics.dead_lettered += len(events)
        log.warning("%s: %d event(s) dead-lettered (%s): %s", fn.name, len(events), reason, error)
