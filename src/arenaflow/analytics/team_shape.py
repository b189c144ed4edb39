"""Team shape: centroid, stretch index, length and width.

- Centroid: the mean position of the team's players (Frencken W, Lemmink K, Delleman N,
  Visscher C, 2011, "Oscillations of centroid position and surface area of soccer teams in
  small-sided games", Eur J Sport Sci 11(4):215-223).
- Stretch index: the mean distance of the players to their centroid (Bourbousson J, Sève C,
  McGarry T, 2010, "Space-time coordination dynamics in basketball: Part 2. The interaction
  between the two teams", J Sports Sci 28(3):349-358).
- Length and width: the team's extent along the field (x) and across it (y), from its
  rearmost to its foremost and widest players (Folgado H, Lemmink K, Frencken W, Sampaio J,
  2014, "Length, width and centroid distance as measures of teams tactical performance in
  youth football", Eur J Sport Sci 14(sup1):S487-S492).

Which players count is the caller's choice (commonly the outfield players: pass them without
the goalkeeper). Every function works on one frame ``(n, 2)`` or many ``(T, n, 2)``; NaN
positions (missing players) are left out, and a frame without any player gives NaN.

Example:
    >>> import numpy as np
    >>> xy = np.array([[-10.0, 0.0], [10.0, 0.0], [0.0, 5.0], [np.nan, np.nan]])
    >>> shape = team_shape(xy)
    >>> shape.centroid_m.round(3).tolist(), round(float(shape.stretch_index_m), 3)
    ([0.0, 1.667], 7.87)
    >>> float(shape.length_m), float(shape.width_m)
    (20.0, 5.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TeamShape:
    """Shape of one team in one frame (scalars as 0-d arrays) or in ``T`` frames.

    Attributes:
        centroid_m: ``(..., 2)`` mean position.
        stretch_index_m: ``(...)`` mean distance to the centroid.
        length_m: ``(...)`` extent along x.
        width_m: ``(...)`` extent across, along y.
        players: ``(...)`` players counted.
    """

    centroid_m: FloatArray
    stretch_index_m: FloatArray
    length_m: FloatArray
    width_m: FloatArray
    players: NDArray[np.intp]


def centroid_m(xy_m: FloatArray) -> FloatArray:
    """Mean position of the players present: ``(..., n, 2)`` -> ``(..., 2)``."""
    xy = np.asarray(xy_m, dtype=np.float64)
    present = np.asarray(np.isfinite(xy).all(axis=-1))
    count = present.sum(axis=-1)
    total = np.where(present[..., None], xy, 0.0).sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / count[..., None], dtype=np.float64)


def stretch_index_m(xy_m: FloatArray) -> FloatArray:
    """Mean distance of the players present to their centroid: ``(..., n, 2)`` -> ``(...)``."""
    return team_shape(xy_m).stretch_index_m


def team_shape(xy_m: FloatArray) -> TeamShape:
    """Centroid, stretch index, length and width of ``(..., n, 2)`` positions."""
    xy = np.asarray(xy_m, dtype=np.float64)
    if xy.ndim < 2 or xy.shape[-1] != 2:
        raise ValueError(f"xy_m must have shape (..., n, 2), got {xy.shape}")
    present = np.asarray(np.isfinite(xy).all(axis=-1))
    count = present.sum(axis=-1)
    centre = centroid_m(xy)
    dist = np.hypot(xy[..., 0] - centre[..., None, 0], xy[..., 1] - centre[..., None, 1])
    x = np.where(present, xy[..., 0], np.nan)
    y = np.where(present, xy[..., 1], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        stretch = np.where(present, dist, 0.0).sum(axis=-1) / count
        length = _extent(x, present)
        width = _extent(y, present)
    return TeamShape(centre, np.asarray(stretch), length, width, count.astype(np.intp))


def _extent(v: FloatArray, present: NDArray[np.bool_]) -> FloatArray:
    """max - min over the last axis of the present values; NaN where none is."""
    hi = np.where(present, v, -np.inf).max(axis=-1)
    lo = np.where(present, v, np.inf).min(axis=-1)
    return np.asarray(np.where(present.any(axis=-1), hi - lo, np.nan), dtype=np.float64)
