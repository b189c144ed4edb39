"""``arenaflow worker``: one member of a fleet that shares every function of an App.

Any number of worker processes, on any machines, run the same App against the same Redis
(``ARENAFLOW_TRANSPORT=redis://...``): each takes its fair share of every function's partitions
(:mod:`arenaflow.transport.redis`), takes over a dead member's within a lease, and hands
partitions back when members join. Per worker:

* the built-in pipeline (or ``APP``), its store writers when ``ARENAFLOW_STORE`` names a store,
  and ``push_relay``, which feeds every gateway's push tier (:mod:`arenaflow.gateway.fanout`);
* ``GET /metrics`` (Prometheus: lag per function for external scalers, invocations, errors,
  durations, cold starts, cost) and ``GET /healthz`` on ``--metrics-port``;
* its instance pools warmed ahead of the backlog: every half second each function keeps as many
  instances warm as its lag can use at once (one batch per owned lane), so a burst at kick-off
  meets warm instances; the reaper retires them once idle;
* SIGTERM or Ctrl-C: leases are released at once, so the others take over without waiting for
  them to lapse; what was in flight is delivered again to the new owner;
* when it takes back a partition another worker consumed meanwhile, its functions replay only
  what they missed; in the rare case that it ran events whose commit never landed and nobody
  acknowledged since (it was paused past its lease mid-batch), what it kept in memory cannot be
  rebuilt: it restarts itself (``exec``), joins afresh and rebuilds by replay.

Example:
    >>> from arenaflow import App
    >>> lanes_for(App())
    {}
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import sys
from typing import Any

from arenaflow.app import App
from arenaflow.settings import Settings
from arenaflow.triggers import Stream

log = logging.getLogger(__name__)

#: Exit status of a worker asked to restart that could not exec itself.
RESTART_EXIT = 75
_AUTOSCALE_S = 0.5


def build(settings: Settings, app: App | None = None) -> App:
    """The App a worker runs: ``app``, or the built-in pipeline with its store writers when
    ``settings.store`` names one, plus ``push_relay`` on the redis transport."""
    if app is None:
        from arenaflow.pipeline import build_pipeline
        from arenaflow.store import open_store

        store = None if settings.store == "none" else open_store(settings.store, settings.data_dir)
        app, _ = build_pipeline(App(settings=settings), store=store)
    if app.transport.name == "redis":
        from arenaflow.gateway.fanout import RELAY_FUNCTION, attach_relay

        if RELAY_FUNCTION not in app.functions:
            attach_relay(app)
    return app


def lanes_for(app: App) -> dict[str, int]:
    """Lanes each stream function has in this process now: owned partitions x parallelization
    (the most invocations its backlog can keep busy at once)."""
    transport = app.transport
    lanes: dict[str, int] = {}
    for name, fn in app.functions.items():
        for trigger in fn.triggers:
            if not isinstance(trigger, Stream):
                continue
            owned = sum(
                transport.owns(trigger.topic, name, p)
                for p in range(transport.partitions(trigger.topic))
            )
            lanes[name] = lanes.get(name, 0) + owned * fn.config.parallelization
    return lanes


async def autoscale(app: App) -> None:
    """Keep warm the instances each function's backlog can use (see the module doc)."""
    while True:
        await asyncio.sleep(_AUTOSCALE_S)
        for name, lanes in lanes_for(app).items():
            fn = app.functions[name]
            lag = app.metrics(name).lag
            want = min(fn.config.max_instances, lanes, math.ceil(lag / fn.config.batch_size))
            if want > fn.pool.size:
                await fn.pool.prewarm(want)


def restart(topic: str, group: str, partition: int) -> None:
    """Replace this process with a fresh one (same command line): what it keeps in memory
    for a partition it took back cannot be rebuilt (it ran events nobody acknowledged)."""
    log.warning(
        "worker: %s[%d] for %s: memory of unacknowledged events, cannot rebuild: restarting",
        topic,
        partition,
        group,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, [sys.executable, "-m", "arenaflow", *sys.argv[1:]])
    except OSError:
        log.exception("worker: cannot exec a fresh process")
        os._exit(RESTART_EXIT)


async def serve(app: App, metrics_host: str, metrics_port: int) -> None:
    """Run ``app`` as a fleet member until SIGTERM or SIGINT, with the metrics endpoint."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    from arenaflow.gateway.app import GatewayState
    from arenaflow.gateway.auth import KeyRing
    from arenaflow.gateway.hub import Hub
    from arenaflow.gateway.prometheus import metrics_routes

    if hasattr(app.transport, "on_stale"):
        app.transport.on_stale = restart
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)  # what is it doing? (kill -USR1)

    async def healthz(_: Request) -> Response:
        ok = app.running
        return PlainTextResponse("ok" if ok else "not running", status_code=200 if ok else 503)

    state = GatewayState(app=app, keys=KeyRing(), hub=Hub())
    endpoint = Starlette(routes=[*metrics_routes(state), Route("/healthz", healthz)])
    server = uvicorn.Server(
        uvicorn.Config(endpoint, host=metrics_host, port=metrics_port, log_level="warning")
    )
    async with app:
        serving = asyncio.create_task(server.serve())
        scaling = asyncio.create_task(autoscale(app))
        log.info("worker: running %d function(s): %s", len(app.functions), ", ".join(app.functions))
        try:
            await stop.wait()
        finally:
            log.info("worker: stopping (leases released, in-flight events redelivered)")
            scaling.cancel()
            server.should_exit = True
            await asyncio.gather(serving, scaling, return_exceptions=True)


def _dump_tasks() -> None:
    """Log where every task of the event loop waits, down the chain of awaited coroutines
    (``Task.print_stack`` shows only the outermost frame): a stuck worker tells where."""
    for task in asyncio.all_tasks():
        lines: list[str] = []
        awaited: Any = task.get_coro()
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                lines.append(
                    f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}"
                )
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        state = "cancelling" if task.cancelling() else "pending"
        log.warning("worker: task %s (%s)\n%s", task.get_name(), state, "\n".join(lines))


def run(app: App, metrics_host: str = "0.0.0.0", metrics_port: int = 9100) -> None:
    """Blocking form of :func:`serve` (what ``arenaflow worker`` calls)."""
    asyncio.run(serve(app, metrics_host, metrics_port))


__all__ = ["RESTART_EXIT", "autoscale", "build", "lanes_for", "restart", "run", "serve"]
