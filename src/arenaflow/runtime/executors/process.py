"""Process executor: each instance is a worker process, for CPU-heavy or isolated functions.

Workers are forked from a fork server that has already imported arenaflow, the parent's main
module and the modules of the process functions (see ``_preload``), so a cold start is a fork
plus ``init``, not a fresh interpreter. The parent talks to each worker over a pipe, from a
thread of the instance's own so the event loop never blocks:

* the batch goes out with the context's ids, attempt and remaining time;
* the worker asks the parent for every ``ctx.state`` read, and sends back the result, what the
  function published and its staged state writes, which the parent stages into the invocation's
  own context: they are committed only when the invocation succeeds, like inline ones;
* a worker that dies mid-batch (``kill -9``, out of memory) raises InstanceCrashed, and one that
  runs past its time limit is killed and raises FunctionTimeout: either way the pool replaces the
  instance and the dispatcher retries the batch, which nothing from the failed try has touched;
* a call the runtime abandons (it is stopping) kills its worker at once, and ``stop()`` returns
  only once the worker is gone: no worker outlives its app (nor its parent process, whose end of
  the pipe closing ends an idle worker).

Handlers and ``init`` hooks travel to workers by reference (module and name), so they must be
importable module-level functions; :func:`check_picklable` says so at decoration time. Events,
state values, results and what functions publish travel by pickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from multiprocessing import spawn
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, ForkServerProcess
from typing import Any

from arenaflow.context import Context
from arenaflow.errors import ConfigError, FunctionError, FunctionTimeout, InstanceCrashed
from arenaflow.events import Event
from arenaflow.runtime.executors.base import Instance
from arenaflow.runtime.function import BatchItemFailures
from arenaflow.state.base import DELETED, State, StateView, WatermarkKey

#: Longest a worker may take from fork to the end of ``init``.
_START_TIMEOUT_S = 60.0
#: How long a stopping worker gets to exit by itself before it is killed.
_STOP_GRACE_S = 0.5
_PICKLE = pickle.HIGHEST_PROTOCOL
#: ``_preload.ENV``, named again here: importing ``_preload`` is the fork server's business.
_PRELOAD_ENV = "ARENAFLOW_FORKSERVER"
_ABSENT: Any = object()

_server_lock = threading.Lock()
_server_started = False
#: Modules of the process functions declared so far (an ordered set), for the fork server.
_modules: dict[str, None] = {}


def check_picklable(obj: Callable[..., Any] | None, what: str) -> None:
    """Check that a process function's handler or ``init`` can reach its workers.

    Workers import it by module and name, so it must be a module-level function (or a partial
    of one): not a closure, not a lambda, not one typed into an interactive session. Its module
    is remembered, for the fork server to import once for every worker.

    Raises:
        ConfigError: naming the function and the problem.
    """
    while isinstance(obj, partial):
        obj = obj.func
    if obj is None:
        return
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    module = getattr(obj, "__module__", None) or type(obj).__module__
    problem = None
    if "<lambda>" in qualname:
        problem = "is a lambda"
    elif "<locals>" in qualname:
        problem = "is defined inside a function (a closure)"
    elif module == "__main__" and not hasattr(sys.modules["__main__"], "__file__"):
        problem = "is defined in an interactive session"
    if problem is not None:
        raise ConfigError(
            f"executor='process' runs the {what} in worker processes, which import it by name, "
            f"but {qualname!r} {problem}: define it at module level in a module they can import"
        )
    if module != "__main__":
        _modules.setdefault(module, None)


def _fork_server(module: str) -> ForkServerContext:
    """The forkserver context; starts the server (once) with everything workers share imported."""
    global _server_started
    ctx = multiprocessing.get_context("forkserver")
    if not _server_started:
        with _server_lock:
            if not _server_started:
                if module != "__main__":
                    _modules.setdefault(module, None)
                _start_fork_server(ctx)
                _server_started = True
    return ctx


def _start_fork_server(ctx: ForkServerContext) -> None:
    data = spawn.get_preparation_data("arenaflow-fork-server")
    keys = ("sys_path", "dir", "init_main_from_name", "init_main_from_path")
    prepare = {key: data[key] for key in keys if key in data}
    ctx.set_forkserver_preload(["arenaflow.runtime.executors._preload"])
    # The server inherits the environment at its start and reads the spec from there: the
    # stdlib gives no other way in. Set only for that moment (and by one thread: the lock).
    os.environ[_PRELOAD_ENV] = json.dumps({"prepare": prepare, "modules": list(_modules)})
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        os.environ.pop(_PRELOAD_ENV, None)


def _dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, _PICKLE)


def _portable(exc: BaseException, note: str | None = None) -> BaseException:
    """``exc`` if it survives a pickle round trip (to cross the pipe), else a FunctionError that
    carries its type and text. ``note`` (a worker's traceback) goes along as a note."""
    try:
        if note is not None:
            exc.add_note(note)
        pickle.loads(_dumps(exc))
    except Exception:
        plain = FunctionError(f"{type(exc).__qualname__}: {exc}")
        if note is not None:
            plain.add_note(note)
        return plain
    return exc


# -- the worker side -------------------------------------------------------------------------------
class _ParentState(State):
    """State reads of a worker, answered by the parent over the pipe."""

    name = "parent"

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        # A function may read state from threads of its own: one question at a time on the pipe.
        self._lock = threading.Lock()

    def _ask(self, request: tuple[Any, ...]) -> Any:
        with self._lock:
            self._conn.send_bytes(_dumps(request))
            reply = pickle.loads(self._conn.recv_bytes())
        if reply[0] == "error":
            raise reply[1]
        return reply

    def get(self, namespace: str, key: Hashable, default: Any = None) -> Any:
        reply = self._ask(("get", key))
        return default if reply[0] == "absent" else reply[1]

    def items(self, namespace: str) -> Iterator[tuple[Hashable, Any]]:
        return iter(self._ask(("items",))[1])

    def watermark(self, namespace: str, wkey: WatermarkKey) -> int:
        raise NotImplementedError("watermarks are the parent's business")

    async def commit(
        self,
        namespace: str,
        writes: Mapping[Hashable, Any],
        watermarks: Mapping[WatermarkKey, int],
        fence: Any = None,
    ) -> None:
        raise NotImplementedError("the parent commits")


def _unsendable(
    exc: Exception, result: Any, outbox: list[Any], writes: dict[Hashable, Any]
) -> FunctionError:
    """Name the part of a reply that does not pickle."""
    parts: list[tuple[str, Any]] = [("its result", result)]
    parts += [(f"the value it published to {topic!r}", value) for topic, value, *_ in outbox]
    parts += [(f"the state it wrote for key {key!r}", value) for key, value in writes.items()]
    what = "its reply"
    for part, value in parts:
        try:
            _dumps(value)
        except Exception as part_exc:
            what, exc = part, part_exc
            break
    return FunctionError(
        f"the worker process cannot send back {what}: it must be picklable "
        f"({type(exc).__name__}: {exc})"
    )


class _Worker:
    """The worker process's side: ``init``, then one batch per message until told to stop."""

    def __init__(
        self, conn: Connection, handler: Callable[..., Any], init: Callable[[], Any] | None
    ) -> None:
        self.conn = conn
        self.handler = handler
        self.init = init
        self.state = _ParentState(conn)
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        try:
            resources = None if self.init is None else self.call(self.init)
        except BaseException as exc:
            self.conn.send_bytes(_dumps(("failed", self.portable(exc))))
            return
        self.conn.send_bytes(_dumps(("ready",)))
        while True:
            message = pickle.loads(self.conn.recv_bytes())
            if message is None:
                return
            self.conn.send_bytes(self.run_batch(message, resources))

    def run_batch(self, message: tuple[Any, ...], resources: Any) -> bytes:
        """Run the handler on one batch; the reply to send back, pickled."""
        events, name, invocation_id, trace_id, remaining_s, attempt, partition = message
        view = StateView(self.state, name)
        deadline = time.monotonic() + remaining_s
        ctx = Context(name, invocation_id, trace_id, view, resources, deadline, attempt, partition)
        try:
            result = self.call(self.handler, events, ctx)
        except BaseException as exc:
            return _dumps(("error", self.portable(exc)))
        failed = None
        if isinstance(result, BatchItemFailures):
            # The parent's dispatcher knows events by identity, which pickling does not keep:
            # report positions in the batch instead.
            position = {id(ev): i for i, ev in enumerate(events)}
            failed = [position[id(ev)] for ev in result.events if id(ev) in position]
            result = None
        writes = {k: v for k, v in view.staged.items() if v is not DELETED}
        deletes = [k for k, v in view.staged.items() if v is DELETED]
        try:
            return _dumps(("ok", result, ctx.outbox, writes, deletes, failed))
        except Exception as exc:
            return _dumps(("error", _unsendable(exc, result, ctx.outbox, writes)))

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        result = fn(*args)
        if inspect.iscoroutine(result):
            if self.loop is None:  # one loop for the worker's life, as an inline instance has
                self.loop = asyncio.new_event_loop()
            result = self.loop.run_until_complete(result)
        return result

    @staticmethod
    def portable(exc: BaseException) -> BaseException:
        """``exc``, ready to cross the pipe, with the worker's traceback as a note."""
        frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
        note = f"in worker process {os.getpid()}, traceback (most recent call last):\n{frames}"
        return _portable(exc, note)


def _serve(conn: Connection, handler: Callable[..., Any], init: Callable[[], Any] | None) -> None:
    """Entry point of a worker process."""
    # Ctrl-C reaches the whole process group; the parent decides when its workers stop, and a
    # worker interrupted mid-batch would only report a bogus error.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(EOFError, OSError):  # the parent is gone (the pipe closed): so are we
        _Worker(conn, handler, init).run()


# -- the parent side -------------------------------------------------------------------------------
class ProcessInstance(Instance):
    """A worker process and the thread that talks to it."""

    replace_after_timeout = True

    def __init__(self, handler: Callable[..., Any], init: Callable[[], Any] | None) -> None:
        super().__init__(handler, init)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arenaflow-process")
        self._conn: Connection | None = None
        self._process: ForkServerProcess | None = None
        self._pid: int | None = None
        self._busy = False  # an exchange runs on the instance thread
        self._stopped = False

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before start)."""
        return self._pid

    @property
    def _name(self) -> str:
        return str(getattr(self.handler, "__qualname__", self.handler))

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._spawn)

    def _spawn(self) -> None:
        ctx = _fork_server(str(getattr(self.handler, "__module__", "__main__")))
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_serve,
            args=(child, self.handler, self.init),
            daemon=True,
            name=f"arenaflow-worker[{self._name}]",
        )
        try:
            process.start()
        except Exception as exc:  # the handler or init does not pickle after all
            parent.close()
            raise FunctionError(f"cannot start a worker process for {self._name}: {exc}") from exc
        finally:
            child.close()
        self._conn, self._process, self._pid = parent, process, process.pid
        try:
            if not parent.poll(_START_TIMEOUT_S):
                self._kill()
                raise InstanceCrashed(
                    f"the worker process of {self._name} did not finish starting "
                    f"within {_START_TIMEOUT_S:g} s"
                )
            reply = pickle.loads(parent.recv_bytes())
        except (EOFError, OSError) as exc:
            raise InstanceCrashed(
                f"the worker process of {self._name} died while starting ({self._exit_status()}; "
                f"its stderr tells why)"
            ) from exc
        if reply[0] == "failed":
            self._kill()
            error = reply[1]
            raise FunctionError(f"init of {self._name} failed: {error!r}") from error

    async def invoke(self, events: list[Event], ctx: Context, timeout_s: float) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, self._exchange, events, ctx, timeout_s)
        except asyncio.CancelledError:
            # The caller gave up on this call (the runtime is stopping): its result can never be
            # used, and the worker would hold the instance thread until its time limit.
            self._kill()
            raise

    def _exchange(self, events: list[Event], ctx: Context, timeout_s: float) -> Any:
        conn, process = self._conn, self._process
        name = ctx.function_name
        if conn is None or process is None or process.exitcode is not None:
            raise InstanceCrashed(
                f"the worker process of {name} is gone ({self._exit_status()}) "
                "and cannot take the call"
            )
        deadline = time.monotonic() + timeout_s
        message = (
            events,
            name,
            ctx.invocation_id,
            ctx.trace_id,
            timeout_s,
            ctx.attempt,
            ctx.partition,
        )
        try:
            payload = _dumps(message)
        except Exception as exc:
            raise FunctionError(
                f"cannot send the batch of {name} to its worker process: events must be "
                f"picklable ({type(exc).__name__}: {exc})"
            ) from exc
        self._busy = True
        try:
            self._send(payload, name)
            while True:
                reply = self._receive(deadline, name, timeout_s)
                kind = reply[0]
                if kind == "get":
                    self._send(self._read_state(ctx, reply[1]), name)
                elif kind == "items":
                    self._send(self._read_all_state(ctx), name)
                elif kind == "ok":
                    _, result, outbox, writes, deletes, failed = reply
                    ctx.outbox.extend(outbox)
                    for key, value in writes.items():
                        ctx.state[key] = value
                    for key in deletes:
                        del ctx.state[key]
                    if failed is not None:
                        return BatchItemFailures([events[i] for i in failed])
                    return result
                else:
                    raise reply[1]
        finally:
            self._busy = False

    def _send(self, payload: bytes, name: str) -> None:
        assert self._conn is not None
        try:
            self._conn.send_bytes(payload)
        except OSError as exc:
            raise self._crashed(name) from exc

    def _receive(self, deadline: float, name: str, timeout_s: float) -> Any:
        conn, process = self._conn, self._process
        assert conn is not None and process is not None
        # Waiting on the process's sentinel too catches a death even when a grandchild the
        # function started still holds the pipe open.
        ready = multiprocessing.connection.wait(
            [conn, process.sentinel], max(0.0, deadline - time.monotonic())
        )
        if not ready:
            self._kill()
            raise FunctionTimeout(f"{name} ran past its {timeout_s:g} s time limit")
        if conn not in ready:
            raise self._crashed(name)
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise self._crashed(name) from exc
        try:
            return pickle.loads(data)
        except Exception as exc:  # e.g. a result whose class the parent cannot import
            # Whether the worker now waits for an answer is unknown: replace it.
            self._kill()
            raise InstanceCrashed(
                f"cannot read what the worker process of {name} sent back "
                f"({type(exc).__name__}: {exc}); the worker was replaced"
            ) from exc

    @staticmethod
    def _read_state(ctx: Context, key: Hashable) -> bytes:
        try:
            value = ctx.state.get(key, _ABSENT)
        except Exception as exc:  # the backend failed: the function sees it raise
            return _dumps(("error", _portable(exc)))
        if value is _ABSENT:
            return _dumps(("absent",))
        try:
            return _dumps(("value", value))
        except Exception as exc:
            return _dumps(
                (
                    "error",
                    FunctionError(
                        f"the state value of key {key!r} cannot be sent to the worker process: "
                        f"{type(exc).__name__}: {exc}"
                    ),
                )
            )

    @staticmethod
    def _read_all_state(ctx: Context) -> bytes:
        try:
            items = [(key, ctx.state[key]) for key in ctx.state]
            return _dumps(("items", items))
        except Exception as exc:
            return _dumps(("error", _portable(exc)))

    def _crashed(self, name: str) -> InstanceCrashed:
        return InstanceCrashed(
            f"the worker process of {name} (pid {self._pid}) died mid-invocation "
            f"({self._exit_status()})"
        )

    def _exit_status(self) -> str:
        process = self._process
        if process is None:
            return "never started"
        process.join(1.0)  # the exit status comes a moment after the pipe closes
        code = process.exitcode
        if code is None:
            return "still running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def _kill(self) -> None:
        """SIGKILL the worker; does not wait (safe on the event loop)."""
        process = self._process
        if process is not None and process.exitcode is None:
            process.kill()

    async def stop(self) -> None:
        """Ask the worker to exit, kill it after a grace period, return once it is reaped."""
        if self._stopped:
            return
        self._stopped = True
        if self._busy:  # an abandoned call: see invoke()
            self._kill()
        loop = asyncio.get_running_loop()
        try:
            # On the instance thread: after any exchange, so nothing else uses the pipe.
            await loop.run_in_executor(self._thread, self._shutdown)
        finally:
            self._thread.shutdown(wait=False)

    def _shutdown(self) -> None:
        conn, process = self._conn, self._process
        if process is not None:
            if conn is not None and process.exitcode is None:
                with contextlib.suppress(OSError):
                    conn.send_bytes(_dumps(None))
                process.join(_STOP_GRACE_S)
            if process.exitcode is None:
                process.kill()
                process.join(_STOP_GRACE_S)  # until the fork server reaped it: its pid is gone
        if conn is not None:
            conn.close()
