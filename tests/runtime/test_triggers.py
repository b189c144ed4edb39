"""Triggers: how they are declared, and schedules running at their rate."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from arenaflow import ConfigError, http, schedule, stream, webhook
from arenaflow.runtime.scheduler import Tick
from arenaflow.triggers import Http, Schedule, Stream, Webhook

from .conftest import make_app, wait_until


def test_stream() -> None:
    assert stream("tracking") == Stream("tracking", None, None, "json")
    assert stream("bio", key="athlete", codec="msgpack") == Stream(
        "bio", "athlete", None, "msgpack"
    )
    with pytest.raises(ConfigError, match="topic"):
        stream("")
    with pytest.raises(ConfigError, match="codec"):
        stream("t", codec="xml")  # type: ignore[arg-type]


def test_http() -> None:
    assert http("/v1/games") == Http("/v1/games", ("POST",))
    assert http("/v1/games", methods=["get", "post"]).methods == ("GET", "POST")
    with pytest.raises(ConfigError, match="'v1/games'"):
        http("v1/games")


@pytest.mark.parametrize(
    ("rate", "seconds"),
    [
        (2, 2.0),
        (0.25, 0.25),
        ("250ms", 0.25),
        ("1s", 1.0),
        ("1.5 s", 1.5),
        ("5m", 300.0),
        ("2 minutes", 120.0),
        ("rate(1 minute)", 60.0),
        ("rate(5 minutes)", 300.0),
        ("1h", 3600.0),
        ("RATE(10 Seconds)", 10.0),
    ],
)
def test_schedule_reads_rates(rate: Any, seconds: float) -> None:
    assert schedule(rate) == Schedule(pytest.approx(seconds))


@pytest.mark.parametrize("rate", ["fast", "10 parsecs", "", "s", 0, -1, "0s", "rate(0 minutes)"])
def test_schedule_rejects_bad_rates(rate: Any) -> None:
    with pytest.raises(ConfigError, match="schedule"):
        schedule(rate)


def test_webhook() -> None:
    assert webhook("opta-events", secret="s3cret") == Webhook("opta-events", "s3cret")
    assert webhook("v1.stats_feed").secret is None
    for bad in ("", "has space", "slash/name", "ünicode"):
        with pytest.raises(ConfigError, match="webhook"):
            webhook(bad)


async def test_a_schedule_runs_at_its_rate() -> None:
    app = make_app()
    ticks: list[Tick] = []
    traces: list[str] = []
    started = time.monotonic()

    @app.function(schedule("20ms"))
    async def leaderboard(events, ctx):
        [event] = events
        ticks.append(event.value)
        traces.append(ctx.trace_id)
        ctx.state["runs"] = ctx.state.get("runs", 0) + 1

    async with app:
        await wait_until(lambda: len(ticks) >= 5)
        elapsed = time.monotonic() - started
    # Ticks sit on a fixed grid: five of them cannot come sooner than five periods.
    assert elapsed >= 5 * 0.020 * 0.95
    sequences = [tick.sequence for tick in ticks]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert len(set(traces)) == len(traces)  # each run its own trace
    assert app.state_backend.get("leaderboard", "runs") == len(ticks)


async def test_a_failing_schedule_keeps_ticking() -> None:
    app = make_app()
    runs: list[int] = []

    @app.function(schedule(0.01))
    async def flaky(events, ctx):
        runs.append(events[0].value.sequence)
        raise RuntimeError("scoreboard API down")

    async with app:
        await wait_until(lambda: len(runs) >= 3)
    assert app.metrics("flaky").errors >= 3


async def test_a_schedule_survives_a_failed_cold_start() -> None:
    app = make_app()
    inits: list[int] = []
    runs: list[str] = []

    def init() -> str:
        inits.append(1)
        if len(inits) == 1:
            raise ConnectionError("cache not reachable yet")
        return "cache"

    @app.function(schedule(0.01), init=init)
    async def refresh(events, ctx):
        runs.append(ctx.resources)

    async with app:
        await wait_until(lambda: len(runs) >= 2)
    assert runs[:2] == ["cache", "cache"]
    assert app.metrics("refresh").errors >= 1


async def test_schedules_do_not_pile_up_behind_a_slow_run() -> None:
    app = make_app()
    active = 0
    most = 0

    @app.function(schedule(0.005), max_instances=4)
    async def slow(events, ctx):
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.03)
        active -= 1

    async with app:
        await wait_until(lambda: app.metrics("slow").invocations >= 3)
    assert most == 1  # one tick at a time: missed ticks are skipped, not queued
    assert app.metrics("slow").throttles > 0
