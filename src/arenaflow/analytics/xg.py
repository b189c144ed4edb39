"""Shot and goal probability (expected goals, xG), applied from fitted parameters with numpy.

The model is a logistic regression on shot features (Pollard, Ensum & Taylor 2004, "Estimating
the probability of a shot resulting in a goal: the effects of distance, angle and space";
Robberechts & Davis 2020, "How data availability affects the ability to learn good xG models"):
cubic B-spline bases (de Boor 1978; Eilers & Marx 1996) of the distance to the goal centre and
the angle the goal mouth subtends (few knots, constant beyond the last, so the probability
falls further out and wider; only within ~3 m of the goal line, where shots are few, is it not
strictly monotone); body part, technique, shot type, play pattern, the provider's shot flags
(under pressure, first time, one on one, open goal, aerial won), the freeze-frame
head counts, the game state (the shooting team's goal difference before the shot, clipped to
+-2: a leading team's chances go in more often) and a few products of these (headers, free
kicks and first-time shots decay differently with distance and angle). ``scripts/train_xg.py``
fits it with scikit-learn on StatsBomb Open Data (38,049 non-penalty shots, 2015/16 top-five
leagues less the Bundesliga, Champions League finals) and validates it leave-one-competition-out
against StatsBomb's own xG, the regularisation chosen by an inner leave-one-competition-out
(nested): pooled over the held-out competitions, AUC 0.801, Brier score 0.0721 and log loss
0.2548 (StatsBomb, whose model sees every player's position, 0.816, 0.0699 and 0.2481); with
the score unknown, AUC 0.801 and Brier score 0.0722. StatsBomb's ``deflected`` flag is not a
feature: it is recorded only on shots that ended on target, so it leaks the outcome (with it
the same validation reads 0.0710, a number no live model could give). This module only
evaluates the exported coefficients (``xg_model.json``, package data): no pickle, no
scikit-learn at run time.

Three fitted models and one constant ship together:

- ``shot``: every attribute, freeze-frame counts included (an event feed with freeze frames),
- ``shot_no_freeze_frame``: the same without the counts, used for rows where they are unknown
  (held out: Brier score 0.0725),
- ``location``: distance and angle only, fitted on open-play shots with the foot: the live
  "shot from here" probability of the ball carrier (:func:`from_here_xg`), all tracking knows,
- penalties: the conversion rate of the training data's penalties (shoot-outs excluded).

A shot whose score is unknown (a feed that does not carry it) gets either model's probability
averaged over the game states of the training shots (``game_state`` in the parameters), what a
model without the game state would say. The training score counts the earlier scoring shots of
the match, penalties included; own goals are not shots, so it misses them (a few per cent of
goals), while the StatsBomb source, which sees them, counts them.

Coordinates: metres with the origin at the centre spot (:mod:`arenaflow.sports.schemas`), and
**the attacked goal at x = +length/2** (+52.5 m on the default 105 x 68 m field). Pass
``attacks_positive_x=False`` when the shooting team attacks towards -x. The goal and its boxes
have a fixed size whatever the pitch (IFAB), so only the field's length moves the goal; the
width does not enter. The model is symmetric in y. Provider coordinates convert at the edge:
:func:`statsbomb_to_pitch` maps StatsBomb's 120 x 80 grid the way kloppy does, anchoring the
pitch markings (goal posts, six-yard box, penalty spot and area) to their real distances.

Example:
    >>> model = XGModel.load()
    >>> p = model.probability([41.5, 41.5, 30.0], [0.0, 0.0, 10.0],
    ...                       body_part=["foot", "head", "foot"])
    >>> bool(p[0] > p[1] > 0.0) and bool(p[0] > p[2])        # 11 m, central: foot > head
    True
    >>> round(float(model.penalty_probability), 3)
    0.746
    >>> from_here = from_here_xg([47.0, 20.0], [0.0, 0.0])     # 5.5 m and 32.5 m out
    >>> bool(from_here[0] > 0.3 > 0.05 > from_here[1])
    True
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from arenaflow.sports.fields import FOOTBALL, Field
from arenaflow.sports.schemas import GameEvent

__all__ = [
    "FLAGS",
    "XGModel",
    "from_here_xg",
    "goal_geometry",
    "log_distance",
    "normalise_category",
    "shot_xg",
    "statsbomb_to_pitch",
]

FloatArray: TypeAlias = NDArray[np.float64]
#: A category per shot (a sequence or array of strings) or one for all; None means unknown.
Categories: TypeAlias = str | Sequence[str | None] | NDArray[Any] | None
#: A flag per shot or one for all; missing means False (the providers' convention).
Flags: TypeAlias = bool | Sequence[bool | None] | NDArray[Any] | None
#: A head count per shot or one for all; None, NaN or negative means unknown.
Counts: TypeAlias = float | Sequence[float | None] | NDArray[Any] | None
#: A signed number per shot or one for all; None or NaN means unknown.
Numbers: TypeAlias = float | Sequence[float | None] | NDArray[Any] | None

FORMAT: Final = "arenaflow.xg/2"
#: The provider's boolean shot flags the ``shot`` models read (StatsBomb names). StatsBomb's
#: ``deflected`` is left out: it is recorded only on shots that ended on target (saved, post or
#: goal; 35 % of them goals), so it carries the outcome and is unknown when the shot is taken.
FLAGS: Final = (
    "under_pressure",
    "first_time",
    "one_on_one",
    "open_goal",
    "aerial_won",
)
_CATEGORICAL: Final = ("technique", "shot_type", "play_pattern")
# The columns the runtime computes, by model family.
_LOCATION_INPUTS: Final = frozenset({"distance_m", "angle_rad", "lateral_m", "log_distance"})
_SHOT_INPUTS: Final = _LOCATION_INPUTS | {
    "head",
    "other_body",
    "free_kick",
    "opponents",
    "players",
    "score_difference",
    *FLAGS,
    *_CATEGORICAL,
}

# StatsBomb's grid: 120 x 80 with the markings of a 120 x 80 yard pitch. Anchors measured from
# the goal line (x) and from the centre line of the pitch (y), as kloppy's zones are.
_SB_LENGTH: Final = 120.0
_SB_WIDTH: Final = 80.0
_SB_X: Final = (0.0, 6.0, 12.0, 18.0, 22.0)  # goal line, six-yard box, spot, area, arc
_IFAB_X: Final = (0.0, 5.5, 11.0, 16.5, 20.15)
_SB_CIRCLE: Final = 10.0
_IFAB_CIRCLE: Final = 9.15
_SB_Y: Final = (0.0, 4.0, 10.0, 22.0)  # centre, post, six-yard box, penalty area
_IFAB_Y: Final = (0.0, 3.66, 9.16, 20.16)

#: Beyond this distance from goal the distance terms stay constant and only the narrowing angle
#: lowers the probability: the few shots from further out are a selected lot (a keeper off his
#: line, a lob) and would otherwise bend the curve upwards.
LONG_RANGE_M: Final = 30.0
#: The game state enters as the shooting team's goal difference before the shot, clipped to
#: +-2: a three-goal lead behaves like a two-goal one, and there are few such shots.
SCORE_DIFFERENCE_CLIP: Final = 2


def statsbomb_to_pitch(
    x: ArrayLike, y: ArrayLike, field: Field = FOOTBALL
) -> tuple[FloatArray, FloatArray]:
    """Convert StatsBomb coordinates (120 x 80, attacking towards x = 120) to metres.

    Piecewise linear between the pitch markings, as kloppy's ``to_metric_base`` (3.x): the goal
    line, six-yard box, penalty spot, penalty area, penalty arc, centre circle and halfway line
    along x; the goal posts, six-yard box, penalty area and touchline across; linear scaling
    beyond the lines. StatsBomb's 18 "yards" to the penalty area become 16.5 m, not 15.75 m as
    a plain 105/120 rescaling would give.

    Args:
        x: StatsBomb x, shape (n,).
        y: StatsBomb y, shape (n,).
        field: The match's pitch.

    Returns:
        ``(x_m, y_m)`` from the centre spot with the attacked goal at ``x_m = +length/2``;
        ``y_m`` grows with StatsBomb's y.

    Example:
        >>> x_m, y_m = statsbomb_to_pitch([108.0, 60.0], [40.0, 18.0])
        >>> [round(float(v), 2) for v in (*x_m, *y_m)]   # the penalty spot; halfway, area line
        [41.5, 0.0, 0.0, -20.16]
    """
    length, width = field.length_m, field.width_m
    sb_x = np.asarray(x, dtype=np.float64)
    sb_y = np.asarray(y, dtype=np.float64)
    half = length / 2.0
    # From the attacked goal line, then mirrored anchors up to the defended one.
    anchors_from = [*_SB_X, _SB_LENGTH / 2 - _SB_CIRCLE, _SB_LENGTH / 2]
    anchors_to = [*_IFAB_X, half - _IFAB_CIRCLE, half]
    from_x = np.array([*anchors_from, *(_SB_LENGTH - a for a in reversed(anchors_from[:-1]))])
    to_x = np.array([*anchors_to, *(length - a for a in reversed(anchors_to[:-1]))])
    gx = _SB_LENGTH - sb_x
    goal_dist = np.interp(gx, from_x, to_x)
    scale_x = length / _SB_LENGTH
    goal_dist = np.where(gx < 0, gx * scale_x, goal_dist)
    goal_dist = np.where(gx > _SB_LENGTH, length + (gx - _SB_LENGTH) * scale_x, goal_dist)
    oy = sb_y - _SB_WIDTH / 2
    from_y = np.array([*_SB_Y, _SB_WIDTH / 2])
    to_y = np.array([*_IFAB_Y, width / 2])
    offset = np.interp(np.abs(oy), from_y, to_y)
    beyond = np.abs(oy) > _SB_WIDTH / 2
    offset = np.where(beyond, width / 2 + (np.abs(oy) - _SB_WIDTH / 2) * width / _SB_WIDTH, offset)
    return half - goal_dist, np.sign(oy) * offset


def goal_geometry(
    x_m: ArrayLike,
    y_m: ArrayLike,
    field: Field = FOOTBALL,
    attacks_positive_x: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Distance to the goal centre, angle of the goal mouth and lateral offset of shots.

    The angle is the one the goal mouth subtends at the shot, ``atan2(w·dx, dx² + dy² - w²/4)``
    for a goal of width w (Pollard & Reep 1997): π on the goal line between the posts, 0 on the
    goal line outside them. Positions behind the goal line count as on it.

    Args:
        x_m: Metres from the centre spot along the field, shape (n,).
        y_m: Metres from the centre spot across the field, shape (n,).
        field: The match's field (its length places the goal).
        attacks_positive_x: False when the shooter attacks the goal at x = -length/2.

    Returns:
        ``(distance_m, angle_rad, lateral_m)``, each shape (n,).

    Example:
        >>> d, a, lat = goal_geometry([41.5], [0.0])    # the penalty spot
        >>> round(float(d[0]), 2), round(math.degrees(float(a[0])), 1), float(lat[0])
        (11.0, 36.8, 0.0)
    """
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    dx = field.half_length_m - x if attacks_positive_x else field.half_length_m + x
    dx = np.maximum(dx, 0.0)
    width = field.goal_width_m
    distance = np.hypot(dx, y)
    angle = np.arctan2(width * dx, dx * dx + y * y - width * width / 4.0)
    return distance, np.maximum(angle, 0.0), np.abs(y)


