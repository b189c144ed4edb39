"""Store benchmark: raw-frame ingest, and the overlay's queries while a full slate is written.

    .venv/bin/python benchmarks/store.py [--quick] [--backend duckdb|postgres]
                                         [--switch-interval-ms MS]

Prints one JSON object with a section per backend: ``duckdb``, and ``postgres`` at
``postgresql://127.0.0.1:5432/test`` in a throw-away schema (``{"skipped": reason}`` when the
backend or the server is not there). Each opens with the headline numbers (``rows_per_s``,
``query_p50_ms``, ``query_p99_ms``), then:

* ``ingest``: ``write_frames`` of simulated football frames (300 games, generated before the
  clock starts; a few batches of other games first, to warm allocators and connections) in
  batches of 2,000 frames, as the pipeline's archive writer batches them. ``rows_per_s`` is
  wall time of the calls; ``cpu_us_per_row`` process CPU time (every thread: DuckDB's and
  pyarrow's workers too) per row; ``cores_at_300_games`` what 300 games at 25 Hz (172,500
  rows/s) cost at that rate. For DuckDB, ``with_compaction`` adds the compaction of what the
  calls staged (``compact()`` at the end). For PostgreSQL the server's CPU is not counted.
* ``live``: 300 games written in real time by two writer threads (frames at 25 Hz, one batch per
  tick; metric updates at ~60,000/s in batches of up to 2,000) while the main thread runs the
  overlay's queries back to back, 2 ms apart: ``latest`` (a player's newest speed), ``history``
  (his season's top speed, this game excluded: a random player each time, so rarely cached),
  ``compare`` (two players' speed) and ``leaderboard`` (the season's top speeds). A season of
  past games is written first and the store reopened, as on match day. Latencies are wall time
  per query; ``writer_lag_max_ms`` is how far behind real time a writer fell (0: it kept up);
  ``cores_process`` is process CPU over the live phase, ``cores_writers`` the writer threads'.
  The pre-generated objects (millions) are frozen out of the garbage collector, whose pauses
  would otherwise measure them rather than the store.

Timings on a shared machine are noisy: the load average is reported with them. The GIL's
switch interval (Python's default 5 ms) bounds how long a query waits for the writers' Python
code; ``--switch-interval-ms 1`` shows what a gateway process that lowers it gets.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from arenaflow.sports.schemas import MetricUpdate, TrackingFrame
from arenaflow.sports.sources import Simulator
from arenaflow.store.base import Store

GAMES = 300
FPS = 25
BATCH_FRAMES = 2000
BATCH_METRICS = 2000
POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
SPEED_EVERY = 5  # ticks between a player's live speed updates (5 Hz)
CUMULATIVE = ("distance", "hsr_distance", "sprints", "top_speed")  # each at 1 Hz


def simulated_frames(seconds: float, seed: int, start_time: float = 0.0) -> list[TrackingFrame]:
    sim = Simulator("football", games=GAMES, seed=seed, hr_hz=0, start_time=start_time)
    return [v for _, _, v in sim.frames_for(seconds) if isinstance(v, TrackingFrame)]


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "n": int(a.size),
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "max_ms": round(float(a.max()), 3),
    }


# -- ingest ------------------------------------------------------------------------------------
def ingest(store: Store, frames: list[TrackingFrame]) -> dict[str, Any]:
    rows = sum(len(f.objects) for f in frames)
    warmup = [msgspec.structs.replace(f, game_id=f"warmup-{f.game_id}") for f in frames[:4000]]
    for i in range(0, len(warmup), BATCH_FRAMES):  # allocators, caches, connections
        store.write_frames(warmup[i : i + BATCH_FRAMES])
    compact = getattr(store, "compact", None)
    if compact is not None:
        compact()
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(frames), BATCH_FRAMES):
        store.write_frames(frames[i : i + BATCH_FRAMES])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result: dict[str, Any] = {
        "frames": len(frames),
        "rows": rows,
        "batch_frames": BATCH_FRAMES,
        "wall_s": round(wall, 3),
        "rows_per_s": round(rows / wall),
        "cpu_us_per_row": round(cpu / rows * 1e6, 3),
        "cores_at_300_games": round(cpu / rows * GAMES * FPS * 23, 3),
    }
    if compact is not None:
        c_wall, c_cpu = time.perf_counter(), time.process_time()
        compact()
        c_wall, c_cpu = time.perf_counter() - c_wall, time.process_time() - c_cpu
        result["with_compaction"] = {
            "compact_wall_s": round(c_wall, 3),
            "rows_per_s": round(rows / (wall + c_wall)),
            "cpu_us_per_row": round((cpu + c_cpu) / rows * 1e6, 3),
            "cores_at_300_games": round((cpu + c_cpu) / rows * GAMES * FPS * 23, 3),
        }
    return result


# -- live --------------------------------------------------------------------------------------
def metric_ticks(frames: list[list[TrackingFrame]], seed: int) -> list[list[MetricUpdate]]:
    """~60,000 updates/s for 300 games: speed at 5 Hz and four cumulative metrics at 1 Hz."""
    rng = random.Random(seed)
    distance: dict[str, float] = {}
    ticks = []
    for k, tick in enumerate(frames):
        updates = []
        for g, frame in enumerate(tick):
            speed_now, cumulative_now = g % SPEED_EVERY == k % SPEED_EVERY, g % FPS == k % FPS
            if not (speed_now or cumulative_now):
                continue
            for o in frame.objects:
                if o.team == "ball":
                    continue
                speed = rng.uniform(0.0, 9.0)
                if speed_now:
                    updates.append(live_update(frame, o.id, o.team, "speed", speed, "m/s"))
                if cumulative_now:
                    d = distance[o.id] = distance.get(o.id, 0.0) + speed
                    for metric, value, unit in zip(
                        CUMULATIVE, (d, 0.2 * d, d // 100, speed), ("m", "m", "1", "m/s"),
                        strict=True,
                    ):  # fmt: skip
                        updates.append(live_update(frame, o.id, o.team, metric, value, unit))
        ticks.append(updates)
    return ticks


def live_update(
    frame: TrackingFrame, athlete: str, team: str, metric: str, value: float, unit: str
) -> MetricUpdate:
    return MetricUpdate(
        game_id=frame.game_id, subject_id=athlete, metric=metric, value=value, unit=unit,
        timestamp=frame.timestamp, frame=frame.frame, team=team,
    )  # fmt: skip


def season(rounds: int, athletes: list[tuple[str, str]]) -> list[MetricUpdate]:
    """Past games of every athlete: ``rounds`` games each, a few values per metric."""
    rng = random.Random(7)
    out = []
    for r in range(rounds):
        t0 = 1_700_000_000.0 + r * 7 * 86_400.0
        for athlete, game in athletes:
            past = f"r{r}-{game}"
            for i, metric in enumerate(("speed", "top_speed", "distance")):
                for k in range(3):
                    value = rng.uniform(5.0, 9.5) if metric != "distance" else 3000.0 * (k + 1)
                    out.append(
                        MetricUpdate(
                            game_id=past,
                            subject_id=athlete,
                            metric=metric,
                            value=value,
                            unit="m/s",
                            timestamp=t0 + 60.0 * k + i,
                            team="home",
                        )
                    )
    return out


class Writer(threading.Thread):
    """Writes one tick's batches every 1/25 s, catching up when behind."""

    def __init__(self, name: str, ticks: list[Any], write: Callable[[Any], object]) -> None:
        super().__init__(name=name, daemon=True)
        self.ticks, self.write = ticks, write
        self.start_at = 0.0
        self.lag_max_s = 0.0
        self.cpu_s = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        cpu = time.thread_time()
        try:
            for k, tick in enumerate(self.ticks):
                due = self.start_at + k / FPS
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                self.write(tick)
                self.lag_max_s = max(self.lag_max_s, time.perf_counter() - due - 1.0 / FPS)
        except BaseException as exc:
            self.error = exc
        self.cpu_s = time.thread_time() - cpu


