"""Push across gateway replicas: workers relay the push topics to Redis pub/sub, and every
gateway's hub listens.

In one process the hub is fed by its own stream function (``gateway_push``, a consumer group).
A fleet has several gateways, and a consumer group would split the updates between them; so
there the workers run :func:`attach_relay`'s ``push_relay`` function instead, which publishes
each batch of metric updates, alerts and enriched events to the channel ``{prefix}:push``, and
each gateway runs a :class:`RedisFanout` that hands what arrives to its hub. A WebSocket client
on any replica gets every update, in order per game (a game's updates come from one partition,
so from one relay).

Pub/sub keeps nothing: a gateway that is down (or reconnecting) misses what was said
meanwhile, as a live feed should; its clients catch up from the REST snapshot. The store keeps
the history.

Example:
    >>> RedisFanout("redis://127.0.0.1:6379/0?prefix=demo", hub=None).channel
    'demo:push'
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit, urlunsplit

import msgspec

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.errors import ConfigError
from arenaflow.events import Event
from arenaflow.pipeline.shots import ENRICHED_TOPIC
from arenaflow.sports import topics
from arenaflow.sports.schemas import Alert, GameEvent, MetricUpdate
from arenaflow.triggers import stream

if TYPE_CHECKING:
    from arenaflow.gateway.hub import Hub

log = logging.getLogger(__name__)

#: Name of the workers' function that feeds the channel.
RELAY_FUNCTION: Final = "push_relay"
#: What the push tier carries, by topic.
PUSHED: Final[dict[str, type[msgspec.Struct]]] = {
    topics.METRICS: MetricUpdate,
    topics.ALERTS: Alert,
    ENRICHED_TOPIC: GameEvent,
}

_encode = msgspec.msgpack.encode
_decode_batch = msgspec.msgpack.Decoder(list[tuple[str, msgspec.Raw]]).decode
_DECODERS = {topic: msgspec.msgpack.Decoder(kind) for topic, kind in PUSHED.items()}


def _channel(prefix: str) -> str:
    return f"{prefix}:push"


def attach_relay(app: App) -> None:
    """Register ``push_relay`` on ``app``, whose transport must be the Redis one."""
    from arenaflow.transport.redis import RedisTransport

    transport = app.transport
    if not isinstance(transport, RedisTransport):
        raise ConfigError("push_relay needs the redis transport (ARENAFLOW_TRANSPORT=redis://...)")
    channel = _channel(transport.prefix)

    @app.function(
        *(stream(topic, key="game_id") for topic in PUSHED),
        name=RELAY_FUNCTION,
        batch_size=1000,
        # Retried (a gateway may see a repeat, never a gap, after a Redis blip).
        bisect_on_error=False,
    )
    async def push_relay(events: list[Event], ctx: Context) -> None:
        if ctx.replaying:
            return
        await transport.redis.publish(channel, _encode([(e.topic, e.value) for e in events]))


class RedisFanout:
    """One gateway's subscription to the channel, feeding ``hub``; reconnects with back-off.

    Args:
        url: The fleet's Redis URL (the transport's; its ``prefix`` names the channel).
        hub: The gateway's push tier.
    """

    def __init__(self, url: str, hub: Hub) -> None:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.url = urlunsplit(parts._replace(query=""))
        self.channel = _channel(query.get("prefix", "arenaflow"))
        self.hub = hub
        self.received = 0
        self.undecodable = 0
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="push-fanout")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=2.0)
            self._task = None

    async def _listen(self) -> None:
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        delay = 0.05
        while True:
            client = aioredis.Redis.from_url(self.url, decode_responses=False)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.connected.set()
                delay = 0.05
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.connected.clear()
                log.warning("push fan-out: %s unreachable (%s); reconnecting", self.url, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except (RedisError, OSError):
                    pass

    def deliver(self, data: bytes) -> None:
        """Hand one relayed batch to the hub (bad data is counted and dropped, never fatal)."""
        try:
            batch = _decode_batch(data)
        except msgspec.DecodeError:
            self.undecodable += 1
            return
        publish = self.hub.publish
        for topic, raw in batch:
            decoder = _DECODERS.get(topic)
            if decoder is None:
                self.undecodable += 1
                continue
            try:
                value: Any = decoder.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.undecodable += 1
                continue
            self.received += 1
            publish(value)
        self.hub.flush()
