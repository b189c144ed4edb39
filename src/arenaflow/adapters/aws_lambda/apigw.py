"""API Gateway proxy events: routing to the App's ``http(...)`` and ``webhook(...)`` functions.

Both shapes AWS documents are read: HTTP APIs' payload format 2.0
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html;
Lambda function URLs send it too) and REST APIs' format 1.0
(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).

A function gets the value the gateway gives it (:func:`arenaflow.gateway.ingest.function_routes`):
``method``, ``path``, ``path_params``, ``query``, ``headers`` (lower-case, without
``authorization``), ``body`` (bytes), ``principal`` and ``scopes``. Authentication is API
Gateway's (authorizers, IAM): ``principal`` is the authorizer's subject (JWT ``sub``, a Lambda or
REST authorizer's ``principalId``) or None, ``scopes`` the JWT's scopes. Paths match as
Starlette matches them (``/v1/games/{game_id}``, ``{n:int}``); webhooks are at
``POST /v1/webhooks/{name}``, signed as on the gateway.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from re import Pattern
from typing import Any
from urllib.parse import parse_qsl, unquote

import msgspec
from starlette.convertors import Convertor
from starlette.responses import Response
from starlette.routing import compile_path

from arenaflow.app import App
from arenaflow.errors import ConfigError
from arenaflow.triggers import Http, Webhook

WEBHOOK_PATH = "/v1/webhooks/{name}"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


@dataclass(frozen=True, slots=True)
class Request:
    """An API Gateway request, read."""

    version: str  # "2.0" or "1.0": the response takes the same format
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    principal: str | None
    scopes: list[str]


class BadRequest(Exception):
    """The request's body cannot be read (``isBase64Encoded`` with a body that is not base64)."""


def _headers(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k).lower(): str(v) for k, v in raw.items() if v is not None}


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequest(f"body: expected a string, got {type(body).__name__}")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"body: isBase64Encoded, but not valid base64 ({exc})") from None
    return body.encode()


def _authorizer(context: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    auth = context.get("authorizer")
    if not isinstance(auth, Mapping):
        return None, []
    jwt = auth.get("jwt")
    if isinstance(jwt, Mapping):
        claims, scopes = jwt.get("claims"), jwt.get("scopes")
        sub = claims.get("sub") if isinstance(claims, Mapping) else None
        granted = [str(s) for s in scopes] if isinstance(scopes, list) else []
        return (None if sub is None else str(sub)), granted
    for source in (auth, auth.get("lambda"), auth.get("claims")):
        if isinstance(source, Mapping):
            principal = source.get("principalId") or source.get("sub")
            if principal is not None:
                return str(principal), []
    return None, []


def read_request(event: Mapping[str, Any]) -> Request:
    """Read a payload format 2.0 or 1.0 event.

    Raises:
        ConfigError: a field the format requires is missing (names it).
        BadRequest: the body cannot be read.
    """
    context = event.get("requestContext")
    context = context if isinstance(context, Mapping) else {}
    if event.get("version") == "2.0":
        return _read_v2(event, context)
    return _read_v1(event, context)


def _read_v2(event: Mapping[str, Any], context: Mapping[str, Any]) -> Request:
    http = context.get("http")
    method = http.get("method") if isinstance(http, Mapping) else None
    raw_path = event.get("rawPath")
    if not isinstance(method, str):
        raise ConfigError("requestContext.http.method: missing")
    if not isinstance(raw_path, str):
        raise ConfigError("rawPath: missing")
    path = unquote(raw_path)  # routes match the decoded path, as in Starlette
    stage = context.get("stage")
    # A named stage is part of rawPath ("/prod/my/path"); routes are declared without it.
    if isinstance(stage, str) and stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]
    raw_query = event.get("rawQueryString")
    query = dict(parse_qsl(raw_query, keep_blank_values=True)) if raw_query else {}
    headers = _headers(event.get("headers"))
    cookies = event.get("cookies")
    if isinstance(cookies, list) and cookies:
        headers["cookie"] = "; ".join(str(c) for c in cookies)
    principal, scopes = _authorizer(context)
    return Request("2.0", method.upper(), path, query, headers, _body(event), principal, scopes)


