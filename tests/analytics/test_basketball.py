"""Basketball: hoop, shot distance, closest defender, contested shots, court kinematics."""

from __future__ import annotations

import numpy as np
import pytest

from arenaflow.analytics.basketball import (
    CONTEST_DISTANCE_M,
    DEFENDER_CATEGORIES,
    closest_defender_m,
    contested,
    court_kinematics,
    defender_category,
    hoop_xy_m,
    shot_distance_m,
)
from arenaflow.sports.fields import BASKETBALL


def test_hoop_and_shot_distance() -> None:
    x = 94 * 0.3048 / 2 - 5.25 * 0.3048
    assert hoop_xy_m(True).tolist() == pytest.approx([x, 0.0])
    assert hoop_xy_m(False).tolist() == pytest.approx([-x, 0.0])
    # A corner three: 22 ft from the hoop's centre along y.
    corner = np.array([x, 22 * 0.3048])
    assert float(shot_distance_m(corner, attacking_right=True)) == pytest.approx(22 * 0.3048)
    assert BASKETBALL.length_m == pytest.approx(28.65, abs=0.01)


def test_closest_defender_and_contest() -> None:
    shooter = np.array([[5.0, 0.0], [5.0, 0.0], [5.0, 0.0]])
    defenders = np.array(
        [
            [[5.0, 1.0], [9.0, 0.0]],  # 1.0 m: tight, contested
            [[5.0, 1.5], [np.nan, np.nan]],  # 1.5 m: open
            [[np.nan, np.nan], [np.nan, np.nan]],  # nobody
        ]
    )
    d = closest_defender_m(shooter, defenders)
    np.testing.assert_allclose(d, [1.0, 1.5, np.nan])
    assert contested(d).tolist() == [True, False, False]
    assert defender_category(d).tolist() == [1, 2, -1]
    assert abs(CONTEST_DISTANCE_M - 1.2192) < 1e-12
    assert bool(contested(CONTEST_DISTANCE_M))  # within 4 ft, inclusive
    assert defender_category(np.array([0.3, 2.0])).tolist() == [0, 3]
    assert DEFENDER_CATEGORIES[1] == "tight"


def test_court_kinematics() -> None:
    t = np.arange(50) / 25.0
    xy = np.stack([-10.0 + 4.0 * t, np.zeros_like(t)], axis=1)  # a 4 m/s drive
    k = court_kinematics(xy)
    assert k.speed_mps[-1, 0] == pytest.approx(4.0)
    assert k.distance_m[-1, 0] == pytest.approx(4.0 * 46 / 25.0)