def live(store: Store, seconds: float, rounds: int, reopen: Callable[[], Store]) -> dict[str, Any]:
    start_time = time.time()
    frames = simulated_frames(seconds, seed=2, start_time=start_time)
    by_tick: list[list[TrackingFrame]] = [[] for _ in range(round(seconds * FPS))]
    for f in frames:
        by_tick[round((f.timestamp - start_time) * FPS)].append(f)
    updates = metric_ticks(by_tick, seed=3)
    athletes = sorted(
        {(o.id, f.game_id) for f in by_tick[0] for o in f.objects if o.team != "ball"}
    )
    past = season(rounds, athletes)
    for i in range(0, len(past), BATCH_METRICS):
        store.write_metrics(past[i : i + BATCH_METRICS])
    store = reopen()

    def write_metrics(batch: list[MetricUpdate]) -> None:
        for i in range(0, len(batch), BATCH_METRICS):
            store.write_metrics(batch[i : i + BATCH_METRICS])

    writers = [
        Writer("frames", by_tick, store.write_frames),
        Writer("metrics", updates, write_metrics),
    ]
    rng = random.Random(5)

    def pick() -> tuple[str, str, str]:
        a, game = rng.choice(athletes)
        b = f"{game}-{'a' if '-h' in a else 'h'}{rng.randint(1, 11):02d}"
        return game, a, b

    def latest() -> object:
        game, a, _ = pick()
        return store.latest(game, a, "speed")

    def history() -> object:  # "his season average", this game excluded
        game, a, _ = pick()
        return store.history(a, "top_speed", "max", exclude_game=game)

    def compare() -> object:
        game, a, b = pick()
        return store.compare(game, "speed", a, b)

    def leaderboard() -> object:
        return store.leaderboard("top_speed", n=10)

    queries = {"latest": latest, "history": history, "compare": compare, "leaderboard": leaderboard}
    latencies: dict[str, list[float]] = {k: [] for k in queries}
    gc.collect()
    gc.freeze()  # millions of pre-generated objects: GC pauses would measure them, not the store
    load_before = os.getloadavg()[0]
    began, cpu = time.perf_counter(), time.process_time()
    for w in writers:
        w.start_at = began + 0.05
        w.start()
    kinds = list(queries)
    i = 0
    while any(w.is_alive() for w in writers):
        kind = kinds[i % len(kinds)]
        t = time.perf_counter()
        queries[kind]()
        latencies[kind].append((time.perf_counter() - t) * 1e3)
        i += 1
        time.sleep(0.002)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    gc.unfreeze()
    for w in writers:
        if w.error is not None:
            raise w.error
    every = [ms for values in latencies.values() for ms in values]
    overall = percentiles(every)
    return {
        "games": GAMES,
        "seconds": seconds,
        "frames": len(frames),
        "metric_updates": sum(map(len, updates)),
        "metric_updates_per_s": round(sum(map(len, updates)) / seconds),
        "season_updates": len(past),
        "query_p50_ms": overall["p50_ms"],
        "query_p99_ms": overall["p99_ms"],
        "queries": {"all": overall} | {k: percentiles(v) for k, v in latencies.items()},
        "writer_lag_max_ms": {w.name: round(max(w.lag_max_s, 0.0) * 1e3, 1) for w in writers},
        "cores_process": round(cpu / elapsed, 3),
        "cores_writers": round(sum(w.cpu_s for w in writers) / elapsed, 3),
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


# -- backends ----------------------------------------------------------------------------------
def run_duckdb(frames: list[TrackingFrame], live_s: float, rounds: int) -> dict[str, Any]:
    from arenaflow.store.duckdb import DuckDBStore

    root = tempfile.mkdtemp(prefix="arenaflow-bench-")
    try:
        with DuckDBStore(os.path.join(root, "ingest")) as store:
            result = {"ingest": ingest(store, frames)}
        stores = [DuckDBStore(os.path.join(root, "live"))]
        stores[0].open()

        def reopen() -> Store:
            stores[-1].close()
            stores.append(DuckDBStore(os.path.join(root, "live")))
            stores[-1].open()
            return stores[-1]

        try:
            result["live"] = live(stores[0], live_s, rounds, reopen)
        finally:
            stores[-1].close()
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_postgres(frames: list[TrackingFrame], live_s: float, rounds: int) -> dict[str, Any]:
    try:
        import psycopg

        from arenaflow.store.postgres import PostgresStore
    except ImportError as exc:
        return {"skipped": f"the postgres store cannot be imported: {exc}"}
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        return {"skipped": f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}".strip()}
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with PostgresStore(POSTGRES_URL, schema=schema) as store:
            result = {"schema": schema, "ingest": ingest(store, frames)}
        PostgresStore.drop_schema(POSTGRES_URL, schema)
        stores = [PostgresStore(POSTGRES_URL, schema=schema)]
        stores[0].open()

        def reopen() -> Store:
            stores[-1].close()
            stores.append(PostgresStore(POSTGRES_URL, schema=schema))
            stores[-1].open()
            return stores[-1]

        try:
            result["live"] = live(stores[0], live_s, rounds, reopen)
        finally:
            stores[-1].close()
        return result
    finally:
        PostgresStore.drop_schema(POSTGRES_URL, schema)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--backend", choices=["duckdb", "postgres"], action="append")
    parser.add_argument(
        "--switch-interval-ms", type=float, help="the GIL's switch interval (Python's: 5 ms)"
    )
    args = parser.parse_args()
    if args.switch_interval_ms:
        sys.setswitchinterval(args.switch_interval_ms / 1e3)
    ingest_s, live_s, rounds = (2.0, 3.0, 2) if args.quick else (10.0, 20.0, 10)
    frames = simulated_frames(ingest_s, seed=1)
    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "switch_interval_ms": sys.getswitchinterval() * 1e3,
    }
    runners = {"duckdb": run_duckdb, "postgres": run_postgres}
    for name in args.backend or list(runners):
        try:
            section = runners[name](frames, live_s, rounds)
        except Exception as exc:  # a backend that fails still leaves the others' numbers
            section = {"error": f"{type(exc).__name__}: {exc}"}
        if "live" in section:  # the headline numbers first
            ingest, live = section["ingest"], section["live"]
            section = {
                "rows_per_s": ingest["rows_per_s"],
                "query_p50_ms": live["query_p50_ms"],
                "query_p99_ms": live["query_p99_ms"],
            } | section
        result[name] = section
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
