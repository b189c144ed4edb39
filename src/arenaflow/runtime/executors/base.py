"""The executor seam: an *instance* is one warm copy of a function, created on a cold start."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from arenaflow.context import Context
from arenaflow.events import Event


class Instance(ABC):
    """One instance of a function: its own init result, used by one invocation at a time."""

    #: True when a timed-out invocation leaves the instance unusable (a thread or process that
    #: is still running the old call), so the pool replaces it.
    replace_after_timeout: bool = False

    def __init__(self, handler: Callable[..., Any], init: Callable[[], Any] | None) -> None:
        self.handler = handler
        self.init = init
        self.resources: Any = None
        self.last_used = time.monotonic()

    @abstractmethod
    async def start(self) -> None:
        """Create the instance and run the init hook (the cold start)."""

    @abstractmethod
    async def invoke(self, events: list[Event], ctx: Context, timeout_s: float) -> Any:
        """Run the handler on ``events``; raise FunctionTimeout or InstanceCrashed, or the
        handler's own exception."""

    async def stop(self) -> None:  # noqa: B027 - optional lifecycle hook
        """Release the instance (thread, process)."""
