"""The live table: the current value of every metric per game and player, in memory.

The pipeline's functions keep it up to date; the 1-second aggregate, the demo's terminal table
and (later) the gateway's snapshot queries read it. It is a read model, rebuilt from the stream
after a restart, never the source of truth.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from arenaflow.sports.schemas import Alert, GameEvent


@dataclass(slots=True)
class PlayerLive:
    """Current values of one player (SI units)."""

    team: str = ""
    speed_mps: float = 0.0
    top_speed_mps: float = 0.0
    distance_m: float = 0.0
    hsr_distance_m: float = 0.0
    sprints: int = 0
    accelerations: int = 0
    decelerations: int = 0
    metabolic_power_w_per_kg: float = 0.0
    heart_rate_bpm: float | None = None
    heart_rate_zone: int | None = None
    trimp: float = 0.0
    xg_from_here: float | None = None
    updated_at: float = 0.0


@dataclass(slots=True)
class GameLive:
    """Current state of one game."""

    game_id: str
    frame: int = -1
    timestamp: float = 0.0
    period: int = 1
    ball_owner: str | None = None
    pressure_on_carrier: float | None = None
    players: dict[str, PlayerLive] = field(default_factory=dict)
    team_shape: dict[str, dict[str, float]] = field(default_factory=dict)
    xg: dict[str, float] = field(default_factory=dict)
    shots: deque[GameEvent] = field(default_factory=lambda: deque(maxlen=20))
    alerts: deque[Alert] = field(default_factory=lambda: deque(maxlen=20))

    def player(self, athlete_id: str) -> PlayerLive:
        p = self.players.get(athlete_id)
        if p is None:
            p = self.players[athlete_id] = PlayerLive()
        return p


@dataclass(slots=True)
class Counters:
    """Bad or dropped input, by reason (each is also dead-lettered or logged)."""

    rejected_objects: int = 0
    rejected_frames: int = 0
    stale_frames: int = 0
    rejected_samples: int = 0
    rejected_events: int = 0


class LiveTable:
    """Games by id."""

    def __init__(self) -> None:
        self.games: dict[str, GameLive] = {}
        self.counters = Counters()
        #: Set by the ``tracking`` function: the distance of a player as of the newest frame
        #: (the table's own ``distance_m`` is refreshed at the live rate only).
        self.distance_source: Callable[[str, str], float] | None = None

    def distance_m(self, game_id: str, athlete_id: str) -> float:
        """Distance covered by a player up to the newest frame processed (0 if unknown)."""
        if self.distance_source is not None:
            return self.distance_source(game_id, athlete_id)
        game = self.games.get(game_id)
        p = None if game is None else game.players.get(athlete_id)
        return 0.0 if p is None else p.distance_m

    def game(self, game_id: str) -> GameLive:
        g = self.games.get(game_id)
        if g is None:
            g = self.games[game_id] = GameLive(game_id)
        return g
