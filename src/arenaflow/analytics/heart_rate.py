"""Heart-rate zones and training load (Edwards TRIMP).

- Maximal heart rate, when the athlete's own is not configured: ``HRmax = 208 - 0.7 · age``
  (Tanaka H, Monahan KD, Seals DR, 2001, "Age-predicted maximal heart rate revisited",
  J Am Coll Cardiol 37(1):153-156).
- Zones (Edwards S, 1993, *The Heart Rate Monitor Book*, Sacramento: Fleet Feet Press):
  zone 1 = 50-60 %, 2 = 60-70 %, 3 = 70-80 %, 4 = 80-90 %, 5 = 90-100 % of HRmax (lower edge
  inclusive; at or above 100 % counts as zone 5, below 50 % as zone 0, which weighs nothing).
- Edwards' TRIMP: the sum over zones of minutes in the zone times the zone number (1 ... 5).

Time is counted sample-and-hold: the interval from one reading to the next belongs to the zone
of the first, when the next comes within ``max_gap_s`` (a strap that drops out for longer
counts nothing for the gap).

Example:
    >>> hr_max_tanaka(30.0)
    187.0
    >>> hr_zone(np.array([80.0, 100.0, 160.0, 190.0]), hr_max_bpm=190.0).tolist()
    [0, 1, 4, 5]
    >>> t = np.arange(0.0, 601.0, 60.0)                  # a reading a minute for 10 minutes
    >>> round(edwards_trimp(t, np.full(t.shape, 160.0), hr_max_bpm=190.0, max_gap_s=60.0), 6)
    40.0
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Lower edges of zones 1-5 as fractions of HRmax (Edwards 1993).
EDWARDS_ZONE_EDGES = (0.5, 0.6, 0.7, 0.8, 0.9)
#: TRIMP weight of zones 0-5.
EDWARDS_WEIGHTS = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
_N_ZONES = len(EDWARDS_ZONE_EDGES) + 1
_WEIGHTS = EDWARDS_WEIGHTS.tolist()


def hr_max_tanaka(age_years: float) -> float:
    """Age-predicted maximal heart rate (bpm), ``208 - 0.7 · age`` (Tanaka et al. 2001)."""
    if not age_years > 0:
        raise ValueError(f"age must be positive, got {age_years}")
    return 208.0 - 0.7 * float(age_years)


def resolve_hr_max(hr_max_bpm: float | None = None, age_years: float | None = None) -> float:
    """The configured HRmax, else Tanaka's from the age; ``ValueError`` when neither is known."""
    if hr_max_bpm is not None:
        if not hr_max_bpm > 0:
            raise ValueError(f"hr_max_bpm must be positive, got {hr_max_bpm}")
        return float(hr_max_bpm)
    if age_years is None:
        raise ValueError("need the athlete's HRmax or age")
    return hr_max_tanaka(age_years)


def hr_zone(hr_bpm: ArrayLike, hr_max_bpm: float) -> IntArray:
    """Edwards zone (0-5) of each heart rate; -1 where the reading is NaN."""
    hr = np.asarray(hr_bpm, dtype=np.float64)
    zone = np.searchsorted(np.asarray(EDWARDS_ZONE_EDGES), hr / hr_max_bpm, side="right")
    zone = np.asarray(zone, dtype=np.intp)
    zone[np.isnan(hr)] = -1
    return zone


def time_in_zones_s(
    t_s: FloatArray, hr_bpm: FloatArray, hr_max_bpm: float, max_gap_s: float = 5.0
) -> FloatArray:
    """Seconds in zones 0-5, shape ``(6,)``, from readings at times ``t_s`` ``(T,)``."""
    t = np.asarray(t_s, dtype=np.float64)
    zone = hr_zone(np.asarray(hr_bpm, dtype=np.float64)[:-1], hr_max_bpm)
    dt = np.diff(t)
    ok = (zone >= 0) & (dt <= max_gap_s + 1e-9)
    return np.bincount(zone[ok], weights=dt[ok], minlength=_N_ZONES).astype(np.float64)


def edwards_trimp(
    t_s: FloatArray, hr_bpm: FloatArray, hr_max_bpm: float, max_gap_s: float = 5.0
) -> float:
    """Edwards' TRIMP: minutes in each zone times its number, summed."""
    return float(time_in_zones_s(t_s, hr_bpm, hr_max_bpm, max_gap_s) @ EDWARDS_WEIGHTS / 60.0)


@dataclass(frozen=True, slots=True)
class HeartRateStep:
    """One reading as :class:`HeartRateTracker` saw it.

    Attributes:
        t_s: Time of the reading.
        hr_bpm: The heart rate (NaN if the reading had none).
        fraction_of_max: ``hr_bpm / HRmax``.
        zone: Edwards zone 0-5 (-1 without a reading).
        trimp: Edwards TRIMP accumulated so far (up to this reading).
    """

    t_s: float
    hr_bpm: float
    fraction_of_max: float
    zone: int
    trimp: float


class HeartRateTracker:
    """Streaming zone, time in zones and Edwards TRIMP of one athlete.

    Args:
        hr_max_bpm: The athlete's maximal heart rate, when known.
        age_years: Used for Tanaka's HRmax when ``hr_max_bpm`` is not given.
        max_gap_s: Longest interval a reading holds for.

    Example:
        >>> tracker = HeartRateTracker(age_years=30.0)          # HRmax 187
        >>> for second in range(0, 301, 5):
        ...     step = tracker.update(float(second), 170.0)     # 91 %: zone 5
        >>> step.zone, round(step.trimp, 6)
        (5, 25.0)
        >>> tracker.update(298.0, 120.0) is None                # a late reading
        True
    """

    def __init__(
        self,
        hr_max_bpm: float | None = None,
        age_years: float | None = None,
        max_gap_s: float = 5.0,
    ) -> None:
        self.hr_max_bpm = resolve_hr_max(hr_max_bpm, age_years)
        self.max_gap_s = float(max_gap_s)
        self._last_t = -np.inf
        self._last_zone = -1
        # Plain floats: a reading is a handful of scalar operations, cheaper without numpy.
        self._time = [0.0] * _N_ZONES
        self._trimp_s = 0.0  # seconds in each zone times its weight, summed

    @property
    def time_in_zones_s(self) -> FloatArray:
        """Seconds in zones 0-5 so far."""
        return np.array(self._time)

    @property
    def trimp(self) -> float:
        """Edwards TRIMP so far."""
        return self._trimp_s / 60.0

    def update(self, t_s: float, hr_bpm: float | None) -> HeartRateStep | None:
        """Take a reading; ``None`` (and no change) when it is not newer than the last one.

        A reading more than ``max_gap_s`` older than the last is a restarted clock: it starts
        afresh, counting nothing for the interval.
        """
        t = float(t_s)
        if not t > self._last_t:
            if t >= self._last_t - self.max_gap_s - 1e-9:
                return None  # jitter, or the same instant again
            self._last_zone = -1  # the clock restarted: nothing held across
        dt = t - self._last_t
        last = self._last_zone
        if last >= 0 and dt <= self.max_gap_s + 1e-9:
            self._time[last] += dt
            self._trimp_s += dt * _WEIGHTS[last]
        hr = math.nan if hr_bpm is None else float(hr_bpm)
        fraction = hr / self.hr_max_bpm
        # The same zones as hr_zone(), without an array per reading.
        zone = bisect.bisect_right(EDWARDS_ZONE_EDGES, fraction) if hr == hr else -1
        self._last_t, self._last_zone = t, zone
        return HeartRateStep(t, hr, fraction, zone, self._trimp_s / 60.0)
