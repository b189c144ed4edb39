"""Causal smoothing: a trailing least-squares fit over the last ``window`` frames.

The filter is a *causal* Savitzky-Golay filter (Savitzky A, Golay MJE, 1964, "Smoothing and
differentiation of data by simplified least squares procedures", Anal. Chem. 36(8):1627-1639):
at each frame it fits the samples of the last ``window`` frames (their actual timestamps, so a
missing frame is a hole, not an error) and reports

- the window mean (the order-0 fit, a trailing moving average), used as the smoothed position,
- the slope of the order-1 fit, used as the velocity.

Both describe the instant at the centre of the window, so both lag the newest frame by
``(window - 1) / 2`` frames (:func:`delay_ms`): 3 frames = 120 ms for 7 frames at 25 Hz. In the
interior of a trajectory the trailing mean equals the centred Savitzky-Golay smoother (order 0
or 1, same window) delayed by exactly that much, which is how the offline reference relates to
it. Short of a full window (the first frames of a trajectory) the fit uses the samples it has.

:func:`trailing_fit` is the array form; :func:`slope_weights` gives the weights the streaming
form (:class:`arenaflow.analytics.kinematics.KinematicsTracker`) applies to a full window.

Example:
    >>> import numpy as np
    >>> t = np.arange(5) / 25.0
    >>> x = (2.0 * t)[:, None]                       # 2 m/s along one axis
    >>> mean, slope = trailing_fit(t, x, window=3)
    >>> [round(float(s), 6) for s in slope[:, 0]]    # NaN until two samples
    [nan, 2.0, 2.0, 2.0, 2.0]
    >>> delay_ms(7, fps=25.0)
    120.0
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def delay_frames(window: int) -> float:
    """Frames by which the trailing mean and the trailing slope lag the newest frame.

    The window mean is the value at the mean time of the window; the least-squares slope of a
    signal with constant second derivative equals its derivative there too.
    """
    check_window(window)
    return (window - 1) / 2.0


def delay_ms(window: int, fps: float) -> float:
    """:func:`delay_frames` in milliseconds at ``fps`` frames per second."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return delay_frames(window) / fps * 1000.0


def slope_weights(t_s: FloatArray) -> FloatArray:
    """Weights ``w`` (shape of ``t_s``) with ``w @ values`` = least-squares slope over ``t_s``.

    ``w_k = (t_k - mean(t)) / sum((t - mean(t))**2)``; all timestamps must be finite and not all
    equal.
    """
    d = t_s - t_s.mean()
    weights: FloatArray = d / float(d @ d)
    return weights


def trailing_fit(t_s: FloatArray, values: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Trailing mean and least-squares slope over the last ``window`` frames of a series.

    Args:
        t_s: Frame times, shape ``(T,)``, strictly increasing, seconds.
        values: Samples, shape ``(T, d)``; a row with a NaN is a missing frame (a hole in the
            windows that cover it).
        window: Frames per fit (frames before the first one are not there).

    Returns:
        ``(mean, slope)``, each ``(T, d)``; ``slope`` is in units per second. ``mean`` is NaN
        where the window holds no sample, ``slope`` where it holds fewer than two.
    """
    check_window(window)
    t = np.asarray(t_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    n_t = t.shape[0]
    if v.ndim != 2 or v.shape[0] != n_t:
        raise ValueError(f"values must have shape (T, d) with T={n_t}, got {v.shape}")
    if n_t == 0:
        return np.empty_like(v), np.empty_like(v)
    pad = window - 1
    tp = np.concatenate([np.zeros(pad), t])
    vp = np.concatenate([np.full((pad, v.shape[1]), np.nan), v])
    tw = sliding_window_view(tp, window)  # (T, N)
    vw = np.moveaxis(sliding_window_view(vp, window, axis=0), -1, 1)  # (T, N, d)
    mask = np.isfinite(vw).all(axis=2)
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = np.where(mask, tw, 0.0).sum(axis=1) / count
        dt = np.where(mask, tw - t_mean[:, None], 0.0)
        vz = np.where(mask[:, :, None], vw, 0.0)
        mean = vz.sum(axis=1) / count[:, None]
        sxx = (dt * dt).sum(axis=1)
        slope = (dt[:, :, None] * vz).sum(axis=1) / sxx[:, None]
    slope[sxx <= 0] = np.nan
    return mean, slope


def check_window(window: int) -> None:
    """Raise ``ValueError`` unless ``window`` is an integer of at least 2 frames."""
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 2:
        raise ValueError(f"window must be an integer of at least 2 frames, got {window!r}")
