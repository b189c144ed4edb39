"""Process executor: each instance is a worker process, for CPU-heavy or isolated functions.

Worker processes come from a fork server that has already imported arenaflow and the function's
module, so a cold start is a fork plus ``init``, not a fresh interpreter. The parent talks to each
worker over a pipe from a thread of the instance's own, so the event loop never blocks:

* the batch goes out, with the context's ids and remaining time;
* the worker answers ``ctx.state`` reads by asking the parent, and sends back the result, what
  the function published and its staged state writes (committed by the parent on success);
* a worker that dies mid-batch (``kill -9``) raises InstanceCrashed: the pool replaces it and the
  batch is retried; one that runs past its time limit is killed and replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import multiprocessing
import multiprocessing.connection
import pickle
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.context import ForkServerContext
from typing import Any

from arenaflow.context import Context
from arenaflow.errors import ConfigError, FunctionError, FunctionTimeout, InstanceCrashed
from arenaflow.events import Event
from arenaflow.runtime.executors.base import Instance
from arenaflow.state.base import DELETED, State, StateView, WatermarkKey

_START_TIMEOUT_S = 60.0
_context: ForkServerContext | None = None


def check_picklable(obj: Callable[..., Any] | None, what: str) -> None:
    """Process functions travel to workers by reference: they must be module-level."""
    if obj is None:
        return
    qualname = getattr(obj, "__qualname__", "")
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise ConfigError(
            f"executor='process' needs a module-level {what}, not {qualname!r}: workers import it"
        )


def _fork_server(preload: list[str]) -> ForkServerContext:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        assert isinstance(ctx, ForkServerContext)
        # Importing these once in the server makes every worker's cold start a bare fork.
        ctx.set_forkserver_preload(["arenaflow.runtime.executors.process", *preload])
        _context = ctx
    return _context


# -- the worker side -------------------------------------------------------------------------------
class _ParentState(State):
    """State reads of a worker, answered by the parent over the pipe."""

    name = "parent"

    def __init__(self, conn: multiprocessing.connection.Connection) -> None:
        self._conn = conn

    def get(self, namespace: str, key: Hashable, default: Any = None) -> Any:
        self._conn.send(("get", key, default))
        return self._conn.recv()

    def watermark(self, namespace: str, wkey: WatermarkKey) -> int:
        raise NotImplementedError

    async def commit(
        self, namespace: str, writes: Mapping[Hashable, Any], watermarks: Mapping[WatermarkKey, int]
    ) -> None:
        raise NotImplementedError  # the parent commits

    def items(self, namespace: str) -> Iterator[tuple[Hashable, Any]]:
        raise NotImplementedError("iterating state is not available in process workers")


def _portable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
    except Exception:
        return FunctionError(f"{type(exc).__name__}: {exc}")
    return exc


def _serve(
    conn: multiprocessing.connection.Connection,
    handler: Callable[..., Any],
    init: Callable[[], Any] | None,
) -> None:
    """Main loop of a worker process."""
    try:
        resources = init() if init is not None else None
    except BaseException as exc:
        conn.send(("failed", _portable(exc)))
        return
    conn.send(("ready", None))
    run_async = inspect.iscoroutinefunction(handler)
    state = _ParentState(conn)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        events, name, invocation_id, trace_id, remaining_s, attempt, partition = message
        view = StateView(state, name)
        ctx = Context(
            name,
            invocation_id,
            trace_id,
            view,
            resources,
            time.monotonic() + remaining_s,
            attempt,
            partition,
        )
        try:
            result = handler(events, ctx)
            if run_async:
                result = asyncio.run(result)
            writes = {k: v for k, v in view.staged.items() if v is not DELETED}
            deletes = [k for k, v in view.staged.items() if v is DELETED]
            reply: tuple[Any, ...] = ("ok", result, ctx.outbox, writes, deletes)
        except BaseException as exc:
            reply = ("error", _portable(exc))
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result
            conn.send(("error", FunctionError(f"cannot send the result back: {exc!r}")))


# -- the parent side -------------------------------------------------------------------------------
class ProcessInstance(Instance):
    """A worker process and the thread that talks to it."""

    replace_after_timeout = True

    def __init__(self, handler: Callable[..., Any], init: Callable[[], Any] | None) -> None:
        super().__init__(handler, init)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arenaflow-process")
        self._conn: multiprocessing.connection.Connection | None = None
        self._process: Any = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else int(self._process.pid)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._spawn)

    def _spawn(self) -> None:
        ctx = _fork_server([self.handler.__module__])
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_serve,
            args=(child, self.handler, self.init),
            daemon=True,
            name="arenaflow-worker",
        )
        process.start()
        child.close()
        self._conn, self._process = parent, process
        if not parent.poll(_START_TIMEOUT_S):
            self._kill()
            raise InstanceCrashed(f"worker for {self.handler.__qualname__} did not start")
        try:
            kind, error = parent.recv()
        except (EOFError, OSError) as exc:
            raise InstanceCrashed(
                f"worker for {self.handler.__qualname__} died while starting "
                f"(exit code {process.exitcode})"
            ) from exc
        if kind == "failed":
            self._kill()
            raise FunctionError(f"init of {self.handler.__qualname__} failed: {error}") from error

    async def invoke(self, events: list[Event], ctx: Context, timeout_s: float) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._exchange, events, ctx, timeout_s)

    def _exchange(self, events: list[Event], ctx: Context, timeout_s: float) -> Any:
        conn = self._conn
        assert conn is not None
        deadline = time.monotonic() + timeout_s
        try:
            conn.send(
                (
                    events,
                    ctx.function_name,
                    ctx.invocation_id,
                    ctx.trace_id,
                    timeout_s,
                    ctx.attempt,
                    ctx.partition,
                )
            )
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not conn.poll(remaining):
                    self._kill()
                    raise FunctionTimeout(
                        f"{ctx.function_name} ran past its {timeout_s:g} s time limit"
                    )
                message = conn.recv()
                kind = message[0]
                if kind == "get":
                    conn.send(ctx.state.get(message[1], message[2]))
                elif kind == "ok":
                    _, result, outbox, writes, deletes = message
                    ctx.outbox.extend(outbox)
                    for key, value in writes.items():
                        ctx.state[key] = value
                    for key in deletes:
                        del ctx.state[key]
                    return result
                else:
                    raise message[1]
        except (EOFError, OSError, BrokenPipeError) as exc:
            code = self._process.exitcode if self._process is not None else None
            raise InstanceCrashed(
                f"worker of {ctx.function_name} died mid-invocation (exit code {code})"
            ) from exc

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(1.0)

    async def stop(self) -> None:
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
        self._kill_soon()
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _kill_soon(self) -> None:
        process = self._process
        if process is None:
            return
        process.join(0.05)
        if process.is_alive():
            process.kill()
