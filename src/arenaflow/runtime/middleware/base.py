"""Runtime middleware: cross-cutting work around every invocation (dramatiq-style hooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arenaflow.context import Context
from arenaflow.events import Event

if TYPE_CHECKING:
    from arenaflow.runtime.function import Function


class Invocation:
    """One call of a function on a batch, as the middleware sees it.

    Attributes:
        function: The function being invoked.
        events: The batch.
        ctx: The context handed to the function.
        attempt: 1 for the first try of these events, 2 for the first retry, ...
        timeout_s: Time limit (set by the time-limit middleware).
        duration_s: Wall time of the call (set after it returns).
        error: The exception the call raised, or None.
        result: What the function returned.
        retry_delay_s: Set by the retry middleware after a failure: the back-off before the next
            try, or None when the retry budget is spent.
        canary: The canary version that ran it (:mod:`arenaflow.runtime.canary`), or None for
            the stable version.
    """

    __slots__ = (
        "attempt",
        "canary",
        "ctx",
        "duration_s",
        "error",
        "events",
        "function",
        "result",
        "retry_delay_s",
        "span",
        "timeout_s",
    )

    def __init__(self, function: Function, events: list[Event], ctx: Context, attempt: int) -> None:
        self.function = function
        self.events = events
        self.ctx = ctx
        self.attempt = attempt
        self.timeout_s = function.config.timeout_s
        self.duration_s = 0.0
        self.error: BaseException | None = None
        self.result: Any = None
        self.retry_delay_s: float | None = None
        self.span: Any = None
        self.canary: Any = None


class Middleware:
    """Base class: override the hooks you need. ``after_invoke`` runs in reverse order."""

    def before_invoke(self, inv: Invocation) -> None:
        """Called before the function runs."""

    def after_invoke(self, inv: Invocation) -> None:
        """Called after the function returned or raised (``inv.error``)."""
