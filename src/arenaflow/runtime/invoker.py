"""The invoker: one invocation through the pool and the middleware, then its commit."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from typing import Any

from arenaflow.context import Context, PublishMany
from arenaflow.errors import BackpressureError, FunctionError, FunctionTimeout, InstanceCrashed
from arenaflow.events import TRACE_HEADER, Event, new_trace_id
from arenaflow.runtime.canary import Canary, pick
from arenaflow.runtime.function import Function
from arenaflow.runtime.middleware.base import Invocation, Middleware
from arenaflow.state.base import State, StateView, WatermarkKey
from arenaflow.transport.base import Ack, Entry, Fence, Transport


class Invoker:
    """Runs invocations and commits what a successful one produced.

    Commit order is outputs first, then state with the events' watermarks, then (by the
    dispatcher) the acks: a crash in between redelivers the events, which re-publishes outputs
    (at-least-once) but never applies state twice. On a transport shared by processes, outputs
    and state of a stream invocation carry the partition's fence: a process that lost the
    partition commits nothing (PartitionLost) after its new owner.
    """

    def __init__(self, transport: Transport, state: State, middleware: list[Middleware]) -> None:
        self._transport = transport
        self._state = state
        self._before = [
            m for m in middleware if type(m).before_invoke is not Middleware.before_invoke
        ]
        self._after = [
            m for m in reversed(middleware) if type(m).after_invoke is not Middleware.after_invoke
        ]
        self._ids = itertools.count(1)
        self._nowait = True  # the transport appends synchronously (memory) until it says not

    async def invoke(
        self,
        fn: Function,
        events: list[Event],
        *,
        attempt: int = 1,
        partition: int | None = None,
        replay: bool = False,
    ) -> Invocation:
        # Retries run on the stable version: a failing canary costs no event its retries.
        canary = pick(fn) if fn.canary is not None and attempt == 1 and not replay else None
        pool = fn.pool if canary is None else canary.pool
        instance = pool.try_acquire()
        if instance is None:
            try:
                instance = await pool.acquire()
            except Exception as exc:
                inv = self._failed_cold_start(fn, events, attempt, partition, exc, canary)
                return inv
        trace_id = (events[0].headers.get(TRACE_HEADER) if events else None) or new_trace_id()
        ctx = Context(
            fn.name,
            next(self._ids),
            trace_id,
            StateView(self._state, fn.name),
            instance.resources,
            time.monotonic() + fn.config.timeout_s,
            attempt,
            partition,
            replay,
        )
        inv = Invocation(fn, events, ctx, attempt)
        inv.canary = canary
        for m in self._before:
            m.before_invoke(inv)
        broken = False
        started = time.perf_counter()
        try:
            inv.result = await instance.invoke(events, ctx, inv.timeout_s)
        except FunctionTimeout as exc:
            inv.error = exc
            broken = instance.replace_after_timeout
        except InstanceCrashed as exc:
            inv.error = exc
            broken = True
        except Exception as exc:
            inv.error = exc
        except asyncio.CancelledError:
            # Abandoned mid-call: a thread or worker process may still be busy with it.
            broken = instance.replace_after_timeout
            raise
        finally:
            inv.duration_s = time.perf_counter() - started
            pool.release(instance, broken=broken)
        for m in self._after:
            m.after_invoke(inv)
        return inv

    def _failed_cold_start(
        self,
        fn: Function,
        events: list[Event],
        attempt: int,
        partition: int | None,
        exc: Exception,
        canary: Canary | None,
    ) -> Invocation:
        """A cold start whose ``init`` raised fails the invocation (as on Lambda), so it is
        retried and dead-lettered like any error rather than leaving the batch unacknowledged."""
        trace_id = (events[0].headers.get(TRACE_HEADER) if events else None) or new_trace_id()
        state = StateView(self._state, fn.name)
        ctx = Context(
            fn.name, next(self._ids), trace_id, state, None, time.monotonic(), attempt, partition
        )
        inv = Invocation(fn, events, ctx, attempt)
        inv.canary = canary
        if isinstance(exc, FunctionError):
            inv.error = exc
        else:
            inv.error = FunctionError(f"init of {fn.name} failed: {type(exc).__name__}: {exc}")
            inv.error.__cause__ = exc
        for m in self._after:
            m.after_invoke(inv)
        return inv

    async def _publish_all(
        self, outbox: list[tuple[str, Any, str | None, dict[str, str]]], fence: Fence | None
    ) -> None:
        """Publish in order; appending without a coroutine per event while there is room (a
        function may emit many metric updates per batch), or in one fenced batch on a
        transport that publishes asynchronously only."""
        transport = self._transport
        if not self._nowait or fence is not None:
            await transport.publish_batch(_entries(outbox), fence)
            return
        for topic, value, key, headers in outbox:
            if value.__class__ is PublishMany:
                await self._publish_many(topic, value.values, key, headers)
                continue
            if self._nowait:
                try:
                    transport.publish_nowait(topic, value, key, headers)
                    continue
                except NotImplementedError:
                    self._nowait = False
                except BackpressureError:
                    pass
            await transport.publish(topic, value, key, headers)

    async def _publish_many(
        self, topic: str, values: list[Any], key: str | None, headers: dict[str, str]
    ) -> None:
        done = 0
        if self._nowait:
            try:
                done = self._transport.publish_many_nowait(topic, values, key, headers)
            except NotImplementedError:
                self._nowait = False
        for value in values[done:]:  # the rest waits for room, in order
            await self._transport.publish(topic, value, key, headers)

    async def commit(
        self, inv: Invocation, applied: Iterable[Event], ack: Ack | None = None
    ) -> bool:
        """Publish the invocation's outputs, then commit its state and the applied events'
        per-key watermarks. On a fencing transport, a batch without state writes publishes its
        outputs and ``ack`` in one atomic step (True: acknowledged; else the caller acks): no
        window where its outputs are out but it would be delivered again."""
        ctx = inv.ctx
        fence = None
        if ctx.partition is not None and inv.events:
            fence = self._transport.fence(inv.events[0].topic, inv.function.name, ctx.partition)
        writes = ctx.state.staged
        if ack is not None and fence is not None and not writes:
            await self._transport.publish_batch(_entries(ctx.outbox), fence, ack)
            ctx.committed()
            return True
        if ctx.outbox:
            await self._publish_all(ctx.outbox, fence)
        if writes:
            marks: dict[WatermarkKey, int] = {}
            for event in applied:
                marks[(event.topic, event.partition, event.key)] = event.offset
            await self._state.commit(inv.function.name, writes, marks, fence)
        # Without writes, nothing to protect from a redelivery: a later write's watermark
        # covers these too.
        ctx.committed()
        return False


def _entries(outbox: list[tuple[str, Any, str | None, dict[str, str]]]) -> list[Entry]:
    """The outbox as single entries (a publish_many expanded)."""
    entries: list[Entry] = []
    for topic, value, key, headers in outbox:
        if value.__class__ is PublishMany:
            entries += [(topic, v, key, headers) for v in value.values]
        else:
            entries.append((topic, value, key, headers))
    return entries
