"""Stage 1, ``normalise``: validate tracking frames, drop what is physically impossible, and turn
each frame into arrays once for every later stage.

Undecodable payloads never get here (the stream trigger's schema sends them to the dead-letter
topic with the decoder's message, naming the field). Here an object with a non-finite position,
one far outside the field or a duplicate id is removed from its frame, counted and dead-lettered
with the reason; the rest of the frame goes on, so one bad detection never costs the good data
around it. A frame with a non-finite timestamp is rejected whole.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np

from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import LiveTable
from arenaflow.runtime.dead_letter import invalid_input
from arenaflow.sports import topics
from arenaflow.sports.schemas import BALL, TrackingFrame
from arenaflow.triggers import stream

CLEAN_TOPIC = "tracking.clean"
DLQ_TOPIC = "normalise.dlq"


class CleanFrame(msgspec.Struct, frozen=True, kw_only=True):
    """A validated frame as arrays: the players (officials left out) and the ball.

    Attributes:
        ids, teams: The players, aligned with the rows of ``xy_m``.
        xy_m: ``(n, 2)`` float64 positions in metres from the centre spot.
        ball_xy_m: The ball's position, when tracked.
    """

    game_id: str
    frame: int
    timestamp: float
    period: int
    ids: list[str]
    teams: list[str]
    xy_m: Any
    ball_xy_m: tuple[float, float] | None = None
    ball_owner: str | None = None


def split(frame: TrackingFrame, config: PipelineConfig) -> tuple[CleanFrame, list[tuple[Any, str]]]:
    """The frame's good objects as a :class:`CleanFrame`, and the bad ones with their reasons."""
    objects = frame.objects
    xy = np.array([(o.x, o.y) for o in objects], dtype=np.float64).reshape(-1, 2)
    ids = [o.id for o in objects]
    half_l = config.field.half_length_m + config.outside_margin_m
    half_w = config.field.half_width_m + config.outside_margin_m
    # NaN compares False and infinity is beyond any limit: one test covers all three.
    ax = np.abs(xy)
    ok = (ax[:, 0] <= half_l) & (ax[:, 1] <= half_w)
    bad: list[tuple[Any, str]] = []
    if not ok.all() or len(set(ids)) != len(ids):
        seen: set[str] = set()
        for i, obj in enumerate(objects):
            if not (math.isfinite(obj.x) and math.isfinite(obj.y)):
                bad.append((obj, "non-finite position"))
            elif not ok[i]:
                bad.append((obj, f"position ({obj.x:.1f}, {obj.y:.1f}) m is outside the field"))
            elif obj.id in seen:
                bad.append((obj, "duplicate object id in the frame"))
            seen.add(obj.id)
        dropped = {id(obj) for obj, _ in bad}
        keep = [i for i, obj in enumerate(objects) if id(obj) not in dropped]
        objects = [objects[i] for i in keep]
        xy = xy[keep]
    ball: tuple[float, float] | None = None
    players = [i for i, o in enumerate(objects) if o.team != BALL and o.team != "officials"]
    if len(players) != len(objects):
        for o in objects:
            if o.team == BALL:
                ball = (o.x, o.y)
        xy = xy[players]
    clean = CleanFrame(
        game_id=frame.game_id,
        frame=frame.frame,
        timestamp=frame.timestamp,
        period=frame.period,
        ids=[objects[i].id for i in players],
        teams=[objects[i].team for i in players],
        xy_m=xy,
        ball_xy_m=ball,
        ball_owner=frame.ball_owner,
    )
    return clean, bad


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    @app.function(
        stream(topics.TRACKING, key="game_id", schema=TrackingFrame),
        name="normalise",
        batch_size=config.batch_size,
        on_failure=DLQ_TOPIC,
    )
    async def normalise(events: list[Event], ctx: Context) -> None:
        for event in events:
            frame: TrackingFrame = event.value
            if not math.isfinite(frame.timestamp):
                live.counters.rejected_frames += 1
                ctx.publish(
                    DLQ_TOPIC, invalid_input("normalise", event, frame, "timestamp is not finite")
                )
                continue
            clean, bad = split(frame, config)
            if bad:
                live.counters.rejected_objects += len(bad)
                for obj, reason in bad:
                    ctx.publish(DLQ_TOPIC, invalid_input("normalise", event, obj, reason))
            ctx.publish(CLEAN_TOPIC, clean, frame.game_id)
