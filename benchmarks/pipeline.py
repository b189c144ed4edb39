"""Pipeline benchmark: the built-in sports pipeline on simulated football games. Prints JSON.

    .venv/bin/python benchmarks/pipeline.py [--quick]

For 1, 10, 100 and 300 games:

* ``frames_per_s``: tracking frames (plus heart rate at ``HR_HZ`` per athlete) through the whole
  pipeline as fast as possible (published up front, then drained) — its capacity;
* ``cpu_cores``: process CPU time / wall time while the games run paced at 25 Hz in real time;
* ``p50_ms`` / ``p99_ms``: from a frame's publish (its capture timestamp is set to the publish
  time) to its live ``speed`` MetricUpdate reaching a function subscribed to ``metrics``, with
  the games paced at 25 Hz; ``kept_up`` says whether publishing stayed on schedule.

``max_games``: the most games held at 25 Hz with p99 <= 20 ms and no backlog, searched over a
list of game counts. Frames are simulated before the clock starts, so generation is not counted
(the simulator's own cost is in ``benchmarks/sources.py``). The pipeline runs in one thread: one
core at most.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from typing import Any

import msgspec
import numpy as np

from arenaflow import App, Settings, stream
from arenaflow.pipeline import build_pipeline
from arenaflow.sports import topics
from arenaflow.sports.sources import Simulator

FPS = 25.0
HR_HZ = 1.0  # heart-rate straps report about once a second
PARTITIONS = 1  # one loop runs every function: more partitions only add task switches
# Events kept per partition for replay; history is the store's job, and a transport holding
# every event of a run grows the heap the garbage collector walks (p99 doubles at 2,000,000).
RETENTION = 20_000


def simulate(games: int, seconds: float) -> list[tuple[str, str, Any]]:
    return list(Simulator("football", games=games, seed=1, hr_hz=HR_HZ).frames_for(seconds))


def quiet_gc() -> None:
    """What a latency-sensitive service does (and ``arenaflow`` commands do):
    :func:`arenaflow.runtime.latency.quiet_gc`."""
    from arenaflow.runtime.latency import quiet_gc as tune

    tune()


def make_app() -> tuple[App, list[float]]:
    app, _ = build_pipeline(App(settings=Settings(partitions=PARTITIONS, retention=RETENTION)))
    latencies: list[float] = []

    @app.function(stream(topics.METRICS, key="game_id"), name="probe", batch_size=500)
    async def probe(events: list[Any], ctx: Any) -> None:
        now = time.time()
        for e in events:
            u = e.value
            if u.metric == "speed":
                latencies.append(now - u.timestamp)

    return app, latencies


def capacity(games: int, seconds: float) -> dict[str, float]:
    items = simulate(games, seconds)
    frames = sum(1 for topic, _, _ in items if topic == topics.TRACKING)
    app, _ = make_app()

    async def main() -> float:
        async with app:
            started = time.perf_counter()
            for topic, key, value in items:
                await app.publish(topic, value, key=key)
            await app.drain(600)
            return time.perf_counter() - started

    elapsed = asyncio.run(main())
    return {"frames_per_s": frames / elapsed, "frames": frames}


def paced(games: int, seconds: float) -> dict[str, Any]:
    """Publish each 40 ms tick's frames at its wall-clock time, stamped with that time."""
    items = simulate(games, seconds)
    ticks: dict[float, list[tuple[str, str, Any]]] = {}
    for topic, key, value in items:
        ticks.setdefault(round(value.timestamp * FPS) / FPS, []).append((topic, key, value))
    app, latencies = make_app()
    replace = msgspec.structs.replace
    quiet_gc()

    async def main() -> dict[str, Any]:
        async with app:
            await app.drain(10)
            start = time.time() + 0.05
            cpu0, wall0 = time.process_time(), time.perf_counter()
            behind = 0.0
            for t in sorted(ticks):
                due = start + t
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                behind = max(behind, time.time() - due)
                now = time.time()
                for topic, key, value in ticks[t]:
                    app.publish(topic, replace(value, timestamp=now), key=key)
            wall_run = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            backlog = sum(app.lag().values())
            await app.drain(120)
        lat = np.array(latencies[len(latencies) // 10 :]) * 1000.0  # skip the warm-up
        return {
            "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)),
            "cpu_cores": cpu / wall_run,
            "max_behind_ms": behind * 1000.0,
            "backlog_at_end": backlog,
            "kept_up": bool(behind < 0.1 and backlog < games * 50),
            "speed_updates": int(lat.size),
        }

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    args = parser.parse_args()
    seconds = 4.0 if args.quick else 10.0
    by_games: dict[str, Any] = {}
    for games in (1, 10, 100, 300):
        result = capacity(games, seconds)
        result.update(paced(games, seconds))
        by_games[str(games)] = result
        print(f"{games} games: {json.dumps(result)}", file=sys.stderr)
    max_games = 0
    for games in (5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 400, 500, 600):
        run = paced(games, seconds)
        print(f"search {games}: {json.dumps(run)}", file=sys.stderr)
        if run["kept_up"] and run["p99_ms"] <= 20.0:
            max_games = games
        else:
            break
    print(
        json.dumps(
            {
                "benchmark": "pipeline",
                "python": sys.version.split()[0],
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "seconds_per_run": seconds,
                "heart_rate_hz_per_athlete": HR_HZ,
                "games": by_games,
                "max_games": max_games,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
