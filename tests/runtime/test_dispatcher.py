"""The stream dispatcher: batching, lanes, retries, bisection, partial failures, dead letters,
record age, decoding, time limits and outputs."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from typing import Any

import msgspec
import pytest

from arenaflow import BatchItemFailures, DeadLetter, Event, stream
from arenaflow.events import TRACE_HEADER
from arenaflow.transport.base import partition_for

from .conftest import dead_letters, make_app, memory, topic_events


class Frame(msgspec.Struct):
    game_id: str
    frame: int


def per_key(pairs: list[tuple[str | None, int]]) -> dict[str | None, list[int]]:
    out: dict[str | None, list[int]] = {}
    for key, n in pairs:
        out.setdefault(key, []).append(n)
    return out


# -- batching -------------------------------------------------------------------------------------
async def test_batches_hold_at_most_batch_size_events_in_order() -> None:
    app = make_app()
    batches: list[list[int]] = []

    @app.function(stream("t"), batch_size=10)
    async def fn(events, ctx):
        batches.append([ev.value for ev in events])

    for i in range(25):
        app.publish("t", i)
    async with app:
        await app.drain(timeout=5)
    assert max(len(b) for b in batches) == 10
    assert [v for b in batches for v in b] == list(range(25))
    assert app.metrics("fn").invocations == len(batches)
    assert app.metrics("fn").events == 25


async def test_without_a_window_a_trickle_is_processed_event_by_event() -> None:
    app = make_app()
    batches: list[list[int]] = []

    @app.function(stream("t"), batch_size=100)
    async def fn(events, ctx):
        batches.append([ev.value for ev in events])

    async with app:
        for i in range(3):
            await app.publish("t", i)
            await app.drain(timeout=5)
    assert batches == [[0], [1], [2]]


async def test_the_batching_window_gathers_a_trickle_into_one_batch() -> None:
    app = make_app()
    batches: list[list[int]] = []

    # A long window ends early once the batch is full.
    @app.function(stream("t"), batch_size=5, max_batching_window_ms=60_000)
    async def fn(events, ctx):
        batches.append([ev.value for ev in events])

    async with app:
        for i in range(5):
            await app.publish("t", i)
            await asyncio.sleep(0.005)
        await app.drain(timeout=5)
    assert batches == [[0, 1, 2, 3, 4]]


async def test_the_batching_window_closes_a_partial_batch() -> None:
    app = make_app()
    batches: list[list[int]] = []

    @app.function(stream("t"), batch_size=100, max_batching_window_ms=150)
    async def fn(events, ctx):
        batches.append([ev.value for ev in events])

    async with app:
        for i in range(3):
            await app.publish("t", i)
            await asyncio.sleep(0.002)
        await app.drain(timeout=5)
    assert batches == [[0, 1, 2]]


# -- lanes ----------------------------------------------------------------------------------------
async def lane_run(parallelization: int) -> tuple[int, list[tuple[str | None, int]]]:
    """Run 16 games x 5 frames through one partition; return the most concurrent invocations
    and the (game, frame) order in which batches were applied."""
    app = make_app(partitions=1)
    applied: list[tuple[str | None, int]] = []
    active = 0
    most = 0

    @app.function(stream("t", key="game"), batch_size=2, parallelization=parallelization)
    async def fn(events, ctx):
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.002)
        active -= 1
        applied.extend((ev.key, ev.value["frame"]) for ev in events)

    for frame in range(5):
        for game in range(16):
            app.publish("t", {"game": f"g{game}", "frame": frame})
    async with app:
        await app.drain(timeout=10)
    return most, applied


async def test_parallelization_runs_lanes_concurrently_and_keeps_order_per_key() -> None:
    most, applied = await lane_run(parallelization=4)
    assert 1 < most <= 4
    assert len(applied) == 80
    assert per_key(applied) == {f"g{g}": [0, 1, 2, 3, 4] for g in range(16)}


async def test_one_lane_per_partition_runs_one_batch_at_a_time() -> None:
    most, applied = await lane_run(parallelization=1)
    assert most == 1
    assert per_key(applied) == {f"g{g}": [0, 1, 2, 3, 4] for g in range(16)}


# -- retries and dead letters ---------------------------------------------------------------------
async def test_retries_back_off_and_count_attempts() -> None:
    app = make_app()
    tries: list[tuple[int, float]] = []

    @app.function(stream("t"), retry_backoff_ms=20, max_retry_attempts=3)
    async def fn(events, ctx):
        tries.append((ctx.attempt, time.monotonic()))
        if ctx.attempt < 3:
            raise ConnectionError("vendor API")

    await app.publish("t", "frame")
    async with app:
        await app.drain(timeout=5)
    assert [attempt for attempt, _ in tries] == [1, 2, 3]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(tries)]
    assert gaps[0] >= 0.020 * 0.9  # back-off doubles: 20 ms, then 40 ms
    assert gaps[1] >= 0.040 * 0.9
    m = app.metrics("fn")
    assert (m.invocations, m.errors, m.retries, m.dead_lettered) == (3, 2, 2, 0)
    assert dead_letters(app, "fn") == []


async def test_a_batch_failing_every_retry_is_dead_lettered_with_the_reason() -> None:
    app = make_app(partitions=2)
    attempts: list[int] = []

    @app.function(stream("t", key="game"), max_retry_attempts=2, retry_backoff_ms=0)
    async def fn(events, ctx):
        attempts.append(ctx.attempt)
        raise ValueError("bad frame")

    event = await app.publish("t", {"game": "g1", "frame": 7}, headers={TRACE_HEADER: "tr-1"})
    before = time.time()
    async with app:
        await app.drain(timeout=5)
        assert app.lag() == {"fn:t": 0}  # given up on is acknowledged: the game goes on
    assert attempts == [1, 2, 3]
    [letter] = dead_letters(app, "fn")
    assert isinstance(letter, DeadLetter)
    assert letter.function == "fn"
    assert (letter.topic, letter.partition, letter.offset) == ("t", event.partition, event.offset)
    assert (letter.key, letter.value) == ("g1", {"game": "g1", "frame": 7})
    assert letter.reason == "error"
    assert letter.error == "ValueError: bad frame"
    assert letter.attempts == 3
    assert letter.trace_id == "tr-1"
    assert letter.failed_at >= before - 1
    [dlq_event] = topic_events(memory(app), "fn.dlq")
    assert dlq_event.key == "g1"
    assert dlq_event.headers[TRACE_HEADER] == "tr-1"
    assert app.metrics("fn").dead_lettered == 1


async def test_on_failure_names_the_dead_letter_topic_and_a_function_can_consume_it() -> None:
    app = make_app()
    received: list[DeadLetter] = []

    @app.function(stream("t"), on_failure="poison", max_retry_attempts=0)
    async def fn(events, ctx):
        raise RuntimeError("nope")

    @app.function(stream("poison"))
    async def triage(events, ctx):
        received.extend(ev.value for ev in events)

    app.publish("t", "x")
    async with app:
        await app.drain(timeout=5)
    assert [(d.function, d.value, d.reason, d.attempts) for d in received] == [
        ("fn", "x", "error", 1)
    ]
    assert topic_events(memory(app), "fn.dlq") == []


async def test_a_poison_event_does_not_stall_other_games() -> None:
    app = make_app(partitions=2)
    poisoned, healthy = (
        next(f"g{i}" for i in range(50) if partition_for(f"g{i}", 2) == p) for p in (0, 1)
    )
    poison_failed = asyncio.Event()
    healthy_done = asyncio.Event()
    applied: list[int] = []

    @app.function(stream("t", key="game"), batch_size=1, max_retry_attempts=10_000)
    async def fn(events, ctx):
        [ev] = events
        if ev.key == poisoned and not healthy_done.is_set():
            poison_failed.set()
            raise RuntimeError("fails until the other game is done")
        if ev.key == healthy:
            await poison_failed.wait()
        applied.append(ev.value["n"])
        if len(applied) == 20:
            healthy_done.set()

    app.publish("t", {"game": poisoned, "n": 0})
    for n in range(1, 21):
        app.publish("t", {"game": healthy, "n": n})
    async with app:
        await app.drain(timeout=10)
    # The healthy game was processed while the poisoned one kept failing and retrying.
    assert applied == [*range(1, 21), 0]
    assert app.metrics("fn").retries > 0


# -- bisection ------------------------------------------------------------------------------------
def publish_games(app: Any, count: int, games: int = 3) -> None:
    for n in range(count):
        app.publish("t", {"game": f"g{n % games}", "n": n})


async def test_bisect_isolates_the_poison_event() -> None:
    app = make_app()
    applied: list[tuple[str | None, int]] = []
    first_batch: list[int] = []

    @app.function(stream("t", key="game"), batch_size=16, max_retry_attempts=2, retry_backoff_ms=0)
    async def fn(events, ctx):
        if not first_batch:
            first_batch.extend(ev.value["n"] for ev in events)
        if any(ev.value["n"] == 6 for ev in events):
            raise ValueError("corrupt frame 6")
        applied.extend((ev.key, ev.value["n"]) for ev in events)

    publish_games(app, 16)
    async with app:
        await app.drain(timeout=5)
    assert first_batch == list(range(16))  # the whole batch failed first
    assert sorted(Counter(n for _, n in applied).items()) == [(n, 1) for n in range(16) if n != 6]
    assert per_key(applied) == {
        "g0": [0, 3, 9, 12, 15],  # 6 is missing: it was the poison
        "g1": [1, 4, 7, 10, 13],
        "g2": [2, 5, 8, 11, 14],
    }
    [letter] = dead_letters(app, "fn")
    assert (letter.value["n"], letter.reason, letter.error) == (
        6,
        "error",
        "ValueError: corrupt frame 6",
    )
    assert letter.attempts >= 3
    m = app.metrics("fn")
    assert m.dead_lettered == 1
    assert m.retries == 2  # bisection itself does not spend the retry budget


async def test_without_bisect_the_whole_batch_is_dead_lettered_after_retries() -> None:
    app = make_app()
    applied: list[int] = []
    sizes: list[int] = []

    @app.function(
        stream("t", key="game"),
        batch_size=8,
        bisect_on_error=False,
        max_retry_attempts=2,
        retry_backoff_ms=0,
    )
    async def fn(events, ctx):
        sizes.append(len(events))
        if any(ev.value["n"] == 3 for ev in events):
            raise ValueError("corrupt frame 3")
        applied.extend(ev.value["n"] for ev in events)

    publish_games(app, 8)
    async with app:
        await app.drain(timeout=5)
        assert sizes == [8, 8, 8]
        letters = dead_letters(app, "fn")
        assert sorted(d.value["n"] for d in letters) == list(range(8))
        assert {(d.reason, d.attempts) for d in letters} == {("error", 3)}
        assert applied == []
        # The game goes on after the dead batch.
        for n in range(8, 12):
            app.publish("t", {"game": "g0", "n": n})
        await app.drain(timeout=5)
    assert applied == [8, 9, 10, 11]


# -- partial failures -----------------------------------------------------------------------------
async def test_batch_item_failures_retry_the_reported_and_later_events_of_their_keys() -> None:
    app = make_app()
    calls: list[tuple[int, list[int]]] = []
    applied: list[tuple[str | None, int]] = []

    @app.function(stream("t", key="game"), batch_size=6, retry_backoff_ms=0)
    async def fn(events, ctx):
        calls.append((ctx.attempt, [ev.value["n"] for ev in events]))
        failed: list[Event] = []
        bad_keys = set()
        for ev in events:
            if ev.key in bad_keys:
                continue  # not applied after its key failed; the runtime retries it
            if ev.value["n"] == 2 and ctx.attempt == 1:
                bad_keys.add(ev.key)
                failed.append(ev)  # only the failing event is reported
            else:
                ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1
                applied.append((ev.key, ev.value["n"]))
        return BatchItemFailures(failed)

    publish_games(app, 6, games=2)  # g0: 0 2 4, g1: 1 3 5
    async with app:
        await app.drain(timeout=5)
    assert calls == [(1, [0, 1, 2, 3, 4, 5]), (2, [2, 4])]
    assert per_key(applied) == {"g0": [0, 2, 4], "g1": [1, 3, 5]}
    assert (app.state_backend.get("fn", "g0"), app.state_backend.get("fn", "g1")) == (3, 3)
    assert dead_letters(app, "fn") == []


async def test_events_reported_failed_every_time_are_dead_lettered_as_reported() -> None:
    app = make_app()
    applied: list[int] = []

    @app.function(stream("t", key="game"), batch_size=6, max_retry_attempts=1, retry_backoff_ms=0)
    async def fn(events, ctx):
        failed = [ev for ev in events if ev.key == "g0" and ev.value["n"] >= 2]
        applied.extend(ev.value["n"] for ev in events if ev not in failed)
        return BatchItemFailures(failed)

    publish_games(app, 6, games=2)
    async with app:
        await app.drain(timeout=5)
    assert applied == [0, 1, 3, 5]
    letters = dead_letters(app, "fn")
    assert sorted(d.value["n"] for d in letters) == [2, 4]
    assert {(d.reason, d.attempts) for d in letters} == {("reported", 2)}


async def test_an_empty_failure_report_is_a_success() -> None:
    app = make_app()

    @app.function(stream("t"))
    async def fn(events, ctx):
        ctx.state["ok"] = True
        return BatchItemFailures([])

    app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
    assert app.state_backend.get("fn", "ok") is True
    assert app.metrics("fn").retries == 0


# -- record age -----------------------------------------------------------------------------------
async def test_events_older_than_max_record_age_are_dead_lettered_as_expired() -> None:
    app = make_app()
    applied: list[int] = []

    @app.function(stream("t"), max_record_age_s=60)
    async def fn(events, ctx):
        applied.extend(ev.value for ev in events)

    for n in range(5):
        event = app.publish("t", n).event
        assert event is not None
        if n in (1, 3):
            event.timestamp -= 120  # these two waited two minutes in the log
    async with app:
        await app.drain(timeout=5)
    assert applied == [0, 2, 4]
    letters = dead_letters(app, "fn")
    assert [(d.value, d.reason, d.attempts) for d in letters] == [
        (1, "expired", 0),
        (3, "expired", 0),
    ]
    assert "max_record_age_s=60" in letters[0].error
    assert app.metrics("fn").invocations == 1  # no invocation was spent on them


# -- decoding -------------------------------------------------------------------------------------
@pytest.mark.parametrize("codec", ["json", "msgpack"])
async def test_a_schema_decodes_payloads_and_dead_letters_what_does_not_decode(codec: str) -> None:
    app = make_app()
    received: list[Any] = []
    encode = msgspec.json.encode if codec == "json" else msgspec.msgpack.encode

    @app.function(stream("t", schema=Frame, codec=codec), batch_size=10)  # type: ignore[arg-type]
    async def fn(events, ctx):
        received.extend(ev.value for ev in events)

    payloads: list[Any] = [
        encode({"game_id": "g1", "frame": 1}),
        {"game_id": "g1", "frame": 2},
        b"\xff\x00 not a frame",
        Frame("g1", 4),
        {"game_id": "g1"},  # no frame number
        encode({"game_id": "g1", "frame": 6}),
    ]
    for payload in payloads:
        app.publish("t", payload)
    async with app:
        await app.drain(timeout=5)
    assert received == [Frame("g1", 1), Frame("g1", 2), Frame("g1", 4), Frame("g1", 6)]
    letters = dead_letters(app, "fn")
    assert [(d.offset, d.reason) for d in letters] == [(2, "decode"), (4, "decode")]
    assert letters[0].value == payloads[2]  # the payload as it was received
    assert "frame" in letters[1].error
    m = app.metrics("fn")
    assert (m.decode_errors, m.dead_lettered) == (2, 2)


# -- time limits ----------------------------------------------------------------------------------
async def test_timeouts_are_retried_then_dead_lettered_as_timeout() -> None:
    app = make_app()
    attempts: list[int] = []

    @app.function(stream("t"), timeout_s=0.03, max_retry_attempts=1, retry_backoff_ms=0)
    async def fn(events, ctx):
        attempts.append(ctx.attempt)
        await asyncio.sleep(10)

    app.publish("t", "slow")
    async with app:
        await app.drain(timeout=5)
    assert attempts == [1, 2]
    [letter] = dead_letters(app, "fn")
    assert (letter.reason, letter.attempts) == ("timeout", 2)
    assert "0.03 s" in letter.error
    m = app.metrics("fn")
    assert (m.timeouts, m.errors) == (2, 2)


async def test_a_timed_out_try_can_succeed_on_retry() -> None:
    app = make_app()
    applied: list[int] = []

    @app.function(stream("t"), timeout_s=0.03, retry_backoff_ms=0)
    async def fn(events, ctx):
        if ctx.attempt == 1:
            await asyncio.sleep(10)
        applied.extend(ev.value for ev in events)

    app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
    assert applied == [1]
    assert dead_letters(app, "fn") == []


async def test_remaining_time_decreases_during_an_invocation() -> None:
    app = make_app()
    readings: list[float] = []

    @app.function(stream("t"), timeout_s=2)
    async def fn(events, ctx):
        readings.append(ctx.remaining_time_s())
        await asyncio.sleep(0.02)
        readings.append(ctx.remaining_time_s())

    app.publish("t", 1)
    async with app:
        await app.drain(timeout=5)
    first, second = readings
    assert 0 < second < first <= 2
    assert first - second >= 0.015


# -- outputs --------------------------------------------------------------------------------------
async def test_outputs_are_published_only_when_the_invocation_succeeds() -> None:
    app = make_app(partitions=2)

    @app.function(stream("t", key="game"), batch_size=1, retry_backoff_ms=0)
    async def fn(events, ctx):
        [ev] = events
        ctx.publish("speeds", {"game": ev.key, "n": ev.value["n"]}, key=ev.key)
        ctx.publish("alerts", ev.value["n"], headers={"severity": "high"})
        if ctx.attempt == 1 and ev.value["n"] % 2:
            raise RuntimeError("fails after publishing")

    inputs = [await app.publish("t", {"game": f"g{n % 2}", "n": n}) for n in range(6)]
    async with app:
        await app.drain(timeout=5)
    speeds = topic_events(memory(app), "speeds")
    assert sorted(ev.value["n"] for ev in speeds) == list(range(6))  # once each, failed tries none
    trace_of = {ev.value["n"]: ev.trace_id for ev in inputs}
    for out in speeds:
        assert out.trace_id == trace_of[out.value["n"]]
        assert out.key == out.value["game"]
    alerts = topic_events(memory(app), "alerts")
    assert sorted(ev.value for ev in alerts) == list(range(6))
    assert all(
        ev.headers["severity"] == "high" and ev.trace_id == trace_of[ev.value] for ev in alerts
    )


async def test_on_commit_runs_once_the_outputs_landed_and_never_for_a_failed_try() -> None:
    app = make_app()
    landed: list[tuple[int, int]] = []  # (n, outputs on the transport when it ran)

    @app.function(stream("t"), batch_size=1, retry_backoff_ms=0)
    async def fn(events, ctx):
        [ev] = events
        n = ev.value
        ctx.publish("out", n)
        ctx.on_commit(lambda: landed.append((n, len(topic_events(memory(app), "out")))))
        if ctx.attempt == 1 and n == 1:
            raise RuntimeError("fails after registering")

    for n in range(3):
        await app.publish("t", n)
    async with app:
        await app.drain(timeout=5)
    assert landed == [(0, 1), (1, 2), (2, 3)]  # in order, after its output; the failed try's never


async def test_outputs_feed_downstream_functions_with_the_trace_id() -> None:
    app = make_app()
    downstream: list[tuple[str | None, str]] = []

    @app.function(stream("tracking"))
    async def speed(events, ctx):
        for ev in events:
            ctx.publish("metrics", f"speed of {ev.value}")

    @app.function(stream("metrics"))
    async def push(events, ctx):
        downstream.extend((ev.trace_id, ev.value) for ev in events)

    source = await app.publish("tracking", "p7", headers={TRACE_HEADER: "trace-p7"})
    async with app:
        await app.drain(timeout=5)
    assert source.trace_id == "trace-p7"
    assert downstream == [("trace-p7", "speed of p7")]


async def test_the_context_describes_the_invocation() -> None:
    app = make_app(partitions=4)
    seen: list[tuple[str, int | None, str, str]] = []

    @app.function(stream("t", key="game"))
    async def fn(events, ctx):
        seen.append((ctx.function_name, ctx.partition, ctx.trace_id, ctx.invocation_id))

    event = await app.publish("t", {"game": "g3"})
    async with app:
        await app.drain(timeout=5)
    [(name, partition, trace, invocation_id)] = seen
    assert (name, partition, trace) == ("fn", event.partition, event.trace_id)
    assert invocation_id.startswith("fn-")
