"""``tracking``: validation, kinematics, efforts and live metrics of every game in one pass.

Per batch of tracking frames the function takes rounds (a round holds at most one frame per game,
in each game's order) and for each round:

1. validates every object of the round at once (:mod:`.normalise`): impossible objects are
   removed, counted and dead-lettered with the reason; the rest of the frame goes on;
2. advances every player of every game in one vectorised step of a
   :class:`~arenaflow.analytics.kinematics.KinematicsBank` (the causal filter: speed,
   acceleration, distance; each game keeps its own clock, frame order and redelivery guard);
3. feeds speed and acceleration to one :class:`~arenaflow.analytics.efforts.EffortTracker`
   shared by all games through rows (bands, high-speed, sprint, acceleration and deceleration
   efforts with their minimum durations), and publishes each completed sprint with its peak
   speed and the running ``sprints`` count;
4. at ``live_hz`` per game (staggered between games), publishes each player's live ``speed``,
   the ball carrier's "shot from here" probability (``xg_from_here``), samples the heatmaps and
   refreshes the live table (top speed, distance, high-speed distance, metabolic power).

Why one function and not three chained ones: each hop between functions costs a publish, a
dispatch and an invocation per frame, and numpy's per-call cost dominates a single game's
frame (22 players); across a round of 300 games the same calls do 300 times the work.
Throughput is in ``benchmarks/pipeline.py``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from arenaflow.analytics.efforts import Effort, EffortTracker
from arenaflow.analytics.heatmap import HeatmapTracker
from arenaflow.analytics.kinematics import KinematicsBank
from arenaflow.analytics.metabolic import metabolic_power_wkg
from arenaflow.analytics.xg import from_here_xg
from arenaflow.app import App
from arenaflow.context import Context
from arenaflow.events import Event
from arenaflow.pipeline.config import PipelineConfig
from arenaflow.pipeline.live import GameLive, LiveTable, PlayerLive
from arenaflow.pipeline.normalise import DLQ_TOPIC, NOT_PLAYERS, CheckedRound, check_round
from arenaflow.pipeline.normalise import duplicates as duplicate_ids
from arenaflow.runtime.dead_letter import invalid_input
from arenaflow.sports import topics
from arenaflow.sports.fields import Field
from arenaflow.sports.schemas import MetricUpdate, TrackingFrame
from arenaflow.triggers import stream

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
#: Index of the high-speed bands (> 5.5 m/s: high-speed running and sprinting) in the bands.
_HSR_BANDS = slice(3, None)
#: Per player at a live update: speed, top speed, distance, HSR distance, sprints, power.
_LiveValues = Iterator[tuple[float, float, float, float, int, float]]


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
class _Layout:
    """A frame layout of one game (its object ids in order): which objects are players, their
    rows in the trackers, and their live-table entries. Feeds repeat their layout frame after
    frame, so it is worked out once per change (a substitution, a dropout)."""

    key: tuple[str, ...]
    players: IntArray  # positions of the players among the frame's objects
    rows: IntArray
    ids: list[str]
    teams: list[str]
    live: list[PlayerLive]


@dataclass(slots=True)
class _Game:
    index: int  # in the kinematics bank
    live: GameLive
    rows: IntArray  # every row of the game, for a restarted clock
    layout: _Layout | None = None
    last_ts: float = -np.inf
    next_emit_t: float = np.inf
    #: (period, team) -> attacks +x; a team keeps its direction for a period.
    directions: dict[tuple[int, str], bool] = field(default_factory=dict)


@dataclass(slots=True)
class _Accepted:
    game: _Game
    frame: TrackingFrame
    layout: _Layout
    start: int  # where the frame's objects start in the round's array
    t: float  # the bank's time of the frame


class _Tracking:
    """State of the function: the shared trackers and per-row running figures."""

    def __init__(self, config: PipelineConfig, live: LiveTable) -> None:
        self.config = config
        self.live = live
        self.period_s = 1.0 / config.live_hz
        self.bank = KinematicsBank(config.window_frames, config.speed_cap_mps)
        self.efforts = EffortTracker()
        self.heatmap = HeatmapTracker(config.field)
        # Tabulated at start-up, not on the first live update (about 0.2 s of splines).
        self.xg_from_here = FromHereGrid(config.field)
        self.games: dict[str, _Game] = {}
        self.row_game: list[_Game] = []
        self.top = np.zeros(0)
        self.sprints = np.zeros(0, dtype=np.int64)
        #: The invocation's live-table updates, in order: a player's live figures or, from a
        #: sprint, its count. Applied once the invocation's outputs landed (``take_pending``).
        self.pending: list[tuple[PlayerLive, tuple[float, ...] | int]] = []
        live.distance_source = self.distance_m

    def take_pending(self) -> Callable[[], None] | None:
        """What applies this invocation's live-table updates: the 1 Hz aggregate publishes the
        table, and a figure of an invocation whose commit never landed would be contradicted
        (a cumulative value going down) by the process that takes the partition over."""
        if not self.pending:
            return None
        pending, self.pending = self.pending, []

        def landed() -> None:
            for p, update in pending:
                if isinstance(update, int):
                    p.sprints = max(p.sprints, update)
                    continue
                v, top, distance, hsr, sprints, power, ts = update
                p.speed_mps = v
                p.top_speed_mps = top
                p.distance_m = distance
                p.hsr_distance_m = hsr
                p.sprints = int(sprints)
                p.metabolic_power_w_per_kg = power
                p.updated_at = ts

        return landed

    def distance_m(self, game_id: str, athlete_id: str) -> float:
        game = self.games.get(game_id)
        if game is None:
            return 0.0
        row = self.bank.row_of(game.index, athlete_id)
        return 0.0 if row is None else float(self.bank.distance(np.array([row]))[0])

    # -- one round ----------------------------------------------------------------------------
    def round(self, items: Sequence[tuple[Event, TrackingFrame]], ctx: Context) -> None:
        checked = check_round([f for _, f in items], self.config)
        accepted: list[_Accepted] = []
        for i, (event, frame) in enumerate(items):
            reason = checked.bad_frames.get(i)
            if reason is not None:
                self.live.counters.rejected_frames += 1
                ctx.publish(DLQ_TOPIC, invalid_input("tracking", event, frame, reason))
                continue
            game = self._game(frame.game_id)
            layout = self._layout(game, i, event, frame, checked, ctx)
            t = self.bank.accept(game.index, frame.frame, frame.timestamp)
            if t is None:
                self.live.counters.stale_frames += 1
                continue
            if frame.timestamp < game.last_ts:  # the clock restarted: nothing spans it
                self._publish_sprints(self.efforts.restart_rows(game.rows), ctx)
                self.heatmap.restart_rows(game.rows)
                game.last_ts = -np.inf
            if game.last_ts == -np.inf:
                # Each game publishes on its own phase of the live period (from its id), so
                # that games started together spread their updates evenly over the frames.
                share = (zlib.crc32(frame.game_id.encode()) % 1000) / 1000
                game.next_emit_t = frame.timestamp + self.period_s * share
            game.last_ts = frame.timestamp
            accepted.append(_Accepted(game, frame, layout, checked.starts[i], t))
        if accepted:
            self._advance(accepted, checked, ctx)

    def _advance(self, accepted: list[_Accepted], checked: CheckedRound, ctx: Context) -> None:
        counts = [a.layout.rows.size for a in accepted]
        rows = np.concatenate([a.layout.rows for a in accepted])
        objects = np.concatenate([a.layout.players for a in accepted])
        xy = checked.xy_m[objects + np.repeat([a.start for a in accepted], counts)]
        ts = np.repeat([a.frame.timestamp for a in accepted], counts)
        out = self.bank.step(rows, np.repeat([a.t for a in accepted], counts), xy)
        speed = np.nan_to_num(out.speed_mps)  # NaN: a player without a speed yet
        accel = np.nan_to_num(out.accel_mps2)
        self._publish_sprints(self.efforts.update_rows(ts, rows, speed, accel), ctx)
        self.top[rows] = np.maximum(self.top[rows], speed)
        due = [k for k, a in enumerate(accepted) if a.frame.timestamp >= a.game.next_emit_t]
        if not due:
            return
        bounds = np.cumsum([0, *counts])
        if len(due) == len(accepted):
            at: slice | IntArray = slice(None)
        else:
            at = np.concatenate([np.arange(bounds[k], bounds[k + 1]) for k in due])
        due_rows = rows[at]
        # Occupancy is time-weighted, so sampling positions at the live rate gives the same
        # heatmap as every frame to within a cell change, at a fifth of the cost.
        self.heatmap.update_rows(ts[at], due_rows, xy[at])
        power = np.nan_to_num(metabolic_power_wkg(speed[at], accel[at])).tolist()
        hsr = self.efforts.row_distances_in_bands_m(due_rows)[:, _HSR_BANDS].sum(axis=1).tolist()
        values: _LiveValues = zip(
            speed[at].tolist(),
            self.top[due_rows].tolist(),
            out.distance_m[at].tolist(),
            hsr,
            self.sprints[due_rows].tolist(),
            power,
            strict=True,
        )
        for k in due:
            a = accepted[k]
            self._emit_live(a, values, xy[bounds[k] : bounds[k + 1]], ctx)

    def _emit_live(self, a: _Accepted, values: _LiveValues, xy: FloatArray, ctx: Context) -> None:
        """Live speed of each player, the carrier's shot-from-here, and the live table."""
        frame, game, layout = a.frame, a.game, a.layout
        # The next one on the game's grid: capture jitter must not drift the phases of the
        # games together; after a gap the grid starts again from this frame.
        game.next_emit_t += self.period_s
        if game.next_emit_t <= frame.timestamp:
            game.next_emit_t = frame.timestamp + self.period_s
        live = game.live
        live.frame, live.timestamp, live.period = frame.frame, frame.timestamp, frame.period
        live.ball_owner = frame.ball_owner
        game_id, ts, number = frame.game_id, frame.timestamp, frame.frame
        updates = []
        pending = self.pending
        replaying = ctx.replaying  # rebuilding memory after a takeover: outputs are dropped
        for athlete, team, p in zip(layout.ids, layout.teams, layout.live, strict=True):
            v, top, distance, hsr, sprints, power = next(values)
            pending.append((p, (v, top, distance, hsr, sprints, power, ts)))
            if replaying:
                continue
            updates.append(
                MetricUpdate(
                    game_id=game_id,
                    subject_id=athlete,
                    metric="speed",
                    value=v,
                    unit="m/s",
                    timestamp=ts,
                    frame=number,
                    team=team,
                )
            )
        owner = frame.ball_owner
        if owner is not None and owner in layout.ids:
            i = layout.ids.index(owner)
            team = layout.teams[i]
            direction = game.directions.get((frame.period, team))
            if direction is None:
                direction = attacks_positive_x(xy, layout.teams, team, self.config.field)
                game.directions[(frame.period, team)] = direction
            xg = self.xg_from_here(float(xy[i, 0]), float(xy[i, 1]), direction)
            layout.live[i].xg_from_here = xg
            if replaying:
                return
            updates.append(
                MetricUpdate(
                    game_id=game_id,
                    subject_id=owner,
                    metric="xg_from_here",
                    value=xg,
                    unit="1",
                    timestamp=ts,
                    frame=number,
                    team=team,
                )
            )
        if updates:
            ctx.publish_many(topics.METRICS, updates, game_id)

    def _publish_sprints(self, done: list[tuple[int, Effort]], ctx: Context) -> None:
        for row, effort in done:
            if effort.kind != "sprint":
                continue
            game = self.row_game[row]
            self.sprints[row] += 1
            athlete, t = effort.player_id, effort.end_s
            player = game.live.player(athlete)
            # The count goes out now: the live table (the 1 Hz aggregate's source, refreshed at
            # live_hz) must not say less once it has landed.
            self.pending.append((player, int(self.sprints[row])))
            if ctx.replaying:
                continue
            team = player.team or None
            for metric, value, unit in (
                ("sprint", effort.peak, "m/s"),
                ("sprints", float(self.sprints[row]), "1"),
            ):
                ctx.publish(
                    topics.METRICS,
                    MetricUpdate(
                        game_id=game.live.game_id,
                        subject_id=athlete,
                        metric=metric,
                        value=float(value),
                        unit=unit,
                        timestamp=t,
                        team=team,
                    ),
                    game.live.game_id,
                )

    # -- games and layouts --------------------------------------------------------------------
    def _game(self, game_id: str) -> _Game:
        game = self.games.get(game_id)
        if game is None:
            game = _Game(self.bank.game(game_id), self.live.game(game_id), np.zeros(0, np.intp))
            self.games[game_id] = game
        return game

    def _layout(
        self,
        game: _Game,
        i: int,
        event: Event,
        frame: TrackingFrame,
        checked: CheckedRound,
        ctx: Context,
    ) -> _Layout:
        objects = frame.objects
        key = tuple([o.id for o in objects])
        layout = game.layout
        if checked.clean[i] and layout is not None and layout.key == key:
            return layout
        bad = checked.bad_objects.get(i, [])
        removed = {id(obj) for obj, _ in bad}
        bad += duplicate_ids([o for o in objects if id(o) not in removed])
        for obj, reason in bad:
            self.live.counters.rejected_objects += 1
            ctx.publish(DLQ_TOPIC, invalid_input("tracking", event, obj, reason))
        removed |= {id(obj) for obj, _ in bad}
        players = [
            j for j, o in enumerate(objects) if o.team not in NOT_PLAYERS and id(o) not in removed
        ]
        ids = [objects[j].id for j in players]
        teams = [objects[j].team for j in players]
        layout = _Layout(
            key,
            np.array(players, dtype=np.intp),
            self._rows(game, ids),
            ids,
            teams,
            [game.live.player(athlete) for athlete in ids],
        )
        for p, team in zip(layout.live, teams, strict=True):
            p.team = team
        if not bad:  # a layout with bad objects is this frame's alone
            game.layout = layout
        return layout

    def _rows(self, game: _Game, ids: list[str]) -> IntArray:
        before = self.bank.row_count
        rows = self.bank.rows(game.index, ids)
        added = self.bank.row_count - before
        if added:
            new = [
                athlete for athlete, row in zip(ids, rows.tolist(), strict=True) if row >= before
            ]
            assert self.efforts.add_rows(new)[0] == before  # the trackers share row numbers
            self.heatmap.add_rows(added)
            self.row_game += [game] * added
            self.top = np.concatenate([self.top, np.zeros(added)])
            self.sprints = np.concatenate([self.sprints, np.zeros(added, dtype=np.int64)])
            game.rows = np.concatenate([game.rows, np.arange(before, before + added)])
        return rows


def register(app: App, config: PipelineConfig, live: LiveTable) -> None:
    state = _Tracking(config, live)

    @app.function(
        stream(topics.TRACKING, key="game_id", schema=TrackingFrame),
        name="tracking",
        batch_size=config.batch_size,
        on_failure=DLQ_TOPIC,
        replay_on_takeover=True,  # the kinematics, efforts and live table live in memory
    )
    async def tracking(events: list[Event], ctx: Context) -> None:
        # Rounds: the n-th frame of every game in the batch, so each game stays in order.
        rounds: list[list[tuple[Event, TrackingFrame]]] = []
        depth: dict[str, int] = {}
        for event in events:
            frame: TrackingFrame = event.value
            d = depth.get(frame.game_id, 0)
            depth[frame.game_id] = d + 1
            if d == len(rounds):
                rounds.append([])
            rounds[d].append((event, frame))
        try:
            for items in rounds:
                state.round(items, ctx)
        finally:
            landed = state.take_pending()  # a failed try's are dropped with its outputs
        if landed is not None:
            ctx.on_commit(landed)
