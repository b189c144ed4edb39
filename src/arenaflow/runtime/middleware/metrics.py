"""Metrics: invocations, events, errors, time-outs, duration percentiles."""

from __future__ import annotations

from arenaflow.errors import FunctionTimeout
from arenaflow.runtime.middleware.base import Invocation, Middleware


class Metrics(Middleware):
    def after_invoke(self, inv: Invocation) -> None:
        m = inv.function.metrics
        m.invocations += 1
        m.events += len(inv.events)
        m.durations_ms.add(inv.duration_s * 1000.0)
        if inv.error is not None:
            m.errors += 1
            if isinstance(inv.error, FunctionTimeout):
                m.timeouts += 1
