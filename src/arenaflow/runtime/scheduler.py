"""Scheduled triggers: invoke a function at a fixed rate with a one-event batch."""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec

from arenaflow.events import Event, new_trace_id
from arenaflow.runtime.function import Function
from arenaflow.runtime.invoker import Invoker
from arenaflow.triggers import Schedule

log = logging.getLogger(__name__)


class Tick(msgspec.Struct, frozen=True):
    """The value of a scheduled event: when the tick was due and its sequence number."""

    scheduled_at: float
    sequence: int


class ScheduleRunner:
    """Fires ``fn`` every ``trigger.every_s`` on a fixed grid; a tick that is still running when
    the next is due makes the late tick skip (counted as a throttle), so ticks never pile up."""

    def __init__(self, fn: Function, trigger: Schedule, invoker: Invoker) -> None:
        self.fn = fn
        self.every_s = trigger.every_s
        self._invoker = invoker
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        sequence = 0
        while True:
            sequence += 1
            due = start + sequence * self.every_s
            await asyncio.sleep(max(0.0, due - loop.time()))
            behind = int((loop.time() - due) // self.every_s)
            if behind > 0:  # missed ticks (the loop was busy): skip them, count them
                self.fn.metrics.throttles += behind
                sequence += behind
            event = Event(
                f"schedule:{self.fn.name}",
                0,
                sequence,
                None,
                Tick(time.time(), sequence),
                {"trace_id": new_trace_id()},
                time.time(),
            )
            self.ticks += 1
            inv = await self._invoker.invoke(self.fn, [event])
            if inv.error is None:
                await self._invoker.commit(inv, [])
            else:
                log.warning("%s: scheduled run %d failed: %s", self.fn.name, sequence, inv.error)
