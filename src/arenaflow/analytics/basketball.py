"""Basketball: what differs from football.

Court distance and speed need nothing new: positions are metres from the centre of the court
(:data:`arenaflow.sports.fields.BASKETBALL`, 28.65 x 15.24 m = 94 x 50 ft; SportVU feet convert
at the edge), so :mod:`arenaflow.analytics.kinematics` applies as it is (25 Hz, the same
causal filter and 12 m/s cap). :func:`court_kinematics` only fixes the court's defaults.

What is basketball's own is the shot context:

- the hoop: its centre 5.25 ft (1.6 m) in from the middle of each baseline (NBA Official
  Rules, Rule 1 - Court Dimensions),
- the closest defender's distance to the shooter at the release, and the NBA's tracking
  categories of it (stats.nba.com shot dashboard, "closest defender distance"): very tight
  0-2 ft, tight 2-4 ft, open 4-6 ft, wide open 6+ ft; a shot is *contested* when the closest
  defender is within 4 ft = 1.22 m (very tight or tight).

Example:
    >>> import numpy as np
    >>> shooter = np.array([10.0, 2.0])
    >>> defenders = np.array([[10.9, 2.4], [5.0, -3.0], [np.nan, np.nan]])
    >>> d = closest_defender_m(shooter, defenders)
    >>> round(float(d), 3), bool(contested(d)), int(defender_category(d))
    (0.985, True, 1)
    >>> round(float(shot_distance_m(shooter, attacking_right=True)), 2)
    3.38
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from arenaflow.analytics.kinematics import Kinematics, kinematics
from arenaflow.sports.fields import BASKETBALL, FEET_TO_M, Field

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Distance of the hoop's centre from the baseline (5.25 ft).
HOOP_FROM_BASELINE_M = 5.25 * FEET_TO_M
#: A shot is contested when the closest defender is within 4 ft.
CONTEST_DISTANCE_M = 4.0 * FEET_TO_M
#: Upper edges (m) of the NBA categories very tight, tight, open (wide open beyond).
DEFENDER_CATEGORY_EDGES_M = (2.0 * FEET_TO_M, 4.0 * FEET_TO_M, 6.0 * FEET_TO_M)
#: Names of the categories, by index.
DEFENDER_CATEGORIES = ("very_tight", "tight", "open", "wide_open")
#: Frame rate of SportVU-style optical tracking.
COURT_FPS = 25.0


def hoop_xy_m(attacking_right: bool, court: Field = BASKETBALL) -> FloatArray:
    """Centre of the hoop a team attacks: at +x when ``attacking_right``, else at -x."""
    x = court.half_length_m - HOOP_FROM_BASELINE_M
    return np.array([x if attacking_right else -x, 0.0])


def shot_distance_m(
    shooter_xy_m: ArrayLike, attacking_right: bool, court: Field = BASKETBALL
) -> FloatArray:
    """Distance (m) from the shooter ``(..., 2)`` to the hoop they attack."""
    d = np.asarray(shooter_xy_m, dtype=np.float64) - hoop_xy_m(attacking_right, court)
    return np.asarray(np.hypot(d[..., 0], d[..., 1]), dtype=np.float64)


def closest_defender_m(shooter_xy_m: ArrayLike, defenders_xy_m: ArrayLike) -> FloatArray:
    """Distance (m) from the shooter ``(..., 2)`` to the closest defender ``(..., n, 2)``.

    Missing defenders (NaN) are ignored; NaN when none is present.
    """
    shooter = np.asarray(shooter_xy_m, dtype=np.float64)[..., None, :]
    d = np.asarray(defenders_xy_m, dtype=np.float64) - shooter
    dist = np.hypot(d[..., 0], d[..., 1])
    nearest = np.where(np.isnan(dist), np.inf, dist).min(axis=-1)
    return np.asarray(np.where(np.isinf(nearest), np.nan, nearest), dtype=np.float64)


def contested(closest_defender_distance_m: ArrayLike) -> NDArray[np.bool_]:
    """True where the closest defender is within 4 ft (1.22 m) of the shooter."""
    d = np.asarray(closest_defender_distance_m, dtype=np.float64)
    return np.asarray(d <= CONTEST_DISTANCE_M)


def defender_category(closest_defender_distance_m: ArrayLike) -> IntArray:
    """Index into :data:`DEFENDER_CATEGORIES` (0 very tight ... 3 wide open); -1 for NaN."""
    d = np.asarray(closest_defender_distance_m, dtype=np.float64)
    cat = np.asarray(np.searchsorted(DEFENDER_CATEGORY_EDGES_M, d, side="left"), dtype=np.intp)
    return np.asarray(np.where(np.isnan(d), -1, cat), dtype=np.intp)


def court_kinematics(xy_m: FloatArray, fps: float = COURT_FPS) -> Kinematics:
    """Causal speed, acceleration and distance on the court (positions in metres, 25 Hz)."""
    return kinematics(xy_m, fps)
