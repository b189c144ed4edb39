"""Source benchmark: the simulator's generation cost, and the pump's throughput. Prints JSON.

    .venv/bin/python benchmarks/sources.py [--quick]

* ``simulator``: wall time to generate items (tracking frames at 25 Hz plus heart rates at 10 Hz
  per athlete, passes, shots) for N concurrent football games, per tracking frame and as a
  real-time factor (seconds of play generated per wall second on one core; >= 1 keeps up live).
  ``cpu_us_per_frame`` is process CPU time (steadier than wall time on a shared machine);
  ``core_share_live`` the fraction of one core the simulator takes when it runs live (speed 1).
  ``step_share`` is the part spent in the vectorised game step (the rest builds the structs).
* ``pump_items_per_s``: items put on the memory transport as fast as possible (no consumer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from typing import Any

from arenaflow import App, Settings
from arenaflow.sports.sources import Simulator, pump
from arenaflow.sports.sources.gameplay import Games


def simulate(games: int, seconds: float, hr_hz: float = 10.0) -> dict[str, Any]:
    sim = Simulator("football", games=games, seed=1, hr_hz=hr_hz)
    step_time = 0.0
    original = Games.step

    def timed(self: Games, *args: Any) -> None:
        nonlocal step_time
        t = time.perf_counter()
        original(self, *args)
        step_time += time.perf_counter() - t

    Games.step = timed  # type: ignore[method-assign]
    try:
        started, cpu = time.perf_counter(), time.process_time()
        items = sum(1 for _ in sim.frames_for(seconds))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        Games.step = original  # type: ignore[method-assign]
    frames = sim.counts["frames"]
    return {
        "games": games,
        "seconds_of_play": seconds,
        "hr_hz": hr_hz,
        "items": items,
        "frames": frames,
        "us_per_frame": round(elapsed / frames * 1e6, 2),
        "cpu_us_per_frame": round(cpu / frames * 1e6, 2),
        "step_share": round(step_time / elapsed, 3),
        "realtime_factor": round(seconds / elapsed, 2),
        "core_share_live": round(cpu / seconds, 3),
    }


def pump_rate(games: int, seconds: float) -> float:
    items = list(Simulator("football", games=games, seed=1).frames_for(seconds))
    app = App(settings=Settings(retention=10_000_000))

    async def main() -> float:
        started = time.perf_counter()
        await pump(app, items, speed=None)
        return len(items) / (time.perf_counter() - started)

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 10.0
    result = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "simulator": [simulate(g, seconds) for g in (1, 10, 100, 300)],
        "simulator_no_hr_300": simulate(300, seconds, hr_hz=0.0),
        "pump_items_per_s": round(pump_rate(20, seconds)),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
