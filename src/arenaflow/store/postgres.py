"""The PostgreSQL store (server mode): psycopg 3 behind a small thread-safe connection pool.

The schema (``arenaflow`` by default; its tables, migrations, and the ``timescaledb`` or
``partitioned`` layout of the raw tables) is in :mod:`arenaflow.store.postgres_schema`, brought up
to date on :meth:`PostgresStore.open`. Latest values, season history and leaderboards read
``metric_games`` (one row per game, subject and metric, kept by the writes) rather than scanning
series; raw frames and samples expire with retention, metrics are kept.

Writes are idempotent and batched, rows sorted by key (the index fills in runs; concurrent
writers of overlapping batches wait for each other instead of deadlocking). Frames and samples
are copied straight into their table (``COPY ... FORMAT BINARY``); should the batch meet a row
already there (a redelivery), that transaction rolls back and the batch goes through a temporary
staging table and ``INSERT ... ON CONFLICT DO NOTHING``. Metrics always go through staging, so
that only the rows really inserted (``RETURNING``) update ``metric_games``. Events, alerts,
highlights, games and athletes are few: pipelined ``executemany``.

Connections: each call borrows one from a :class:`~arenaflow.store.postgres_pool.Pool` (a
thread never shares it); an unreachable server raises :class:`~arenaflow.errors.StoreError`, and
the store is back by itself as soon as the server is.

Example (needs a server)::

    store = PostgresStore("postgresql://127.0.0.1:5432/test", schema="club")
    with store:
        store.write_metrics(updates)
        store.latest("g1", metric="speed")
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec
import numpy as np
import psycopg
from numpy.typing import NDArray
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.errors import CheckViolation, UniqueViolation
from psycopg.rows import kwargs_row

from arenaflow.errors import ConfigError, StoreError
from arenaflow.sports.schemas import Alert, BiometricSample, GameEvent, MetricUpdate, TrackingFrame
from arenaflow.store.base import (
    EPOCH_FLOOR_S,
    Aggregate,
    Athlete,
    Game,
    Highlight,
    Leader,
    Point,
    Store,
    Summary,
    Team,
    summarise,
)
from arenaflow.store.postgres_pool import CONNECT_DEFAULTS, Conn, Pool
from arenaflow.store.postgres_schema import (
    ARCHIVE_TABLES,
    DAY_S,
    DayPartitions,
    Layout,
    is_missing_partition,
    migrate,
)

__all__ = ["PostgresStore"]

T = TypeVar("T")

# -- writes --------------------------------------------------------------------------------------

#: Columns copied (in the order of the schema's fields) and their binary types.
_SAMPLE_COPY = {
    "athlete_id": "text", "timestamp": "float8", "game_id": "text", "heart_rate_bpm": "float8",
    "rr_interval_ms": "float8", "core_temp_c": "float8",
}  # fmt: skip
_METRIC_COPY = {
    "game_id": "text", "subject_id": "text", "metric": "text", "timestamp": "float8",
    "value": "float8", "unit": "text", "frame": "int8", "team": "text", "private": "bool",
}  # fmt: skip
_FRAME_COPY = {
    "game_id": "text", "frame": "int8", "timestamp": "float8", "period": "int4",
    "object_id": "text", "team": "text", "x": "float8", "y": "float8", "z": "float8",
}  # fmt: skip

# Inserts the staged metrics ({conflict}: nothing, or ON CONFLICT DO NOTHING) and folds the rows
# really inserted into metric_games, in key order (concurrent writers lock rows in one order).
_INSERT_METRICS = """
WITH new AS (
    INSERT INTO metrics SELECT * FROM metrics_stage {conflict}
    RETURNING game_id, subject_id, metric, "timestamp", value, unit, team
), per_game AS (
    SELECT game_id, subject_id, metric, count(*) AS n, sum(value) AS total,
           max(value) AS max_value, min("timestamp") AS first_ts, max("timestamp") AS last_ts,
           (array_agg(value ORDER BY "timestamp" DESC))[1] AS last_value,
           (array_agg(unit ORDER BY "timestamp" DESC))[1] AS unit,
           (array_agg(team ORDER BY "timestamp" DESC) FILTER (WHERE team IS NOT NULL))[1] AS team
    FROM new GROUP BY game_id, subject_id, metric
), folded AS (
    INSERT INTO metric_games AS g SELECT * FROM per_game ORDER BY game_id, subject_id, metric
    ON CONFLICT (game_id, subject_id, metric) DO UPDATE SET
        n = g.n + excluded.n,
        total = g.total + excluded.total,
        max_value = greatest(g.max_value, excluded.max_value),
        first_ts = least(g.first_ts, excluded.first_ts),
        last_ts = greatest(g.last_ts, excluded.last_ts),
        last_value = CASE WHEN excluded.last_ts > g.last_ts
                          THEN excluded.last_value ELSE g.last_value END,
        unit = CASE WHEN excluded.last_ts > g.last_ts THEN excluded.unit ELSE g.unit END,
        team = coalesce(excluded.team, g.team)
)
SELECT coalesce(sum(n), 0)::bigint FROM per_game"""

_EVENT_FIELDS = (
    "game_id", "event_id", "kind", "timestamp", "period", "game_clock", "team", "player_id",
    "x", "y", "end_x", "end_y", "outcome", "xg",
)  # fmt: skip
_ALERT_FIELDS = (
    "alert_id", "game_id", "subject_id", "rule", "metric", "value", "threshold", "severity",
    "message", "timestamp", "private",
)  # fmt: skip
_GAME_FIELDS = (
    "game_id", "sport", "home", "away", "starts_at", "field_length_m", "field_width_m",
)  # fmt: skip
_ATHLETE_FIELDS = ("athlete_id", "name", "team", "position", "birth_year")
_TEAM_FIELDS = ("team_id", "name", "short_name", "colour")
_HIGHLIGHT_FIELDS = ("highlight_id", "game_id", "start_s", "end_s", "title", "uri", "athlete_id")


def _insert(
    table: str, fields: Sequence[str], tail: str, cast: dict[str, str] | None = None
) -> str:
    cast = cast or {}
    columns = ", ".join(f'"{f}"' for f in fields)
    values = ", ".join("%s" + cast.get(f, "") for f in fields)
    return f"INSERT INTO {table} ({columns}) VALUES ({values}) {tail}"


_INSERT_EVENTS = _insert(
    "events", (*_EVENT_FIELDS, "attributes"), "ON CONFLICT DO NOTHING", {"attributes": "::jsonb"}
)
_INSERT_ALERTS = _insert("alerts", _ALERT_FIELDS, "ON CONFLICT DO NOTHING")
_INSERT_HIGHLIGHTS = _insert("highlights", _HIGHLIGHT_FIELDS, "ON CONFLICT DO NOTHING")
# Upserts: a value left out (None) keeps what is known (the archive writer names a game by its
# sport and field only, and must not erase its teams).
_UPSERT_GAMES = _insert(
    "games AS g",
    _GAME_FIELDS,
    "ON CONFLICT (game_id) DO UPDATE SET sport = excluded.sport, "
    "home = coalesce(excluded.home, g.home), away = coalesce(excluded.away, g.away), "
    "starts_at = coalesce(excluded.starts_at, g.starts_at), "
    "field_length_m = excluded.field_length_m, field_width_m = excluded.field_width_m",
)
_UPSERT_ATHLETES = _insert(
    "athletes AS a",
    _ATHLETE_FIELDS,
    "ON CONFLICT (athlete_id) DO UPDATE SET "
    + ", ".join(f"{f} = coalesce(excluded.{f}, a.{f})" for f in _ATHLETE_FIELDS[1:]),
)

_UPSERT_TEAMS = _insert(
    "teams AS t",
    _TEAM_FIELDS,
    "ON CONFLICT (team_id) DO UPDATE SET "
    + ", ".join(f"{f} = coalesce(excluded.{f}, t.{f})" for f in _TEAM_FIELDS[1:]),
)

# -- reads ---------------------------------------------------------------------------------------

#: A game's value of a metric from its metric_games row, per reduction.
_PER_GAME = {
    "max": "g.max_value", "last": "g.last_value", "mean": "g.total / g.n", "sum": "g.total",
}  # fmt: skip
#: The same reductions over raw rows (a leaderboard since a time within a game).
_PER_ROWS = {
    "max": "max(m.value)",
    "last": '(array_agg(m.value ORDER BY m."timestamp" DESC))[1]',
    "mean": "avg(m.value)",
    "sum": "sum(m.value)",
}


#: A row of ``COPY (SELECT timestamp, x, y ...) TO STDOUT (FORMAT BINARY)``: field count, then
#: each field's length and big-endian value.
_XY_ROW = np.dtype(
    [("n", ">i2"), ("lt", ">i4"), ("t", ">f8"), ("lx", ">i4"), ("x", ">f8"),
     ("ly", ">i4"), ("y", ">f8")]
)  # fmt: skip


def _check_reduction(per_game: str) -> None:
    if per_game not in _PER_GAME:
        raise ConfigError(f"per_game must be one of {sorted(_PER_GAME)}, got {per_game!r}")


def _bounded(query: str, params: list[Any], start_s: float | None, end_s: float | None) -> str:
    """``query`` limited to ``start_s <= timestamp <= end_s`` where given, in time order."""
    if start_s is not None:
        query += ' AND "timestamp" >= %s'
        params.append(start_s)
    if end_s is not None:
        query += ' AND "timestamp" <= %s'
        params.append(end_s)
    return query + ' ORDER BY "timestamp"'


# -- the store -----------------------------------------------------------------------------------


class PostgresStore(Store):
    """The store on a PostgreSQL server (:mod:`arenaflow.store.postgres_schema` has the layout).

    Args:
        url: A libpq URL or connection string, e.g. ``postgresql://user@host:5432/db``.
        schema: Schema holding the tables (created on open).
        timescale: TimescaleDB: None (default) uses it when the extension can be created, True
            requires it (``open()`` fails without), False never uses it. Only a new schema
            chooses; an existing one keeps its layout.
        max_connections: Most connections open at once; further calls wait for one.

    Safe to call from several threads at once.
    """

    name = "postgres"

    def __init__(
        self,
        url: str,
        schema: str = "arenaflow",
        *,
        timescale: bool | None = None,
        max_connections: int = 16,
    ) -> None:
        if not schema:
            raise ConfigError("schema must not be empty")
        if max_connections < 1:
            raise ConfigError(f"max_connections must be >= 1, got {max_connections}")
        try:
            given = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ConfigError(f"not a PostgreSQL URL or connection string: {exc}") from exc
        self.schema = schema
        self.timescale = timescale
        self.where = f"{given.get('host') or 'localhost'}:{given.get('port') or 5432}"
        self.where += f"/{given.get('dbname') or ''}"
        self._params: dict[str, Any] = {**CONNECT_DEFAULTS, **given}
        self._max_connections = max_connections
        self._pool: Pool | None = None
        self._layout: Layout | None = None
        self._lock = threading.Lock()
        self._partitions = DayPartitions(schema)

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r}, schema={self.schema!r})"

    @property
    def layout(self) -> Layout | None:
        """``"timescaledb"`` or ``"partitioned"``, once open."""
        return self._layout

    # -- life cycle ------------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, create the schema if missing and apply pending migrations (idempotent)."""
        with self._lock:
            if self._pool is None:
                self._pool = Pool(self._params, self.schema, self.where, self._max_connections)
            pool = self._pool
        self._layout = pool.run("open", self._migrate)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def schema_version(self) -> int:
        rows = self._rows("schema_version", "SELECT max(version) FROM schema_version", [])
        return int(rows[0][0] or 0)

    @staticmethod
    def drop_schema(url: str, schema: str) -> None:
        """Drop ``schema`` and everything in it."""
        drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(drop)
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: cannot drop schema {schema!r}: {exc}") from exc

    def _migrate(self, conn: Conn) -> Layout:
        return migrate(conn, self.schema, self.where, self.timescale)

    def _call(self, what: str, fn: Callable[[Conn], T]) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError(f"{self!r} is not open ({what})")
        if self._layout is None:  # open() could not reach the server: migrate now
            self._layout = pool.run("open", self._migrate)
        return pool.run(what, fn)

    def _rows(self, what: str, query: str, params: Sequence[Any] | dict[str, Any]) -> list[Any]:
        return self._call(what, lambda c: c.execute(query, params).fetchall())

    # -- writes ----------------------------------------------------------------------------------
    def write_frames(self, frames: Sequence[TrackingFrame]) -> int:
        rows = [
            (f.game_id, f.frame, f.timestamp, f.period, o.id, o.team, o.x, o.y, o.z)
            for f in frames
            for o in f.objects
        ]
        # In key order: the index fills in runs, an athlete's rows share heap pages (faster to
        # write and to read back), and concurrent writers wait for each other, never deadlock.
        rows.sort(key=itemgetter(0, 4, 2, 1))
        return self._archive("frames", _FRAME_COPY, rows, [f.timestamp for f in frames])

    def write_samples(self, samples: Sequence[BiometricSample]) -> int:
        rows = sorted(map(attrgetter(*_SAMPLE_COPY), samples), key=itemgetter(0, 1))
        return self._archive("samples", _SAMPLE_COPY, rows, [s.timestamp for s in samples])

    def write_metrics(self, updates: Sequence[MetricUpdate]) -> int:
        # In key order: concurrent writers of overlapping batches then wait, never deadlock.
        rows = sorted(map(attrgetter(*_METRIC_COPY), updates), key=itemgetter(0, 1, 2, 3))
        if not rows:
            return 0

        def write(conn: Conn) -> int:
            stage = self._stage(conn, "metrics")
            try:  # most batches are new: a plain insert is much cheaper than ON CONFLICT
                with conn.transaction():
                    self._copy(conn, stage, _METRIC_COPY, rows)
                    row = conn.execute(_INSERT_METRICS.format(conflict="")).fetchone()
            except UniqueViolation:
                with conn.transaction():
                    self._copy(conn, stage, _METRIC_COPY, rows)
                    conflict = "ON CONFLICT DO NOTHING"
                    row = conn.execute(_INSERT_METRICS.format(conflict=conflict)).fetchone()
            return int(row[0]) if row else 0

        return self._call("write_metrics", write)

    def write_events(self, events: Sequence[GameEvent]) -> int:
        fields = attrgetter(*_EVENT_FIELDS)
        rows = [
            (*fields(e), msgspec.json.encode(e.attributes).decode())
            for e in sorted(events, key=attrgetter("game_id", "event_id"))
        ]
        return self._many("write_events", _INSERT_EVENTS, rows)

    def write_alerts(self, alerts: Sequence[Alert]) -> int:
        rows = list(map(attrgetter(*_ALERT_FIELDS), sorted(alerts, key=attrgetter("alert_id"))))
        return self._many("write_alerts", _INSERT_ALERTS, rows)

    def write_highlights(self, highlights: Sequence[Highlight]) -> int:
        ordered = sorted(highlights, key=attrgetter("highlight_id"))
        return self._many(
            "write_highlights",
            _INSERT_HIGHLIGHTS,
            list(map(attrgetter(*_HIGHLIGHT_FIELDS), ordered)),
        )

    def upsert_games(self, games: Sequence[Game]) -> None:
        ordered = sorted(games, key=attrgetter("game_id"))
        self._many("upsert_games", _UPSERT_GAMES, list(map(attrgetter(*_GAME_FIELDS), ordered)))

    def upsert_athletes(self, athletes: Sequence[Athlete]) -> None:
        ordered = sorted(athletes, key=attrgetter("athlete_id"))
        rows = list(map(attrgetter(*_ATHLETE_FIELDS), ordered))
        self._many("upsert_athletes", _UPSERT_ATHLETES, rows)

    def upsert_teams(self, teams: Sequence[Team]) -> None:
        ordered = sorted(teams, key=attrgetter("team_id"))
        rows = list(map(attrgetter(*_TEAM_FIELDS), ordered))
        self._many("upsert_teams", _UPSERT_TEAMS, rows)

    def teams(self) -> list[Team]:
        query = f"SELECT {', '.join(_TEAM_FIELDS)} FROM teams ORDER BY team_id"
        return self._objects("teams", Team, query, [])

    def _many(self, what: str, statement: str, rows: list[Any]) -> int:
        if not rows:
            return 0

        def write(conn: Conn) -> int:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(statement, rows)
                return max(cur.rowcount, 0)

        return self._call(what, write)

    @staticmethod
    def _copy(conn: Conn, target: str, columns: dict[str, str], rows: list[Any]) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(target), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(list(columns.values()))
            for row in rows:
                copy.write_row(row)

    @staticmethod
    def _stage(conn: Conn, table: str) -> str:
        stage = f"{table}_stage"
        conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                sql.Identifier(stage), sql.Identifier(table)
            )
        )
        return stage

    def _archive(
        self, table: str, columns: dict[str, str], rows: list[Any], times: list[float]
    ) -> int:
        """Append rows to a raw table: COPY straight in, or, when some are there already, staged
        and inserted with ON CONFLICT DO NOTHING. Returns the rows new to the table."""
        if not rows:
            return 0

        def write(conn: Conn) -> int:
            for attempt in (1, 2):
                if self._layout == "partitioned":
                    self._partitions.ensure(conn, table, times)
                try:
                    try:
                        with conn.transaction():
                            self._copy(conn, table, columns, rows)
                        return len(rows)
                    except UniqueViolation:
                        return self._insert_new(conn, table, columns, rows)
                except CheckViolation as exc:  # a day partition dropped by another process
                    if attempt == 2 or not is_missing_partition(exc):
                        raise
                    self._partitions.forget(table)
            raise AssertionError("unreachable")  # pragma: no cover

        return self._call(f"write_{table}", write)

    def _insert_new(self, conn: Conn, table: str, columns: dict[str, str], rows: list[Any]) -> int:
        stage = self._stage(conn, table)
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
            sql.Identifier(table), names, names, sql.Identifier(stage)
        )
        with conn.transaction():
            self._copy(conn, stage, columns, rows)
            return max(conn.execute(insert).rowcount, 0)

    # -- queries ---------------------------------------------------------------------------------
    def latest(
        self, game_id: str, subject_id: str | None = None, metric: str | None = None
    ) -> list[Point]:
        query = (
            "SELECT game_id, subject_id, metric, last_ts, last_value, unit FROM metric_games "
            "WHERE game_id = %s"
        )
        params: list[Any] = [game_id]
        if subject_id is not None:
            query += " AND subject_id = %s"
            params.append(subject_id)
        if metric is not None:
            query += " AND metric = %s"
            params.append(metric)
        rows = self._rows("latest", query + " ORDER BY subject_id, metric", params)
        return [Point(*row) for row in rows]

    def window(
        self,
        game_id: str,
        subject_id: str,
        metric: str,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> list[Point]:
        params: list[Any] = [game_id, subject_id, metric]
        query = _bounded(
            'SELECT "timestamp", value, unit FROM metrics '
            "WHERE game_id = %s AND subject_id = %s AND metric = %s",
            params,
            start_s,
            end_s,
        )
        rows = self._rows("window", query, params)
        return [Point(game_id, subject_id, metric, t, v, u) for t, v, u in rows]

    def history(
        self,
        subject_id: str,
        metric: str,
        per_game: Aggregate = "max",
        exclude_game: str | None = None,
    ) -> Summary:
        _check_reduction(per_game)
        query = (
            f"SELECT g.game_id, {_PER_GAME[per_game]} FROM metric_games g "
            "WHERE g.subject_id = %s AND g.metric = %s"
        )
        params: list[Any] = [subject_id, metric]
        if exclude_game is not None:
            query += " AND g.game_id <> %s"
            params.append(exclude_game)
        per = {g: float(v) for g, v in self._rows("history", query + " ORDER BY 1", params)}
        return summarise(subject_id, metric, per)

    def leaderboard(
        self,
        metric: str,
        n: int = 10,
        per_game: Aggregate = "max",
        game_id: str | None = None,
        since_s: float | None = None,
    ) -> list[Leader]:
        _check_reduction(per_game)
        value = _PER_GAME[per_game]
        params = {"metric": metric, "game": game_id, "since": since_s, "n": n}
        where = "g.metric = %(metric)s"
        if game_id is not None:
            where += " AND g.game_id = %(game)s"
        if since_s is None:
            query = (
                f"SELECT g.subject_id, g.game_id, {value}, coalesce(g.team, a.team) "
                "FROM metric_games g LEFT JOIN athletes a ON a.athlete_id = g.subject_id "
                f"WHERE {where} ORDER BY {value} DESC, g.subject_id, g.game_id LIMIT %(n)s"
            )
        else:
            # Games wholly since ``since_s`` come from metric_games; a game that straddles it is
            # reduced from its rows since then.
            query = (
                f"WITH per_game AS (SELECT g.subject_id, g.game_id, {value} AS value, g.team "
                f"FROM metric_games g WHERE {where} AND g.first_ts >= %(since)s "
                f"UNION ALL SELECT g.subject_id, g.game_id, {_PER_ROWS[per_game]}, g.team "
                "FROM metric_games g JOIN metrics m ON m.game_id = g.game_id "
                "AND m.subject_id = g.subject_id AND m.metric = g.metric "
                f"WHERE {where} AND g.first_ts < %(since)s AND g.last_ts >= %(since)s "
                'AND m."timestamp" >= %(since)s GROUP BY g.subject_id, g.game_id, g.team) '
                "SELECT p.subject_id, p.game_id, p.value, coalesce(p.team, a.team) "
                "FROM per_game p LEFT JOIN athletes a ON a.athlete_id = p.subject_id "
                "ORDER BY p.value DESC, p.subject_id, p.game_id LIMIT %(n)s"
            )
        rows = self._rows("leaderboard", query, params)
        return [Leader(s, g, float(v), team) for s, g, v, team in rows]

    def events(self, game_id: str, kind: str | None = None) -> list[GameEvent]:
        columns = ", ".join(f'"{f}"' for f in (*_EVENT_FIELDS, "attributes"))
        query = f"SELECT {columns} FROM events WHERE game_id = %s"
        params: list[Any] = [game_id]
        if kind is not None:
            query += " AND kind = %s"
            params.append(kind)
        query += ' ORDER BY "timestamp", event_id'
        return self._objects("events", GameEvent, query, params)

    def alerts(self, game_id: str) -> list[Alert]:
        columns = ", ".join(f'"{f}"' for f in _ALERT_FIELDS)
        query = f'SELECT {columns} FROM alerts WHERE game_id = %s ORDER BY "timestamp", alert_id'
        return self._objects("alerts", Alert, query, [game_id])

    def game(self, game_id: str) -> Game | None:
        query = f"SELECT {', '.join(_GAME_FIELDS)} FROM games WHERE game_id = %s"
        found = self._objects("game", Game, query, [game_id])
        return found[0] if found else None

    def _objects(self, what: str, kind: Callable[..., T], query: str, params: list[Any]) -> list[T]:
        def read(conn: Conn) -> list[T]:
            with conn.cursor(row_factory=kwargs_row(kind)) as cur:
                return cur.execute(query, params).fetchall()

        return self._call(what, read)

    def positions(
        self,
        game_id: str,
        athlete_id: str,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        # A whole game is 135,000 rows an athlete: they come as binary COPY, read by numpy
        # in one go (three NOT NULL float8 columns: fixed-width rows) instead of as tuples.
        select = sql.SQL(
            'SELECT "timestamp", x, y FROM frames WHERE game_id = {} AND object_id = {}'
        )
        query = select.format(sql.Literal(game_id), sql.Literal(athlete_id))
        if start_s is not None:
            query += sql.SQL(' AND "timestamp" >= {}').format(sql.Literal(float(start_s)))
        if end_s is not None:
            query += sql.SQL(' AND "timestamp" <= {}').format(sql.Literal(float(end_s)))
        copy = sql.SQL('COPY ({} ORDER BY "timestamp", frame) TO STDOUT (FORMAT BINARY)').format(
            query
        )

        def read(conn: Conn) -> bytes:
            with conn.cursor() as cur, cur.copy(copy) as rows:
                return b"".join(bytes(chunk) for chunk in rows)

        data = self._call("positions", read)
        # Header: 11-byte signature, flags, extension length (+ extension); trailer: int16 -1.
        start = 19 + int.from_bytes(data[15:19], "big")
        table = np.frombuffer(
            data, dtype=_XY_ROW, offset=start, count=(len(data) - start - 2) // 38
        )
        xy = np.empty((table.size, 2), dtype=np.float64)
        xy[:, 0], xy[:, 1] = table["x"], table["y"]
        return table["t"].astype(np.float64), xy

    # -- archive ---------------------------------------------------------------------------------
    def export_game(self, game_id: str, path: Path, fmt: Literal["parquet", "csv"]) -> Path:
        if fmt not in ("parquet", "csv"):
            raise ConfigError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        select = sql.SQL(
            "SELECT {} FROM frames WHERE game_id = {} ORDER BY frame, object_id"
        ).format(sql.SQL(", ").join(map(sql.Identifier, _FRAME_COPY)), sql.Literal(game_id))
        writer = self._export_csv if fmt == "csv" else self._export_parquet
        try:
            self._call("export_game", lambda c: writer(c, select, partial))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(path)
        return path

    @staticmethod
    def _export_csv(conn: Conn, select: sql.Composed, path: Path) -> None:
        statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT CSV, HEADER)").format(select)
        with path.open("wb") as fh, conn.cursor() as cur, cur.copy(statement) as copy:
            for chunk in copy:
                fh.write(chunk)

    @staticmethod
    def _export_parquet(conn: Conn, select: sql.Composed, path: Path) -> None:
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        types = {
            "text": pa.string(), "int8": pa.int64(), "int4": pa.int32(), "float8": pa.float64(),
        }  # fmt: skip
        schema = pa.schema([(name, types[kind]) for name, kind in _FRAME_COPY.items()])
        # A server-side cursor streams the game in chunks rather than holding it in memory.
        with (
            conn.transaction(),
            conn.cursor(name="arenaflow_export") as cur,
            pq.ParquetWriter(str(path), schema) as out,
        ):
            cur.execute(select)
            while chunk := cur.fetchmany(100_000):
                columns = [list(column) for column in zip(*chunk, strict=True)]
                out.write_batch(pa.record_batch(columns, schema=schema))

    def apply_retention(self, raw_days: float, now_s: float) -> int:
        cutoff = now_s - raw_days * DAY_S
        if not cutoff > EPOCH_FLOOR_S:
            return 0
        return self._call("apply_retention", lambda c: self._retention(c, cutoff))

    def _retention(self, conn: Conn, cutoff: float) -> int:
        lock = f"arenaflow.retention.{self.schema}"
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [lock])  # one run at a time
        try:
            removed = 0
            for table in ARCHIVE_TABLES:
                if self._layout == "partitioned":
                    removed += self._partitions.drop_expired(conn, table, cutoff)
                # The rest (the day the cutoff falls in; every chunk with TimescaleDB), by row.
                delete = sql.SQL('DELETE FROM {} WHERE "timestamp" >= %s AND "timestamp" < %s')
                cur = conn.execute(delete.format(sql.Identifier(table)), [EPOCH_FLOOR_S, cutoff])
                removed += max(cur.rowcount, 0)
            return removed
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [lock])
