"""The App: functions bound to triggers, run by the embedded runtime.

Example:
    >>> import asyncio
    >>> from arenaflow import App, stream
    >>> app = App()
    >>> @app.function(stream("tracking", key="game_id"), batch_size=10)
    ... async def count(events, ctx):
    ...     for e in events:
    ...         ctx.state[e.key] = ctx.state.get(e.key, 0) + 1
    >>> for i in range(25):
    ...     _ = app.publish("tracking", {"game_id": "g1", "frame": i})
    >>> async def main():
    ...     async with app:
    ...         await app.drain(timeout=5)
    ...         return app.state("count").get("count", "g1")
    >>> asyncio.run(main())
    25
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import msgspec

from arenaflow.errors import ArenaflowError, BackpressureError, ConfigError, FunctionError
from arenaflow.events import TRACE_HEADER, Event, new_trace_id
from arenaflow.runtime.canary import (
    DEPLOYMENTS_TOPIC,
    Canary,
    CanaryBreaker,
    DeploymentEvent,
    Rollback,
)
from arenaflow.runtime.config import make_config
from arenaflow.runtime.dispatcher import StreamDispatcher
from arenaflow.runtime.function import Function
from arenaflow.runtime.invoker import Invoker
from arenaflow.runtime.metrics import MetricsSnapshot
from arenaflow.runtime.middleware import Middleware, default_middleware
from arenaflow.runtime.scheduler import ScheduleRunner
from arenaflow.security.webhooks import verify
from arenaflow.settings import Settings
from arenaflow.state import State, load_state
from arenaflow.transport import Fence, Transport, load_transport
from arenaflow.triggers import Http, Schedule, Stream, Trigger, Webhook

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Receipt:
    """What :meth:`App.publish` returns: the published event, awaitable.

    Usually the event is on the transport when ``publish`` returns. When the partition was full
    and the caller runs on the event loop, the event waits in line (in order) and awaiting the
    receipt waits until it is on the transport: ``await app.publish(...)`` is the form that
    applies backpressure.
    """

    __slots__ = ("_task", "event")

    def __init__(self, event: Event | None, task: asyncio.Task[Event] | None = None) -> None:
        self.event = event
        self._task = task

    @property
    def done(self) -> bool:
        return self._task is None or self._task.done()

    def __await__(self) -> Generator[Any, None, Event]:
        if self._task is not None:
            self.event = yield from self._task.__await__()
        assert self.event is not None
        return self.event


class App:
    """A set of functions and the runtime that runs them.

    Args:
        transport: A :class:`~arenaflow.transport.Transport`, a backend name (``memory``) or URL
            (``redis://...``). Default from settings: the in-process memory transport.
        state: A :class:`~arenaflow.state.State`, a name or URL. Default: memory.
        settings: Settings; default read from ``ARENAFLOW_*`` environment variables.
        middleware: Runtime middleware; default ``default_middleware()``.
    """

    def __init__(
        self,
        *,
        transport: Transport | str | None = None,
        state: State | str | None = None,
        settings: Settings | None = None,
        middleware: list[Middleware] | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        transport = transport or self.settings.transport
        self.transport: Transport = (
            load_transport(
                transport,
                default_partitions=self.settings.partitions,
                retention=self.settings.retention,
            )
            if isinstance(transport, str)
            else transport
        )
        state = state or self.settings.state
        self.state_backend: State = load_state(state) if isinstance(state, str) else state
        self.middleware = default_middleware() if middleware is None else middleware
        self.middleware.append(CanaryBreaker(self._record_deployment))
        self._functions: dict[str, Function] = {}
        self._deployments: dict[str, list[DeploymentEvent]] = {}
        self._topic_keys: dict[str, str] = {}
        self._invoker = Invoker(self.transport, self.state_backend, self.middleware)
        self._dispatchers: list[StreamDispatcher] = []
        self._schedulers: list[ScheduleRunner] = []
        self._reaper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._pending: set[asyncio.Task[Event]] = set()
        self._retiring: set[asyncio.Task[None]] = set()
        self._invoke_seq = itertools.count()
        self.running = False

    # -- declaring ------------------------------------------------------------------------------
    def function(
        self, *triggers: Trigger, name: str | None = None, **options: Any
    ) -> Callable[[F], F]:
        """Register a function bound to ``triggers``; see :class:`~arenaflow.runtime.config.
        FunctionConfig` for the options. Returns the function unchanged.

        Raises:
            ConfigError: (a ValueError) naming a bad option or trigger, at decoration time.
        """
        for trigger in triggers:
            if not isinstance(trigger, Stream | Http | Schedule | Webhook):
                raise ConfigError(
                    f"triggers must come from stream(), http(), schedule() or webhook(), "
                    f"got {trigger!r}"
                )
        config = make_config(name, options)
        if config.executor == "process":
            from arenaflow.runtime.executors.process import check_picklable

            check_picklable(config.init, "init")

        def register(handler: F) -> F:
            fn_name = name or handler.__name__
            if not callable(handler):
                raise ConfigError(f"function {fn_name!r}: handler must be callable")
            if fn_name in self._functions:
                raise ConfigError(f"function {fn_name!r} is already registered")
            if config.executor == "process":
                from arenaflow.runtime.executors.process import check_picklable

                check_picklable(handler, "handler")
            for trigger in triggers:
                if isinstance(trigger, Stream) and trigger.key is not None:
                    known = self._topic_keys.setdefault(trigger.topic, trigger.key)
                    if known != trigger.key:
                        raise ConfigError(
                            f"function {fn_name!r}: topic {trigger.topic!r} is keyed by "
                            f"{known!r} elsewhere, not {trigger.key!r}"
                        )
            if self.running:
                raise ConfigError(f"function {fn_name!r}: register functions before start()")
            for trigger in triggers:
                if isinstance(trigger, Stream):
                    # The consumer group exists from now on, so retention keeps what is
                    # published before start() for it (backpressure instead of silent trimming).
                    self.transport.register_group(trigger.topic, fn_name)
            self._functions[fn_name] = Function(fn_name, handler, triggers, config)
            return handler

        return register

    def topic(self, name: str, partitions: int | None = None, key: str | None = None) -> None:
        """Declare a topic's partition count and key field before publishing to it."""
        self.transport.create_topic(name, partitions)
        if key is not None:
            self._topic_keys[name] = key

    @property
    def functions(self) -> dict[str, Function]:
        return dict(self._functions)

    # -- versions -------------------------------------------------------------------------------
    def deploy(
        self,
        name: str,
        handler: Callable[..., Any],
        *,
        version: str,
        weight: float = 0.1,
        rollback: Rollback | None = None,
    ) -> DeploymentEvent:
        """Route ``weight`` of function ``name``'s invocations to a new ``version`` of it
        (``handler``, same triggers and options), rolled back automatically when it crosses
        ``rollback`` (default :class:`~arenaflow.runtime.canary.Rollback`). Works on a running
        App: the canary starts from zero instances. See :mod:`arenaflow.runtime.canary`."""
        fn = self._function(name)
        if fn.canary is not None and fn.canary.weight > 0:
            raise ConfigError(
                f"function {name!r} already has canary {fn.canary.version!r}: promote() or "
                "rollback() it first"
            )
        fn.canary = Canary(fn, handler, version, weight, rollback or Rollback())
        event = DeploymentEvent(function=name, version=version, action="deployed", weight=weight)
        self._record_deployment(fn, event)
        return event

    def promote(self, name: str) -> DeploymentEvent:
        """Make function ``name``'s canary its stable version (all traffic)."""
        fn = self._function(name)
        canary = fn.canary
        if canary is None or canary.weight == 0.0:
            raise ConfigError(f"function {name!r} has no live canary to promote")
        retired = fn.pool
        fn.handler, fn.pool, fn.version, fn.canary = (
            canary.handler,
            canary.pool,
            canary.version,
            None,
        )
        if self.running:
            retiring = asyncio.get_running_loop().create_task(retired.aclose())
            self._retiring.add(retiring)
            retiring.add_done_callback(self._retiring.discard)
        event = DeploymentEvent(function=name, version=fn.version, action="promoted", weight=1.0)
        self._record_deployment(fn, event)
        return event

    def rollback(self, name: str, reason: str = "by hand") -> DeploymentEvent:
        """Send all of function ``name``'s traffic back to its stable version."""
        fn = self._function(name)
        if fn.canary is None or fn.canary.weight == 0.0:
            raise ConfigError(f"function {name!r} has no live canary to roll back")
        fn.canary.weight = 0.0
        event = DeploymentEvent(
            function=name, version=fn.canary.version, action="rolled_back", weight=0.0,
            reason=reason,
        )  # fmt: skip
        self._record_deployment(fn, event)
        return event

    def versions(self, name: str) -> dict[str, float]:
        """Function ``name``'s versions and the share of invocations each receives."""
        fn = self._function(name)
        if fn.canary is None:
            return {fn.version: 1.0}
        return {fn.version: 1.0 - fn.canary.weight, fn.canary.version: fn.canary.weight}

    def deployments(self, name: str) -> list[DeploymentEvent]:
        """Every routing change of function ``name``, oldest first."""
        self._function(name)
        return list(self._deployments.get(name, ()))

    def _record_deployment(self, fn: Function, event: DeploymentEvent) -> None:
        event = msgspec.structs.replace(event, timestamp=time.time())
        self._deployments.setdefault(fn.name, []).append(event)
        log.warning(
            "%s: version %s %s (weight %g)%s",
            fn.name, event.version, event.action, event.weight,
            f": {event.reason}" if event.reason else "",
        )  # fmt: skip
        try:
            self.publish(DEPLOYMENTS_TOPIC, event, key=fn.name)
        except ArenaflowError as exc:  # e.g. deployed from sync code on an async-only transport
            log.warning("%s: deployment event not published: %s", fn.name, exc)

    # -- publishing -----------------------------------------------------------------------------
    def _key_of(self, topic: str, value: Any) -> str | None:
        field = self._topic_keys.get(topic)
        if field is None:
            return None
        raw = value.get(field) if isinstance(value, dict) else getattr(value, field, None)
        return None if raw is None else str(raw)

    def publish(
        self, topic: str, value: Any, key: str | None = None, headers: dict[str, str] | None = None
    ) -> Receipt:
        """Publish ``value`` to ``topic``; ``await`` the result to wait for room when full.

        The key defaults to the topic's key field of ``value``; a new trace id is added when the
        headers carry none. Safe to call from any thread.

        Raises:
            BackpressureError: the partition is full and the caller cannot wait (no event loop
                runs in this thread).
        """
        if key is None:
            key = self._key_of(topic, value)
        if headers is None:
            headers = {TRACE_HEADER: new_trace_id()}
        elif TRACE_HEADER not in headers:
            headers = {**headers, TRACE_HEADER: new_trace_id()}
        loop = self._loop
        if loop is not None and self._loop_thread != threading.get_ident() and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(
                self.transport.publish(topic, value, key, headers), loop
            )
            return Receipt(future.result())
        try:
            return Receipt(self.transport.publish_nowait(topic, value, key, headers))
        except NotImplementedError:
            pass  # the backend publishes asynchronously only
        except BackpressureError:
            if _running_loop() is None:
                raise
        running = _running_loop()
        if running is None:
            raise BackpressureError(
                f"the {self.transport.name} transport publishes from async code: "
                "await app.publish(...) inside a coroutine"
            )
        task = running.create_task(self.transport.publish(topic, value, key, headers))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return Receipt(None, task)

    async def publish_many(
        self,
        topic: str,
        values: list[Any],
        key: str | None = None,
        headers: dict[str, str] | None = None,
        fence: Fence | None = None,
    ) -> None:
        """Publish ``values`` with one key, in order (one trace id unless the headers carry
        one), appending in one step while there is room and waiting for room for the rest;
        with a ``fence`` (:meth:`Transport.fence`), only while it holds.

        Raises:
            PartitionLost: the fence no longer holds; nothing was published.
        """
        if headers is None:
            headers = {TRACE_HEADER: new_trace_id()}
        elif TRACE_HEADER not in headers:
            headers = {**headers, TRACE_HEADER: new_trace_id()}
        if fence is not None:
            await self.transport.publish_batch([(topic, v, key, headers) for v in values], fence)
            return
        try:
            done = self.transport.publish_many_nowait(topic, values, key, headers)
        except NotImplementedError:  # the backend publishes async only: in one batch
            await self.transport.publish_batch([(topic, v, key, headers) for v in values])
            return
        for value in values[done:]:
            await self.transport.publish(topic, value, key, headers)

    # -- running --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the runtime: warm pools, stream dispatchers, schedules, the reaper."""
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await self.transport.start()
        await self.state_backend.start()
        for fn in self._functions.values():
            await fn.pool.start()
            if fn.canary is not None:
                await fn.canary.pool.start()
        for fn in self._functions.values():
            for trigger in fn.triggers:
                if isinstance(trigger, Stream):
                    dispatcher = StreamDispatcher(
                        fn, trigger, self.transport, self.state_backend, self._invoker
                    )
                    await dispatcher.start()
                    self._dispatchers.append(dispatcher)
                elif isinstance(trigger, Schedule):
                    runner = ScheduleRunner(fn, trigger, self._invoker)
                    await runner.start()
                    self._schedulers.append(runner)
        self._reaper = self._loop.create_task(self._reap_forever())
        self.running = True

    async def stop(self) -> None:
        """Stop dispatching and release instances; unacked events stay on the transport."""
        if not self.running:
            return
        self.running = False
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        for runner in self._schedulers:
            await runner.stop()
        for dispatcher in self._dispatchers:
            await dispatcher.stop()
        self._dispatchers.clear()
        self._schedulers.clear()
        for fn in self._functions.values():
            await fn.pool.aclose()
            if fn.canary is not None:
                await fn.canary.pool.aclose()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.state_backend.aclose()
        await self.transport.aclose()
        self._loop = None

    aclose = stop

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _reap_forever(self) -> None:
        timeouts = [fn.config.idle_timeout_s for fn in self._functions.values()]
        period = max(0.01, min([1.0, *(t / 4 for t in timeouts)]))
        while True:
            await asyncio.sleep(period)
            for fn in self._functions.values():
                await fn.pool.reap()
                if fn.canary is not None:
                    await fn.canary.pool.reap()

    def lag(self) -> dict[str, int]:
        """Unacknowledged events per ``function:topic``."""
        return {f"{d.group}:{d.topic}": d.lag() for d in self._dispatchers}

    async def drain(self, timeout: float = 10.0) -> None:
        """Run until every published event (including those functions publish) is processed
        and acknowledged. Starts the runtime if needed.

        Raises:
            TimeoutError: with the remaining lag per function, when ``timeout`` passes first.
        """
        await self.start()
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:  # two quiet looks in a row: nothing was in flight between them
            if self._pending:
                await asyncio.wait(
                    set(self._pending), timeout=max(0.0, deadline - time.monotonic())
                )
            busy = bool(self._pending) or any(d.lag() for d in self._dispatchers)
            quiet = 0 if busy else quiet + 1
            if busy and time.monotonic() > deadline:
                raise TimeoutError(f"drain: still busy after {timeout:g} s; lag {self.lag()}")
            await asyncio.sleep(0.0005 if busy else 0)

    def run(self, duration_s: float | None = None) -> None:
        """Run the app in this thread until Ctrl-C (or for ``duration_s`` seconds)."""

        async def main() -> None:
            async with self:
                if duration_s is None:
                    await asyncio.Event().wait()
                else:
                    await asyncio.sleep(duration_s)

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())

    # -- inspecting and invoking ----------------------------------------------------------------
    def _function(self, name: str) -> Function:
        try:
            return self._functions[name]
        except KeyError:
            raise ConfigError(
                f"no function named {name!r}; registered: {sorted(self._functions)}"
            ) from None

    def metrics(self, name: str) -> MetricsSnapshot:
        """Measurements of function ``name`` (a ``MetricsSnapshot``)."""
        fn = self._function(name)
        lag = sum(d.lag() for d in self._dispatchers if d.fn is fn)
        return fn.metrics.snapshot(lag)

    def state(self, name: str) -> State:
        """The state backend (read a function's committed state with ``.get(name, key)``)."""
        self._function(name)
        return self.state_backend

    async def invoke(self, name: str, value: Any, headers: dict[str, str] | None = None) -> Any:
        """Invoke function ``name`` once with a one-event batch (HTTP and webhook triggers).

        Synchronous invocations are not retried (as on Lambda): the error is raised.

        Raises:
            FunctionError: the function failed; ``__cause__`` is its exception.
        """
        fn = self._function(name)
        await self.start()
        trace = {TRACE_HEADER: new_trace_id(), **(headers or {})}
        event = Event(f"invoke:{name}", 0, next(self._invoke_seq), None, value, trace, time.time())
        inv = await self._invoker.invoke(fn, [event])
        if inv.error is not None:
            if isinstance(inv.error, FunctionError):
                raise inv.error
            raise FunctionError(f"{name} failed: {inv.error!r}") from inv.error
        await self._invoker.commit(inv, [])
        return inv.result

    def routes(self) -> list[tuple[Http | Webhook, str]]:
        """HTTP and webhook triggers with their function names, for the gateway to mount."""
        return [
            (trigger, fn.name)
            for fn in self._functions.values()
            for trigger in fn.triggers
            if isinstance(trigger, Http | Webhook)
        ]

    async def handle_webhook(self, name: str, body: bytes, signature: str | None) -> Any:
        """Verify a signed webhook for trigger ``name`` and invoke its function with the body.

        Raises:
            SignatureError: the signature is missing, stale or wrong (nothing is invoked).
            ConfigError: no function has ``webhook(name)``.
        """
        for trigger, fn_name in self.routes():
            if isinstance(trigger, Webhook) and trigger.name == name:
                if trigger.secret is not None:
                    verify(body, signature, trigger.secret)
                return await self.invoke(fn_name, body)
        raise ConfigError(f"no function has webhook({name!r})")

    async def replay(self, name: str, offset: int, partition: int | None = None) -> None:
        """Make function ``name`` process its topic(s) again from ``offset`` (every partition,
        or just ``partition``). Replayed events are processed again even if already applied."""
        fn = self._function(name)
        for dispatcher in self._dispatchers:
            if dispatcher.fn is not fn:
                continue
            parts = (
                range(self.transport.partitions(dispatcher.topic))
                if partition is None
                else [partition]
            )
            await dispatcher.stop()
            for p in parts:
                await self.transport.seek(dispatcher.topic, dispatcher.group, p, offset)
            await dispatcher.start(replayed=set(parts))
