"""Game play of the simulator: players, ball and heart rates of many games, stepped together.

Every game lives in one set of numpy arrays (shape ``(games, players, 2)``), so 300 concurrent games
cost one vectorised step per frame. Players steer towards tactical targets (a formation that shifts
with the ball, a ball carrier dribbling to an attacking spot, pressing, receiving, sprints into
space) through a first-order velocity controller whose acceleration and speed are clipped to human
limits. Positions are integrated exactly, so the finite differences of the frames *are* the model's
velocities and accelerations: they stay within ``a_max_mps2`` and ``v_max_mps``.

Heart rate follows intensity (speed) with a first-order lag::

    HR_target = HR_rest + (HR_max - HR_rest) * clip(0.55 + 0.075 * speed, 0, 1)
    dHR/dt    = (HR_target - HR) / tau,   tau ~ U(20, 40) s per athlete

(first-order HR kinetics as in Stirling et al. 2008; HRmax = 208 - 0.7 x age, Tanaka et al. 2001),
so a sprint shows in the heart rate with a delay and HR stays within [HR_rest, HR_max].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from arenaflow.sports.fields import BASKETBALL, FOOTBALL, Field
from arenaflow.sports.schemas import EventKind, Sport

F64 = NDArray[np.float64]

OWNED, FLIGHT, LOOSE, DEAD = 0, 1, 2, 3  # ball phases
PASS, SHOT, REBOUND = 0, 1, 2  # ball flight kinds
GOAL, SAVED, OFF_TARGET, MISSED = 0, 1, 2, 3  # shot results

THREE_POINT_M = 7.24  # NBA three-point line (23.75 ft)

#: (game index, event kind, fields with player indices) as the play produces them
PlayEvent = tuple[int, EventKind, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SportModel:
    """Movement and play parameters of one sport (SI units)."""

    sport: Sport
    field: Field
    per_team: int
    formation: tuple[tuple[float, float], ...]  # attacking frame, fractions of half length/width
    goal_x_m: float  # goal line (football) or hoop (basketball) distance from the centre
    v_max_mps: float
    a_max_mps2: float
    brake_mps2: float
    cruise_mps: float
    dribble_mps: float
    press_mps: float
    chase_mps: float
    sprint_mps: tuple[float, float]
    sprint_rate_hz: float  # per off-ball player
    sprint_m: tuple[float, float]
    wander_m: float
    pass_rate_hz: float
    pass_mps: tuple[float, float]
    pass_success: float
    shot_range_m: float
    shot_rate_hz: float
    tackle_rate_hz: float
    claim_m: float
    period_s: float
    periods: int
    periods_per_half: int
    break_s: float


FOOTBALL_MODEL = SportModel(
    sport="football",
    field=FOOTBALL,
    per_team=11,
    # 4-4-2; index 0 is the goalkeeper.
    formation=(
        (-0.92, 0.0),
        (-0.58, -0.68),
        (-0.62, -0.24),
        (-0.62, 0.24),
        (-0.58, 0.68),
        (-0.25, -0.70),
        (-0.30, -0.22),
        (-0.30, 0.22),
        (-0.25, 0.70),
        (0.02, -0.22),
        (0.00, 0.25),
    ),
    goal_x_m=52.5,
    v_max_mps=9.3,
    a_max_mps2=5.0,
    brake_mps2=3.5,
    cruise_mps=4.0,
    dribble_mps=4.8,
    press_mps=6.0,
    chase_mps=7.0,
    sprint_mps=(8.4, 9.3),
    sprint_rate_hz=1 / 150,
    sprint_m=(30.0, 42.0),
    wander_m=3.0,
    pass_rate_hz=0.28,
    pass_mps=(11.0, 20.0),
    pass_success=0.85,
    shot_range_m=28.0,
    shot_rate_hz=1.2,
    tackle_rate_hz=0.35,
    claim_m=1.0,
    period_s=45 * 60.0,
    periods=2,
    periods_per_half=1,
    break_s=15 * 60.0,
)

BASKETBALL_MODEL = SportModel(
    sport="basketball",
    field=BASKETBALL,
    per_team=5,
    # offence spots in the attacking half: point guard, wings, bigs
    formation=((0.35, 0.0), (0.62, -0.72), (0.66, 0.72), (0.82, -0.38), (0.84, 0.40)),
    goal_x_m=BASKETBALL.half_length_m - 1.575,  # the hoop: 5.25 ft from the baseline
    v_max_mps=8.0,
    a_max_mps2=5.0,
    brake_mps2=3.5,
    cruise_mps=3.8,
    dribble_mps=3.6,
    press_mps=4.5,
    chase_mps=6.0,
    sprint_mps=(7.2, 7.9),
    sprint_rate_hz=1 / 90,
    sprint_m=(18.0, 24.0),
    wander_m=1.0,
    pass_rate_hz=0.35,
    pass_mps=(8.0, 12.0),
    pass_success=0.93,
    shot_range_m=8.5,
    shot_rate_hz=0.30,
    tackle_rate_hz=0.06,
    claim_m=0.8,
    period_s=12 * 60.0,
    periods=4,
    periods_per_half=2,
    break_s=120.0,
)

MODELS: dict[str, SportModel] = {"football": FOOTBALL_MODEL, "basketball": BASKETBALL_MODEL}


def hr_target_bpm(speed_mps: F64, rest_bpm: F64, max_bpm: F64) -> F64:
    """Steady-state heart rate for running at ``speed_mps`` (bounded by rest and max)."""
    intensity = np.clip(0.55 + 0.075 * speed_mps, 0.0, 1.0)
    result: F64 = rest_bpm + (max_bpm - rest_bpm) * intensity
    return result


def _unit(v: F64) -> tuple[F64, F64]:
    """Unit vectors of ``v`` (shape (..., 2)) and their norms; zero vectors stay zero."""
    norm = np.sqrt(v[..., 0] ** 2 + v[..., 1] ** 2)
    safe = np.where(norm > 1e-9, norm, 1.0)
    return v / safe[..., None], norm


def _clip_norm(v: F64, limit: float) -> F64:
    _, norm = _unit(v)
    scale = np.minimum(1.0, limit / np.maximum(norm, 1e-12))
    result: F64 = v * scale[..., None]
    return result


class Games:
    """State of every simulated game: arrays over (games, players)."""

    def __init__(self, model: SportModel, games: int, rng: np.random.Generator) -> None:
        n = model.per_team
        self.m = model
        self.rng = rng
        self.G, self.P = games, 2 * n
        self.hl, self.hw = model.field.half_length_m, model.field.half_width_m
        self.team = np.repeat([0, 1], n)  # 0 home, 1 away
        self.sign = np.where(self.team == 0, 1.0, -1.0)
        self.slot = np.tile(np.arange(n), 2)
        self.keeper = (self.slot == 0) if model.sport == "football" else np.zeros(self.P, bool)
        self.base = np.array(model.formation * 2) * [self.hl, self.hw]  # (P, 2) metres
        G, P = self.G, self.P
        self.pos = np.zeros((G, P, 2))
        self.vel = np.zeros((G, P, 2))
        self.wander = rng.normal(0, model.wander_m, (G, P, 2))
        self.sprint_until = np.full((G, P), -1.0)
        self.sprint_to = np.zeros((G, P, 2))
        self.sprint_speed = np.zeros((G, P))
        age = rng.uniform(19, 34, (G, P))
        self.hr_max = 208.0 - 0.7 * age
        self.hr_rest = rng.uniform(52, 66, (G, P))
        self.hr_tau = rng.uniform(20, 40, (G, P))
        self.hr = self.hr_rest + 0.3 * (self.hr_max - self.hr_rest)
        # ball
        self.phase = np.full(G, OWNED)
        self.owner = np.zeros(G, int)
        self.poss = np.zeros(G, int)
        self.poss_since = np.zeros(G)
        self.ball = np.zeros((G, 3))
        self.spot = np.zeros((G, 2))  # the carrier's target, attacking frame
        self.fl_from = np.zeros((G, 3))
        self.fl_to = np.zeros((G, 3))
        self.fl_t0 = np.zeros(G)
        self.fl_t1 = np.zeros(G)
        self.fl_peak = np.zeros(G)
        self.fl_kind = np.zeros(G, int)
        self.fl_result = np.zeros(G, int)
        self.fl_player = np.zeros(G, int)
        self.claimant = np.full(G, -1)
        self.dead_until = np.zeros(G)
        self.restart = np.zeros(G, int)  # team that restarts
        self.score = np.zeros((G, 2), int)
        self.direction = 1.0  # +1: home attacks +x

    # -- geometry --------------------------------------------------------------------------
    def attack_dir(self) -> F64:
        """+1/-1 per player: the x direction their team attacks."""
        result: F64 = self.direction * self.sign
        return result

    def clip_field(self, xy: F64, margin: float = 1.0) -> F64:
        result: F64 = np.clip(
            xy, [-self.hl + margin, -self.hw + margin], [self.hl - margin, self.hw - margin]
        )
        return result

    # -- periods ---------------------------------------------------------------------------
    def kick_off(self, period: int) -> None:
        """Line up for a period: own halves, ball with the kicking-off team."""
        half = (period - 1) // self.m.periods_per_half
        self.direction = 1.0 if half % 2 == 0 else -1.0
        adir = self.attack_dir()
        att = self.base.copy()
        if self.m.sport == "basketball":
            att[:, 0] = np.minimum(att[:, 0] - self.hl * 0.8, -1.5)
        else:
            att[:, 0] = np.minimum(att[:, 0], -1.5)
        jitter = self.rng.normal(0, 1.0, (self.G, self.P, 2))
        self.pos = self.clip_field(adir[None, :, None] * att[None] + jitter)
        self.vel[:] = 0.0
        self.sprint_until[:] = -1.0
        team = (period - 1) % 2
        self.restart[:] = team
        for g in range(self.G):
            self._give(g, self._nearest_of(g, team, np.zeros(2)), 0.0)
            self.pos[g, self.owner[g]] = (-0.3 * self.goal_sign(team), 0.0)
        self._carry_ball()

    def goal_sign(self, team: int) -> float:
        return self.direction * (1.0 if team == 0 else -1.0)

    def rest_between_periods(self, seconds: float) -> None:
        """Heart rates recover towards rest during a break."""
        decay = np.exp(-seconds / self.hr_tau)
        self.hr = self.hr_rest + (self.hr - self.hr_rest) * decay

    # -- possession helpers ----------------------------------------------------------------
    def _nearest_of(self, g: int, team: int, xy: F64, outfield: bool = True) -> int:
        d = np.hypot(*(self.pos[g] - xy).T)
        mask = self.team != team
        if outfield:
            mask = mask | self.keeper
        d = np.where(mask, np.inf, d)
        return int(np.argmin(d))

    def _give(self, g: int, player: int, t: float) -> None:
        """``player`` has the ball now; choose where they will carry it."""
        team = int(self.team[player])
        if self.poss[g] != team:
            self.poss_since[g] = t
        self.phase[g], self.owner[g], self.poss[g], self.claimant[g] = OWNED, player, team, -1
        rng = self.rng
        if self.keeper[player]:  # a goalkeeper holds on and looks for a pass
            self.spot[g] = (-self.hl + rng.uniform(6.0, 14.0), rng.uniform(-8.0, 8.0))
        elif self.m.sport == "football":
            self.spot[g] = (rng.uniform(-0.1, 0.85) * self.hl, rng.uniform(-0.6, 0.6) * self.hw)
        else:
            r, a = rng.uniform(1.0, 8.0), rng.uniform(-1.3, 1.3)
            self.spot[g] = (self.m.goal_x_m - r * math.cos(a), r * math.sin(a))

    def _carry_ball(self) -> None:
        owned = self.phase == OWNED
        if not owned.any():
            return
        g = np.flatnonzero(owned)
        p = self.owner[g]
        self.ball[g, :2] = self.pos[g, p] + 0.12 * self.vel[g, p]

    # -- one step --------------------------------------------------------------------------
    def step(self, t: float, dt: float, events: list[PlayEvent]) -> None:
        """Advance every game by ``dt`` seconds to time ``t`` (game-time seconds).

        Ball events are appended to ``events`` as (game, kind, fields).
        """
        m, rng, G = self.m, self.rng, self.G
        ar = np.arange(G)
        adir = self.attack_dir()
        # decisions of ball carriers
        owned = self.phase == OWNED
        owner = np.where(owned, self.owner, 0)
        cpos = self.pos[ar, owner]
        goal_x = self.m.goal_x_m * adir[owner]
        dist_goal = np.hypot(goal_x - cpos[:, 0], cpos[:, 1])
        closeness = np.clip(1.0 - dist_goal / m.shot_range_m, 0.0, 1.0)
        shot_h = m.shot_rate_hz * closeness**2
        if m.sport == "basketball":  # the shot clock
            shot_h = np.where(t - self.poss_since > 20.0, 5.0, shot_h)
        gap = self.pos - cpos[:, None, :]
        dist_c = np.hypot(gap[..., 0], gap[..., 1])
        opp = self.team[None, :] != self.poss[:, None]
        dist_opp = np.where(opp, dist_c, np.inf)
        tackler = np.argmin(dist_opp, axis=1)
        tackle_h = np.where(dist_opp[ar, tackler] < 1.3, m.tackle_rate_hz, 0.0)
        u = rng.random((G, 3))
        shoot = owned & (u[:, 0] < shot_h * dt)
        passing = owned & ~shoot & (u[:, 1] < m.pass_rate_hz * dt)
        tackled = owned & ~shoot & ~passing & (u[:, 2] < tackle_h * dt)
        for g in np.flatnonzero(shoot):
            self._shoot(int(g), t, events)
        for g in np.flatnonzero(passing):
            self._pass(int(g), t, events)
        for g in np.flatnonzero(tackled):
            self._give(int(g), int(tackler[g]), t)
        # ball arrivals, claims and restarts
        for g in np.flatnonzero((self.phase == FLIGHT) & (t >= self.fl_t1)):
            self._arrive(int(g), t, events)
        loose = self.phase == LOOSE
        if loose.any():
            gap_b = self.pos - self.ball[:, None, :2]
            dist_b = np.hypot(gap_b[..., 0], gap_b[..., 1])
            reserved = self.claimant >= 0
            nearest = np.where(reserved, self.claimant, np.argmin(dist_b, axis=1))
            claim = loose & (dist_b[ar, nearest] < m.claim_m)
            for g in np.flatnonzero(claim):
                self._give(int(g), int(nearest[g]), t)
        for g in np.flatnonzero((self.phase == DEAD) & (t >= self.dead_until)):
            self._restart(int(g), t)
        self._move(t, dt, adir)
        self._move_ball(t)
        self._heart(dt)

    def _shoot(self, g: int, t: float, events: list[PlayEvent]) -> None:
        m, rng = self.m, self.rng
        c = int(self.owner[g])
        team = int(self.team[c])
        s = self.goal_sign(team)
        start = self.ball[g].copy()
        gx = m.goal_x_m * s
        dist = float(math.hypot(gx - start[0], start[1]))
        attrs: dict[str, Any] = {"distance_m": round(dist, 2)}
        if m.sport == "football":
            angle = math.atan2(abs(start[1]), max(abs(gx - start[0]), 0.1))
            p_goal = min(
                0.8, max(0.01, 1.1 * math.exp(-dist / 7.5) * (0.45 + 0.55 * math.cos(angle)))
            )
            u = rng.random()
            keeper = int(np.flatnonzero((self.team != team) & self.keeper)[0])
            if u < p_goal:
                result = GOAL
                end = (gx, rng.uniform(-3.3, 3.3), rng.uniform(0.1, 2.2))
            elif u < p_goal + 0.3:
                result = SAVED
                kx, ky = self.pos[g, keeper]
                end = (kx, ky, rng.uniform(0.2, 1.8))
            else:
                result = OFF_TARGET
                end = (
                    gx + 0.5 * s,
                    rng.choice([-1, 1]) * rng.uniform(4.2, 9.0),
                    rng.uniform(0.2, 3.0),
                )
            attrs["body_part"] = str(
                rng.choice(["Right Foot", "Left Foot", "Head"], p=[0.55, 0.3, 0.15])
            )
            speed = rng.uniform(18.0, 28.0)
            peak = 0.5
            self.claimant[g] = keeper if result == SAVED else -1
            outcome = ("Goal", "Saved", "Off T")[result]
        else:
            points = 3 if dist > THREE_POINT_M else 2
            p_goal = 0.62 if dist < 1.5 else (0.42 if points == 2 else 0.36)
            result = GOAL if rng.random() < p_goal else MISSED
            end = (gx, 0.0, 3.05)
            attrs["points"] = points
            speed = dist / (0.7 + 0.06 * dist)
            peak = 1.2 + 0.12 * dist
            self.claimant[g] = -1
            outcome = "Made" if result == GOAL else "Missed"
        attrs["sim_goal_probability"] = round(p_goal, 3)
        self._fly(g, t, start, np.array(end), speed, SHOT, peak, c)
        self.fl_result[g] = result
        events.append(
            (
                g,
                "shot",
                {
                    "player": c,
                    "x": start[0],
                    "y": start[1],
                    "end": end,
                    "outcome": outcome,
                    "attributes": attrs,
                },
            )
        )

    def _pass(self, g: int, t: float, events: list[PlayEvent]) -> None:
        m, rng = self.m, self.rng
        c = int(self.owner[g])
        team = int(self.team[c])
        s = self.goal_sign(team)
        pos = self.pos[g]
        gap = pos - pos[c]
        dist = np.hypot(gap[:, 0], gap[:, 1])
        forward = np.clip(gap[:, 0] * s / 20.0, -0.5, 1.0)
        w = np.exp(-dist / 15.0) * (1.0 + forward)
        w = np.where((self.team == team) & (np.arange(self.P) != c) & (dist < 40.0), w, 0.0)
        w = np.where(self.keeper, 0.15 * w, w)
        if w.sum() <= 0:
            return
        cumulative = np.cumsum(w)  # a weighted draw (rng.choice with p= is slow)
        receiver = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        speed = rng.uniform(*m.pass_mps)
        lead = min(dist[receiver] / speed, 1.5)
        end = self.clip_field(pos[receiver] + self.vel[g, receiver] * lead, 1.5)
        complete = rng.random() < m.pass_success
        if not complete:
            d_opp = np.hypot(*(pos - end).T)
            interceptor = int(np.argmin(np.where(self.team == team, np.inf, d_opp)))
            end = pos[interceptor] + 0.5 * (end - pos[interceptor])
            receiver = interceptor
        length = float(np.hypot(*(end - self.ball[g, :2])))
        z = 1.1 if m.sport == "basketball" else 0.11
        peak = 0.4 if m.sport == "basketball" else (max(0.0, length - 25.0) * 0.25)
        start = self.ball[g].copy()
        self._fly(g, t, start, np.array([end[0], end[1], z]), speed, PASS, peak, c)
        self.claimant[g] = receiver
        events.append(
            (
                g,
                "pass",
                {
                    "player": c,
                    "x": start[0],
                    "y": start[1],
                    "end": (float(end[0]), float(end[1])),
                    "outcome": "Complete" if complete else "Intercepted",
                    "attributes": {"receiver": receiver, "length_m": round(length, 2)},
                },
            )
        )

    def _fly(
        self,
        g: int,
        t: float,
        start: F64,
        end: F64,
        speed: float,
        kind: int,
        peak: float,
        player: int,
    ) -> None:
        dist = float(np.hypot(*(end[:2] - start[:2])))
        self.phase[g], self.owner[g] = FLIGHT, -1
        self.fl_from[g], self.fl_to[g] = start, end
        self.fl_t0[g], self.fl_t1[g] = t, t + max(0.2, dist / speed)
        self.fl_kind[g], self.fl_peak[g], self.fl_player[g] = kind, peak, player

    def _arrive(self, g: int, t: float, events: list[PlayEvent]) -> None:
        self.ball[g] = self.fl_to[g]
        kind, result = self.fl_kind[g], self.fl_result[g]
        if kind in (PASS, REBOUND):
            self.phase[g] = LOOSE
            if self.m.sport == "football" or kind == REBOUND:
                self.ball[g, 2] = 0.11 if self.m.sport == "football" else 1.0
            return
        shooter = int(self.fl_player[g])
        team = int(self.team[shooter])
        if result == GOAL:
            points = 1
            if self.m.sport == "basketball":
                dist = math.hypot(self.fl_from[g, 0] - self.fl_to[g, 0], self.fl_from[g, 1])
                points = 3 if dist > THREE_POINT_M else 2
            self.score[g, team] += points
            events.append(
                (
                    g,
                    "goal",
                    {
                        "player": shooter,
                        "x": self.fl_from[g, 0],
                        "y": self.fl_from[g, 1],
                        "end": (self.fl_to[g, 0], self.fl_to[g, 1]),
                        "outcome": "Goal",
                        "attributes": {
                            "points": points,
                            "score": {"home": int(self.score[g, 0]), "away": int(self.score[g, 1])},
                        },
                    },
                )
            )
            self.phase[g], self.restart[g] = DEAD, 1 - team
            self.dead_until[g] = t + (5.0 if self.m.sport == "football" else 1.5)
        elif result == SAVED:
            self._give(g, int(self.claimant[g]), t)
        elif result == OFF_TARGET:
            self.phase[g], self.restart[g], self.dead_until[g] = DEAD, 1 - team, t + 3.0
        else:  # a missed basket: the ball comes off the rim
            a = self.rng.uniform(-1.4, 1.4)
            r = self.rng.uniform(1.0, 3.5)
            hoop = self.fl_to[g]
            back = -math.copysign(1.0, hoop[0])
            end = np.array([hoop[0] + back * r * math.cos(a), r * math.sin(a), 1.0])
            self._fly(g, t, hoop.copy(), end, r / 0.7, REBOUND, 0.8, shooter)

    def _restart(self, g: int, t: float) -> None:
        team = int(self.restart[g])
        if self.m.sport == "football":
            scored = self.ball[g, 0] * self.goal_sign(1 - team) > self.hl - 0.1
            if scored and abs(self.ball[g, 1]) < 3.7:  # kick-off after a goal
                player = self._nearest_of(g, team, np.zeros(2))
            else:  # goal kick
                player = int(np.flatnonzero((self.team == team) & self.keeper)[0])
        else:  # inbound from under the basket
            player = self._nearest_of(g, team, self.ball[g, :2], outfield=False)
        self._give(g, player, t)

    def _move(self, t: float, dt: float, adir: F64) -> None:
        m, G = self.m, self.G
        ar = np.arange(G)
        pos, vel = self.pos, self.vel
        ball_att = adir[None, :, None] * self.ball[:, None, :2]  # (G, P, 2) in each attacking frame
        possess = self.team[None, :] == self.poss[:, None]
        att = np.empty_like(pos)
        if m.sport == "football":
            att[..., 0] = (
                self.base[None, :, 0] * 0.8 + 0.42 * ball_att[..., 0] + np.where(possess, 8.0, -5.0)
            )
            att[..., 1] = (
                self.base[None, :, 1] * np.where(possess, 0.9, 0.7) + 0.25 * ball_att[..., 1]
            )
            gk = self.keeper
            att[:, gk, 0] = -self.hl + 3.0 + 0.05 * (ball_att[:, gk, 0] + self.hl)
            att[:, gk, 1] = np.clip(0.12 * ball_att[:, gk, 1], -3.0, 3.0)
        else:
            # offence on its spots; defence man-to-man between its man and its basket
            opp_idx = np.where(self.team == 0, self.slot + m.per_team, self.slot)
            man = adir[None, :, None] * pos[:, opp_idx]
            basket = np.array([-m.goal_x_m, 0.0])
            toward, _ = _unit(basket - man)
            defend = man + 1.6 * toward
            offence = np.broadcast_to(self.base, pos.shape)
            att[:] = np.where(possess[..., None], offence, defend)
        # an Ornstein-Uhlenbeck wander around the tactical position (10 s time scale)
        theta = dt / 10.0
        self.wander += -theta * self.wander + m.wander_m * math.sqrt(
            2 * theta
        ) * self.rng.standard_normal(self.wander.shape)
        target = adir[None, :, None] * att + self.wander
        speed = np.full((G, self.P), m.cruise_mps)
        ease = np.ones((G, self.P), bool)  # off-ball players jog at a pace that fits the distance
        # sprints: runs into space (in possession) or recovery runs
        start = (
            (self.rng.random((G, self.P)) < m.sprint_rate_hz * dt)
            & (self.sprint_until < t)
            & ~self.keeper
        )
        if start.any():
            self._start_sprints(start, t, possess, adir)
        sprinting = self.sprint_until >= t
        # the ball decides a few roles per game
        live = self.phase != DEAD
        owned = np.flatnonzero(self.phase == OWNED)
        if owned.size:
            c = self.owner[owned]
            spot = adir[c][:, None] * self.spot[owned]
            target[owned, c] = spot
            speed[owned, c] = m.dribble_mps
            ease[owned, c] = sprinting[owned, c] = False
        gap = pos - self.ball[:, None, :2]
        dist_b = np.hypot(gap[..., 0], gap[..., 1])
        opp = ~possess & ~self.keeper[None, :]
        presser = np.argmin(np.where(opp, dist_b, np.inf), axis=1)
        target[ar, presser] = np.where(live[:, None], self.ball[:, :2], target[ar, presser])
        speed[ar, presser] = np.where(live, m.press_mps, speed[ar, presser])
        ease[ar, presser] &= ~live
        flying = self.phase == FLIGHT
        chasing = np.flatnonzero((flying | (self.phase == LOOSE)) & (self.claimant >= 0))
        if chasing.size:
            cl = self.claimant[chasing]
            dest = np.where(flying[chasing, None], self.fl_to[chasing, :2], self.ball[chasing, :2])
            target[chasing, cl] = dest
            speed[chasing, cl] = m.chase_mps
            ease[chasing, cl] = sprinting[chasing, cl] = False
        free = np.flatnonzero((self.phase == LOOSE) & (self.claimant < 0))
        if free.size:  # the nearest player of each team goes for a loose ball
            for team in (0, 1):
                d = np.where(self.team[None, :] == team, dist_b[free], np.inf)
                near = np.argmin(d, axis=1)
                target[free, near] = self.ball[free, :2]
                speed[free, near] = m.chase_mps
                ease[free, near] = False
        target[sprinting] = self.sprint_to[sprinting]
        ease[sprinting] = False
        speed[sprinting] = self.sprint_speed[sprinting]
        speed[~live] = np.minimum(speed[~live], 2.5)
        target = self.clip_field(target, 0.5)
        # first-order velocity controller with human limits
        direction, dist = _unit(target - pos)
        speed = np.where(ease, np.minimum(speed, 0.5 * dist), speed)
        speed = np.minimum(speed, np.sqrt(2.0 * m.brake_mps2 * np.maximum(dist - 0.3, 0.0)))
        accel = _clip_norm((direction * speed[..., None] - vel) / 0.6, m.a_max_mps2)
        self.vel = _clip_norm(vel + accel * dt, m.v_max_mps)
        self.pos = pos + self.vel * dt
        self.sprint_until[sprinting & (dist < 2.0)] = -1.0
        self._carry_ball()

    def _start_sprints(
        self, start: NDArray[np.bool_], t: float, possess: NDArray[np.bool_], adir: F64
    ) -> None:
        m, rng = self.m, self.rng
        gs, ps = np.nonzero(start)
        length = rng.uniform(*m.sprint_m, gs.size)
        forward = np.where(possess[gs, ps], 1.0, -1.0) * adir[ps]
        room = self.hl - 3.0 - self.pos[gs, ps, 0] * forward
        forward = np.where(room < length * 0.8, -forward, forward)
        angle = rng.uniform(-0.5, 0.5, gs.size)
        step = np.stack([forward * np.cos(angle), np.sin(angle)], axis=1) * length[:, None]
        self.sprint_to[gs, ps] = self.clip_field(self.pos[gs, ps] + step, 3.0)
        self.sprint_speed[gs, ps] = rng.uniform(*m.sprint_mps, gs.size)
        self.sprint_until[gs, ps] = t + 6.0

    def _move_ball(self, t: float) -> None:
        flying = np.flatnonzero(self.phase == FLIGHT)
        if flying.size:
            s = np.clip(
                (t - self.fl_t0[flying]) / (self.fl_t1[flying] - self.fl_t0[flying]), 0.0, 1.0
            )
            a, b = self.fl_from[flying], self.fl_to[flying]
            self.ball[flying] = a + (b - a) * s[:, None]
            self.ball[flying, 2] += 4.0 * self.fl_peak[flying] * s * (1.0 - s)
        owned = self.phase == OWNED
        if self.m.sport == "basketball":
            self.ball[owned, 2] = 0.55 + 0.45 * abs(math.sin(2 * math.pi * 1.6 * t))
        else:
            self.ball[owned, 2] = 0.11

    def _heart(self, dt: float) -> None:
        speed = np.hypot(self.vel[..., 0], self.vel[..., 1])
        target = hr_target_bpm(speed, self.hr_rest, self.hr_max)
        self.hr += (target - self.hr) * (1.0 - np.exp(-dt / self.hr_tau))
