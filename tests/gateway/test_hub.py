"""The push tier over real sockets: uvicorn on a free port, websockets clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from arenaflow import App, Settings
from arenaflow.gateway.app import create_gateway
from arenaflow.gateway.auth import KeyRing
from arenaflow.gateway.hub import Hub
from arenaflow.gateway.server import PushProtocol, server_config
from arenaflow.pipeline import build_pipeline
from arenaflow.pipeline.shots import ENRICHED_TOPIC
from arenaflow.sports import topics
from arenaflow.sports.schemas import Alert, GameEvent, MetricUpdate
from arenaflow.sports.sources import Simulator
from arenaflow.sports.sources.pump import pump

WAIT_S = 10.0
TOPIC: dict[type, str] = {
    MetricUpdate: topics.METRICS,
    Alert: topics.ALERTS,
    GameEvent: ENRICHED_TOPIC,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    app: App
    hub: Hub
    port: int
    keys: dict[str, str]

    def url(self, scope: str | None) -> str:
        base = f"ws://127.0.0.1:{self.port}/v1/ws"
        return base if scope is None else f"{base}?key={self.keys[scope]}"

    @contextlib.asynccontextmanager
    async def client(self, scope: str | None, **filters: Any) -> AsyncIterator[ClientConnection]:
        """A connected client, subscribed with ``filters`` (and confirmed)."""
        async with connect(self.url(scope)) as ws:
            await subscribe(ws, **filters)
            yield ws

    async def publish(self, *values: Any) -> None:
        """Publish ``values`` and wait until the hub has queued them all (topics are consumed
        independently, so this orders messages of different topics); the last one goes last."""
        for value in values[:-1]:
            await self.app.publish(TOPIC[type(value)], value)
        await self.app.drain()
        await self.app.publish(TOPIC[type(values[-1])], values[-1])


@pytest.fixture(params=["push", "asgi"])
def server(
    request: pytest.FixtureRequest, ring: tuple[KeyRing, dict[str, str]]
) -> Callable[..., contextlib.AbstractAsyncContextManager[Server]]:
    """``async with server(hub=Hub(...), pipeline=False) as s``: a gateway on a real port,
    served with the push tier's protocol (direct writes) or uvicorn's own (ASGI sends)."""
    keys, by_scope = ring
    ws = PushProtocol if request.param == "push" else "websockets-sansio"

    @contextlib.asynccontextmanager
    async def run(hub: Hub | None = None, pipeline: bool = False) -> AsyncIterator[Server]:
        app = App(settings=Settings(partitions=2))
        if pipeline:
            build_pipeline(app)
        hub = hub or Hub()
        gateway = create_gateway(app, keys=keys, hub=hub)
        port = _free_port()
        config = server_config(gateway, host="127.0.0.1", port=port, log_level="warning", ws=ws)
        uv = uvicorn.Server(config)
        task = asyncio.create_task(uv.serve())
        try:
            await eventually(lambda: uv.started and not task.done())
            yield Server(app, hub, port, by_scope)
        finally:
            uv.should_exit = True
            await asyncio.wait_for(task, WAIT_S)

    return run


async def eventually(check: Callable[[], bool]) -> None:
    """Wait until ``check()`` holds (the hub and uvicorn offer no event to wait on)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def subscribe(ws: ClientConnection, **filters: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "subscribe", **filters}))
    while True:
        message = await recv(ws)
        if message["type"] == "subscribed":
            return message


_PENDING: dict[int, list[dict[str, Any]]] = {}


async def recv(ws: ClientConnection) -> dict[str, Any]:
    """The next message; a frame may carry several, as an array."""
    pending = _PENDING.setdefault(id(ws), [])
    while not pending:
        decoded = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        pending.extend(decoded if isinstance(decoded, list) else [decoded])
    return pending.pop(0)


async def until(ws: ClientConnection, done: Callable[[dict[str, Any]], bool]) -> list[Any]:
    """Messages (heartbeats aside) up to and including the first one ``done`` accepts."""
    seen = []
    while True:
        message = await recv(ws)
        if message["type"] == "heartbeat":
            continue
        seen.append(message)
        if done(message):
            return seen


def metric(
    game: str = "g1", subject: str = "p1", name: str = "speed", value: float = 1.0, **kw: Any
) -> MetricUpdate:
    return MetricUpdate(
        game_id=game, subject_id=subject, metric=name, value=value, unit="1", timestamp=1.0, **kw
    )


def alert(game: str = "g1", subject: str = "p1", name: str = "speed", **kw: Any) -> Alert:
    return Alert(
        alert_id=f"a-{game}-{subject}-{name}",
        game_id=game,
        subject_id=subject,
        rule="r",
        metric=name,
        value=9.0,
        threshold=8.5,
        severity="info",
        message="fast",
        timestamp=1.0,
        **kw,
    )


