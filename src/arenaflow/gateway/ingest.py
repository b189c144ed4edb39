"""HTTP ingest, the "API gateway trigger": events posted over HTTP onto the transport.

``POST /v1/ingest/{topic}`` takes one event or an array of them, as JSON
(``application/json``) or msgpack (``application/msgpack``, ``application/x-msgpack``), for the
topics ``tracking`` (:class:`~arenaflow.sports.schemas.TrackingFrame`), ``biometrics``
(:class:`~arenaflow.sports.schemas.BiometricSample`) and ``game_events``
(:class:`~arenaflow.sports.schemas.GameEvent`). The caller's key needs the ``ingest`` scope.

Replies (JSON):

* ``200 {"accepted": n, "rejected": []}``: every event is on the transport;
* ``207 {"accepted": n, "rejected": [{"index": i, "error": "..."}]}``: an array of which some
  items did not decode; the others are on the transport;
* ``400 {"error": "...", "accepted": 0, "rejected": [...]}``: nothing decoded; msgspec's message
  names the field path (``Expected `float`, got `str` - at `$[2].objects[0].x```);
* ``401`` missing or unknown key, ``403`` a key without the scope, ``404`` unknown topic,
  ``413`` body over :data:`MAX_BODY_BYTES`, ``415`` another content type.

A 2xx means every accepted event is on the transport: the reply waits for room when a partition
is full (backpressure reaches the sender as a slower reply, never as a lost event).

The ``http(...)`` functions of the App mount beside it (:func:`function_routes`), and its
``webhook(...)`` functions at ``/v1/webhooks/{name}``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from arenaflow.errors import ConfigError, FunctionError
from arenaflow.events import TRACE_HEADER
from arenaflow.gateway.auth import Principal, presented_key
from arenaflow.security.webhooks import SIGNATURE_HEADER, SignatureError
from arenaflow.sports import topics
from arenaflow.sports.schemas import BiometricSample, GameEvent, TrackingFrame
from arenaflow.triggers import Http

if TYPE_CHECKING:
    from arenaflow.gateway.app import Counters, GatewayState

log = logging.getLogger(__name__)

#: Largest body accepted (a batch of about 10 s of one game's frames as JSON is ~1.5 MiB).
MAX_BODY_BYTES: Final = 8 * 1024 * 1024
#: Schemas of the topics that take events over HTTP.
SCHEMAS: Final[dict[str, type[msgspec.Struct]]] = {
    topics.TRACKING: TrackingFrame,
    topics.BIOMETRICS: BiometricSample,
    topics.GAME_EVENTS: GameEvent,
}
JSON_TYPES: Final = frozenset({"application/json", ""})
MSGPACK_TYPES: Final = frozenset({"application/msgpack", "application/x-msgpack"})
#: A trace id sent by the client travels with its events (else each request gets a new one).
TRACE_REQUEST_HEADER: Final = "x-trace-id"

Decoder = msgspec.json.Decoder[Any] | msgspec.msgpack.Decoder[Any]
_DECODERS: Final[dict[tuple[str, bool], Decoder]] = {
    **{(t, False): msgspec.json.Decoder(s) for t, s in SCHEMAS.items()},
    **{(t, True): msgspec.msgpack.Decoder(s) for t, s in SCHEMAS.items()},
}
#: Whole batches in one call: the common case, a batch with nothing wrong in it.
_BATCH_DECODERS: Final[dict[tuple[str, bool], Decoder]] = {
    **{(t, False): msgspec.json.Decoder(list[s]) for t, s in SCHEMAS.items()},  # type: ignore[valid-type]
    **{(t, True): msgspec.msgpack.Decoder(list[s]) for t, s in SCHEMAS.items()},  # type: ignore[valid-type]
}
_JSON_ITEMS: Final = msgspec.json.Decoder(list[msgspec.Raw])
_MSGPACK_ITEMS: Final = msgspec.msgpack.Decoder(list[msgspec.Raw])


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    """A JSON error reply: ``{"error": message, ...}``."""
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status, headers=headers)


def authorise(request: Request, state: GatewayState, *scopes: str) -> Principal | JSONResponse:
    """The caller's principal when its key has any of ``scopes``, else the 401/403 reply."""
    key = presented_key(request.headers, request.query_params)
    principal = state.keys.check(key)
    if principal is None:
        return error(401, "missing or unknown API key" if key is None else "unknown API key")
    if not principal.may(*scopes):
        return error(403, f"this key needs the scope {' or '.join(scopes)}")
    return principal


