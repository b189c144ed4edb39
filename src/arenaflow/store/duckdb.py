"""The embedded store: one DuckDB file for what is kept, a Parquet archive for the raw feeds.

Layout of the store's directory::

    arenaflow.duckdb    metrics, series, events, alerts, highlights, games, athletes,
                        schema_version
    archive/frames/     raw tracking frames, one row per tracked object, as Parquet
    archive/samples/    raw biometric samples, the same layout

**Archive** (frames and samples): staged Parquet files, one per write, compacted into a few files
per game and read in place by DuckDB; duplicates are dropped by every read and merge. The design
is in :mod:`arenaflow.store.parquet_archive`.

**Metrics** are appended to ``metrics``, which has no primary key: in DuckDB it would be an
in-memory index of billions of entries (why samples are archived, not put in a table). Idempotency
comes from per-series aggregates (count, sum, max, first and last time, last value of each game,
subject and metric), kept in memory for the games being written (loaded from ``series`` when a game
is first written). An update later than its series' last time is new: one comparison in the live
case. Those at or before it (duplicates, or late values) are looked up in ``metrics`` over their
time range, which zone maps prune, and only absent ones are inserted. A batch is one ``INSERT`` (one
transaction); the aggregates change once it has committed. They are saved to ``series`` every
``flush_interval_s`` and on close, with the sequence number of the last batch they hold; on open,
later batches are folded in from ``metrics`` (a crash loses nothing). ``latest``, ``compare``,
``history`` and ``leaderboard`` read aggregates: in memory for games being written, from ``series``
for the others (cached until the set of games in memory changes).

**Threads.** A DuckDB connection is not thread-safe: each thread has its own cursor (a connection
to the same database, as DuckDB's documentation prescribes); DuckDB runs the cursors' queries
concurrently (MVCC) and without the GIL. One lock serialises writes to the database (appends
never conflict in DuckDB, but duplicate checks and aggregates want one writer); reads take only
a brief lock on the in-memory aggregates; archive writes take none.

**Retention** goes by archive file (see :mod:`arenaflow.store.parquet_archive`); metrics are
kept.

Example:
    >>> import tempfile
    >>> from arenaflow.sports.schemas import MetricUpdate
    >>> with tempfile.TemporaryDirectory() as tmp, DuckDBStore(tmp) as store:
    ...     speed = [MetricUpdate(game_id="g1", subject_id="p7", metric="speed", value=v,
    ...                           unit="m/s", timestamp=t) for t, v in ((1.0, 6.5), (2.0, 7.5))]
    ...     store.write_metrics(speed + speed)  # the copies are duplicates
    ...     [(p.subject_id, p.value) for p in store.latest("g1")], store.history("p7", "speed").max
    2
    ([('p7', 7.5)], 7.5)
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal

import duckdb
import msgspec
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from arenaflow.errors import ConfigError, StoreError
from arenaflow.sports.schemas import Alert, BiometricSample, GameEvent, MetricUpdate, TrackingFrame
from arenaflow.store._duckdb_sql import arrow_schema, run, sql_literal
from arenaflow.store.base import (
    SCHEMA_VERSION,
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
from arenaflow.store.parquet_archive import (
    FRAME_LAYOUT,
    SAMPLE_LAYOUT,
    Archive,
    frames_table,
    samples_table,
)

__all__ = ["DuckDBStore"]

log = logging.getLogger(__name__)

DB_FILE = "arenaflow.duckdb"

#: Numbered migrations, applied in order, each in one transaction with its ``schema_version`` row.
_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE games (game_id VARCHAR PRIMARY KEY, sport VARCHAR NOT NULL, home VARCHAR,
            away VARCHAR, starts_at DOUBLE, field_length_m DOUBLE NOT NULL,
            field_width_m DOUBLE NOT NULL);
        CREATE TABLE athletes (athlete_id VARCHAR PRIMARY KEY, name VARCHAR, team VARCHAR,
            position VARCHAR, birth_year INTEGER);
        CREATE TABLE metrics (seq BIGINT NOT NULL, game_id VARCHAR NOT NULL,
            subject_id VARCHAR NOT NULL, metric VARCHAR NOT NULL, timestamp DOUBLE NOT NULL,
            value DOUBLE NOT NULL, unit VARCHAR NOT NULL, frame BIGINT, team VARCHAR,
            private BOOLEAN NOT NULL);
        CREATE TABLE series (game_id VARCHAR, subject_id VARCHAR, metric VARCHAR,
            n BIGINT NOT NULL, total DOUBLE NOT NULL, max_value DOUBLE NOT NULL,
            first_ts DOUBLE NOT NULL, last_ts DOUBLE NOT NULL, last_value DOUBLE NOT NULL,
            unit VARCHAR NOT NULL, team VARCHAR, PRIMARY KEY (game_id, subject_id, metric));
        CREATE TABLE series_applied (seq BIGINT NOT NULL);
        INSERT INTO series_applied VALUES (0);
        CREATE TABLE events (game_id VARCHAR, event_id VARCHAR, kind VARCHAR NOT NULL,
            timestamp DOUBLE NOT NULL, period INTEGER NOT NULL, game_clock DOUBLE, team VARCHAR,
            player_id VARCHAR, x DOUBLE, y DOUBLE, end_x DOUBLE, end_y DOUBLE, outcome VARCHAR,
            xg DOUBLE, attributes VARCHAR NOT NULL, PRIMARY KEY (game_id, event_id));
        CREATE TABLE alerts (alert_id VARCHAR PRIMARY KEY, game_id VARCHAR NOT NULL,
            subject_id VARCHAR NOT NULL, rule VARCHAR NOT NULL, metric VARCHAR NOT NULL,
            value DOUBLE NOT NULL, threshold DOUBLE NOT NULL, severity VARCHAR NOT NULL,
            message VARCHAR NOT NULL, timestamp DOUBLE NOT NULL, private BOOLEAN NOT NULL);
        CREATE TABLE highlights (highlight_id VARCHAR PRIMARY KEY, game_id VARCHAR NOT NULL,
            start_s DOUBLE NOT NULL, end_s DOUBLE NOT NULL, title VARCHAR NOT NULL, uri VARCHAR,
            athlete_id VARCHAR);
        """,
    ),
    (
        2,
        """
        CREATE TABLE teams (team_id VARCHAR PRIMARY KEY, name VARCHAR, short_name VARCHAR,
            colour VARCHAR);
        """,
    ),
)

