"""Module-level functions for the process-executor tests: workers import them by name.

Workers are other processes, so tests steer them through event values (what to do, on which
attempt) and observe them through state, outputs and small files (a worker's pid).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from arenaflow import BatchItemFailures, Context, Event


def load_model() -> dict[str, Any]:
    return {"scale": 10, "pid": os.getpid()}


async def load_model_async() -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"scale": 100, "pid": os.getpid()}


def broken_init() -> None:
    raise ValueError("no model file")


def count_sync(events: list[Event], ctx: Context) -> int:
    """Counts events per key in state, sums scaled values, publishes one summary per batch."""
    for ev in events:
        ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1
        total = ctx.state.get("total", 0)
        ctx.state["total"] = total + ev.value["n"] * ctx.resources["scale"]
    ctx.publish("counted", {"n": len(events), "pid": os.getpid()}, key="summary")
    return len(events)


async def count_async(events: list[Event], ctx: Context) -> int:
    await asyncio.sleep(0)
    for ev in events:
        ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1
    if "obsolete" in ctx.state:
        del ctx.state["obsolete"]
    ctx.publish("counted", {"n": len(events), "scale": ctx.resources["scale"]})
    return len(events)


def apply_in_order(events: list[Event], ctx: Context) -> None:
    """Appends each event's ``n`` to its key's list, so order and duplicates show in state.

    An event may ask to be killed mid-batch (``kill_until``: while the attempt is at most that),
    after the events before it in the batch have been staged: a crash must drop those writes.
    """
    for ev in events:
        if ctx.attempt <= ev.value.get("kill_until", 0):
            os.kill(os.getpid(), signal.SIGKILL)
        ctx.state[ev.key] = [*ctx.state.get(ev.key, []), ev.value["n"]]


def wait_to_be_killed(events: list[Event], ctx: Context) -> None:
    """On the first attempt, writes the worker's pid to the file named by the first event, then
    sleeps (staged writes included) until the test kills it; applies the batch on later tries."""
    for ev in events:
        ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1
    if ctx.attempt == 1:
        Path(events[0].value["pid_file"]).write_text(str(os.getpid()))
        time.sleep(30)


def slow_when_asked(events: list[Event], ctx: Context) -> None:
    """Sleeps past any test time limit for events with ``sleep``; records the pid first."""
    for ev in events:
        if ev.value.get("sleep"):
            with Path(ev.value["pid_file"]).open("a") as f:
                f.write(f"{os.getpid()}\n")
            time.sleep(ev.value["sleep"])
        ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1
    ctx.publish("done", os.getpid())


def report_pid(events: list[Event], ctx: Context) -> None:
    ctx.publish("pids", os.getpid())
    for ev in events:
        ctx.state[ev.key] = ctx.state.get(ev.key, 0) + 1


def return_lock(events: list[Event], ctx: Context) -> Any:
    return threading.Lock()


def publish_lock(events: list[Event], ctx: Context) -> None:
    ctx.publish("out", threading.Lock())


def raise_value_error(events: list[Event], ctx: Context) -> None:
    raise ValueError(f"bad frame {events[0].value}")


class _NeedsTwoArgs(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def raise_unpicklable_error(events: list[Event], ctx: Context) -> None:
    raise _NeedsTwoArgs(1, 2)


def reject_odd(events: list[Event], ctx: Context) -> BatchItemFailures:
    """Applies even ``n``; reports odd ones as failed (the runtime retries, then dead-letters)."""
    odd = [ev for ev in events if ev.value["n"] % 2]
    for ev in events:
        if not ev.value["n"] % 2:
            ctx.state[ev.value["n"]] = True
    return BatchItemFailures(odd)


def list_state(events: list[Event], ctx: Context) -> list[Any]:
    return sorted((str(key), ctx.state[key]) for key in ctx.state)


def echo(events: list[Event], ctx: Context) -> Any:
    return [ev.value for ev in events]


def sleep_then_pid(events: list[Event], ctx: Context) -> int:
    time.sleep(events[0].value)
    return os.getpid()


def fan_out(events: list[Event], ctx: Context) -> None:
    """Publishes each event's value three times in one publish_many, then fails on 'boom'."""
    for ev in events:
        ctx.publish_many("fanned", [f"{ev.value}-{i}" for i in range(3)], key="k")
    if any(ev.value == "boom" for ev in events):
        raise RuntimeError("boom")
