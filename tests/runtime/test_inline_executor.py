"""The inline executor: async functions on the loop, sync functions on an instance thread that
never blocks the loop, time limits, init hooks."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from arenaflow import FunctionTimeout, stream
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.runtime.executors import AsyncInstance, ThreadInstance, make_instance
from arenaflow.state.base import StateView
from arenaflow.state.memory import MemoryState

from .conftest import make_app


def context(timeout_s: float = 5.0) -> Context:
    return Context(
        "fn", "fn-1", "trace", StateView(MemoryState(), "fn"), None, time.monotonic() + timeout_s
    )


EVENTS = [Event("t", 0, 0, "g1", 1, {}, 0.0), Event("t", 0, 1, "g1", 2, {}, 0.0)]


def test_make_instance_picks_by_function_kind() -> None:
    async def async_fn(events: Any, ctx: Any) -> None:
        pass

    def sync_fn(events: Any, ctx: Any) -> None:
        pass

    assert type(make_instance("inline", async_fn, None)) is AsyncInstance
    assert type(make_instance("inline", sync_fn, None)) is ThreadInstance
    assert not AsyncInstance.replace_after_timeout
    assert ThreadInstance.replace_after_timeout


async def test_a_blocking_sync_function_does_not_block_the_event_loop() -> None:
    app = make_app()
    beats = 0
    during: list[int] = []

    @app.function(stream("t"))
    def blocking(events, ctx):
        during.append(beats)
        time.sleep(0.2)  # e.g. a synchronous model call
        during.append(beats)

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            await asyncio.sleep(0.005)
            beats += 1

    ticker = asyncio.create_task(heartbeat())
    try:
        app.publish("t", 1)
        async with app:
            await app.drain(timeout=5)
    finally:
        ticker.cancel()
    start, end = during
    assert end - start >= 5  # the loop kept running while the function slept


async def test_sync_functions_run_on_their_instance_thread() -> None:
    threads: list[str] = []

    def handler(events: list[Event], ctx: Context) -> list[Any]:
        threads.append(threading.current_thread().name)
        return [ev.value for ev in events]

    inst = ThreadInstance(handler, None)
    await inst.start()
    try:
        assert await inst.invoke(EVENTS, context(), 5) == [1, 2]
        assert await inst.invoke(EVENTS, context(), 5) == [1, 2]
    finally:
        await inst.stop()
    assert len(set(threads)) == 1
    assert threads[0] != threading.current_thread().name


async def test_async_functions_run_on_the_loop_and_return_their_result() -> None:
    loop = asyncio.get_running_loop()

    async def returns_at_once(events: list[Event], ctx: Context) -> int:
        assert asyncio.get_running_loop() is loop
        return sum(ev.value for ev in events)

    async def returns_after_awaiting(events: list[Event], ctx: Context) -> int:
        await asyncio.sleep(0.001)
        await asyncio.sleep(0)
        return len(events)

    assert await AsyncInstance(returns_at_once, None).invoke(EVENTS, context(), 5) == 3
    assert await AsyncInstance(returns_after_awaiting, None).invoke(EVENTS, context(), 5) == 2


@pytest.mark.parametrize("suspends", [False, True])
async def test_handler_exceptions_propagate(suspends: bool) -> None:
    async def raises(events: list[Event], ctx: Context) -> None:
        if suspends:
            await asyncio.sleep(0)
        raise KeyError("player")

    def raises_sync(events: list[Event], ctx: Context) -> None:
        raise KeyError("player")

    with pytest.raises(KeyError):
        await AsyncInstance(raises, None).invoke(EVENTS, context(), 5)
    inst = ThreadInstance(raises_sync, None)
    with pytest.raises(KeyError):
        await inst.invoke(EVENTS, context(), 5)
    await inst.stop()


async def test_time_limits_raise_function_timeout() -> None:
    async def slow(events: list[Event], ctx: Context) -> None:
        await asyncio.sleep(10)

    def slow_sync(events: list[Event], ctx: Context) -> None:
        time.sleep(0.2)

    with pytest.raises(FunctionTimeout, match=r"0\.02 s"):
        await AsyncInstance(slow, None).invoke(EVENTS, context(), 0.02)
    inst = ThreadInstance(slow_sync, None)
    with pytest.raises(FunctionTimeout):
        await inst.invoke(EVENTS, context(), 0.02)
    await inst.stop()


async def test_a_timeout_error_of_the_function_itself_is_not_a_time_limit() -> None:
    async def own_timeout(events: list[Event], ctx: Context) -> None:
        await asyncio.sleep(0)
        raise TimeoutError("vendor API timed out")

    with pytest.raises(TimeoutError) as info:
        await AsyncInstance(own_timeout, None).invoke(EVENTS, context(), 5)
    assert not isinstance(info.value, FunctionTimeout)


async def test_a_cancelled_invocation_is_cancelled() -> None:
    started = asyncio.Event()

    async def waits(events: list[Event], ctx: Context) -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(AsyncInstance(waits, None).invoke(EVENTS, context(), 30))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("kind", [AsyncInstance, ThreadInstance])
async def test_init_runs_once_per_instance_and_sets_resources(kind: type) -> None:
    calls: list[str] = []

    def sync_init() -> str:
        calls.append(threading.current_thread().name)
        return "sync-model"

    async def async_init() -> str:
        calls.append("loop")
        return "async-model"

    def handler(events: Any, ctx: Any) -> None:
        pass

    for init, expected in ((sync_init, "sync-model"), (async_init, "async-model")):
        inst = kind(handler, init)
        await inst.start()
        assert inst.resources == expected
        await inst.stop()
    assert len(calls) == 2
    assert calls[0] != threading.current_thread().name  # sync init never blocks the loop
