"""The store seam: live history, season context and the raw archive behind one small API.

Two backends implement it: ``duckdb`` (embedded, the default: one database file plus raw frames
archived as Parquet, partitioned by game, which DuckDB queries in place) and ``postgres``
(server mode, psycopg 3; TimescaleDB hypertables when the extension is there, plain partitioned
tables when not). One test body runs against both.

Rows are written by pipeline functions through the runtime, in batches; every write is
idempotent (a natural primary key, insert-or-ignore), so a redelivered batch never duplicates a
row. A backend that cannot reach its database raises :class:`~arenaflow.errors.StoreError`: the
writing function fails, the runtime retries it with back-off and the backlog grows on the
transport until the store is back, so nothing is lost.

Units are SI, times are seconds since the epoch (or since kick-off for replays) as the events
carry them. Metric series hold what the pipeline publishes: live values (``speed`` at the live
rate) and cumulative ones (``distance``, ``sprints``, ...) at 1 Hz and on change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from arenaflow.analytics.heatmap import DEFAULT_BINS, occupancy_s
from arenaflow.sports.fields import Field
from arenaflow.sports.schemas import Alert, BiometricSample, GameEvent, MetricUpdate, TrackingFrame

#: Schema version the code expects; migrations bring a database up to it on open.
#: 1: the initial schema; 2: teams.
SCHEMA_VERSION = 2
#: Timestamps before this (2000-01-01 as seconds since the epoch) are relative to kick-off
#: (vendor replays): retention, which works on dates, leaves them alone.
EPOCH_FLOOR_S = 946_684_800.0

Aggregate = Literal["max", "last", "mean", "sum"]


@dataclass(frozen=True, slots=True)
class Game:
    """A game and its field (the field sizes the heatmaps)."""

    game_id: str
    sport: str = "football"
    home: str | None = None
    away: str | None = None
    starts_at: float | None = None
    field_length_m: float = 105.0
    field_width_m: float = 68.0


@dataclass(frozen=True, slots=True)
class Team:
    team_id: str
    name: str | None = None
    short_name: str | None = None
    colour: str | None = None  # e.g. "#c8102e", for overlays


@dataclass(frozen=True, slots=True)
class Athlete:
    athlete_id: str
    name: str | None = None
    team: str | None = None
    position: str | None = None
    birth_year: int | None = None


@dataclass(frozen=True, slots=True)
class Highlight:
    """Metadata of a rendered highlight clip (the clip itself is in object storage)."""

    highlight_id: str
    game_id: str
    start_s: float
    end_s: float
    title: str
    uri: str | None = None
    athlete_id: str | None = None


@dataclass(frozen=True, slots=True)
class Point:
    """One value of a metric series."""

    game_id: str
    subject_id: str
    metric: str
    timestamp: float
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class Summary:
    """An athlete's metric over games: one value per game (``per_game``), then statistics."""

    subject_id: str
    metric: str
    games: int
    mean: float | None
    max: float | None
    p50: float | None
    p90: float | None
    per_game: dict[str, float] = field(default_factory=dict)


def summarise(subject_id: str, metric: str, per_game: dict[str, float]) -> Summary:
    """A :class:`Summary` of one value per game: mean, max, and the median and 90th percentile
    by linear interpolation (numpy's default, SQL's ``percentile_cont``)."""
    if not per_game:
        return Summary(subject_id, metric, 0, None, None, None, None, {})
    per = dict(sorted(per_game.items()))
    values = np.fromiter(per.values(), np.float64, len(per))
    p50, p90 = np.percentile(values, [50.0, 90.0])
    mean, top = float(values.mean()), float(values.max())
    return Summary(subject_id, metric, len(per), mean, top, float(p50), float(p90), per)


@dataclass(frozen=True, slots=True)
class Leader:
    subject_id: str
    game_id: str
    value: float
    team: str | None = None


