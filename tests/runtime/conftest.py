"""Helpers shared by the runtime tests: a quiet app factory, polling, reading topics back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from arenaflow import App, DeadLetter, Event, Settings
from arenaflow.transport.memory import MemoryTransport


def make_app(*, partitions: int = 1, retention: int = 100_000, **kwargs: Any) -> App:
    """An App on the memory backends that ignores ``ARENAFLOW_*`` variables of the machine."""
    return App(settings=Settings(partitions=partitions, retention=retention), **kwargs)


def memory(app: App) -> MemoryTransport:
    transport = app.transport
    assert isinstance(transport, MemoryTransport)
    return transport


def topic_events(transport: MemoryTransport, topic: str) -> list[Event]:
    """Every retained event of ``topic``, partition after partition."""
    return [ev for p in range(transport.partitions(topic)) for ev in transport.read(topic, p)]


def dead_letters(app: App, function: str) -> list[DeadLetter]:
    topic = app.functions[function].dead_letter_topic
    letters = [ev.value for ev in topic_events(memory(app), topic)]
    assert all(isinstance(letter, DeadLetter) for letter in letters)
    return letters


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` on the running loop until it holds (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {timeout} s")
        await asyncio.sleep(0.002)
