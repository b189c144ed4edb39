"""Speed bands: edges, time and distance per band, gaps."""

from __future__ import annotations

import numpy as np
import pytest

from arenaflow.analytics.bands import (
    SPEED_BAND_EDGES_MPS,
    SPEED_BANDS,
    distance_in_bands_m,
    speed_band,
    time_in_bands_s,
)


def test_band_edges_are_lower_inclusive() -> None:
    speeds = np.array([0.0, 1.99, 2.0, 3.99, 4.0, 5.49, 5.5, 6.99, 7.0, 11.0, np.nan])
    assert speed_band(speeds).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, -1]
    assert SPEED_BANDS == ("walk", "jog", "run", "high_speed", "sprint")
    assert SPEED_BAND_EDGES_MPS == (2.0, 4.0, 5.5, 7.0)
    # 19.8 km/h and 25.2 km/h
    assert SPEED_BAND_EDGES_MPS[2] * 3.6 == pytest.approx(19.8)
    assert SPEED_BAND_EDGES_MPS[3] * 3.6 == pytest.approx(25.2)


def test_time_and_distance_by_hand() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0, 5.0, 5.5])
    v = np.array([1.0, 3.0, 6.0, 8.0, 5.0, 5.0])
    # [0,1] walk, [1,2] jog, [2,3] high speed, [3,5] is a 2 s gap: nowhere, [5,5.5] run.
    assert time_in_bands_s(t, v).tolist() == [1.0, 1.0, 0.5, 1.0, 0.0]
    assert distance_in_bands_m(t, v).tolist() == [1.0, 3.0, 2.5, 6.0, 0.0]
    # A longer allowed gap puts the 2 s at 8 m/s in the sprint band.
    assert time_in_bands_s(t, v, max_gap_s=2.0).tolist() == [1.0, 1.0, 0.5, 1.0, 2.0]


def test_distance_from_steps() -> None:
    t = np.array([0.0, 0.5, 1.0])
    v = np.array([1.0, 7.5, 7.5])
    steps = np.array([0.0, 0.6, 3.7])
    assert distance_in_bands_m(t, v, step_m=steps).tolist() == [0.6, 0.0, 0.0, 0.0, 3.7]


def test_nan_speed_counts_nowhere() -> None:
    t = np.arange(4.0)
    v = np.array([np.nan, 3.0, np.nan, 3.0])
    assert time_in_bands_s(t, v).tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]


def test_custom_edges() -> None:
    t = np.arange(3.0)
    assert time_in_bands_s(t, np.array([1.0, 5.0, 0.0]), edges_mps=(4.0,)).tolist() == [1.0, 1.0]
