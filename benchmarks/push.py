"""Push-tier benchmark: WebSocket fan-out at 25 Hz. Prints one JSON object.

    .venv/bin/python benchmarks/push.py [--quick] [--games 20] [--seconds 5] [--sizes N ...]

This process is the server: the gateway under uvicorn (``server_config``: the push tier's own
WebSocket protocol), the App and the publisher, which puts one ``MetricUpdate`` per game per
tick (25 Hz) on the ``metrics`` topic, each game on its own phase of the tick as feeds from
different venues are, stamped with the time it was due (published late if the loop is busy, so
latencies include the server's backlog); it goes publish -> runtime -> ``gateway_push`` -> hub ->
sockets. Subscribers live in separate processes (lean RFC 6455 clients on uvloop, 2,500 a
process), each subscribed to one game, so every subscriber receives 25 messages/s.

For 100, 1,000 and 5,000 subscribers, one server and one set of connections, three windows:
all reading (``all_reading``), the same again (``all_reading_again_p99_ms``, and
``noise_p99_change_pct``: how much p99 moves with nothing changed), then with 10 % of them
stalled (``stalled``: they stop reading; once their sockets take no more they are ``behind``,
after ``backup_s``, and their updates conflate):

* ``delivered_per_s``: messages the hub wrote to sockets per second (all subscribers);
* ``received_per_s``: messages the reading subscribers received per second;
* ``delivered_per_server_core_s``: delivered messages per CPU-second of the server process;
* ``server_cpu_us_per_msg``: the inverse, in microseconds; ``server_cpu_system_share``: the
  kernel's part of it (on loopback the sender's ``send`` also runs the receiver's TCP stack);
* ``clients_cpu_cores``: what the subscriber processes used of the same machine;
* ``p50_ms`` / ``p99_ms``: due time to receipt at a reading subscriber;
* ``others_p99_ms``: p99 of the subscribers that never stall, in every window, and
  ``others_p99_change_pct``: its change once the stalled ones are behind;
* ``offered_per_s``: subscribers x 25, what the clients would receive if nothing lagged.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
from arenaflow.gateway.server import PUSH_SNDBUF, server_config, text_frame
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
class _Feed(asyncio.Protocol):
    """One subscriber: a lean RFC 6455 client (handshake, one masked subscribe frame, then
    unmasked server frames parsed in place).

    A full client library costs 20-30 us of Python per message received; thousands of them on
    the server's machine would measure the clients. This one costs a few microseconds.
    """

    def __init__(self, request: bytes, subscribe: bytes, on_text: Any) -> None:
        self.request, self.subscribe, self.on_text = request, subscribe, on_text
        self.buffer = b""
        self.open = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        if not self.open:
            head, sep, buf = buf.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = head
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            self.open = True
            self.transport.write(self.subscribe)
            self.ready.set_result(None)
        now = time.time()
        pos, n = 0, len(buf)
        while n - pos >= 2:
            size, head = buf[pos + 1] & 0x7F, 2
            if size == 126:
                if n - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4]), 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10]), 10
            end = pos + head + size
            if end > n:
                break
            if buf[pos] & 0x0F == 1:  # a text frame (the feed sends nothing else but closes)
                self.on_text(self, buf[pos + head : end], now)
            pos = end
        self.buffer = buf[pos:]


def _subscriber_main(
    url: str, plan: list[tuple[str, bool]], inbox: Any, outbox: Any
) -> None:  # pragma: no cover (runs in a child process)
    # The clients are the load, not what is measured: the leanest loop there is (uvloop).
    import uvloop

    uvloop.run(_subscribers(url, plan, inbox, outbox))


async def _subscribers(url: str, plan: list[tuple[str, bool]], inbox: Any, outbox: Any) -> None:
    """Connect ``plan``'s (game, will_stall) subscribers, then obey ``inbox``: ("measure",
    start, end) -> (received, latencies of all, of those that never stall, cpu seconds);
    ("stall",) -> the will_stall ones stop reading; ("close",)."""
    from websockets.frames import Frame, Opcode

    decode = msgspec.json.Decoder(_Stamp | list[_Stamp]).decode  # a frame may carry several
    window = [float("inf"), float("-inf")]
    every, others = array("d"), array("d")
    stalling: set[_Feed] = set()

    def on_text(feed: _Feed, raw: bytes, now: float) -> None:
        decoded = decode(raw)
        for msg in decoded if isinstance(decoded, list) else [decoded]:
            if msg.type == "metric" and window[0] <= msg.timestamp <= window[1]:
                every.append(now - msg.timestamp)
                if feed not in stalling:
                    others.append(now - msg.timestamp)

    host, port = url.split("/")[2].split(":")
    path = "/" + url.split("/", 3)[3]
    loop = asyncio.get_running_loop()

    async def open_one(game: str, will_stall: bool) -> _Feed:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        body = json.dumps({"type": "subscribe", "games": [game], "kinds": ["metric"]})
        subscribe = Frame(Opcode.TEXT, body.encode()).serialize(mask=True)
        sock = socket.socket()
        if will_stall:  # a small receive buffer: once stalled, it backs the server up sooner
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, int(port)))
        _, feed = await loop.create_connection(
            lambda: _Feed(request, subscribe, on_text), sock=sock
        )
        await asyncio.wait_for(feed.ready, 60)
        if will_stall:
            stalling.add(feed)
        return feed

    feeds: list[_Feed] = []
    for i in range(0, len(plan), 200):  # connect in waves: the listen backlog is finite
        feeds += await asyncio.gather(*(open_one(g, s) for g, s in plan[i : i + 200]))
    outbox.put("ready")
    while True:
        command = await loop.run_in_executor(None, inbox.get)
        if command[0] == "measure":
            _, start, end = command
            del every[:], others[:]
            window[0], window[1] = start, end
            await asyncio.sleep(max(0.0, start - time.time()))
            cpu0 = time.process_time()
            await asyncio.sleep(max(0.0, end - time.time()))
            cpu = time.process_time() - cpu0
            await asyncio.sleep(0.5)  # what was sent in the window arrives
            outbox.put((len(every), every.tobytes(), others.tobytes(), cpu))
        elif command[0] == "stall":
            for feed in stalling:
                feed.transport.pause_reading()  # connected, subscribed, never reads again
        else:
            break
    for feed in feeds:
        feed.transport.abort()


# -- the floor: what the kernel alone costs per send ----------------------------------------------
def _sink_main(port: int, ready: Any) -> None:  # pragma: no cover (runs in a child process)
    import uvloop

    class Discard(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            pass

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(
            Discard, "127.0.0.1", port, backlog=8192
        )
        ready.set()
        async with server:
            await asyncio.sleep(3600)

    uvloop.run(serve())


def _send_floor(connections: int, seconds: float = 2.0) -> dict[str, Any]:
    """CPU per ``send`` of a 200-byte frame on plain sockets, with no WebSocket, asyncio or hub:
    the part of a push server's cost per message that no code above the kernel can remove."""
    ctx = mp.get_context("spawn")
    port, ready = _free_port(), ctx.Event()
    sink = ctx.Process(target=_sink_main, args=(port, ready), daemon=True)
    sink.start()
    ready.wait(60)
    socks = []
    try:
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PUSH_SNDBUF)
            socks.append(sock)
        data = text_frame(b"x" * 198)
        ticks = int(seconds * HZ)
        t0, start, sent = os.times(), time.perf_counter(), 0
        for tick in range(ticks):
            time.sleep(max(0.0, start + tick / HZ - time.perf_counter()))
            for sock in socks:
                sent += sock.send(data) > 0
        t1 = os.times()
    finally:
        for sock in socks:
            sock.close()
        sink.kill()
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    return {
        "connections": connections,
        "us_per_send": round(cpu / sent * 1e6, 2),
        "system_share": round((t1.system - t0.system) / cpu, 2),
        "cores_at_25_hz": round(cpu / sent * connections * HZ, 2),
    }


