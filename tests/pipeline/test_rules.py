"""Alert rules: parsing (clear errors naming the field), threshold, duration, cooldown, privacy;
and the CLI's --rules option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from arenaflow import ConfigError
from arenaflow.pipeline.rules import RuleEngine, load_rules, parse_rules

ROOT = Path(__file__).resolve().parents[2]


def test_threshold_duration_and_cooldown() -> None:
    [rule] = parse_rules(
        [{"name": "hr", "metric": "heart_rate", "op": ">=", "threshold": 180,
          "duration_s": 2.0, "cooldown_s": 10.0}]
    )  # fmt: skip
    engine = RuleEngine([rule])
    fired = []
    for t, value in [(0, 181), (1, 185), (1.5, 170), (2, 182), (3.9, 183), (4.0, 184), (5, 190)]:
        fired += [(t, a.value) for a in engine.check("g1", "p7", "heart_rate", value, t)]
    # Held from t=2 (the dip at 1.5 reset it) for 2 s -> fires at 4.0; then quiet for 10 s.
    assert fired == [(4.0, 184)]
    later = engine.check("g1", "p7", "heart_rate", 190, 14.5)
    assert [a.private for a in later] == [True]  # heart rate is staff-only
    assert engine.check("g1", "p8", "speed", 99.0, 0.0) == []  # a metric no rule watches


def test_subjects_filter_and_other_ops() -> None:
    engine = RuleEngine(
        parse_rules({"rules": [{"name": "slow", "metric": "speed", "op": "<", "threshold": 1.0,
                                "subjects": ["p1"], "cooldown_s": 0}]})
    )  # fmt: skip
    assert [a.subject_id for a in engine.check("g", "p1", "speed", 0.5, 0.0)] == ["p1"]
    assert engine.check("g", "p2", "speed", 0.5, 0.0) == []
    assert engine.check("g", "p1", "speed", 2.0, 1.0) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - name: x\n    metric: speed\n    threshold: fast\n",
         r"\$\.rules\[0\]\.threshold"),
        ("rules:\n  - name: x\n    metric: speed\n    op: '=='\n    threshold: 1\n",
         r"\$\.rules\[0\]\.op"),
        ("rules:\n  - name: x\n    metric: speed\n    threshold: 1\n    colour: red\n", "colour"),
        ("rules: [{name: a, metric: m, threshold: 1}, {name: a, metric: m, threshold: 2}]\n",
         "duplicate rule names"),
        ("rules: [\n", "not valid yaml"),
    ],
)  # fmt: skip
def test_bad_rule_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_rules(path)


def test_json_rules_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_text('{"rules": [{"name": "fast", "metric": "speed", "threshold": 8}]}')
    assert [r.name for r in load_rules(path)] == ["fast"]
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_simulate_uses_the_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - name: moving\n    metric: speed\n    threshold: 0.5\n")
    args = ["simulate", "--games", "1", "--seconds", "5", "--speed", "0", "--rules", str(rules)]
    result = subprocess.run(
        [sys.executable, "-m", "arenaflow.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    alerts = int(result.stdout.split(" alerts")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert alerts > 0
    rules.write_text("rules:\n  - name: moving\n    metric: speed\n    threshold: fast\n")
    bad = subprocess.run(
        [sys.executable, "-m", "arenaflow.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "--rules" in bad.stderr and "threshold" in bad.stderr
