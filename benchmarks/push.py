"""Push-tier benchmark: WebSocket fan-out at 25 Hz. Prints one JSON object.

    .venv/bin/python benchmarks/push.py [--quick] [--games 20] [--seconds 5]

This process is the server: the gateway under uvicorn, the App and the publisher, which puts one
``MetricUpdate`` per game per tick (25 Hz) on the ``metrics`` topic with its send time in
``timestamp``; it goes publish -> runtime -> ``gateway_push`` -> hub -> sockets. Subscribers
live in separate processes (multiprocessing, many asyncio ``websockets`` connections each), each
subscribed to one game, so every subscriber receives 25 messages/s.

For 100, 1,000 and 5,000 subscribers, and again with 10 % of them stalled (connected, a 4 KiB
receive buffer, never reading; their server-side queues back up, then conflate):

* ``delivered_per_s``: frames the hub wrote to sockets per second (all subscribers);
* ``received_per_s``: frames the reading subscribers received per second;
* ``delivered_per_server_core_s``: delivered frames per CPU-second of the server process;
* ``server_cpu_us_per_msg``: the inverse, in microseconds;
* ``p50_ms`` / ``p99_ms``: send timestamp to receipt at a reading subscriber;
* ``offered_per_s``: subscribers x 25, what the clients would receive if nothing lagged;
* ``stalled_backed_up``: whether the stalled clients' queues conflated during the window. On
  Linux loopback the kernel buffers megabytes per socket, so at 25 x ~190 bytes/s a stalled
  client takes minutes to back up the server; until then it costs the server what a reading
  client costs. Conflation and the 4408 close of stalled clients are covered by
  ``tests/gateway/test_hub.py`` with big frames.

The clients share the machine's cores with the server: on a small machine they, not the server,
are often what limits ``received_per_s`` and the latencies (see ``cpu_count``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import socket
import sys
import time
from array import array
from typing import Any

import msgspec
import uvicorn

from arenaflow import App, Settings
from arenaflow.gateway.app import create_gateway
from arenaflow.gateway.auth import KeyRing
from arenaflow.gateway.hub import Hub
from arenaflow.runtime.latency import quiet_gc
from arenaflow.sports import topics
from arenaflow.sports.schemas import MetricUpdate

HZ = 25.0
CONNECTIONS_PER_PROCESS = 2500


class _Stamp(msgspec.Struct):
    type: str
    timestamp: float = 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- subscriber processes ----------------------------------------------------------------------
def _subscriber_main(
    url: str, plan: list[tuple[str, bool]], inbox: Any, outbox: Any
) -> None:  # pragma: no cover (runs in a child process)
    asyncio.run(_subscribers(url, plan, inbox, outbox))


async def _subscribers(url: str, plan: list[tuple[str, bool]], inbox: Any, outbox: Any) -> None:
    from websockets.asyncio.client import ClientConnection, connect

    decode = msgspec.json.Decoder(_Stamp | list[_Stamp]).decode  # a frame may carry several
    window = [float("inf"), float("-inf")]
    latencies = array("d")
    received = 0

    async def open_one(game: str, stalled: bool) -> ClientConnection:
        sock = None
        if stalled:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            host, port = url.split("/")[2].split(":")
            sock.connect((host, int(port)))
        ws = await connect(
            url, sock=sock, max_queue=1 if stalled else 64, ping_interval=None, close_timeout=1
        )
        await ws.send(json.dumps({"type": "subscribe", "games": [game], "kinds": ["metric"]}))
        return ws

    async def read(ws: ClientConnection) -> None:
        nonlocal received
        start, end = window
        async for raw in ws:
            now = time.time()
            decoded = decode(raw)
            for msg in decoded if isinstance(decoded, list) else [decoded]:
                if msg.type != "metric":
                    continue
                if start <= msg.timestamp <= end:
                    latencies.append(now - msg.timestamp)
                    received += 1
                elif msg.timestamp > end:
                    start, end = window

    conns: list[ClientConnection] = []
    for i in range(0, len(plan), 200):  # connect in waves: the listen backlog is finite
        conns += await asyncio.gather(*(open_one(g, s) for g, s in plan[i : i + 200]))
    readers = [
        asyncio.create_task(read(ws))
        for ws, (_, stalled) in zip(conns, plan, strict=True)
        if not stalled
    ]
    outbox.put("ready")
    loop = asyncio.get_running_loop()
    start, end = await loop.run_in_executor(None, inbox.get)
    window[0], window[1] = start, end
    await asyncio.sleep(max(0.0, end - time.time()) + 0.5)
    outbox.put((received, latencies.tobytes()))
    await loop.run_in_executor(None, inbox.get)  # close now
    for task in readers:
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.gather(*(ws.close() for ws in conns)), 5)
    for ws in conns:
        ws.transport.abort()


# -- the server ---------------------------------------------------------------------------------
async def _scenario(
    subscribers: int, stalled_ratio: float, games: int, seconds: float, quick: bool
) -> dict[str, Any]:
    ring = KeyRing()
    key = ring.issue("bench", {"broadcast"})
    app = App(settings=Settings(partitions=4))
    hub = Hub(queue_size=256, heartbeat_s=15.0)
    gateway = create_gateway(app, keys=ring, hub=hub)
    quiet_gc()  # as the arenaflow commands do
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            gateway,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            backlog=4096,
            ws_ping_interval=None,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)

    n_stalled = round(subscribers * stalled_ratio)
    plan = [(f"g{i % games}", i < n_stalled) for i in range(subscribers)]
    plan = plan[n_stalled:] + plan[:n_stalled]  # stalled ones spread over the processes
    procs = max(1, -(-subscribers // CONNECTIONS_PER_PROCESS))
    ctx = mp.get_context("spawn")
    children = []
    for p in range(procs):
        inbox, outbox = ctx.Queue(), ctx.Queue()
        proc = ctx.Process(
            target=_subscriber_main,
            args=(f"ws://127.0.0.1:{port}/v1/ws?key={key}", plan[p::procs], inbox, outbox),
            daemon=True,
        )
        proc.start()
        children.append((proc, inbox, outbox))
    loop = asyncio.get_running_loop()
    for _, _, outbox in children:
        assert await loop.run_in_executor(None, outbox.get, True, 120) == "ready"

    stop = asyncio.Event()

    async def publisher() -> None:
        tick = 0
        t0 = time.perf_counter()
        while not stop.is_set():
            now = time.time()
            for g in range(games):
                app.publish(
                    topics.METRICS,
                    MetricUpdate(
                        game_id=f"g{g}",
                        subject_id="p1",
                        metric="speed",
                        value=float(tick),
                        unit="m/s",
                        timestamp=now,
                    ),
                )
            tick += 1
            await asyncio.sleep(max(0.0, t0 + tick / HZ - time.perf_counter()))

    publishing = asyncio.create_task(publisher())
    # Warm up; with stalled clients, until their queues back up and conflate (or a cap).
    await asyncio.sleep(1.0)
    deadline = time.monotonic() + (2.0 if quick else 10.0)
    while n_stalled and hub.stats()["conflated"] == 0:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    start = time.time() + 0.2
    end = start + seconds
    for _, inbox, _ in children:
        inbox.put((start, end))
    await asyncio.sleep(start - time.time())
    cpu0, delivered0, conflated0 = time.process_time(), hub.delivered, hub.conflated
    await asyncio.sleep(end - time.time())
    cpu = time.process_time() - cpu0
    delivered = hub.delivered - delivered0
    conflated = hub.conflated - conflated0
    stop.set()
    await publishing

    received = 0
    latencies = array("d")
    for _, _, outbox in children:
        count, raw = await loop.run_in_executor(None, outbox.get, True, 120)
        received += count
        latencies.frombytes(raw)
    for _, inbox, _ in children:
        inbox.put("close")
    for proc, _, _ in children:
        await loop.run_in_executor(None, proc.join, 30)
        if proc.is_alive():
            proc.kill()
    server.should_exit = True
    await serving

    ordered = sorted(latencies)

    def pct(q: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0, 2)

    return {
        "subscribers": subscribers,
        "stalled": n_stalled,
        "games": games,
        "offered_per_s": round(subscribers * HZ),
        "delivered_per_s": round(delivered / seconds),
        "received_per_s": round(received / seconds),
        "delivered_per_server_core_s": round(delivered / cpu) if cpu else None,
        "server_cpu_us_per_msg": round(cpu / delivered * 1e6, 2) if delivered else None,
        "server_cpu_cores": round(cpu / seconds, 2),
        "conflated_per_s": round(conflated / seconds),
        "stalled_backed_up": conflated > 0 if n_stalled else None,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [50, 200] if args.quick else [100, 1000, 5000]
    seconds = 2.0 if args.quick else args.seconds
    results: dict[str, Any] = {}
    for stalled in (0.0, 0.1):
        label = "stalled_10pct" if stalled else "all_reading"
        results[label] = [
            await _scenario(n, stalled, args.games, seconds, args.quick) for n in sizes
        ]
    p99_change = []
    for calm, busy in zip(results["all_reading"], results["stalled_10pct"], strict=True):
        if calm["p99_ms"] and busy["p99_ms"] is not None:
            p99_change.append(
                {
                    "subscribers": calm["subscribers"],
                    "p99_change_pct": round((busy["p99_ms"] / calm["p99_ms"] - 1) * 100, 1),
                }
            )
    return {
        "benchmark": "push",
        "quick": args.quick,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "hz": HZ,
        "seconds": seconds,
        "results": results,
        "stalled_p99_change": p99_change,
        "targets": {
            "delivered_per_server_core_s": ">= 25000",
            "p99_ms": "<= 50",
            "stalled_p99_change_pct": "< 10",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--games", type=int, default=20, help="games published at 25 Hz")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    args = parser.parse_args()
    json.dump(asyncio.run(_main(args)), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