def event(game: str = "g1", player: str | None = "p1", team: str | None = "home") -> GameEvent:
    return GameEvent(
        game_id=game,
        event_id=f"e-{game}-{player}",
        kind="shot",
        timestamp=1.0,
        team=team,
        player_id=player,
    )


def is_end(message: dict[str, Any]) -> bool:
    return message.get("subject_id") == "end"


def summary(messages: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """What each message is about, in arrival order except the last, sorted before it."""
    return sorted(_about(messages[:-1])) + _about(messages[-1:])


def expect(*about: tuple[str, ...]) -> list[tuple[str, ...]]:
    return sorted(about[:-1]) + list(about[-1:])


def _about(messages: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            m["type"],
            m["game_id"],
            m.get("subject_id") or m.get("player_id") or "",
            m.get("metric") or "",
        )
        for m in messages
    ]


async def test_filters_by_game_kind_team_athlete_and_metric(server: Any) -> None:
    async with (
        server() as s,
        s.client("fan") as everything,
        s.client("fan", games=["g1"], kinds=["metric"]) as g1_metrics,
        s.client("broadcast", teams=["away"], athletes=["p1"]) as people,
        s.client("fan", metrics=["distance"], kinds=["metric", "alert"]) as distance,
    ):
        await s.publish(
            metric("g1", "p1", team="home"),
            metric("g2", "p2", team="away"),
            metric("g1", "p3", "distance", team="home"),
            alert("g2", "p1", "distance"),
            event("g1", "p3", "home"),
            event("g1", None, None),  # game-level: passes team and athlete filters
            metric("g1", "end", "distance", team="away"),
        )
        assert summary(await until(everything, is_end)) == expect(
            ("metric", "g1", "p1", "speed"),
            ("metric", "g2", "p2", "speed"),
            ("metric", "g1", "p3", "distance"),
            ("alert", "g2", "p1", "distance"),
            ("event", "g1", "p3", ""),
            ("event", "g1", "", ""),
            ("metric", "g1", "end", "distance"),
        )
        assert summary(await until(g1_metrics, is_end)) == expect(
            ("metric", "g1", "p1", "speed"),
            ("metric", "g1", "p3", "distance"),
            ("metric", "g1", "end", "distance"),
        )
        assert summary(await until(people, is_end)) == expect(
            ("metric", "g1", "p1", "speed"),
            ("metric", "g2", "p2", "speed"),
            ("alert", "g2", "p1", "distance"),
            ("event", "g1", "", ""),
            ("metric", "g1", "end", "distance"),
        )
        assert summary(await until(distance, is_end)) == expect(
            ("metric", "g1", "p3", "distance"),
            ("alert", "g2", "p1", "distance"),
            ("metric", "g1", "end", "distance"),
        )


async def test_messages_carry_every_field_and_a_type(server: Any) -> None:
    async with server() as s, s.client("staff") as ws:
        await s.publish(metric("g1", "end", team="home", frame=7), event("g1", "end"))
        assert await recv(ws) == {
            "type": "metric",
            **msgspec.to_builtins(metric("g1", "end", team="home", frame=7)),
        }
        assert await recv(ws) == {"type": "event", **msgspec.to_builtins(event("g1", "end"))}
        assert s.hub.stats()["messages_in"] == 2.0


async def test_resubscribe_replaces_filters_without_reconnecting(server: Any) -> None:
    async with server() as s, s.client("fan", games=["g1"]) as ws:
        await s.publish(metric("g1", "a"), metric("g2", "b"), metric("g1", "end"))
        assert summary(await until(ws, is_end)) == expect(
            ("metric", "g1", "a", "speed"),
            ("metric", "g1", "end", "speed"),
        )
        confirmed = await subscribe(ws, games=["g2"], metrics=["speed"])
        assert confirmed["filters"] == {
            "games": ["g2"],
            "teams": [],
            "athletes": [],
            "metrics": ["speed"],
            "kinds": [],
        }
        await s.publish(metric("g1", "c"), metric("g2", "d"), metric("g2", "end"))
        assert summary(await until(ws, is_end)) == expect(
            ("metric", "g2", "d", "speed"),
            ("metric", "g2", "end", "speed"),
        )
        assert s.hub.stats()["connections"] == 1.0


async def test_nothing_arrives_before_the_first_subscribe(server: Any) -> None:
    async with server() as s, connect(s.url("fan")) as ws:
        await ws.send('{"type":"ping"}')
        assert (await recv(ws))["type"] == "pong"
        await s.publish(metric("g1", "early"))
        await s.app.drain()
        await subscribe(ws)
        await s.publish(metric("g1", "end"))
        assert summary(await until(ws, is_end)) == [("metric", "g1", "end", "speed")]


