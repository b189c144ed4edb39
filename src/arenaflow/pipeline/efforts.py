"""Stage 3, ``efforts``: speed bands, efforts, metabolic power, heatmaps, shape and live speed.

Consumes each game's :class:`~arenaflow.pipeline.kinematics.KinematicsFrame` and:

* feeds an :class:`~arenaflow.analytics.efforts.EffortTracker` (time and distance per speed band,
  high-speed, sprint, acceleration and deceleration efforts with their minimum durations) and a
  :class:`~arenaflow.analytics.heatmap.HeatmapTracker`, every frame;
* publishes each player's live ``speed`` at ``live_hz`` and every completed effort as it ends
  (``sprint`` with its peak speed, and the running ``sprints`` count), plus the ball carrier's
  "shot from here" probability (``xg_from_here``);
* keeps the live table current (top speed, distance, band distances, metabolic power).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from arenaflow.analytics.efforts import EffortTracker
from arenaflow.analytics.heatmap import HeatmapTracker
from arenaflow.analytics.metabolic import metabolic_power_wkg
from arenaflow.analytics.xg import from_here_xg
from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.kinematics import KINEMATICS_TOPIC, KinematicsFrame
from arenaflow.pipeline.live import GameLive, LiveTable
from arenaflow.sports import topics
from arenaflow.sports.fields import Field
from arenaflow.sports.schemas import MetricUpdate
from arenaflow.triggers import stream

FloatArray = NDArray[np.float64]
#: Index of the high-speed bands (> 5.5 m/s: high-speed running and sprinting) in the bands.
_HSR_BANDS = slice(3, None)


def attacks_positive_x(xy_m: FloatArray, teams: Sequence[str], team: str, field: Field) -> bool:
    """Which goal ``team`` attacks, from positions alone: the team whose rearmost player (its
    goalkeeper, in practice) is nearer the -x goal line defends it and so attacks +x."""
    mine = np.fromiter((t == team for t in teams), dtype=bool, count=len(teams))
    if not mine.any():
        return True
    x = xy_m[mine, 0]
    return bool(x.min() + field.half_length_m <= field.half_length_m - x.max())


@dataclass(slots=True)
class _Game:
    """Per-game trackers of this stage."""

    efforts: EffortTracker
    heatmap: HeatmapTracker
    top: dict[str, float] = field(default_factory=dict)
    sprints: dict[str, int] = field(default_factory=dict)
    last_emit_t: float = -1e300


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    period_s = 1.0 / config.live_hz
    games: dict[str, _Game] = {}

    @app.function(
        stream(KINEMATICS_TOPIC, key="game_id"),
        name="efforts",
        batch_size=config.batch_size,
    )
    async def efforts(events: list[Event], ctx: Context) -> None:
        for event in events:
            k: KinematicsFrame = event.value
            g = games.get(k.game_id)
            if g is None:
                g = games[k.game_id] = _Game(EffortTracker(), HeatmapTracker(config.field))
            speed = np.nan_to_num(k.speed_mps)
            accel = np.nan_to_num(k.accel_mps2)
            done = g.efforts.update(k.timestamp, k.ids, speed, accel)
            g.heatmap.update(k.timestamp, k.ids, k.xy_m)
            for effort in done:
                if effort.kind != "sprint":
                    continue
                count = g.sprints.get(effort.player_id, 0) + 1
                g.sprints[effort.player_id] = count
                ctx.publish(
                    topics.METRICS,
                    _update(k, effort.player_id, "sprint", effort.peak, "m/s"),
                    k.game_id,
                )
                ctx.publish(
                    topics.METRICS, _update(k, effort.player_id, "sprints", count, "1"), k.game_id
                )
            top = g.top
            for athlete, v in zip(k.ids, speed.tolist(), strict=True):
                if v > top.get(athlete, 0.0):
                    top[athlete] = v
            if k.timestamp - g.last_emit_t >= period_s:
                g.last_emit_t = k.timestamp
                _emit_live(ctx, k, speed, accel, g, live.game(k.game_id), config.field)


def _update(
    k: KinematicsFrame, athlete: str, metric: str, value: float, unit: str, team: str | None = None
) -> MetricUpdate:
    return MetricUpdate(
        game_id=k.game_id,
        subject_id=athlete,
        metric=metric,
        value=float(value),
        unit=unit,
        timestamp=k.timestamp,
        frame=k.frame,
        team=team,
    )


def _emit_live(
    ctx: Context,
    k: KinematicsFrame,
    speed: FloatArray,
    accel: FloatArray,
    g: _Game,
    game: GameLive,
    field: Field,
) -> None:
    """Live speed of every player, the carrier's shot-from-here, and the live table."""
    power = metabolic_power_wkg(speed, accel)
    game.frame, game.timestamp, game.period = k.frame, k.timestamp, k.period
    game.ball_owner = k.ball_owner
    for i, (athlete, team) in enumerate(zip(k.ids, k.teams, strict=True)):
        v = float(speed[i])
        ctx.publish(topics.METRICS, _update(k, athlete, "speed", v, "m/s", team), k.game_id)
        p = game.player(athlete)
        p.team = team
        p.speed_mps = v
        p.top_speed_mps = g.top.get(athlete, 0.0)
        p.distance_m = (
            float(k.distance_m[i]) if k.distance_m[i] == k.distance_m[i] else p.distance_m
        )
        p.hsr_distance_m = float(g.efforts.distance_in_bands_m(athlete)[_HSR_BANDS].sum())
        p.sprints = g.sprints.get(athlete, 0)
        p.metabolic_power_w_per_kg = float(power[i]) if power[i] == power[i] else 0.0
        p.updated_at = k.timestamp
    if k.ball_owner is not None and k.ball_owner in k.ids:
        i = k.ids.index(k.ball_owner)
        team = k.teams[i]
        xy = np.asarray(k.xy_m, dtype=np.float64)
        positive = attacks_positive_x(xy, k.teams, team, field)
        xg = float(from_here_xg([xy[i, 0]], [xy[i, 1]], field, positive)[0])
        game.player(k.ball_owner).xg_from_here = xg
        ctx.publish(
            topics.METRICS, _update(k, k.ball_owner, "xg_from_here", xg, "1", team), k.game_id
        )
