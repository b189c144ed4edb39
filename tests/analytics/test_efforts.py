"""Efforts: thresholds and minimum durations by hand, gaps, the streaming tracker equal to the
array API, band totals, causality."""

from __future__ import annotations

import numpy as np
import pytest

from arenaflow.analytics.bands import distance_in_bands_m, time_in_bands_s
from arenaflow.analytics.efforts import Effort, EffortRules, EffortTracker, efforts

DT = 0.04


def run(speeds: list[tuple[float, int]]) -> np.ndarray:
    """Speeds held for a number of 25 Hz frames each."""
    return np.concatenate([np.full(n, v) for v, n in speeds])


def key(e: Effort) -> tuple[str, str, float, float]:
    return (e.player_id, e.kind, round(e.start_s, 9), round(e.end_s, 9))


def test_sprint_needs_one_second() -> None:
    # 25 frames at 7.5 m/s: from frame 10 to the first slower frame, 35: exactly 1.0 s.
    speed = run([(3.0, 10), (7.5, 25), (3.0, 10)])
    t = np.arange(speed.size) * DT
    found = efforts(t, speed, np.zeros_like(t), "p")
    assert [(e.kind, e.start_s, e.end_s) for e in found] == [
        ("high_speed", pytest.approx(0.4), pytest.approx(1.4)),
        ("sprint", pytest.approx(0.4), pytest.approx(1.4)),
    ]
    sprint = found[1]
    assert sprint.peak == 7.5 and sprint.duration_s == pytest.approx(1.0)
    assert sprint.distance_m == pytest.approx(7.5 * 1.0)
    # 24 frames (0.96 s) is not a sprint.
    short = run([(3.0, 10), (7.5, 24), (3.0, 10)])
    assert efforts(np.arange(short.size) * DT, short, np.zeros(short.size)) == []


def test_high_speed_without_sprint_and_peak() -> None:
    speed = run([(2.0, 5), (6.0, 20), (6.8, 10), (6.2, 10), (4.0, 5)])
    t = np.arange(speed.size) * DT
    (hsr,) = efforts(t, speed, np.zeros_like(t))
    assert hsr.kind == "high_speed" and hsr.peak == 6.8
    assert hsr.duration_s == pytest.approx(40 * DT)
    assert hsr.distance_m == pytest.approx((20 * 6.0 + 10 * 6.8 + 10 * 6.2) * DT)


def test_acceleration_and_deceleration() -> None:
    accel = run([(0.0, 5), (3.0, 13), (0.0, 5), (-2.6, 12), (-3.1, 1), (0.0, 5), (-3.0, 12)])
    t = np.arange(accel.size) * DT
    found = efforts(t, np.full(t.shape, 3.0), accel, "p")
    kinds = [(e.kind, round(e.duration_s, 6), e.peak) for e in found]
    # 13 frames = 0.52 s >= 0.5 s; 13 frames of deceleration (peak -3.1); the last is 0.48 s.
    assert kinds == [("acceleration", 0.52, 3.0), ("deceleration", 0.52, -3.1)]


def test_gap_ends_an_effort_at_the_last_sample() -> None:
    t = np.concatenate([np.arange(40) * DT, 10.0 + np.arange(40) * DT])
    speed = np.full(t.shape, 7.5)
    found = [e for e in efforts(t, speed, np.zeros_like(t)) if e.kind == "sprint"]
    assert [(e.start_s, e.end_s) for e in found] == [
        (0.0, pytest.approx(39 * DT)),
        (10.0, pytest.approx(10.0 + 39 * DT)),
    ]


def test_nan_ends_an_effort() -> None:
    speed = run([(7.5, 30), (np.nan, 1), (7.5, 30)])
    t = np.arange(speed.size) * DT
    sprints = [e for e in efforts(t, speed, np.zeros_like(t)) if e.kind == "sprint"]
    assert [(round(e.start_s, 6), round(e.end_s, 6)) for e in sprints] == [
        (0.0, 1.2),
        (1.24, round(60 * DT, 6)),
    ]


def test_rules_are_configurable() -> None:
    speed = run([(3.0, 5), (6.5, 20), (3.0, 5)])
    t = np.arange(speed.size) * DT
    rules = EffortRules(sprint_mps=6.0, sprint_min_s=0.5)
    assert [e.kind for e in efforts(t, speed, np.zeros_like(t), rules=rules)] == ["sprint"]


# --- the streaming tracker -------------------------------------------------------------------


def synthetic(seed: int, frames: int = 1500, players: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) * DT
    # Sums of slow waves (periods 1.5-12 s) that cross every threshold many times.
    periods = rng.uniform(1.5, 12.0, size=(4, players))
    phases = rng.uniform(0, 2 * np.pi, size=(4, players))
    waves = np.sin(2 * np.pi * t[:, None, None] / periods + phases).sum(axis=1)
    speed = np.clip(4.5 + 1.6 * waves, 0.0, 10.0)
    accel = np.gradient(speed, DT, axis=0)
    speed[300:340, 1] = np.nan  # unknown speeds
    return t, speed, accel


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_equals_array_api(seed: int) -> None:
    t, speed, accel = synthetic(seed)
    ids = [f"p{i}" for i in range(speed.shape[1])]
    # Player 2 misses 0.4 s (bridged) and player 3 two seconds (not bridged).
    present = np.ones(speed.shape, dtype=bool)
    present[500:510, 2] = False
    present[800:850, 3] = False
    tracker = EffortTracker()
    streamed: list[Effort] = []
    for f in range(t.size):
        cols = np.flatnonzero(present[f])
        streamed += tracker.update(t[f], [ids[c] for c in cols], speed[f, cols], accel[f, cols])
    streamed += tracker.flush()
    expected: list[Effort] = []
    for p, pid in enumerate(ids):
        rows = present[:, p]
        expected += efforts(t[rows], speed[rows, p], accel[rows, p], pid)
        assert tracker.time_in_bands_s(pid) == pytest.approx(
            time_in_bands_s(t[rows], speed[rows, p])
        )
        assert tracker.distance_in_bands_m(pid) == pytest.approx(
            distance_in_bands_m(t[rows], speed[rows, p])
        )
    assert len(expected) > 20
    assert sorted(map(key, streamed)) == sorted(map(key, expected))
    peaks = {key(e): (e.peak, e.distance_m) for e in expected}
    for e in streamed:
        assert (e.peak, e.distance_m) == pytest.approx(peaks[key(e)])