def log_distance(distance_m: FloatArray) -> FloatArray:
    """``log(1 + d)`` of the distance, capped at :data:`LONG_RANGE_M` (the models' input)."""
    result: FloatArray = np.log1p(np.minimum(distance_m, LONG_RANGE_M))
    return result


def normalise_category(value: object) -> str:
    """Provider vocabulary to ours: lower case, words joined by ``_`` ("Half Volley" ->
    "half_volley", ``"RIGHT_FOOT"`` -> ``"right_foot"``); ``""`` for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return re.sub(r"[^a-z0-9]+", "_", str(value).strip().lower()).strip("_")


def body_part_group(value: object) -> str:
    """``"foot"``, ``"head"`` or ``"other"`` from a provider's body part (missing: ``""``)."""
    name = normalise_category(value)
    if not name:
        return ""
    if "head" in name:
        return "head"
    return "foot" if "foot" in name else "other"


def bspline_basis(x: FloatArray, knots: FloatArray, degree: int) -> FloatArray:
    """B-spline basis functions at ``x`` by the Cox-de Boor recursion (de Boor 1978).

    Args:
        x: Points, shape (n,), inside ``[knots[degree], knots[-degree-1]]``.
        knots: Strictly increasing knot vector, shape (m,).
        degree: Spline degree (3: cubic).

    Returns:
        Shape (n, m - degree - 1); each row sums to 1 (a partition of unity).
    """
    xc = x[:, None]
    basis = ((knots[:-1] <= xc) & (xc < knots[1:])).astype(np.float64)
    for d in range(1, degree + 1):
        n = basis.shape[1] - 1
        left = (xc - knots[:n]) / (knots[d : d + n] - knots[:n]) * basis[:, :n]
        right = (
            (knots[d + 1 : d + 1 + n] - xc)
            / (knots[d + 1 : d + 1 + n] - knots[1 : 1 + n])
            * basis[:, 1 : n + 1]
        )
        basis = left + right
    return basis


