"""Placeholder: replaced by the module's implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arenaflow.gateway.app import GatewayState


def routes(state: GatewayState) -> list[Any]:
    return []
