"""Runtime benchmark: per-event overhead, the peer workload, process cold starts. Prints JSON.

    .venv/bin/python benchmarks/runtime.py [--quick]

* ``overhead_us_per_event``: wall time per event for publish -> dispatcher -> inline async no-op
  -> ack, with every event published up front and drained (batch sizes 1 and 100).
* ``peer_workload_records_per_s`` (median of 7 passes): 200,200 tracking records (10 games x 22
  players x 910 frames at 25 Hz), published as whole frames per game (as real feeds deliver
  them: one event = 22 records), through a stream function keyed by game that computes each
  player's speed (distance from the previous position / dt) and keeps a running total distance
  in ``ctx.state``; the totals are checked against a plain-Python reference.
* ``cold_start_ms_p50`` / ``_p99``: process-executor instance start (fork from the warm fork server
  plus an empty ``init``), over repeated starts; ``fork_server_start_ms`` is the one-time start of
  the fork server itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

from arenaflow import App, stream
from arenaflow.runtime.executors.process import ProcessInstance

GAMES, PLAYERS, FRAMES, FPS = 10, 22, 910, 25.0


async def noop(events: list[Any], ctx: Any) -> None:
    return None


def empty_init() -> None:
    return None


def overhead_us(batch_size: int, n: int) -> float:
    app = App()
    app.function(stream("bench", key="k"), batch_size=batch_size, name="noop")(noop)
    keys = [f"g{i}" for i in range(10)]

    async def main() -> float:
        async with app:
            await app.drain(5)  # warm: pool and dispatchers running
            started = time.perf_counter()
            publish = app.publish
            for i in range(n):
                publish("bench", i, key=keys[i % 10])
            await app.drain(120)
            elapsed = time.perf_counter() - started
        assert app.metrics("noop").events == n
        return elapsed / n * 1e6

    return asyncio.run(main())


def make_frames(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.15, size=(GAMES, FRAMES, PLAYERS, 2))
    start = rng.uniform([-50, -30], [50, 30], size=(GAMES, 1, PLAYERS, 2))
    return start + np.cumsum(steps, axis=1)  # (games, frames, players, 2) metres


def reference_totals(frames: np.ndarray) -> dict[tuple[int, int], float]:
    totals: dict[tuple[int, int], float] = {}
    for g in range(GAMES):
        for p in range(PLAYERS):
            total = 0.0
            px, py = frames[g, 0, p]
            for f in range(1, FRAMES):
                x, y = frames[g, f, p]
                total += math.hypot(x - px, y - py)
                px, py = x, y
            totals[(g, p)] = total
    return totals


def peer_workload(frames: np.ndarray) -> dict[str, Any]:
    app = App()

    @app.function(stream("tracking", key="game_id"), batch_size=100)
    async def kinematics(events: list[Any], ctx: Any) -> None:
        by_game: dict[str, list[np.ndarray]] = {}
        for e in events:
            by_game.setdefault(e.key, []).append(e.value["xy"])
        for game, xys in by_game.items():
            xy = np.stack(xys)  # (frames, players, 2)
            prev = ctx.state.get(("prev", game))
            seq = xy if prev is None else np.concatenate((prev[None], xy))
            step = np.hypot(*np.moveaxis(np.diff(seq, axis=0), -1, 0))  # (frames-1, players)
            speed = step * FPS  # m/s, kept per frame as a real kinematics function would
            ctx.state[("speed", game)] = speed[-1] if len(speed) else np.zeros(PLAYERS)
            ctx.state[("dist", game)] = ctx.state.get(("dist", game), 0.0) + step.sum(axis=0)
            ctx.state[("prev", game)] = xy[-1]

    payloads = [
        ({"game_id": f"g{g}", "frame": f, "xy": frames[g, f]}, f"g{g}")
        for f in range(FRAMES)
        for g in range(GAMES)
    ]

    async def main() -> float:
        async with app:
            await app.drain(5)
            started = time.perf_counter()
            publish = app.publish
            for value, key in payloads:
                publish("tracking", value, key=key)
            await app.drain(120)
            return time.perf_counter() - started

    elapsed = asyncio.run(main())
    reference = reference_totals(frames)
    worst = 0.0
    for g in range(GAMES):
        dist = app.state_backend.get("kinematics", ("dist", f"g{g}"))
        for p in range(PLAYERS):
            worst = max(worst, abs(dist[p] - reference[(g, p)]) / reference[(g, p)])
    records = GAMES * PLAYERS * FRAMES
    return {
        "records": records,
        "events": GAMES * FRAMES,
        "event_shape": "one frame per game per event (22 player records)",
        "seconds": elapsed,
        "records_per_s": records / elapsed,
        "max_relative_error_vs_reference": float(worst),
        "totals_match": bool(worst < 1e-9),
    }


def cold_starts(n: int) -> dict[str, float]:
    async def main() -> dict[str, float]:
        started = time.perf_counter()
        first = ProcessInstance(noop, empty_init)
        await first.start()
        server_ms = (time.perf_counter() - started) * 1000.0
        await first.stop()
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            inst = ProcessInstance(noop, empty_init)
            await inst.start()
            samples.append((time.perf_counter() - t0) * 1000.0)
            await inst.stop()
        return {
            "cold_start_ms_p50": float(np.percentile(samples, 50)),
            "cold_start_ms_p99": float(np.percentile(samples, 99)),
            "fork_server_start_ms": server_ms,
            "cold_start_samples": n,
        }

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    frames = make_frames()
    # One pass takes ~70 ms, short enough for GC and frequency noise to move it by a third:
    # report the median of several passes (each on a fresh App), and every pass.
    runs = [peer_workload(frames) for _ in range(1 if args.quick else 7)]
    runs.sort(key=lambda r: r["records_per_s"])
    peer = runs[len(runs) // 2]
    peer["records_per_s_all_runs"] = [round(r["records_per_s"]) for r in runs]
    result = {
        "benchmark": "runtime",
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        # Median of three runs each: this machine's speed varies from run to run.
        "overhead_us_per_event": {
            "batch_1": statistics.median(overhead_us(1, 100_000 // scale) for _ in range(3)),
            "batch_100": statistics.median(overhead_us(100, 200_000 // scale) for _ in range(3)),
        },
        "peer_workload_records_per_s": peer["records_per_s"],
        "peer_workload": peer,
        **cold_starts(50 // scale if scale > 1 else 50),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