@dataclass(frozen=True, slots=True)
class _Spline:
    """One input's spline term: sum of coef_j * B_j(x), constant beyond the base interval."""

    input: str
    knots: FloatArray
    degree: int
    coef: FloatArray

    def __call__(self, x: FloatArray) -> FloatArray:
        lo, hi = self.knots[self.degree], self.knots[-self.degree - 1]
        result: FloatArray = bspline_basis(np.clip(x, lo, hi), self.knots, self.degree) @ self.coef
        return result


@dataclass(frozen=True, slots=True)
class _Logit:
    """A logistic model over named columns: splines, (products of) numbers, categories."""

    name: str
    intercept: float
    splines: tuple[_Spline, ...]
    linear: tuple[tuple[tuple[str, ...], float], ...]
    categorical: Mapping[str, Mapping[str, float]]

    @classmethod
    def from_params(cls, name: str, params: Mapping[str, Any]) -> _Logit:
        splines = []
        for term in params["splines"]:
            knots = np.asarray(term["knots"], dtype=np.float64)
            coef = np.asarray(term["coef"], dtype=np.float64)
            degree = int(term["degree"])
            if np.any(np.diff(knots) <= 0) or coef.shape != (knots.size - degree - 1,):
                raise ValueError(f"xG model {name!r}: bad spline for {term['input']!r}")
            splines.append(_Spline(str(term["input"]), knots, degree, coef))
        linear = tuple(
            (tuple(str(i) for i in term["inputs"]), float(term["coef"]))
            for term in params["linear"]
        )
        categorical = {
            str(feature): {str(k): float(v) for k, v in coefs.items()}
            for feature, coefs in params["categorical"].items()
        }
        return cls(name, float(params["intercept"]), tuple(splines), linear, categorical)

    def inputs(self) -> set[str]:
        names = {s.input for s in self.splines} | {i for inputs, _ in self.linear for i in inputs}
        return names | set(self.categorical)

    def logit(self, columns: Mapping[str, NDArray[Any]], n: int) -> FloatArray:
        z = np.full(n, self.intercept)
        for spline in self.splines:
            z += spline(columns[spline.input])
        for inputs, coef in self.linear:
            product = np.ones(n)
            for name in inputs:
                product = product * columns[name]
            z += coef * product
        for feature, coefs in self.categorical.items():
            values = columns[feature]
            for category, coef in coefs.items():
                z += coef * (values == category)
        return z


