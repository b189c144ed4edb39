"""Pitch control on a grid (Spearman 2018), on demand.

After Spearman W (2018), "Beyond Expected Goals", MIT Sloan Sports Analytics Conference, with
the simplifications and default parameters of the public Friends-of-Tracking implementation
(Shaw L, 2020, ``Metrica_PitchControl.py``, github.com/Friends-of-Tracking-Data-FoTD/
LaurieOnTracking):

- the ball travels from its position to a target at ``ball_speed_mps`` (15 m/s),
- a player keeps their velocity for ``reaction_time_s`` (0.7 s), then runs straight to the
  target at ``max_speed_mps`` (5 m/s): their expected time to intercept is
  ``tti = reaction_time + |target - (position + velocity · reaction_time)| / max_speed``,
- the probability they have arrived by time ``T`` is logistic,
  ``1 / (1 + exp(-π / √3 / sigma · (T - tti)))`` with ``sigma = tti_sigma_s`` (0.45 s),
- once there, a player controls the ball at rate ``λ`` (``lambda_att`` = 4.3/s; defenders
  ``kappa_def`` times that, 1.0 as in Shaw's implementation, Spearman's paper fits 1.72; the
  defending goalkeeper 3 times the defenders'),
- Spearman's equation 3 is integrated from the ball's arrival, in ``dt_s`` (0.04 s) steps, until
  the two teams' probabilities sum to 1 - ``tolerance`` (0.01) or ``max_time_s`` (10 s) passes:
  ``dP_i/dT = (1 - P_att - P_def) · f_i(T) · λ_i``.

Every cell of the grid is integrated at once (numpy over cells x players). Not implemented:
Shaw's offside filter (pass only the attackers who are onside) and his shortcut that skips
cells one team reaches far sooner (this integrates every cell, so it is exact to ``dt_s``).

Example:
    >>> import numpy as np
    >>> from arenaflow.sports.fields import FOOTBALL
    >>> pc = pitch_control(
    ...     attackers_xy_m=np.array([[-20.0, 0.0]]), attackers_v_mps=np.zeros((1, 2)),
    ...     defenders_xy_m=np.array([[20.0, 0.0]]), defenders_v_mps=np.zeros((1, 2)),
    ...     ball_xy_m=np.array([0.0, 0.0]), field=FOOTBALL, bins=(4, 2))
    >>> (pc.attacking[0] > 0.99).all(), (pc.attacking[3] < 0.01).all()
    (np.True_, np.True_)
    >>> bool(np.allclose(pc.attacking + pc.defending, 1.0, atol=0.011))
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from arenaflow.sports.fields import Field

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PitchControlParams:
    """Model parameters (defaults: Spearman 2018 as in Shaw's implementation)."""

    reaction_time_s: float = 0.7
    max_speed_mps: float = 5.0
    tti_sigma_s: float = 0.45
    lambda_att: float = 4.3
    kappa_def: float = 1.0
    keeper_factor: float = 3.0
    ball_speed_mps: float = 15.0
    dt_s: float = 0.04
    max_time_s: float = 10.0
    tolerance: float = 0.01


@dataclass(frozen=True, slots=True)
class PitchControl:
    """A pitch-control surface.

    Attributes:
        attacking: ``(nx, ny)`` probability that the team in possession controls the ball if
            it is played to the cell.
        defending: ``(nx, ny)`` the same for the other team.
        x_m: ``(nx,)`` cell centres along the field.
        y_m: ``(ny,)`` cell centres across it.
    """

    attacking: FloatArray
    defending: FloatArray
    x_m: FloatArray
    y_m: FloatArray


def time_to_intercept_s(
    xy_m: FloatArray, v_mps: FloatArray, targets_m: FloatArray, params: PitchControlParams
) -> FloatArray:
    """Expected arrival time of each player ``(n, 2)`` at each target ``(m, 2)``: ``(m, n)``."""
    reacted = xy_m + v_mps * params.reaction_time_s
    dx = targets_m[:, None, 0] - reacted[None, :, 0]
    dy = targets_m[:, None, 1] - reacted[None, :, 1]
    return np.asarray(params.reaction_time_s + np.hypot(dx, dy) / params.max_speed_mps)


def pitch_control(
    attackers_xy_m: FloatArray,
    attackers_v_mps: FloatArray,
    defenders_xy_m: FloatArray,
    defenders_v_mps: FloatArray,
    ball_xy_m: FloatArray | None,
    field: Field,
    bins: tuple[int, int] = (50, 32),
    defending_keeper: int | None = None,
    params: PitchControlParams = PitchControlParams(),
) -> PitchControl:
    """Pitch control of the team in possession over a grid of the field.

    Args:
        attackers_xy_m: ``(n_a, 2)`` positions of the team in possession (NaN rows ignored).
        attackers_v_mps: ``(n_a, 2)`` their velocities (NaN taken as standing still).
        defenders_xy_m: ``(n_d, 2)`` positions of the other team.
        defenders_v_mps: ``(n_d, 2)`` their velocities.
        ball_xy_m: The ball, ``(2,)``; ``None`` when it is already at each target.
        field: The field; the grid covers it.
        bins: ``(nx, ny)`` cells along and across.
        defending_keeper: Index in ``defenders_xy_m`` of the goalkeeper, who controls faster.
        params: Model parameters.
    """
    nx, ny = bins
    x = (np.arange(nx) + 0.5) / nx * field.length_m - field.half_length_m
    y = (np.arange(ny) + 0.5) / ny * field.width_m - field.half_width_m
    gx, gy = np.meshgrid(x, y, indexing="ij")
    targets = np.stack([gx.ravel(), gy.ravel()], axis=1)
    att, defn = pitch_control_at(
        targets,
        attackers_xy_m,
        attackers_v_mps,
        defenders_xy_m,
        defenders_v_mps,
        ball_xy_m,
        defending_keeper,
        params,
    )
    return PitchControl(att.reshape(bins), defn.reshape(bins), x, y)


def pitch_control_at(
    targets_m: FloatArray,
    attackers_xy_m: FloatArray,
    attackers_v_mps: FloatArray,
    defenders_xy_m: FloatArray,
    defenders_v_mps: FloatArray,
    ball_xy_m: FloatArray | None,
    defending_keeper: int | None = None,
    params: PitchControlParams = PitchControlParams(),
) -> tuple[FloatArray, FloatArray]:
    """Control probabilities ``(attacking (m,), defending (m,))`` at targets ``(m, 2)``."""
    targets = np.asarray(targets_m, dtype=np.float64)
    a_xy, a_v = _players(attackers_xy_m, attackers_v_mps)
    d_xy, d_v = _players(defenders_xy_m, defenders_v_mps)
    lam_def = np.full(d_xy.shape[0], params.lambda_att * params.kappa_def)
    if defending_keeper is not None:
        present = np.asarray(np.isfinite(np.asarray(defenders_xy_m, dtype=np.float64)).all(axis=1))
        if present[defending_keeper]:
            lam_def[int(present[:defending_keeper].sum())] *= params.keeper_factor
    lam = np.concatenate([np.full(a_xy.shape[0], params.lambda_att), lam_def])
    tti = np.concatenate(
        [
            time_to_intercept_s(a_xy, a_v, targets, params),
            time_to_intercept_s(d_xy, d_v, targets, params),
        ],
        axis=1,
    )  # (m, n)
    n_att = a_xy.shape[0]
    m = targets.shape[0]
    if ball_xy_m is None:
        t_ball = np.zeros(m)
    else:
        ball = np.asarray(ball_xy_m, dtype=np.float64)
        t_ball = np.hypot(targets[:, 0] - ball[0], targets[:, 1] - ball[1]) / params.ball_speed_mps
    scale = np.pi / np.sqrt(3.0) / params.tti_sigma_s
    # exp(-scale (T - tti)) at T = t_ball + k dt is base * decay**k.
    base = np.exp(-scale * (t_ball[:, None] - tti))
    decay = np.exp(-scale * params.dt_s)
    rate = lam * params.dt_s
    p_att = np.zeros(m)
    p_def = np.zeros(m)
    # Cells still integrating, compacted as they converge.
    cells = np.arange(m)
    contribution = np.zeros((m, tti.shape[1]))
    for _ in range(int(np.ceil(params.max_time_s / params.dt_s))):
        remaining = 1.0 - contribution.sum(axis=1)
        contribution += remaining[:, None] * rate / (1.0 + base)
        base *= decay
        att = contribution[:, :n_att].sum(axis=1)
        dfn = contribution[:, n_att:].sum(axis=1)
        done = 1.0 - att - dfn <= params.tolerance
        if done.any():
            p_att[cells[done]], p_def[cells[done]] = att[done], dfn[done]
            keep = ~done
            cells, contribution, base = cells[keep], contribution[keep], base[keep]
            if cells.size == 0:
                break
    else:  # not converged within max_time_s: report what was reached
        p_att[cells] = contribution[:, :n_att].sum(axis=1)
        p_def[cells] = contribution[:, n_att:].sum(axis=1)
    return p_att, p_def


def _players(xy_m: FloatArray, v_mps: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Players with a position, their velocities with NaN read as standing still."""
    xy = np.asarray(xy_m, dtype=np.float64).reshape(-1, 2)
    v = np.asarray(v_mps, dtype=np.float64).reshape(-1, 2)
    present = np.asarray(np.isfinite(xy).all(axis=1))
    return xy[present], np.nan_to_num(v[present])