async def test_heartbeats_and_pong(server: Any) -> None:
    async with server(hub=Hub(heartbeat_s=0.05)) as s, s.client("broadcast") as ws:
        beats = [m for m in [await recv(ws) for _ in range(3)] if m["type"] == "heartbeat"]
        assert len(beats) == 3 and all(isinstance(b["t"], float) for b in beats)
        await ws.send('{"type":"ping"}')
        await until(ws, lambda m: m["type"] == "pong")


async def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    return ws.close_code, ws.close_reason


@pytest.mark.parametrize(
    ("scope", "url_key", "code", "reason"),
    [
        (None, None, 4401, "missing or unknown API key"),
        (None, "af_wrong", 4401, "missing or unknown API key"),
        ("ingest", None, 4403, "this key may not read the live feed"),
    ],
)
async def test_auth_close_codes(
    server: Any, scope: str | None, url_key: str | None, code: int, reason: str
) -> None:
    async with server() as s:
        url = s.url(scope) if url_key is None else f"{s.url(None)}?key={url_key}"
        async with connect(url) as ws:
            assert await closed_with(ws) == (code, reason)
        assert s.hub.stats()["rejected"] == 1.0


async def test_key_in_authorization_header(server: Any) -> None:
    async with server() as s:
        headers = {"Authorization": f"Bearer {s.keys['staff']}"}
        async with connect(s.url(None), additional_headers=headers) as ws:
            await subscribe(ws)
            await s.publish(metric("g1", "end"))
            assert summary(await until(ws, is_end)) == [("metric", "g1", "end", "speed")]


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("{not json", "bad message: JSON is malformed"),
        ('{"type":"unsubscribe"}', "Invalid value 'unsubscribe'"),
        ('{"games":["g1"]}', "Object missing required field `type`"),
        ('{"type":"subscribe","games":"g1"}', "$.games"),
        ('{"type":"subscribe","athletes":[7]}', "$.athletes[0]"),
        ('{"type":"subscribe","kinds":["metrics"]}', "$.kinds[0]"),
        ('{"type":"subscribe","game":["g1"]}', "unknown field `game`"),
        ("[]", "bad message"),
    ],
)
async def test_malformed_messages_close_4400_with_the_reason(
    server: Any, message: str, words: str
) -> None:
    async with server() as s, connect(s.url("fan")) as ws:
        await ws.send(message)
        code, reason = await closed_with(ws)
        assert code == 4400
        assert reason is not None and words in reason, reason


PRIVATE = [
    metric("g1", "p1", "heart_rate", 170.0, private=True),
    metric("g1", "p1", "heart_rate", 171.0),  # mislabelled: private by its name all the same
    metric("g1", "p1", "hr_percent_max", 0.9),
    metric("g1", "p1", "heart_rate_zone", 4.0),
    metric("g1", "p1", "trimp", 40.0),
    metric("g1", "p1", "core_temp", 39.0, private=True),
    alert("g1", "p1", "hr_percent_max", private=True),
    alert("g1", "p1", "heart_rate"),
]


async def test_private_data_reaches_staff_and_admin_only(server: Any) -> None:
    hr = ["heart_rate", "hr_percent_max", "heart_rate_zone", "trimp", "core_temp", "speed"]
    async with (
        server() as s,
        s.client("broadcast", metrics=hr) as broadcast,
        s.client("fan", games=["g1"], athletes=["p1", "end"], metrics=hr) as fan,
        s.client("fan") as fan_all,
        s.client("staff", metrics=hr) as staff,
        s.client("admin") as admin,
    ):
        await s.publish(*PRIVATE, metric("g1", "p1"), metric("g1", "end"))
        for ws in (broadcast, fan, fan_all):
            assert summary(await until(ws, is_end)) == expect(
                ("metric", "g1", "p1", "speed"),
                ("metric", "g1", "end", "speed"),
            )
        for ws in (staff, admin):
            assert len(await until(ws, is_end)) == len(PRIVATE) + 2


