"""Tracing: the trace id of a batch comes from its first event's headers and travels on.

When OpenTelemetry is installed (``arenaflow[otel]``) each invocation is also a span named after the
function, tagged with the trace id, batch size and attempt.
"""

from __future__ import annotations

from typing import Any

from arenaflow.runtime.middleware.base import Invocation, Middleware


def _otel_tracer() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("arenaflow")


class Tracing(Middleware):
    def __init__(self) -> None:
        self._tracer = _otel_tracer()

    @property
    def enabled(self) -> bool:
        """True when OpenTelemetry is installed, so spans are made."""
        return self._tracer is not None

    def before_invoke(self, inv: Invocation) -> None:
        if self._tracer is not None:
            span = self._tracer.start_span(inv.function.name)
            span.set_attribute("arenaflow.trace_id", inv.ctx.trace_id)
            span.set_attribute("arenaflow.batch_size", len(inv.events))
            span.set_attribute("arenaflow.attempt", inv.attempt)
            inv.span = span

    def after_invoke(self, inv: Invocation) -> None:
        if inv.span is not None:
            if inv.error is not None:
                inv.span.record_exception(inv.error)
            inv.span.end()
