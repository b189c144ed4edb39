"""Speed, acceleration and distance covered from positions, causally.

Definitions (every value at time t uses samples up to t only):

- smoothed position: the trailing mean of the last ``window_frames`` positions
  (:mod:`arenaflow.analytics.filters`; a causal Savitzky-Golay filter of order 0),
- velocity: the least-squares slope of the same window (causal Savitzky-Golay, order 1,
  first derivative, against the actual timestamps, so missing frames are handled exactly),
  speed its norm, capped at ``speed_cap_mps``,
- acceleration: the least-squares slope of the speeds of the same window, i.e. the
  rate of change of speed (tangential acceleration, the "forward acceleration" of
  di Prampero et al. 2005 used by :mod:`arenaflow.analytics.metabolic`), m/s²,
- step: the distance between consecutive smoothed positions, capped at
  ``speed_cap_mps`` times the time between them; distance covered is the sum of steps.

Delays: positions, steps, distance and speed describe the instant ``(window_frames - 1) / 2``
frames before the newest frame: 3 frames = **120 ms** with the default 7-frame window at 25 Hz
(300 ms at 10 Hz). Acceleration, the slope of speeds, lags by as much again: 240 ms by default
at 25 Hz.

Warm-up: over the first ``window_frames - 1`` frames of a segment the filter averages the
samples it has; an offline centred filter would fit a line to the first full window instead.

Speed cap: 12 m/s (DESIGN.md; well above the top speeds of about 10 m/s measured in elite
football), so a jump in the raw positions (an identity swap, a detection on the wrong player)
adds at most 12 m/s worth of distance. The ball is not a player: track it with its own cap.

Gaps: a player missing (absent from the frame, or NaN) for up to ``max_gap_s`` is bridged,
the step across the gap being the straight line, capped; after a longer gap the filter starts
a new segment and no distance is counted across the gap.

Two forms with the same arithmetic: :func:`kinematics` (and :func:`speed_mps`,
:func:`acceleration_mps2`, :func:`distance_m`) over whole arrays, and
:class:`KinematicsBank`, the streaming form the pipeline uses (every player of many games in one
vectorised step per round), with :class:`KinematicsTracker` its one-game view by player id.

Example:
    >>> import numpy as np
    >>> t = np.arange(50) / 25.0
    >>> xy = np.stack([3.0 * t, np.zeros_like(t)], axis=1)   # 3 m/s along x
    >>> round(float(speed_mps(xy, fps=25.0)[-1]), 9)
    3.0
    >>> round(float(distance_m(xy, fps=25.0)[-1]), 6)          # the filter is 3 frames behind
    5.52
    >>> tracker = KinematicsTracker()
    >>> for frame in range(50):
    ...     step = tracker.update(frame, frame / 25.0, ["p7"], xy[frame : frame + 1])
    >>> round(float(step.distance_m[0]), 6), tracker.delay_ms(fps=25.0)
    (5.52, 120.0)
    >>> tracker.update(10, 0.4, ["p7"], xy[10:11]) is None     # a redelivered frame
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from arenaflow.analytics.filters import check_window, delay_ms, trailing_fit
from arenaflow.analytics.rows import as_slice

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Default cap on plausible speed (m/s), DESIGN.md.
SPEED_CAP_MPS = 12.0
#: Default window of the position filter, in frames.
WINDOW_FRAMES = 7
#: Default longest gap (s) bridged without starting a new segment.
MAX_GAP_S = 1.0
# Timestamps derived from frame numbers are not exact: a gap of exactly max_gap_s is bridged.
_GAP_EPS_S = 1e-9
_NEVER = -(2**62)


@dataclass(frozen=True, slots=True)
class Kinematics:
    """Kinematics of ``n`` players over ``T`` frames (NaN where not defined).

    Attributes:
        speed_mps: ``(T, n)`` speed, NaN where the player is missing or on the first frame of
            a segment.
        velocity_mps: ``(T, n, 2)`` velocity (vx, vy), its norm capped like the speed.
        accel_mps2: ``(T, n)`` rate of change of speed, NaN until two speeds exist.
        step_m: ``(T, n)`` distance since the player's previous frame, 0 where none.
        distance_m: ``(T, n)`` cumulative distance covered.
    """

    speed_mps: FloatArray
    velocity_mps: FloatArray
    accel_mps2: FloatArray
    step_m: FloatArray
    distance_m: FloatArray


@dataclass(frozen=True, slots=True)
class KinematicsStep:
    """What :meth:`KinematicsTracker.update` learned from one frame, in the frame's id order.

    Attributes:
        frame: The frame number.
        t_s: The frame's timestamp (seconds).
        ids: The player ids of the frame.
        speed_mps: ``(n,)`` speed, NaN while a player's segment has a single sample (or its
            position is NaN).
        velocity_mps: ``(n, 2)`` velocity.
        accel_mps2: ``(n,)`` rate of change of speed, NaN until two speeds exist.
        step_m: ``(n,)`` distance added by this frame.
        distance_m: ``(n,)`` cumulative distance per player in this game.
    """

    frame: int
    t_s: float
    ids: Sequence[str]
    speed_mps: FloatArray
    velocity_mps: FloatArray
    accel_mps2: FloatArray
    step_m: FloatArray
    distance_m: FloatArray


def kinematics(
    xy_m: FloatArray,
    fps: float,
    *,
    window_frames: int = WINDOW_FRAMES,
    speed_cap_mps: float = SPEED_CAP_MPS,
    max_gap_s: float = MAX_GAP_S,
) -> Kinematics:
    """Causal kinematics of whole trajectories sampled at ``fps``.

    Gives what :class:`KinematicsTracker` gives when fed the same frames one by one.

    Args:
        xy_m: Positions in metres, ``(T, n, 2)`` (or ``(T, 2)`` for one player, returned as
            ``n = 1``); NaN rows are missing frames.
        fps: Frames per second; frame ``i`` is at ``i / fps`` seconds.
        window_frames: Frames in the position filter (and in the acceleration fit).
        speed_cap_mps: Highest plausible speed.
        max_gap_s: Longest gap bridged; longer gaps start a new segment.
    """
    xy = np.asarray(xy_m, dtype=np.float64)
    if xy.ndim == 2:
        xy = xy[:, None, :]
    if xy.ndim != 3 or xy.shape[2] != 2:
        raise ValueError(f"xy_m must have shape (T, n, 2) or (T, 2), got {np.shape(xy_m)}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    check_window(window_frames)
    n_t, n_p = xy.shape[:2]
    speed = np.full((n_t, n_p), np.nan)
    velocity = np.full((n_t, n_p, 2), np.nan)
    accel = np.full((n_t, n_p), np.nan)
    step = np.zeros((n_t, n_p))
    t_all = np.arange(n_t) / fps
    for p in range(n_p):
        for first, last in _segments(t_all, xy[:, p], max_gap_s):
            span = slice(first, last + 1)
            t = t_all[span]
            mean, slope = trailing_fit(t, xy[span, p], window_frames)
            raw = np.hypot(slope[:, 0], slope[:, 1])
            spd = np.minimum(raw, speed_cap_mps)
            present = np.asarray(np.isfinite(xy[span, p]).all(axis=1))
            spd[~present] = np.nan
            speed[span, p] = spd
            velocity[span, p] = np.where(
                present[:, None], slope * _cap_scale(raw, speed_cap_mps)[:, None], np.nan
            )
            _, a_slope = trailing_fit(t, spd[:, None], window_frames)
            accel[span, p] = np.where(present, a_slope[:, 0], np.nan)
            idx = np.flatnonzero(present)
            d = np.diff(mean[idx], axis=0)
            step[first + idx[1:], p] = np.minimum(
                np.hypot(d[:, 0], d[:, 1]), speed_cap_mps * np.diff(t[idx])
            )
    return Kinematics(speed, velocity, accel, step, np.cumsum(step, axis=0))


def speed_mps(
    xy_m: FloatArray,
    fps: float,
    *,
    window_frames: int = WINDOW_FRAMES,
    speed_cap_mps: float = SPEED_CAP_MPS,
    max_gap_s: float = MAX_GAP_S,
) -> FloatArray:
    """Speed (m/s) of trajectories ``(T, n, 2)`` -> ``(T, n)``, or ``(T, 2)`` -> ``(T,)``.

    Options as in :func:`kinematics`.
    """
    k = kinematics(
        xy_m, fps, window_frames=window_frames, speed_cap_mps=speed_cap_mps, max_gap_s=max_gap_s
    )
    return _squeeze(k.speed_mps, xy_m)


def acceleration_mps2(
    xy_m: FloatArray,
    fps: float,
    *,
    window_frames: int = WINDOW_FRAMES,
    speed_cap_mps: float = SPEED_CAP_MPS,
    max_gap_s: float = MAX_GAP_S,
) -> FloatArray:
    """Rate of change of speed (m/s²), shaped like :func:`speed_mps`."""
    k = kinematics(
        xy_m, fps, window_frames=window_frames, speed_cap_mps=speed_cap_mps, max_gap_s=max_gap_s
    )
    return _squeeze(k.accel_mps2, xy_m)


def distance_m(
    xy_m: FloatArray,
    fps: float,
    *,
    window_frames: int = WINDOW_FRAMES,
    speed_cap_mps: float = SPEED_CAP_MPS,
    max_gap_s: float = MAX_GAP_S,
) -> FloatArray:
    """Cumulative distance covered (m), shaped like :func:`speed_mps`."""
    k = kinematics(
        xy_m, fps, window_frames=window_frames, speed_cap_mps=speed_cap_mps, max_gap_s=max_gap_s
    )
    return _squeeze(k.distance_m, xy_m)


class KinematicsTracker:
    """Streaming kinematics of one game, every player of a frame in one vectorised step: a
    :class:`KinematicsBank` holding a single game, addressed by player id.

    The window of the filter is the last ``window_frames`` frames given to :meth:`update`; a
    frame in which a player is missing leaves a hole in that player's window. Frames must come
    in increasing ``frame`` order: a frame at or before the last one seen is ignored
    (``update`` returns ``None``), so redelivering a frame changes nothing.

    Args:
        window_frames: Frames in the position filter (and in the acceleration fit).
        speed_cap_mps: Highest plausible speed.
        max_gap_s: Longest absence bridged; a longer one starts a new segment.
    """

    def __init__(
        self,
        window_frames: int = WINDOW_FRAMES,
        speed_cap_mps: float = SPEED_CAP_MPS,
        max_gap_s: float = MAX_GAP_S,
    ) -> None:
        self._bank = KinematicsBank(window_frames, speed_cap_mps, max_gap_s)
        self._game = self._bank.game("")
        self.window_frames = window_frames
        self._cached_key: tuple[str, ...] | None = None
        self._cached_rows: IntArray = np.zeros(0, dtype=np.intp)

    def delay_ms(self, fps: float = 25.0) -> float:
        """Delay of positions, speed and distance behind the newest frame at ``fps``."""
        return self._bank.delay_ms(fps)

    def accel_delay_ms(self, fps: float = 25.0) -> float:
        """Delay of the acceleration (a fit of the speeds) behind the newest frame at ``fps``."""
        return 2.0 * self._bank.delay_ms(fps)

    @property
    def last_frame(self) -> int | None:
        """The newest frame accepted so far."""
        return self._bank.last_frame(self._game)

    def distance_of(self, player_id: str) -> float:
        """Distance covered so far by ``player_id`` (0 for a player not seen)."""
        row = self._bank.row_of(self._game, player_id)
        return 0.0 if row is None else float(self._bank.distance(np.array([row]))[0])

    def update(
        self, frame: int, t_s: float, ids: Sequence[str], xy_m: FloatArray
    ) -> KinematicsStep | None:
        """Take one frame: player ``ids`` at positions ``xy_m`` ``(n, 2)`` metres at ``t_s``.

        Returns ``None`` for a frame at or before the last frame seen, and for one whose
        timestamp is not after the previous frame's by less than ``max_gap_s`` (jitter); a
        timestamp further back is taken as a restarted clock, after which every player starts
        a new segment. NaN positions count as missing detections.
        """
        rows = self._rows_for(ids)  # validated before the bank changes
        xy = np.asarray(xy_m, dtype=np.float64)
        if xy.shape != (rows.shape[0], 2):
            raise ValueError(f"xy_m must have shape ({rows.shape[0]}, 2), got {xy.shape}")
        t = self._bank.accept(self._game, frame, t_s)
        if t is None:
            return None
        present = np.isfinite(xy).all(axis=1)
        if present.all():
            step = self._bank.step(rows, np.full(rows.shape[0], t), xy)
            return KinematicsStep(
                frame, float(t_s), ids, step.speed_mps, step.velocity_mps, step.accel_mps2,
                step.step_m, step.distance_m,
            )  # fmt: skip
        n = rows.shape[0]
        speed, accel, step_m = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
        velocity = np.full((n, 2), np.nan)
        if present.any():
            step = self._bank.step(rows[present], np.full(int(present.sum()), t), xy[present])
            speed[present], accel[present], step_m[present] = (
                step.speed_mps, step.accel_mps2, step.step_m,
            )  # fmt: skip
            velocity[present] = step.velocity_mps
        distance = self._bank.distance(rows)
        return KinematicsStep(frame, float(t_s), ids, speed, velocity, accel, step_m, distance)

    def _rows_for(self, ids: Sequence[str]) -> IntArray:
        """Rows of ``ids`` (new ids get new rows); a frame's layout usually repeats."""
        key = ids if isinstance(ids, tuple) else tuple(ids)
        if key != self._cached_key:
            if len(set(key)) != len(key):
                raise ValueError("a frame lists a player id twice")
            self._cached_key, self._cached_rows = key, self._bank.rows(self._game, key)
        return self._cached_rows


