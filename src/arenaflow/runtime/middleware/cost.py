"""Cost: GB-seconds = duration x memory size, the unit Lambda bills in."""

from __future__ import annotations

from arenaflow.runtime.middleware.base import Invocation, Middleware


class Cost(Middleware):
    def after_invoke(self, inv: Invocation) -> None:
        fn = inv.function
        fn.metrics.gb_seconds += inv.duration_s * fn.config.memory_mb / 1024.0
