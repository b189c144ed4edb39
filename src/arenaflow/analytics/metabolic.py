"""Metabolic power of accelerated running (W/kg), the equivalent-slope model.

After di Prampero PE, Osgnach C (2018), "Metabolic power in team sports - Part 1: an update",
Int J Sports Med 39(8):581-587 (doi:10.1055/a-0592-7660), the running part of their model,
which they carry over from di Prampero et al. (2005, J Exp Biol 208:2809-2816) and
Osgnach et al. (2010, "Energy cost and metabolic power in elite soccer: a new match analysis
approach", Med Sci Sports Exerc 42(1):170-178):

- running with forward acceleration ``a`` on flat ground costs what running at constant speed
  up the *equivalent slope* ``ES = a / g`` costs (``ES = tan(90° - arctan(g / a))``),
- with the body weighing more by the *equivalent mass* ``EM = sqrt(ES² + 1)``,
- the energy cost of running on a slope ``i`` (J kg⁻¹ m⁻¹) is Minetti et al.'s (2002, J Appl
  Physiol 93(3):1039-1046) polynomial
  ``C(i) = 155.4 i⁵ - 30.4 i⁴ - 43.3 i³ + 46.3 i² + 19.5 i + 3.6``,
- so ``EC = C(ES) · EM · KT`` with the terrain factor ``KT = 1.29`` for grass (Osgnach et al.
  2010), and the metabolic power ``P = EC · v`` (W/kg).

Not implemented: the 2018 update's separate walking cost (below the walk-run transition speed)
and its air-resistance term; every speed is costed as running. The polynomial was measured
for slopes of -0.45 to +0.45; below -0.45 it turns negative, so ES is clipped there (steeper
decelerations cost what -0.45 costs). Above +0.45 it is extrapolated, as di Prampero et al.
(2005) do for sprint starts.

Example:
    >>> round(float(energy_cost_jkgm(0.0)), 3)      # constant speed on grass: 3.6 x 1.29
    4.644
    >>> round(float(metabolic_power_wkg(4.0, 0.0)), 2)
    18.58
    >>> round(float(metabolic_power_wkg(4.0, 2.0)), 1)  # the same speed, accelerating
    48.1
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

#: Standard gravity (m/s²).
G_MPS2 = 9.80665
#: Terrain factor of grass relative to a treadmill (Osgnach et al. 2010).
KT_GRASS = 1.29
#: Lowest slope of the measured cost polynomial (Minetti et al. 2002).
ES_MIN = -0.45
# Coefficients of C(i), highest power first.
_COST_POLY = (155.4, -30.4, -43.3, 46.3, 19.5, 3.6)


def equivalent_slope(accel_mps2: ArrayLike) -> FloatArray:
    """``ES = a / g`` (dimensionless)."""
    return np.asarray(accel_mps2, dtype=np.float64) / G_MPS2


def equivalent_mass(es: ArrayLike) -> FloatArray:
    """``EM = sqrt(ES² + 1)``: body weight relative to running at constant speed."""
    s = np.asarray(es, dtype=np.float64)
    return np.asarray(np.sqrt(s * s + 1.0), dtype=np.float64)


def energy_cost_jkgm(accel_mps2: ArrayLike, terrain_factor: float = KT_GRASS) -> FloatArray:
    """Energy cost of running (J kg⁻¹ m⁻¹) at forward acceleration ``accel_mps2``."""
    es = np.maximum(equivalent_slope(accel_mps2), ES_MIN)
    cost = np.polyval(_COST_POLY, es)
    return np.asarray(cost * equivalent_mass(es) * terrain_factor, dtype=np.float64)


def metabolic_power_wkg(
    speed_mps: ArrayLike, accel_mps2: ArrayLike, terrain_factor: float = KT_GRASS
) -> FloatArray:
    """Metabolic power ``P = EC · v`` (W/kg); NaN where speed or acceleration is NaN.

    Args:
        speed_mps: Speed, any shape.
        accel_mps2: Forward acceleration (rate of change of speed), broadcastable to it.
        terrain_factor: ``KT``; 1.29 for grass, 1.0 for a firm surface.
    """
    speed = np.asarray(speed_mps, dtype=np.float64)
    return np.asarray(energy_cost_jkgm(accel_mps2, terrain_factor) * speed, dtype=np.float64)


def metabolic_energy_jkg(t_s: FloatArray, power_wkg: FloatArray, max_gap_s: float = 1.0) -> float:
    """Energy spent (J/kg) by one player: power held from each sample to the next.

    Intervals longer than ``max_gap_s`` and NaN powers count nothing.
    """
    t = np.asarray(t_s, dtype=np.float64)
    p = np.asarray(power_wkg, dtype=np.float64)[:-1]
    dt = np.diff(t)
    ok = np.isfinite(p) & (dt <= max_gap_s + 1e-9)
    return float(np.sum(p[ok] * dt[ok]))