#: Batches after the last save of the aggregates, folded into ``series`` on open.
_RECOVER_SERIES = """
INSERT OR REPLACE INTO series
SELECT d.game_id, d.subject_id, d.metric, coalesce(s.n, 0) + d.n, coalesce(s.total, 0) + d.total,
    greatest(s.max_value, d.max_value), least(s.first_ts, d.first_ts),
    greatest(s.last_ts, d.last_ts),
    CASE WHEN s.last_ts IS NULL OR d.last_ts > s.last_ts THEN d.last_value ELSE s.last_value END,
    CASE WHEN s.last_ts IS NULL OR d.last_ts > s.last_ts THEN d.unit ELSE s.unit END,
    CASE WHEN s.last_ts IS NULL OR d.last_ts > s.last_ts THEN coalesce(d.team, s.team)
        ELSE coalesce(s.team, d.team) END
FROM (SELECT game_id, subject_id, metric, count(*) AS n, sum(value) AS total,
        max(value) AS max_value, min(timestamp) AS first_ts, max(timestamp) AS last_ts,
        arg_max(value, timestamp) AS last_value, arg_max(unit, timestamp) AS unit,
        arg_max(team, timestamp) AS team
      FROM metrics WHERE seq > ? GROUP BY game_id, subject_id, metric) d
LEFT JOIN series s USING (game_id, subject_id, metric)
"""


_METRICS = arrow_schema(
    "seq:int64 game_id:string subject_id:string metric:string timestamp:float64 value:float64 "
    "unit:string frame:int64 team:string private:bool_"
)
_SERIES = arrow_schema(
    "game_id:string subject_id:string metric:string n:int64 total:float64 max_value:float64 "
    "first_ts:float64 last_ts:float64 last_value:float64 unit:string team:string"
)
_EVENT_FIELDS = tuple(f for f in GameEvent.__struct_fields__ if f != "attributes")
_ALERT_FIELDS = Alert.__struct_fields__
_HIGHLIGHT_FIELDS = tuple(Highlight.__dataclass_fields__)
_GAME_FIELDS = tuple(Game.__dataclass_fields__)
_ATHLETE_FIELDS = tuple(Athlete.__dataclass_fields__)
_TEAM_FIELDS = tuple(Team.__dataclass_fields__)

#: A game's value of a metric, per reduction: from ``series``, from raw rows, from memory.
_PER_GAME = {"max": "max_value", "last": "last_value", "mean": "total / n", "sum": "total"}
_PER_ROWS = {"max": "max(value)", "last": "arg_max(value, timestamp)", "mean": "avg(value)"}
_PER_ROWS["sum"] = "sum(value)"
_NONE: dict[str, Any] = {}


