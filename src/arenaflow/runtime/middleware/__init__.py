"""Runtime middleware and the default stack."""

from __future__ import annotations

from arenaflow.runtime.middleware.base import Invocation, Middleware
from arenaflow.runtime.middleware.cost import Cost
from arenaflow.runtime.middleware.metrics import Metrics
from arenaflow.runtime.middleware.retries import Retries
from arenaflow.runtime.middleware.time_limit import TimeLimit
from arenaflow.runtime.middleware.tracing import Tracing


def default_middleware() -> list[Middleware]:
    """Time limit, tracing, metrics, cost, retries: ``before`` in this order, ``after`` reversed."""
    return [TimeLimit(), Tracing(), Metrics(), Cost(), Retries()]


__all__ = [
    "Cost",
    "Invocation",
    "Metrics",
    "Middleware",
    "Retries",
    "TimeLimit",
    "Tracing",
    "default_middleware",
]
