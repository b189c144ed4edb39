"""A registered function: its handler, triggers, options, measurements and instance pool."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from arenaflow.events import Event
from arenaflow.runtime.config import FunctionConfig
from arenaflow.runtime.executors import make_instance
from arenaflow.runtime.metrics import FunctionMetrics
from arenaflow.runtime.pool import InstancePool
from arenaflow.triggers import Trigger

if TYPE_CHECKING:
    from arenaflow.runtime.canary import Canary


class BatchItemFailures:
    """Return this from a function to report that some events of the batch failed.

    The runtime retries the failed events, and every later event of the same key in the batch
    with them (stop on first failure per key: a function reporting a failure for a key should not
    apply later events of that key). Other events are acknowledged and their state committed.
    This is Lambda's ``ReportBatchItemFailures``, made per key.

    Example:
        >>> def handler(events, ctx):
        ...     bad = [e for e in events if e.value is None]
        ...     return BatchItemFailures(bad)
    """

    __slots__ = ("events",)

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = list(events)


class Function:
    """Everything the runtime knows about one function."""

    def __init__(
        self,
        name: str,
        handler: Callable[..., Any],
        triggers: tuple[Trigger, ...],
        config: FunctionConfig,
    ) -> None:
        self.name = name
        self.handler = handler
        self.triggers = triggers
        self.config = config
        self.is_async = inspect.iscoroutinefunction(handler)
        self.metrics = FunctionMetrics(name, config.memory_mb)
        self.dead_letter_topic = config.on_failure or f"{name}.dlq"
        self.pool = InstancePool(
            config, lambda: make_instance(config.executor, handler, config.init), self.metrics
        )
        #: The stable version's name; ``canary`` is a version receiving part of the traffic
        #: (:mod:`arenaflow.runtime.canary`).
        self.version = "1"
        self.canary: Canary | None = None
