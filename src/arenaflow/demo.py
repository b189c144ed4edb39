"""The embedded demo: simulated games through the runtime, with a live terminal table.

A small stand-in for the full sports pipeline: random-walk players at 25 Hz, a stream function that
keeps each player's distance and top speed in keyed state, and a one-second scheduled aggregate.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from rich.console import Group
from rich.live import Live
from rich.table import Table

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.triggers import schedule, stream

FPS = 25.0
PLAYERS = 22


def build_app() -> App:
    app = App()

    @app.function(stream("tracking", key="game_id"), batch_size=50, max_batching_window_ms=2)
    async def kinematics(events: list[Event], ctx: Context) -> None:
        """Speed (m/s) and distance (m) per player from consecutive positions."""
        for event in events:
            frame = event.value
            game = frame["game_id"]
            xy = frame["xy"]
            prev = ctx.state.get(("prev", game))
            if prev is not None:
                step = np.hypot(*(xy - prev).T)
                speed = np.minimum(step * FPS, 12.0)  # 12 m/s cap on implausible jumps
                dist = ctx.state.get(("dist", game), np.zeros(PLAYERS)) + speed / FPS
                top = np.maximum(ctx.state.get(("top", game), np.zeros(PLAYERS)), speed)
                ctx.state[("dist", game)] = dist
                ctx.state[("top", game)] = top
            ctx.state[("prev", game)] = xy

    @app.function(schedule("1s"))
    async def leaderboard(events: list[Event], ctx: Context) -> None:
        ctx.publish("leaderboard", {"at": time.time()})

    return app


def _table(app: App, games: int) -> Group:
    runtime = Table(title="arenaflow runtime", expand=True)
    for col in ("function", "invocations", "events", "errors", "cold", "p50 ms", "p99 ms", "lag"):
        runtime.add_column(col, justify="right")
    for name in app.functions:
        m = app.metrics(name)
        runtime.add_row(
            name,
            f"{m.invocations:,}",
            f"{m.events:,}",
            str(m.errors),
            str(m.cold_starts),
            f"{m.duration_ms_p50:.3f}",
            f"{m.duration_ms_p99:.3f}",
            str(m.lag),
        )
    players = Table(title="top speeds (m/s) and distance (m)", expand=True)
    for col in ("game", "player", "top speed", "distance"):
        players.add_column(col, justify="right")
    state = app.state_backend
    for g in range(games):
        top = state.get("kinematics", ("top", f"g{g}"))
        dist = state.get("kinematics", ("dist", f"g{g}"))
        if top is None:
            continue
        best = int(np.argmax(top))
        players.add_row(f"g{g}", f"#{best + 1}", f"{top[best]:.2f}", f"{dist[best]:.1f}")
    return Group(runtime, players)


async def run_demo(games: int = 4, duration_s: float | None = 30.0, seed: int = 7) -> App:
    """Run the demo for ``duration_s`` seconds (None: until cancelled)."""
    app = build_app()
    rng = np.random.default_rng(seed)
    pos = rng.uniform([-50, -32], [50, 32], size=(games, PLAYERS, 2))
    vel = np.zeros_like(pos)
    started = time.monotonic()
    frame = 0
    async with app:
        with Live(_table(app, games), refresh_per_second=4) as live:
            while duration_s is None or time.monotonic() - started < duration_s:
                vel = 0.9 * vel + rng.normal(0, 0.6, vel.shape)
                vel = np.clip(vel, -7.5, 7.5)
                pos = np.clip(pos + vel / FPS, [-52.5, -34], [52.5, 34])
                for g in range(games):
                    payload: dict[str, Any] = {
                        "game_id": f"g{g}",
                        "frame": frame,
                        "xy": pos[g].copy(),
                    }
                    await app.publish("tracking", payload)
                frame += 1
                if frame % 5 == 0:
                    live.update(_table(app, games))
                await asyncio.sleep(max(0.0, started + frame / FPS - time.monotonic()))
            await app.drain(timeout=10)
            live.update(_table(app, games))
    return app
