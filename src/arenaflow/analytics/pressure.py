"""Defensive pressure on the ball carrier (Andrienko et al. 2017).

After Andrienko G, Andrienko N, Budziak G, Dykes J, Fuchs G, von Landesberger T, Weber H
(2017), "Visual analysis of pressure in football", Data Min Knowl Disc 31(6):1793-1839:

- each opponent (a *presser*) puts pressure on the carrier (the *target*) when inside an
  oval pressure zone around the target, reaching ``D_front = 9 m`` towards the threat (the
  centre of the goal the carrier attacks) and ``D_back = 3 m`` behind,
- with ``θ`` the angle between the threat direction and the direction to the presser and
  ``z = (1 + cos θ) / 2``, the zone's radius in that direction is
  ``L = D_back + (D_front - D_back) · (z³ + 0.3 z) / 1.3``,
- a presser at distance ``d`` exerts ``(1 - d / L)^q`` with ``q = 1.75`` when ``d < L``, else 0
  (the paper's 100 % is 1.0 here: a presser on the carrier's spot),
- the pressure on the carrier is the sum over pressers, so it can exceed 1 when several press.

Example:
    >>> import numpy as np
    >>> carrier, goal = np.array([30.0, 0.0]), np.array([52.5, 0.0])
    >>> pressers = np.array([[34.5, 0.0], [28.5, 0.0], [45.0, 0.0]])   # 4.5 m ahead, 1.5 m behind
    >>> presser_pressure(carrier, pressers, goal).round(3).tolist()
    [0.297, 0.297, 0.0]
    >>> round(float(pressure_on_carrier(carrier, pressers, goal)), 3)
    0.595
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

#: Reach of the pressure zone towards the threat (m).
D_FRONT_M = 9.0
#: Reach of the pressure zone behind the target (m).
D_BACK_M = 3.0
#: Exponent of the decay of pressure with distance.
Q = 1.75


def zone_radius_m(
    cos_theta: ArrayLike, d_front_m: float = D_FRONT_M, d_back_m: float = D_BACK_M
) -> FloatArray:
    """Radius ``L`` of the pressure zone in the direction at angle ``θ`` from the threat."""
    z = (1.0 + np.asarray(cos_theta, dtype=np.float64)) / 2.0
    return np.asarray(d_back_m + (d_front_m - d_back_m) * (z**3 + 0.3 * z) / 1.3)


def presser_pressure(
    target_xy_m: ArrayLike,
    pressers_xy_m: ArrayLike,
    goal_xy_m: ArrayLike,
    d_front_m: float = D_FRONT_M,
    d_back_m: float = D_BACK_M,
    q: float = Q,
) -> FloatArray:
    """Pressure of each presser on the target, in [0, 1].

    Args:
        target_xy_m: ``(..., 2)`` the ball carrier.
        pressers_xy_m: ``(..., n, 2)`` the opponents (NaN rows exert nothing).
        goal_xy_m: ``(2,)`` or ``(..., 2)`` the centre of the goal the carrier attacks.
        d_front_m, d_back_m, q: The zone and decay parameters.

    Returns:
        ``(..., n)`` pressures.
    """
    target = np.asarray(target_xy_m, dtype=np.float64)[..., None, :]
    pressers = np.asarray(pressers_xy_m, dtype=np.float64)
    threat = np.asarray(goal_xy_m, dtype=np.float64)[..., None, :] - target
    to_presser = pressers - target
    d = np.hypot(to_presser[..., 0], to_presser[..., 1])
    norm = np.hypot(threat[..., 0], threat[..., 1]) * d
    dot = (threat * to_presser).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # On the carrier's spot (or a carrier on the goal line centre) the angle is moot.
        cos_theta = np.where(norm > 0, dot / norm, 1.0)
        reach = zone_radius_m(cos_theta, d_front_m, d_back_m)
        closeness = np.clip(1.0 - d / reach, 0.0, None)
    return np.asarray(np.nan_to_num(closeness**q), dtype=np.float64)


def pressure_on_carrier(
    target_xy_m: ArrayLike,
    pressers_xy_m: ArrayLike,
    goal_xy_m: ArrayLike,
    d_front_m: float = D_FRONT_M,
    d_back_m: float = D_BACK_M,
    q: float = Q,
) -> FloatArray:
    """Total pressure on the carrier ``(...)``: the sum of :func:`presser_pressure`."""
    per = presser_pressure(target_xy_m, pressers_xy_m, goal_xy_m, d_front_m, d_back_m, q)
    return np.asarray(per.sum(axis=-1), dtype=np.float64)
