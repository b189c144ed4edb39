"""Placeholder: replaced by the push tier's implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arenaflow.app import App

if TYPE_CHECKING:
    from arenaflow.gateway.app import GatewayState


class Hub:
    def attach(self, app: App) -> None:
        """Register the runtime function that feeds the hub on ``app``."""

    def routes(self, state: GatewayState) -> list[Any]:
        return []

    async def close(self) -> None:
        """Close every connection."""
