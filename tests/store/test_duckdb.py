"""What only the DuckDB store has: the staged and compacted Parquet archive, the in-memory series
aggregates and their recovery, and its locking (the shared contract is in test_store.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from arenaflow.errors import StoreError
from arenaflow.sports.schemas import BiometricSample
from arenaflow.store.duckdb import DuckDBStore
from tests.store.test_store import DAY_S, frames, update


def archive_files(store: DuckDBStore, dataset: str = "frames") -> dict[str, list[str]]:
    root = store.directory / "archive" / dataset
    return {d.name: sorted(f.name for f in d.glob("*.parquet")) for d in root.iterdir()}


def test_compaction_moves_staged_rows_into_one_directory_per_game(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path) as store:
        batch = frames("g1", 1000.0, 40) + frames("g 2/b", 1000.0, 30)
        store.write_frames(batch[:50])
        store.write_frames(batch[50:])
        store.write_frames(batch[:50])  # redelivered: the same file again
        store.write_frames(batch[20:45])  # partly redelivered: duplicates until read
        assert len(archive_files(store)["_staging"]) == 3
        before = store.positions("g1", "p2")
        store.compact()
        files = archive_files(store)
        assert files["_staging"] == []
        assert [len(files[d]) for d in ("game_id=g1", "game_id=g%202%2Fb")] == [1, 1]
        after = store.positions("g1", "p2")
        assert after[0].size == 40
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_array_equal(before[1], after[1])
        assert store.positions("g 2/b", "ball")[0].size == 30
        path = store.export_game("g1", tmp_path / "g1.parquet", "parquet")
        assert pq.read_table(path).num_rows == 40 * 4


def test_small_files_of_a_game_are_merged_level_by_level(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path, compact_rows=1, merge_fanin=2) as store:
        batch = frames("g1", 1000.0, 80)
        for i in range(0, 80, 10):  # every write compacts: one L1 file each
            store.write_frames(batch[i : i + 10])
        store.write_frames(batch[5:15])  # a redelivered part, merged away
        store.compact()
        names = archive_files(store)["game_id=g1"]
        assert sorted(n[:3] for n in names) == ["L1-", "L4-"]  # 9 files: 8 merged thrice, 1
        t, _ = store.positions("g1", "p0")
        assert t.size == 80 and np.all(np.diff(t) > 0)
        merged = pq.read_table(store.directory / "archive/frames/game_id=g1" / names[1])
        assert merged.num_rows == 80 * 4
        assert merged.column("frame").to_pylist() == sorted(merged.column("frame").to_pylist())


def test_retention_rewrites_files_that_straddle_the_cutoff(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    with DuckDBStore(tmp_path) as store:
        cutoff = now - 7 * DAY_S
        store.write_frames(frames("g1", cutoff - 0.2, 10))  # 5 frames old, 5 not: 20 rows out
        store.write_frames(frames("g2", cutoff - DAY_S, 10))  # all old
        store.compact()
        store.write_frames(frames("g1", cutoff - 0.2, 10, players=1))  # staged, straddling too
        samples = [
            BiometricSample(athlete_id="p1", timestamp=cutoff - 1.0 + i, heart_rate_bpm=150.0)
            for i in range(4)
        ]
        store.write_samples(samples)  # no game: the hive default partition
        store.compact()
        assert "game_id=__HIVE_DEFAULT_PARTITION__" in archive_files(store, "samples")
        removed = store.apply_retention(7.0, now)
        assert removed == 20 + 40 + 2 * 5 + 1  # (the sample at the cutoff is kept)
        assert store.positions("g1", "p0")[0].size == 5
        assert store.positions("g2", "p0")[0].size == 0
        assert archive_files(store)["game_id=g2"] == []
        assert store.apply_retention(7.0, now) == 0


def test_late_and_duplicate_values_count_once(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path) as store:
        assert (
            store.write_metrics([update("g1", "p1", "speed", t, t) for t in (1.0, 2.0, 4.0)]) == 3
        )
        late = [update("g1", "p1", "speed", 3.0, 3.0), update("g1", "p1", "speed", 3.0, 3.0)]
        assert store.write_metrics([*late, update("g1", "p1", "speed", 2.0, 2.0)]) == 1
        assert store.write_metrics(late) == 0
        assert [p.value for p in store.window("g1", "p1", "speed")] == [1.0, 2.0, 3.0, 4.0]
        assert store.history("p1", "speed", per_game="sum").mean == 10.0
        assert store.latest("g1", "p1", "speed")[0].value == 4.0  # late values are not latest
    with DuckDBStore(tmp_path) as store:  # reopened: read from the series table
        assert store.history("p1", "speed", per_game="mean").mean == 2.5
        assert store.latest("g1")[0].timestamp == 4.0
        assert store.write_metrics(late) == 0


def test_leaderboard_since_reduces_straddling_series_over_later_values(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path) as store:
        store.write_metrics([update("g1", "p1", "speed", t, 10.0 - t) for t in range(1, 6)])
        store.write_metrics([update("g2", "p2", "speed", t, 5.5) for t in (10.0, 11.0)])
        expected = [("p1", "g1", 7.0), ("p2", "g2", 5.5)]  # p1 was at 9 before 3 s
        top = store.leaderboard("speed", n=5, since_s=3.0)
        assert [(x.subject_id, x.game_id, x.value) for x in top] == expected
    with DuckDBStore(tmp_path) as store:
        top = store.leaderboard("speed", n=5, since_s=3.0)
        assert [(x.subject_id, x.game_id, x.value) for x in top] == expected


def test_games_not_written_for_a_while_are_read_from_the_series_table(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path, flush_interval_s=0.01) as store:  # forgotten after 0.1 s idle
        store.write_metrics([update("g1", "p1", "speed", t, t) for t in (1.0, 2.0, 3.0)])
        store.write_metrics([update("g1", "p2", "speed", 1.0, 9.0)])
        before = (store.latest("g1"), store.leaderboard("speed"), store.history("p1", "speed"))
        time.sleep(0.15)
        store.write_metrics([update("g2", "p1", "speed", 1.0, 4.0)])  # saves, forgets g1
        assert "g1" not in store._live
        after = (store.latest("g1"), store.leaderboard("speed"), store.history("p1", "speed"))
        assert after[0] == before[0]
        assert [x.subject_id for x in after[1]] == ["p2", "p1", "p1"]
        assert after[2].per_game == {"g1": 3.0, "g2": 4.0}
        assert store.write_metrics([update("g1", "p1", "speed", 3.0, 3.0)]) == 0  # still known
        assert store.write_metrics([update("g1", "p1", "speed", 5.0, 5.0)]) == 1
        assert store.history("p1", "speed", per_game="sum").per_game["g1"] == 11.0


CRASH = """
import os, sys
from arenaflow.store.duckdb import DuckDBStore
from tests.store.test_store import update
store = DuckDBStore(sys.argv[1], flush_interval_s=0.0)
store.open()
store.write_metrics([update("g1", "p1", "distance", t, 10.0 * t) for t in (1.0, 2.0)])
store.flush_interval_s = 3600.0  # what follows is never flushed to the series table
store.write_metrics([update("g1", "p1", "distance", t, 10.0 * t) for t in (3.0, 4.0)])
store.write_metrics([update("g2", "p1", "distance", 1.0, 5.0)])
os._exit(0)
"""


def test_aggregates_are_recovered_after_a_crash(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", CRASH, str(tmp_path)], check=True, cwd=root)
    with DuckDBStore(tmp_path) as store:
        d = store.history("p1", "distance", per_game="last")
        assert d.per_game == {"g1": 40.0, "g2": 5.0}
        assert store.history("p1", "distance", per_game="sum").per_game["g1"] == 100.0
        assert store.write_metrics([update("g1", "p1", "distance", 4.0, 40.0)]) == 0


def test_writers_and_readers_on_many_threads(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def run(fn: object) -> threading.Thread:
        def target() -> None:
            try:
                fn()  # type: ignore[operator]
            except BaseException as exc:
                errors.append(exc)

        return threading.Thread(target=target)

    with DuckDBStore(tmp_path, compact_rows=500) as store:
        updates = [update(f"g{g}", f"p{p}", "speed", t, t) for g in range(3) for p in range(5)
                   for t in range(40)]  # fmt: skip

        def write_metrics(offset: int) -> None:
            for i in range(offset, len(updates), 50):
                store.write_metrics(updates[i : i + 100])  # overlapping batches

        def write_frames(game: str) -> None:
            batch = frames(game, 1000.0, 60)
            for i in range(0, 60, 6):
                store.write_frames(batch[i : i + 12])

        def read() -> None:
            for _ in range(30):
                store.latest("g1")
                store.history("p1", "speed")
                store.leaderboard("speed", 3)
                store.positions("g0", "p1")

        threads = [run(lambda o=o: write_metrics(o)) for o in (0, 25)]
        threads += [run(lambda g=g: write_frames(g)) for g in ("g0", "g1")]
        threads += [run(read) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(store.window("g2", "p4", "speed")) == 40
        assert store.history("p4", "speed", per_game="sum").per_game["g2"] == sum(range(40))
        assert store.positions("g0", "p1")[0].size == 60


def test_failures_are_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not open"):
        DuckDBStore(tmp_path).latest("g1")
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError, match="opening"):
        DuckDBStore(tmp_path / "file").open()


def test_an_older_database_is_migrated_on_open(tmp_path: Path) -> None:
    """A database left at version 1 (before teams) gets migration 2 when opened again."""
    import duckdb

    from arenaflow.store.base import SCHEMA_VERSION, Team

    with DuckDBStore(tmp_path):
        pass
    with duckdb.connect(str(tmp_path / "arenaflow.duckdb")) as conn:
        conn.execute("DROP TABLE teams; DELETE FROM schema_version WHERE version = 2")
    with DuckDBStore(tmp_path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 2
        store.upsert_teams([Team("home", "Home FC")])
        assert store.teams() == [Team("home", "Home FC")]
