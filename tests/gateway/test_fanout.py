"""Push across gateway replicas (gateway/fanout.py): workers' ``push_relay`` publishes to Redis
pub/sub and every replica's hub delivers; over real sockets and the real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from websockets.asyncio.client import connect

from arenaflow import App, Settings
from arenaflow.gateway.app import create_gateway
from arenaflow.gateway.auth import KeyRing
from arenaflow.gateway.fanout import RELAY_FUNCTION, attach_relay
from arenaflow.gateway.server import server_config
from arenaflow.sports import topics
from arenaflow.sports.schemas import MetricUpdate

WAIT_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def replica(url: str, keys: KeyRing) -> AsyncIterator[str]:
    """A gateway replica fed by the fleet's channel; yields its WebSocket URL."""
    web = create_gateway(
        App(transport=url, settings=Settings(partitions=2)), keys=keys, fanout_url=url
    )
    port = _free_port()
    server = uvicorn.Server(server_config(web, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/v1/ws"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


async def messages(ws: Any, n: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while len(got) < n:
        decoded = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        for m in decoded if isinstance(decoded, list) else [decoded]:
            if m["type"] in ("metric", "alert", "event"):
                got.append(m)
    return got


def update(subject: str, metric: str = "speed", value: float = 1.0) -> MetricUpdate:
    return MetricUpdate(
        game_id="g1", subject_id=subject, metric=metric, value=value, unit="1", timestamp=1.0
    )


async def test_every_replica_gets_every_update_and_biometrics_stay_with_staff(
    redis_url: str,
) -> None:
    keys = KeyRing()
    fan, staff = keys.issue("fan", {"fan"}), keys.issue("staff", {"staff"})
    relay = App(transport=redis_url, settings=Settings(partitions=2))
    attach_relay(relay)
    assert RELAY_FUNCTION in relay.functions
    async with (
        relay,
        replica(redis_url, keys) as one,
        replica(redis_url, keys) as two,
        connect(f"{one}?key={fan}") as a,
        connect(f"{two}?key={staff}") as b,
    ):
        for ws in (a, b):
            await ws.send(json.dumps({"type": "subscribe", "games": ["g1"]}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
        await asyncio.sleep(0.3)  # the replicas' subscriptions are in place
        sent = [update(f"p{i}", value=float(i)) for i in range(5)]
        sent.insert(2, update("p9", "heart_rate", 150.0))
        for value in sent:
            await relay.publish(topics.METRICS, value, key="g1")
        got_fan = await messages(a, 5)
        got_staff = await messages(b, 6)
    assert [m["subject_id"] for m in got_fan] == ["p0", "p1", "p2", "p3", "p4"]
    assert [m["metric"] for m in got_staff].count("heart_rate") == 1
    assert [m["value"] for m in got_staff if m["metric"] == "speed"] == [0.0, 1.0, 2.0, 3.0, 4.0]
