"""Inline executor: instances live in the runtime's own process.

Async functions run on the event loop itself (no hop: the cheapest path). Sync functions run on a
thread of their own per instance, so a slow or blocking function never stalls the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arenaflow.context import Context
from arenaflow.errors import FunctionTimeout
from arenaflow.events import Event
from arenaflow.runtime.executors.base import Instance


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """Await the rest of a coroutine that already ran up to its first suspension (``yielded``)."""
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # cancellation and timeouts go into the coroutine
            try:
                yielded = coro.throw(exc)
            except StopIteration as done:
                return done.value
            continue
        try:
            yielded = coro.send(sent)
        except StopIteration as done:
            return done.value


class AsyncInstance(Instance):
    """An async function's instance: the init result; calls run on the loop."""

    async def start(self) -> None:
        if self.init is None:
            return
        if inspect.iscoroutinefunction(self.init):
            self.resources = await self.init()
        else:
            self.resources = await asyncio.to_thread(self.init)

    async def invoke(self, events: list[Event], ctx: Context, timeout_s: float) -> Any:
        # Start the coroutine eagerly: most stream functions finish without suspending, and an
        # asyncio timer per call would cost more than the call. Only a coroutine that suspends
        # can be interrupted at all, so only then is the time limit armed.
        coro = self.handler(events, ctx)
        try:
            first = coro.send(None)
        except StopIteration as done:
            return done.value
        limit = asyncio.timeout(timeout_s)
        try:
            async with limit:
                return await _resume(coro, first)
        except TimeoutError as exc:
            if limit.expired():
                raise FunctionTimeout(
                    f"{ctx.function_name} ran past its {timeout_s:g} s time limit"
                ) from exc
            raise


class ThreadInstance(Instance):
    """A sync function's instance: a dedicated thread, like a Lambda sandbox of its own."""

    replace_after_timeout = True

    def __init__(self, handler: Any, init: Any) -> None:
        super().__init__(handler, init)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arenaflow-instance")

    async def start(self) -> None:
        if self.init is None:
            return
        if inspect.iscoroutinefunction(self.init):
            # An async init is awaited on the loop; run on the thread it would only return an
            # un-awaited coroutine as ``ctx.resources``.
            self.resources = await self.init()
        else:
            loop = asyncio.get_running_loop()
            self.resources = await loop.run_in_executor(self._thread, self.init)

    async def invoke(self, events: list[Event], ctx: Context, timeout_s: float) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._thread, self.handler, events, ctx)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError as exc:
            # The thread cannot be interrupted: the pool retires this instance and the call's
            # result, whenever it comes, is dropped with it (its state writes were staged only).
            raise FunctionTimeout(
                f"{ctx.function_name} ran past its {timeout_s:g} s time limit"
            ) from exc

    async def stop(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
