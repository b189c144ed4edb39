"""POST /v1/ingest/{topic}: decoding, partial batches, limits, keys, and the events on the
transport; the App's own http() and webhook() functions mounted beside it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from arenaflow import App, Settings
from arenaflow.context import Context
from arenaflow.events import TRACE_HEADER, Event
from arenaflow.gateway import ingest
from arenaflow.security.webhooks import SIGNATURE_HEADER, sign
from arenaflow.sports import topics
from arenaflow.sports.schemas import (
    BiometricSample,
    GameEvent,
    MetricUpdate,
    TrackedObject,
    TrackingFrame,
)
from arenaflow.sports.sources import Simulator
from arenaflow.transport.memory import MemoryTransport
from arenaflow.triggers import http, webhook

URL = "/v1/ingest/tracking"


def frame(game: str, n: int, x: float = 0.0) -> TrackingFrame:
    return TrackingFrame(
        game_id=game,
        frame=n,
        timestamp=n / 25,
        objects=[TrackedObject(id="p1", team="home", x=x, y=1.0)],
    )


def as_json(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


async def test_one_frame_is_on_the_transport_when_the_reply_comes(serve: Callable[..., Any]):
    async with serve() as s:
        r = await s.client.post(
            URL,
            content=as_json(frame("g1", 1)),
            headers={**s.auth("ingest"), "content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": 1, "rejected": []}
        assert s.read(topics.TRACKING) == [frame("g1", 1)]
        # A client's trace id travels with its events; the game is the partition key.
        r = await s.client.post(
            URL, content=as_json(frame("g1", 2)), headers={**s.auth("ingest"), "x-trace-id": "t-42"}
        )
        transport = s.app.transport
        assert isinstance(transport, MemoryTransport)
        [event] = [
            e
            for p in range(transport.partitions(topics.TRACKING))
            for e in transport.read(topics.TRACKING, p)
            if e.value.frame == 2
        ]
        assert (event.key, event.headers[TRACE_HEADER]) == ("g1", "t-42")


async def test_a_partly_bad_batch_publishes_the_good_items_and_names_the_bad(
    serve: Callable[..., Any],
):
    body = [msgspec.to_builtins(frame("g1", n, x=float(n))) for n in range(5)]
    body[2]["objects"][0]["x"] = "far"
    body[4] = {"game_id": "g1"}
    async with serve() as s:
        r = await s.client.post(URL, content=as_json(body), headers=s.auth("ingest"))
        assert r.status_code == 207
        reply = r.json()
        assert reply["accepted"] == 3
        assert [item["index"] for item in reply["rejected"]] == [2, 4]
        assert reply["rejected"][0]["error"] == (
            "Expected `float`, got `str` - at `$[2].objects[0].x`"
        )
        assert "`$[4]`" in reply["rejected"][1]["error"]
        assert "frame" in reply["rejected"][1]["error"]
        # The good ones, in order, on the game's partition.
        assert [f.frame for f in s.read(topics.TRACKING)] == [0, 1, 3]
        c = s.state.counters
        assert (c.ingest_requests, c.ingest_accepted, c.ingest_rejected) == (1, 3, 2)
        assert c.by_status == {207: 1}


async def test_msgpack_batches_of_every_topic(serve: Callable[..., Any]):
    items = list(Simulator("football", games=2, seed=1, hr_hz=2.0).frames_for(1.0))
    by_topic: dict[str, list[Any]] = {}
    for topic, _, value in items:
        by_topic.setdefault(topic, []).append(value)
    assert set(by_topic) == {topics.TRACKING, topics.BIOMETRICS, topics.GAME_EVENTS}
    async with serve() as s:
        for n, (topic, values) in enumerate(by_topic.items()):
            ctype = ("application/msgpack", "application/x-msgpack")[n % 2]
            r = await s.client.post(
                f"/v1/ingest/{topic}",
                content=msgspec.msgpack.encode(values),
                headers={**s.auth("ingest"), "content-type": ctype},
            )
            assert r.json() == {"accepted": len(values), "rejected": []}, topic
            on_transport = s.read(topic)
            assert sorted(map(msgspec.json.encode, on_transport)) == sorted(
                map(msgspec.json.encode, values)
            )
        kinds = {type(v) for t in by_topic for v in s.read(t)}
        assert kinds == {TrackingFrame, BiometricSample, GameEvent}


async def test_nothing_decodes_is_a_400_naming_the_field(serve: Callable[..., Any]):
    bad = msgspec.to_builtins(frame("g1", 1))
    bad["objects"][0]["y"] = None
    async with serve() as s:
        headers = s.auth("ingest")
        r = await s.client.post(URL, content=as_json(bad), headers=headers)
        assert r.status_code == 400
        assert r.json()["error"] == "Expected `float`, got `null` - at `$.objects[0].y`"
        r = await s.client.post(URL, content=b'{"game_id" 1}', headers=headers)
        assert r.status_code == 400 and "malformed" in r.json()["error"]
        r = await s.client.post(URL, content=as_json([bad, 7]), headers=headers)
        assert r.status_code == 400
        assert [x["index"] for x in r.json()["rejected"]] == [0, 1]
        r = await s.client.post(
            URL, content=b"\xc1", headers={**headers, "content-type": "application/msgpack"}
        )
        assert r.status_code == 400
        assert s.read(topics.TRACKING) == []
        assert s.state.counters.by_status == {400: 4}


async def test_keys_topics_types_and_sizes(
    serve: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
):
    body = as_json(frame("g1", 1))
    async with serve() as s:
        post = s.client.post
        assert (await post(URL, content=body)).status_code == 401
        r = await post(URL, content=body, headers={"authorization": "Bearer nope"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        for scope in ("broadcast", "fan", "staff"):
            assert (await post(URL, content=body, headers=s.auth(scope))).status_code == 403
        # ?key= works where headers cannot be set; admin may everything.
        r = await post(URL, content=body, params={"key": s.keys["ingest"]})
        assert r.status_code == 200
        assert (await post(URL, content=body, headers=s.auth("admin"))).status_code == 200
        r = await post("/v1/ingest/metrics", content=body, headers=s.auth("ingest"))
        assert r.status_code == 404 and "tracking" in r.json()["error"]
        r = await post(URL, content=body, headers={**s.auth("ingest"), "content-type": "text/csv"})
        assert r.status_code == 415
        # Declared too large: refused before reading.
        big = b" " * (ingest.MAX_BODY_BYTES + 1)
        assert (await post(URL, content=big, headers=s.auth("ingest"))).status_code == 413

        # Streamed without a length: refused by the bytes read.
        monkeypatch.setattr(ingest, "MAX_BODY_BYTES", 1000)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(5):
                yield b" " * 400

        r = await post(URL, content=chunks(), headers=s.auth("ingest"))
        assert "content-length" not in r.request.headers
        assert r.status_code == 413
        assert len(s.read(topics.TRACKING)) == 2
        by_status = s.state.counters.by_status
        assert by_status == {401: 2, 403: 3, 200: 2, 404: 1, 415: 1, 413: 2}


async def test_a_full_partition_delays_the_reply_not_the_event(serve: Callable[..., Any]):
    """A batch larger than the partition holds: the reply comes once every event is on the
    transport (consumers made room), and every one of them is processed."""
    async with serve(settings=Settings(partitions=1, retention=40)) as s:
        frames = [frame("g9", n, x=n / 25) for n in range(300)]
        r = await s.client.post(URL, content=as_json(frames), headers=s.auth("ingest"))
        assert r.json() == {"accepted": 300, "rejected": []}
        await s.app.drain(timeout=30)
        assert s.app.metrics("tracking").events == 300
        assert s.live.games["g9"].frame >= 290  # refreshed at the live rate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_frames_posted_over_a_real_socket_become_live_metrics(serve: Callable[..., Any]):
    sim = Simulator("football", games=1, seed=4, hr_hz=2.0)
    items = list(sim.frames_for(3.0))
    async with serve() as s:
        port = _free_port()
        config = uvicorn.Config(
            s.gateway, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        try:
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
                await asyncio.sleep(0.01)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                headers = {**s.auth("ingest"), "content-type": "application/msgpack"}
                for start in range(0, len(items), 100):  # in capture order, 4 s of play a batch
                    chunk = items[start : start + 100]
                    for topic in (topics.TRACKING, topics.BIOMETRICS, topics.GAME_EVENTS):
                        values = [v for t, _, v in chunk if t == topic]
                        if values:
                            r = await client.post(
                                f"/v1/ingest/{topic}",
                                content=msgspec.msgpack.encode(values),
                                headers=headers,
                            )
                            assert r.status_code == 200, r.text
            await s.app.drain(timeout=30)
        finally:
            server.should_exit = True
            await task
        updates = [u for u in s.read(topics.METRICS) if isinstance(u, MetricUpdate)]
        speeds = [u for u in updates if u.metric == "speed" and u.game_id == "g0"]
        assert speeds and all(0 <= u.value <= 12 for u in speeds)
        assert any(u.metric == "heart_rate" and u.private for u in updates)
        game = s.live.games["g0"]
        assert len(game.players) == 22
        assert max(p.distance_m for p in game.players.values()) > 5


async def test_http_and_webhook_functions_mount_on_the_gateway(serve: Callable[..., Any]):
    def setup(app: App) -> None:
        @app.function(http("/v1/echo", methods=["POST", "GET"]), name="echo")
        async def echo(events: list[Event], ctx: Context) -> dict[str, Any]:
            req = events[0].value
            return {"method": req["method"], "body": req["body"].decode(), "who": req["principal"]}

        @app.function(webhook("vendor", secret="s3cret"), name="vendor_hook")
        async def vendor_hook(events: list[Event], ctx: Context) -> str:
            return "got " + events[0].value.decode()

    async with serve(setup=setup) as s:
        r = await s.client.post("/v1/echo", content=b"hi", headers=s.auth("fan"))
        assert r.status_code == 200
        assert r.json() == {"method": "POST", "body": "hi", "who": "fan-key"}
        assert (await s.client.get("/v1/echo")).status_code == 401
        assert s.app.metrics("echo").invocations == 1

        body = b'{"score": 1}'
        r = await s.client.post(
            "/v1/webhooks/vendor", content=body, headers={SIGNATURE_HEADER: sign(body, "s3cret")}
        )
        assert r.status_code == 200 and r.text == 'got {"score": 1}'
        r = await s.client.post(
            "/v1/webhooks/vendor", content=body, headers={SIGNATURE_HEADER: sign(body, "nope")}
        )
        assert r.status_code == 401
        assert (await s.client.post("/v1/webhooks/other", content=body)).status_code == 404
