"""Transports by name, imported lazily (see :func:`load_transport`)."""

from __future__ import annotations

from typing import Literal

from arenaflow.backends import load_backend
from arenaflow.transport.base import Transport, partition_for

TransportName = Literal["memory", "redis"]

TRANSPORTS: dict[str, tuple[str, str]] = {
    "memory": ("arenaflow.transport.memory:MemoryTransport", ""),
    "redis": ("arenaflow.transport.redis:RedisTransport", "redis"),
}


def load_transport(name_or_url: str) -> Transport:
    """Create the transport named ``memory`` or given by a ``redis://`` URL."""
    transport: Transport = load_backend("transport", TRANSPORTS, name_or_url)
    return transport


__all__ = ["TRANSPORTS", "Transport", "TransportName", "load_transport", "partition_for"]