class Store(ABC):
    """Where metrics, events and raw frames are kept. Backends are synchronous (DuckDB and
    psycopg calls block): pipeline writers run as sync functions on instance threads."""

    name = "abstract"

    # -- life cycle ----------------------------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Connect and apply pending migrations (idempotent)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def schema_version(self) -> int:
        """The version the database is at."""

    def __enter__(self) -> Store:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes (idempotent) -------------------------------------------------------------------
    @abstractmethod
    def write_frames(self, frames: Sequence[TrackingFrame]) -> int:
        """Archive raw frames, one row per tracked object; returns the rows written."""

    @abstractmethod
    def write_samples(self, samples: Sequence[BiometricSample]) -> int: ...

    @abstractmethod
    def write_metrics(self, updates: Sequence[MetricUpdate]) -> int: ...

    @abstractmethod
    def write_events(self, events: Sequence[GameEvent]) -> int: ...

    @abstractmethod
    def write_alerts(self, alerts: Sequence[Alert]) -> int: ...

    @abstractmethod
    def write_highlights(self, highlights: Sequence[Highlight]) -> int: ...

    @abstractmethod
    def upsert_games(self, games: Sequence[Game]) -> None: ...

    @abstractmethod
    def upsert_athletes(self, athletes: Sequence[Athlete]) -> None: ...

    @abstractmethod
    def upsert_teams(self, teams: Sequence[Team]) -> None:
        """Insert or update teams by id; a None field keeps the stored value."""

    @abstractmethod
    def teams(self) -> list[Team]:
        """Every team, by id."""

    # -- queries -------------------------------------------------------------------------------
    @abstractmethod
    def latest(
        self, game_id: str, subject_id: str | None = None, metric: str | None = None
    ) -> list[Point]:
        """The newest value per (subject, metric) of a game, filtered."""

    @abstractmethod
    def window(
        self,
        game_id: str,
        subject_id: str,
        metric: str,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> list[Point]:
        """A series within ``[start_s, end_s]`` (the whole game by default), in time order."""

    @abstractmethod
    def history(
        self,
        subject_id: str,
        metric: str,
        per_game: Aggregate = "max",
        exclude_game: str | None = None,
    ) -> Summary:
        """An athlete's metric across games ("the season average"): each game reduced by
        ``per_game`` (max for top speed, last for cumulative distance), then mean, max,
        median and 90th percentile over games."""

    @abstractmethod
    def leaderboard(
        self,
        metric: str,
        n: int = 10,
        per_game: Aggregate = "max",
        game_id: str | None = None,
        since_s: float | None = None,
    ) -> list[Leader]:
        """Top ``n`` (subject, game) by the metric reduced per game, highest first."""

    @abstractmethod
    def events(self, game_id: str, kind: str | None = None) -> list[GameEvent]: ...

    @abstractmethod
    def alerts(self, game_id: str) -> list[Alert]: ...

    @abstractmethod
    def positions(
        self,
        game_id: str,
        athlete_id: str,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Raw positions of one athlete from the archive: times ``(T,)`` and ``(T, 2)`` m."""

    @abstractmethod
    def export_game(self, game_id: str, path: Path, fmt: Literal["parquet", "csv"]) -> Path:
        """Write a game's raw frames to ``path`` (a file); returns it."""

    @abstractmethod
    def apply_retention(self, raw_days: float, now_s: float) -> int:
        """Delete raw frames and samples captured more than ``raw_days`` before ``now_s``
        (metrics, events and alerts are kept); rows timed from kick-off (before
        :data:`EPOCH_FLOOR_S`) are never old. Returns the rows removed."""

    @abstractmethod
    def game(self, game_id: str) -> Game | None: ...

    def period_window(self, game_id: str, subject_id: str, metric: str, period: int) -> list[Point]:
        """A series within one period of play, bounded by the game's ``period_start`` and
        ``period_end`` events (a period still being played runs to now)."""
        start = end = None
        for e in self.events(game_id):
            if e.period == period and e.kind == "period_start":
                start = e.timestamp
            elif e.period == period and e.kind == "period_end":
                end = e.timestamp
        if start is None:
            return []
        return self.window(game_id, subject_id, metric, start, end)

    def compare(self, game_id: str, metric: str, a: str, b: str) -> dict[str, Point | None]:
        """Two athletes' newest values of a metric in a game, side by side."""
        latest = {p.subject_id: p for p in self.latest(game_id, metric=metric)}
        return {a: latest.get(a), b: latest.get(b)}

    def heatmap(
        self,
        game_id: str,
        athlete_id: str,
        start_s: float | None = None,
        end_s: float | None = None,
        bins: tuple[int, int] = DEFAULT_BINS,
    ) -> NDArray[np.float64]:
        """Seconds in each cell of the field over a time range, from the raw archive
        (:func:`arenaflow.analytics.heatmap.occupancy_s`), shape ``bins``."""
        g = self.game(game_id) or Game(game_id)
        pitch = Field(g.sport, g.field_length_m, g.field_width_m)  # type: ignore[arg-type]
        t, xy = self.positions(game_id, athlete_id, start_s, end_s)
        return occupancy_s(t, xy, pitch, bins)