def _is_array(body: bytes, msgpack: bool) -> bool:
    if msgpack:
        # fixarray 0x90-0x9f, array 16 0xdc, array 32 0xdd
        return bool(body) and (0x90 <= body[0] <= 0x9F or body[0] in (0xDC, 0xDD))
    return body.lstrip()[:1] == b"["


def _at(message: str, index: int) -> str:
    """msgspec's message about one item of an array, with the item's index in the path."""
    if "- at `$" in message:
        return message.replace("- at `$", f"- at `$[{index}]", 1)
    return f"{message} - at `$[{index}]`"


def decode_body(topic: str, body: bytes, msgpack: bool) -> tuple[list[Any], list[dict[str, Any]]]:
    """Decode one event or an array: ``(events, rejected)``; ``rejected`` holds
    ``{"index", "error"}`` per item that did not decode (the whole body at index 0 when it
    is neither an array nor an event).

    Example:
        >>> events, rejected = decode_body("game_events",
        ...     b'[{"game_id":"g","event_id":"1","kind":"goal","timestamp":1},{"game_id":2}]',
        ...     msgpack=False)
        >>> len(events), rejected
        (1, [{'index': 1, 'error': 'Expected `str`, got `int` - at `$[1].game_id`'}])
    """
    decoder = _DECODERS[(topic, msgpack)]
    if not _is_array(body, msgpack):
        try:
            return [decoder.decode(body)], []
        except msgspec.MsgspecError as exc:
            return [], [{"index": 0, "error": str(exc)}]
    with contextlib.suppress(msgspec.MsgspecError):  # else item by item, naming the bad ones
        return list(_BATCH_DECODERS[(topic, msgpack)].decode(body)), []
    try:
        items = (_MSGPACK_ITEMS if msgpack else _JSON_ITEMS).decode(body)
    except msgspec.MsgspecError as exc:
        return [], [{"index": 0, "error": str(exc)}]
    events: list[Any] = []
    rejected: list[dict[str, Any]] = []
    for i, raw in enumerate(items):
        try:
            events.append(decoder.decode(raw))
        except msgspec.MsgspecError as exc:
            rejected.append({"index": i, "error": _at(str(exc), i)})
    return events, rejected


def partition_key(event: Any) -> str:
    """The partition key of an ingested event: its game (an athlete's samples outside a game
    stay in order by athlete)."""
    game_id: str | None = event.game_id
    return game_id if game_id is not None else str(event.athlete_id)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _count(counters: Counters, response: Response) -> Response:
    counters.by_status[response.status_code] = counters.by_status.get(response.status_code, 0) + 1
    return response


