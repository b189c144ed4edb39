"""Instance pools: scale from zero, warm (provisioned) instances, a concurrency cap, reaping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from arenaflow.runtime.config import FunctionConfig
from arenaflow.runtime.executors.base import Instance
from arenaflow.runtime.metrics import FunctionMetrics

log = logging.getLogger(__name__)


class InstancePool:
    """The instances of one function.

    ``acquire`` hands out an idle instance (warm), or creates one while fewer than
    ``max_instances`` exist (a cold start: creation plus ``init``, timed), or waits for a release
    and counts a throttle. Nothing is dropped: throttled work waits its turn.
    """

    def __init__(
        self,
        config: FunctionConfig,
        factory: Callable[[], Instance],
        metrics: FunctionMetrics,
    ) -> None:
        self._config = config
        self._factory = factory
        self._metrics = metrics
        self._idle: list[Instance] = []  # LIFO: the most recently used stays warm
        self._waiters: deque[asyncio.Future[Instance]] = deque()
        self._count = 0  # instances alive or starting
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def size(self) -> int:
        return self._count

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def start(self) -> None:
        """Create ``min_instances`` warm instances before any event arrives."""
        self._closed = False  # started again after aclose(): an app restart
        warm = await asyncio.gather(
            *(self._create(provisioned=True) for _ in range(self._config.min_instances))
        )
        self._idle.extend(warm)

    async def prewarm(self, size: int) -> None:
        """Start instances (provisioned starts, off the invocation path) until the pool has
        ``size`` of them, ``max_instances`` at most: a backlog about to arrive meets warm ones."""
        want = min(size, self._config.max_instances) - self._count
        if want <= 0 or self._closed:
            return
        warm = await asyncio.gather(*(self._create(provisioned=True) for _ in range(want)))
        for inst in warm:
            self._metrics.concurrency += 1  # release() undoes it
            self.release(inst)  # to a waiter, or idle

    async def _create(self, *, provisioned: bool) -> Instance:
        self._count += 1
        self._metrics.instances = self._count
        started = time.perf_counter()
        inst = self._factory()
        try:
            await inst.start()
        except BaseException:
            self._count -= 1
            self._metrics.instances = self._count
            await inst.stop()
            raise
        self._metrics.record_init((time.perf_counter() - started) * 1000.0, provisioned=provisioned)
        return inst

    def try_acquire(self) -> Instance | None:
        """An idle instance without waiting, or None (then use :meth:`acquire`)."""
        if not self._idle:
            return None
        inst = self._idle.pop()
        m = self._metrics
        m.concurrency += 1
        if m.concurrency > m.max_concurrency:
            m.max_concurrency = m.concurrency
        return inst

    async def acquire(self) -> Instance:
        """An instance for one invocation (see the class docstring)."""
        if self._idle:
            inst = self._idle.pop()
        elif self._count < self._config.max_instances:
            inst = await self._create(provisioned=False)
        else:
            self._metrics.throttles += 1
            fut: asyncio.Future[Instance] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                inst = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    # Handed an instance just as we were cancelled (a stopping lane): pass it on,
                    # or it would count against max_instances forever without being usable.
                    self._metrics.concurrency += 1  # release() undoes it
                    self.release(fut.result())
                raise
        m = self._metrics
        m.concurrency += 1
        if m.concurrency > m.max_concurrency:
            m.max_concurrency = m.concurrency
        return inst

    def release(self, inst: Instance, *, broken: bool = False) -> None:
        """Return an instance; a broken one (crashed, timed out on a thread) is replaced."""
        self._metrics.concurrency -= 1
        if broken:
            self._count -= 1
            self._metrics.instances = self._count
            self._background(inst.stop())
            if self._waiters and not self._closed:
                # Someone waits for a slot that just freed: give it a fresh instance.
                self._background(self._replace_for_waiter())
            return
        inst.last_used = time.monotonic()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(inst)
                return
        self._idle.append(inst)

    async def _replace_for_waiter(self) -> None:
        try:
            inst = await self._create(provisioned=False)
        except Exception as exc:
            log.exception("could not replace a broken instance")
            # Fail the waiter's invocation (it is retried) instead of leaving it waiting for a
            # slot nobody fills.
            while self._waiters:
                fut = self._waiters.popleft()
                if not fut.done():
                    fut.set_exception(exc)
                    return
            return
        self._metrics.concurrency += 1  # release() below undoes it
        self.release(inst)

    async def reap(self) -> int:
        """Stop instances idle longer than ``idle_timeout_s`` beyond ``min_instances``."""
        now = time.monotonic()
        reaped = 0
        keep: list[Instance] = []
        # Oldest-idle first: the LIFO list keeps the most recently used at the end.
        for inst in self._idle:
            surplus = self._count - self._config.min_instances
            if surplus > 0 and now - inst.last_used >= self._config.idle_timeout_s:
                self._count -= 1
                reaped += 1
                await inst.stop()
            else:
                keep.append(inst)
        self._idle = keep
        self._metrics.instances = self._count
        return reaped

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        self._closed = True
        # Retired instances finish stopping first, so no worker outlives the pool.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        idle, self._idle = self._idle, []
        for inst in idle:
            await inst.stop()
        self._count -= len(idle)
        self._metrics.instances = self._count
