"""Properties of the runtime over random games, failures, time-outs and options.

Failures are data, not chance: a scenario lists the (event, attempt) pairs that raise, report a
partial failure or time out, so every run of a scenario fails the same tries and Hypothesis can
shrink a counterexample to a handful of events.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arenaflow import App, BatchItemFailures, Event, Settings, stream
from arenaflow.state.memory import MemoryState
from arenaflow.transport.memory import MemoryTransport

from .conftest import dead_letters, wait_until

TIMEOUT_S = 0.03
Pairs = frozenset[tuple[int, int]]


@dataclass(frozen=True)
class Scenario:
    keys: list[str]  # keys[i] is the game of event i, published in this order
    raises: Pairs  # (event, attempt): the invocation holding the event raises on that attempt
    reports: Pairs  # (event, attempt): the function reports the event failed on that attempt
    stalls: Pairs  # (event, attempt): the invocation runs past its time limit on that attempt
    partitions: int
    options: dict[str, Any]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    keys = draw(st.lists(st.sampled_from(["g1", "g2", "g3"]), min_size=1, max_size=20))
    event = st.integers(0, len(keys) - 1)
    attempt = st.integers(1, 3)
    return Scenario(
        keys=keys,
        raises=draw(st.frozensets(st.tuples(event, attempt), max_size=8)),
        reports=draw(st.frozensets(st.tuples(event, attempt), max_size=6)),
        stalls=draw(st.frozensets(st.tuples(event, st.integers(1, 2)), max_size=2)),
        partitions=draw(st.integers(1, 3)),
        options={
            "batch_size": draw(st.integers(1, 8)),
            "parallelization": draw(st.integers(1, 3)),
            "bisect_on_error": draw(st.booleans()),
            "max_retry_attempts": draw(st.integers(0, 2)),
        },
    )


class AcksLost(MemoryTransport):
    """Acks of ``lost`` (partition, offset) pairs never arrive while ``losing``: the worker died
    after committing state and before acknowledging."""

    def __init__(self, partitions: int) -> None:
        super().__init__(default_partitions=partitions)
        self.lost: set[tuple[int, int]] = set()
        self.losing = False

    async def ack(self, topic: str, group: str, partition: int, offsets: Iterable[int]) -> None:
        if self.losing:
            offsets = [o for o in offsets if (partition, o) not in self.lost]
        await super().ack(topic, group, partition, offsets)


def build(sc: Scenario, transport: MemoryTransport, state: MemoryState, applied: list[int]) -> App:
    """An app whose function fails exactly as the scenario says and records what it applied."""
    app = App(transport=transport, state=state, settings=Settings())

    @app.function(
        stream("frames", key="game"), timeout_s=TIMEOUT_S, retry_backoff_ms=0, **sc.options
    )
    async def fn(events: list[Event], ctx: Any) -> BatchItemFailures:
        tries = {(ev.value, ctx.attempt) for ev in events}
        if tries & sc.raises:
            raise RuntimeError("scripted failure")
        if tries & sc.stalls:
            await asyncio.sleep(10)
        failed: list[Event] = []
        failed_keys: set[str | None] = set()
        done: list[int] = []
        for ev in events:
            # Stop on the first failure per key and report just that one: the runtime retries
            # the later events of the key with it.
            if ev.key in failed_keys:
                continue
            if (ev.value, ctx.attempt) in sc.reports:
                failed_keys.add(ev.key)
                failed.append(ev)
                continue
            ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1
            done.append(ev.value)
        applied.extend(done)  # only reached when the invocation succeeds
        return BatchItemFailures(failed)

    return app


def check_order_and_state(sc: Scenario, applied: list[int], state: MemoryState) -> None:
    for key in set(sc.keys):
        mine = [i for i in applied if sc.keys[i] == key]
        assert mine == sorted(mine), f"{key} applied out of order: {mine}"
        assert state.get("fn", key, 0) == len(mine), f"{key} counted {state.get('fn', key)}"


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_every_event_is_applied_once_or_dead_lettered_in_order_per_key(sc: Scenario) -> None:
    async def run() -> tuple[list[int], list[int], MemoryState]:
        applied: list[int] = []
        state = MemoryState()
        app = build(sc, MemoryTransport(default_partitions=sc.partitions), state, applied)
        for i, key in enumerate(sc.keys):
            app.publish("frames", i, key=key)
        async with app:
            await app.drain(timeout=20)
        return applied, [d.value for d in dead_letters(app, "fn")], state

    applied, dead, state = asyncio.run(run())
    everything = set(range(len(sc.keys)))
    # (1) at-least-once, and with no crash in between, exactly once: applied or dead-lettered.
    assert set(applied) | set(dead) == everything
    assert not set(applied) & set(dead)
    assert all(n == 1 for n in Counter(applied).values())
    assert all(n == 1 for n in Counter(dead).values())
    # (2) per-key order and (3) state counts each applied event once.
    check_order_and_state(sc, applied, state)


@settings(max_examples=50, deadline=None)
@given(scenarios(), st.data())
def test_a_crash_before_acks_never_applies_an_event_twice(
    sc: Scenario, data: st.DataObject
) -> None:
    lost_events = data.draw(st.sets(st.integers(0, len(sc.keys) - 1)), label="acks lost")

    async def run() -> tuple[list[int], list[int], MemoryState, int]:
        applied: list[int] = []
        state = MemoryState()
        transport = AcksLost(sc.partitions)
        first = build(sc, transport, state, applied)
        for i, key in enumerate(sc.keys):
            event = first.publish("frames", i, key=key).event
            assert event is not None
            if i in lost_events:
                transport.lost.add((event.partition, event.offset))
        transport.losing = True

        def settled() -> bool:
            dead = {d.value for d in dead_letters(first, "fn")}
            return len(set(applied) | dead) == len(sc.keys)

        async with first:
            await wait_until(settled, timeout=20)
        lost_applied = len(lost_events & set(applied))
        transport.losing = False
        second = build(sc, transport, state, applied)
        async with second:
            await second.drain(timeout=20)
            skipped = second.metrics("fn").duplicates_skipped
        assert skipped >= lost_applied
        return applied, [d.value for d in dead_letters(second, "fn")], state, skipped

    applied, dead, state, _ = asyncio.run(run())
    # (1) at-least-once over the crash; a dead letter may be tried again after it, but an
    # applied event never is.
    assert set(applied) | set(dead) == set(range(len(sc.keys)))
    assert all(n == 1 for n in Counter(applied).values())
    # (2) per-key order across both runs and (3) no double counting in state.
    check_order_and_state(sc, applied, state)
