"""What the dead-letter topic carries: the event and why it could not be processed."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from arenaflow.events import TRACE_HEADER, Event


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """One event that failed for good.

    Attributes:
        function: The function that gave up on it.
        topic, partition, offset, key: Where the event came from.
        value: The event's payload as it was received.
        reason: ``error`` (failed after retries), ``timeout``, ``crashed``, ``decode``,
            ``expired`` (older than ``max_record_age_s``) or ``reported`` (the function reported
            it as failed).
        error: The error's type and message.
        attempts: How many times it was tried.
        trace_id: The trace id it carried.
        failed_at: When it was given up on (seconds since the epoch).
    """

    function: str
    topic: str
    partition: int
    offset: int
    key: str | None
    value: Any
    reason: str
    error: str
    attempts: int
    trace_id: str | None
    failed_at: float


def invalid_input(function: str, event: Event, value: Any, reason: str) -> DeadLetter:
    """A dead letter for (part of) an event a function found physically impossible or invalid:
    ``value`` is what was rejected (the event's payload or one object of it)."""
    return DeadLetter(
        function=function,
        topic=event.topic,
        partition=event.partition,
        offset=event.offset,
        key=event.key,
        value=value,
        reason="invalid",
        error=reason,
        attempts=1,
        trace_id=event.headers.get(TRACE_HEADER),
        failed_at=time.time(),
    )
