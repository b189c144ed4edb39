"""Scoring goal probabilities against outcomes, and the ``arenaflow xg evaluate`` report.

Metrics, numpy only, the same numbers as scikit-learn's:

- :func:`roc_auc`: the Mann-Whitney U statistic over ``n1·n0`` with mid-ranks for ties
  (Hanley & McNeil 1982): the probability a random goal got a higher xG than a random miss,
- :func:`brier_score`: the mean squared difference between probability and outcome
  (Brier 1950),
- :func:`log_loss`: the mean negative log-likelihood, probabilities clipped to machine epsilon.

:func:`evaluate_shots_file` scores the shipped model and the file's own ``statsbomb_xg`` on the
same shots of a StatsBomb-style parquet (the columns of ``shared/data/shots``), penalties and
shoot-out kicks left out. :func:`running_score_difference` gives each shot the game state its
model reads, from the outcomes of the match's earlier shots.

Example:
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> round(brier_score([0, 1], [0.2, 0.6]), 6), round(log_loss([0, 1], [0.2, 0.6]), 4)
    (0.1, 0.367)
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from arenaflow.analytics.xg import FLAGS, XGModel, normalise_category, statsbomb_to_pitch

#: Columns ``evaluate_shots_file`` needs (``has_freeze_frame`` is read when present).
REQUIRED_COLUMNS: Final = (
    "x",
    "y",
    "is_goal",
    "shootout",
    "shot_type",
    "body_part",
    "technique",
    "play_pattern",
    *FLAGS,
    "opponents_in_freeze_frame",
    "players_in_freeze_frame",
    "statsbomb_xg",
)
#: Columns the game state is computed from when the file has them all (else it is unknown).
GAME_STATE_COLUMNS: Final = ("match_id", "team", "period", "minute", "second")


class ShotFileError(ValueError):
    """Raised when a shots file cannot be evaluated; the message names the file and why."""


def _check(y_true: ArrayLike, p: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    q = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != q.shape:
        raise ValueError(f"{y.size} outcomes but {q.size} probabilities")
    if y.size == 0:
        raise ValueError("no predictions to score")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("outcomes must be 0/1")
    if not np.all((q >= 0) & (q <= 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    return y, q


def _midranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    ends = np.r_[starts[1:], ordered.size]
    ranks = np.empty(values.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def roc_auc(y_true: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve; raises ValueError unless both outcomes occur."""
    y, q = _check(y_true, p)
    positive = y == 1
    n1 = int(positive.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        raise ValueError("AUC needs both goals and misses")
    u = _midranks(q)[positive].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


def brier_score(y_true: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error of the probabilities."""
    y, q = _check(y_true, p)
    return float(np.mean((q - y) ** 2))


def log_loss(y_true: ArrayLike, p: ArrayLike) -> float:
    """Mean negative log-likelihood (natural log), probabilities clipped to [eps, 1 - eps]."""
    y, q = _check(y_true, p)
    eps = np.finfo(np.float64).eps
    q = np.clip(q, eps, 1 - eps)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def scores(y_true: ArrayLike, p: ArrayLike) -> dict[str, float | None]:
    """``{"auc", "brier", "log_loss"}`` rounded to 6 places; AUC None with a single outcome."""
    y, q = _check(y_true, p)
    auc = round(roc_auc(y, q), 6) if 0 < y.sum() < y.size else None
    return {"auc": auc, "brier": round(brier_score(y, q), 6), "log_loss": round(log_loss(y, q), 6)}


def running_score_difference(
    match_id: ArrayLike,
    team: ArrayLike,
    period: ArrayLike,
    minute: ArrayLike,
    second: ArrayLike,
    is_goal: ArrayLike,
) -> NDArray[np.float64]:
    """Each shot's team's goals minus its opponents' before the shot, from the earlier shots.

    Shots are ordered by period, minute and second within their match (rows in the same second
    keep their order); every scoring shot before a shot counts, penalties included. Own goals
    are not shots, so a shots table misses them (a few per cent of goals); pass no shoot-out
    kicks. A shot without a match, team or time gets NaN (unknown) and counts for no later
    shot.

    Args:
        match_id, team, period, minute, second, is_goal: One value per shot, shape (n,).

    Returns:
        Shape (n,), float (NaN where unknown).

    Example:
        >>> running_score_difference(["m"] * 4, ["A", "B", "A", "B"], [1, 1, 2, 1],
        ...                          [10, 20, 5, 30], [0, 0, 0, 0], [True, False, False, True])
        array([ 0., -1.,  0., -1.])
    """
    columns = [np.asarray(c, dtype=object).ravel() for c in (match_id, team, period, minute)]
    columns.append(np.asarray(second, dtype=object).ravel())
    goals = np.asarray(is_goal, dtype=object).ravel()
    n = goals.size
    if any(c.size != n for c in columns):
        raise ValueError("running_score_difference: columns of different lengths")
    match, teams, periods, minutes, seconds = columns
    result = np.full(n, np.nan)
    timed = []
    for i in range(n):
        fields = (match[i], teams[i], periods[i], minutes[i], seconds[i])
        if not any(v is None or (isinstance(v, float) and math.isnan(v)) for v in fields):
            timed.append((int(periods[i]), int(minutes[i]), float(seconds[i]), i))
    totals: dict[Any, int] = {}
    scored: dict[tuple[Any, Any], int] = {}
    for *_, i in sorted(timed):
        key = (match[i], teams[i])
        own = scored.get(key, 0)
        result[i] = own - (totals.get(match[i], 0) - own)
        if goals[i] is not None and bool(goals[i]):
            scored[key] = own + 1
            totals[match[i]] = totals.get(match[i], 0) + 1
    return result


def _read(path: Path) -> dict[str, Any]:
    # Imported as Any: pyarrow ships no type information.
    pa: Any = importlib.import_module("pyarrow")
    pq: Any = importlib.import_module("pyarrow.parquet")

    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        names = set(pq.read_schema(path).names)
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise ShotFileError(f"{path}: missing columns: {', '.join(missing)}")
        optional = ["has_freeze_frame"] if "has_freeze_frame" in names else []
        if names.issuperset(GAME_STATE_COLUMNS):
            optional.extend(GAME_STATE_COLUMNS)
        wanted = [*REQUIRED_COLUMNS, *optional]
        table = pq.read_table(path, columns=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise ShotFileError(f"{path}: not a readable parquet file ({exc})") from exc
    return {name: table.column(name).to_pylist() for name in table.column_names}


def evaluate_shots_file(path: str | Path, model: XGModel | None = None) -> dict[str, Any]:
    """Score ``model`` (the shipped one by default) and ``statsbomb_xg`` on a shots parquet.

    Coordinates are StatsBomb's (120 x 80, attacking towards x = 120). Penalties and
    shoot-out kicks are left out; null flags count as False. When the file has the columns of
    :data:`GAME_STATE_COLUMNS` each shot's score difference comes from the earlier shots of its
    match (:func:`running_score_difference`, penalties counted); otherwise it is unknown.

    Returns:
        ``{"n", "auc", "brier", "log_loss", "statsbomb": {"auc", "brier", "log_loss"}}``;
        the StatsBomb scores use the shots that carry a ``statsbomb_xg``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ShotFileError: not a parquet file, missing columns (named), or no shot to score.
    """
    path = Path(path)
    columns = _read(path)
    shot_type = [normalise_category(v) for v in columns["shot_type"]]
    keep = np.array(
        [t != "penalty" and not s for t, s in zip(shot_type, columns["shootout"], strict=True)],
        dtype=bool,
    )
    if not keep.any():
        raise ShotFileError(f"{path}: no non-penalty, non-shoot-out shots to score")
    in_match = np.array([not s for s in columns["shootout"]], dtype=bool)
    score = np.full(keep.size, np.nan)
    if all(c in columns for c in GAME_STATE_COLUMNS):

        def in_play(name: str) -> NDArray[np.object_]:
            values: NDArray[np.object_] = np.asarray(columns[name], dtype=object)[in_match]
            return values

        score[in_match] = running_score_difference(
            in_play("match_id"),
            in_play("team"),
            in_play("period"),
            in_play("minute"),
            in_play("second"),
            in_play("is_goal"),
        )

    def kept(name: str) -> list[Any]:
        return [v for v, k in zip(columns[name], keep, strict=True) if k]

    def numbers(name: str) -> NDArray[np.float64]:
        return np.array([np.nan if v is None else float(v) for v in kept(name)])

    if "has_freeze_frame" in columns:
        has_frame = np.array([bool(v) for v in kept("has_freeze_frame")])
    else:
        has_frame = np.ones(int(keep.sum()), dtype=bool)
    x_m, y_m = statsbomb_to_pitch(numbers("x"), numbers("y"))
    if np.isnan(x_m).any() or np.isnan(y_m).any():
        raise ShotFileError(f"{path}: shots without a location (null x or y)")
    predicted = (model or XGModel.load()).probability(
        x_m,
        y_m,
        body_part=kept("body_part"),
        technique=kept("technique"),
        shot_type=kept("shot_type"),
        play_pattern=kept("play_pattern"),
        opponents_in_freeze_frame=np.where(has_frame, numbers("opponents_in_freeze_frame"), np.nan),
        players_in_freeze_frame=np.where(has_frame, numbers("players_in_freeze_frame"), np.nan),
        score_difference=score[keep],
        under_pressure=kept("under_pressure"),
        first_time=kept("first_time"),
        one_on_one=kept("one_on_one"),
        open_goal=kept("open_goal"),
        aerial_won=kept("aerial_won"),
    )
    goals = np.array([bool(v) for v in kept("is_goal")], dtype=np.float64)
    statsbomb = numbers("statsbomb_xg")
    rated = ~np.isnan(statsbomb)
    empty: dict[str, float | None] = {"auc": None, "brier": None, "log_loss": None}
    return {
        "n": int(goals.size),
        **scores(goals, predicted),
        "statsbomb": scores(goals[rated], statsbomb[rated]) if rated.any() else empty,
    }
