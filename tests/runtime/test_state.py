"""Keyed state: staged writes, commit on success only, watermarks that stop double counting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from arenaflow import App, Settings, stream
from arenaflow.state.base import DELETED, State, StateView
from arenaflow.state.memory import MemoryState
from arenaflow.transport.memory import MemoryTransport

from .conftest import dead_letters, make_app, memory, wait_until


class AcksLost(MemoryTransport):
    """The memory log, with acks that never arrive while ``losing``: a worker that committed its
    state and died before acknowledging."""

    losing = True

    async def ack(self, topic: str, group: str, partition: int, offsets: Iterable[int]) -> None:
        if not self.losing:
            await super().ack(topic, group, partition, offsets)


def counting_app(transport: MemoryTransport, state: MemoryState, applied: list[int]) -> App:
    app = App(transport=transport, state=state, settings=Settings())

    @app.function(stream("frames", key="game"), batch_size=4)
    async def count(events, ctx):
        for ev in events:
            ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1
        applied.extend(ev.value["n"] for ev in events)

    return app


def counts(state: State, keys: Iterable[str], function: str = "count") -> dict[str, int]:
    return {key: state.get(function, key, 0) for key in keys}


# -- the backend and the view ---------------------------------------------------------------------
async def test_memory_state_commits_writes_deletes_and_watermarks() -> None:
    state = MemoryState()
    assert state.get("fn", "k") is None
    assert state.get("fn", "k", 0) == 0
    assert state.watermark("fn", ("t", 0, "g1")) == -1
    await state.commit("fn", {"a": 1, "b": 2}, {("t", 0, "g1"): 5})
    await state.commit("fn", {"a": DELETED, "c": 3}, {("t", 0, "g1"): 3, ("t", 1, None): 0})
    assert dict(state.items("fn")) == {"b": 2, "c": 3}
    assert state.watermark("fn", ("t", 0, "g1")) == 5  # watermarks never move back
    assert state.watermark("fn", ("t", 1, None)) == 0
    assert dict(state.items("other")) == {}  # namespaces are separate
    assert state.watermark("other", ("t", 0, "g1")) == -1


async def test_view_stages_writes_until_commit() -> None:
    state = MemoryState()
    await state.commit("fn", {"old": 1, "gone": 2}, {})
    view = StateView(state, "fn")
    view["new"] = 10
    view["old"] = view["old"] + 1
    del view["gone"]
    # The invocation sees its own writes...
    assert (view["new"], view["old"], view.get("gone", "none")) == (10, 2, "none")
    assert "new" in view
    assert "gone" not in view
    assert sorted(view) == ["new", "old"]
    # ...nobody else does until commit.
    assert (state.get("fn", "new"), state.get("fn", "old"), state.get("fn", "gone")) == (None, 1, 2)
    await view.commit({("t", 0, "g1"): 7})
    assert dict(state.items("fn")) == {"old": 2, "new": 10}
    assert state.watermark("fn", ("t", 0, "g1")) == 7
    assert view.staged == {}


async def test_view_discard_drops_staged_writes() -> None:
    state = MemoryState()
    view = StateView(state, "fn")
    view["x"] = 1
    view.discard()
    assert "x" not in view
    await view.commit({})
    assert state.get("fn", "x") is None


# -- through the runtime --------------------------------------------------------------------------
async def test_writes_are_visible_inside_the_invocation_and_committed_after() -> None:
    app = make_app()
    seen: list[tuple[object, ...]] = []

    @app.function(stream("t"))
    async def fn(events, ctx):
        ctx.state["x"] = len(events)
        seen.append(
            (ctx.state["x"], "x" in ctx.state, list(ctx.state), app.state("fn").get("fn", "x"))
        )

    await app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
    assert seen == [(1, True, ["x"], None)]  # staged, not yet committed while running
    assert app.state_backend.get("fn", "x") == 1


async def test_a_failed_try_leaves_no_trace_and_the_retry_counts_once() -> None:
    app = make_app(partitions=2)

    @app.function(stream("t", key="game"), batch_size=3, retry_backoff_ms=0, bisect_on_error=False)
    async def fn(events, ctx):
        for ev in events:
            ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1
            ctx.state[("seen", ev.value["n"])] = True
        if ctx.attempt < 3:
            raise RuntimeError("flaky vendor feed")

    for n in range(9):
        await app.publish("t", {"game": f"g{n % 2}", "n": n})
    async with app:
        await app.drain(timeout=5)
    assert counts(app.state_backend, ["g0", "g1"], "fn") == {"g0": 5, "g1": 4}
    assert sum(1 for key, _ in app.state_backend.items("fn") if key[0] == "seen") == 9
    assert app.metrics("fn").errors > 0
    assert dead_letters(app, "fn") == []


async def test_writes_of_an_invocation_that_fails_for_good_are_discarded() -> None:
    app = make_app()

    @app.function(stream("t"), max_retry_attempts=1, retry_backoff_ms=0)
    async def fn(events, ctx):
        ctx.state["touched"] = True
        raise ValueError("poison")

    await app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
    assert app.state_backend.get("fn", "touched") is None
    assert len(dead_letters(app, "fn")) == 1


async def test_writes_of_a_timed_out_invocation_are_discarded() -> None:
    app = make_app()

    @app.function(stream("t"), timeout_s=0.05, retry_backoff_ms=0)
    async def fn(events, ctx):
        ctx.state["n"] = ctx.state.get("n", 0) + 1
        if ctx.attempt == 1:
            await asyncio.sleep(10)

    await app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
    assert app.state_backend.get("fn", "n") == 1
    assert app.metrics("fn").timeouts == 1


async def test_a_sync_function_that_finishes_after_its_time_limit_commits_nothing() -> None:
    app = make_app()
    late_done = asyncio.Event()
    loop = asyncio.get_running_loop()

    @app.function(stream("t"), timeout_s=0.05, retry_backoff_ms=0)
    def fn(events, ctx):
        if ctx.attempt == 1:
            time.sleep(0.25)  # the thread cannot be interrupted: it writes after the limit
            ctx.state["late"] = True
            loop.call_soon_threadsafe(late_done.set)
        else:
            ctx.state["on_time"] = True

    await app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
        await asyncio.wait_for(late_done.wait(), 5)
        await asyncio.sleep(0.01)
    assert app.state_backend.get("fn", "on_time") is True
    assert app.state_backend.get("fn", "late") is None


async def test_deletes_are_committed() -> None:
    app = make_app()

    @app.function(stream("t"))
    async def fn(events, ctx):
        for ev in events:
            if ev.value == "del":
                del ctx.state["k"]
            else:
                ctx.state["k"] = ev.value

    await app.publish("t", "v")
    async with app:
        await app.drain(timeout=5)
        assert app.state_backend.get("fn", "k") == "v"
        await app.publish("t", "del")
        await app.drain(timeout=5)
    assert app.state_backend.get("fn", "k", "absent") == "absent"


async def test_redelivery_after_a_crash_before_the_acks_does_not_double_count() -> None:
    transport = AcksLost(default_partitions=2)
    state = MemoryState()
    applied: list[int] = []
    keys = ["g0", "g1", "g2"]
    first = counting_app(transport, state, applied)
    for n in range(20):
        first.publish("frames", {"game": keys[n % 3], "n": n})
    async with first:
        await wait_until(lambda: len(applied) == 20)
    assert transport.lag("frames", "count") == 20  # state was committed, no ack arrived
    before = counts(state, keys)
    assert before == {"g0": 7, "g1": 7, "g2": 6}

    # The worker restarts; meanwhile the game went on.
    transport.losing = False
    second = counting_app(transport, state, applied)
    for n in range(20, 26):
        second.publish("frames", {"game": keys[n % 3], "n": n})
    async with second:
        await second.drain(timeout=5)
        metrics = second.metrics("count")
    assert metrics.duplicates_skipped == 20
    assert metrics.events == 6
    assert sorted(applied) == list(range(26))  # every event applied exactly once
    assert counts(state, keys) == {"g0": 9, "g1": 9, "g2": 8}
    assert transport.lag("frames", "count") == 0


async def test_a_group_rewound_over_applied_events_skips_them() -> None:
    transport = MemoryTransport(default_partitions=2)
    state = MemoryState()
    applied: list[int] = []
    app = counting_app(transport, state, applied)
    for n in range(12):
        app.publish("frames", {"game": f"g{n % 4}", "n": n})
    async with app:
        await app.drain(timeout=5)
    # The group's offsets are lost (e.g. reset by an operator): everything is delivered again.
    for p in range(2):
        await transport.seek("frames", "count", p, 0)
    assert transport.lag("frames", "count") == 12
    async with app:
        await app.drain(timeout=5)
        assert app.metrics("count").duplicates_skipped == 12
    assert sorted(applied) == list(range(12))
    assert sum(counts(state, [f"g{i}" for i in range(4)]).values()) == 12


async def test_replay_reprocesses_applied_events() -> None:
    transport = MemoryTransport(default_partitions=2)
    state = MemoryState()
    applied: list[int] = []
    app = counting_app(transport, state, applied)
    keys = [f"g{i}" for i in range(4)]
    for n in range(12):
        app.publish("frames", {"game": keys[n % 4], "n": n})
    async with app:
        await app.drain(timeout=5)
        await app.replay("count", 0)
        await app.drain(timeout=5)
        assert app.metrics("count").duplicates_skipped == 0
    assert sorted(applied) == sorted(list(range(12)) * 2)
    assert counts(state, keys) == dict.fromkeys(keys, 6)


async def test_replay_of_one_partition_from_an_offset() -> None:
    app = make_app(partitions=2)
    applied: list[tuple[int, int]] = []

    @app.function(stream("t", key="game"))
    async def fn(events, ctx):
        applied.extend((ev.partition, ev.offset) for ev in events)

    for n in range(20):
        await app.publish("t", {"game": f"g{n}"})
    transport = memory(app)
    ends = [transport.end_offset("t", p) for p in range(2)]
    assert min(ends) > 2
    async with app:
        await app.drain(timeout=5)
        applied.clear()
        await app.replay("fn", 2, partition=1)
        await app.drain(timeout=5)
    assert applied == [(1, offset) for offset in range(2, ends[1])]
