"""The WebSocket push tier: ``/v1/ws``, fed by a runtime function on the output topics.

:meth:`Hub.attach` registers one stream function (``gateway_push``) on ``metrics``, ``alerts`` and
``game_events.enriched``; it hands every value of a batch to :meth:`Hub.publish`, which never
awaits a client: it encodes the message once and appends it to the queue of each interested
subscriber; then :meth:`Hub.flush` sends each touched queue as one frame. Served with
:func:`~arenaflow.gateway.server.server_config`, a connection that keeps up is written to at once,
with a frame encoded once for all its subscribers (:class:`~arenaflow.gateway.server.DirectSink`,
about 8 us a message where ASGI sends cost 16); a connection that is behind, or one served by
another ASGI server, is sent to by its own writer task when it can take more. Either way a stalled
client only ever delays itself.

Protocol (JSON text frames)::

    client -> server
      {"type": "subscribe", "games": [...], "teams": [...], "athletes": [...],
       "metrics": [...], "kinds": ["metric", "alert", "event"]}   # missing or [] = all;
                                                                  # again = replace the filters
      {"type": "ping"}
    server -> client
      {"type": "subscribed", "filters": {...}}
      {"type": "metric", ...MetricUpdate fields}
      {"type": "alert", ...Alert fields}
      {"type": "event", ...GameEvent fields}
      {"type": "heartbeat", "t": <epoch s>}                       # every heartbeat_s
      {"type": "pong"}
      [{...}, {...}, ...]    # several of the above in one frame, in order, when several are
                             # ready at once (a game's players at a live update): a WebSocket
                             # frame costs the server ~20 us whatever it carries

A new connection receives nothing until it subscribes. ``teams`` and ``athletes`` together
match a message whose team is one of ``teams`` or whose subject (athlete, or ``"home"``/``"away"``
for team metrics) is one of ``athletes`` or ``teams``; game-level events (no team, no player)
pass them. ``metrics`` filters metric updates and alerts by metric name.

Close codes: 4401 missing or unknown key, 4403 a key without broadcast/fan/staff/admin scope,
4400 a malformed message (the reason says what), 4408 too slow, 1001 server shutting down.

Scope: private (biometric) messages (``private=True`` or a metric in
:data:`~arenaflow.pipeline.rules.PRIVATE_METRICS`) are only ever queued for principals that
``sees_private``, whatever they subscribe to.

Slow clients: a subscriber's queue holds at most ``queue_size`` messages. While a client is
behind (its socket takes no more data, or its queue is full), a metric update whose
(game, subject, metric) still has an unsent value in the queue replaces it (counted as
``conflated``): a stalled client's queue holds the latest value per key. A client that keeps up
sees every update. When the queue is full, an alert, an event, or a metric of a new key cannot be
kept: the client is closed with 4408 "too slow" (counted as ``slow_closed``) and reconnects to
catch up from the REST snapshot, rather than silently missing an alert. Size ``queue_size`` above
the number of metric keys a client subscribes to.

Example:
    >>> from arenaflow import App
    >>> from arenaflow.gateway.app import create_gateway
    >>> from arenaflow.gateway.auth import KeyRing
    >>> hub = Hub(queue_size=256, heartbeat_s=10.0)
    >>> gateway = create_gateway(App(), keys=KeyRing(), hub=hub)
    >>> [route.path for route in gateway.routes if route.path == "/v1/ws"]
    ['/v1/ws']
    >>> hub.stats()["subscribers"]
    0.0
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

import msgspec
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.gateway.auth import Principal, presented_key
from arenaflow.gateway.server import PUSH_EXTENSION, DirectSink, text_frame
from arenaflow.pipeline.rules import PRIVATE_METRICS
from arenaflow.pipeline.shots import ENRICHED_TOPIC
from arenaflow.sports import topics
from arenaflow.sports.schemas import Alert, GameEvent, MetricUpdate
from arenaflow.triggers import stream

if TYPE_CHECKING:
    from arenaflow.gateway.app import GatewayState

log = logging.getLogger(__name__)

Kind = Literal["metric", "alert", "event"]

#: Name of the runtime function that feeds the hub.
FUNCTION_NAME: Final = "gateway_push"
#: Scopes that may open the push feed.
FEED_SCOPES: Final = ("broadcast", "fan", "staff")

CLOSE_BAD_MESSAGE: Final = 4400
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_TOO_SLOW: Final = 4408
CLOSE_GOING_AWAY: Final = 1001

_encode = msgspec.json.Encoder().encode


class _Subscribe(msgspec.Struct, tag="subscribe", tag_field="type", forbid_unknown_fields=True):
    games: list[str] | None = None
    teams: list[str] | None = None
    athletes: list[str] | None = None
    metrics: list[str] | None = None
    kinds: list[Kind] | None = None


class _Ping(msgspec.Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    pass


_decode_request = msgspec.json.Decoder(_Subscribe | _Ping).decode


def _set(values: list[Any] | None) -> frozenset[Any] | None:
    """A filter: None (everything) for a missing or empty list."""
    return frozenset(values) if values else None


class _Subscriber:
    """One connection: its principal, filters and bounded, conflating queue.

    The queue is an insertion-ordered dict of slot -> frame; ``latest`` maps a metric's
    (game, subject, metric) key to the slot of its newest pending value, so a full queue can
    replace it in place.
    """

    __slots__ = (
        "athletes",
        "blocked",
        "closing",
        "dirty",
        "games",
        "kinds",
        "latest",
        "limit",
        "metrics",
        "principal",
        "queue",
        "sees_private",
        "seq",
        "sink",
        "teams",
        "waiter",
        "writer",
    )

    def __init__(self, principal: Principal, limit: int, sink: DirectSink | None) -> None:
        self.principal = principal
        self.sink = sink
        self.sees_private = principal.sees_private
        self.limit = limit
        self.games: frozenset[str] | None = frozenset()  # nothing until the first subscribe
        self.teams: frozenset[str] | None = None
        self.athletes: frozenset[str] | None = None
        self.metrics: frozenset[str] | None = None
        self.kinds: frozenset[str] | None = None
        self.queue: dict[int, bytes] = {}
        self.latest: dict[str, int] = {}
        self.seq = 0
        self.waiter: asyncio.Future[None] | None = None
        self.writer: asyncio.Task[None] | None = None
        self.closing: tuple[int, str] | None = None
        #: True while the writer waits for the socket to take more: the client is behind.
        self.blocked = False
        #: True while listed for the hub's next flush.
        self.dirty = False

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def put(self, frame: bytes) -> bool:
        """Queue a message that must not be lost; False when the queue is full."""
        if len(self.queue) >= self.limit:
            return False
        self.seq += 1
        self.queue[self.seq] = frame
        return True

    def put_metric(self, key: str, frame: bytes) -> int:
        """Queue a metric update: 1 queued, 0 conflated, -1 cannot be kept.

        While the client is behind (its socket does not take more, or the queue is full), the
        new value replaces an unsent value of the same key, moved to the end so that it stays
        after alerts queued since.
        """
        queue = self.queue
        if not self.blocked and len(queue) < self.limit:  # the usual case: keeping up
            self.seq += 1
            queue[self.seq] = frame
            self.latest[key] = self.seq
            return 1
        slot = self.latest.get(key)
        full = len(queue) >= self.limit
        if slot is not None and (self.blocked or full) and queue.pop(slot, None) is not None:
            conflated = 0
        elif full:
            return -1
        else:
            conflated = 1
        self.seq += 1
        queue[self.seq] = frame
        self.latest[key] = self.seq
        return conflated

    def take(self) -> list[bytes]:
        """Everything queued, in order, leaving the queue empty."""
        frames = list(self.queue.values())
        self.queue.clear()
        self.latest.clear()
        return frames

    def wants(self, team: str | None, subject: str | None, metric: str | None) -> bool:
        """Team, athlete and metric filters (kinds and games are checked by the caller)."""
        if metric is not None and self.metrics is not None and metric not in self.metrics:
            return False
        teams, athletes = self.teams, self.athletes
        if (teams is None and athletes is None) or (team is None and subject is None):
            return True
        if teams is not None and (team in teams or subject in teams):
            return True
        return athletes is not None and subject in athletes


class Hub:
    """The push tier: subscribers indexed by game, fed by the ``gateway_push`` function.

    Args:
        queue_size: Most messages waiting for one subscriber (see the module doc).
        heartbeat_s: Interval of ``{"type": "heartbeat"}`` messages.
        batch_size: Batch size of the feeding runtime function.
        close_timeout_s: How long a close frame may wait for a stalled client.
    """

    def __init__(
        self,
        *,
        queue_size: int = 1024,
        heartbeat_s: float = 15.0,
        batch_size: int = 1000,
        close_timeout_s: float = 1.0,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        if heartbeat_s <= 0:
            raise ValueError(f"heartbeat_s must be positive, got {heartbeat_s}")
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.batch_size = batch_size
        self.close_timeout_s = close_timeout_s
        self._subscribers: set[_Subscriber] = set()
        self._by_game: dict[str, set[_Subscriber]] = {}
        self._all_games: set[_Subscriber] = set()
        self._dirty: list[_Subscriber] = []
        self._framed: dict[bytes, bytes] = {}  # message -> its frame, during a flush
        self._heartbeat: asyncio.Task[None] | None = None
        self._endpoints: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.messages_in = 0
        self.delivered = 0
        self.conflated = 0
        self.slow_closed = 0
        self.rejected = 0
        self.connections = 0

    # -- wiring ---------------------------------------------------------------------------------
    def attach(self, app: App) -> None:
        """Register the runtime function that feeds the hub on ``app`` (before it starts)."""

        @app.function(
            stream(topics.METRICS, key="game_id", schema=MetricUpdate),
            stream(topics.ALERTS, key="game_id", schema=Alert),
            stream(ENRICHED_TOPIC, key="game_id", schema=GameEvent),
            name=FUNCTION_NAME,
            batch_size=self.batch_size,
            max_retry_attempts=0,  # a retried batch would push duplicates
            bisect_on_error=False,
            max_instances=1,
        )
        async def gateway_push(events: list[Event], ctx: Context) -> None:
            publish = self.publish
            for event in events:
                publish(event.value)
            self.flush()

    def routes(self, state: GatewayState) -> list[WebSocketRoute]:
        """``/v1/ws``, authenticated against ``state.keys``."""

        async def endpoint(websocket: WebSocket) -> None:
            await self._serve(websocket, state)

        return [WebSocketRoute("/v1/ws", endpoint, name="push")]

    # -- fan-out --------------------------------------------------------------------------------
    def publish(self, value: Any) -> None:
        """Queue ``value`` (a MetricUpdate, Alert or GameEvent) for every interested subscriber;
        never waits for a client. Other values are ignored. :meth:`flush` sends what a batch of
        calls queued, one frame per subscriber."""
        self.messages_in += 1
        game_subs = self._by_game.get(getattr(value, "game_id", ""))
        if not game_subs and not self._all_games:
            return  # nobody listens to this game: the usual case for most updates
        kind: Kind
        team: str | None
        subject: str | None
        metric: str | None
        key: str | None = None
        if isinstance(value, MetricUpdate):
            kind, team, subject, metric = "metric", value.team, value.subject_id, value.metric
            private = value.private or metric in PRIVATE_METRICS
            key = f"{value.game_id}\x00{subject}\x00{metric}"
        elif isinstance(value, Alert):
            kind, team, subject, metric = "alert", None, value.subject_id, value.metric
            private = value.private or metric in PRIVATE_METRICS
        elif isinstance(value, GameEvent):
            kind, team, subject, metric = "event", value.team, value.player_id, None
            private = False
        else:
            return
        frame: bytes | None = None
        dirty = self._dirty
        slow: list[_Subscriber] = []
        for subs in (game_subs, self._all_games):
            if not subs:
                continue
            for sub in subs:
                # Private data is decided here, at the source, whatever the filters say.
                if private and not sub.sees_private:
                    continue
                if sub.kinds is not None and kind not in sub.kinds:
                    continue
                if not sub.wants(team, subject, metric):
                    continue
                if frame is None:
                    frame = _PREFIX[kind] + _encode(value)[1:]
                if key is not None:
                    queued = sub.put_metric(key, frame)
                    if queued == 0:
                        self.conflated += 1
                        continue
                    if queued < 0:
                        slow.append(sub)
                        continue
                elif not sub.put(frame):
                    slow.append(sub)
                    continue
                if not sub.dirty:
                    sub.dirty = True
                    dirty.append(sub)
        for sub in slow:
            self.slow_closed += 1
            self._close(sub, CLOSE_TOO_SLOW, "too slow")

    def flush(self) -> None:
        """Send what :meth:`publish` queued: at once to each client that keeps up, through its
        writer task to the others."""
        dirty, self._dirty = self._dirty, []
        for sub in dirty:
            sub.dirty = False
            self._send(sub)
        self._framed.clear()

    def _send(self, sub: _Subscriber) -> None:
        """Write ``sub``'s queue now if its connection takes it without waiting, else have its
        writer task send it."""
        sink = sub.sink
        queue = sub.queue
        if sink is None or not queue or sub.blocked or not sink.writable():
            sub.wake()
            return
        frames = sub.take()
        if len(frames) == 1:  # the usual case: one message, framed once for all its subscribers
            data = self._framed.get(frames[0])
            if data is None:
                data = self._framed[frames[0]] = text_frame(frames[0])
        else:
            data = text_frame(_payload(frames))
        self.delivered += len(frames)
        sink.write(data)

    def _index(self, sub: _Subscriber) -> None:
        if sub.games is None:
            self._all_games.add(sub)
            return
        for game in sub.games:
            self._by_game.setdefault(game, set()).add(sub)

    def _unindex(self, sub: _Subscriber) -> None:
        """Undo :meth:`_index` (``sub.games`` must still be the indexed filter)."""
        if sub.games is None:
            self._all_games.discard(sub)
            return
        for game in sub.games:
            subs = self._by_game.get(game)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_game[game]

    def _close(self, sub: _Subscriber, code: int, reason: str) -> None:
        """Stop sending to ``sub`` and have its connection closed with ``code``."""
        if sub.closing is not None:
            return
        sub.closing = (code, reason)
        self._unindex(sub)
        sub.queue.clear()
        sub.latest.clear()
        sub.wake()
        if sub.writer is not None and code == CLOSE_TOO_SLOW:
            sub.writer.cancel()  # it may be waiting for a stalled socket to drain

    # -- connections ----------------------------------------------------------------------------
    async def _serve(self, websocket: WebSocket, state: GatewayState) -> None:
        await websocket.accept()
        principal = state.keys.check(presented_key(websocket.headers, websocket.query_params))
        if principal is None or self._closed:
            self.rejected += 1
            reason = "server shutting down" if self._closed else "missing or unknown API key"
            code = CLOSE_GOING_AWAY if self._closed else CLOSE_UNAUTHORIZED
            await websocket.close(code, reason)
            return
        if not principal.may(*FEED_SCOPES):
            self.rejected += 1
            await websocket.close(CLOSE_FORBIDDEN, "this key may not read the live feed")
            return
        self._start_heartbeat()
        sink = websocket.scope.get("extensions", {}).get(PUSH_EXTENSION)
        sub = _Subscriber(principal, self.queue_size, sink)
        self.connections += 1
        self._subscribers.add(sub)
        task = asyncio.current_task()
        if task is not None:
            self._endpoints.add(task)
        writer = asyncio.create_task(self._write(sub, websocket))
        reader = asyncio.create_task(self._read(sub, websocket))
        sub.writer = writer
        disconnected = False
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done() and not reader.cancelled():
                disconnected = reader.result()
        finally:
            for t in (reader, writer):
                t.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            self._unindex(sub)
            self._subscribers.discard(sub)
            if task is not None:
                self._endpoints.discard(task)
        if sub.closing is not None and not disconnected:
            code, reason = sub.closing
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(code, reason), self.close_timeout_s)

    async def _read(self, sub: _Subscriber, websocket: WebSocket) -> bool:
        """Handle client messages; True when the client went away."""
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return True
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            try:
                request = _decode_request(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.rejected += 1
                self._close(sub, CLOSE_BAD_MESSAGE, _reason(f"bad message: {exc}"))
                return False
            if isinstance(request, _Subscribe):
                self._subscribe(sub, request)
            elif sub.put(b'{"type":"pong"}'):
                self._send(sub)
            else:
                self.slow_closed += 1
                self._close(sub, CLOSE_TOO_SLOW, "too slow")

    def _subscribe(self, sub: _Subscriber, request: _Subscribe) -> None:
        if sub.closing is not None:
            return
        self._unindex(sub)
        sub.games = _set(request.games)
        sub.teams = _set(request.teams)
        sub.athletes = _set(request.athletes)
        sub.metrics = _set(request.metrics)
        sub.kinds = _set(request.kinds)
        filters = {
            name: sorted(values) if values is not None else []
            for name, values in (
                ("games", sub.games),
                ("teams", sub.teams),
                ("athletes", sub.athletes),
                ("metrics", sub.metrics),
                ("kinds", sub.kinds),
            )
        }
        self._index(sub)
        if sub.put(_encode({"type": "subscribed", "filters": filters})):
            self._send(sub)
        else:
            self.slow_closed += 1  # subscribing again and again without reading
            self._close(sub, CLOSE_TOO_SLOW, "too slow")

    async def _write(self, sub: _Subscriber, websocket: WebSocket) -> None:
        """Send ``sub``'s queue whenever :meth:`_send` cannot, until the connection closes."""
        send = websocket.send
        sink = sub.sink
        loop = asyncio.get_running_loop()
        while sub.closing is None:
            if not sub.queue:
                sub.waiter = loop.create_future()
                await sub.waiter
                sub.waiter = None
                continue
            if sink is not None:
                if sink.closed():
                    return  # the endpoint sees the disconnect and ends the session
                if sink.writable():
                    self._send(sub)
                    continue
                sub.blocked = True  # the client is behind: conflate meanwhile
                await sink.wait_writable()
                sub.blocked = False
                continue
            frames = sub.take()
            # send() returns without suspending while the socket takes data, so the fan-out can
            # only run (and see ``blocked``) while it waits for a client that is behind.
            sub.blocked = True
            await send({"type": "websocket.send", "text": _payload(frames).decode()})
            self.delivered += len(frames)
            sub.blocked = False

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            frame = b'{"type":"heartbeat","t":%.3f}' % time.time()
            for sub in list(self._subscribers):
                if sub.closing is None and sub.put(frame):  # a full queue has news anyway
                    self._send(sub)

    async def close(self) -> None:
        """Close every connection (1001) and stop the heartbeat."""
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None
        for sub in list(self._subscribers):
            self._close(sub, CLOSE_GOING_AWAY, "server shutting down")
            if sub.writer is not None:
                sub.writer.cancel()
        if self._endpoints:
            await asyncio.wait(set(self._endpoints), timeout=self.close_timeout_s + 1.0)

    # -- figures --------------------------------------------------------------------------------
    def stats(self) -> dict[str, float]:
        """Figures for the dashboard and ``/metrics``: gauges ``subscribers``, ``behind``
        (clients whose socket takes no more: they get the latest value per key) and ``queued``,
        counters ``connections``, ``messages_in``, ``delivered``, ``conflated``,
        ``slow_closed`` and ``rejected``."""
        return {
            "subscribers": float(len(self._subscribers)),
            "behind": float(sum(1 for s in self._subscribers if s.blocked)),
            "queued": float(sum(len(s.queue) for s in self._subscribers)),
            "connections": float(self.connections),
            "messages_in": float(self.messages_in),
            "delivered": float(self.delivered),
            "conflated": float(self.conflated),
            "slow_closed": float(self.slow_closed),
            "rejected": float(self.rejected),
        }


#: What a message's JSON starts with, by kind (the struct's fields follow).
_PREFIX: Final = {kind: b'{"type":"%s",' % kind.encode() for kind in get_args(Kind)}


def _payload(frames: list[bytes]) -> bytes:
    """One message as it is, several as a JSON array."""
    return frames[0] if len(frames) == 1 else b"[" + b",".join(frames) + b"]"


def _reason(text: str) -> str:
    """A close reason fits in 123 bytes."""
    raw = text.encode()
    return text if len(raw) <= 123 else raw[:120].decode(errors="ignore") + "..."