def _sigmoid(z: FloatArray) -> FloatArray:
    result: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    return result


def _broadcast_categories(values: Categories, n: int, name: str) -> NDArray[np.object_]:
    if values is None or isinstance(values, str):
        return np.full(n, normalise_category(values), dtype=object)
    seq = list(np.asarray(values, dtype=object).ravel())
    if len(seq) != n:
        raise ValueError(f"{name}: expected {n} values, got {len(seq)}")
    memo: dict[object, str] = {}
    out = np.empty(n, dtype=object)
    for i, value in enumerate(seq):
        key = value if isinstance(value, str) or value is None else str(value)
        if key not in memo:
            memo[key] = normalise_category(key)
        out[i] = memo[key]
    return out


def _broadcast_flags(values: Flags, n: int, name: str) -> FloatArray:
    if values is None:
        return np.zeros(n)
    if isinstance(values, bool | np.bool_):
        return np.full(n, float(values))
    seq = np.asarray(values, dtype=object).ravel()
    if seq.size != n:
        raise ValueError(f"{name}: expected {n} values, got {seq.size}")
    return np.array([1.0 if v is not None and bool(v) else 0.0 for v in seq])


def _broadcast_counts(values: Counts, n: int, name: str) -> FloatArray:
    if values is None:
        return np.full(n, np.nan)
    raw = np.asarray(values, dtype=object).ravel()
    counts = np.array([np.nan if v is None else float(v) for v in raw], dtype=np.float64)
    if counts.size == 1:
        counts = np.full(n, counts[0])
    if counts.size != n:
        raise ValueError(f"{name}: expected {n} values, got {counts.size}")
    counts[counts < 0] = np.nan
    return counts


