"""Instance pools: scale from zero, provisioned instances, the concurrency cap, reaping, retiring
instances that timed out on a thread."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from arenaflow import stream
from arenaflow.runtime.config import make_config
from arenaflow.runtime.executors import make_instance
from arenaflow.runtime.metrics import FunctionMetrics
from arenaflow.runtime.pool import InstancePool

from .conftest import dead_letters, make_app, wait_until


async def noop(events: Any, ctx: Any) -> None:
    return None


def pool_of(**options: Any) -> tuple[InstancePool, FunctionMetrics]:
    config = make_config("fn", options)
    metrics = FunctionMetrics("fn", config.memory_mb)
    return InstancePool(
        config, lambda: make_instance("inline", noop, config.init), metrics
    ), metrics


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# -- the pool on its own --------------------------------------------------------------------------
async def test_the_pool_reuses_the_most_recently_used_instance() -> None:
    pool, metrics = pool_of(max_instances=4)
    a = await pool.acquire()
    b = await pool.acquire()
    assert a is not b
    assert (pool.size, metrics.cold_starts, metrics.concurrency) == (2, 2, 2)
    pool.release(a)
    pool.release(b)
    assert await pool.acquire() is b  # warm: no cold start
    assert metrics.cold_starts == 2
    assert metrics.max_concurrency == 2


async def test_at_the_cap_acquire_waits_for_a_release_and_counts_a_throttle() -> None:
    pool, metrics = pool_of(max_instances=1)
    a = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await settle()
    assert not waiter.done()
    assert metrics.throttles == 1
    pool.release(a)
    assert await asyncio.wait_for(waiter, 5) is a
    assert (pool.size, metrics.max_concurrency) == (1, 1)


async def test_a_waiter_cancelled_as_it_is_handed_an_instance_passes_it_on() -> None:
    pool, metrics = pool_of(max_instances=1)
    a = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await settle()
    pool.release(a)  # handed to the waiter...
    waiter.cancel()  # ...which is cancelled (the app stops) before it runs again
    await asyncio.gather(waiter, return_exceptions=True)
    assert await asyncio.wait_for(pool.acquire(), 5) is a
    assert (pool.size, metrics.concurrency) == (1, 1)


async def test_a_broken_instance_is_replaced_for_a_waiter() -> None:
    pool, metrics = pool_of(max_instances=1)
    a = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await settle()
    pool.release(a, broken=True)
    b = await asyncio.wait_for(waiter, 5)
    assert b is not a
    assert (pool.size, metrics.cold_starts, metrics.concurrency) == (1, 2, 1)


async def test_a_waiter_gets_the_error_when_the_replacement_cannot_start() -> None:
    starts: list[int] = []

    def init() -> None:
        starts.append(1)
        if len(starts) > 1:
            raise ConnectionError("model server gone")

    pool, _ = pool_of(max_instances=1, init=init)
    a = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await settle()
    pool.release(a, broken=True)
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(waiter, 5)
    assert pool.size == 0


async def test_a_restarted_pool_still_replaces_broken_instances() -> None:
    pool, _ = pool_of(max_instances=1)
    await pool.start()
    await pool.aclose()
    await pool.start()  # the app was stopped and started again
    a = await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await settle()
    pool.release(a, broken=True)
    assert await asyncio.wait_for(waiter, 5) is not a


async def test_reap_stops_idle_instances_down_to_min_instances() -> None:
    pool, metrics = pool_of(min_instances=1, max_instances=4, idle_timeout_s=0.01)
    await pool.start()
    held = [await pool.acquire() for _ in range(4)]
    assert (pool.size, metrics.provisioned_starts, metrics.cold_starts) == (4, 1, 3)
    for inst in held:
        pool.release(inst)
    assert await pool.reap() == 0  # not idle long enough yet
    await asyncio.sleep(0.02)
    assert await pool.reap() == 3
    assert (pool.size, pool.idle, metrics.instances) == (1, 1, 1)
    await asyncio.sleep(0.02)
    assert await pool.reap() == 0  # min_instances stay warm


async def test_a_failing_init_leaves_no_instance_behind() -> None:
    def init() -> None:
        raise RuntimeError("model file missing")

    pool, metrics = pool_of(init=init)
    with pytest.raises(RuntimeError, match="model file missing"):
        await pool.acquire()
    assert (pool.size, metrics.instances, metrics.cold_starts) == (0, 0, 0)


# -- scale from zero ------------------------------------------------------------------------------
def sync_init() -> dict[str, Any]:
    time.sleep(0.02)
    return {"model": "xg-v3"}


async def async_init() -> dict[str, Any]:
    await asyncio.sleep(0.02)
    return {"model": "xg-v3"}


@pytest.mark.parametrize("init", [sync_init, async_init], ids=["sync-init", "async-init"])
@pytest.mark.parametrize("is_async", [True, False], ids=["async-fn", "sync-fn"])
async def test_scale_from_zero_cold_starts_once_and_hands_init_result_to_ctx(
    init: Any, is_async: bool
) -> None:
    app = make_app()
    resources: list[Any] = []

    def handler(events, ctx):
        resources.append(ctx.resources)

    async def async_handler(events, ctx):
        resources.append(ctx.resources)

    app.function(stream("t"), init=init, name="fn")(async_handler if is_async else handler)
    async with app:
        m = app.metrics("fn")
        assert (m.instances, m.cold_starts, m.provisioned_starts) == (0, 0, 0)  # zero until used
        for n in range(4):
            await app.publish("t", n)
            await app.drain(timeout=5)
        m = app.metrics("fn")
    assert len(resources) == 4
    assert all(r is resources[0] for r in resources)  # one instance, one init
    assert resources[0]["model"] == "xg-v3"
    assert (m.cold_starts, m.provisioned_starts, m.instances) == (1, 0, 1)
    assert m.init_ms >= 19  # init slept 20 ms: it was timed


async def test_min_instances_are_provisioned_at_start_and_cover_steady_traffic() -> None:
    app = make_app()
    inits: list[int] = []

    def init() -> int:
        inits.append(1)
        return len(inits)

    @app.function(
        stream("t", key="game"),
        min_instances=3,
        max_instances=6,
        parallelization=3,
        batch_size=2,
        init=init,
    )
    async def fn(events, ctx):
        await asyncio.sleep(0.002)

    async with app:
        m = app.metrics("fn")
        assert (m.provisioned_starts, m.instances, m.cold_starts) == (3, 3, 0)
        assert len(inits) == 3
        for frame in range(4):
            for game in range(12):
                app.publish("t", {"game": f"g{game}", "frame": frame})
        await app.drain(timeout=5)
        m = app.metrics("fn")
    assert m.events == 48
    assert m.max_concurrency <= 3
    assert m.cold_starts == 0


@pytest.mark.parametrize(("partitions", "parallelization"), [(1, 8), (4, 2)])
async def test_max_instances_caps_concurrency_and_throttled_work_waits(
    partitions: int, parallelization: int
) -> None:
    app = make_app(partitions=partitions)
    applied: list[tuple[str | None, int]] = []

    @app.function(
        stream("t", key="game"), max_instances=2, parallelization=parallelization, batch_size=1
    )
    async def fn(events, ctx):
        await asyncio.sleep(0.002)
        applied.extend((ev.key, ev.value["frame"]) for ev in events)

    for frame in range(3):
        for game in range(16):
            app.publish("t", {"game": f"g{game}", "frame": frame})
    async with app:
        await app.drain(timeout=10)
        m = app.metrics("fn")
    assert m.max_concurrency == 2
    assert m.throttles > 0
    assert m.cold_starts == 2
    assert len(applied) == 48  # nothing lost to throttling
    for game in range(16):
        assert [f for k, f in applied if k == f"g{game}"] == [0, 1, 2]
    assert dead_letters(app, "fn") == []


async def test_idle_instances_are_reaped_down_to_min_instances() -> None:
    app = make_app()

    @app.function(
        stream("t", key="game"),
        min_instances=1,
        max_instances=4,
        parallelization=4,
        batch_size=1,
        idle_timeout_s=0.05,
    )
    async def fn(events, ctx):
        await asyncio.sleep(0.005)

    for game in range(16):
        app.publish("t", {"game": f"g{game}"})
    async with app:
        await app.drain(timeout=5)
        grown = app.metrics("fn")
        assert grown.cold_starts >= 1  # the burst needed more than the provisioned instance
        await wait_until(lambda: app.metrics("fn").instances == 1)
        await asyncio.sleep(0.1)
        assert app.metrics("fn").instances == 1  # never below min_instances
        await app.publish("t", {"game": "g0"})
        await app.drain(timeout=5)
        assert app.metrics("fn").cold_starts == grown.cold_starts  # the warm one served it


async def test_a_sync_function_that_times_out_retires_its_instance() -> None:
    app = make_app()
    seen: list[tuple[int, Any]] = []

    @app.function(stream("t"), timeout_s=0.05, retry_backoff_ms=0, init=object)
    def fn(events, ctx):
        seen.append((ctx.attempt, ctx.resources))
        if ctx.attempt == 1:
            time.sleep(0.2)  # a thread cannot be interrupted

    await app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
        m = app.metrics("fn")
    [(_, first), (attempt, second)] = seen
    assert attempt == 2
    assert second is not first  # a fresh instance: the old thread still runs the old call
    assert (m.timeouts, m.cold_starts, m.instances) == (1, 2, 1)


async def test_an_async_function_that_times_out_keeps_its_instance() -> None:
    app = make_app()
    seen: list[Any] = []

    @app.function(stream("t"), timeout_s=0.03, retry_backoff_ms=0, init=object)
    async def fn(events, ctx):
        seen.append(ctx.resources)
        if ctx.attempt == 1:
            await asyncio.sleep(10)  # cancelled at the time limit

    await app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
        m = app.metrics("fn")
    assert len(seen) == 2 and seen[0] is seen[1]
    assert (m.timeouts, m.cold_starts) == (1, 1)


async def test_an_init_that_fails_is_retried_like_a_failed_invocation() -> None:
    app = make_app()
    attempts: list[int] = []
    applied: list[tuple[int, Any]] = []

    def init() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("model server not up yet")
        return "model"

    @app.function(stream("t"), init=init, retry_backoff_ms=0)
    async def fn(events, ctx):
        applied.append((ctx.attempt, ctx.resources))

    await app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
        m = app.metrics("fn")
    assert applied == [(2, "model")]
    assert (m.errors, m.retries, m.cold_starts) == (1, 1, 1)


async def test_an_init_that_always_fails_dead_letters_the_events() -> None:
    app = make_app()

    def init() -> None:
        raise ConnectionError("model server down")

    @app.function(stream("t"), init=init, max_retry_attempts=1, retry_backoff_ms=0)
    async def fn(events, ctx):
        raise AssertionError("never runs")

    await app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
    [letter] = dead_letters(app, "fn")
    assert letter.reason == "error"
    assert "model server down" in letter.error
    assert letter.attempts == 2