async def test_fans_never_see_biometrics_from_the_simulated_pipeline(server: Any) -> None:
    async with (
        server(pipeline=True) as s,
        s.client("fan") as fan,
        s.client("broadcast", metrics=["heart_rate", "hr_percent_max", "speed"]) as broadcast,
        s.client("staff", metrics=["heart_rate", "speed"]) as staff,
    ):
        await pump(s.app, Simulator(games=1, seed=5).frames_for(2.0), speed=None)
        await s.app.drain(timeout=30)
        heart = await until(staff, lambda m: m.get("metric") == "heart_rate")
        assert heart[-1]["private"] is True
        await s.publish(metric("g0", "end", "speed"))
        seen = await until(fan, is_end) + await until(broadcast, is_end)
        await until(staff, is_end)
        assert len(seen) > 100
        assert {m["type"] for m in seen} >= {"metric"}
        names = {m.get("metric") for m in seen}
        assert "speed" in names
        assert not names & {"heart_rate", "hr_percent_max", "heart_rate_zone", "trimp"}
        assert not any(m.get("private") for m in seen)


class StalledClient:
    """A WebSocket client that subscribes, then stops reading (a tiny receive buffer, so the
    server's socket backs up quickly); ``frames()`` reads everything later."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.protocol = ClientProtocol(parse_uri(url))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.setblocking(False)

    async def open(self, **filters: Any) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.url.split("/")[2].split(":")
        await loop.sock_connect(self.sock, (host, int(port)))
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        while self.protocol.state is State.CONNECTING:
            self.protocol.receive_data(await loop.sock_recv(self.sock, 65536))
        self.protocol.events_received()  # the handshake response
        self.protocol.send_text(json.dumps({"type": "subscribe", **filters}).encode())
        await self._flush()

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        for data in self.protocol.data_to_send():
            if data:
                await loop.sock_sendall(self.sock, data)

    async def read(self) -> list[dict[str, Any]]:
        """The text messages of the next chunk received."""
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), WAIT_S)
        assert data, "closed by the server"
        self.protocol.receive_data(data)
        messages: list[dict[str, Any]] = []
        for frame in self.protocol.events_received():
            if isinstance(frame, Frame) and frame.opcode is Opcode.TEXT:
                decoded = json.loads(bytes(frame.data))
                messages += decoded if isinstance(decoded, list) else [decoded]
        return messages

    def close(self) -> None:
        self.sock.close()


async def test_a_stalled_client_is_conflated_while_others_get_everything(server: Any) -> None:
    # Long subject ids make big frames: the stalled socket backs up after a few hundred.
    keys = [k * 2000 for k in "abc"]
    rounds = 1000
    async with server(hub=Hub(queue_size=8)) as s, s.client("fan", games=["g1"]) as fast:
        stalled = StalledClient(s.url("fan"))
        try:
            await stalled.open(games=["g1"])
            await eventually(lambda: s.hub.stats()["delivered"] >= 2)  # both subscribed

            async def read_fast() -> list[Any]:
                return await until(
                    fast, lambda m: m["value"] == rounds - 1 and m["subject_id"] == keys[-1]
                )

            reader = asyncio.create_task(read_fast())
            for i in range(rounds):
                for k in keys:
                    await s.app.publish(topics.METRICS, metric("g1", k, value=float(i)))
                await asyncio.sleep(0.001)  # 3 updates a tick: the fast client keeps up
            got = await asyncio.wait_for(reader, WAIT_S)
            assert [(m["subject_id"], m["value"]) for m in got] == [
                (k, float(i)) for i in range(rounds) for k in keys
            ]
            stats = s.hub.stats()
            assert stats["conflated"] > 0
            assert stats["slow_closed"] == 0 and stats["subscribers"] == 2
            # Reading again, the stalled client catches up to the latest value of every key.
            latest: dict[str, float] = {}
            late = 0
            while any(latest.get(k) != rounds - 1 for k in keys):
                for m in await stalled.read():
                    if m["type"] == "metric":
                        latest[m["subject_id"]] = m["value"]
                        late += 1
            assert late < rounds * len(keys)
        finally:
            stalled.close()


async def test_a_stalled_client_that_cannot_keep_an_alert_is_closed(server: Any) -> None:
    # The reading client takes alerts only: no big frames, so it never falls behind.
    async with server(hub=Hub(queue_size=4)) as s, s.client("fan", kinds=["alert"]) as fast:
        stalled = StalledClient(s.url("fan"))
        try:
            await stalled.open()
            await eventually(lambda: s.hub.stats()["delivered"] >= 2)
            for i in range(300):  # back the stalled socket up with big frames
                for k in "abcd":  # as many keys as the queue holds: it fills, then conflates
                    await s.app.publish(topics.METRICS, metric("g1", k * 20_000, value=float(i)))
                await asyncio.sleep(0.001)
            assert s.hub.stats()["conflated"] > 0, s.hub.stats()
            await s.publish(alert("g1", "end"))
            await until(fast, is_end)
            await eventually(lambda: s.hub.stats()["subscribers"] == 1)  # the session ends
            assert s.hub.stats()["slow_closed"] == 1
        finally:
            stalled.close()
