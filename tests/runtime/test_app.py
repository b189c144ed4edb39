"""The App: publishing (keys, trace ids, receipts, backpressure, threads), invoke, lifecycle."""

from __future__ import annotations

import asyncio
import re
import threading

import msgspec
import pytest

import arenaflow
from arenaflow import BackpressureError, ConfigError, FunctionError, http, stream, webhook
from arenaflow.events import TRACE_HEADER

from .conftest import make_app, memory, topic_events


class Frame(msgspec.Struct):
    game_id: str
    frame: int


def test_public_surface_is_exact() -> None:
    assert sorted(arenaflow.__all__) == sorted(
        [
            "App",
            "ArenaflowError",
            "BackpressureError",
            "BatchItemFailures",
            "ConfigError",
            "Context",
            "DeadLetter",
            "DecodeError",
            "Event",
            "FunctionError",
            "FunctionTimeout",
            "InstanceCrashed",
            "MissingExtra",
            "OffsetOutOfRange",
            "Receipt",
            "Settings",
            "StateError",
            "TransportError",
            "__version__",
            "http",
            "schedule",
            "stream",
            "webhook",
        ]
    )
    for name in arenaflow.__all__:
        assert hasattr(arenaflow, name)


# -- publishing -----------------------------------------------------------------------------------
def test_publish_takes_the_key_from_the_trigger_key_field() -> None:
    app = make_app(partitions=8)

    @app.function(stream("tracking", key="game_id"))
    async def fn(events, ctx):
        pass

    from_dict = app.publish("tracking", {"game_id": "g7", "frame": 1}).event
    from_struct = app.publish("tracking", Frame("g7", 2)).event
    numeric = app.publish("tracking", {"game_id": 42}).event
    explicit = app.publish("tracking", {"game_id": "g7"}, key="override").event
    missing = app.publish("tracking", {"frame": 3}).event
    unkeyed_topic = app.publish("other", {"game_id": "g7"}).event
    assert from_dict is not None and from_struct is not None and numeric is not None
    assert (from_dict.key, from_struct.key, numeric.key) == ("g7", "g7", "42")
    assert from_dict.partition == from_struct.partition  # one game, one partition, in order
    assert (from_dict.offset, from_struct.offset) == (0, 1)
    assert explicit is not None and explicit.key == "override"
    assert missing is not None and missing.key is None
    assert unkeyed_topic is not None and unkeyed_topic.key is None


def test_app_topic_declares_partitions_and_key() -> None:
    app = make_app(partitions=8)

    @app.function(stream("bio"))
    async def fn(events, ctx):
        pass

    app.topic("bio", partitions=2, key="athlete")  # after the function that consumes it
    assert app.transport.partitions("bio") == 2
    event = app.publish("bio", {"athlete": "a1", "hr": 150}).event
    assert event is not None and event.key == "a1"


def test_publish_adds_a_trace_id_and_keeps_given_headers() -> None:
    app = make_app()
    plain = app.publish("t", 1).event
    other = app.publish("t", 2).event
    tagged = app.publish("t", 3, headers={"source": "vendor-a"}).event
    traced = app.publish("t", 4, headers={TRACE_HEADER: "abc", "source": "x"}).event
    assert plain is not None and other is not None and tagged is not None and traced is not None
    assert re.fullmatch(r"[0-9a-f]{32}", plain.headers[TRACE_HEADER])
    assert plain.trace_id != other.trace_id
    assert tagged.headers["source"] == "vendor-a"
    assert re.fullmatch(r"[0-9a-f]{32}", tagged.headers[TRACE_HEADER])
    assert traced.headers == {TRACE_HEADER: "abc", "source": "x"}


async def test_receipt_is_awaitable() -> None:
    app = make_app()
    receipt = app.publish("t", "x")
    assert receipt.done
    event = await receipt
    assert event is receipt.event
    assert (event.topic, event.offset, event.value) == ("t", 0, "x")
    event = await app.publish("t", "y")
    assert event.offset == 1


def test_publish_without_a_loop_raises_backpressure_when_full() -> None:
    app = make_app(retention=3)

    @app.function(stream("t"))
    async def fn(events, ctx):
        pass

    for i in range(3):
        app.publish("t", i)
    with pytest.raises(BackpressureError):
        app.publish("t", 3)
    # Nothing was dropped to make room for it: the consumer will see every event.
    assert [ev.value for ev in topic_events(memory(app), "t")] == [0, 1, 2]


async def test_events_published_before_start_are_all_processed() -> None:
    app = make_app(retention=4)
    seen: list[int] = []

    @app.function(stream("t"))
    async def fn(events, ctx):
        seen.extend(ev.value for ev in events)

    for i in range(4):
        app.publish("t", i)
    async with app:
        await app.drain(timeout=5)
    assert seen == [0, 1, 2, 3]


async def test_await_publish_waits_for_the_running_app_to_make_room() -> None:
    app = make_app(retention=4)
    seen: list[int] = []

    @app.function(stream("t", key="game"), batch_size=2)
    async def fn(events, ctx):
        await asyncio.sleep(0.002)
        seen.extend(ev.value["n"] for ev in events)

    async with app:
        receipts = [app.publish("t", {"game": "g1", "n": n}) for n in range(40)]
        assert not all(r.done for r in receipts)  # the partition filled up: some wait in line
        events = [await r for r in receipts]
        await app.drain(timeout=5)
    assert [ev.offset for ev in events] == list(range(40))
    assert seen == list(range(40))  # waiting publishers kept their order


