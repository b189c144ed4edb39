"""High-speed running, sprint, acceleration and deceleration efforts.

An effort is a stretch during which a player's value stays at or beyond a threshold for at least
a minimum duration (DESIGN.md defaults, all configurable in :class:`EffortRules`):

=================  =======================  ============
kind               value                    minimum
=================  =======================  ============
``high_speed``     speed >= 5.5 m/s         1.0 s
``sprint``         speed >= 7.0 m/s         1.0 s
``acceleration``   acceleration >= 2.5 m/s² 0.5 s
``deceleration``   acceleration <= -2.5     0.5 s
=================  =======================  ============

The speed thresholds are the high-speed running (19.8 km/h) and sprinting (25.2 km/h) limits of
Bradley et al. (2009, J Sports Sci 27(2):159-168; :mod:`arenaflow.analytics.bands`); a sprint
is also a high-speed effort. Timing is sample-and-hold (as in the bands): an effort starts at
the first sample beyond the threshold and ends at the first sample back below it, so its
duration is ``end_s - start_s``; a gap longer than ``max_gap_s`` in the samples (or a NaN
value) ends it at the last sample seen. Distance is speed times time over the effort.

Two forms: :func:`efforts` over one player's arrays, and :class:`EffortTracker`, the streaming
form (vectorised over the players of a frame, or of many games' frames at once), which also
keeps time and distance per speed band per player. Fed the same samples, the tracker (with
:meth:`EffortTracker.flush` at the end) reports the same efforts.

Example:
    >>> import numpy as np
    >>> t = np.arange(0, 3.0, 0.1)
    >>> speed = np.where((t > 0.95) & (t < 2.25), 7.5, 3.0)   # 7.5 m/s from 1.0 s to 2.2 s
    >>> [(e.kind, round(e.start_s, 1), round(e.end_s, 1), e.peak) for e in
    ...  efforts(t, speed, np.zeros_like(t), player_id="p9")]
    [('high_speed', 1.0, 2.3, 7.5), ('sprint', 1.0, 2.3, 7.5)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from arenaflow.analytics.bands import SPEED_BAND_EDGES_MPS
from arenaflow.analytics.rows import as_slice

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

EffortKind = Literal["high_speed", "sprint", "acceleration", "deceleration"]
#: Kinds in the order the tracker's arrays hold them.
EFFORT_KINDS: tuple[EffortKind, ...] = ("high_speed", "sprint", "acceleration", "deceleration")
_GAP_EPS_S = 1e-9


@dataclass(frozen=True, slots=True)
class EffortRules:
    """Thresholds and minimum durations of efforts (DESIGN.md defaults)."""

    high_speed_mps: float = 5.5
    high_speed_min_s: float = 1.0
    sprint_mps: float = 7.0
    sprint_min_s: float = 1.0
    accel_mps2: float = 2.5
    accel_min_s: float = 0.5
    max_gap_s: float = 1.0
    band_edges_mps: tuple[float, ...] = SPEED_BAND_EDGES_MPS

    def thresholds(self) -> FloatArray:
        """Per kind, the threshold its (sign-adjusted) value must reach."""
        return np.array([self.high_speed_mps, self.sprint_mps, self.accel_mps2, self.accel_mps2])

    def minimum_s(self) -> FloatArray:
        """Per kind, the shortest effort that counts."""
        return np.array(
            [self.high_speed_min_s, self.sprint_min_s, self.accel_min_s, self.accel_min_s]
        )


@dataclass(frozen=True, slots=True)
class Effort:
    """One completed effort.

    Attributes:
        player_id: The player.
        kind: ``"high_speed"``, ``"sprint"``, ``"acceleration"`` or ``"deceleration"``.
        start_s: Time of the first sample beyond the threshold.
        end_s: Time of the first sample back below it (or of the last sample before a gap).
        peak: Highest speed (m/s) of a run, highest acceleration (m/s²) of an acceleration,
            lowest (most negative) acceleration of a deceleration.
        distance_m: Distance covered during the effort (speed times time).
    """

    player_id: str
    kind: EffortKind
    start_s: float
    end_s: float
    peak: float
    distance_m: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def efforts(
    t_s: FloatArray,
    speed_mps: FloatArray,
    accel_mps2: FloatArray,
    player_id: str = "",
    rules: EffortRules = EffortRules(),
) -> list[Effort]:
    """Every effort of one player, ordered by end time (then kind).

    Args:
        t_s: ``(T,)`` sample times, increasing.
        speed_mps: ``(T,)`` speeds (NaN where unknown).
        accel_mps2: ``(T,)`` accelerations (NaN where unknown).
        player_id: Put on each :class:`Effort`.
        rules: Thresholds and durations.
    """
    t = np.asarray(t_s, dtype=np.float64)
    speed = np.asarray(speed_mps, dtype=np.float64)
    accel = np.asarray(accel_mps2, dtype=np.float64)
    values = np.stack([speed, speed, accel, -accel], axis=1)
    above = values >= rules.thresholds()  # NaN compares False
    n_t = t.shape[0]
    joined = np.diff(t) <= rules.max_gap_s + _GAP_EPS_S
    held = np.nan_to_num(speed[:-1]) * np.where(joined, np.diff(t), 0.0)
    odometer = np.concatenate([[0.0], np.cumsum(held)])  # distance held up to each sample
    found: list[Effort] = []
    for k, kind in enumerate(EFFORT_KINDS):
        on = above[:, k]
        # A run goes on from one sample to the next while both are beyond and close enough.
        link = on[:-1] & on[1:] & joined
        starts = np.flatnonzero(on & ~np.concatenate([[False], link]))
        ends = np.flatnonzero(on & ~np.concatenate([link, [False]]))
        below = ends + 1 < n_t  # the run ended at a sample back below the threshold ...
        below[below] &= joined[ends[below]]  # ... that came soon enough
        last = np.where(below, ends + 1, ends)
        end_s = t[last]
        keep = end_s - t[starts] >= rules.minimum_s()[k] - _GAP_EPS_S
        sign = -1.0 if kind == "deceleration" else 1.0
        for i, j, e in zip(starts[keep], ends[keep], last[keep], strict=True):
            found.append(
                Effort(
                    player_id,
                    kind,
                    float(t[i]),
                    float(t[e]),
                    sign * float(values[i : j + 1, k].max()),
                    float(odometer[e] - odometer[i]),
                )
            )
    order = {kind: k for k, kind in enumerate(EFFORT_KINDS)}
    return sorted(found, key=lambda e: (e.end_s, order[e.kind]))


class EffortTracker:
    """Streaming efforts and speed-band totals, every player of a frame at once.

    Two ways in: :meth:`update` takes one game's frames by player id (and keeps that game's
    clock: jitter ignored, a restarted clock ends every effort); :meth:`update_rows` takes
    rows from :meth:`add_rows`, each with its own time, so one tracker can serve the players
    of many games in one vectorised step (the caller keeps each game's clock).

    Args:
        rules: Thresholds, durations, the longest gap bridged and the band edges.

    Example:
        >>> import numpy as np
        >>> tracker = EffortTracker()
        >>> done = []
        >>> for i in range(30):
        ...     speed = 7.5 if 10 <= i < 23 else 3.0        # 7.5 m/s from 1.0 s to 2.2 s
        ...     done += tracker.update(i / 10, ["p9"], np.array([speed]), np.array([0.0]))
        >>> [(e.kind, round(e.duration_s, 1)) for e in done]
        [('high_speed', 1.3), ('sprint', 1.3)]
        >>> tracker.time_in_bands_s("p9").round(1).tolist()
        [0.0, 1.6, 0.0, 0.0, 1.3]
    """

    def __init__(self, rules: EffortRules = EffortRules()) -> None:
        self.rules = rules
        self._thresholds = rules.thresholds()
        self._minimum = rules.minimum_s() - _GAP_EPS_S
        self._gap_limit = rules.max_gap_s + _GAP_EPS_S
        self._n_bands = len(rules.band_edges_mps) + 1
        # NaN speeds fall past the last edge, into a bucket that is never reported.
        self._edges = np.array([*rules.band_edges_mps, np.inf])
        self._labels: list[str] = []  # per row: the player id put on its efforts
        self._rows: dict[str, int] = {}  # rows of the ids given to update()
        self._last_t_global = -np.inf
        self._cached_key: tuple[str, ...] | None = None
        self._cached_rows = np.zeros(0, dtype=np.intp)
        self._last_t = np.zeros(0)
        self._last_speed = np.zeros(0)
        self._last_band = np.zeros(0, dtype=np.intp)
        self._band_time = np.zeros((0, self._n_bands + 1))
        self._band_dist = np.zeros((0, self._n_bands + 1))
        self._odometer = np.zeros(0)  # speed x time so far, per player
        self._active = np.zeros((0, 4), dtype=bool)
        self._start = np.zeros((0, 4))
        self._start_odometer = np.zeros((0, 4))
        self._peak = np.zeros((0, 4))
        self._reserve(32)

    def time_in_bands_s(self, player_id: str) -> FloatArray:
        """Seconds ``player_id`` spent in each speed band so far (zeros if never seen)."""
        row = self._rows.get(player_id)
        n = self._n_bands
        return np.zeros(n) if row is None else self._band_time[row, :n].copy()

    def distance_in_bands_m(self, player_id: str) -> FloatArray:
        """Metres ``player_id`` covered in each speed band so far."""
        row = self._rows.get(player_id)
        n = self._n_bands
        return np.zeros(n) if row is None else self._band_dist[row, :n].copy()

    def distances_in_bands_m(self, ids: Sequence[str]) -> FloatArray:
        """``(n, bands)`` metres per speed band of the players ``ids`` (one vectorised read)."""
        return self.row_distances_in_bands_m(self._rows_for(ids))

    def row_distances_in_bands_m(self, rows: IntArray) -> FloatArray:
        """``(n, bands)`` metres per speed band of ``rows``."""
        return self._band_dist[rows, : self._n_bands]

    def add_rows(self, labels: Sequence[str]) -> IntArray:
        """New rows for :meth:`update_rows`, one per label (the player id of its efforts)."""
        first = len(self._labels)
        self._labels.extend(labels)
        if len(self._labels) > self._last_t.shape[0]:
            self._reserve(2 * len(self._labels))
        return np.arange(first, len(self._labels), dtype=np.intp)

    def update(
        self,
        t_s: float,
        ids: Sequence[str],
        speed_mps: FloatArray,
        accel_mps2: FloatArray,
        step_m: FloatArray | None = None,
    ) -> list[Effort]:
        """Take one frame's speeds and accelerations ``(n,)``; return the efforts it completes.

        ``step_m`` (the kinematic steps of this frame) makes band distances use the filtered
        path instead of speed times time. A frame not after the previous one (by less than
        ``max_gap_s``) is ignored; one further back is a restarted clock, which ends every
        effort in progress at its last sample.
        """
        t = float(t_s)
        done: list[Effort] = []
        if not t > self._last_t_global:
            if t >= self._last_t_global - self._gap_limit:
                return []  # jitter, or the same instant again
            # The clock restarted (a new period): end everything, as after a long gap.
            done += self.flush()
            self._last_t[:] = np.nan
        self._last_t_global = t
        rows = self._rows_for(ids)
        times = np.full(rows.shape[0], t)
        done += [e for _, e in self.update_rows(times, rows, speed_mps, accel_mps2, step_m)]
        return done

    def update_rows(
        self,
        t_s: FloatArray,
        rows: IntArray,
        speed_mps: FloatArray,
        accel_mps2: FloatArray,
        step_m: FloatArray | None = None,
    ) -> list[tuple[int, Effort]]:
        """Take samples of distinct ``rows`` at times ``t_s`` ``(n,)``, each after its row's
        previous sample; return the efforts they complete with their rows."""
        t = np.asarray(t_s, dtype=np.float64)
        speed = np.asarray(speed_mps, dtype=np.float64)
        accel = np.asarray(accel_mps2, dtype=np.float64)
        done: list[tuple[int, Effort]] = []
        at = as_slice(rows)  # consecutive rows (the usual round) read as views
        # The interval since each player's previous sample belongs to that sample's band and
        # to its efforts in progress, when it is short enough.
        gaps = t - self._last_t[at]
        joined = gaps <= self._gap_limit  # False for players never seen (NaN)
        dt = np.where(joined, gaps, 0.0)
        cells = rows * (self._n_bands + 1) + np.where(joined, self._last_band[at], self._n_bands)
        held = self._last_speed[at] * dt
        self._band_time.reshape(-1)[cells] += dt
        if step_m is None:
            self._band_dist.reshape(-1)[cells] += held
        else:
            self._band_dist.reshape(-1)[cells] += np.asarray(step_m, dtype=np.float64) * joined
        odometer = self._odometer[at] + held
        self._odometer[at] = odometer
        active = self._active[at]
        if active.any():
            cut = active & ~joined[:, None]  # efforts cut by a gap end at the last sample
            if cut.any():
                done += self._close(rows, cut, self._last_t[rows], odometer)
                active = active & ~cut
        values = np.empty((rows.shape[0], 4))
        values[:, :2] = speed[:, None]
        values[:, 2] = accel
        np.negative(accel, out=values[:, 3])
        above = values >= self._thresholds  # NaN compares False
        change = above != active
        if change.any():
            ended = change & active
            if ended.any():
                done += self._close(rows, ended, t, odometer)
            started = change & above
            if started.any():
                r, k = np.nonzero(started)
                self._active[rows[r], k] = True
                self._start[rows[r], k] = t[r]
                self._start_odometer[rows[r], k] = odometer[r]
                self._peak[rows[r], k] = values[r, k]
        # Running maxima; only those of efforts in progress are read, and reset when one starts.
        self._peak[at] = np.fmax(self._peak[at], values)
        self._last_t[at] = t
        self._last_speed[at] = np.fmax(speed, 0.0)  # NaN held as 0 m/s
        self._last_band[at] = np.searchsorted(self._edges, speed, side="right")
        return done

    def flush(self) -> list[Effort]:
        """End every effort in progress at its player's last sample (end of a period or game)."""
        rows = np.arange(len(self._labels), dtype=np.intp)
        return [e for _, e in self.flush_rows(rows)]

    def flush_rows(self, rows: IntArray) -> list[tuple[int, Effort]]:
        """End the efforts in progress of ``rows`` at their last samples."""
        active = self._active[rows]
        if not active.any():
            return []
        return self._close(rows, active, self._last_t[rows], self._odometer[rows])

    def restart_rows(self, rows: IntArray) -> list[tuple[int, Effort]]:
        """End the efforts of ``rows`` at their last samples and forget those samples: their
        clock restarts (a new period), so nothing is counted across."""
        done = self.flush_rows(rows)
        self._last_t[rows] = np.nan
        return done

    def _close(
        self,
        rows: IntArray,
        which: NDArray[np.bool_],
        end_s: FloatArray,
        odometer: FloatArray,
    ) -> list[tuple[int, Effort]]:
        r, k = np.nonzero(which)
        row = rows[r]
        self._active[row, k] = False
        start = self._start[row, k]
        end = end_s[r]
        keep = (end - start) >= self._minimum[k]
        peak = self._peak[row, k]
        dist = odometer[r] - self._start_odometer[row, k]
        out = []
        for i in np.flatnonzero(keep):
            kind = EFFORT_KINDS[k[i]]
            sign = -1.0 if kind == "deceleration" else 1.0
            at = int(row[i])
            effort = Effort(
                self._labels[at],
                kind,
                float(start[i]),
                float(end[i]),
                sign * float(peak[i]),
                float(dist[i]),
            )
            out.append((at, effort))
        return out

    def _rows_for(self, ids: Sequence[str]) -> IntArray:
        """Rows of ``ids`` (new ids get new rows)."""
        key = ids if isinstance(ids, tuple) else tuple(ids)
        if key == self._cached_key:
            return self._cached_rows
        if len(set(key)) != len(key):
            raise ValueError("a frame lists a player id twice")
        new = [player_id for player_id in key if player_id not in self._rows]
        for player_id, row in zip(new, self.add_rows(new).tolist(), strict=True):
            self._rows[player_id] = row
        rows = np.fromiter((self._rows[i] for i in key), dtype=np.intp, count=len(key))
        self._cached_key, self._cached_rows = key, rows
        return rows

    def _reserve(self, capacity: int) -> None:
        extra = capacity - self._last_t.shape[0]
        bands = self._n_bands + 1
        self._last_t = np.concatenate([self._last_t, np.full(extra, np.nan)])
        self._last_speed = np.concatenate([self._last_speed, np.zeros(extra)])
        self._last_band = np.concatenate(
            [self._last_band, np.full(extra, self._n_bands, dtype=np.intp)]
        )
        self._band_time = np.concatenate([self._band_time, np.zeros((extra, bands))])
        self._band_dist = np.concatenate([self._band_dist, np.zeros((extra, bands))])
        self._odometer = np.concatenate([self._odometer, np.zeros(extra)])
        self._active = np.concatenate([self._active, np.zeros((extra, 4), dtype=bool)])
        self._start = np.concatenate([self._start, np.zeros((extra, 4))])
        self._start_odometer = np.concatenate([self._start_odometer, np.zeros((extra, 4))])
        self._peak = np.concatenate([self._peak, np.zeros((extra, 4))])
