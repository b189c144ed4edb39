"""What only the PostgreSQL store has: its layout and migrations, day partitions and their
retention, the redelivery path of its batched writes, many threads at once, and clear errors
when the server cannot be reached (outages with a real server: test_postgres_outage.py)."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from arenaflow.errors import StoreError
from arenaflow.sports.schemas import BiometricSample, MetricUpdate, TrackedObject, TrackingFrame
from arenaflow.store.base import SCHEMA_VERSION, Game
from arenaflow.store.postgres import PostgresStore
from tests.store.conftest import POSTGRES_URL, _skip_or_fail, postgres_unavailable

DAY_S = 86_400.0
#: 2027-01-15 00:00 UTC.
DAY = 1_800_000_000.0 - 1_800_000_000.0 % DAY_S


def _timescale_available() -> bool:
    with psycopg.connect(POSTGRES_URL) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    return found is not None


@pytest.fixture
def schema() -> Iterator[str]:
    reason = postgres_unavailable()
    if reason is not None:
        _skip_or_fail(reason)
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    PostgresStore.drop_schema(POSTGRES_URL, name)


@pytest.fixture
def store(schema: str) -> Iterator[PostgresStore]:
    store = PostgresStore(POSTGRES_URL, schema=schema)
    store.open()
    yield store
    store.close()


def _query(schema: str, query: str, fetch: bool = True) -> list[tuple[Any, ...]]:
    with psycopg.connect(POSTGRES_URL) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cur = conn.execute(query)
        return cur.fetchall() if fetch else []


def _partitions(schema: str, table: str) -> set[str]:
    rows = _query(
        schema,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        f"WHERE i.inhparent = '{table}'::regclass",
    )
    return {r[0] for r in rows}


def frame(game: str, n: int, t: float, players: int = 2) -> TrackingFrame:
    objects = [
        TrackedObject(id=f"p{p}", team="home", x=float(n), y=float(p)) for p in range(players)
    ]
    return TrackingFrame(game_id=game, frame=n, timestamp=t, objects=objects)


def update(game: str, athlete: str, t: float, value: float, metric: str = "speed") -> MetricUpdate:
    return MetricUpdate(
        game_id=game, subject_id=athlete, metric=metric, value=value, unit="m/s", timestamp=t
    )


# -- layout and migrations -------------------------------------------------------------------------


def test_a_new_schema_records_its_version_and_layout(store: PostgresStore, schema: str) -> None:
    expected = "timescaledb" if _timescale_available() else "partitioned"
    assert store.layout == expected
    assert _query(schema, "SELECT version, layout FROM schema_version ORDER BY version") == [
        (version, expected) for version in range(1, SCHEMA_VERSION + 1)
    ]
    store.open()
    again = PostgresStore(POSTGRES_URL, schema=schema, timescale=False)
    again.open()  # an existing schema keeps its layout
    assert again.layout == expected and again.schema_version() == SCHEMA_VERSION
    again.close()
    assert len(_query(schema, "SELECT * FROM schema_version")) == SCHEMA_VERSION


def test_timescaledb_required_but_missing_fails_clearly(schema: str) -> None:
    if _timescale_available():
        pytest.skip("TimescaleDB is installed on this server")
    store = PostgresStore(POSTGRES_URL, schema=schema, timescale=True)
    with pytest.raises(StoreError, match="TimescaleDB cannot be used"):
        store.open()
    store.close()


def test_concurrent_opens_migrate_once(schema: str) -> None:
    stores = [PostgresStore(POSTGRES_URL, schema=schema) for _ in range(6)]
    errors: list[BaseException] = []

    def open_one(s: PostgresStore) -> None:
        try:
            s.open()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.schema_version() for s in stores} == {SCHEMA_VERSION}
    assert len(_query(schema, "SELECT * FROM schema_version")) == SCHEMA_VERSION
    for s in stores:
        s.close()


def test_a_schema_newer_than_the_code_is_refused(store: PostgresStore, schema: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {}.schema_version (version, layout) VALUES (99, 'x')").format(
                sql.Identifier(schema)
            )
        )
    with pytest.raises(StoreError, match="newer than this arenaflow"):
        PostgresStore(POSTGRES_URL, schema=schema).open()


# -- errors ----------------------------------------------------------------------------------------


def test_an_unreachable_server_raises_store_error_naming_it() -> None:
    store = PostgresStore("postgresql://127.0.0.1:1/nowhere?connect_timeout=2", schema="x")
    with pytest.raises(StoreError, match="not open"):
        store.latest("g1")
    with pytest.raises(StoreError, match=r"PostgreSQL at 127\.0\.0\.1:1/nowhere is unreachable"):
        store.open()
    with pytest.raises(StoreError, match="unreachable"):  # every call tries again
        store.write_metrics([update("g1", "p1", 1.0, 1.0)])
    store.close()


def test_a_refused_statement_raises_store_error(store: PostgresStore) -> None:
    bad = update("g1", "p1", 1.0, 1.0)
    with pytest.raises(StoreError, match="refused write_metrics"):
        store.write_metrics([MetricUpdate(**{**_fields(bad), "game_id": "g\x00"})])
    assert store.write_metrics([bad]) == 1  # the connection is still good


def _fields(obj: Any) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in obj.__struct_fields__}


# -- the archive's partitions ----------------------------------------------------------------------


def test_frames_go_to_day_partitions_and_retention_drops_whole_days(
    store: PostgresStore, schema: str
) -> None:
    if store.layout != "partitioned":
        pytest.skip("TimescaleDB chunks the archive instead")
    old = [frame("old", n, DAY - 3 * DAY_S + n) for n in range(10)]  # one day, 3 days ago
    edge = [frame("edge", n, DAY - DAY_S / 2 + n * DAY_S / 10) for n in range(10)]  # 2 days
    replay = [frame("replay", n, float(n)) for n in range(10)]  # timed from kick-off
    assert store.write_frames(old + edge + replay) == 60
    parts = _partitions(schema, "frames")
    assert {"frames_20270112", "frames_20270114", "frames_20270115", "frames_kickoff"} <= parts

    # Keep the last 6 hours: 2027-01-12 and -13 go whole, 2027-01-14 up to 18:00 row by row.
    removed = store.apply_retention(raw_days=0.25, now_s=DAY)
    assert removed == 20 + 3 * 2  # all of "old", the first 3 frames of "edge"
    assert not {"frames_20270112", "frames_20270113"} & _partitions(schema, "frames")
    assert store.positions("old", "p0")[0].size == 0
    assert store.positions("edge", "p0")[0].size == 7
    assert store.positions("replay", "p0")[0].size == 10
    assert store.apply_retention(raw_days=0.25, now_s=DAY) == 0
    # A late frame of a dropped day recreates its partition.
    assert store.write_frames([frame("old", 99, DAY - 3 * DAY_S + 99)]) == 2


def test_retention_finishes_a_day_an_interrupted_run_detached(
    store: PostgresStore, schema: str
) -> None:
    if store.layout != "partitioned":
        pytest.skip("TimescaleDB chunks the archive instead")
    store.write_frames([frame("old", n, DAY - 3 * DAY_S + n) for n in range(10)])
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER TABLE {}.frames DETACH PARTITION {}.frames_20270112").format(
                sql.Identifier(schema), sql.Identifier(schema)
            )
        )
    assert store.apply_retention(raw_days=1.0, now_s=DAY) == 20
    assert _query(schema, "SELECT to_regclass('frames_20270112')") == [(None,)]


def test_non_finite_times_do_not_poison_a_batch(store: PostgresStore) -> None:
    samples = [
        BiometricSample(athlete_id="p1", timestamp=t, heart_rate_bpm=150.0)
        for t in (DAY, math.inf, math.nan, -math.inf)
    ]
    assert store.write_samples(samples) == 4
    assert store.write_samples(samples) == 0


# -- batched, idempotent writes --------------------------------------------------------------------


def test_a_partly_redelivered_batch_adds_only_the_new_rows(store: PostgresStore) -> None:
    batch = [frame("g1", n, DAY + n / 25) for n in range(20)]
    assert store.write_frames(batch[:12]) == 24
    assert store.write_frames(batch[8:]) == 16  # 8..11 are there already
    assert store.write_frames(batch + batch[:3]) == 0  # duplicates within a batch, too
    assert store.positions("g1", "p1")[0].size == 20


def test_metric_summaries_count_each_row_once(store: PostgresStore, schema: str) -> None:
    batch = [update("g1", "p1", DAY + i, float(i % 7)) for i in range(30)]
    assert store.write_metrics(batch[:20]) == 20
    assert store.write_metrics(batch[10:]) == 10
    assert store.write_metrics(batch[:5] + batch[:5]) == 0
    values = [u.value for u in batch]
    s = store.history("p1", "speed", per_game="mean")
    assert s.mean == pytest.approx(np.mean(values))
    assert store.history("p1", "speed", per_game="sum").mean == pytest.approx(sum(values))
    assert store.history("p1", "speed", per_game="last").mean == values[-1]
    assert store.history("p1", "speed", per_game="max").mean == max(values)
    assert _query(schema, "SELECT n FROM metric_games") == [(30,)]


def test_many_threads_write_and_read_at_once(store: PostgresStore, schema: str) -> None:
    games, threads_n = 4, 8
    batches = [
        [update(f"g{g}", f"p{p}", DAY + t, float(t + p)) for p in range(5) for t in range(50)]
        for g in range(games)
    ]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for g in range(games):  # every thread writes every game: overlapping batches
                store.write_metrics(batches[(g + k) % games])
                store.write_frames([frame(f"g{g}", n, DAY + n / 25) for n in range(k, k + 20)])
                store.latest(f"g{g}")
                store.leaderboard("speed", n=3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _query(schema, "SELECT count(*) FROM metrics") == [(games * 5 * 50,)]
    assert _query(schema, "SELECT sum(n)::bigint FROM metric_games") == [(games * 5 * 50,)]
    assert _query(schema, "SELECT count(*) FROM frames") == [(games * (threads_n + 19) * 2,)]
    top = store.leaderboard("speed", n=2)
    assert [(x.subject_id, x.value) for x in top] == [("p4", 53.0), ("p4", 53.0)]
    assert [x.game_id for x in top] == ["g0", "g1"]  # ties by subject, then game


# -- queries ---------------------------------------------------------------------------------------


def test_leaderboard_since_a_time_within_a_game(store: PostgresStore) -> None:
    store.write_metrics(
        [
            update("g1", "p1", 10.0, 9.0),
            update("g1", "p1", 20.0, 6.0),
            update("g2", "p2", 30.0, 7.0),
        ]
    )
    # g1 straddles 15 s: only its rows since then count; g2 is wholly after.
    assert [(x.subject_id, x.value) for x in store.leaderboard("speed", since_s=15.0)] == [
        ("p2", 7.0),
        ("p1", 6.0),
    ]
    assert [x.value for x in store.leaderboard("speed", per_game="sum", since_s=5.0)] == [15.0, 7.0]


def test_game_upserts_keep_what_a_later_upsert_leaves_out(store: PostgresStore) -> None:
    store.upsert_games([Game("g1", "football", "Home FC", "Away FC", 1000.0)])
    store.upsert_games([Game("g1", "football", field_length_m=100.0, field_width_m=64.0)])
    assert store.game("g1") == Game("g1", "football", "Home FC", "Away FC", 1000.0, 100.0, 64.0)
    assert store.game("nope") is None


def test_exporting_a_game_without_frames_gives_an_empty_file(
    store: PostgresStore, tmp_path: Path
) -> None:
    path = store.export_game("nothing", tmp_path / "out" / "g.parquet", "parquet")
    table = pq.read_table(path)
    assert table.num_rows == 0 and "timestamp" in table.column_names
    assert not list((tmp_path / "out").glob("*.part"))


def test_an_older_schema_is_migrated_on_open(store: PostgresStore, schema: str) -> None:
    """A database left at version 1 (before teams) gets migration 2 when opened again."""
    from arenaflow.store.base import Team

    _query(schema, "DROP TABLE teams; DELETE FROM schema_version WHERE version = 2", fetch=False)
    store.close()
    again = PostgresStore(POSTGRES_URL, schema=schema)
    again.open()
    assert again.schema_version() == SCHEMA_VERSION == 2
    again.upsert_teams([Team("home", "Home FC")])
    assert again.teams() == [Team("home", "Home FC")]
    again.close()
