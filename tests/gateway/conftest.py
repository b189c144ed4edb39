"""Shared fixtures of the gateway tests: a key per scope, and the pipeline behind a gateway."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from arenaflow import App, Settings
from arenaflow.gateway.app import GatewayState, create_gateway
from arenaflow.gateway.auth import KeyRing
from arenaflow.pipeline import LiveTable, build_pipeline
from arenaflow.store.base import Store
from arenaflow.transport.memory import MemoryTransport

SCOPES = ("ingest", "broadcast", "fan", "staff", "admin")


@pytest.fixture
def ring() -> tuple[KeyRing, dict[str, str]]:
    """A key ring and one key per scope, by scope name."""
    keys = KeyRing()
    return keys, {scope: keys.issue(f"{scope}-key", {scope}) for scope in SCOPES}


@dataclass
class Served:
    """A running gateway: its client, App, live table and keys."""

    client: httpx.AsyncClient
    gateway: Starlette
    app: App
    live: LiveTable
    keys: dict[str, str]

    @property
    def state(self) -> GatewayState:
        state: GatewayState = self.gateway.state.gateway
        return state

    def auth(self, scope: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[scope]}"}

    def read(self, topic: str) -> list[Any]:
        """Every value on ``topic`` (the memory transport)."""
        transport = self.app.transport
        assert isinstance(transport, MemoryTransport)
        if topic not in transport.topics():
            return []
        return [
            ev.value for p in range(transport.partitions(topic)) for ev in transport.read(topic, p)
        ]


@pytest.fixture
def serve(
    ring: tuple[KeyRing, dict[str, str]],
) -> Callable[..., contextlib.AbstractAsyncContextManager[Served]]:
    """``async with serve(store=None, setup=None, settings=None) as s``: the pipeline behind a
    gateway, its lifespan running, ``s.client`` talking to it in process; ``setup(app)`` may add
    functions."""
    keys, by_scope = ring

    @contextlib.asynccontextmanager
    async def run(
        store: Store | None = None,
        setup: Callable[[App], None] | None = None,
        settings: Settings | None = None,
    ) -> AsyncIterator[Served]:
        app, live = build_pipeline(App(settings=settings or Settings(partitions=2)), store=store)
        if setup is not None:
            setup(app)
        gateway = create_gateway(app, live=live, store=store, keys=keys)
        async with (
            gateway.router.lifespan_context(gateway),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gateway), base_url="http://gateway"
            ) as client,
        ):
            yield Served(client, gateway, app, live, by_scope)

    return run


from tests.redis_service import redis_url  # noqa: E402 (the real Redis, per-test key prefix)

__all__ = ["redis_url"]