# -- the server ---------------------------------------------------------------------------------
def _pct(values: array[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0, 2)


def _change(before: float | None, after: float | None) -> float | None:
    if not before or after is None:
        return None
    return round((after / before - 1) * 100, 1)


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
        server_config(
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
        # Each game on its own phase of the 25 Hz grid, as live feeds from different venues
        # are (and as the pipeline emits them): game g at t0 + (tick + g / games) / HZ.
        # Stamped with the time it was due and published late if the loop is busy: a feed does
        # not wait for the server, so neither may the latencies (no coordinated omission).
        step = 0
        t0 = time.time()
        while not stop.is_set():
            due = t0 + step / (HZ * games)
            while due <= time.time():
                tick, g = divmod(step, games)
                app.publish(
                    topics.METRICS,
                    MetricUpdate(
                        game_id=f"g{g}",
                        subject_id="p1",
                        metric="speed",
                        value=float(tick),
                        unit="m/s",
                        timestamp=due,
                    ),
                )
                step += 1
                due = t0 + step / (HZ * games)
            await asyncio.sleep(due - time.time())

    async def measure() -> dict[str, Any]:
        start = time.time() + 0.2
        end = start + seconds
        for _, inbox, _ in children:
            inbox.put(("measure", start, end))
        await asyncio.sleep(start - time.time())
        times0, delivered0, conflated0 = os.times(), hub.delivered, hub.conflated
        await asyncio.sleep(end - time.time())
        times = os.times()
        delivered, conflated = hub.delivered - delivered0, hub.conflated - conflated0
        user, system = times.user - times0.user, times.system - times0.system
        cpu = user + system
        received, every, others, clients_cpu = 0, array("d"), array("d"), 0.0
        for _, _, outbox in children:
            count, raw_every, raw_others, client_cpu = await loop.run_in_executor(
                None, outbox.get, True, 120
            )
            received += count
            every.frombytes(raw_every)
            others.frombytes(raw_others)
            clients_cpu += client_cpu
        return {
            "delivered_per_s": round(delivered / seconds),
            "received_per_s": round(received / seconds),
            "delivered_per_server_core_s": round(delivered / cpu) if cpu else None,
            "server_cpu_us_per_msg": round(cpu / delivered * 1e6, 2) if delivered else None,
            "server_cpu_cores": round(cpu / seconds, 2),
            "server_cpu_system_share": round(system / cpu, 2) if cpu else None,
            "clients_cpu_cores": round(clients_cpu / seconds, 2),
            "conflated_per_s": round(conflated / seconds),
            "behind": int(hub.stats()["behind"]),
            "p50_ms": _pct(every, 0.50),
            "p99_ms": _pct(every, 0.99),
            "others_p99_ms": _pct(others, 0.99),
        }

    publishing = asyncio.create_task(publisher())
    await asyncio.sleep(1.0)  # warm up
    calm = await measure()
    # The same again: how much p99 moves between two windows with nothing changed (the noise
    # the stalled clients' effect is to be read against).
    again = await measure()
    stalled: dict[str, Any] | None = None
    backup_s = None
    if n_stalled:
        for _, inbox, _ in children:
            inbox.put(("stall",))
        # Until every stalled client is behind: its socket takes no more, so it is conflated.
        began = time.monotonic()
        deadline = began + (5.0 if quick else 60.0)
        while hub.stats()["behind"] < n_stalled and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        backup_s = round(time.monotonic() - began, 1)
        stalled = await measure()
    stop.set()
    await publishing
    for _, inbox, _ in children:
        inbox.put(("close",))
    for proc, _, _ in children:
        await loop.run_in_executor(None, proc.join, 30)
        if proc.is_alive():
            proc.kill()
    server.should_exit = True
    await serving

    result: dict[str, Any] = {
        "subscribers": subscribers,
        "games": games,
        "offered_per_s": round(subscribers * HZ),
        "all_reading": calm,
        "all_reading_again_p99_ms": again["p99_ms"],
        "noise_p99_change_pct": _change(calm["p99_ms"], again["p99_ms"]),
    }
    if stalled is not None:
        before, after = calm["others_p99_ms"], stalled["others_p99_ms"]
        result["stalled"] = {
            "stalled": n_stalled,
            "backup_s": backup_s,
            **stalled,
            "others_p99_change_pct": _change(before, after),
        }
    return result


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    sizes = args.sizes or ([50, 200] if args.quick else [100, 1000, 5000])
    seconds = 2.0 if args.quick else args.seconds
    results = [await _scenario(n, 0.1, args.games, seconds, args.quick) for n in sizes]
    return {
        "benchmark": "push",
        "quick": args.quick,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "hz": HZ,
        "seconds": seconds,
        "results": results,
        "send_floor": _send_floor(max(sizes)),
        "targets": {
            "delivered_per_server_core_s": ">= 25000",
            "p99_ms": "<= 50",
            "others_p99_change_pct": "< 10",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--games", type=int, default=20, help="games published at 25 Hz")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per window")
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="subscriber counts (default 100 1000 5000)"
    )
    args = parser.parse_args()
    json.dump(asyncio.run(_main(args)), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