@dataclass(frozen=True, slots=True)
class BankStep:
    """What :meth:`KinematicsBank.step` computed for its rows, aligned with them.

    Attributes:
        speed_mps, accel_mps2, step_m, distance_m: ``(n,)``, as in :class:`KinematicsStep`.
        velocity_mps: ``(n, 2)``.
    """

    speed_mps: FloatArray
    velocity_mps: FloatArray
    accel_mps2: FloatArray
    step_m: FloatArray
    distance_m: FloatArray


class KinematicsBank:
    """Streaming kinematics of many games at once: one vectorised step for a round of frames.

    The arithmetic of :class:`KinematicsTracker` (same window, holes, gaps, cap and clock
    rules, so the same numbers), with the players of every game as rows of shared arrays and
    each game's clock kept apart. A live service with hundreds of games pays numpy's per-call
    cost once per round instead of once per frame: the ~30 µs a tracker spends per frame is
    mostly call overhead, not arithmetic.

    Use: :meth:`game` once per game, :meth:`rows` for a frame's players, :meth:`accept` for
    each frame of a round (at most one frame per game), then one :meth:`step` with the rows
    of every accepted frame. Positions must be finite: leave missing players out.

    Example:
        >>> import numpy as np
        >>> bank = KinematicsBank()
        >>> a, b = bank.game("a"), bank.game("b")
        >>> ra, rb = bank.rows(a, ["p1"]), bank.rows(b, ["p1"])   # one id, two games
        >>> for f in range(30):
        ...     ta, tb = bank.accept(a, f, f / 25), bank.accept(b, f, 100 + f / 10)
        ...     out = bank.step(np.concatenate([ra, rb]), np.array([ta, tb]),
        ...                     np.array([[2.0 * f / 25, 0.0], [0.0, 5.0 * f / 10]]))
        >>> out.speed_mps.round(6).tolist(), bank.distance(rb).round(6).tolist()
        ([2.0, 5.0], [13.0])
    """

    def __init__(
        self,
        window_frames: int = WINDOW_FRAMES,
        speed_cap_mps: float = SPEED_CAP_MPS,
        max_gap_s: float = MAX_GAP_S,
    ) -> None:
        _check_options(window_frames, speed_cap_mps, max_gap_s)
        self.window_frames = window_frames
        self.speed_cap_mps = float(speed_cap_mps)
        self.max_gap_s = float(max_gap_s)
        self._gap_limit_s = self.max_gap_s + _GAP_EPS_S
        # Per game (Python lists: read once per frame) and its window's slot times.
        self._games: dict[str, int] = {}
        self._last_frame: list[int | None] = []
        self._t0: list[float] = []
        self._prev_t: list[float] = []
        self._update = np.zeros(0, dtype=np.int64)
        self._slot_t = np.zeros((window_frames, 0))  # (slot, game)
        # Per row (a player of a game).
        self._players: list[dict[str, int]] = []
        self._row_game = np.zeros(0, dtype=np.intp)
        self._values = np.zeros((3, window_frames, 0))  # (x/y/speed, slot, row)
        self._written = np.zeros((window_frames, 0), dtype=np.int64)  # (slot, row)
        self._last_t = np.zeros(0)
        self._pos = np.zeros((2, 0))
        self._distance = np.zeros(0)
        self._n_rows = 0

    def delay_ms(self, fps: float = 25.0) -> float:
        """Delay of positions, speed and distance behind the newest frame at ``fps``."""
        return delay_ms(self.window_frames, fps)

    @property
    def row_count(self) -> int:
        return self._n_rows

    def game(self, game_id: str) -> int:
        """The index of ``game_id`` (a new game gets the next one)."""
        g = self._games.get(game_id)
        if g is None:
            g = self._games[game_id] = len(self._games)
            self._last_frame.append(None)
            self._t0.append(0.0)
            self._prev_t.append(-math.inf)
            self._update = np.append(self._update, -1)
            self._slot_t = np.concatenate([self._slot_t, np.zeros((self.window_frames, 1))], axis=1)
            self._players.append({})
        return g

    def rows(self, game: int, ids: Sequence[str]) -> IntArray:
        """Rows of the players ``ids`` of ``game`` (new players get new rows)."""
        table = self._players[game]
        new = [i for i in ids if i not in table]
        if new:
            if len(set(new)) != len(new):
                raise ValueError("a frame lists a player id twice")
            first = self._n_rows
            self._grow(first + len(new))
            for k, player_id in enumerate(new):
                table[player_id] = first + k
            self._row_game[first : first + len(new)] = game
            self._n_rows = first + len(new)
        return np.fromiter((table[i] for i in ids), dtype=np.intp, count=len(ids))

    def accept(self, game: int, frame: int, t_s: float) -> float | None:
        """Start ``frame`` of ``game`` at ``t_s``; the time to give :meth:`step` for its rows,
        or ``None`` for a frame to skip (at or before the last one, or jitter). A timestamp
        further back than a gap is a restarted clock: every player starts a new segment."""
        last = self._last_frame[game]
        if last is not None and frame <= last:
            return None
        if self._update[game] < 0:
            self._t0[game] = float(t_s)
        t = float(t_s) - self._t0[game]
        prev = self._prev_t[game]
        if not t > prev:
            if t >= prev - self._gap_limit_s:
                return None
            self._t0[game] = float(t_s) - (prev + 2.0 * self._gap_limit_s + 1.0)
            t = float(t_s) - self._t0[game]
        self._last_frame[game] = frame
        self._prev_t[game] = t
        u = int(self._update[game]) + 1
        self._update[game] = u
        self._slot_t[u % self.window_frames, game] = t
        return t

    def step(self, rows: IntArray, t: FloatArray, xy_m: FloatArray) -> BankStep:
        """Advance ``rows`` (each at most once, of accepted frames) to positions ``xy_m``
        ``(n, 2)`` at their frames' times ``t`` (from :meth:`accept`, one per row or per
        frame broadcast by the caller)."""
        n_win = self.window_frames
        # Windows are stored (slot, row): sums over a window are then W vector additions
        # across the rows, not one short reduction per row. Consecutive rows (every game
        # present, the usual round) are read as views instead of gathered copies.
        at: IntArray | slice = as_slice(rows)
        u = self._update[self._row_game[at]]
        slot = u % n_win
        cols = np.arange(rows.shape[0])
        gap = t - self._last_t[at]  # NaN for a player never seen
        fresh = ~(gap <= self._gap_limit_s)
        if fresh.any():  # a new segment: forget the samples before the gap
            self._written[:, rows[fresh]] = _NEVER
        self._written[slot, rows] = u
        self._last_t[at] = t
        values = self._values
        values[0, slot, rows] = xy_m[:, 0]
        values[1, slot, rows] = xy_m[:, 1]
        values[2, slot, rows] = 0.0  # this frame's speed joins the fit below
        valid = self._written[:, at] > u - n_win  # (W, n)
        vals = values[:, :, at]  # (3, W, n)
        games = self._row_game[at]
        earlier = vals[2].copy()
        speed_ok = valid & np.isfinite(earlier)
        if speed_ok.all():
            # Every window full, with a speed in every slot (the steady state): each game's
            # least-squares weights are shared by its players.
            slot_t = self._slot_t
            d = slot_t - slot_t.mean(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):  # games not started yet
                w = (d / (d * d).sum(axis=0))[:, games]  # (W, n) slope weights
            mean = vals[0:2].sum(axis=1) / n_win
            slope = np.einsum("kwn,wn->kn", vals[0:2], w)
            raw = np.hypot(slope[0], slope[1])
            speed = np.minimum(raw, self.speed_cap_mps)
            earlier[slot, cols] = speed
            accel = np.einsum("wn,wn->n", earlier, w)
            n_speeds = np.full(cols.shape[0], n_win)
        else:
            speed, slope, raw, mean, accel, n_speeds = self._masked(
                valid, vals, earlier, speed_ok, self._slot_t[:, games], slot, cols
            )
        accel[n_speeds < 2] = np.nan
        velocity = slope.T
        if (raw > self.speed_cap_mps).any():
            velocity = velocity * _cap_scale(raw, self.speed_cap_mps)[:, None]
        values[2, slot, rows] = speed
        delta = mean - self._pos[:, at]
        step = np.minimum(np.hypot(delta[0], delta[1]), self.speed_cap_mps * gap)
        step[fresh] = 0.0
        self._pos[:, at] = mean
        distance = self._distance[at] + step
        self._distance[at] = distance
        return BankStep(speed, velocity, accel, step, distance)

    def _masked(
        self,
        valid: NDArray[np.bool_],
        vals: FloatArray,
        earlier: FloatArray,
        speed_ok: NDArray[np.bool_],
        slot_t: FloatArray,
        slot: IntArray,
        cols: IntArray,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, IntArray]:
        """Fits over the valid slots of each window (new segments, holes, arrivals)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            count = valid.sum(axis=0)
            dt = np.where(valid, slot_t - (np.where(valid, slot_t, 0.0).sum(axis=0) / count), 0.0)
            sxx = (dt * dt).sum(axis=0)
            xy_valid = np.where(valid, vals[0:2], 0.0)
            mean = xy_valid.sum(axis=1) / count  # (2, n)
            slope = (xy_valid * dt).sum(axis=1) / sxx
            one = count < 2
            slope[:, one] = np.nan
            raw = np.hypot(slope[0], slope[1])
            speed_ok[slot, cols] = ~one
            n_speeds = speed_ok.sum(axis=0)
            ds = np.where(
                speed_ok, slot_t - np.where(speed_ok, slot_t, 0.0).sum(axis=0) / n_speeds, 0.0
            )
            sxs = (ds * ds).sum(axis=0)
            speed = np.minimum(raw, self.speed_cap_mps)
            earlier[slot, cols] = speed
            accel = (ds * np.where(speed_ok, earlier, 0.0)).sum(axis=0) / sxs
        return speed, slope, raw, mean, accel, n_speeds

    def last_frame(self, game: int) -> int | None:
        """The newest frame of ``game`` accepted so far."""
        return self._last_frame[game]

    def row_of(self, game: int, player_id: str) -> int | None:
        """The row of ``player_id`` in ``game``, if seen."""
        return self._players[game].get(player_id)

    def distance(self, rows: IntArray) -> FloatArray:
        """Distance covered so far by ``rows``."""
        return self._distance[rows].copy()

    def _grow(self, needed: int) -> None:
        capacity = self._last_t.shape[0]
        if needed <= capacity:
            return
        extra = max(needed, 2 * capacity, 64) - capacity
        n = self.window_frames
        self._row_game = np.concatenate([self._row_game, np.zeros(extra, dtype=np.intp)])
        self._values = np.concatenate([self._values, np.zeros((3, n, extra))], axis=2)
        self._written = np.concatenate(
            [self._written, np.full((n, extra), _NEVER, np.int64)], axis=1
        )
        self._last_t = np.concatenate([self._last_t, np.full(extra, np.nan)])
        self._pos = np.concatenate([self._pos, np.zeros((2, extra))], axis=1)
        self._distance = np.concatenate([self._distance, np.zeros(extra)])


def _check_options(window_frames: int, speed_cap_mps: float, max_gap_s: float) -> None:
    check_window(window_frames)
    if not speed_cap_mps > 0:
        raise ValueError(f"speed_cap_mps must be positive, got {speed_cap_mps}")
    if not max_gap_s >= 0:
        raise ValueError(f"max_gap_s must not be negative, got {max_gap_s}")


def _cap_scale(raw_speed: FloatArray, cap: float) -> FloatArray:
    """Factor that brings velocity vectors faster than ``cap`` down to it (1 otherwise)."""
    scale = np.ones_like(raw_speed)
    over = raw_speed > cap
    if over.any():
        scale[over] = cap / raw_speed[over]
    return scale


def _segments(t: FloatArray, xy: FloatArray, max_gap_s: float) -> list[tuple[int, int]]:
    """``(first, last)`` frames of each segment of one player: runs of valid frames whose gaps
    are at most ``max_gap_s``."""
    idx = np.flatnonzero(np.asarray(np.isfinite(xy).all(axis=1)))
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(t[idx]) > max_gap_s + _GAP_EPS_S)
    firsts = np.concatenate([idx[:1], idx[breaks + 1]])
    lasts = np.concatenate([idx[breaks], idx[-1:]])
    return [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True)]


def _squeeze(values: FloatArray, xy_m: FloatArray) -> FloatArray:
    return values[:, 0] if np.ndim(xy_m) == 2 else values
