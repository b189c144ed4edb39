"""Retries: after a failure, decide the back-off before the next try or give up."""

from __future__ import annotations

from arenaflow.runtime.middleware.base import Invocation, Middleware


class Retries(Middleware):
    """Exponential back-off (``retry_backoff_ms`` doubling, capped) up to ``max_retry_attempts``.

    The dispatcher reads ``inv.retry_delay_s``: a number means retry after that many seconds,
    None means dead-letter.
    """

    def after_invoke(self, inv: Invocation) -> None:
        if inv.error is None:
            inv.retry_delay_s = None
            return
        config = inv.function.config
        retries_done = inv.attempt - 1
        if retries_done < config.max_retry_attempts:
            inv.retry_delay_s = config.retry_delay_s(inv.attempt)
        else:
            inv.retry_delay_s = None
