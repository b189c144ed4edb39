"""The process executor: workers forked from the fork server, state through the parent, crashes,
time limits, cold starts, and no worker left behind.

The functions the workers run live in ``process_functions`` (workers import them by name), except
``tripled`` below: a process function may live in a test module too.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arenaflow import ConfigError, FunctionError, InstanceCrashed, stream
from arenaflow.runtime.executors.process import ProcessInstance

from . import process_functions as pf
from .conftest import dead_letters, make_app, memory, topic_events, wait_until


def tripled(events, ctx):
    return [3 * ev.value for ev in events]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def values(app, topic: str) -> list[Any]:
    return [ev.value for ev in topic_events(memory(app), topic)]


# -- running functions ----------------------------------------------------------------------------
async def test_sync_function_reads_and_writes_state_publishes_and_uses_its_init() -> None:
    app = make_app()
    app.function(
        stream("frames", key="game"), executor="process", init=pf.load_model, batch_size=10
    )(pf.count_sync)
    await app.state_backend.commit("count_sync", {"total": 5}, {})  # read through the parent
    for n in range(25):
        app.publish("frames", {"game": f"g{n % 3}", "n": n})
    async with app:
        await app.drain(timeout=10)
        state = app.state("count_sync")
        assert [state.get("count_sync", f"g{g}") for g in range(3)] == [9, 8, 8]
        assert state.get("count_sync", "total") == 5 + 10 * sum(range(25))
        summaries = values(app, "counted")
        assert sum(s["n"] for s in summaries) == 25
        assert {s["pid"] for s in summaries} != {os.getpid()}  # it ran in a worker
        m = app.metrics("count_sync")
        assert (m.events, m.errors, m.cold_starts) == (25, 0, 1)


async def test_async_function_with_async_init_deletes_state() -> None:
    app = make_app()
    app.function(stream("frames", key="game"), executor="process", init=pf.load_model_async)(
        pf.count_async
    )
    await app.state_backend.commit("count_async", {"obsolete": 1}, {})
    for n in range(10):
        app.publish("frames", {"game": "g1", "n": n})
    async with app:
        await app.drain(timeout=10)
        assert app.state_backend.get("count_async", "g1") == 10
        assert app.state_backend.get("count_async", "obsolete") is None
        assert {s["scale"] for s in values(app, "counted")} == {100}  # the init was awaited


async def test_state_iteration_and_results_come_back_through_invoke() -> None:
    app = make_app()
    app.function(executor="process")(pf.list_state)
    app.function(executor="process")(pf.echo)
    await app.state_backend.commit("list_state", {"a": 1, "b": [2]}, {})
    async with app:
        assert await app.invoke("list_state", None) == [("a", 1), ("b", [2])]
        assert await app.invoke("echo", {"x": (1, 2.5)}) == [{"x": (1, 2.5)}]


async def test_a_function_may_live_in_a_test_module() -> None:
    app = make_app()
    app.function(executor="process")(tripled)
    async with app:
        assert await app.invoke("tripled", 7) == [21]


async def test_partial_failures_are_reported_by_position() -> None:
    # Events cross the pipe by value: the dispatcher must still recognise the ones reported.
    app = make_app()
    app.function(stream("numbers"), executor="process", max_retry_attempts=0)(pf.reject_odd)
    for n in range(6):
        app.publish("numbers", {"n": n}, key=f"k{n}")
    async with app:
        await app.drain(timeout=10)
        assert sorted(k for k, _ in app.state_backend.items("reject_odd")) == [0, 2, 4]
        letters = dead_letters(app, "reject_odd")
        assert sorted(d.value["n"] for d in letters) == [1, 3, 5]
        assert {d.reason for d in letters} == {"reported"}


# -- errors ---------------------------------------------------------------------------------------
async def test_init_failure_is_a_function_error() -> None:
    app = make_app()
    app.function(stream("frames"), executor="process", init=pf.broken_init, max_retry_attempts=1)(
        pf.echo
    )
    app.publish("frames", {"n": 1})
    async with app:
        with pytest.raises(FunctionError, match=r"init of echo failed.*no model file") as info:
            await app.invoke("echo", 1)
        assert isinstance(info.value.__cause__, ValueError)
        await app.drain(timeout=10)
        [letter] = dead_letters(app, "echo")
        assert letter.reason == "error" and "no model file" in letter.error
        assert app.metrics("echo").instances == 0


async def test_errors_raised_in_workers_keep_type_message_and_worker_traceback() -> None:
    app = make_app()
    app.function(executor="process")(pf.raise_value_error)
    app.function(executor="process")(pf.raise_unpicklable_error)
    async with app:
        with pytest.raises(FunctionError) as info:
            await app.invoke("raise_value_error", 42)
        cause = info.value.__cause__
        assert isinstance(cause, ValueError) and str(cause) == "bad frame 42"
        assert "in worker process" in "".join(cause.__notes__)
        assert "raise_value_error" in "".join(cause.__notes__)
        with pytest.raises(FunctionError, match="_NeedsTwoArgs: 1/2"):
            await app.invoke("raise_unpicklable_error", 1)


async def test_unpicklable_results_and_outputs_give_a_clear_error() -> None:
    app = make_app()
    app.function(executor="process", max_instances=1)(pf.return_lock)
    app.function(executor="process")(pf.publish_lock)
    async with app:
        with pytest.raises(FunctionError, match="cannot send back its result: it must be pickl"):
            await app.invoke("return_lock", None)
        with pytest.raises(FunctionError, match="the value it published to 'out'"):
            await app.invoke("publish_lock", None)
        with pytest.raises(FunctionError, match="must be pickl"):
            await app.invoke("return_lock", None)
        assert app.metrics("return_lock").cold_starts == 1  # the worker lived on


async def test_unpicklable_events_give_a_clear_error() -> None:
    app = make_app()
    app.function(executor="process")(pf.echo)
    async with app:
        with pytest.raises(FunctionError, match=r"cannot send the batch of echo.*picklable"):
            await app.invoke("echo", lambda: None)
        assert await app.invoke("echo", 1) == [1]


def test_closures_and_lambdas_are_refused_at_decoration() -> None:
    app = make_app()

    def local(events, ctx):
        pass

    with pytest.raises(ConfigError, match=r"'.*<locals>.local' is defined inside a function"):
        app.function(executor="process")(local)
    with pytest.raises(ConfigError, match=r"handler.*is a lambda"):
        app.function(executor="process", name="lam")(lambda events, ctx: None)
    with pytest.raises(ConfigError, match=r"runs the init .*is a lambda"):
        app.function(executor="process", init=lambda: None)
    app.function(executor="inline")(local)  # inline functions may be closures


# -- crashes and time limits ----------------------------------------------------------------------
async def test_worker_killed_mid_batch_is_replaced_and_the_batch_applied_once(tmp_path) -> None:
    pid_file = tmp_path / "pid"
    app = make_app()
    app.function(
        stream("frames", key="game"),
        executor="process",
        batch_size=10,
        bisect_on_error=False,
        timeout_s=60,
    )(pf.wait_to_be_killed)
    for n in range(10):
        app.publish("frames", {"game": f"g{n % 2}", "n": n, "pid_file": str(pid_file)})
    async with app:
        await wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", timeout=10)
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        await app.drain(timeout=10)
        assert [app.state_backend.get("wait_to_be_killed", g) for g in ("g0", "g1")] == [5, 5]
        assert dead_letters(app, "wait_to_be_killed") == []
        m = app.metrics("wait_to_be_killed")
        assert (m.errors, m.retries, m.cold_starts, m.instances) == (1, 1, 2, 1)
        assert not alive(pid)


async def test_a_crash_is_instance_crashed_and_dead_letters_as_crashed() -> None:
    app = make_app()
    app.function(stream("frames"), executor="process", max_retry_attempts=0)(pf.apply_in_order)
    app.publish("frames", {"n": 1, "kill_until": 99}, key="k")
    async with app:
        with pytest.raises(InstanceCrashed, match=r"died mid-invocation.*killed by SIGKILL"):
            await app.invoke("apply_in_order", {"n": 0, "kill_until": 1})
        await app.drain(timeout=10)
        [letter] = dead_letters(app, "apply_in_order")
        assert letter.reason == "crashed" and "SIGKILL" in letter.error
        assert app.state_backend.get("apply_in_order", "k") is None


async def test_a_worker_that_died_idle_fails_one_try_and_is_replaced() -> None:
    app = make_app()
    app.function(stream("frames", key="game"), executor="process")(pf.report_pid)
    app.publish("frames", {"game": "g1"})
    async with app:
        await app.drain(timeout=10)
        [pid] = values(app, "pids")
        os.kill(pid, signal.SIGKILL)
        await wait_until(lambda: not alive(pid))
        app.publish("frames", {"game": "g1"})
        await app.drain(timeout=10)
        assert app.state_backend.get("report_pid", "g1") == 2
        assert values(app, "pids")[1] != pid
        m = app.metrics("report_pid")
        assert (m.errors, m.cold_starts, m.dead_lettered) == (1, 2, 0)


async def test_time_limit_kills_retries_then_dead_letters_and_the_replacement_works(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pids"
    app = make_app()
    app.function(
        stream("frames", key="game"),
        executor="process",
        timeout_s=0.3,
        max_retry_attempts=1,
        batch_size=1,
    )(pf.slow_when_asked)
    app.publish("frames", {"game": "g1", "sleep": 30, "pid_file": str(pid_file)})
    app.publish("frames", {"game": "g1"})
    started = time.monotonic()
    async with app:
        await app.drain(timeout=10)
        assert time.monotonic() - started < 5
        [letter] = dead_letters(app, "slow_when_asked")
        assert (letter.reason, letter.attempts) == ("timeout", 2)
        assert "0.3 s time limit" in letter.error
        assert app.state_backend.get("slow_when_asked", "g1") == 1  # only the quick event
        timed_out = [int(line) for line in pid_file.read_text().split()]
        assert len(set(timed_out)) == 2  # each try on a fresh worker
        [replacement] = values(app, "done")
        assert replacement not in timed_out
        await wait_until(lambda: not any(alive(pid) for pid in timed_out))
        m = app.metrics("slow_when_asked")
        assert (m.timeouts, m.cold_starts) == (2, 3)


# -- cold starts and lifecycle --------------------------------------------------------------------
async def test_cold_starts_are_counted_and_min_instances_warms_workers() -> None:
    app = make_app()
    app.function(executor="process", min_instances=2)(pf.echo)
    app.function(executor="process", init=pf.load_model)(pf.count_sync)
    async with app:
        warm = app.metrics("echo")
        assert (warm.provisioned_starts, warm.cold_starts, warm.instances) == (2, 0, 2)
        assert warm.init_ms > 0
        assert await app.invoke("echo", 1) == [1]
        assert app.metrics("echo").cold_starts == 0  # served warm
        cold = app.metrics("count_sync")
        assert (cold.cold_starts, cold.instances) == (0, 0)
        await app.invoke("count_sync", {"n": 1})
        cold = app.metrics("count_sync")
        assert (cold.cold_starts, cold.provisioned_starts, cold.instances) == (1, 0, 1)
        assert 0 < cold.init_ms < 5_000


async def test_stopping_the_app_leaves_no_worker_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    app = make_app()
    app.function(executor="process", min_instances=1)(pf.sleep_then_pid)
    app.function(stream("frames", key="game"), executor="process", timeout_s=60)(pf.slow_when_asked)
    app.publish("frames", {"game": "g1", "sleep": 30, "pid_file": str(pid_file)})
    await app.start()
    pids = set(await asyncio.gather(*(app.invoke("sleep_then_pid", 0.2) for _ in range(3))))
    assert len(pids) == 3 and os.getpid() not in pids
    await wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", timeout=10)
    busy = int(pid_file.read_text())  # mid-invocation when the app stops
    started = time.monotonic()
    await app.stop()
    assert time.monotonic() - started < 2
    await wait_until(lambda: not any(alive(pid) for pid in {*pids, busy}), timeout=2)
    assert app.metrics("slow_when_asked").instances == 0
    assert app.metrics("sleep_then_pid").instances == 0


async def test_an_abandoned_call_kills_its_worker_and_the_next_call_gets_a_fresh_one(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pids"
    app = make_app()
    app.function(executor="process", max_instances=1)(pf.slow_when_asked)
    async with app:
        call = asyncio.create_task(
            app.invoke("slow_when_asked", {"sleep": 30, "pid_file": str(pid_file)})
        )
        await wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", timeout=10)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        pid = int(pid_file.read_text())
        await wait_until(lambda: not alive(pid), timeout=2)
        await app.invoke("slow_when_asked", {})
        [fresh] = values(app, "done")
        assert fresh != pid
        m = app.metrics("slow_when_asked")
        assert (m.errors, m.cold_starts) == (0, 2)


async def test_instance_start_and_stop_directly() -> None:
    inst = ProcessInstance(pf.echo, None)
    await inst.start()
    pid = inst.pid
    assert pid is not None and alive(pid)
    await inst.stop()
    assert not alive(pid)  # stop() waits until the worker is reaped
    await inst.stop()  # idempotent


# -- properties -----------------------------------------------------------------------------------
_events = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from([0] * 6 + [1, 2])),
    min_size=4,
    max_size=32,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    events=_events,
    batch_size=st.integers(1, 8),
    parallelization=st.integers(1, 2),
    bisect=st.booleans(),
)
def test_order_per_key_and_exactly_once_state_while_workers_are_killed(
    events: list[tuple[str, int]], batch_size: int, parallelization: int, bisect: bool
) -> None:
    """Events ask their worker to SIGKILL itself mid-batch on up to two tries, after staging the
    events before them: every event is still applied, once, in order per key."""
    app = make_app(partitions=2)
    app.function(
        stream("frames"),
        executor="process",
        batch_size=batch_size,
        parallelization=parallelization,
        bisect_on_error=bisect,
        max_retry_attempts=3,
        retry_backoff_ms=1,
    )(pf.apply_in_order)
    expected: dict[str, list[int]] = {}
    for n, (key, kill_until) in enumerate(events):
        app.publish("frames", {"n": n, "kill_until": kill_until}, key=key)
        expected.setdefault(key, []).append(n)

    async def run() -> None:
        async with app:
            await app.drain(timeout=30)
            applied = {key: app.state_backend.get("apply_in_order", key) for key in expected}
            assert applied == expected
            assert dead_letters(app, "apply_in_order") == []
            if any(kill_until for _, kill_until in events):
                assert app.metrics("apply_in_order").errors > 0

    asyncio.run(run())


@pytest.mark.parametrize("executor", ["inline", "process"])
async def test_publish_many_keeps_order_and_publishes_nothing_for_a_failed_try(
    executor: str,
) -> None:
    app = make_app()
    app.function(stream("words", key="k"), executor=executor, batch_size=1, max_retry_attempts=0)(
        pf.fan_out
    )
    for word in ("a", "boom", "b"):
        app.publish("words", word, key="k")
    async with app:
        await app.drain(timeout=10)
    assert values(app, "fanned") == [f"{w}-{i}" for w in ("a", "b") for i in range(3)]
    assert len(dead_letters(app, "fan_out")) == 1
