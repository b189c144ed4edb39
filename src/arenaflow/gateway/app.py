"""The gateway's ASGI application: composition and life cycle.

``create_gateway(app, ...)`` returns a Starlette application whose lifespan starts and stops the
runtime App in the server's event loop, so functions, ingest and push share one loop. Each part
contributes its routes from its own module:

* :mod:`.ingest`: ``POST /v1/ingest/{topic}`` (the HTTP trigger);
* :mod:`.rest`: queries (``/v1/games/...``), OpenAPI docs;
* :mod:`.hub`: ``/v1/ws``, the WebSocket push tier, fed by a runtime function it attaches or,
  in a fleet (``fanout_url``), by the workers' relay through Redis pub/sub (:mod:`.fanout`);
* :mod:`.pages`: ``/overlay`` and ``/dashboard``;
* :mod:`.prometheus`: ``/metrics``;
* ``/healthz``: 200 once the App runs (for load balancers and orchestrators).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from arenaflow.app import App
from arenaflow.gateway import hub as hub_module
from arenaflow.gateway import ingest, pages, prometheus, rest
from arenaflow.gateway.auth import KeyRing
from arenaflow.pipeline.live import LiveTable
from arenaflow.settings import Settings
from arenaflow.store.base import Store


@dataclass(slots=True)
class Counters:
    """Gateway figures for the dashboard and /metrics."""

    ingest_accepted: int = 0
    ingest_rejected: int = 0
    ingest_requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class GatewayState:
    """What the routes share."""

    app: App
    keys: KeyRing
    hub: hub_module.Hub
    live: LiveTable | None = None
    store: Store | None = None
    settings: Settings = field(default_factory=Settings)
    counters: Counters = field(default_factory=Counters)


def create_gateway(
    app: App,
    *,
    live: LiveTable | None = None,
    store: Store | None = None,
    keys: KeyRing | None = None,
    hub: hub_module.Hub | None = None,
    settings: Settings | None = None,
    fanout_url: str | None = None,
) -> Starlette:
    """The gateway over ``app`` (whose functions must all be declared already: the push tier
    attaches its own function to it here, unless ``fanout_url`` names the fleet's Redis, whose
    pub/sub channel then feeds it)."""
    settings = settings or Settings.from_env()
    state = GatewayState(
        app=app,
        keys=keys if keys is not None else KeyRing.parse(settings.api_keys),
        hub=hub or hub_module.Hub(),
        live=live,
        store=store,
        settings=settings,
    )
    fanout = None
    if fanout_url is None:
        state.hub.attach(app)
    else:
        from arenaflow.gateway.fanout import RedisFanout

        fanout = RedisFanout(fanout_url, state.hub)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await app.start()
        if fanout is not None:
            await fanout.start()
        try:
            yield
        finally:
            if fanout is not None:
                await fanout.aclose()
            await state.hub.close()
            await app.stop()

    async def healthz(_: Request) -> Response:
        """Liveness and readiness.
        ---
        summary: 200 "ok" while the runtime runs
        responses:
          200: {description: running}
          503: {description: starting or stopping}
        """
        if app.running:
            return PlainTextResponse("ok")
        return PlainTextResponse("not running", status_code=503)

    routes = [
        *ingest.routes(state),
        *rest.routes(state),
        *state.hub.routes(state),
        *pages.routes(state),
        *prometheus.routes(state),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    gateway = Starlette(routes=routes, lifespan=lifespan)
    gateway.state.gateway = state
    return gateway
