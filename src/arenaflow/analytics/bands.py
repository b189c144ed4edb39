"""Speed bands and the time and distance spent in each.

Bands (m/s, lower edge inclusive): walk < 2, jog 2-4, run 4-5.5, high-speed 5.5-7, sprint >= 7.
These are the Prozone categories used by Bradley et al. (2009, "High-intensity running in
English FA Premier League soccer matches", J Sports Sci 27(2):159-168): walking < 7.2 km/h,
jogging 7.2-14.4, running 14.4-19.8, high-speed running 19.8-25.1, sprinting > 25.1 km/h
(their "standing" merged into walk, and sprint from 25.2 km/h = 7.0 m/s, DESIGN.md).

Time in a band is counted sample-and-hold: the interval from one sample to the next belongs to
the band of the first, when the next comes within ``max_gap_s`` (a longer gap counts nowhere).
Distance in a band is the speed times that interval, or the kinematic steps when given.

Example:
    >>> import numpy as np
    >>> speed_band(np.array([0.5, 2.0, 5.5, 7.2, np.nan])).tolist()
    [0, 1, 3, 4, -1]
    >>> t = np.arange(6) * 0.5
    >>> time_in_bands_s(t, np.array([1.0, 1.0, 3.0, 8.0, 8.0, 1.0])).tolist()
    [1.0, 0.5, 0.0, 0.0, 1.0]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Band names, slowest first.
SPEED_BANDS: tuple[str, ...] = ("walk", "jog", "run", "high_speed", "sprint")
#: Lower edges (m/s) of every band but the first (DESIGN.md).
SPEED_BAND_EDGES_MPS: tuple[float, ...] = (2.0, 4.0, 5.5, 7.0)


def speed_band(
    speed_mps: FloatArray, edges_mps: tuple[float, ...] = SPEED_BAND_EDGES_MPS
) -> IntArray:
    """Band index of each speed (0 = walk ... 4 = sprint), -1 where the speed is NaN."""
    speed = np.asarray(speed_mps, dtype=np.float64)
    band = np.searchsorted(np.asarray(edges_mps), speed, side="right").astype(np.intp)
    band[np.isnan(speed)] = -1
    return band


def time_in_bands_s(
    t_s: FloatArray,
    speed_mps: FloatArray,
    edges_mps: tuple[float, ...] = SPEED_BAND_EDGES_MPS,
    max_gap_s: float = 1.0,
) -> FloatArray:
    """Seconds spent in each band by one player, shape ``(len(edges_mps) + 1,)``.

    Args:
        t_s: ``(T,)`` sample times, increasing.
        speed_mps: ``(T,)`` speeds (NaN where unknown: that interval counts nowhere).
        edges_mps: Band edges.
        max_gap_s: Longest interval a sample holds for.
    """
    band, dt = _held(t_s, speed_mps, edges_mps, max_gap_s)
    return np.bincount(band, weights=dt, minlength=len(edges_mps) + 1).astype(np.float64)


def distance_in_bands_m(
    t_s: FloatArray,
    speed_mps: FloatArray,
    step_m: FloatArray | None = None,
    edges_mps: tuple[float, ...] = SPEED_BAND_EDGES_MPS,
    max_gap_s: float = 1.0,
) -> FloatArray:
    """Metres covered in each band by one player, shape ``(len(edges_mps) + 1,)``.

    Args:
        t_s: ``(T,)`` sample times, increasing.
        speed_mps: ``(T,)`` speeds.
        step_m: ``(T,)`` distance covered since the previous sample (e.g.
            :attr:`arenaflow.analytics.kinematics.Kinematics.step_m`); without it, speed times
            the interval.
        edges_mps: Band edges.
        max_gap_s: Longest interval a sample holds for.
    """
    t = np.asarray(t_s, dtype=np.float64)
    speed = np.asarray(speed_mps, dtype=np.float64)
    band, dt = _held(t, speed, edges_mps, max_gap_s)
    if step_m is None:
        dist = np.where(dt > 0, np.nan_to_num(speed[:-1]) * dt, 0.0)
    else:
        dist = np.where(dt > 0, np.asarray(step_m, dtype=np.float64)[1:], 0.0)
    return np.bincount(band, weights=dist, minlength=len(edges_mps) + 1).astype(np.float64)


def _held(
    t_s: FloatArray, speed_mps: FloatArray, edges_mps: tuple[float, ...], max_gap_s: float
) -> tuple[IntArray, FloatArray]:
    """Band of each interval's first sample (0 where it counts nowhere) and its duration
    (0 where it counts nowhere)."""
    t = np.asarray(t_s, dtype=np.float64)
    band = speed_band(np.asarray(speed_mps, dtype=np.float64)[:-1], edges_mps)
    dt = np.diff(t)
    counted = (band >= 0) & (dt <= max_gap_s + 1e-9)
    return np.where(counted, band, 0), np.where(counted, dt, 0.0)
