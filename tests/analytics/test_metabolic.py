"""Metabolic power: the equivalent-slope model by hand."""

from __future__ import annotations

import numpy as np
import pytest

from arenaflow.analytics.metabolic import (
    ES_MIN,
    G_MPS2,
    KT_GRASS,
    energy_cost_jkgm,
    equivalent_mass,
    equivalent_slope,
    metabolic_energy_jkg,
    metabolic_power_wkg,
)


def cost_by_hand(es: float) -> float:
    return 155.4 * es**5 - 30.4 * es**4 - 43.3 * es**3 + 46.3 * es**2 + 19.5 * es + 3.6


def test_constant_speed() -> None:
    assert float(energy_cost_jkgm(0.0)) == pytest.approx(3.6 * 1.29)
    assert float(metabolic_power_wkg(5.0, 0.0)) == pytest.approx(3.6 * 1.29 * 5.0)
    assert float(metabolic_power_wkg(5.0, 0.0, terrain_factor=1.0)) == pytest.approx(18.0)


def test_accelerating_by_hand() -> None:
    a = 3.0
    es = a / G_MPS2
    assert float(equivalent_slope(a)) == pytest.approx(es)
    assert float(equivalent_mass(es)) == pytest.approx(np.sqrt(es**2 + 1))
    expected = cost_by_hand(es) * np.sqrt(es**2 + 1) * KT_GRASS * 6.0
    assert float(metabolic_power_wkg(6.0, a)) == pytest.approx(expected)
    # ES = a/g is tan(90° - arctan(g/a)), di Prampero et al. (2005).
    assert es == pytest.approx(np.tan(np.pi / 2 - np.arctan(G_MPS2 / a)))


def test_deceleration_is_cheaper_and_clipped() -> None:
    assert float(energy_cost_jkgm(-2.0)) < float(energy_cost_jkgm(0.0))
    hard = float(energy_cost_jkgm(-8.0))  # ES = -0.82, beyond the measured range
    at_edge = cost_by_hand(ES_MIN) * np.sqrt(ES_MIN**2 + 1) * KT_GRASS
    assert hard == pytest.approx(at_edge) and hard > 0


def test_arrays_and_nan() -> None:
    speed = np.array([[1.0, 2.0], [np.nan, 4.0]])
    accel = np.array([[0.0, 1.0], [0.0, np.nan]])
    p = metabolic_power_wkg(speed, accel)
    assert p.shape == (2, 2) and np.isnan(p[1]).all() and np.isfinite(p[0]).all()


def test_energy_integral() -> None:
    t = np.array([0.0, 1.0, 2.0, 10.0, 11.0])
    p = np.array([10.0, 20.0, 5.0, np.nan, 1.0])
    # 10 + 20 (1 s each); 8 s gap: nothing; NaN: nothing.
    assert metabolic_energy_jkg(t, p) == pytest.approx(30.0)
