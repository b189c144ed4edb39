"""The PostgreSQL store's schema: its tables, the numbered migrations that create them, and the
day partitions of the raw tables.

Everything lives in one schema (``arenaflow`` by default), brought up to
:data:`~arenaflow.store.base.SCHEMA_VERSION` by :func:`migrate` when the store opens: one
transaction under a transaction-level advisory lock, so concurrent opens are safe; the version,
and the layout chosen, are recorded in ``schema_version``.

Tables: ``games``, ``teams`` and ``athletes`` (upserted), ``frames`` (the raw archive, one row
per tracked object), ``samples`` (raw biometrics), ``metrics`` (every ``MetricUpdate``),
``metric_games`` (one row per game, subject and metric: count, sum, max, first and last time,
last value; updated in the transaction that inserts the rows it sums, it answers latest values,
season history and leaderboards without scanning series), ``events`` (attributes as JSONB),
``alerts``, ``highlights``.

Layout, chosen when the schema is created and kept:

* ``timescaledb`` when the extension can be created: ``frames``, ``samples`` and ``metrics`` are
  hypertables on their capture time (one-day chunks for the archive, seven-day chunks for
  metrics; times are float seconds, mapped to whole seconds by a partitioning function).
* ``partitioned`` otherwise. Debian's PostgreSQL has no TimescaleDB package, so this is what the
  project's machines run and test: ``frames`` and ``samples`` are partitioned by range of capture
  time, one partition per UTC day, created (and attached) on first use (:class:`DayPartitions`);
  one holds replays timed from kick-off (before :data:`~arenaflow.store.base.EPOCH_FLOOR_S`, never
  expired), one the times past the year 9999, infinity and NaN. Retention detaches and drops whole
  expired days (``DETACH PARTITION ... CONCURRENTLY``: reads and writes go on) and deletes the
  expired rows of the day the cutoff falls in (a BRIN index on time finds them). ``metrics`` is
  one plain table: it is kept for good and read through its primary key.

The archive's key is ``(game_id, object_id, timestamp, frame)``: one row per object and frame
(the unique keys of a partitioned table must hold its partition key), and the same index serves
an athlete's positions over a time range. Ids compare byte by byte (``COLLATE "C"``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Literal

import psycopg
from psycopg import sql
from psycopg.errors import CheckViolation

from arenaflow.errors import StoreError
from arenaflow.store.base import EPOCH_FLOOR_S, SCHEMA_VERSION
from arenaflow.store.postgres_pool import Conn

__all__ = [
    "ARCHIVE_TABLES",
    "DAY_S",
    "DayPartitions",
    "Layout",
    "is_missing_partition",
    "migrate",
]

log = logging.getLogger(__name__)

Layout = Literal["partitioned", "timescaledb"]

DAY_S = 86_400
#: Day partitions stop at the year 9999; later times, infinity and NaN go to one partition.
LAST_DAY = 2_932_896

# Ids and names compare byte by byte, whatever the database's locale: cheaper to index, and
# ordered as the other backends order them.
_ID = 'text COLLATE "C"'

_FRAMES = f"""CREATE TABLE frames (
    game_id {_ID} NOT NULL, frame bigint NOT NULL, "timestamp" double precision NOT NULL,
    period integer NOT NULL, object_id {_ID} NOT NULL, team text NOT NULL,
    x double precision NOT NULL, y double precision NOT NULL, z double precision,
    PRIMARY KEY (game_id, object_id, "timestamp", frame))"""

_SAMPLES = f"""CREATE TABLE samples (
    athlete_id {_ID} NOT NULL, "timestamp" double precision NOT NULL, game_id {_ID},
    heart_rate_bpm double precision, rr_interval_ms double precision,
    core_temp_c double precision,
    PRIMARY KEY (athlete_id, "timestamp"))"""

_METRICS = f"""CREATE TABLE metrics (
    game_id {_ID} NOT NULL, subject_id {_ID} NOT NULL, metric {_ID} NOT NULL,
    "timestamp" double precision NOT NULL, value double precision NOT NULL, unit text NOT NULL,
    frame bigint, team text, private boolean NOT NULL DEFAULT false,
    PRIMARY KEY (game_id, subject_id, metric, "timestamp"))"""

_COMMON = (
    f"""CREATE TABLE games (
        game_id {_ID} PRIMARY KEY, sport text NOT NULL, home text, away text,
        starts_at double precision, field_length_m double precision NOT NULL,
        field_width_m double precision NOT NULL)""",
    f"""CREATE TABLE athletes (
        athlete_id {_ID} PRIMARY KEY, name text, team text, position text, birth_year integer)""",
    # Updates leave the indexed columns alone unless a new maximum comes: mostly HOT updates.
    f"""CREATE TABLE metric_games (
        game_id {_ID} NOT NULL, subject_id {_ID} NOT NULL, metric {_ID} NOT NULL,
        n bigint NOT NULL, total double precision NOT NULL, max_value double precision NOT NULL,
        first_ts double precision NOT NULL, last_ts double precision NOT NULL,
        last_value double precision NOT NULL, unit text NOT NULL, team text,
        PRIMARY KEY (game_id, subject_id, metric)) WITH (fillfactor = 70)""",
    "CREATE INDEX metric_games_subject ON metric_games (subject_id, metric)",
    "CREATE INDEX metric_games_top ON metric_games (metric, max_value DESC, subject_id, game_id)",
    f"""CREATE TABLE events (
        game_id {_ID} NOT NULL, event_id {_ID} NOT NULL, kind {_ID} NOT NULL,
        "timestamp" double precision NOT NULL, period integer NOT NULL,
        game_clock double precision, team text, player_id text,
        x double precision, y double precision, end_x double precision, end_y double precision,
        outcome text, xg double precision, attributes jsonb NOT NULL DEFAULT '{{}}',
        PRIMARY KEY (game_id, event_id))""",
    'CREATE INDEX events_time ON events (game_id, "timestamp", event_id)',
    f"""CREATE TABLE alerts (
        alert_id {_ID} PRIMARY KEY, game_id {_ID} NOT NULL, subject_id text NOT NULL,
        rule text NOT NULL, metric text NOT NULL, value double precision NOT NULL,
        threshold double precision NOT NULL, severity text NOT NULL, message text NOT NULL,
        "timestamp" double precision NOT NULL, private boolean NOT NULL DEFAULT false)""",
    'CREATE INDEX alerts_time ON alerts (game_id, "timestamp", alert_id)',
    f"""CREATE TABLE highlights (
        highlight_id {_ID} PRIMARY KEY, game_id {_ID} NOT NULL,
        start_s double precision NOT NULL, end_s double precision NOT NULL, title text NOT NULL,
        uri text, athlete_id text)""",
    "CREATE INDEX highlights_game ON highlights (game_id, start_s)",
)

#: Raw tables, partitioned (or chunked) by capture time, and the length of a part in seconds.
ARCHIVE_TABLES = {"frames": DAY_S, "samples": DAY_S}
_HYPERTABLES = {**ARCHIVE_TABLES, "metrics": 7 * DAY_S}

# Float seconds -> whole seconds for TimescaleDB's integer time dimension, clamped so that
# infinities and NaN land in an edge chunk instead of failing the insert.
_EPOCH_S = """CREATE FUNCTION epoch_s(double precision) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN $1 > 9e15 THEN 9000000000000000
                      WHEN $1 < -9e15 THEN -9000000000000000 ELSE floor($1)::bigint END $$"""

_HYPERTABLE = (
    "SELECT {}({}::regclass, 'timestamp', chunk_time_interval => {}::bigint, "
    "time_partitioning_func => 'epoch_s'::regproc, create_default_indexes => false)"
)


def _migration_1(conn: Conn, layout: Layout, extension_schema: str) -> None:
    """The initial schema."""
    if layout == "timescaledb":
        for statement in (_FRAMES, _SAMPLES, _METRICS, _EPOCH_S):
            conn.execute(statement)
        create = sql.Identifier(extension_schema, "create_hypertable")
        for table, chunk_s in _HYPERTABLES.items():
            conn.execute(
                sql.SQL(_HYPERTABLE).format(create, sql.Literal(table), sql.Literal(chunk_s))
            )
    else:
        conn.execute(_FRAMES + ' PARTITION BY RANGE ("timestamp")')
        conn.execute(_SAMPLES + ' PARTITION BY RANGE ("timestamp")')
        conn.execute(_METRICS)
        # No DEFAULT partition: day partitions are attached (and detached) concurrently with
        # reads and writes, which a default partition would forbid or block.
        edges = {"kickoff": ("MINVALUE", EPOCH_FLOOR_S), "far": (LAST_DAY * DAY_S, "MAXVALUE")}
        for table in ARCHIVE_TABLES:
            for suffix, (low, high) in edges.items():
                bounds = [sql.SQL(b) if isinstance(b, str) else sql.Literal(b) for b in (low, high)]
                conn.execute(
                    sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                        sql.Identifier(f"{table}_{suffix}"), sql.Identifier(table), *bounds
                    )
                )
    for table in ARCHIVE_TABLES:  # retention deletes by time: read only the block ranges it drops
        conn.execute(
            sql.SQL('CREATE INDEX {} ON {} USING brin ("timestamp")').format(
                sql.Identifier(f"{table}_time"), sql.Identifier(table)
            )
        )
    for statement in _COMMON:
        conn.execute(statement)


def _migration_2(conn: Conn, layout: Layout, extension_schema: str) -> None:
    """Teams."""
    conn.execute(
        f"""CREATE TABLE teams (team_id {_ID} PRIMARY KEY, name text, short_name text,
        colour text)"""
    )


#: Migration ``n`` brings a schema from version ``n - 1`` to ``n``: append, never edit.
_MIGRATIONS: tuple[Callable[[Conn, Layout, str], None], ...] = (_migration_1, _migration_2)


def migrate(conn: Conn, schema: str, where: str, timescale: bool | None) -> Layout:
    """Create ``schema`` if missing and bring it to :data:`~arenaflow.store.base.SCHEMA_VERSION`
    (one transaction under an advisory lock: concurrent opens are safe); returns its layout.

    ``timescale``: None uses TimescaleDB when the extension can be created, True requires it,
    False never uses it; only a new schema chooses."""
    with conn.transaction():
        lock = f"arenaflow.migrate.{schema}"
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [lock])
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
            "layout text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT max(version), min(layout) FROM schema_version").fetchone()
        version, known = (int(row[0] or 0), row[1]) if row else (0, None)
        if len(_MIGRATIONS) != SCHEMA_VERSION:  # a code error: say so before touching data
            raise StoreError(
                f"the PostgreSQL store has {len(_MIGRATIONS)} migrations for schema version "
                f"{SCHEMA_VERSION}: add the missing ones to arenaflow.store.postgres_schema"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"schema {schema!r} at {where} is at version {version}, newer than "
                f"this arenaflow's {SCHEMA_VERSION}: upgrade arenaflow"
            )
        layout: Layout = "timescaledb" if known == "timescaledb" else "partitioned"
        extension_schema = "public"
        if known is None:
            layout, extension_schema = _choose_layout(conn, schema, where, timescale)
        for number in range(version + 1, SCHEMA_VERSION + 1):
            _MIGRATIONS[number - 1](conn, layout, extension_schema)
            conn.execute(
                "INSERT INTO schema_version (version, layout) VALUES (%s, %s)", [number, layout]
            )
            log.info("schema %s: migration %d applied (%s)", schema, number, layout)
    return layout


def _choose_layout(
    conn: Conn, schema: str, where: str, timescale: bool | None
) -> tuple[Layout, str]:
    """TimescaleDB when wanted and it can be created; the plain layout otherwise."""
    if timescale is False:
        return "partitioned", "public"
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    reason = "the extension is not installed on the server"
    if available:
        try:
            with conn.transaction():  # a savepoint: failing leaves the migration going
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                row = conn.execute(
                    "SELECT extnamespace::regnamespace::text FROM pg_extension "
                    "WHERE extname = 'timescaledb'"
                ).fetchone()
            return "timescaledb", str(row[0]) if row else "public"
        except psycopg.Error as exc:
            reason = str(exc).strip()
    if timescale:
        raise StoreError(f"TimescaleDB cannot be used at {where}: {reason}")
    log.info("schema %s: plain partitioned tables (no TimescaleDB: %s)", schema, reason)
    return "partitioned", "public"


def _day_table(table: str, day: int) -> str:
    return f"{table}_{datetime.fromtimestamp(day * DAY_S, UTC):%Y%m%d}"


def _days(times: Iterable[float]) -> set[int]:
    """UTC days (since the epoch) holding ``times``; kick-off and non-finite times have none."""
    return {int(t // DAY_S) for t in times if EPOCH_FLOOR_S <= t < LAST_DAY * DAY_S}


def is_missing_partition(exc: CheckViolation) -> bool:
    """Whether ``exc`` is a row falling in no partition (its day dropped by another process)."""
    return (exc.diag.message_primary or "").startswith("no partition of relation")


class DayPartitions:
    """The day partitions of ``frames`` and ``samples`` in a ``partitioned`` schema: created on
    first use, dropped once expired. Those known to exist are remembered, so that a write checks
    its days in memory. Safe to use from several threads at once."""

    def __init__(self, schema: str) -> None:
        self._schema = schema
        self._lock = threading.Lock()
        self._known: set[tuple[str, int]] = set()  # (table, day) known to exist

    def ensure(self, conn: Conn, table: str, times: Iterable[float]) -> None:
        """Create the day partitions ``times`` fall in, and the next days', where missing."""
        days = _days(times)
        with self._lock:
            missing = sorted(
                d
                for d in days | {d + 1 for d in days}
                if (table, d) not in self._known and d < LAST_DAY
            )
        if not missing:
            return
        # CREATE + ATTACH rather than CREATE ... PARTITION OF: attaching locks the table in a
        # mode that lets reads and writes go on (a new day must not wait for a long export).
        create = "CREATE TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)"
        attach = "ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})"
        with conn.transaction():
            # Retention detaching a day holds the table a while: fail (and be retried), not hang.
            conn.execute("SET LOCAL lock_timeout = '30s'")
            lock = f"arenaflow.partitions.{self._schema}"
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [lock])
            for day in missing:
                part = sql.Identifier(_day_table(table, day))
                found = conn.execute(
                    "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(%s)",
                    [_day_table(table, day)],
                ).fetchone()
                if found:
                    continue
                conn.execute(sql.SQL(create).format(part, sql.Identifier(table)))
                low, high = sql.Literal(float(day * DAY_S)), sql.Literal(float((day + 1) * DAY_S))
                conn.execute(sql.SQL(attach).format(sql.Identifier(table), part, low, high))
        with self._lock:
            self._known.update((table, d) for d in missing)

    def forget(self, table: str) -> None:
        """Forget the days of ``table`` known to exist (one was dropped by another process)."""
        with self._lock:
            self._known = {p for p in self._known if p[0] != table}

    def drop_expired(self, conn: Conn, table: str, cutoff: float) -> int:
        """Drop the day partitions of ``table`` wholly before ``cutoff``; returns their rows.

        Each is detached concurrently (reads and writes go on), counted, then dropped; a day
        left detached or half-detached by an interrupted run is finished first."""
        days = conn.execute(
            "SELECT c.relname, c.relispartition, coalesce(i.inhdetachpending, false) "
            "FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
            "AND c.relname ~ %s",
            [f"^{table}_[0-9]{{8}}$"],
        ).fetchall()
        removed = 0
        for name, attached, pending in sorted(days):
            day = (date.fromisoformat(name[-8:]) - date(1970, 1, 1)).days
            if (day + 1) * DAY_S > cutoff:
                continue
            part = sql.Identifier(name)
            if attached:
                mode = "FINALIZE" if pending else "CONCURRENTLY"
                detach = sql.SQL("ALTER TABLE {} DETACH PARTITION {} " + mode)
                conn.execute(detach.format(sql.Identifier(table), part))
            with self._lock:
                self._known.discard((table, day))
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(part)).fetchone()
            removed += int(count[0]) if count else 0
            conn.execute(sql.SQL("DROP TABLE {}").format(part))
        return removed
