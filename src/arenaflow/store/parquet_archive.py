"""The Parquet archive of the DuckDB store: raw rows (tracking frames, biometric samples) as
Parquet files, staged per write and compacted per game, which DuckDB reads in place.

Layout of an archive (``archive/frames`` and ``archive/samples`` under the store's directory)::

    _staging/<digest>.parquet             one file per write, all its games
    game_id=<id>/L<k>-<digest>.parquet    a game's rows, compacted (hive layout)

A write is one Parquet file in ``_staging``, written under a temporary name, fsynced, renamed: no
reader sees half a file. Its name is a digest of the batch's identity (game, number and object
count of each frame; athlete and time of each sample), so a redelivered batch overwrites its own
file with the same rows. A partly redelivered batch makes another file: duplicates of
``(game_id, frame, object_id)`` (samples: ``(athlete_id, timestamp)``) are dropped by every read
and every merge (a frame's content is taken to be fixed by its number). One file per call, not
per game per call: 300 games batched every 50 ms would make 6,000 files a second.

When staging holds ``compact_rows`` rows, 256 files or a file older than ``compact_age_s``, the
writer that notices compacts, on its own thread (one at a time; the others go on writing): DuckDB
copies the staged files into one ``L1`` file per game (``PARTITION_BY game_id``, the column kept
in the files), the outputs are synced to disk (one ``sync(2)``, not an fsync per game) and
renamed into place, then the staged files deleted. ``compact()`` does it all now. When a game holds
``merge_fanin`` files of one level, they are merged (deduplicated, sorted by frame) into one of
the next level, so a 90-minute game ends in a few dozen files whatever the batch size; a writer
merges for at most half a second per call. Compacted names are digests of their inputs: a
compaction that dies half-way reruns onto the same names. Readers (positions, heatmaps, exports)
list a game's directory and the staged files, which DuckDB reads in place (``read_parquet``); a
shared/exclusive lock keeps compaction and retention from deleting a file between the listing
and the read.

Samples are archived, not put in a table, for the reasons frames are: raw and high-rate (66,000 a
second for 300 games at 10 Hz), written once, read rarely and in bulk, dropped by age. A DuckDB
primary key over them would be an in-memory index of billions of entries, and a DuckDB
transaction costs milliseconds where a staged file costs one write.

**Retention** goes by file, from its Parquet statistics of ``timestamp``: a file all older than
the cutoff is deleted, one partly older is rewritten without those rows; rows timed from kick-off
(before :data:`~arenaflow.store.base.EPOCH_FLOOR_S`) are never old.

Example:
    >>> import tempfile, duckdb
    >>> from pathlib import Path
    >>> from arenaflow.sports.schemas import TrackedObject, TrackingFrame
    >>> ball = [TrackedObject(id="ball", team="ball", x=0.0, y=0.0)]
    >>> batch = [TrackingFrame(game_id="g1", frame=n, timestamp=n / 25, period=1, objects=ball)
    ...          for n in range(50)]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     archive = Archive(Path(tmp), FRAME_LAYOUT, fsync=False, compact_rows=1_000,
    ...                       compact_age_s=60.0, merge_fanin=16)
    ...     archive.open()
    ...     archive.write(*frames_table(batch))
    ...     archive.write(*frames_table(batch[:10]))  # a partly redelivered batch
    ...     cur = duckdb.connect()
    ...     archive.compact(cur)
    ...     with archive.reading("g1") as source:
    ...         cur.execute(f"SELECT count(DISTINCT frame), count(*) FROM {source}").fetchall()
    ...     sorted(p.name for p in Path(tmp).iterdir())
    [(50, 60)]
    ['_staging', 'game_id=g1']
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from arenaflow.sports.schemas import BiometricSample, TrackingFrame
from arenaflow.store._duckdb_sql import arrow_schema, run, sql_literal
from arenaflow.store.base import EPOCH_FLOOR_S

__all__ = [
    "FRAME_LAYOUT",
    "SAMPLE_LAYOUT",
    "Archive",
    "ArchiveLayout",
    "frames_table",
    "samples_table",
]

log = logging.getLogger(__name__)

_FRAMES = arrow_schema(
    "game_id:string frame:int64 timestamp:float64 period:int32 object_id:string team:string "
    "x:float64 y:float64 z:float64"
)
_SAMPLES = arrow_schema(
    "game_id:string athlete_id:string timestamp:float64 heart_rate_bpm:float64 "
    "rr_interval_ms:float64 core_temp_c:float64"
)
_SQL_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER"}
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_LEVEL = re.compile(r"L(\d+)-")
_COMPACT_FILES = 256
_MERGE_BUDGET_S = 0.5


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parquet_files(directory: Path) -> list[Path]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    return sorted(Path(e.path) for e in entries if e.name.endswith(".parquet") and e.name[0] != ".")


class _SharedLock:
    """Many readers or one writer; a waiting writer holds new readers back (no starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not (self._writing or self._waiting))
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not (self._writing or self._readers))
            self._waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