@contextmanager
def _transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
    run(cur, "BEGIN")
    try:
        yield
    except BaseException:
        run(cur, "ROLLBACK")
        raise
    run(cur, "COMMIT")


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Backend errors as :class:`StoreError`, naming what failed."""
    try:
        yield
    except (duckdb.Error, OSError, pa.ArrowException) as exc:
        raise StoreError(f"duckdb store: {action} failed: {exc}") from exc


class _Agg:
    """A series' aggregates in one game: count, sum, max, first and last time, last value.

    Once in the store's memory an ``_Agg`` is never changed, only replaced by a new one (a
    batch works on copies), so readers may use one outside the lock."""

    __slots__ = ("first_ts", "last", "last_ts", "max", "n", "team", "total", "unit")
    #: In the order of ``series``' columns after the key.
    FIELDS = ("n", "total", "max", "first_ts", "last_ts", "last", "unit", "team")

    def __init__(
        self, n: int, total: float, max_: float, first_ts: float, last_ts: float, last: float,
        unit: str, team: str | None,
    ) -> None:  # fmt: skip
        self.n, self.total, self.max = n, total, max_
        self.first_ts, self.last_ts, self.last = first_ts, last_ts, last
        self.unit, self.team = unit, team

    @classmethod
    def of(cls, u: MetricUpdate) -> _Agg:
        return cls(1, u.value, u.value, u.timestamp, u.timestamp, u.value, u.unit, u.team)

    def copy(self) -> _Agg:
        a = self
        return _Agg(a.n, a.total, a.max, a.first_ts, a.last_ts, a.last, a.unit, a.team)

    def then(self, u: MetricUpdate) -> _Agg:
        """A copy with ``u`` counted, ``u`` being later than the last value."""
        v = u.value
        top = v if v > self.max else self.max
        team = u.team or self.team
        return _Agg(self.n + 1, self.total + v, top, self.first_ts, u.timestamp, v, u.unit, team)

    def add(self, u: MetricUpdate) -> None:
        """Count a value the series did not have (later than its last, or late but absent)."""
        self.n += 1
        self.total += u.value
        self.max = max(self.max, u.value)
        self.first_ts = min(self.first_ts, u.timestamp)
        if u.timestamp > self.last_ts:
            self.last_ts, self.last, self.unit = u.timestamp, u.value, u.unit
            self.team = u.team or self.team


_PER_AGG: dict[str, Callable[[_Agg], float]] = {
    "max": attrgetter("max"),
    "last": attrgetter("last"),
    "mean": lambda a: a.total / a.n,
    "sum": attrgetter("total"),
}


def _check_reduction(per_game: str) -> None:
    if per_game not in _PER_GAME:
        raise ConfigError(f"per_game must be one of {sorted(_PER_GAME)}, got {per_game!r}")


#: A leaderboard candidate: value, subject, game, team, first time of the series.
_Candidate = tuple[float, str, str, str | None, float]


def _top(candidates: list[_Candidate], n: int) -> list[_Candidate]:
    """The ``n`` highest, ties by subject then game."""
    if len(candidates) > n > 0:
        cut = heapq.nlargest(n, [c[0] for c in candidates])[-1]
        candidates = [c for c in candidates if c[0] >= cut]
    return sorted(candidates, key=lambda c: (-c[0], c[1], c[2]))[: max(n, 0)]


class DuckDBStore(Store):
    """The embedded store in ``directory`` (created on open); the module doc has the design.

    Args:
        directory: Where the database file and the archive live.
        fsync: Flush each archive file to disk before the write returns (off for scratch data).
        compact_rows: Staged archive rows that make a compaction due.
        compact_age_s: Age of the oldest staged file that makes one due.
        merge_fanin: Files of one level in a game merged into one of the next.
        flush_interval_s: How often the in-memory aggregates are saved to ``series``.
    """

    name = "duckdb"

    def __init__(
        self,
        directory: Path | str,
        *,
        fsync: bool = True,
        compact_rows: int = 2_000_000,
        compact_age_s: float = 60.0,
        merge_fanin: int = 16,
        flush_interval_s: float = 300.0,
    ) -> None:
        if merge_fanin < 2 or compact_rows < 1:
            raise ConfigError("merge_fanin must be >= 2 and compact_rows >= 1")
        self.directory = Path(directory)
        self.flush_interval_s = flush_interval_s
        archive, options = self.directory / "archive", (fsync, compact_rows, compact_age_s)
        self._frames = Archive(archive / "frames", FRAME_LAYOUT, *options, merge_fanin)
        self._samples = Archive(archive / "samples", SAMPLE_LAYOUT, *options, merge_fanin)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._open_lock = threading.Lock()
        self._local = threading.local()
        self._cursors: dict[int, tuple[threading.Thread, duckdb.DuckDBPyConnection]] = {}
        self._cursors_lock = threading.Lock()
        self._write_lock = threading.Lock()  # database writes and changes of the aggregates
        self._mem_lock = threading.Lock()  # reading or changing what is below
        self._live: dict[str, dict[str, dict[str, _Agg]]] = {}  # game -> metric -> subject
        self._by_metric: dict[str, dict[tuple[str, str], _Agg]] = {}  # the same, for rankings
        self._touched: dict[str, float] = {}  # game -> when it was last written
        self._generation = 0  # changes with the set of games in ``_live``
        self._cache: dict[tuple[Any, ...], list[Any]] = {}  # reads of ``series``, per generation
        self._dirty: set[tuple[str, str, str]] = set()
        self._seq = 0
        self._flushed_at = time.monotonic()

    def __repr__(self) -> str:
        return f"DuckDBStore({str(self.directory)!r})"

    # -- life cycle ----------------------------------------------------------------------------
    def open(self) -> None:
        with self._open_lock:
            if self._con is None:
                with _translated(f"opening {self.directory / DB_FILE}"):
                    self.directory.mkdir(parents=True, exist_ok=True)
                    self._con = duckdb.connect(
                        str(self.directory / DB_FILE), config={"preserve_insertion_order": False}
                    )
                    self._frames.open()
                    self._samples.open()
            cur = self._cursor()
            with self._write_lock, _translated("migrating and recovering"):
                self._migrate(cur)
                self._recover(cur)
            self._new_generation()

    def close(self) -> None:
        with self._open_lock:
            if self._con is None:
                return
            try:
                with self._write_lock, _translated("saving the series aggregates"):
                    self._flush(self._cursor())
            finally:
                with self._cursors_lock:
                    for _, cur in self._cursors.values():
                        cur.close()
                    self._cursors.clear()
                self._con.close()
                self._con = None
                self._live.clear()
                self._by_metric.clear()
                self._touched.clear()
                self._new_generation()

    def schema_version(self) -> int:
        with _translated("reading the schema version"):
            (version,) = run(self._cursor(), "SELECT max(version) FROM schema_version")[0]
        return int(version or 0)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (a DuckDB connection must not be shared between threads)."""
        con = self._con
        if con is None:
            raise StoreError(f"duckdb store at {self.directory} is not open (call open())")
        mine = getattr(self._local, "cursor", None)
        if mine is not None and mine[0] is con:
            return mine[1]  # type: ignore[no-any-return]
        cur = con.cursor()
        self._local.cursor = (con, cur)
        with self._cursors_lock:
            for ident, (thread, old) in list(self._cursors.items()):
                if not thread.is_alive():
                    old.close()
                    del self._cursors[ident]
            self._cursors[threading.get_ident()] = (threading.current_thread(), cur)
        return cur

    def _migrate(self, cur: duckdb.DuckDBPyConnection) -> None:
        run(
            cur,
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at DOUBLE NOT NULL)",
        )
        current = int(run(cur, "SELECT coalesce(max(version), 0) FROM schema_version")[0][0])
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"duckdb store: {self.directory / DB_FILE} is at schema version {current}, "
                f"newer than this arenaflow's {SCHEMA_VERSION}"
            )
        for version, statements in _MIGRATIONS:
            if version > current:
                with _transaction(cur):
                    run(cur, statements)
                    run(cur, "INSERT INTO schema_version VALUES (?, ?)", [version, time.time()])
                log.info("duckdb store %s: migrated to schema version %d", self.directory, version)

    def _recover(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Fold batches written after the aggregates were last saved into ``series``."""
        applied = int(run(cur, "SELECT seq FROM series_applied")[0][0])
        (last,) = run(cur, "SELECT max(seq) FROM metrics WHERE seq > ?", [applied])[0]
        self._seq = max(self._seq, applied, last or 0)
        if last is not None:
            with _transaction(cur):
                run(cur, _RECOVER_SERIES, [applied])
                run(cur, "UPDATE series_applied SET seq = ?", [last])
            log.info("duckdb store %s: aggregates recovered up to batch %d", self.directory, last)

    # -- writes: the archive --------------------------------------------------------------------
    def write_frames(self, frames: Sequence[TrackingFrame]) -> int:
        return self._archive(self._frames, "frames", frames_table, frames)

    def write_samples(self, samples: Sequence[BiometricSample]) -> int:
        return self._archive(self._samples, "samples", samples_table, samples)

    def _archive(
        self, archive: Archive, what: str, table: Callable[[Any], tuple[pa.Table, bytes]],
        items: Sequence[Any],
    ) -> int:  # fmt: skip
        if not items:
            return 0
        cur = self._cursor()
        with _translated(f"archiving {what}"):
            rows, identity = table(items)
            archive.write(rows, identity)
        archive.maybe_compact(cur)
        return int(rows.num_rows)

    def compact(self) -> None:
        """Compact all that is staged in the archive now (writers do it when it is due)."""
        cur = self._cursor()
        with _translated("compacting the archive"):
            self._frames.compact(cur)
            self._samples.compact(cur)

    # -- writes: metrics ------------------------------------------------------------------------
    def write_metrics(self, updates: Sequence[MetricUpdate]) -> int:
        if not updates:
            return 0
        cur = self._cursor()
        with self._write_lock, _translated("writing metrics"):
            live = self._live
            missing = {u.game_id for u in updates}.difference(live)
            if missing:
                self._load(cur, missing)
            pending: dict[tuple[str, str, str], _Agg] = {}
            new: list[MetricUpdate] = []
            maybe: list[MetricUpdate] = []  # at or before their series' last time
            for u in updates:  # (the hot loop of live ingest: kept flat)
                key = (u.game_id, u.metric, u.subject_id)
                agg = pending.get(key)
                if agg is None:
                    known = live[u.game_id].get(u.metric, _NONE).get(u.subject_id)
                    if known is None:
                        pending[key] = _Agg.of(u)
                        new.append(u)
                    elif u.timestamp > known.last_ts:
                        pending[key] = known.then(u)
                        new.append(u)
                    else:
                        pending[key] = known.copy()
                        maybe.append(u)
                elif u.timestamp > agg.last_ts:
                    agg.add(u)
                    new.append(u)
                else:
                    maybe.append(u)
            for u in self._absent(cur, maybe, new) if maybe else ():
                pending[(u.game_id, u.metric, u.subject_id)].add(u)
                new.append(u)
            if new:
                self._insert_metrics(cur, new)
                now = time.monotonic()
                with self._mem_lock:
                    for (game_id, metric, subject), agg in pending.items():
                        live[game_id].setdefault(metric, {})[subject] = agg
                        self._by_metric.setdefault(metric, {})[(game_id, subject)] = agg
                        self._touched[game_id] = now
                self._dirty.update(pending)
            if time.monotonic() - self._flushed_at >= self.flush_interval_s:
                self._flush(cur)
        return len(new)

    def _insert_metrics(self, cur: duckdb.DuckDBPyConnection, new: list[MetricUpdate]) -> None:
        seq = self._seq + 1
        columns = [pa.array(np.full(len(new), seq, np.int64))] + [
            pa.array(list(map(attrgetter(f.name), new)), f.type) for f in list(_METRICS)[1:]
        ]
        cur.from_arrow(pa.Table.from_arrays(columns, schema=_METRICS)).insert_into("metrics")
        self._seq = seq

    def _load(self, cur: duckdb.DuckDBPyConnection, games: set[str]) -> None:
        """Bring the aggregates of games about to be written into memory."""
        loaded: dict[str, dict[str, dict[str, _Agg]]] = {g: {} for g in games}
        rows = run(
            cur,
            "SELECT game_id, metric, subject_id, n, total, max_value, first_ts, last_ts, "
            "last_value, unit, team FROM series WHERE game_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(games)],
        )
        for game_id, metric, subject, *agg in rows:
            loaded[game_id].setdefault(metric, {})[subject] = _Agg(*agg)
        now = time.monotonic()
        with self._mem_lock:
            self._live.update(loaded)
            for game_id, metrics in loaded.items():
                for metric, subjects in metrics.items():
                    ranked = self._by_metric.setdefault(metric, {})
                    ranked.update(((game_id, s), a) for s, a in subjects.items())
            self._touched.update(dict.fromkeys(games, now))
        self._new_generation()

    def _absent(
        self, cur: duckdb.DuckDBPyConnection, maybe: list[MetricUpdate], new: list[MetricUpdate]
    ) -> list[MetricUpdate]:
        """Of updates at or before their series' last time, those not stored yet (late ones)."""
        seen = {(u.game_id, u.subject_id, u.metric, u.timestamp) for u in new}
        candidates: dict[tuple[str, str, str, float], MetricUpdate] = {}
        for u in maybe:
            key = (u.game_id, u.subject_id, u.metric, u.timestamp)
            if key not in seen:
                candidates.setdefault(key, u)
        if not candidates:
            return []
        keys = list(zip(*candidates, strict=True))
        cur.register(
            "_probe",
            pa.table(
                dict(zip(("game_id", "subject_id", "metric", "timestamp"), keys, strict=True))
            ),
        )
        try:
            stored = run(
                cur,
                "SELECT game_id, subject_id, metric, timestamp FROM metrics m "
                "SEMI JOIN _probe p USING (game_id, subject_id, metric, timestamp) "
                "WHERE m.timestamp BETWEEN ? AND ?",  # zone maps skip older row groups
                [min(keys[3]), max(keys[3])],
            )
        finally:
            cur.unregister("_probe")
        for row in stored:
            candidates.pop(row, None)
        return list(candidates.values())

    def _flush(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Save changed aggregates to ``series``; forget games not written for a while."""
        self._flushed_at = now = time.monotonic()
        if self._dirty:
            aggs = [(key, self._live[key[0]][key[1]][key[2]]) for key in self._dirty]
            columns = [[k[0] for k, _ in aggs], [k[2] for k, _ in aggs], [k[1] for k, _ in aggs]]
            columns += [[getattr(a, f) for _, a in aggs] for f in _Agg.FIELDS]
            table = pa.Table.from_arrays(
                [pa.array(c, f.type) for c, f in zip(columns, _SERIES, strict=True)],
                schema=_SERIES,
            )
            cur.register("_series_batch", table)
            try:
                with _transaction(cur):
                    run(cur, "INSERT OR REPLACE INTO series SELECT * FROM _series_batch")
                    run(cur, "UPDATE series_applied SET seq = ?", [self._seq])
            finally:
                cur.unregister("_series_batch")
            self._dirty.clear()
        idle = [g for g, t in self._touched.items() if now - t > 10 * self.flush_interval_s]
        if idle:
            with self._mem_lock:
                for game_id in idle:
                    for metric, subjects in self._live.pop(game_id, {}).items():
                        for subject in subjects:
                            del self._by_metric[metric][(game_id, subject)]
                    del self._touched[game_id]
            self._new_generation()

    # -- writes: the rest -----------------------------------------------------------------------
    def _insert(self, action: str, statement: str, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        cur = self._cursor()
        with self._write_lock, _translated(action):
            cur.register("_rows", pa.Table.from_pylist(rows))
            try:
                written = run(cur, statement)
            finally:
                cur.unregister("_rows")
        return int(written[0][0]) if written else 0

    def _insert_new(self, table: str, fields: Sequence[str], rows: list[dict[str, Any]]) -> int:
        columns = ", ".join(fields)
        statement = f"INSERT OR IGNORE INTO {table} ({columns}) SELECT {columns} FROM _rows"
        return self._insert(f"writing {table}", statement, rows)

    def write_events(self, events: Sequence[GameEvent]) -> int:
        rows = [msgspec.structs.asdict(e) for e in events]
        for row in rows:
            row["attributes"] = msgspec.json.encode(row["attributes"]).decode()
        return self._insert_new("events", (*_EVENT_FIELDS, "attributes"), rows)

    def write_alerts(self, alerts: Sequence[Alert]) -> int:
        return self._insert_new(
            "alerts", _ALERT_FIELDS, [msgspec.structs.asdict(a) for a in alerts]
        )

    def write_highlights(self, highlights: Sequence[Highlight]) -> int:
        rows = [{f: getattr(h, f) for f in _HIGHLIGHT_FIELDS} for h in highlights]
        return self._insert_new("highlights", _HIGHLIGHT_FIELDS, rows)

    def upsert_games(self, games: Sequence[Game]) -> None:
        self._upsert("games", _GAME_FIELDS, games, keep=("home", "away", "starts_at"))

    def upsert_athletes(self, athletes: Sequence[Athlete]) -> None:
        self._upsert("athletes", _ATHLETE_FIELDS, athletes, keep=_ATHLETE_FIELDS)
        self._new_generation()  # leaderboards show athletes' teams

    def upsert_teams(self, teams: Sequence[Team]) -> None:
        self._upsert("teams", _TEAM_FIELDS, teams, keep=_TEAM_FIELDS)

    def teams(self) -> list[Team]:
        query = f"SELECT {', '.join(_TEAM_FIELDS)} FROM teams ORDER BY team_id"
        return [Team(*row) for row in self._rows("reading teams", query, [])]

    def _upsert(
        self, table: str, fields: tuple[str, ...], items: Sequence[Any], keep: tuple[str, ...]
    ) -> None:
        """Insert or update by the first field; a None leaves a ``keep`` field as it was."""
        key = fields[0]
        rows = [
            {f: getattr(i, f) for f in fields} for i in {getattr(i, key): i for i in items}.values()
        ]
        updates = ", ".join(
            f"{f} = coalesce(excluded.{f}, {table}.{f})" if f in keep else f"{f} = excluded.{f}"
            for f in fields[1:]
        )
        columns = ", ".join(fields)
        self._insert(
            f"upserting {table}",
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _rows "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}",
            rows,
        )

    # -- queries: metrics -----------------------------------------------------------------------
    def _new_generation(self) -> None:
        with self._mem_lock:
            self._generation += 1
            self._cache.clear()

    def _stored(
        self, key: tuple[Any, ...], generation: int, read: Callable[[], list[Any]]
    ) -> list[Any]:
        """What ``read`` returns from ``series`` (and the rows of games not in memory), cached:
        none of it changes until the set of games in memory does."""
        with self._mem_lock:
            if generation == self._generation and key in self._cache:
                return self._cache[key]
        rows = read()
        with self._mem_lock:
            if generation == self._generation:
                if len(self._cache) >= 4096:
                    self._cache.clear()
                self._cache[key] = rows
        return rows

    def latest(
        self, game_id: str, subject_id: str | None = None, metric: str | None = None
    ) -> list[Point]:
        with self._mem_lock:
            generation, game = self._generation, self._live.get(game_id)
            found = [
                Point(game_id, s, m, a.last_ts, a.last, a.unit)
                for m, subjects in (game or {}).items()
                if metric is None or m == metric
                for s, a in subjects.items()
                if subject_id is None or s == subject_id
            ]
        if game is not None:  # being written: the aggregates in memory are the truth
            return sorted(found, key=lambda p: (p.subject_id, p.metric))
        query = "SELECT subject_id, metric, last_ts, last_value, unit FROM series WHERE game_id = ?"
        params: list[Any] = [game_id]
        for column, value in (("subject_id", subject_id), ("metric", metric)):
            if value is not None:
                query += f" AND {column} = ?"
                params.append(value)
        read = partial(self._rows, "reading latest values", query + " ORDER BY 1, 2", params)
        rows = self._stored(("latest", game_id, subject_id, metric), generation, read)
        return [Point(game_id, *row) for row in rows]

    def window(
        self,
        game_id: str,
        subject_id: str,
        metric: str,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> list[Point]:
        with self._mem_lock:
            agg = self._live.get(game_id, _NONE).get(metric, _NONE).get(subject_id)
        if agg is not None:  # the series' time range lets DuckDB skip other row groups
            start_s = agg.first_ts if start_s is None else max(start_s, agg.first_ts)
            end_s = agg.last_ts if end_s is None else min(end_s, agg.last_ts)
        rows = self._rows(
            "reading a window",
            "SELECT timestamp, value, unit FROM metrics WHERE game_id = ? AND subject_id = ? "
            "AND metric = ? AND timestamp BETWEEN coalesce(?, '-inf'::DOUBLE) "
            "AND coalesce(?, 'inf'::DOUBLE) ORDER BY timestamp",
            [game_id, subject_id, metric, start_s, end_s],
        )
        return [Point(game_id, subject_id, metric, t, v, u) for t, v, u in rows]

    def history(
        self,
        subject_id: str,
        metric: str,
        per_game: Aggregate = "max",
        exclude_game: str | None = None,
    ) -> Summary:
        _check_reduction(per_game)
        value = _PER_AGG[per_game]
        with self._mem_lock:
            generation = self._generation
            mine = {
                g: value(a)
                for g, game in self._live.items()
                if (a := game.get(metric, _NONE).get(subject_id)) is not None
            }
        query = (
            f"SELECT game_id, {_PER_GAME[per_game]} FROM series WHERE subject_id = ? AND metric = ?"
        )
        read = partial(self._rows, "reading history", query, [subject_id, metric])
        stored = self._stored(("history", subject_id, metric, per_game), generation, read)
        per = {g: float(v) for g, v in stored} | mine  # memory is newer for games in it
        if exclude_game is not None:
            per.pop(exclude_game, None)
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
        with self._mem_lock:  # (aggregates in memory are replaced, never changed: read after)
            generation = self._generation
            if game_id is None:  # (no tuple per series: thousands of them would wake the GC)
                live = list(self._live)
                ranked = self._by_metric.get(metric, _NONE)
                keys, aggs = list(ranked), list(ranked.values())
            else:
                live = [game_id] if game_id in self._live else []
                subjects = self._live.get(game_id, _NONE).get(metric, _NONE)
                keys, aggs = [(game_id, s) for s in subjects], list(subjects.values())
        if since_s is not None:
            kept = [i for i, a in enumerate(aggs) if a.last_ts >= since_s]
            keys, aggs = [keys[i] for i in kept], [aggs[i] for i in kept]
        values = np.fromiter(map(_PER_AGG[per_game], aggs), np.float64, len(aggs))
        chosen: Iterable[int] = range(len(aggs))
        if since_s is None and len(aggs) > n > 0:  # those up to the n-th value (and its ties)
            values[np.isnan(values)] = -math.inf
            chosen = np.flatnonzero(values >= np.partition(values, -n)[-n]).tolist()
        mine: list[_Candidate] = [
            (float(values[i]), keys[i][1], keys[i][0], aggs[i].team, aggs[i].first_ts)
            for i in chosen
        ]
        if since_s is not None:
            mine = self._since(metric, per_game, since_s, mine)
        key = ("leaderboard", metric, n, per_game, game_id, since_s)
        read = partial(self._stored_leaders, metric, n, per_game, game_id, since_s, live)
        top = _top(_top(mine, n) + self._stored(key, generation, read), n)
        missing = sorted({c[1] for c in top if c[3] is None})  # the athletes' teams then
        read = partial(self._teams, missing)
        teams = dict(self._stored(("teams", *missing), generation, read)) if missing else {}
        return [Leader(s, g, float(v), team or teams.get(s)) for v, s, g, team, _ in top]

    def _stored_leaders(
        self,
        metric: str,
        n: int,
        per_game: str,
        game_id: str | None,
        since_s: float | None,
        live: list[str],
    ) -> list[_Candidate]:
        """Leaderboard candidates from ``series``, of games not in memory."""
        query = (
            f"SELECT {_PER_GAME[per_game]} AS value, subject_id, game_id, team, first_ts "
            "FROM series WHERE metric = ? AND game_id = coalesce(?, game_id) "
            "AND last_ts >= coalesce(?, '-inf'::DOUBLE) "
            "AND game_id NOT IN (SELECT unnest(?::VARCHAR[]))"
        )
        params = [metric, game_id, since_s, live]
        if since_s is None:  # values are final: only the top n can make it
            query += " ORDER BY 1 DESC, 2, 3 LIMIT ?"
            return self._rows("reading a leaderboard", query, [*params, n])
        rows = self._rows("reading a leaderboard", query, params)
        return _top(self._since(metric, per_game, since_s, rows), n)

    def _since(
        self, metric: str, per_game: str, since_s: float, candidates: list[_Candidate]
    ) -> list[_Candidate]:
        """Series that straddle ``since_s`` reduced over their values since then only."""
        straddling = {(c[2], c[1]): c for c in candidates if c[4] < since_s}
        if not straddling:
            return candidates
        rows = self._rows(
            "reading a leaderboard",
            f"SELECT game_id, subject_id, {_PER_ROWS[per_game]} FROM metrics WHERE metric = ? "
            "AND timestamp >= ? AND game_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1, 2",
            [metric, since_s, sorted({g for g, _ in straddling})],
        )
        kept = [c for c in candidates if c[4] >= since_s]
        for g, s, v in rows:
            if (c := straddling.get((g, s))) is not None:
                kept.append((float(v), s, g, c[3], since_s))
        return kept

    def _teams(self, athletes: list[str]) -> list[Any]:
        return self._rows(
            "reading athletes",
            "SELECT athlete_id, team FROM athletes WHERE team IS NOT NULL "
            "AND athlete_id IN (SELECT unnest(?::VARCHAR[]))",
            [athletes],
        )

    def _rows(self, action: str, query: str, params: Sequence[Any]) -> list[Any]:
        cur = self._cursor()
        with _translated(action):
            return run(cur, query, params)

    # -- queries: events, alerts, games ---------------------------------------------------------
    def events(self, game_id: str, kind: str | None = None) -> list[GameEvent]:
        rows = self._rows(
            "reading events",
            f"SELECT {', '.join(_EVENT_FIELDS)}, attributes FROM events WHERE game_id = ? "
            "AND kind = coalesce(?, kind) ORDER BY timestamp, event_id",
            [game_id, kind],
        )
        return [
            GameEvent(
                **dict(zip(_EVENT_FIELDS, row, strict=False)),
                attributes=msgspec.json.decode(row[-1]),
            )
            for row in rows
        ]

    def alerts(self, game_id: str) -> list[Alert]:
        rows = self._rows(
            "reading alerts",
            f"SELECT {', '.join(_ALERT_FIELDS)} FROM alerts WHERE game_id = ? "
            "ORDER BY timestamp, alert_id",
            [game_id],
        )
        return [Alert(**dict(zip(_ALERT_FIELDS, row, strict=True))) for row in rows]

    def game(self, game_id: str) -> Game | None:
        query = f"SELECT {', '.join(_GAME_FIELDS)} FROM games WHERE game_id = ?"
        rows = self._rows("reading a game", query, [game_id])
        return Game(*rows[0]) if rows else None

    # -- queries: the archive -------------------------------------------------------------------
    def positions(
        self,
        game_id: str,
        athlete_id: str,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        cur = self._cursor()
        with _translated("reading positions"), self._frames.reading(game_id) as source:
            columns = cur.execute(
                "SELECT timestamp, x, y FROM (SELECT DISTINCT ON (frame) frame, timestamp, x, y "
                f"FROM {source} WHERE game_id = ? AND object_id = ? "
                "AND timestamp BETWEEN coalesce(?, '-inf'::DOUBLE) AND coalesce(?, 'inf'::DOUBLE)) "
                "ORDER BY timestamp, frame",
                [game_id, athlete_id, start_s, end_s],
            ).fetchnumpy()
        t = np.asarray(columns["timestamp"], dtype=np.float64)
        xy = np.column_stack([columns["x"], columns["y"]]).astype(np.float64, copy=False)
        return t, xy.reshape(-1, 2)

    def export_game(self, game_id: str, path: Path, fmt: Literal["parquet", "csv"]) -> Path:
        if fmt not in ("parquet", "csv"):
            raise ConfigError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
        path, cur = Path(path), self._cursor()
        options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER"
        with _translated(f"exporting game {game_id!r}"), self._frames.reading(game_id) as source:
            path.parent.mkdir(parents=True, exist_ok=True)
            columns = ", ".join(FRAME_LAYOUT.schema.names)
            run(
                cur,
                f"COPY (SELECT {columns} FROM (SELECT DISTINCT ON (frame, "
                f"object_id) * FROM {source} WHERE game_id = ?) ORDER BY frame, object_id) "
                f"TO {sql_literal(str(path))} ({options})",
                [game_id],
            )
        return path

    def apply_retention(self, raw_days: float, now_s: float) -> int:
        cutoff = now_s - raw_days * 86_400.0
        with _translated("applying retention"):
            removed = self._frames.retain(cutoff) + self._samples.retain(cutoff)
        if removed:
            log.info("duckdb store %s: retention removed %d raw rows", self.directory, removed)
        return removed