async def test_publish_from_another_thread_while_the_app_runs() -> None:
    app = make_app(partitions=4, retention=8)  # small: the thread has to wait for room too
    seen: list[tuple[str, int]] = []

    @app.function(stream("t", key="game"), batch_size=5)
    async def fn(events, ctx):
        seen.extend((ev.key, ev.value["n"]) for ev in events)

    def producer() -> list[int]:
        assert threading.current_thread() is not threading.main_thread()
        return [app.publish("t", {"game": f"g{n % 3}", "n": n}).event.offset for n in range(150)]

    async with app:
        offsets = await asyncio.to_thread(producer)
        await app.drain(timeout=10)
    assert len(offsets) == 150
    assert sorted(n for _, n in seen) == list(range(150))
    for game in ("g0", "g1", "g2"):
        ns = [n for key, n in seen if key == game]
        assert ns == sorted(ns)


# -- direct invocation ----------------------------------------------------------------------------
async def test_invoke_returns_the_result_and_commits_state() -> None:
    app = make_app()

    @app.function(http("/v1/score"))
    async def score(events, ctx):
        [event] = events
        ctx.state["calls"] = ctx.state.get("calls", 0) + 1
        return {"home": event.value["home"] * 2, "trace": ctx.trace_id}

    @app.function(webhook("vendor"))
    def sync_hook(events, ctx):
        return events[0].value.upper()

    async with app:
        result = await app.invoke("score", {"home": 2}, headers={TRACE_HEADER: "t-1"})
        assert result == {"home": 4, "trace": "t-1"}
        await app.invoke("score", {"home": 1})
        assert app.state_backend.get("score", "calls") == 2
        assert await app.invoke("sync_hook", "goal") == "GOAL"
        assert app.metrics("score").invocations == 2


async def test_invoke_raises_function_error_without_retrying() -> None:
    app = make_app()
    calls = []

    @app.function(http("/v1/boom"))
    async def boom(events, ctx):
        calls.append(ctx.attempt)
        ctx.state["half-done"] = True
        raise KeyError("player")

    async with app:
        with pytest.raises(FunctionError) as info:
            await app.invoke("boom", {})
    assert isinstance(info.value.__cause__, KeyError)
    assert calls == [1]
    assert app.state_backend.get("boom", "half-done") is None
    assert app.metrics("boom").errors == 1


async def test_invoke_raises_function_error_when_the_cold_start_fails() -> None:
    app = make_app()

    def init() -> None:
        raise OSError("model weights missing")

    @app.function(http("/xg"), init=init)
    async def xg(events, ctx):
        return 0.3

    async with app:
        with pytest.raises(FunctionError, match="init of xg failed") as info:
            await app.invoke("xg", {"x": 10.0, "y": 3.0})
    assert isinstance(info.value.__cause__, OSError)


async def test_invoke_of_a_timed_out_function_raises_its_timeout() -> None:
    app = make_app()

    @app.function(http("/slow"), timeout_s=0.05)
    async def slow(events, ctx):
        await asyncio.sleep(10)

    async with app:
        with pytest.raises(arenaflow.FunctionTimeout):
            await app.invoke("slow", None)


async def test_unknown_function_names_are_config_errors() -> None:
    app = make_app()

    @app.function(http("/a"))
    async def known(events, ctx):
        pass

    with pytest.raises(ConfigError, match="known"):
        app.metrics("unknown")
    with pytest.raises(ConfigError):
        app.state("unknown")
    with pytest.raises(ConfigError):
        await app.invoke("unknown", None)
    await app.stop()


# -- lifecycle ------------------------------------------------------------------------------------
async def test_lag_and_metrics_report_the_backlog() -> None:
    app = make_app(partitions=2)
    gate = asyncio.Event()

    @app.function(stream("t", key="k"), batch_size=1, parallelization=1)
    async def fn(events, ctx):
        await gate.wait()

    for i in range(6):
        app.publish("t", {"k": f"k{i}"})
    async with app:
        assert app.lag() == {"fn:t": 6}
        assert app.metrics("fn").lag == 6
        gate.set()
        await app.drain(timeout=5)
        assert app.lag() == {"fn:t": 0}
        assert app.metrics("fn").events == 6


async def test_drain_times_out_naming_the_lag() -> None:
    app = make_app()

    @app.function(stream("t"), timeout_s=30)
    async def stuck(events, ctx):
        await asyncio.Event().wait()

    app.publish("t", 1)
    async with app:
        with pytest.raises(TimeoutError, match="stuck:t"):
            await app.drain(timeout=0.05)


async def test_a_restarted_app_continues_where_it_stopped() -> None:
    app = make_app(partitions=2)
    seen: list[int] = []

    @app.function(stream("t", key="k"))
    async def fn(events, ctx):
        seen.extend(ev.value["n"] for ev in events)

    for n in range(5):
        app.publish("t", {"k": f"k{n}", "n": n})
    async with app:
        await app.drain(timeout=5)
    for n in range(5, 10):
        app.publish("t", {"k": f"k{n}", "n": n})  # while stopped
    assert not app.running
    async with app:
        await app.drain(timeout=5)
    assert sorted(seen) == list(range(10))


def test_run_runs_for_a_duration() -> None:
    app = make_app()
    seen: list[int] = []

    @app.function(stream("t"))
    def fn(events, ctx):
        seen.extend(ev.value for ev in events)

    app.publish("t", 1)
    app.run(duration_s=0.2)
    assert seen == [1]
    assert not app.running
