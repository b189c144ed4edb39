"""Stage 2, ``kinematics``: speed, acceleration and distance per player, vectorised per frame.

Each game has a :class:`~arenaflow.analytics.kinematics.KinematicsTracker` (a causal filter that
carries state between frames) kept in the function's keyed state. The tracker is idempotent by
frame number: a frame at or before the game's last one (out of order, or redelivered) is
ignored and counted, so redelivery never double-counts distance. (The tracker is updated in
place, not copied per batch — a copy costs more than the frame — so a batch that fails inside
this function after some frames were applied does not re-emit those frames on its retry.)
"""

from __future__ import annotations

from typing import Any

import msgspec

from arenaflow.analytics.kinematics import KinematicsTracker
from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import LiveTable
from arenaflow.pipeline.normalise import CLEAN_TOPIC, CleanFrame
from arenaflow.triggers import stream

KINEMATICS_TOPIC = "kinematics"


class KinematicsFrame(msgspec.Struct, frozen=True, kw_only=True):
    """One frame's kinematics for every player of a game (an internal pipeline event).

    Arrays are aligned with ``ids``; units: metres, seconds, m/s, m/s^2.
    """

    game_id: str
    frame: int
    timestamp: float
    period: int
    ids: list[str]
    teams: list[str]
    xy_m: Any  # (n, 2) float64
    speed_mps: Any  # (n,)
    accel_mps2: Any  # (n,)
    distance_m: Any  # (n,) cumulative
    ball_xy_m: tuple[float, float] | None = None
    ball_owner: str | None = None


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    @app.function(
        stream(CLEAN_TOPIC, key="game_id"),
        name="kinematics",
        batch_size=config.batch_size,
    )
    async def kinematics(events: list[Event], ctx: Context) -> None:
        working: dict[str, KinematicsTracker] = {}
        for event in events:
            frame: CleanFrame = event.value
            game = frame.game_id
            tracker = working.get(game)
            if tracker is None:
                tracker = ctx.state.get(game)
                if tracker is None:
                    tracker = KinematicsTracker(config.window_frames, config.speed_cap_mps)
                    ctx.state[game] = tracker
                working[game] = tracker
            ids, xy = frame.ids, frame.xy_m
            step = tracker.update(frame.frame, frame.timestamp, ids, xy)
            if step is None:
                live.counters.stale_frames += 1
                continue
            ctx.publish(
                KINEMATICS_TOPIC,
                KinematicsFrame(
                    game_id=game,
                    frame=frame.frame,
                    timestamp=frame.timestamp,
                    period=frame.period,
                    ids=ids,
                    teams=frame.teams,
                    xy_m=xy,
                    speed_mps=step.speed_mps,
                    accel_mps2=step.accel_mps2,
                    distance_m=step.distance_m,
                    ball_xy_m=frame.ball_xy_m,
                    ball_owner=frame.ball_owner,
                ),
                game,
            )
