"""Heart rate: Tanaka's HRmax, Edwards zones and TRIMP by hand, the tracker equal to arrays."""

from __future__ import annotations

import numpy as np
import pytest

from arenaflow.analytics.heart_rate import (
    HeartRateTracker,
    edwards_trimp,
    hr_max_tanaka,
    hr_zone,
    resolve_hr_max,
    time_in_zones_s,
)


def test_tanaka() -> None:
    assert hr_max_tanaka(20.0) == pytest.approx(194.0)
    assert hr_max_tanaka(40.0) == pytest.approx(180.0)
    assert resolve_hr_max(None, 40.0) == pytest.approx(180.0)
    assert resolve_hr_max(190.0, 40.0) == 190.0  # configured wins
    with pytest.raises(ValueError):
        resolve_hr_max(None, None)
    with pytest.raises(ValueError):
        hr_max_tanaka(0.0)
    with pytest.raises(ValueError):
        resolve_hr_max(-1.0)


def test_zone_edges() -> None:
    hr = np.array([99.0, 100.0, 119.9, 120.0, 140.0, 160.0, 180.0, 200.0, 230.0, np.nan])
    assert hr_zone(hr, 200.0).tolist() == [0, 1, 1, 2, 3, 4, 5, 5, 5, -1]


def test_trimp_by_hand() -> None:
    # 10 s readings: 2 min at 55 %, 3 min at 85 %, 1 min at 95 % of 200 bpm.
    hr = np.concatenate([np.full(12, 110.0), np.full(18, 170.0), np.full(6, 190.0), [60.0]])
    t = np.arange(hr.size) * 10.0
    zones = time_in_zones_s(t, hr, 200.0, max_gap_s=10.0)
    assert zones.tolist() == [0.0, 120.0, 0.0, 0.0, 180.0, 60.0]
    assert edwards_trimp(t, hr, 200.0, max_gap_s=10.0) == pytest.approx(2 * 1 + 3 * 4 + 1 * 5)


def test_gaps_count_nothing() -> None:
    t = np.array([0.0, 5.0, 60.0, 65.0])
    hr = np.array([190.0, 190.0, 190.0, 190.0])
    assert time_in_zones_s(t, hr, 200.0, max_gap_s=5.0)[5] == pytest.approx(10.0)


def test_tracker_equals_arrays() -> None:
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.05, 0.2, size=3000))
    t[1500:] += 30.0  # the strap drops out for 30 s
    hr = 150 + 40 * np.sin(t / 30.0) + rng.normal(scale=3, size=t.size)
    hr[100:110] = np.nan
    tracker = HeartRateTracker(age_years=25.0, max_gap_s=5.0)
    for ti, h in zip(t, hr, strict=True):
        step = tracker.update(float(ti), None if np.isnan(h) else float(h))
        assert step is not None
    hr_max = 208 - 0.7 * 25
    assert tracker.time_in_zones_s == pytest.approx(time_in_zones_s(t, hr, hr_max))
    assert tracker.trimp == pytest.approx(edwards_trimp(t, hr, hr_max))
    assert step.trimp == pytest.approx(tracker.trimp)
    assert step.zone == int(hr_zone(hr[-1], hr_max))
    assert step.fraction_of_max == pytest.approx(hr[-1] / hr_max)


def test_tracker_ignores_old_readings_and_is_causal() -> None:
    tracker = HeartRateTracker(hr_max_bpm=200.0)
    tracker.update(0.0, 150.0)
    tracker.update(1.0, 150.0)
    before = tracker.trimp
    assert tracker.update(1.0, 199.0) is None
    assert tracker.update(0.5, 199.0) is None
    assert tracker.trimp == before == pytest.approx(3 / 60)  # 1 s in zone 3
    step = tracker.update(2.0, None)
    assert step is not None and step.zone == -1 and np.isnan(step.hr_bpm)


def test_restarted_clock_counts_nothing_across() -> None:
    tracker = HeartRateTracker(hr_max_bpm=200.0, max_gap_s=5.0)
    tracker.update(3000.0, 190.0)
    tracker.update(3001.0, 190.0)
    step = tracker.update(0.0, 190.0)  # the clock restarted
    assert step is not None and step.trimp == pytest.approx(5 / 60)
    tracker.update(1.0, 190.0)
    assert tracker.trimp == pytest.approx(2 * 5 / 60)
