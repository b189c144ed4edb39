"""Alert rules: threshold, duration and cooldown on live metrics, read from YAML or JSON.

A rule fires when a subject's metric has satisfied ``<op> threshold`` continuously for at least
``duration_s`` (measured on the metric's own capture timestamps, so replays behave like live
games), and then stays quiet for that subject for ``cooldown_s``. Rules on biometric metrics are
private: their alerts go to team staff only.

Example file (``alerts.yaml``)::

    rules:
      - name: high-heart-rate
        metric: heart_rate
        op: ">="
        threshold: 185
        duration_s: 5
        cooldown_s: 60
        severity: warning
      - name: top-speed
        metric: speed
        op: ">="
        threshold: 9.0
        severity: info

Example:
    >>> rules = parse_rules({"rules": [{"name": "fast", "metric": "speed", "op": ">",
    ...     "threshold": 8.0, "duration_s": 0.5}]})
    >>> engine = RuleEngine(rules)
    >>> [a.rule for t in (0.0, 0.2, 0.6) for a in engine.check("g1", "p7", "speed", 8.5, t)]
    ['fast']
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from arenaflow.errors import ConfigError
from arenaflow.sports.schemas import Alert

Op = Literal[">", ">=", "<", "<="]
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
#: Metrics that are biometric data: alerts on them are private (staff only).
PRIVATE_METRICS = frozenset({"heart_rate", "heart_rate_zone", "trimp", "hr_percent_max"})


class Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One alert rule (see the module docstring)."""

    name: str
    metric: str
    op: Op = ">="
    threshold: float
    duration_s: float = 0.0
    cooldown_s: float = 30.0
    severity: Literal["info", "warning", "critical"] = "warning"
    subjects: list[str] | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.duration_s < 0 or self.cooldown_s < 0:
            raise ValueError("duration_s and cooldown_s must be >= 0")


class _RulesFile(msgspec.Struct, forbid_unknown_fields=True):
    rules: list[Rule]


def parse_rules(data: Mapping[str, Any] | list[Any]) -> list[Rule]:
    """Rules from parsed YAML/JSON (``{"rules": [...]}`` or a bare list).

    Raises:
        ConfigError: naming the bad field, e.g. ``Expected `number`, got `str` - at
            `$.rules[0].threshold```.
    """
    wrapped = {"rules": data} if isinstance(data, list) else data
    try:
        rules = msgspec.convert(wrapped, _RulesFile).rules
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"alert rules: {exc}") from None
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"alert rules: duplicate rule names {duplicates}")
    return rules


def load_rules(path: str | Path) -> list[Rule]:
    """Rules from a ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"alert rules: cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"alert rules: {path} is not valid {path.suffix[1:]}: {exc}") from None
    if not isinstance(data, dict | list):
        raise ConfigError(f"alert rules: {path} must hold a 'rules' list")
    return parse_rules(data)


#: Rules the demo and the built-in pipeline use when no file is given.
DEFAULT_RULES: list[Rule] = [
    Rule(name="sprint-speed", metric="speed", op=">=", threshold=8.5, severity="info"),
    Rule(
        name="high-heart-rate",
        metric="hr_percent_max",
        op=">=",
        threshold=95.0,
        duration_s=5.0,
        cooldown_s=60.0,
        severity="warning",
    ),
]


class RuleEngine:
    """Evaluates rules on a stream of metric values, per (game, subject, rule)."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._by_metric: dict[str, list[Rule]] = {}
        for rule in rules:
            self._by_metric.setdefault(rule.metric, []).append(rule)
        self._since: dict[tuple[str, str, str], float] = {}  # condition true since
        self._quiet_until: dict[tuple[str, str, str], float] = {}
        self._ids = itertools.count(1)

    @property
    def metrics(self) -> frozenset[str]:
        return frozenset(self._by_metric)

    def check(
        self, game_id: str, subject_id: str, metric: str, value: float, t_s: float
    ) -> list[Alert]:
        """Feed one value; return the alerts it fires."""
        rules = self._by_metric.get(metric)
        if not rules:
            return []
        fired: list[Alert] = []
        for rule in rules:
            if rule.subjects is not None and subject_id not in rule.subjects:
                continue
            if not _OPS[rule.op](value, rule.threshold):
                if self._since:  # usually empty: most values are on the quiet side of a rule
                    self._since.pop((game_id, subject_id, rule.name), None)
                continue
            key = (game_id, subject_id, rule.name)
            since = self._since.setdefault(key, t_s)
            if t_s - since < rule.duration_s or t_s < self._quiet_until.get(key, -1e300):
                continue
            self._quiet_until[key] = t_s + rule.cooldown_s
            private = metric in PRIVATE_METRICS
            fired.append(
                Alert(
                    alert_id=f"{game_id}-{rule.name}-{next(self._ids)}",
                    game_id=game_id,
                    subject_id=subject_id,
                    rule=rule.name,
                    metric=metric,
                    value=float(value),
                    threshold=rule.threshold,
                    severity=rule.severity,
                    message=rule.message
                    or f"{subject_id}: {metric} {value:.1f} {rule.op} {rule.threshold:g}",
                    timestamp=t_s,
                    private=private,
                )
            )
        return fired