def _read_v1(event: Mapping[str, Any], context: Mapping[str, Any]) -> Request:
    method, path = event.get("httpMethod"), event.get("path")
    if not isinstance(method, str):
        raise ConfigError("httpMethod: missing")
    if not isinstance(path, str):
        raise ConfigError("path: missing")
    query: dict[str, str] = {}
    multi = event.get("multiValueQueryStringParameters")
    single = event.get("queryStringParameters")
    if isinstance(multi, Mapping):
        query = {str(k): str(v[-1]) for k, v in multi.items() if isinstance(v, list) and v}
    elif isinstance(single, Mapping):
        query = {str(k): str(v) for k, v in single.items()}
    headers = _headers(event.get("headers"))
    principal, scopes = _authorizer(context)
    return Request("1.0", method.upper(), path, query, headers, _body(event), principal, scopes)


@dataclass(frozen=True, slots=True)
class _Route:
    regex: Pattern[str]
    convertors: dict[str, Convertor[Any]]
    methods: frozenset[str]
    function: str | None  # None: the webhook route, whose function the name in the path picks


class Router:
    """The App's HTTP routes, matched as the gateway's Starlette routes match."""

    def __init__(self, app: App) -> None:
        self.routes: list[_Route] = []
        self.webhooks: dict[str, Webhook] = {}
        self.webhook_functions: dict[str, str] = {}
        for trigger, name in app.routes():
            if isinstance(trigger, Http):
                regex, _, convertors = compile_path(trigger.path)
                methods = set(trigger.methods) | ({"HEAD"} if "GET" in trigger.methods else set())
                self.routes.append(_Route(regex, convertors, frozenset(methods), name))
            else:
                self.webhooks[trigger.name] = trigger
                self.webhook_functions[trigger.name] = name
        if self.webhooks:
            regex, _, convertors = compile_path(WEBHOOK_PATH)
            self.routes.append(_Route(regex, convertors, frozenset({"POST"}), None))

    def match(self, method: str, path: str) -> tuple[_Route, dict[str, Any]] | set[str] | None:
        """The route and path parameters; or the allowed methods when only the method is wrong
        (405); or None (404)."""
        allowed: set[str] = set()
        for route in self.routes:
            found = route.regex.match(path)
            if found is None:
                continue
            if method not in route.methods:
                allowed |= route.methods
                continue
            params = {k: route.convertors[k].convert(v) for k, v in found.groupdict().items()}
            return route, params
        return allowed or None


def _encode_body(body: bytes, content_type: str) -> tuple[str, bool]:
    if not body:
        return "", False
    if content_type.startswith(_TEXT_TYPES) or "+json" in content_type:
        try:
            return body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True


def lambda_response(
    request_version: str, status: int, headers: list[tuple[str, str]], body: bytes
) -> dict[str, Any]:
    """The proxy response API Gateway expects: ``statusCode``, ``headers``, ``body``,
    ``isBase64Encoded`` (cookies as format 2.0's ``cookies`` or 1.0's ``multiValueHeaders``)."""
    single: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name == "content-length":
            continue  # API Gateway sets it for the body it sends
        if name == "set-cookie":
            cookies.append(value)
        elif name in single:
            single[name] = f"{single[name]}, {value}"
        else:
            single[name] = value
    text, encoded = _encode_body(body, single.get("content-type", ""))
    response: dict[str, Any] = {
        "statusCode": status,
        "headers": single,
        "body": text,
        "isBase64Encoded": encoded,
    }
    if cookies and request_version == "2.0":
        response["cookies"] = cookies
    elif cookies:
        response["multiValueHeaders"] = {"set-cookie": cookies}
    return response


def error_response(
    request_version: str, status: int, message: str, **headers: str
) -> dict[str, Any]:
    """A JSON error reply, ``{"error": message}``, as the gateway sends."""
    body = msgspec.json.encode({"error": message})
    return lambda_response(
        request_version, status, [("content-type", "application/json"), *headers.items()], body
    )


def result_response(request_version: str, result: Any) -> dict[str, Any]:
    """A function's result as a response, as the gateway sends it: a Starlette ``Response`` as
    is, None as 204, bytes and str as they are, anything else as JSON."""
    if isinstance(result, Response):
        if not hasattr(result, "body"):
            return error_response(request_version, 500, "streaming responses are not supported")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in result.raw_headers]
        return lambda_response(request_version, result.status_code, headers, bytes(result.body))
    if result is None:
        return lambda_response(request_version, 204, [], b"")
    if isinstance(result, bytes):
        return lambda_response(
            request_version, 200, [("content-type", "application/octet-stream")], result
        )
    if isinstance(result, str):
        return lambda_response(
            request_version, 200, [("content-type", "text/plain; charset=utf-8")], result.encode()
        )
    return lambda_response(
        request_version, 200, [("content-type", "application/json")], msgspec.json.encode(result)
    )
