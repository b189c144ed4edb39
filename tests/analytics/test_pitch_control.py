"""Pitch control against a plain per-target transcription of Spearman (2018) as implemented by
Shaw (Friends of Tracking), symmetry, and speed on a 50 x 32 grid."""

from __future__ import annotations

import time

import numpy as np
import pytest

from arenaflow.analytics.pitch_control import (
    PitchControlParams,
    pitch_control,
    pitch_control_at,
    time_to_intercept_s,
)
from arenaflow.sports.fields import FOOTBALL


def reference_at(
    target: np.ndarray,
    att: list[tuple[np.ndarray, np.ndarray, float]],
    dfn: list[tuple[np.ndarray, np.ndarray, float]],
    ball: np.ndarray,
    p: PitchControlParams,
) -> tuple[float, float]:
    """One target, one player at a time (no shortcuts): the integration of equation 3."""

    def tti(xy: np.ndarray, v: np.ndarray) -> float:
        return p.reaction_time_s + float(
            np.linalg.norm(target - (xy + v * p.reaction_time_s)) / p.max_speed_mps
        )

    def arrived(t: float, tau: float) -> float:
        return 1.0 / (1.0 + np.exp(-np.pi / np.sqrt(3.0) / p.tti_sigma_s * (t - tau)))

    t_ball = float(np.linalg.norm(target - ball)) / p.ball_speed_mps
    players = [(tti(xy, v), lam, True) for xy, v, lam in att]
    players += [(tti(xy, v), lam, False) for xy, v, lam in dfn]
    control = [0.0] * len(players)
    total_att = total_def = 0.0
    t = t_ball
    for _ in range(int(np.ceil(p.max_time_s / p.dt_s))):
        remaining = 1.0 - total_att - total_def
        for i, (tau, lam, _) in enumerate(players):
            control[i] += remaining * arrived(t, tau) * lam * p.dt_s
        total_att = sum(c for c, (_, _, a) in zip(control, players, strict=True) if a)
        total_def = sum(c for c, (_, _, a) in zip(control, players, strict=True) if not a)
        t += p.dt_s
        if 1.0 - total_att - total_def <= p.tolerance:
            break
    return total_att, total_def


def scene(seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    lo, hi = [-50.0, -32.0], [50.0, 32.0]
    a, d = rng.uniform(lo, hi, size=(11, 2)), rng.uniform(lo, hi, size=(11, 2))
    va, vd = rng.normal(scale=3.0, size=(11, 2)), rng.normal(scale=3.0, size=(11, 2))
    return a, va, d, vd, rng.uniform(lo, hi, size=2)


def test_equals_the_per_target_reference() -> None:
    p = PitchControlParams()
    a, va, d, vd, ball = scene(0)
    targets = np.array([[0.0, 0.0], [30.0, -10.0], [-45.0, 25.0], [10.0, 30.0], ball])
    got_att, got_def = pitch_control_at(targets, a, va, d, vd, ball, defending_keeper=0)
    lam_def = [4.3 * 3.0] + [4.3] * 10
    att = [(a[i], va[i], 4.3) for i in range(11)]
    dfn = [(d[i], vd[i], lam_def[i]) for i in range(11)]
    for k, target in enumerate(targets):
        ref_att, ref_def = reference_at(target, att, dfn, ball, p)
        assert got_att[k] == pytest.approx(ref_att, abs=1e-9)
        assert got_def[k] == pytest.approx(ref_def, abs=1e-9)


def test_mirror_symmetry() -> None:
    """Mirror the scene through the halfway line and swap the teams: control swaps too."""
    a = np.array([[-10.0, 5.0], [-20.0, -8.0]])
    d = -a
    zero = np.zeros((2, 2))
    pc = pitch_control(a, zero, d, zero, np.array([0.0, 0.0]), FOOTBALL, bins=(10, 6))
    np.testing.assert_allclose(pc.attacking, pc.defending[::-1, ::-1], atol=1e-12)
    assert pc.attacking[0].mean() > 0.9 and pc.attacking[-1].mean() < 0.1


def test_defaults_and_time_to_intercept() -> None:
    p = PitchControlParams()
    assert (p.reaction_time_s, p.max_speed_mps, p.tti_sigma_s, p.lambda_att) == (
        0.7,
        5.0,
        0.45,
        4.3,
    )
    # 0.7 s reacting while drifting 0.7 m, then 9.3 m at 5 m/s.
    tti = time_to_intercept_s(
        np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([[10.0, 0.0]]), p
    )
    assert float(tti[0, 0]) == pytest.approx(0.7 + 9.3 / 5.0)


def test_missing_players_and_ball_at_target() -> None:
    a = np.array([[0.0, 0.0], [np.nan, np.nan]])
    d = np.array([[30.0, 0.0]])
    pa, pd = pitch_control_at(
        np.array([[1.0, 0.0], [29.0, 0.0]]), a, np.full((2, 2), np.nan), d, np.zeros((1, 2)), None
    )
    assert pa[0] > 0.98 and pd[1] > 0.98


def test_a_full_grid_is_quick_and_sums_to_one() -> None:
    a, va, d, vd, ball = scene(1)
    start = time.perf_counter()
    pc = pitch_control(a, va, d, vd, ball, FOOTBALL, defending_keeper=0)
    elapsed = time.perf_counter() - start
    assert pc.attacking.shape == (50, 32) and pc.x_m.shape == (50,) and pc.y_m.shape == (32,)
    total = pc.attacking + pc.defending
    assert ((total > 0.99 - 1e-9) & (total <= 1.0 + 1e-9)).all()
    assert elapsed < 2.0  # typically ~20 ms; generous for loaded CI machines