def _broadcast_numbers(values: Numbers, n: int, name: str) -> FloatArray:
    if values is None:
        return np.full(n, np.nan)
    raw = np.asarray(values, dtype=object).ravel()
    try:
        numbers = np.array([np.nan if v is None else float(v) for v in raw], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected numbers, got {values!r}") from exc
    if numbers.size == 1:
        numbers = np.full(n, numbers[0])
    if numbers.size != n:
        raise ValueError(f"{name}: expected {n} values, got {numbers.size}")
    return numbers


class XGModel:
    """The shipped xG models: load once, apply vectorised.

    Example:
        >>> model = XGModel.load()
        >>> model.version == XGModel.load().version          # cached
        True
        >>> p = model.probability([41.5, 41.5], [0.0, 0.0], shot_type=["open_play", "penalty"])
        >>> round(float(p[1]), 3) == round(model.penalty_probability, 3)
        True
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        """Build from a parameter document (the parsed ``xg_model.json``)."""
        if params.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} parameter file (format={params.get('format')!r})")
        self.params = params
        self.version = str(params["version"])
        self.penalty_probability = float(params["penalty"]["probability"])
        self.categories: dict[str, tuple[str, ...]] = {
            k: tuple(v) for k, v in params["categories"].items()
        }
        self.defaults: dict[str, str] = dict(params["defaults"])
        state = params["game_state"]
        #: ``(score difference, share of training shots)``: what an unknown score averages over.
        self.score_distribution: tuple[tuple[float, float], ...] = tuple(
            (float(value), float(share)) for value, share in state["distribution"]
        )
        values = [v for v, _ in self.score_distribution]
        shares = [w for _, w in self.score_distribution]
        if (
            int(state["clip"]) != SCORE_DIFFERENCE_CLIP
            or any(abs(v) > SCORE_DIFFERENCE_CLIP for v in values)
            or any(w < 0 for w in shares)
            or not math.isclose(sum(shares), 1.0, abs_tol=1e-6)
        ):
            raise ValueError("xG parameters: bad game_state distribution")
        self.models = {
            name: _Logit.from_params(name, spec) for name, spec in params["models"].items()
        }
        for required, known in (
            ("shot", _SHOT_INPUTS),
            ("shot_no_freeze_frame", _SHOT_INPUTS),
            ("location", _LOCATION_INPUTS),
        ):
            if required not in self.models:
                raise ValueError(f"xG parameters lack the {required!r} model")
            unknown = self.models[required].inputs() - known
            if unknown:
                raise ValueError(f"xG model {required!r} reads unknown inputs {sorted(unknown)}")

    @staticmethod
    def default_path() -> Path:
        """Where the shipped parameters live (package data)."""
        return Path(str(resources.files("arenaflow.analytics").joinpath("xg_model.json")))

    @classmethod
    def load(cls, path: str | Path | None = None) -> XGModel:
        """The shipped model (cached: parsed once per process), or the one at ``path``."""
        if path is None:
            return _shipped()
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def _categories(self, name: str, values: Categories, n: int) -> NDArray[np.object_]:
        column = _broadcast_categories(values, n, name)
        column[column == ""] = self.defaults[name]
        allowed = self.categories[name]
        unknown = set(column.tolist()) - set(allowed)
        if unknown:
            raise ValueError(f"unknown {name} {sorted(unknown)}; expected one of {list(allowed)}")
        return column

    def probability(
        self,
        x_m: ArrayLike,
        y_m: ArrayLike,
        *,
        body_part: Categories = None,
        technique: Categories = None,
        shot_type: Categories = None,
        play_pattern: Categories = None,
        under_pressure: Flags = None,
        first_time: Flags = None,
        one_on_one: Flags = None,
        open_goal: Flags = None,
        aerial_won: Flags = None,
        opponents_in_freeze_frame: Counts = None,
        players_in_freeze_frame: Counts = None,
        score_difference: Numbers = None,
        field: Field = FOOTBALL,
        attacks_positive_x: bool = True,
    ) -> FloatArray:
        """Goal probability of shots, shape (n,).

        Every attribute is one value for all shots or one per shot. Categories take the
        provider's words in any case or spacing (``"Right Foot"``, ``"half_volley"``); a
        missing one (None) takes the most common value (foot, normal, open play, regular
        play); an unknown one raises ``ValueError`` naming the accepted values. Penalties get
        the fitted conversion rate; shots whose freeze-frame counts are unknown (None, NaN or
        negative) use the model fitted without them; shots whose score difference is unknown
        (None or NaN) get the model's probability averaged over the score differences of the
        training shots (:attr:`score_distribution`), what a model without the game state
        would say.

        Args:
            x_m: Metres from the centre spot, the attacked goal at ``+length/2``, shape (n,).
            y_m: Metres from the centre spot across the field, shape (n,).
            body_part: Foot (right/left), head or other.
            technique: normal, volley, half_volley, lob, overhead_kick, diving_header,
                backheel.
            shot_type: open_play, free_kick, corner or penalty.
            play_pattern: regular_play, from_corner, from_free_kick, from_throw_in,
                from_counter, from_goal_kick, from_keeper, from_kick_off, other.
            under_pressure, first_time, one_on_one, open_goal, aerial_won: The provider's
                shot flags (StatsBomb definitions).
            opponents_in_freeze_frame: Opponents (goalkeeper included) in the shot's freeze
                frame.
            players_in_freeze_frame: Players in the freeze frame, shooter excluded.
            score_difference: The shooting team's goals minus its opponents' before the shot
                (clipped to +-:data:`SCORE_DIFFERENCE_CLIP`).
            field: The match's field.
            attacks_positive_x: False when the shooters attack towards -x.

        Returns:
            Probabilities in (0, 1).
        """
        distance, angle, lateral = goal_geometry(x_m, y_m, field, attacks_positive_x)
        distance, angle, lateral = (np.atleast_1d(a) for a in (distance, angle, lateral))
        n = distance.size
        body = _broadcast_categories(body_part, n, "body_part")
        body = np.array([body_part_group(b) or "foot" for b in body], dtype=object)
        columns: dict[str, NDArray[Any]] = {
            "distance_m": distance,
            "angle_rad": angle,
            "lateral_m": lateral,
            "log_distance": log_distance(distance),
            "head": (body == "head").astype(np.float64),
            "other_body": (body == "other").astype(np.float64),
        }
        for name, values in (
            ("technique", technique),
            ("shot_type", shot_type),
            ("play_pattern", play_pattern),
        ):
            columns[name] = self._categories(name, values, n)
        columns["free_kick"] = (columns["shot_type"] == "free_kick").astype(np.float64)
        flags = (under_pressure, first_time, one_on_one, open_goal, aerial_won)
        for name, flag in zip(FLAGS, flags, strict=True):
            columns[name] = _broadcast_flags(flag, n, name)
        opponents = _broadcast_counts(opponents_in_freeze_frame, n, "opponents_in_freeze_frame")
        players = _broadcast_counts(players_in_freeze_frame, n, "players_in_freeze_frame")
        has_frame = ~(np.isnan(opponents) | np.isnan(players))
        columns["opponents"] = np.where(has_frame, opponents, 0.0)
        columns["players"] = np.where(has_frame, players, 0.0)
        score = _broadcast_numbers(score_difference, n, "score_difference")
        known = ~np.isnan(score)
        clip = float(SCORE_DIFFERENCE_CLIP)
        columns["score_difference"] = np.clip(np.where(known, score, 0.0), -clip, clip)
        p = self._shot_probability(columns, has_frame)
        if not known.all():
            rows = ~known
            unknown = {name: values[rows] for name, values in columns.items()}
            marginal = np.zeros(int(rows.sum()))
            for value, share in self.score_distribution:
                unknown["score_difference"] = np.full(marginal.size, value)
                marginal += share * self._shot_probability(unknown, has_frame[rows])
            p[rows] = marginal
        return np.where(columns["shot_type"] == "penalty", self.penalty_probability, p)

    def _shot_probability(
        self, columns: Mapping[str, NDArray[Any]], has_frame: NDArray[np.bool_]
    ) -> FloatArray:
        n = has_frame.size
        z = np.where(
            has_frame,
            self.models["shot"].logit(columns, n),
            self.models["shot_no_freeze_frame"].logit(columns, n),
        )
        return _sigmoid(z)

    def from_here(
        self,
        x_m: ArrayLike,
        y_m: ArrayLike,
        field: Field = FOOTBALL,
        attacks_positive_x: bool = True,
    ) -> FloatArray:
        """Location-only goal probability of a shot with the foot in open play, shape (n,)."""
        distance, angle, lateral = goal_geometry(x_m, y_m, field, attacks_positive_x)
        distance, angle, lateral = (np.atleast_1d(a) for a in (distance, angle, lateral))
        columns: dict[str, NDArray[Any]] = {
            "distance_m": distance,
            "angle_rad": angle,
            "lateral_m": lateral,
            "log_distance": log_distance(distance),
        }
        return _sigmoid(self.models["location"].logit(columns, distance.size))


@cache
def _shipped() -> XGModel:
    with (
        resources.files("arenaflow.analytics")
        .joinpath("xg_model.json")
        .open(encoding="utf-8") as fh
    ):
        return XGModel(json.load(fh))


def _freeze_frame_counts(attrs: Mapping[str, Any]) -> tuple[Any, Any]:
    """The head counts, given or counted from a StatsBomb-style ``freeze_frame`` list."""
    opponents = attrs.get("opponents_in_freeze_frame")
    players = attrs.get("players_in_freeze_frame")
    frame = attrs.get("freeze_frame")
    unknown = opponents is None or players is None
    if unknown and isinstance(frame, list) and frame:
        entries = [f for f in frame if isinstance(f, Mapping) and "teammate" in f]
        if len(entries) == len(frame):
            return sum(not f["teammate"] for f in entries), len(entries)
    return opponents, players


def shot_xg(
    event: GameEvent,
    field: Field = FOOTBALL,
    attacks_positive_x: bool = True,
    model: XGModel | None = None,
) -> float:
    """Goal probability of one shot event.

    Reads ``event.x``/``event.y`` (metres from the centre spot, the attacked goal at
    ``+length/2`` unless ``attacks_positive_x`` is False) and, from ``event.attributes``,
    ``body_part``, ``technique``, ``shot_type``, ``play_pattern``, the flags of :data:`FLAGS`,
    ``opponents_in_freeze_frame`` / ``players_in_freeze_frame``, or else counts them from a
    ``freeze_frame`` list of ``{"teammate": bool, ...}`` entries, shooter excluded, and
    ``score_difference``, the shooting team's goals minus its opponents' before the shot (the
    StatsBomb source fills it from the match's earlier goals; a live feed that knows the score
    should too). Missing ones as in :meth:`XGModel.probability`: a missing score difference
    averages over the game states of the training shots.

    Raises:
        ValueError: the event has no location, or an attribute value is unknown.

    Example:
        >>> event = GameEvent(game_id="g", event_id="e1", kind="shot", timestamp=0.0,
        ...                   x=47.0, y=1.0, attributes={"body_part": "Head"})
        >>> 0.05 < shot_xg(event) < shot_xg(event, field=FOOTBALL.with_size(100.0, 64.0))
        True
        >>> ahead = GameEvent(game_id="g", event_id="e2", kind="shot", timestamp=0.0, x=47.0,
        ...                   y=1.0, attributes={"body_part": "Head", "score_difference": 1})
        >>> bool(shot_xg(ahead) > shot_xg(event))    # a leading team's chances go in more often
        True
    """
    if event.x is None or event.y is None:
        raise ValueError(f"event {event.event_id!r} has no location")
    attrs = event.attributes
    opponents, players = _freeze_frame_counts(attrs)
    probability = (model or XGModel.load()).probability(
        [event.x],
        [event.y],
        body_part=attrs.get("body_part"),
        technique=attrs.get("technique"),
        shot_type=attrs.get("shot_type"),
        play_pattern=attrs.get("play_pattern"),
        opponents_in_freeze_frame=[opponents],
        players_in_freeze_frame=[players],
        score_difference=[attrs.get("score_difference")],
        under_pressure=bool(attrs.get("under_pressure")),
        first_time=bool(attrs.get("first_time")),
        one_on_one=bool(attrs.get("one_on_one")),
        open_goal=bool(attrs.get("open_goal")),
        aerial_won=bool(attrs.get("aerial_won")),
        field=field,
        attacks_positive_x=attacks_positive_x,
    )
    return float(probability[0])


def from_here_xg(
    x_m: ArrayLike,
    y_m: ArrayLike,
    field: Field = FOOTBALL,
    attacks_positive_x: bool = True,
) -> FloatArray:
    """Live "shot from here" probability of ball carriers from their positions alone.

    The shipped ``location`` model: distance and angle splines fitted on open-play shots with
    the foot (the carrier has the ball at the feet), validated leave-one-competition-out.

    Args:
        x_m: Metres from the centre spot, the attacked goal at ``+length/2``, shape (n,).
        y_m: Metres from the centre spot across the field, shape (n,).
        field: The match's field.
        attacks_positive_x: False when the carriers attack towards -x.

    Returns:
        Probabilities in (0, 1), shape (n,).

    Example:
        >>> p = from_here_xg([41.5, 41.5, 0.0], [0.0, 20.0, 0.0])
        >>> bool(p[0] > p[1] > p[2])
        True
    """
    return XGModel.load().from_here(x_m, y_m, field, attacks_positive_x)
