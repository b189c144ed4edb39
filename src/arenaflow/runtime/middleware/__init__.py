"""Runtime middleware and the default stack."""

from __future__ import annotations

from arenaflow.runtime.middleware.base import Invocation, Middleware
from arenaflow.runtime.middleware.cost import Cost
from arenaflow.runtime.middleware.metrics import Metrics
from arenaflow.runtime.middleware.retries import Retries
from arenaflow.runtime.middleware.time_limit import TimeLimit
from arenaflow.runtime.middleware.tracing import Tracing


def default_middleware() -> list[Middleware]:
    """Time limit, tracing, metrics, cost, retries: ``before`` in this order, ``after`` reversed.

    Tracing joins only when OpenTelemetry is installed: without it there is no span to make (the
    trace id itself always travels, set by the invoker), and no hook to call per invocation.
    """
    tracing = Tracing()
    spans: list[Middleware] = [tracing] if tracing.enabled else []
    return [TimeLimit(), *spans, Metrics(), Cost(), Retries()]


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