def test_streaming_band_distance_from_steps() -> None:
    tracker = EffortTracker()
    tracker.update(0.0, ["p"], np.array([7.5]), np.array([0.0]), step_m=np.array([0.0]))
    tracker.update(0.5, ["p"], np.array([1.0]), np.array([0.0]), step_m=np.array([3.6]))
    tracker.update(1.0, ["p"], np.array([1.0]), np.array([0.0]), step_m=np.array([0.4]))
    assert tracker.distance_in_bands_m("p").tolist() == [0.4, 0.0, 0.0, 0.0, 3.6]
    assert tracker.distance_in_bands_m("nobody").tolist() == [0.0] * 5


def test_streaming_is_causal_and_idempotent() -> None:
    t, speed, accel = synthetic(4, frames=600, players=2)
    ids = ["a", "b"]
    a, b = EffortTracker(), EffortTracker()
    done_a: list[Effort] = []
    done_b: list[Effort] = []
    for f in range(t.size):
        done_a += a.update(t[f], ids, speed[f], accel[f])
        # b sees every frame twice and, after frame 400, different futures.
        future = speed[f] if f < 400 else speed[f] * 0.1
        done_b += b.update(t[f], ids, future, accel[f])
        assert b.update(t[f], ids, future, accel[f]) == []
        if f < 400:
            assert [key(e) for e in done_a] == [key(e) for e in done_b]


def test_flush_keeps_only_long_enough_efforts() -> None:
    tracker = EffortTracker()
    for f in range(30):
        tracker.update(f * DT, ["p", "q"], np.array([7.5, 7.5 if f < 20 else 1.0]), np.zeros(2))
    done = tracker.flush()
    assert {(e.player_id, e.kind) for e in done} == {("p", "high_speed"), ("p", "sprint")}
    assert tracker.flush() == []


def test_restarted_clock_ends_efforts() -> None:
    tracker = EffortTracker()
    for f in range(40):
        assert tracker.update(10.0 + f * DT, ["p"], np.array([7.5]), np.zeros(1)) == []
    # Period two: the clock starts again at 0.
    done = tracker.update(0.0, ["p"], np.array([7.5]), np.zeros(1))
    assert [(e.kind, e.start_s, e.end_s) for e in done] == [
        ("high_speed", 10.0, pytest.approx(10.0 + 39 * DT)),
        ("sprint", 10.0, pytest.approx(10.0 + 39 * DT)),
    ]
    assert tracker.update(9.5, ["p"], np.array([1.0]), np.zeros(1)) == []  # well after 0
    assert tracker.time_in_bands_s("p")[4] == pytest.approx(39 * DT)  # nothing across 9.5 s


def test_rows_of_many_games_in_one_step_equal_one_tracker_per_game() -> None:
    """Two games on their own clocks share one tracker through rows; each game's efforts and
    band totals are what its own tracker reports."""
    games = {"a": (synthetic(5), 0.0), "b": (synthetic(6), 5000.0)}
    shared = EffortTracker()
    alone = {g: EffortTracker() for g in games}
    rows = {
        g: shared.add_rows([f"p{i}" for i in range(s.shape[1])])
        for g, ((_, s, _), _) in games.items()
    }
    got: dict[str, list[Effort]] = {g: [] for g in games}
    want: dict[str, list[Effort]] = {g: [] for g in games}
    game_of_row = {int(r): g for g, rs in rows.items() for r in rs}
    n = games["a"][0][0].size
    for f in range(n):
        for g, ((t, speed, accel), start) in games.items():
            want[g] += alone[g].update(
                start + t[f], [f"p{i}" for i in range(speed.shape[1])], speed[f], accel[f]
            )
        all_rows = np.concatenate([rows[g] for g in games])
        times = np.concatenate(
            [np.full(rows[g].size, start + t[f]) for g, ((t, _, _), start) in games.items()]
        )
        speeds = np.concatenate([s[f] for (_, s, _), _ in games.values()])
        accels = np.concatenate([a[f] for (_, _, a), _ in games.values()])
        for row, effort in shared.update_rows(times, all_rows, speeds, accels):
            got[game_of_row[row]].append(effort)
    for g in games:
        got[g] += [effort for _, effort in shared.flush_rows(rows[g])]
        want[g] += alone[g].flush()
        assert len(want[g]) > 10
        assert sorted(map(key, got[g])) == sorted(map(key, want[g]))
        np.testing.assert_allclose(
            shared.row_distances_in_bands_m(rows[g]),
            alone[g].distances_in_bands_m([f"p{i}" for i in range(rows[g].size)]),
        )
