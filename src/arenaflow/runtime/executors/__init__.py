"""Executors: where a function's instances run (``inline`` or ``process``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from arenaflow.runtime.executors.base import Instance
from arenaflow.runtime.executors.inline import AsyncInstance, ThreadInstance


def make_instance(
    executor: str, handler: Callable[..., Any], init: Callable[[], Any] | None
) -> Instance:
    """A new, not yet started instance of ``handler`` for ``executor``."""
    if executor == "process":
        from arenaflow.runtime.executors.process import ProcessInstance

        return ProcessInstance(handler, init)
    if inspect.iscoroutinefunction(handler):
        return AsyncInstance(handler, init)
    return ThreadInstance(handler, init)


__all__ = ["AsyncInstance", "Instance", "ThreadInstance", "make_instance"]