@dataclass(frozen=True, slots=True)
class ArchiveLayout:
    """An archive's columns, partition column, row identity and the order of merged files."""

    schema: pa.Schema
    key: tuple[str, ...]
    order: tuple[str, ...]
    partition: str = "game_id"


#: Tracking frames, one row per tracked object: a row is its game's ``(frame, object_id)``.
FRAME_LAYOUT = ArchiveLayout(_FRAMES, ("frame", "object_id"), ("frame", "object_id"))
#: Biometric samples: a row is ``(athlete_id, timestamp)``; merged files are in time order.
SAMPLE_LAYOUT = ArchiveLayout(_SAMPLES, ("athlete_id", "timestamp"), ("timestamp", "athlete_id"))


class Archive:
    """Raw rows as Parquet under ``root``, staged per write and compacted per game (the module
    doc has the design); ``cur`` arguments are this thread's DuckDB cursor."""

    def __init__(
        self, root: Path, layout: ArchiveLayout, fsync: bool, compact_rows: int,
        compact_age_s: float, merge_fanin: int,
    ) -> None:  # fmt: skip
        self.root, self.staging, self.layout = root, root / "_staging", layout
        self._fsync, self._fanin = fsync, merge_fanin
        self._compact_rows, self._compact_age_s = compact_rows, compact_age_s
        self._files = _SharedLock()  # listing and reading files / deleting them
        self._compacting = threading.Lock()
        self._state = threading.Lock()
        self._staged: dict[str, int] = {}  # file name -> rows
        self._staged_rows = 0
        self._staged_since: float | None = None
        self._to_merge: set[str] = set()  # partition directories that may hold a merge
        self._retry_at = 0.0
        columns = (f"NULL::{_SQL_TYPES.get(f.type, 'DOUBLE')} AS {f.name}" for f in layout.schema)
        self.empty = f"(SELECT {', '.join(columns)} LIMIT 0)"
        strings = [f.name for f in layout.schema if f.type == pa.string()]
        floats = [f.name for f in layout.schema if f.type == pa.float64()]
        self._options = {  # read once more (by compaction): fast, and floats split by byte
            "compression": "zstd",
            "compression_level": 1,
            "use_dictionary": strings,
            "column_encoding": dict.fromkeys(floats, "BYTE_STREAM_SPLIT"),
        }

    def open(self) -> None:
        """Create the directories and clear what a crash left behind (temporary files)."""
        self.staging.mkdir(parents=True, exist_ok=True)
        for entry in os.scandir(self.root):  # what a crash left behind
            if entry.name.startswith(".compact-"):
                shutil.rmtree(entry.path, ignore_errors=True)
            elif entry.is_dir():
                for leftover in Path(entry.path).glob(".*.tmp"):
                    leftover.unlink(missing_ok=True)
                if entry.name != self.staging.name:
                    self._to_merge.add(entry.name)
        self._rescan()

    def _rescan(self) -> None:
        staged = {p.name: pq.read_metadata(p).num_rows for p in _parquet_files(self.staging)}
        with self._state:
            self._staged, self._staged_rows = staged, sum(staged.values())
            self._staged_since = time.monotonic() if staged else None

    def partition_dir(self, value: str | None) -> Path:
        """The directory of a partition, named as DuckDB names it (percent-encoded)."""
        encoded = _HIVE_NULL if value is None else quote(value, safe="")
        return self.root / f"{self.layout.partition}={encoded}"

    def write(self, table: pa.Table, identity: bytes) -> None:
        """Stage ``table`` as one file named by ``identity`` (the same batch, the same file)."""
        name = f"{_digest(identity)}.parquet"
        tmp = self.staging / f".{name}.{uuid.uuid4().hex}.tmp"
        pq.write_table(table, str(tmp), **self._options)
        if self._fsync:
            _fsync(tmp)
        os.replace(tmp, self.staging / name)
        if self._fsync:
            _fsync(self.staging)
        with self._state:
            self._staged_rows += table.num_rows - self._staged.get(name, 0)
            self._staged[name] = table.num_rows
            if self._staged_since is None:
                self._staged_since = time.monotonic()

    # -- compaction ---------------------------------------------------------------------------
    def _due(self) -> bool:
        with self._state:
            since = self._staged_since
            return (
                self._staged_rows >= self._compact_rows
                or len(self._staged) >= _COMPACT_FILES
                or (since is not None and time.monotonic() - since >= self._compact_age_s)
            )

    def maybe_compact(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Compact if due (or go on merging), unless another thread is at it. A failure is
        logged and retried 10 s later: the batch itself is safely staged."""
        due = self._due()
        if not (due or self._to_merge) or time.monotonic() < self._retry_at:
            return
        if self._compacting.acquire(blocking=False):
            try:
                self._compact(cur, _MERGE_BUDGET_S, partition=due)
            except (duckdb.Error, OSError, pa.ArrowException):
                self._retry_at = time.monotonic() + 10.0
                log.exception("compacting %s failed; trying again in 10 s", self.root)
            finally:
                self._compacting.release()

    def compact(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Compact all that is staged, and merge what can be, now."""
        with self._compacting:
            self._compact(cur, None, partition=True)

    def _compact(
        self, cur: duckdb.DuckDBPyConnection, budget_s: float | None, partition: bool
    ) -> None:
        started = time.monotonic()
        staged = [p.name for p in _parquet_files(self.staging)] if partition else []
        if staged:
            self._partition(cur, staged)
        while self._to_merge and (budget_s is None or time.monotonic() - started < budget_s):
            part = self.root / self._to_merge.pop()
            while self._merge(cur, part):
                pass

    def _partition(self, cur: duckdb.DuckDBPyConnection, staged: list[str]) -> None:
        """The staged files into one new file per partition."""
        for failed in self.root.glob(".compact-*"):  # an earlier attempt's outputs
            shutil.rmtree(failed, ignore_errors=True)
        digest = _digest("\n".join(staged).encode())
        tmp = self.root / f".compact-{digest}"
        run(
            cur,
            "COPY (SELECT * FROM read_parquet(?, hive_partitioning = false)) "
            f"TO {sql_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd, "
            f"PARTITION_BY ({self.layout.partition}), WRITE_PARTITION_COLUMNS true, "
            f"FILENAME_PATTERN 'L1-{digest}-{{i}}')",
            [[str(self.staging / name) for name in staged]],
        )
        if self._fsync:
            os.sync()  # one call for every output, not an fsync per game's file
        for part in list(tmp.iterdir()):
            dest = self.root / part.name
            dest.mkdir(exist_ok=True)
            for file in list(part.iterdir()):
                os.replace(file, dest / file.name)
            self._to_merge.add(part.name)
        if self._fsync:
            os.sync()  # the renames, before the staged files go
        shutil.rmtree(tmp, ignore_errors=True)
        with self._files.exclusive():
            for name in staged:
                (self.staging / name).unlink(missing_ok=True)
        with self._state:
            for name in staged:
                self._staged_rows -= self._staged.pop(name, 0)
            self._staged_since = time.monotonic() if self._staged else None

    def _merge(self, cur: duckdb.DuckDBPyConnection, part: Path) -> bool:
        """Merge the lowest level of ``part`` that holds ``merge_fanin`` files; False if none."""
        levels: dict[int, list[Path]] = {}
        for file in _parquet_files(part):
            match = _LEVEL.match(file.name)
            if match:  # anything else in the directory is left alone
                levels.setdefault(int(match[1]), []).append(file)
        level = min((k for k, files in levels.items() if len(files) >= self._fanin), default=None)
        if level is None:
            return False
        inputs = levels[level]
        name = f"L{level + 1}-{_digest(' '.join(p.name for p in inputs).encode())}.parquet"
        tmp = part / f".{name}.{uuid.uuid4().hex}.tmp"
        key, order = ", ".join(self.layout.key), ", ".join(self.layout.order)
        run(
            cur,
            f"COPY (SELECT * FROM (SELECT DISTINCT ON ({key}) * FROM "
            f"read_parquet(?, hive_partitioning = false)) ORDER BY {order}) "
            f"TO {sql_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd)",
            [[str(p) for p in inputs]],
        )
        if self._fsync:
            _fsync(tmp)
        os.replace(tmp, part / name)
        with self._files.exclusive():
            for file in inputs:
                file.unlink(missing_ok=True)
        return True

    # -- reads and retention ------------------------------------------------------------------
    @contextmanager
    def reading(self, value: str | None) -> Iterator[str]:
        """SQL reading the partition of ``value`` and the staged files (which hold every
        partition: filter on the column); the files stay until the block ends."""
        with self._files.shared():
            files = _parquet_files(self.partition_dir(value)) + _parquet_files(self.staging)
            names = ", ".join(sql_literal(str(p)) for p in files)
            yield f"read_parquet([{names}], hive_partitioning = false)" if files else self.empty

    def retain(self, cutoff_s: float) -> int:
        """Delete rows with ``EPOCH_FLOOR_S <= timestamp < cutoff_s``; returns how many."""
        if cutoff_s <= EPOCH_FLOOR_S:
            return 0
        removed = 0
        with self._compacting:
            for part in (p for p in self.root.iterdir() if p.is_dir() and p.name[0] != "."):
                for file in _parquet_files(part):
                    removed += self._retain_file(file, cutoff_s)
            self._rescan()
        return removed

    def _retain_file(self, file: Path, cutoff_s: float) -> int:
        meta = pq.read_metadata(file)
        lo, hi = _time_range(meta) or (EPOCH_FLOOR_S, cutoff_s)  # unknown: read the file
        if hi < EPOCH_FLOOR_S or lo >= cutoff_s:
            return 0  # kick-off times, or nothing old
        if lo >= EPOCH_FLOOR_S and hi < cutoff_s:
            with self._files.exclusive():
                file.unlink()
            return int(meta.num_rows)
        table = pq.read_table(file, partitioning=None)
        ts = table["timestamp"].to_numpy()
        keep = (ts < EPOCH_FLOOR_S) | (ts >= cutoff_s)
        dropped = int(keep.size - np.count_nonzero(keep))
        if dropped and dropped < keep.size:
            tmp = file.with_name(f".{file.name}.{uuid.uuid4().hex}.tmp")
            pq.write_table(table.filter(pa.array(keep)), str(tmp), compression="zstd")
            if self._fsync:
                _fsync(tmp)
            with self._files.exclusive():
                os.replace(tmp, file)
        elif dropped:
            with self._files.exclusive():
                file.unlink()
        return dropped


def _time_range(meta: Any) -> tuple[float, float] | None:
    """Least and greatest ``timestamp`` from a Parquet footer's statistics, if it has them."""
    column = meta.schema.to_arrow_schema().get_field_index("timestamp")
    stats = [meta.row_group(i).column(column).statistics for i in range(meta.num_row_groups)]
    if not stats or any(s is None or not s.has_min_max for s in stats):
        return None
    return float(min(s.min for s in stats)), float(max(s.max for s in stats))


def frames_table(frames: Sequence[TrackingFrame]) -> tuple[pa.Table, bytes]:
    """One row per tracked object, built column by column, and the batch's identity."""
    n = len(frames)
    counts = np.fromiter((len(f.objects) for f in frames), np.int64, n)
    objects = [o for f in frames for o in f.objects]
    game_ids = [f.game_id for f in frames]

    def per_frame(values: Iterable[Any], dtype: type) -> pa.Array:
        return pa.array(np.repeat(np.fromiter(values, dtype, n), counts))

    columns = [
        pa.array(game_ids, pa.string()).take(pa.array(np.repeat(np.arange(n), counts))),
        per_frame((f.frame for f in frames), np.int64),
        per_frame((f.timestamp for f in frames), np.float64),
        per_frame((f.period for f in frames), np.int32),
        pa.array([o.id for o in objects], pa.string()),
        pa.array([o.team for o in objects], pa.string()),
        pa.array([o.x for o in objects], pa.float64()),
        pa.array([o.y for o in objects], pa.float64()),
        pa.array([o.z for o in objects], pa.float64()),
    ]
    identity = "\n".join(
        f"{g}\x1f{f.frame}\x1f{len(f.objects)}" for g, f in zip(game_ids, frames, strict=True)
    )
    return pa.Table.from_arrays(columns, schema=_FRAMES), identity.encode()


def samples_table(samples: Sequence[BiometricSample]) -> tuple[pa.Table, bytes]:
    """One row per sample, and the batch's identity."""
    columns = [pa.array([getattr(s, f.name) for s in samples], f.type) for f in _SAMPLES]
    identity = "\n".join(f"{s.athlete_id}\x1f{s.timestamp!r}" for s in samples)
    return pa.Table.from_arrays(columns, schema=_SAMPLES), identity.encode()
