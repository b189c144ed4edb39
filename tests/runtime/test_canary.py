"""Versions, weighted routing (canary) and automatic rollback (runtime/canary.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from arenaflow import App, stream
from arenaflow.errors import ConfigError
from arenaflow.runtime.canary import DEPLOYMENTS_TOPIC, DeploymentEvent, Rollback
from tests.runtime.conftest import make_app, memory, topic_events

N = 400


def counting_app() -> tuple[App, Counter[str]]:
    """A function counting its events per version, in state per key and in memory."""
    app = make_app(partitions=2)
    seen: Counter[str] = Counter()

    @app.function(stream("plays", key="game_id"), batch_size=1, retry_backoff_ms=0)
    async def count(events: list[Any], ctx: Any) -> None:
        for event in events:
            seen["1"] += 1
            ctx.state[event.key] = ctx.state.get(event.key, 0) + 1

    return app, seen


def total(app: App) -> int:
    return sum(v for _, v in app.state("count").items("count"))


async def run(app: App, n: int = N) -> None:
    async with app:
        for i in range(n):
            await app.publish("plays", {"game_id": f"g{i % 8}", "i": i})
        await app.drain(timeout=30)


async def test_a_canary_gets_its_weight_of_the_invocations() -> None:
    app, seen = counting_app()

    async def v2(events: list[Any], ctx: Any) -> None:
        for event in events:
            seen["2"] += 1
            ctx.state[event.key] = ctx.state.get(event.key, 0) + 1

    app.deploy("count", v2, version="2", weight=0.25)
    await run(app)
    assert seen["1"] + seen["2"] == N == total(app)  # each event once, by one version
    assert 0.15 < seen["2"] / N < 0.35
    assert app.versions("count") == {"1": 0.75, "2": 0.25}


async def test_a_failing_canary_is_rolled_back_and_nothing_is_lost() -> None:
    app, seen = counting_app()

    async def broken(events: list[Any], ctx: Any) -> None:
        raise RuntimeError("v2 cannot parse this feed")

    app.deploy("count", broken, version="2", weight=0.5, rollback=Rollback(min_invocations=10))
    await run(app)
    assert app.versions("count") == {"1": 1.0, "2": 0.0}
    assert total(app) == N and seen["1"] == N  # failures were retried on the stable version
    assert app.metrics("count").dead_lettered == 0
    deployed, rolled = app.deployments("count")
    assert (deployed.action, rolled.action) == ("deployed", "rolled_back")
    assert "error rate" in rolled.reason and rolled.error_rate > 0.05
    published = [ev.value for ev in topic_events(memory(app), DEPLOYMENTS_TOPIC)]
    assert [(e.version, e.action) for e in published] == [("2", "deployed"), ("2", "rolled_back")]
    assert all(isinstance(e, DeploymentEvent) and e.timestamp > 0 for e in published)


async def test_a_slow_canary_is_rolled_back_on_its_p99() -> None:
    app, seen = counting_app()

    async def slow(events: list[Any], ctx: Any) -> None:
        await asyncio.sleep(0.02)
        for event in events:
            seen["2"] += 1
            ctx.state[event.key] = ctx.state.get(event.key, 0) + 1

    rule = Rollback(max_p99_ms=5.0, min_invocations=10)
    app.deploy("count", slow, version="2", weight=0.5, rollback=rule)
    await run(app, 200)
    assert app.versions("count")["2"] == 0.0
    [_, rolled] = app.deployments("count")
    assert "p99" in rolled.reason and rolled.p99_ms >= 20.0
    assert total(app) == 200 and 10 <= seen["2"] <= 40  # it served until it was caught


async def test_a_healthy_canary_deployed_on_a_running_app_is_promoted() -> None:
    app, seen = counting_app()

    async def v2(events: list[Any], ctx: Any) -> None:
        for event in events:
            seen["2"] += 1
            ctx.state[event.key] = ctx.state.get(event.key, 0) + 1

    async with app:
        for i in range(100):
            await app.publish("plays", {"game_id": f"g{i % 8}"})
        await app.drain(timeout=10)
        cold = app.metrics("count").cold_starts
        app.deploy("count", v2, version="2", weight=0.5)
        for i in range(100):
            await app.publish("plays", {"game_id": f"g{i % 8}"})
        await app.drain(timeout=10)
        assert app.metrics("count").cold_starts > cold  # the canary started from zero
        app.promote("count")
        before = seen["1"]
        for i in range(100):
            await app.publish("plays", {"game_id": f"g{i % 8}"})
        await app.drain(timeout=10)
    assert seen["1"] == before  # everything on version 2 now
    assert app.versions("count") == {"2": 1.0}
    assert [d.action for d in app.deployments("count")] == ["deployed", "promoted"]
    assert total(app) == 300


def test_bad_deployments_are_config_errors() -> None:
    app, _ = counting_app()

    async def v2(events: list[Any], ctx: Any) -> None:
        pass

    with pytest.raises(ConfigError, match="weight"):
        app.deploy("count", v2, version="2", weight=0.0)
    with pytest.raises(ConfigError, match="stable"):
        app.deploy("count", v2, version="1")
    with pytest.raises(ConfigError, match="no function named"):
        app.deploy("nope", v2, version="2")
    with pytest.raises(ConfigError, match="min_invocations"):
        Rollback(min_invocations=0)
    app.deploy("count", v2, version="2")
    with pytest.raises(ConfigError, match="already has canary"):
        app.deploy("count", v2, version="3")
    app.rollback("count")
    with pytest.raises(ConfigError, match="no live canary"):
        app.promote("count")
