"""The causal least-squares filter: hand-computed fits, holes, delay, and its relation to the
centred Savitzky-Golay filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import savgol_filter

from arenaflow.analytics.filters import (
    check_window,
    delay_frames,
    delay_ms,
    slope_weights,
    trailing_fit,
)


def test_trailing_fit_by_hand() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0])
    x = np.array([[0.0], [1.0], [4.0], [9.0]])
    mean, slope = trailing_fit(t, x, window=3)
    # Means of the samples so far, then of the last three.
    assert mean[:, 0] == pytest.approx([0.0, 0.5, 5 / 3, 14 / 3])
    # One sample: no slope; (0,0),(1,1): 1; (0,0),(1,1),(2,4): 2; (1,1),(2,4),(3,9): 4.
    assert np.isnan(slope[0, 0])
    assert slope[1:, 0] == pytest.approx([1.0, 2.0, 4.0])


def test_trailing_fit_skips_holes() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0])
    x = np.array([[0.0], [np.nan], [4.0], [9.0]])
    mean, slope = trailing_fit(t, x, window=3)
    assert mean[1, 0] == 0.0 and np.isnan(slope[1, 0])  # only frame 0 in the window
    assert (mean[2, 0], slope[2, 0]) == pytest.approx((2.0, 2.0))  # frames 0 and 2
    assert (mean[3, 0], slope[3, 0]) == pytest.approx((6.5, 5.0))  # frames 2 and 3


def test_trailing_mean_is_the_centred_savgol_delayed() -> None:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=(200, 2)), axis=0)
    t = np.arange(200) / 25.0
    mean, slope = trailing_fit(t, x, window=7)
    centred = savgol_filter(x, 7, 1, axis=0)
    # Interior: the trailing mean at i is the centred smoother at i - 3.
    np.testing.assert_allclose(mean[6:], centred[3:-3], rtol=0, atol=1e-9)
    centred_slope = savgol_filter(x, 7, 1, deriv=1, delta=1 / 25.0, axis=0)
    np.testing.assert_allclose(slope[6:], centred_slope[3:-3], rtol=0, atol=1e-9)


def test_slope_weights_give_the_least_squares_slope() -> None:
    t = np.array([0.0, 0.04, 0.12, 0.16])
    x = 3.0 * t + 1.0
    assert float(slope_weights(t) @ x) == pytest.approx(3.0)


def test_delay() -> None:
    assert delay_frames(7) == 3.0
    assert delay_ms(7, 25.0) == pytest.approx(120.0)
    assert delay_ms(7, 10.0) == pytest.approx(300.0)
    with pytest.raises(ValueError):
        delay_ms(7, 0.0)


@pytest.mark.parametrize("window", [1, 0, 2.5, True])
def test_window_must_be_an_integer_of_two_or_more(window: object) -> None:
    with pytest.raises(ValueError):
        check_window(window)  # type: ignore[arg-type]


def test_trailing_fit_shapes() -> None:
    with pytest.raises(ValueError):
        trailing_fit(np.arange(3.0), np.zeros(3), window=3)
    mean, slope = trailing_fit(np.zeros(0), np.zeros((0, 2)), window=3)
    assert mean.shape == slope.shape == (0, 2)