def ingest_endpoint(state: GatewayState) -> Callable[[Request], Any]:
    counters = state.counters

    async def ingest(request: Request) -> Response:
        """Post events to a topic.
        ---
        summary: Ingest one event or an array of events (JSON or msgpack)
        parameters:
          - {name: topic, in: path, required: true, schema: {enum: [tracking, biometrics, game_events]}}
        responses:
          200: {description: every event is on the transport}
          207: {description: some items of the array were rejected; the others are accepted}
          400: {description: nothing decoded; the error names the field path}
          401: {description: missing or unknown key}
          403: {description: the key lacks the ingest scope}
          404: {description: unknown topic}
          413: {description: body too large}
          415: {description: unsupported content type}
        """  # noqa: E501
        counters.ingest_requests += 1
        principal = authorise(request, state, "ingest")
        if not isinstance(principal, Principal):
            return _count(counters, principal)
        topic = request.path_params["topic"]
        if topic not in SCHEMAS:
            return _count(
                counters, error(404, f"unknown topic {topic!r}; use one of {sorted(SCHEMAS)}")
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        msgpack = content_type in MSGPACK_TYPES
        if not msgpack and content_type not in JSON_TYPES:
            return _count(
                counters,
                error(415, f"content type {content_type!r}: send application/json or msgpack"),
            )
        declared = request.headers.get("content-length")
        too_large = error(413, f"body over {MAX_BODY_BYTES} bytes; send smaller batches")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _count(counters, too_large)
        body = await _read_body(request, MAX_BODY_BYTES)
        if body is None:
            return _count(counters, too_large)

        events, rejected = decode_body(topic, body, msgpack)
        counters.ingest_rejected += len(rejected)
        trace = request.headers.get(TRACE_REQUEST_HEADER)
        headers = {TRACE_HEADER: trace} if trace else None
        by_key: dict[str, list[Any]] = {}
        for event in events:
            by_key.setdefault(partition_key(event), []).append(event)
        for key, values in by_key.items():
            # Waits for room when a partition is full: the reply is the backpressure.
            await state.app.publish_many(topic, values, key, headers)
        counters.ingest_accepted += len(events)
        reply: dict[str, Any] = {"accepted": len(events), "rejected": rejected}
        if not events and rejected:
            return _count(counters, error(400, rejected[0]["error"], **reply))
        return _count(counters, JSONResponse(reply, 207 if rejected else 200))

    return ingest


def _function_endpoint(state: GatewayState, name: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        principal = authorise(request, state, "ingest", "broadcast", "fan", "staff")
        if not isinstance(principal, Principal):
            return principal
        body = await _read_body(request, MAX_BODY_BYTES)
        if body is None:
            return error(413, f"body over {MAX_BODY_BYTES} bytes")
        value = {
            "method": request.method,
            "path": request.url.path,
            "path_params": dict(request.path_params),
            "query": dict(request.query_params),
            "headers": {k: v for k, v in request.headers.items() if k != "authorization"},
            "body": body,
            "principal": principal.name,
            "scopes": sorted(principal.scopes),
        }
        try:
            result = await state.app.invoke(name, value)
        except FunctionError as exc:
            log.warning("http function %s failed: %s", name, exc)
            return error(500, f"function {name} failed")
        return _as_response(result)

    return endpoint


def _as_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204)
    if isinstance(result, bytes):
        return Response(result, media_type="application/octet-stream")
    if isinstance(result, str):
        return Response(result, media_type="text/plain; charset=utf-8")
    return Response(msgspec.json.encode(result), media_type="application/json")


def _webhook_endpoint(state: GatewayState) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        """Receive a signed webhook (HMAC-SHA256 over the body, no API key).
        ---
        summary: Invoke the function bound to webhook(name)
        responses:
          200: {description: the function's result}
          401: {description: missing, stale or wrong signature}
          404: {description: no function has this webhook}
        """
        body = await _read_body(request, MAX_BODY_BYTES)
        if body is None:
            return error(413, f"body over {MAX_BODY_BYTES} bytes")
        name = request.path_params["name"]
        try:
            result = await state.app.handle_webhook(
                name, body, request.headers.get(SIGNATURE_HEADER)
            )
        except SignatureError as exc:
            return error(401, str(exc))
        except ConfigError:
            return error(404, f"no webhook named {name!r}")
        except FunctionError as exc:
            log.warning("webhook %s failed: %s", name, exc)
            return error(500, f"webhook {name} failed")
        return _as_response(result)

    return endpoint


def function_routes(state: GatewayState) -> list[BaseRoute]:
    """Routes of the App's ``http(...)`` functions (any valid key may call them: the function
    sees the caller's name and scopes and decides) and of its ``webhook(...)`` functions.

    Each request invokes the function once with a dict value: ``method``, ``path``,
    ``path_params``, ``query``, ``headers`` (without ``authorization``), ``body`` (bytes),
    ``principal`` and ``scopes``. A returned Starlette ``Response`` is sent as is; ``None``
    is 204, bytes and str are sent as they are, anything else as JSON.
    """
    routes: list[BaseRoute] = []
    webhooks = False
    for trigger, name in state.app.routes():
        if isinstance(trigger, Http):
            routes.append(
                Route(trigger.path, _function_endpoint(state, name), methods=list(trigger.methods))
            )
        else:
            webhooks = True
    if webhooks:
        routes.append(Route("/v1/webhooks/{name}", _webhook_endpoint(state), methods=["POST"]))
    return routes


def routes(state: GatewayState) -> list[BaseRoute]:
    """``POST /v1/ingest/{topic}``, then the App's own HTTP and webhook functions."""
    return [
        Route("/v1/ingest/{topic}", ingest_endpoint(state), methods=["POST"]),
        *function_routes(state),
    ]
