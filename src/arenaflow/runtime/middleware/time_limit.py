"""Time limit: every invocation gets a deadline; executors enforce it, ``ctx`` reports it."""

from __future__ import annotations

import time

from arenaflow.runtime.middleware.base import Invocation, Middleware


class TimeLimit(Middleware):
    def before_invoke(self, inv: Invocation) -> None:
        inv.timeout_s = inv.function.config.timeout_s
        inv.ctx.deadline = time.monotonic() + inv.timeout_s
