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

import zlib
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


class FromHereGrid:
    """The location-only xG model tabulated on a 0.25 m grid of the field: a lookup instead of
    a spline evaluation (~200 us) per ball carrier per live update."""

    STEP_M = 0.25

    def __init__(self, field: Field) -> None:
        self.field = field
        self._nx = round(field.length_m / self.STEP_M) + 1
        self._ny = round(field.width_m / self.STEP_M) + 1
        xs = np.linspace(-field.half_length_m, field.half_length_m, self._nx)
        ys = np.linspace(-field.half_width_m, field.half_width_m, self._ny)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        self._table = from_here_xg(gx.ravel(), gy.ravel(), field).reshape(self._nx, self._ny)

    def __call__(self, x_m: float, y_m: float, attacks_positive_x: bool) -> float:
        if not attacks_positive_x:
            x_m = -x_m
        i = round((x_m + self.field.half_length_m) / self.STEP_M)
        j = round((y_m + self.field.half_width_m) / self.STEP_M)
        return float(self._table[min(max(i, 0), self._nx - 1), min(max(j, 0), self._ny - 1)])


@dataclass(slots=True)
class _Game:
    """Per-game trackers of this stage."""

    efforts: EffortTracker
    heatmap: HeatmapTracker
    top: dict[str, float] = field(default_factory=dict)
    sprints: dict[str, int] = field(default_factory=dict)
    last_emit_t: float = -1e300
    #: (period, team) -> attacks +x; a team keeps its direction for a period.
    directions: dict[tuple[int, str], bool] = field(default_factory=dict)


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    period_s = 1.0 / config.live_hz
    games: dict[str, _Game] = {}
    # Tabulated at start-up, not on the first live update (about 0.2 s of spline evaluation).
    grids: dict[Field, FromHereGrid] = {config.field: FromHereGrid(config.field)}

    def from_here(field: Field) -> FromHereGrid:
        grid = grids.get(field)
        if grid is None:
            grid = grids[field] = FromHereGrid(field)
        return grid

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
                # Stagger the games' live updates over the frames of a period, so that games
                # started together do not all publish on the same frame.
                g.last_emit_t = k.timestamp - period_s * (zlib.crc32(k.game_id.encode()) % 8) / 8
            speed = _zero_nan(k.speed_mps)
            accel = _zero_nan(k.accel_mps2)
            done = g.efforts.update(k.timestamp, k.ids, speed, accel)
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
                # Occupancy is time-weighted, so sampling positions at the live rate gives the
                # same heatmap as every frame to within a cell change, at a fifth of the cost.
                g.heatmap.update(k.timestamp, k.ids, k.xy_m)
                _emit_live(ctx, k, speed, accel, g, live.game(k.game_id), from_here(config.field))


def _zero_nan(values: FloatArray) -> FloatArray:
    """A copy with NaN (a player without a speed yet) as 0, cheaper than ``np.nan_to_num``."""
    out = np.array(values, dtype=np.float64)
    out[np.isnan(out)] = 0.0
    return out


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
    xg_from_here: FromHereGrid,
) -> None:
    """Live speed of every player, the carrier's shot-from-here, and the live table."""
    power = _zero_nan(metabolic_power_wkg(speed, accel))
    hsr = g.efforts.distances_in_bands_m(k.ids)[:, _HSR_BANDS].sum(axis=1).tolist()
    distance = k.distance_m.tolist()
    game.frame, game.timestamp, game.period = k.frame, k.timestamp, k.period
    game.ball_owner = k.ball_owner
    for i, (athlete, team) in enumerate(zip(k.ids, k.teams, strict=True)):
        v = float(speed[i])
        ctx.publish(topics.METRICS, _update(k, athlete, "speed", v, "m/s", team), k.game_id)
        p = game.player(athlete)
        p.team = team
        p.speed_mps = v
        p.top_speed_mps = g.top.get(athlete, 0.0)
        if distance[i] == distance[i]:  # NaN for a player without a segment yet
            p.distance_m = distance[i]
        p.hsr_distance_m = hsr[i]
        p.sprints = g.sprints.get(athlete, 0)
        p.metabolic_power_w_per_kg = float(power[i])
        p.updated_at = k.timestamp
    if k.ball_owner is not None and k.ball_owner in k.ids:
        i = k.ids.index(k.ball_owner)
        team = k.teams[i]
        xy = np.asarray(k.xy_m, dtype=np.float64)
        direction = g.directions.get((k.period, team))
        if direction is None:
            direction = attacks_positive_x(xy, k.teams, team, xg_from_here.field)
            g.directions[(k.period, team)] = direction
        xg = xg_from_here(float(xy[i, 0]), float(xy[i, 1]), direction)
        game.player(k.ball_owner).xg_from_here = xg
        ctx.publish(
            topics.METRICS, _update(k, k.ball_owner, "xg_from_here", xg, "1", team), k.game_id
        )
