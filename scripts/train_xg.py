#!/usr/bin/env python
"""Train arenaflow's xG models on StatsBomb shots and export their fitted parameters.

Usage::

    .venv/bin/python scripts/train_xg.py ../shared/data/shots/statsbomb_shots.parquet \\
        [--out src/arenaflow/analytics/xg_model.json] [--dry-run] [--json] [--compare-gbm]

Needs the ``train`` extra (scikit-learn, pandas). Prints the leave-one-competition-out table
(per held-out competition and pooled, ours against StatsBomb's own xG), or with ``--json`` the
validation as one JSON object; progress goes to stderr. Takes a few minutes (nested
validation: about 300 fits).

What it does:

1. reads the shots; drops penalty shoot-out kicks; sets penalties apart (they get the data's
   conversion rate, one number); gives every shot its game state, the shooting team's goal
   difference before it, from the earlier shots of its match
   (:func:`arenaflow.analytics.xg_evaluate.running_score_difference`; own goals are not
   shots, so they are missing from it);
2. builds the features with the same geometry the runtime uses
   (:func:`arenaflow.analytics.xg.statsbomb_to_pitch`, ``goal_geometry``);
3. validates each model leave-one-competition-out (train on the other competitions, predict the
   held-out one, never a random split of shots), the regularisation strength C chosen for each
   held-out competition by an inner leave-one-competition-out over the training competitions
   alone (nested): AUC, Brier score and log loss per held-out competition and pooled over all
   held-out predictions, with StatsBomb's own xG on the same shots, and for the shot models
   also with the score unknown (the runtime's fallback); with ``--compare-gbm`` a
   gradient-boosted model (scikit-learn's HistGradientBoostingClassifier) on the same folds,
   for the record of what we did not ship;
4. chooses C by leave-one-competition-out over every competition, fits each model on all of
   them and writes its coefficients, spline knots and category encodings, plus the game-state
   distribution, the training-data summary and the validation, to the JSON file the package
   ships and applies with numpy alone (:class:`arenaflow.analytics.xg.XGModel`).

Model: L2-regularised logistic regression over cubic B-spline bases (scikit-learn
``SplineTransformer``, constant beyond the last knot) of distance, goal-mouth angle and the
freeze-frame head counts, standardised numeric terms (body part, flags, game state, products)
and one-hot categories (technique, shot type, play pattern). See
``src/arenaflow/analytics/xg.py``.

Tried and left out, each validated leave-one-competition-out against the model here (pooled
Brier score; lower is better, differences under 0.00002 are noise): the shooter's position
group (forward, midfielder, defender), the minute, a late-game flag, home or away, a rebound
flag (a shot by the same team within 2 or 5 s), the shots each side had taken, the shooting
foot against the side of the pitch, finer spline knots, a lateral-offset term, products with
under pressure: none moved it by more than 0.00002. Nor did a gradient-boosted
model (0.0714-0.0723 over the settings tried, ``--compare-gbm``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, SplineTransformer, StandardScaler

from arenaflow.analytics.xg import (
    FLAGS,
    FORMAT,
    LONG_RANGE_M,
    SCORE_DIFFERENCE_CLIP,
    body_part_group,
    goal_geometry,
    log_distance,
    normalise_category,
    statsbomb_to_pitch,
)
from arenaflow.analytics.xg_evaluate import GAME_STATE_COLUMNS, running_score_difference
from arenaflow.analytics.xg_evaluate import REQUIRED_COLUMNS as EVALUATED_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "arenaflow" / "analytics" / "xg_model.json"
VERSION = "2.0.0"
#: Inverse L2 strengths of the logistic regression tried; the inner leave-one-competition-out
#: picks one per model (and per held-out competition in the validation).
C_GRID = (0.3, 1.0, 3.0, 10.0)
DEGREE = 3

#: The categories each model knows (normalised StatsBomb vocabulary), the first the default.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "technique": (
        "normal",
        "half_volley",
        "volley",
        "lob",
        "overhead_kick",
        "diving_header",
        "backheel",
    ),
    "shot_type": ("open_play", "free_kick", "corner"),
    "play_pattern": (
        "regular_play",
        "from_corner",
        "from_free_kick",
        "from_throw_in",
        "from_counter",
        "from_goal_kick",
        "from_keeper",
        "from_kick_off",
        "other",
    ),
}
# What the package's evaluation reads, plus what training splits, weighs and orders by.
REQUIRED_COLUMNS = ("competition", *EVALUATED_COLUMNS, "has_freeze_frame", *GAME_STATE_COLUMNS)


@dataclass(frozen=True)
class ModelSpec:
    """One model: its spline inputs, numeric terms (products of inputs) and categories."""

    name: str
    description: str
    splines: tuple[tuple[str, tuple[float, ...]], ...]  # (input, knots of the base interval)
    linear: tuple[tuple[str, ...], ...]
    categorical: tuple[str, ...]
    subset: Callable[[pd.DataFrame], pd.Series] | None = None  # which shots it learns from

    def inputs(self) -> set[str]:
        """Every column the model reads."""
        names = {name for name, _ in self.splines} | {i for term in self.linear for i in term}
        return names | set(self.categorical)


def _products(*pairs: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(p.split("*")) for p in pairs)


_ATTRIBUTE_TERMS = (
    ("head",),
    ("other_body",),
    *((flag,) for flag in FLAGS),
    *_products(
        "head*log_distance",
        "head*angle_rad",
        "free_kick*log_distance",
        "free_kick*angle_rad",
        "one_on_one*log_distance",
        "one_on_one*angle_rad",
        "open_goal*log_distance",
        "open_goal*angle_rad",
        "log_distance*angle_rad",
        # Curvature the splines cannot give headers alone, and first-time shots decaying
        # differently with distance and angle: 0.00008 of Brier score on held-out competitions.
        "angle_rad*angle_rad",
        "head*log_distance*log_distance",
        "head*angle_rad*angle_rad",
        "head*log_distance*angle_rad",
        "first_time*log_distance",
        "first_time*angle_rad",
    ),
    # The game state: a leading team's shots go in more often (0.00013 of Brier score on
    # held-out competitions; the one new input that validated).
    ("score_difference",),
    ("score_difference", "log_distance"),
)
# Few knots, where the shots are, and every spline constant beyond its last knot: past
# LONG_RANGE_M only the narrowing angle lowers the probability, instead of a cubic piece fitted
# to a handful of selected long-range shots turning upwards. Distance and angle are strongly
# collinear, so finer knots (or a spline of the lateral offset) let the two curves wiggle
# against each other: the probability then rose again towards the touchline and near the goal
# line for a gain of 0.0001 in Brier score on held-out competitions. These stay monotone.
_LOCATION_SPLINES = (
    ("distance_m", (0.0, 6.0, 12.0, 20.0, LONG_RANGE_M)),
    ("angle_rad", (0.0, 0.3, 0.6, 1.0, 1.6)),
)
SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "shot",
            "every attribute, freeze-frame head counts included",
            (
                *_LOCATION_SPLINES,
                ("opponents", (1.0, 3.0, 5.0, 7.0, 9.0, 11.0)),
                ("players", (1.0, 5.0, 9.0, 13.0, 17.0, 21.0)),
            ),
            (
                *_ATTRIBUTE_TERMS,
                *_products(
                    "opponents*log_distance",
                    "opponents*angle_rad",
                    "players*log_distance",
                    "opponents*opponents",
                    "opponents*one_on_one",
                    "opponents*first_time",
                ),
            ),
            tuple(CATEGORIES),
        ),
        ModelSpec(
            "shot_no_freeze_frame",
            "every attribute but the freeze frame (shots whose freeze frame is unknown)",
            _LOCATION_SPLINES,
            _ATTRIBUTE_TERMS,
            tuple(CATEGORIES),
        ),
        ModelSpec(
            "location",
            "distance and angle only; learnt from open-play shots with the foot",
            _LOCATION_SPLINES,
            (),
            (),
            subset=lambda f: (
                (f["shot_type"] == "open_play") & (f["head"] == 0) & (f["other_body"] == 0)
            ),
        ),
    )
}
_PRODUCTS = sorted({term for spec in SPECS.values() for term in spec.linear if len(term) > 1})


def load_shots(path: str | Path) -> pd.DataFrame:
    """Read the shots parquet; drop shoot-out kicks; add each shot's ``score_difference``.

    Raises ValueError naming missing columns.
    """
    shots = pd.read_parquet(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in shots.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    shots = shots[~shots["shootout"].astype(bool)].reset_index(drop=True)
    shots["score_difference"] = running_score_difference(
        *(shots[c].astype(object).to_numpy() for c in GAME_STATE_COLUMNS),
        shots["is_goal"].astype(bool).to_numpy(),
    )
    return shots


def add_products(f: pd.DataFrame) -> pd.DataFrame:
    """(Re)compute the ``"a*b"`` product columns the models read, in place; returns ``f``."""
    for inputs in _PRODUCTS:
        f["*".join(inputs)] = np.prod([f[i].to_numpy(float) for i in inputs], axis=0)
    return f


def build_features(shots: pd.DataFrame) -> pd.DataFrame:
    """The model inputs of StatsBomb shots, named as the runtime names them.

    Geometry on the default 105 x 68 m pitch via the package's own conversion, categories in
    the package's normalised vocabulary, the score difference clipped as the runtime clips it,
    products as ``"a*b"`` columns.
    """
    x_m, y_m = statsbomb_to_pitch(shots["x"].to_numpy(float), shots["y"].to_numpy(float))
    distance, angle, lateral = goal_geometry(x_m, y_m)
    body = shots["body_part"].astype(str).map(body_part_group)
    f = pd.DataFrame(
        {
            "distance_m": distance,
            "angle_rad": angle,
            "lateral_m": lateral,
            "log_distance": log_distance(distance),
            "head": (body == "head").to_numpy(float),
            "other_body": (body == "other").to_numpy(float),
        }
    )
    for name in CATEGORIES:
        f[name] = shots[name].astype(str).map(normalise_category).to_numpy()
    f["free_kick"] = (f["shot_type"] == "free_kick").to_numpy(float)
    for flag in FLAGS:
        f[flag] = shots[flag].fillna(False).astype(bool).to_numpy(float)
    has_frame = shots["has_freeze_frame"].astype(bool).to_numpy()
    f["opponents"] = np.where(has_frame, shots["opponents_in_freeze_frame"].to_numpy(float), 0.0)
    f["players"] = np.where(has_frame, shots["players_in_freeze_frame"].to_numpy(float), 0.0)
    clip = float(SCORE_DIFFERENCE_CLIP)
    f["score_difference"] = np.clip(shots["score_difference"].to_numpy(float), -clip, clip)
    return add_products(f)


def score_distribution(features: pd.DataFrame) -> list[tuple[float, float]]:
    """``(score difference, share)`` over the given shots: what an unknown score averages over."""
    shares = features["score_difference"].value_counts(normalize=True).sort_index()
    return [(float(value), float(share)) for value, share in shares.items()]


def make_pipeline(spec: ModelSpec, c: float = 1.0) -> Pipeline:
    """The scikit-learn pipeline of a model (unfitted), inverse L2 strength ``c``."""
    transformers: list[tuple[str, Any, list[str]]] = [
        (
            f"spline:{name}",
            SplineTransformer(
                degree=DEGREE, knots=np.array(knots)[:, None], extrapolation="constant"
            ),
            [name],
        )
        for name, knots in spec.splines
    ]
    if spec.linear:
        transformers.append(("numeric", StandardScaler(), ["*".join(i) for i in spec.linear]))
    if spec.categorical:
        cats = [list(CATEGORIES[c]) for c in spec.categorical]
        transformers.append(("categorical", OneHotEncoder(categories=cats), list(spec.categorical)))
    return Pipeline(
        [
            ("features", ColumnTransformer(transformers)),
            ("logit", LogisticRegression(C=c, max_iter=5000)),
        ]
    )


def training_rows(features: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    """Which shots a model learns from and is validated on (never penalties)."""
    rows = (features["shot_type"] != "penalty").to_numpy()
    if spec.subset is not None:
        rows = rows & spec.subset(features).to_numpy()
    return rows


def fit_model(
    features: pd.DataFrame, goals: np.ndarray, spec: ModelSpec, c: float = 1.0
) -> Pipeline:
    """Fit one model on the given (already subset) shots."""
    return make_pipeline(spec, c).fit(features, goals.astype(int))


def predict(
    model: Pipeline,
    features: pd.DataFrame,
    spec: ModelSpec,
    distribution: Sequence[tuple[float, float]] | None = None,
) -> np.ndarray:
    """Goal probabilities; with ``distribution``, as the runtime does for an unknown score."""
    if distribution is None or "score_difference" not in spec.inputs():
        return np.asarray(model.predict_proba(features)[:, 1])
    p = np.zeros(len(features))
    for value, share in distribution:
        p += (
            share * model.predict_proba(add_products(features.assign(score_difference=value)))[:, 1]
        )
    return p


def _num(v: float) -> float:
    return float(f"{v:.12g}")


def export_model(pipeline: Pipeline, spec: ModelSpec) -> dict[str, Any]:
    """The fitted pipeline as plain numbers: what the runtime's ``_Logit`` reads.

    Standardisation is folded into the numeric coefficients and the intercept.
    """
    columns: ColumnTransformer = pipeline.named_steps["features"]
    logit: LogisticRegression = pipeline.named_steps["logit"]
    coef = logit.coef_[0]
    intercept = float(logit.intercept_[0])
    out: dict[str, Any] = {
        "description": spec.description,
        "C": _num(logit.C),
        "splines": [],
        "linear": [],
    }
    for name, _ in spec.splines:
        spline: SplineTransformer = columns.named_transformers_[f"spline:{name}"]
        block = coef[columns.output_indices_[f"spline:{name}"]]
        out["splines"].append(
            {
                "input": name,
                "degree": DEGREE,
                "knots": [_num(k) for k in spline.bsplines_[0].t],
                "coef": [_num(c) for c in block],
            }
        )
    if spec.linear:
        scaler: StandardScaler = columns.named_transformers_["numeric"]
        block = coef[columns.output_indices_["numeric"]]
        terms = zip(spec.linear, block, scaler.mean_, scaler.scale_, strict=True)
        for inputs, w, mean, scale in terms:
            out["linear"].append({"inputs": list(inputs), "coef": _num(w / scale)})
            intercept -= w * mean / scale
    out["categorical"] = {}
    if spec.categorical:
        block = coef[columns.output_indices_["categorical"]]
        i = 0
        for name in spec.categorical:
            out["categorical"][name] = {}
            for category in CATEGORIES[name]:
                out["categorical"][name][category] = _num(block[i])
                i += 1
    out["intercept"] = _num(intercept)
    return out


def metrics(goals: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, Brier score and log loss (scikit-learn's; the package has its own numpy ones)."""
    return {
        "auc": round(float(roc_auc_score(goals, p)), 4),
        "brier": round(float(brier_score_loss(goals, p)), 5),
        "log_loss": round(float(log_loss(goals, p, labels=[0, 1])), 4),
    }


