"""Heatmaps: cells by hand, time ranges, off-field positions, the tracker equal to arrays."""

from __future__ import annotations

import numpy as np
import pytest

from arenaflow.analytics.heatmap import (
    DEFAULT_BINS,
    HeatmapTracker,
    cell_centres_m,
    cell_index,
    occupancy_s,
)
from arenaflow.sports.fields import BASKETBALL, FOOTBALL


def test_cells_by_hand() -> None:
    xy = np.array([[-52.5, -34.0], [0.1, 0.1], [52.5, 34.0], [80.0, -50.0], [np.nan, 0.0]])
    # 4 x 2 cells of 26.25 x 34 m.
    assert cell_index(xy, FOOTBALL, (4, 2)).tolist() == [0, 5, 7, 6, -1]
    x, y = cell_centres_m(FOOTBALL, (4, 2))
    assert x.tolist() == [-39.375, -13.125, 13.125, 39.375] and y.tolist() == [-17.0, 17.0]


def test_occupancy_by_hand() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0, 10.0, 11.0])
    xy = np.array(
        [[-40.0, -20.0], [-40.0, -20.0], [40.0, 20.0], [40.0, 20.0], [0.0, 0.0], [0.0, 0.0]]
    )
    grid = occupancy_s(t, xy, FOOTBALL, bins=(2, 2))
    # [0,2] bottom-left; [2,3] top-right; [3,10] a 7 s gap; [10,11] top-right (x=0, y=0).
    assert grid.tolist() == [[2.0, 0.0], [0.0, 2.0]]
    assert occupancy_s(t, xy, FOOTBALL, (2, 2), t_start_s=1.5, t_end_s=2.5).tolist() == [
        [0.5, 0.0],
        [0.0, 0.5],
    ]
    assert occupancy_s(t, xy, FOOTBALL, (2, 2), max_gap_s=10.0).sum() == pytest.approx(11.0)


def test_nan_is_a_missing_sample() -> None:
    t = np.arange(4.0)
    xy = np.array([[-40.0, 0.0], [np.nan, np.nan], [-40.0, 0.0], [-40.0, 0.0]])
    # The position at 0 s holds until 2 s (within the 2 s gap limit).
    assert occupancy_s(t, xy, FOOTBALL, (2, 1), max_gap_s=2.0).tolist() == [[3.0], [0.0]]
    assert occupancy_s(t, xy, FOOTBALL, (2, 1), max_gap_s=1.0).tolist() == [[1.0], [0.0]]


def test_tracker_equals_arrays_over_any_range() -> None:
    rng = np.random.default_rng(2)
    frames, players = 2000, 4
    t = np.arange(frames) * 0.04
    xy = np.cumsum(rng.normal(scale=0.5, size=(frames, players, 2)), axis=0)
    xy[300:320, 1] = np.nan  # 0.8 s missing (bridged)
    xy[900:1000, 2] = np.nan  # 4 s missing (not bridged)
    ids = ["a", "b", "c", "d"]
    tracker = HeatmapTracker(FOOTBALL, bins=(12, 8))
    for f in range(frames):
        present = np.isfinite(xy[f]).all(axis=1)
        if f % 2:  # odd frames list the missing players with NaN, even frames leave them out
            tracker.update(t[f], ids, xy[f])
        else:
            tracker.update(
                t[f], [i for i, p in zip(ids, present, strict=True) if p], xy[f][present]
            )
    assert tracker.players == ids
    for p, pid in enumerate(ids):
        for lo, hi in [(None, None), (5.0, 20.0), (11.02, 11.5), (None, 3.0), (70.0, None)]:
            np.testing.assert_allclose(
                tracker.occupancy_s(pid, lo, hi),
                occupancy_s(t, xy[:, p], FOOTBALL, (12, 8), t_start_s=lo, t_end_s=hi),
                atol=1e-9,
            )
    assert tracker.occupancy_s("nobody").shape == (12, 8)


def test_tracker_ignores_old_frames_and_defaults() -> None:
    tracker = HeatmapTracker(BASKETBALL)
    tracker.update(0.0, ["p"], np.array([[0.0, 0.0]]))
    tracker.update(1.0, ["p"], np.array([[0.0, 0.0]]))
    tracker.update(0.5, ["p"], np.array([[10.0, 5.0]]))  # late: ignored
    grid = tracker.occupancy_s("p")
    assert grid.shape == DEFAULT_BINS and grid.sum() == pytest.approx(1.0)


def test_restarted_clock_ends_runs() -> None:
    tracker = HeatmapTracker(FOOTBALL, bins=(2, 1))
    for second in range(5):
        tracker.update(100.0 + second, ["p"], np.array([[-40.0, 0.0]]))
    tracker.update(0.0, ["p"], np.array([[40.0, 0.0]]))  # period two, clock from 0
    tracker.update(1.0, ["p"], np.array([[40.0, 0.0]]))
    assert tracker.occupancy_s("p").tolist() == [[4.0], [1.0]]
