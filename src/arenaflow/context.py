"""What a function receives besides its events: ``ctx``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from arenaflow.events import TRACE_HEADER
from arenaflow.state.base import StateView

_log = logging.getLogger("arenaflow.function")


class PublishMany:
    """The values of one :meth:`Context.publish_many` call, as one outbox entry (the list
    itself, not a copy)."""

    __slots__ = ("values",)

    def __init__(self, values: list[Any]) -> None:
        self.values = values

    def __reduce__(self) -> tuple[type[PublishMany], tuple[list[Any]]]:
        return PublishMany, (self.values,)  # crosses to worker processes and back


class Context:
    """The invocation context.

    Attributes:
        function_name: Name of the running function.
        invocation_id: Unique id of this invocation.
        trace_id: Trace id of the batch's first event, carried on into what it publishes.
        state: The function's keyed state (:class:`~arenaflow.state.base.StateView`); writes are
            committed only when the invocation succeeds.
        resources: What the function's ``init`` hook returned for this instance (or None).
        attempt: 1 for the first try of these events, 2 for the first retry, ...
        partition: Partition the batch came from (None for non-stream triggers).
        replaying: True while the batch is a replay that rebuilds in-memory state after a
            takeover (``replay_on_takeover``): outputs and state writes are discarded.
    """

    __slots__ = (
        "_invocation_id",
        "_log",
        "_on_commit",
        "attempt",
        "deadline",
        "function_name",
        "outbox",
        "partition",
        "replaying",
        "resources",
        "state",
        "trace_id",
    )

    def __init__(
        self,
        function_name: str,
        invocation_id: int | str,
        trace_id: str,
        state: StateView,
        resources: Any,
        deadline: float,
        attempt: int = 1,
        partition: int | None = None,
        replaying: bool = False,
    ) -> None:
        self.function_name = function_name
        self._invocation_id = invocation_id
        self.trace_id = trace_id
        self.state = state
        self.resources = resources
        self.deadline = deadline
        self.attempt = attempt
        self.partition = partition
        self.replaying = replaying
        self.outbox: list[tuple[str, Any, str | None, dict[str, str]]] = []
        self._log: logging.LoggerAdapter[logging.Logger] | None = None
        self._on_commit: list[Callable[[], None]] | None = None

    def publish(
        self, topic: str, value: Any, key: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Publish an event when this invocation succeeds (nothing is published by a failed try).

        The trace id travels on in the event's headers. Safe to call from sync functions running
        on instance threads.
        """
        merged = {TRACE_HEADER: self.trace_id}
        if headers:
            merged.update(headers)
        self.outbox.append((topic, value, key, merged))

    def publish_many(
        self,
        topic: str,
        values: list[Any],
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """:meth:`publish` of many values with one key, in order, at a fraction of the cost
        per event (one outbox entry; the events share one headers dict: treat it as read-only).
        """
        merged = {TRACE_HEADER: self.trace_id}
        if headers:
            merged.update(headers)
        self.outbox.append((topic, PublishMany(values), key, merged))

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this invocation's outputs (and state) have landed, or at the
        end of a replay (what is replayed was committed): the place to update what other
        functions read from memory, such as a live table. Updated during the invocation, they
        could show a figure its commit never made durable, which a process taking the
        partition over would then contradict. Inline executors only (it runs in this process).
        """
        if self._on_commit is None:
            self._on_commit = []
        self._on_commit.append(callback)

    def committed(self) -> None:
        """Run the :meth:`on_commit` callbacks (by the runtime, once)."""
        callbacks, self._on_commit = self._on_commit, None
        for callback in callbacks or ():
            callback()

    @property
    def invocation_id(self) -> str:
        """Unique id of this invocation (``<function>-<n>``)."""
        if isinstance(self._invocation_id, int):  # formatted only when asked: hot path
            self._invocation_id = f"{self.function_name}-{self._invocation_id}"
        return self._invocation_id

    def remaining_time_s(self) -> float:
        """Seconds left before the invocation's time limit."""
        return max(0.0, self.deadline - time.monotonic())

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger that tags records with the function, invocation and trace ids."""
        if self._log is None:
            self._log = logging.LoggerAdapter(
                _log,
                {
                    "function": self.function_name,
                    "invocation_id": self.invocation_id,
                    "trace_id": self.trace_id,
                },
            )
        return self._log