def choose_c(
    features: pd.DataFrame,
    goals: np.ndarray,
    competition: np.ndarray,
    spec: ModelSpec,
    grid: Sequence[float] = C_GRID,
) -> tuple[float, dict[str, float]]:
    """The C of ``grid`` with the lowest pooled Brier score leave-one-competition-out over the
    given shots (already the model's rows); returns ``(c, {str(c): brier})``."""
    scores: dict[str, float] = {}
    for c in grid:
        p = np.empty(len(features))
        for name in sorted(set(competition)):
            test = competition == name
            model = fit_model(features[~test], goals[~test], spec, c)
            p[test] = model.predict_proba(features[test])[:, 1]
        scores[str(c)] = round(float(brier_score_loss(goals, p)), 6)
    best = min(grid, key=lambda c: scores[str(c)])
    return best, scores


def leave_one_competition_out(
    shots: pd.DataFrame,
    features: pd.DataFrame,
    spec: ModelSpec,
    competitions: Sequence[str] | None = None,
    fit_predict: Callable[[pd.DataFrame, np.ndarray, pd.DataFrame], np.ndarray] | None = None,
    c: float | Sequence[float] = 1.0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Hold out each competition in turn: train on the others, score the held-out one.

    ``c`` is the inverse L2 strength, or a grid of them: then each held-out competition gets
    the one an inner leave-one-competition-out over the training competitions picks (nested;
    the held-out shots play no part in it).

    Returns per-competition and pooled metrics of the model and of ``statsbomb_xg`` on the
    same shots (the model's rows: no penalties, the model's subset); for a model that reads the
    score difference also ``ours_score_unknown``, its metrics when every score is unknown (the
    runtime's fallback, averaged over the training shots' game states).
    """
    rows = training_rows(features, spec)
    comp = shots["competition"].astype(str).to_numpy()
    goals = shots["is_goal"].astype(bool).to_numpy()
    sb = shots["statsbomb_xg"].to_numpy(float)
    held_out = list(competitions) if competitions is not None else sorted(set(comp[rows]))
    game_state = fit_predict is None and "score_difference" in spec.inputs()
    predicted = np.full(len(shots), np.nan)
    unknown = np.full(len(shots), np.nan)
    result: dict[str, Any] = {"per_competition": {}}
    for name in held_out:
        test = rows & (comp == name)
        train = rows & (comp != name)
        row: dict[str, Any] = {"n": int(test.sum()), "goals": int(goals[test].sum())}
        if fit_predict is None:
            if isinstance(c, float | int):
                chosen = float(c)
            else:
                chosen, _ = choose_c(features[train], goals[train], comp[train], spec, c)
                row["C"] = chosen
            model = fit_model(features[train], goals[train], spec, chosen)
            predicted[test] = predict(model, features[test], spec)
            if game_state:
                distribution = score_distribution(features[train])
                unknown[test] = predict(model, features[test], spec, distribution)
        else:
            predicted[test] = fit_predict(features[train], goals[train], features[test])
        row["ours"] = metrics(goals[test], predicted[test])
        if game_state:
            row["ours_score_unknown"] = metrics(goals[test], unknown[test])
        row["statsbomb"] = metrics(goals[test], sb[test])
        result["per_competition"][name] = row
        if log is not None:
            log(f"{spec.name}: {name} held out: {row}")
    scored = ~np.isnan(predicted)
    result["pooled"] = {
        "n": int(scored.sum()),
        "goals": int(goals[scored].sum()),
        "ours": metrics(goals[scored], predicted[scored]),
        **({"ours_score_unknown": metrics(goals[scored], unknown[scored])} if game_state else {}),
        "statsbomb": metrics(goals[scored], sb[scored]),
    }
    return result


def gbm_fit_predict(train: pd.DataFrame, goals: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    """The gradient-boosted comparison (not shipped): same inputs, trees instead of splines."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    cols = [
        "distance_m",
        "angle_rad",
        "lateral_m",
        "head",
        "other_body",
        *FLAGS,
        "opponents",
        "players",
        "score_difference",
        *CATEGORIES,
    ]

    def encode(f: pd.DataFrame) -> pd.DataFrame:
        out = f[cols].copy()
        for name, values in CATEGORIES.items():
            out[name] = pd.Categorical(out[name], categories=list(values))
        return out

    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype",
        learning_rate=0.03,
        max_iter=500,
        max_leaf_nodes=8,
        min_samples_leaf=100,
        l2_regularization=1.0,
        random_state=0,
    )
    model.fit(encode(train), goals.astype(int))
    return np.asarray(model.predict_proba(encode(test))[:, 1])


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train(
    path: str | Path, compare_gbm: bool = False, log: Callable[[str], None] | None = _stderr
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate and fit every model; returns ``(parameter document, validation)``."""
    shots = load_shots(path)
    features = build_features(shots)
    goals = shots["is_goal"].astype(bool).to_numpy()
    comp = shots["competition"].astype(str).to_numpy()
    validation: dict[str, Any] = {
        name: leave_one_competition_out(shots, features, spec, c=C_GRID, log=log)
        for name, spec in SPECS.items()
    }
    if compare_gbm:
        validation["gbm_comparison"] = leave_one_competition_out(
            shots, features, SPECS["shot"], fit_predict=gbm_fit_predict
        )
    models = {}
    for name, spec in SPECS.items():
        rows = training_rows(features, spec)
        c, by_c = choose_c(features[rows], goals[rows], comp[rows], spec)
        if log is not None:
            log(f"{name}: C = {c} (pooled Brier by C, every competition held out: {by_c})")
        models[name] = export_model(fit_model(features[rows], goals[rows], spec, c), spec)
        models[name]["C_validation"] = by_c
        models[name]["validation_pooled"] = validation[name]["pooled"]
    penalties = (features["shot_type"] == "penalty").to_numpy()
    competitions = shots["competition"].astype(str)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    shot_rows = training_rows(features, SPECS["shot"])
    document = {
        "format": FORMAT,
        "version": VERSION,
        "created": dt.date.today().isoformat(),
        "approach": (
            "L2 logistic regression on cubic B-spline bases of distance, goal-mouth angle "
            "and freeze-frame counts, plus body part, technique, shot type, play pattern, "
            "StatsBomb shot flags, the game state and products of these; C chosen by "
            "leave-one-competition-out; trained with scikit-learn "
            f"{sklearn.__version__} by scripts/train_xg.py; applied with numpy"
        ),
        "coordinates": (
            "metres from the centre spot, attacked goal at x = +length/2 (105 x 68 m "
            "pitch in training; StatsBomb 120 x 80 converted anchoring the pitch markings, as "
            "kloppy does); goal width 7.32 m"
        ),
        "categories": {
            **{k: list(v) for k, v in CATEGORIES.items()},
            "shot_type": [*CATEGORIES["shot_type"], "penalty"],
        },
        "defaults": {k: v[0] for k, v in CATEGORIES.items()},
        "game_state": {
            "input": "score_difference",
            "definition": (
                "the shooting team's goals minus its opponents' before the shot, from the "
                "earlier shots of the match (own goals are not shots: missing in training)"
            ),
            "clip": SCORE_DIFFERENCE_CLIP,
            "distribution": [
                [value, _num(share)] for value, share in score_distribution(features[shot_rows])
            ],
        },
        "penalty": {
            "probability": _num(goals[penalties].mean()),
            "n": int(penalties.sum()),
            "goals": int(goals[penalties].sum()),
            "statsbomb_xg": _num(shots["statsbomb_xg"][penalties].mean()),
        },
        "models": models,
        "training_data": {
            "source": "StatsBomb Open Data (non-commercial use, credit StatsBomb)",
            "file": Path(path).name,
            "sha256": digest,
            "shots": len(shots),
            "shootout_kicks_excluded": True,
            "non_penalty_shots": int((~penalties).sum()),
            "non_penalty_goals": int(goals[~penalties].sum()),
            "competitions": {
                k: int(v) for k, v in competitions[~penalties].value_counts().items() if v
            },
        },
        "validation": {
            "method": (
                "leave-one-competition-out: each competition predicted by the model fitted on "
                "the others, C chosen by an inner leave-one-competition-out on those others; "
                "pooled = all held-out predictions together; statsbomb = StatsBomb's own xG "
                "on the same shots; ours_score_unknown = the same models with every score "
                "unknown"
            ),
            "c_grid": list(C_GRID),
            **validation,
        },
    }
    return document, validation


def format_table(validation: dict[str, Any]) -> str:
    """The validation as a text table: per held-out competition and pooled, ours and StatsBomb."""
    lines = []
    header = (
        f"{'held out':<26}{'n':>6}{'goals':>6}{'C':>5}"
        f"{'AUC ours':>10}{'SB':>8}{'Brier ours':>12}{'SB':>9}{'log loss ours':>15}{'SB':>8}"
    )
    for name, result in validation.items():
        description = SPECS[name].description if name in SPECS else "not shipped"
        lines += ["", f"{name} ({description})", header]
        rows = [*result["per_competition"].items(), ("pooled", result["pooled"])]
        for label, row in rows:
            ours, sb = row["ours"], row["statsbomb"]
            lines.append(
                f"{label:<26}{row['n']:>6}{row['goals']:>6}{row.get('C', ''):>5}"
                f"{ours['auc']:>10.4f}{sb['auc']:>8.4f}{ours['brier']:>12.5f}{sb['brier']:>9.5f}"
                f"{ours['log_loss']:>15.4f}{sb['log_loss']:>8.4f}"
            )
        if "ours_score_unknown" in result["pooled"]:
            unknown = result["pooled"]["ours_score_unknown"]
            lines.append(
                f"{'pooled, score unknown':<43}{unknown['auc']:>10.4f}{'':>8}"
                f"{unknown['brier']:>12.5f}{'':>9}{unknown['log_loss']:>15.4f}"
            )
    return "\n".join(lines[1:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="shots parquet (StatsBomb columns)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="parameter file to write")
    parser.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    parser.add_argument("--json", action="store_true", help="print the validation as JSON")
    parser.add_argument("--compare-gbm", action="store_true", help="also validate a GBM")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"no such file: {args.data}")
    document, validation = train(args.data, compare_gbm=args.compare_gbm)
    if not args.dry_run:
        args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out} ({args.out.stat().st_size} bytes)", file=sys.stderr)
    print(json.dumps(validation, indent=2) if args.json else format_table(validation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
