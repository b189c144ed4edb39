"""The pages: the broadcast overlay, the operator's dashboard, and the figures the dashboard polls.

* ``GET /overlay``: a transparent broadcast page (lower-third stat cards, a player comparison card,
  an alert banner) fed live by ``/v1/ws``. Query string: ``key`` (a broadcast key), ``game``,
  ``players`` (comma list; the first home and away players seen when absent), ``metrics``,
  ``theme=dark|light``, ``speed=kmh|ms``, ``alerts=game|players``, ``names=id:Name,...``,
  ``home=hex``, ``away=hex`` (team colours).
* ``GET /dashboard``: the operator's page; polls ``/v1/dashboard/stats`` every second.
* ``GET /v1/dashboard/stats``: per-function runtime figures, ingest counters and push figures as
  JSON (an ``admin`` key).
* ``GET /pages/{name}``: the pages' CSS and JavaScript.

The pages are package data (``arenaflow/gateway/static``) read with :mod:`importlib.resources`:
nothing is fetched from elsewhere at run time (no fonts, no CDNs). The HTML itself is public (it
holds no data); the page reads ``?key=`` and presents it to the WebSocket and JSON calls, which
check it.

Example:
    >>> from starlette.testclient import TestClient
    >>> from arenaflow import App
    >>> from arenaflow.gateway.app import create_gateway
    >>> from arenaflow.gateway.auth import KeyRing
    >>> ring = KeyRing()
    >>> key = ring.issue("ops", {"admin"})
    >>> with TestClient(create_gateway(App(), keys=ring)) as client:
    ...     page = client.get("/overlay")
    ...     stats = client.get("/v1/dashboard/stats", params={"key": key}).json()
    ...     denied = client.get("/v1/dashboard/stats").status_code
    >>> page.status_code, page.headers["content-type"], sorted(stats)[:3], denied
    (200, 'text/html; charset=utf-8', ['functions', 'ingest', 'push'], 401)
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from arenaflow.errors import ConfigError
from arenaflow.gateway.auth import presented_key

if TYPE_CHECKING:
    from arenaflow.gateway.app import GatewayState

logger = logging.getLogger(__name__)

#: Files the pages may load, with their media types (anything else is a 404).
ASSETS: Final[dict[str, str]] = {
    "overlay.html": "text/html; charset=utf-8",
    "overlay.css": "text/css; charset=utf-8",
    "overlay.js": "text/javascript; charset=utf-8",
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}
#: Scopes that may read the dashboard's figures (``admin`` may everything anyway).
DASHBOARD_SCOPES: Final[tuple[str, ...]] = ("admin",)
_NO_CACHE: Final[dict[str, str]] = {"cache-control": "no-cache"}


@functools.cache
def asset(name: str) -> bytes:
    """The bytes of page file ``name`` (one of :data:`ASSETS`), read once from the package.

    Raises:
        ConfigError: ``name`` is not a page file, or the package was installed without its
            ``static`` data (``[tool.setuptools.package-data]``).
    """
    if name not in ASSETS:
        raise ConfigError(f"no page file {name!r}; known: {sorted(ASSETS)}")
    try:
        return resources.files("arenaflow.gateway").joinpath("static", name).read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"page file {name!r} is missing from the installed package: is "
            "'gateway/static/*' in arenaflow's package-data?"
        ) from exc


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such figures become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data (dataclasses, objects with ``as_dict()``, mappings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return _finite(value)


def stats(state: GatewayState) -> dict[str, Any]:
    """What ``/v1/dashboard/stats`` returns.

    ``functions`` (one entry per function: a ``MetricsSnapshot`` as a dict, durations in ms),
    ``totals`` (invocations, errors, throttles, cold starts, lag, GB-seconds and cost summed),
    ``ingest`` (the gateway's counters), ``push`` (``hub.stats()`` when the hub has it, else None)
    and ``time`` (server wall clock, seconds), from which the page computes rates.
    """
    functions = [
        {k: _finite(v) for k, v in state.app.metrics(name).as_dict().items()}
        for name in sorted(state.app.functions)
    ]
    summed = ("invocations", "events", "errors", "throttles", "cold_starts", "lag", "concurrency")
    totals: dict[str, Any] = {k: sum(int(f[k] or 0) for f in functions) for k in summed}
    totals["gb_seconds"] = sum(float(f["gb_seconds"] or 0.0) for f in functions)
    totals["cost_usd"] = sum(float(f["cost_usd"] or 0.0) for f in functions)
    counters = state.counters
    ingest = {
        "accepted": counters.ingest_accepted,
        "rejected": counters.ingest_rejected,
        "requests": counters.ingest_requests,
        "by_status": {str(k): v for k, v in sorted(counters.by_status.items())},
    }
    push: Any = None
    hub_stats = getattr(state.hub, "stats", None)
    if callable(hub_stats):
        try:
            push = _plain(hub_stats())
        except Exception:  # the dashboard must keep showing the rest
            logger.exception("hub.stats() failed")
    return {
        "time": time.time(),
        "functions": functions,
        "totals": totals,
        "ingest": ingest,
        "push": push,
    }


def routes(state: GatewayState) -> list[Route]:
    """The pages' routes over ``state``."""

    def page(name: str) -> Response:
        return Response(asset(name), media_type=ASSETS[name], headers=_NO_CACHE)

    async def overlay(request: Request) -> Response:
        return page("overlay.html")

    async def dashboard(request: Request) -> Response:
        return page("dashboard.html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return Response("not found", status_code=404, media_type="text/plain")
        return page(name)

    async def dashboard_stats(request: Request) -> Response:
        principal = state.keys.check(presented_key(request.headers, request.query_params))
        if principal is None:
            return JSONResponse({"error": "a valid API key is required"}, status_code=401)
        if not principal.may(*DASHBOARD_SCOPES):
            return JSONResponse({"error": "the dashboard needs an admin key"}, status_code=403)
        return JSONResponse(stats(state), headers={"cache-control": "no-store"})

    return [
        Route("/overlay", overlay, methods=["GET"]),
        Route("/dashboard", dashboard, methods=["GET"]),
        Route("/pages/{name}", static, methods=["GET"]),
        Route("/v1/dashboard/stats", dashboard_stats, methods=["GET"]),
    ]
