"""Scale-out benchmark: the built-in pipeline on the redis transport, in worker processes.
Prints one JSON object.

    .venv/bin/python benchmarks/scale.py [--quick]

Processes, as a fleet runs: a Redis server of the benchmark's own (a free port, no
persistence), ``arenaflow worker`` processes (the built-in pipeline, no store), a feeder that
publishes each 40 ms tick's frames of every game in one batch (stamped with the time it sends
them), and a probe that reads the ``metrics`` streams and measures, for every live ``speed``
update, its arrival minus its frame's timestamp.

* ``capacity``: for 1 and 2 workers, ``frames_per_s`` (a backlog of frames, with heart rate at
  1 Hz, published while the settled workers are paused, processed as fast as they go), the CPU
  the workers and Redis spent per frame, ``speedup_2_workers``, and what it would be were the
  CPU free (``speedup_2_workers_cpu_free_projection``: each worker at one core per its CPU per
  frame, within Redis's own limit);
* ``paced``: for 1 and 2 workers, games at 25 Hz: ``p50_ms``, ``p99_ms``;
* ``max_games``: the most games 2 workers hold at 25 Hz with p99 <= 100 ms;
* ``failover_s``: 2 workers at 25 Hz, one killed (kill -9): the longest time any game then went
  without a speed update (the dead worker's games come back once the survivor has taken its
  partitions over and rebuilt them by replay).

Targets: max_games >= 100, speedup_2_workers >= 1.7 (when the CPU is free: the machine has
``cpu_count`` cores, shared with Redis, the feeder and the probe), failover_s <= 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

FPS = 25.0
PARTITIONS = 8
LEASE_MS = 500  # the fleet's setting for fast failover (the default is 1000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Redis:
    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (scripts/services installs it)")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(workdir),
             "--save", "", "--appendonly", "no", "--logfile", str(workdir / "redis.log")]
        )  # fmt: skip
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def flush(self) -> None:
        import redis

        redis.Redis(port=self.port).flushall()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _workers(
    url: str, n: int, workdir: Path, lease_ms: int = LEASE_MS
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "ARENAFLOW_TRANSPORT": f"{url}?lease_ms={lease_ms}",
        "ARENAFLOW_STATE": url,
        "ARENAFLOW_STORE": "none",
        "ARENAFLOW_PARTITIONS": str(PARTITIONS),
        "ARENAFLOW_RETENTION": "1000000",
        "ARENAFLOW_DATA_DIR": str(workdir),
        "ARENAFLOW_LOG_LEVEL": os.environ.get("SCALE_LOG", "WARNING"),
    }
    procs = []
    for i in range(n):
        log = (workdir / f"worker{i}.log").open("ab")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "arenaflow", "worker", "--metrics-port", "0"],
                env=env,
                stdout=log,
                stderr=log,
            )
        )
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def _lag(url: str, topic: str, group: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    total = 0
    for p in range(PARTITIONS):
        stream = f"arenaflow:stream:{topic}:{p}"
        try:
            end = int(client.xinfo_stream(stream)["last-generated-id"].split(b"-")[1])
            g = next(g for g in client.xinfo_groups(stream) if g["name"] == group.encode())
        except (redis.ResponseError, StopIteration):
            return -1
        total += end - int(g["last-delivered-id"].split(b"-")[1]) + int(g["pending"])
    return total


def _wait_groups(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _lag(url, "tracking", "tracking") < 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not create their groups")
        time.sleep(0.1)
    time.sleep(LEASE_MS / 1000 * 2)  # every worker has joined and taken its share


def _ticks(games: int, seconds: float, hr_hz: float) -> list[list[tuple[str, str, Any]]]:
    from arenaflow.sports.sources import Simulator

    sim = Simulator("football", games=games, seed=1, hr_hz=hr_hz, start_time=0.0)
    ticks: list[list[tuple[str, str, Any]]] = [[] for _ in range(int(seconds * FPS) + 1)]
    for topic, key, value in sim.frames_for(seconds):
        ticks[min(len(ticks) - 1, int(value.timestamp * FPS))].append((topic, key, value))
    return ticks


async def _publish_ticks(url: str, ticks: list[Any], paced: bool) -> int:
    """Publish tick after tick (paced at 25 Hz, restamped when sent), or all at once."""
    from arenaflow.transport.redis import RedisTransport

    transport = RedisTransport(url, default_partitions=PARTITIONS)
    await transport.start()
    replace = msgspec.structs.replace
    sent = 0
    try:
        start = time.time() + 0.1
        for i, tick in enumerate(ticks):
            if paced:
                await asyncio.sleep(max(0.0, start + i / FPS - time.time()))
                now = time.time()
                tick = [(t, k, replace(v, timestamp=now)) for t, k, v in tick]
            await transport.publish_batch([(t, v, k, {}) for t, k, v in tick])
            sent += sum(1 for t, _, _ in tick if t == "tracking")
    finally:
        await transport.aclose()
    return sent


def _feed_main(url: str, games: int, seconds: float, results: Any) -> None:
    ticks = _ticks(games, seconds, hr_hz=1.0)
    results.put(("fed", asyncio.run(_publish_ticks(url, ticks, paced=True))))


def _probe_main(url: str, seconds: float, ready: Any, results: Any, kill_at: Any) -> None:
    """Latency of live speed updates; with ``kill_at``, the longest silence per game after it."""
    import redis.asyncio as aioredis

    from arenaflow.sports.schemas import MetricUpdate

    decode = msgspec.msgpack.Decoder(MetricUpdate).decode

    async def main() -> None:
        client = aioredis.Redis.from_url(url)
        last = {f"arenaflow:stream:metrics:{p}": "$" for p in range(PARTITIONS)}
        latencies: list[float] = []
        seen: dict[str, float] = {}
        gaps: dict[str, float] = {}  # per game, the longest silence around and after the kill
        ready.set()
        end = time.time() + seconds
        while time.time() < end:
            reply = await client.xread(last, count=5000, block=100)
            now = time.time()
            for stream, entries in reply or ():
                last[stream.decode()] = entries[-1][0]
                for _, fields in entries:
                    update = decode(fields[b"v"])
                    if update.metric != "speed":
                        continue
                    latencies.append(now - update.timestamp)
                    previous = seen.get(update.game_id)
                    if previous is not None and kill_at.value and previous >= kill_at.value - 1:
                        gaps[update.game_id] = max(gaps.get(update.game_id, 0.0), now - previous)
                    seen[update.game_id] = now
        await client.aclose()
        results.put(("probe", latencies, gaps, len(seen)))

    asyncio.run(main())


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0, 1)


def _held_by(url: str, pid: int) -> set[int]:
    """The partitions the worker of process ``pid`` holds now (lease tokens name it)."""
    import redis

    client = redis.Redis.from_url(url)
    tokens = {p: client.get(f"arenaflow:lease:{p}") for p in range(PARTITIONS)}
    return {p for p, t in tokens.items() if t and f":{pid}:".encode() in t}


def _shares(url: str) -> list[int]:
    """Partitions held per worker now, most first."""
    import redis

    client = redis.Redis.from_url(url)
    tokens = [client.get(f"arenaflow:lease:{p}") for p in range(PARTITIONS)]
    held: dict[bytes, int] = {}
    for t in tokens:
        if t:
            owner = t.rsplit(b"/", 1)[0]
            held[owner] = held.get(owner, 0) + 1
    return sorted(held.values(), reverse=True)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def capacity(
    redis: _Redis, workdir: Path, workers: int, games: int, seconds: float
) -> dict[str, Any]:
    """Frames per second through ``workers`` workers: they start, settle their fair shares and
    are paused (SIGSTOP, within a long lease); a backlog is published; they resume (SIGCONT)
    and the time to the last frame acknowledged is taken. So neither start-up, nor the feeder,
    nor the shares being handed round are in the figure: only processing. The CPU the workers
    and Redis spent meanwhile is taken too (per frame): on a machine of two cores, Redis's share
    is what keeps two workers from twice the throughput of one."""
    redis.flush()
    procs = _workers(redis.url, workers, workdir, lease_ms=60_000)
    fair = [PARTITIONS // workers] * workers
    try:
        deadline = time.monotonic() + 60
        while _lag(redis.url, "tracking", "tracking") < 0 or _shares(redis.url) != fair:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not settle: {_shares(redis.url)}")
            time.sleep(0.05)
        time.sleep(1.0)  # the rebuilds of the handed-back partitions are done
        for p in procs:
            p.send_signal(signal.SIGSTOP)
        ticks = _ticks(games, seconds, hr_hz=1.0)
        asyncio.run(_publish_ticks(redis.url, ticks, paced=False))
        backlog = _lag(redis.url, "tracking", "tracking")
        pids = [p.pid for p in procs]
        cpu = [_cpu_s(pid) for pid in [*pids, redis.proc.pid]]
        started = time.perf_counter()
        for p in procs:
            p.send_signal(signal.SIGCONT)
        while _lag(redis.url, "tracking", "tracking") != 0:
            time.sleep(0.01)
        wall = time.perf_counter() - started
        spent = [_cpu_s(pid) - c for pid, c in zip([*pids, redis.proc.pid], cpu, strict=True)]
        return {
            "frames": backlog,
            "frames_per_s": round(backlog / wall),
            "worker_cpu_us_per_frame": round(sum(spent[:-1]) / backlog * 1e6),
            "redis_cpu_us_per_frame": round(spent[-1] / backlog * 1e6),
            "cores_busy": round(sum(spent) / wall, 2),
        }
    finally:
        for p in procs:
            p.send_signal(signal.SIGCONT)
        _stop(procs)


def paced(
    redis: _Redis, workdir: Path, workers: int, games: int, seconds: float, kill: bool = False
) -> dict[str, Any]:
    """Games at 25 Hz; latency per speed update; with ``kill``, one worker killed midway."""
    redis.flush()
    procs = _workers(redis.url, workers, workdir)
    ctx = mp.get_context("spawn")
    results, ready, kill_at = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    try:
        _wait_groups(redis.url)
        probe = ctx.Process(
            target=_probe_main, args=(redis.url, seconds + 3.0, ready, results, kill_at)
        )
        probe.start()
        ready.wait(30)
        feeder = ctx.Process(target=_feed_main, args=(redis.url, games, seconds, results))
        feeder.start()
        if kill:
            time.sleep(seconds / 2)
            dead = _held_by(redis.url, procs[0].pid)
            kill_at.value = time.time()
            procs[0].send_signal(signal.SIGKILL)
            stamp = time.strftime("%H:%M:%S", time.localtime(kill_at.value))
            print(
                f"killed worker 0 at {stamp}.{int(kill_at.value * 1000) % 1000:03d}",
                file=sys.stderr,
            )
        got: dict[str, Any] = {}
        while len(got) < 2:
            item = results.get(timeout=seconds + 120)
            got[item[0]] = item[1:]
        feeder.join(30)
        probe.join(30)
    finally:
        _stop(procs)
    latencies, gaps, games_seen = got["probe"]
    skip = int(len(latencies) * 2.0 / seconds)  # the first two seconds warm up
    steady = latencies[skip:]
    out: dict[str, Any] = {
        "games": games,
        "workers": workers,
        "frames_fed": got["fed"][0],
        "speed_updates": len(latencies),
        "games_seen": games_seen,
        "p50_ms": _pct(steady, 0.50),
        "p99_ms": _pct(steady, 0.99),
    }
    if kill:
        from arenaflow.transport.base import partition_for

        theirs = [g for g in gaps if partition_for(g, PARTITIONS) in dead]
        others = [g for g in gaps if g not in theirs]
        out["dead_workers_partitions"] = sorted(dead)
        out["failover_s"] = round(max((gaps[g] for g in theirs), default=0.0), 2)
        out["survivors_games_longest_gap_s"] = round(max((gaps[g] for g in others), default=0.0), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    seconds = 6.0 if args.quick else 12.0
    workdir = Path(tempfile.mkdtemp(prefix="arenaflow-scale-"))
    redis = _Redis(workdir)
    try:
        cap_games = 20 if args.quick else 60
        cap_s = 10.0 if args.quick else 30.0
        one = capacity(redis, workdir, 1, cap_games, cap_s)
        two = capacity(redis, workdir, 2, cap_games, cap_s)
        speedup = two["frames_per_s"] / one["frames_per_s"]
        # Were the CPU free (workers on machines of their own, Redis on its own core), each
        # worker would go at one core / its CPU per frame, up to Redis's own limit.
        free = min(
            2 * 1e6 / two["worker_cpu_us_per_frame"], 1e6 / max(1, two["redis_cpu_us_per_frame"])
        )
        paced_games = 20 if args.quick else 100
        paced_runs = [paced(redis, workdir, w, paced_games, seconds) for w in (1, 2)]
        search = []
        max_games = 0
        for games in (10, 20) if args.quick else (50, 75, 100, 125, 150, 200):
            run = paced(redis, workdir, 2, games, seconds)
            search.append(run)
            if run["p99_ms"] is not None and run["p99_ms"] <= 100.0:
                max_games = games
            else:
                break
        failover = paced(redis, workdir, 2, paced_games, max(seconds, 10.0), kill=True)
    finally:
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        json.dumps(
            {
                "benchmark": "scale",
                "quick": args.quick,
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
                "partitions": PARTITIONS,
                "lease_ms": LEASE_MS,
                "capacity": {
                    "games": cap_games,
                    "1_worker": one,
                    "2_workers": two,
                    "speedup_2_workers": round(speedup, 2),
                    "p50_ms": {f"{r['workers']}_workers": r["p50_ms"] for r in paced_runs},
                    "p99_ms": {f"{r['workers']}_workers": r["p99_ms"] for r in paced_runs},
                    "speedup_2_workers_cpu_free_projection": round(free / one["frames_per_s"], 2),
                },
                "frames_per_s": {"1_worker": one["frames_per_s"], "2_workers": two["frames_per_s"]},
                "speedup_2_workers": round(speedup, 2),
                "p50_ms": {f"{r['workers']}_workers": r["p50_ms"] for r in paced_runs},
                "p99_ms": {f"{r['workers']}_workers": r["p99_ms"] for r in paced_runs},
                "paced": paced_runs,
                "search": search,
                "max_games": max_games,
                "failover": failover,
                "failover_s": failover.get("failover_s"),
                "targets": {
                    "max_games": ">= 100 at p99 <= 100 ms",
                    "speedup_2_workers": ">= 1.7",
                    "failover_s": "<= 2",
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
