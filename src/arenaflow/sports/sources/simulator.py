"""The built-in source: simulated football or basketball games, deterministic by seed.

The play itself (movement within human limits, possession, passes, shots, heart rates) is in
:mod:`arenaflow.sports.sources.gameplay`; this module turns it into wire objects in capture-time
order and injects faults on request.

Example:
    >>> sim = Simulator(sport="basketball", games=2, seed=7)
    >>> items = list(sim.frames_for(1.0))
    >>> [(topic, key) for topic, key, _ in items[:4]]
    [('game_events', 'g0'), ('game_events', 'g1'), ('tracking', 'g0'), ('tracking', 'g1')]
    >>> frame = items[2][2]
    >>> len(frame.objects), frame.sport, frame.objects[0].id, frame.objects[-1].id
    (11, 'basketball', 'g0-h01', 'ball')
    >>> sim.counts["frames"], sim.counts["samples"]
    (50, 200)
    >>> items == list(Simulator(sport="basketball", games=2, seed=7).frames_for(1.0))
    True
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np

from arenaflow.errors import ConfigError
from arenaflow.sports import topics
from arenaflow.sports.fields import Field
from arenaflow.sports.schemas import (
    BALL,
    BiometricSample,
    EventKind,
    GameEvent,
    Sport,
    TrackedObject,
    TrackingFrame,
)
from arenaflow.sports.sources.faults import FaultInjector, Faults
from arenaflow.sports.sources.gameplay import MODELS, OWNED, Games, PlayEvent
from arenaflow.sports.sources.items import Item

TEAMS = ("home", "away")
#: Spreads the straps' phases evenly over a sample period (the golden-ratio sequence).
_GOLDEN = 0.6180339887498949

__all__ = ["Faults", "Simulator"]


class Simulator:
    """Simulated games as a time-ordered stream of ``(topic, key, value)`` items.

    Items are :class:`TrackingFrame` on ``tracking`` (``fps`` per game, ``ball_owner`` set),
    :class:`GameEvent` on ``game_events`` (passes, shots, goals, period starts and ends) and
    :class:`BiometricSample` on ``biometrics`` (``hr_hz`` per athlete), each keyed by game id,
    in capture-time order (faults aside). Positions are metres from the centre spot. The same
    arguments give the same items.

    Args:
        sport: ``"football"`` (105 x 68 m, 11 v 11) or ``"basketball"`` (28.65 x 15.24 m, 5 v 5).
        games: Concurrent games, ids ``g0``, ``g1``, ...; athletes ``g0-h01`` ... ``g0-a11``.
        seed: Random seed.
        fps: Tracking frames per second.
        hr_hz: Heart-rate samples per second per athlete (0: none).
        faults: Faults to inject into the tracking frames.
        start_time: Capture time of the first frame (seconds; e.g. ``time.time()`` for live).
        period_s: Length of a period (default the sport's: 45 min halves, 12 min quarters).

    Attributes:
        counts: What the last iteration produced: ``frames`` (generated), ``emitted``, ``events``,
            ``samples`` and, with faults, the frames that got each fault.
    """

    def __init__(
        self,
        sport: Sport = "football",
        games: int = 1,
        seed: int = 0,
        fps: float = 25.0,
        hr_hz: float = 10.0,
        faults: Faults | None = None,
        start_time: float = 0.0,
        period_s: float | None = None,
    ) -> None:
        if sport not in MODELS:
            raise ConfigError(f"sport must be one of {sorted(MODELS)}, got {sport!r}")
        if not (isinstance(games, int) and games >= 1):
            raise ConfigError(f"games must be an int >= 1, got {games!r}")
        if not (isinstance(fps, int | float) and fps > 0):
            raise ConfigError(f"fps must be > 0, got {fps!r}")
        if not (isinstance(hr_hz, int | float) and hr_hz >= 0):
            raise ConfigError(f"hr_hz must be >= 0, got {hr_hz!r}")
        self.sport: Sport = sport
        self.model = MODELS[sport]
        if period_s is not None:
            if not (isinstance(period_s, int | float) and period_s * fps >= 1):
                raise ConfigError(f"period_s must last at least one frame, got {period_s!r}")
            self.model = dataclasses.replace(self.model, period_s=float(period_s))
        self.games = games
        self.seed = seed
        self.fps = float(fps)
        self.hr_hz = float(hr_hz)
        self.faults = faults or Faults()
        self.start_time = float(start_time)
        self.game_ids = [f"g{i}" for i in range(games)]
        n = self.model.per_team
        self.athletes = [
            [f"{gid}-{side[0]}{k + 1:02d}" for side in TEAMS for k in range(n)]
            for gid in self.game_ids
        ]
        self.counts: Counter[str] = Counter()
        self._seq = [0] * games
        self._hr_phase: np.ndarray | None = None

    @property
    def field(self) -> Field:
        """The field the games are played on."""
        return self.model.field

    @property
    def match_s(self) -> float:
        """Capture time a whole match spans, breaks included."""
        m = self.model
        return m.periods * m.period_s + (m.periods - 1) * m.break_s

    def __iter__(self) -> Iterator[Item]:
        """Every item of the whole match (every game), breaks included."""
        return self.frames_for(None)

    def frames_for(self, duration_s: float | None) -> Iterator[Item]:
        """Items with capture times before ``start_time + duration_s`` (None: the whole match)."""
        if duration_s is not None and not duration_s >= 0:
            raise ConfigError(f"duration_s must be >= 0, got {duration_s!r}")
        return self._run(math.inf if duration_s is None else float(duration_s))

    # -- the loop ------------------------------------------------------------------------------
    def _run(self, end: float) -> Iterator[Item]:
        m = self.model
        play_seed, fault_seed, noise_seed = np.random.SeedSequence(self.seed).spawn(3)
        games = Games(m, self.games, np.random.default_rng(play_seed))
        noise = np.random.default_rng(noise_seed)
        injector = FaultInjector(self.faults, fault_seed, m.field) if self.faults.any else None
        self.counts = Counter()
        self._seq = [0] * self.games
        frame_no = 0
        for period in range(1, m.periods + 1):
            offset = (period - 1) * (m.period_s + m.break_s)
            if offset >= end:
                break
            if period > 1:
                games.rest_between_periods(m.break_s)
            games.kick_off(period)
            frames = yield from self._period(games, period, offset, end, frame_no, injector, noise)
            frame_no += frames
            if frames < round(m.period_s * self.fps):
                break
        if injector is not None:
            yield from injector.flush()
            self.counts.update({k: v for k, v in injector.counts.items() if k != "frames"})

    def _period(
        self,
        games: Games,
        period: int,
        offset: float,
        end: float,
        frame_no: int,
        injector: FaultInjector | None,
        noise: np.random.Generator,
    ) -> Generator[Item, None, int]:
        """Items of one period until it ends or ``end``; returns the number of frames."""
        counts, dt = self.counts, 1.0 / self.fps
        steps = round(self.model.period_s * self.fps)
        team_of = [TEAMS[k] for k in games.team]
        play: list[PlayEvent] = []
        for g in range(self.games):
            yield self._event(g, "period_start", self.start_time + offset, period, 0.0)
        for step in range(steps):
            clock = step / self.fps  # exact for whole-frame instants, like k / hr_hz
            if offset + clock >= end:
                return step
            if step:
                games.step(clock, dt, play)
            ts = self.start_time + offset + clock
            xs, ys = games.pos[..., 0].tolist(), games.pos[..., 1].tolist()
            ball = games.ball.tolist()
            owner, phase = games.owner.tolist(), games.phase.tolist()
            for g, gid in enumerate(self.game_ids):
                ids = self.athletes[g]
                objects = [
                    TrackedObject(id=i, team=tm, x=x, y=y)
                    for i, tm, x, y in zip(ids, team_of, xs[g], ys[g], strict=True)
                ]
                bx, by, bz = ball[g]
                objects.append(TrackedObject(id=BALL, team=BALL, x=bx, y=by, z=bz))
                frame = TrackingFrame(
                    game_id=gid,
                    frame=frame_no + step,
                    timestamp=ts,
                    objects=objects,
                    period=period,
                    game_clock=clock,
                    ball_owner=ids[owner[g]] if phase[g] == OWNED else None,
                    sport=self.sport,
                )
                counts["frames"] += 1
                if injector is None:
                    counts["emitted"] += 1
                    yield topics.TRACKING, gid, frame
                else:
                    yield from injector.apply(frame)
            for g, kind, fields in play:
                yield self._event(g, kind, ts, period, clock, team_of, **fields)
            play.clear()
            if self.hr_hz > 0:
                yield from self._samples(games, step, offset, noise)
        for g in range(self.games):
            score = {"home": int(games.score[g, 0]), "away": int(games.score[g, 1])}
            end_ts = self.start_time + offset + steps * dt
            yield self._event(
                g, "period_end", end_ts, period, steps * dt, attributes={"score": score}
            )
        return steps

    def _event(
        self,
        g: int,
        kind: EventKind,
        ts: float,
        period: int,
        clock: float,
        team_of: list[str] | None = None,
        *,
        player: int | None = None,
        x: float | None = None,
        y: float | None = None,
        end: tuple[float, ...] | None = None,
        outcome: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Item:
        gid = self.game_ids[g]
        self._seq[g] += 1
        self.counts["events"] += 1
        athletes = self.athletes[g]
        attrs = dict(attributes or {})
        if "receiver" in attrs:
            attrs["receiver"] = athletes[attrs["receiver"]]
        event = GameEvent(
            game_id=gid,
            event_id=f"{gid}-e{self._seq[g]}",
            kind=kind,
            timestamp=ts,
            period=period,
            game_clock=clock,
            team=None if player is None or team_of is None else team_of[player],
            player_id=None if player is None else athletes[player],
            x=None if x is None else float(x),
            y=None if y is None else float(y),
            end_x=None if end is None else float(end[0]),
            end_y=None if end is None else float(end[1]),
            outcome=outcome,
            attributes=attrs,
        )
        return topics.GAME_EVENTS, gid, event

    def _samples(
        self, games: Games, step: int, offset: float, noise: np.random.Generator
    ) -> list[Item]:
        """Heart-rate samples due in [t_step, t_step+1), read from the state at the step.

        Each strap keeps its own phase (athlete sample ``k`` at ``(k + phase) / hr_hz``): real
        straps are not synchronised, and a feed whose thousands of athletes all report on the
        same instant is a burst no real venue sends.
        """
        shape = games.hr.shape
        if self._hr_phase is None or self._hr_phase.shape != shape:
            self._hr_phase = (np.arange(games.hr.size).reshape(shape) * _GOLDEN) % 1.0
        phase = self._hr_phase
        first = np.ceil(step * self.hr_hz / self.fps - phase - 1e-9)
        last = np.ceil((step + 1) * self.hr_hz / self.fps - phase - 1e-9)
        out: list[Item] = []
        for j in range(int((last - first).max(initial=0))):
            due = first + j < last
            measured = games.hr + noise.normal(0.0, 0.6, shape)  # strap noise
            hr = np.round(np.clip(measured, games.hr_rest, games.hr_max), 1)
            ts = self.start_time + offset + (first + j + phase) / self.hr_hz
            bpm, rr = hr.tolist(), np.round(60000.0 / hr, 1).tolist()
            stamps, mask = ts.tolist(), due.tolist()
            for g, gid in enumerate(self.game_ids):
                out += [
                    (
                        topics.BIOMETRICS,
                        gid,
                        BiometricSample(
                            athlete_id=athlete,
                            timestamp=stamp,
                            heart_rate_bpm=b,
                            game_id=gid,
                            rr_interval_ms=r,
                        ),
                    )
                    for athlete, b, r, stamp, ok in zip(
                        self.athletes[g], bpm[g], rr[g], stamps[g], mask[g], strict=True
                    )
                    if ok
                ]
            self.counts["samples"] += int(due.sum())
        out.sort(key=lambda item: item[2].timestamp)  # capture-time order within the step
        return out
