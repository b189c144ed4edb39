"""Transports by name, imported lazily (see :func:`load_transport`)."""

from __future__ import annotations

from typing import Any, Literal

from arenaflow.backends import load_backend
from arenaflow.transport.base import Fence, Transport, partition_for

TransportName = Literal["memory", "redis"]

TRANSPORTS: dict[str, tuple[str, str]] = {
    "memory": ("arenaflow.transport.memory:MemoryTransport", ""),
    "redis": ("arenaflow.transport.redis:RedisTransport", "redis"),
}


def load_transport(name_or_url: str, **options: Any) -> Transport:
    """Create the transport named ``memory`` or given by a ``redis://`` URL; ``options``
    (``default_partitions``, ``retention``) go to its constructor."""
    transport: Transport = load_backend("transport", TRANSPORTS, name_or_url, **options)
    return transport


__all__ = [
    "TRANSPORTS",
    "Fence",
    "Transport",
    "TransportName",
    "load_transport",
    "partition_for",
]
