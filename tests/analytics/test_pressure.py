"""Pressure on the ball carrier (Andrienko et al. 2017) by hand."""

from __future__ import annotations

import numpy as np
import pytest

from arenaflow.analytics.pressure import presser_pressure, pressure_on_carrier, zone_radius_m

GOAL = np.array([52.5, 0.0])
CARRIER = np.array([20.0, 0.0])


def test_zone_radius() -> None:
    assert float(zone_radius_m(1.0)) == pytest.approx(9.0)  # in front
    assert float(zone_radius_m(-1.0)) == pytest.approx(3.0)  # behind
    # Sideways: z = 0.5, L = 3 + 6 * (0.125 + 0.15) / 1.3
    assert float(zone_radius_m(0.0)) == pytest.approx(3 + 6 * 0.275 / 1.3)


def test_pressers_by_hand() -> None:
    side = 3 + 6 * 0.275 / 1.3
    pressers = np.array(
        [
            [20.0, 0.0],  # on the carrier: full pressure
            [23.0, 0.0],  # 3 m in front: (1 - 3/9)^1.75
            [19.0, 0.0],  # 1 m behind: (1 - 1/3)^1.75
            [20.0, 2.0],  # 2 m to the side
            [17.0, 0.0],  # 3 m behind: outside
            [np.nan, np.nan],  # missing
        ]
    )
    got = presser_pressure(CARRIER, pressers, GOAL)
    expected = [1.0, (2 / 3) ** 1.75, (2 / 3) ** 1.75, (1 - 2 / side) ** 1.75, 0.0, 0.0]
    np.testing.assert_allclose(got, expected)
    assert float(pressure_on_carrier(CARRIER, pressers, GOAL)) == pytest.approx(sum(expected))


def test_threat_direction_follows_the_goal() -> None:
    presser = np.array([[23.0, 0.0]])
    towards = float(pressure_on_carrier(CARRIER, presser, GOAL))
    away = float(pressure_on_carrier(CARRIER, presser, -GOAL))  # attacking the other way
    assert towards == pytest.approx((2 / 3) ** 1.75) and away == 0.0


def test_many_frames() -> None:
    carriers = np.array([[20.0, 0.0], [0.0, 0.0]])
    pressers = np.array([[[23.0, 0.0]], [[30.0, 0.0]]])
    np.testing.assert_allclose(
        pressure_on_carrier(carriers, pressers, GOAL), [(2 / 3) ** 1.75, 0.0]
    )
